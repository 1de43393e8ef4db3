// Command slsrtc is the signaling Lambda: API Gateway delivers every
// WebSocket event of the API ($connect, $disconnect and each action) to it,
// and it hands them to the router in package handlers.
//
// It only wires: configuration from the environment, AWS SDK clients built
// once before lambda.Start, and the router. Init reads only environment
// variables and makes no network call (docs/performance.md).
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/internal/wiring"
)

func main() {
	cfg, err := handlers.LoadConfig(os.Getenv)
	if err != nil {
		fatal("load configuration", err)
	}
	awsCfg, err := wiring.LambdaAWSConfig(os.Getenv)
	if err != nil {
		fatal("load AWS configuration", err)
	}
	clients := wiring.NewClients(awsCfg, cfg, wiring.Endpoints{})
	lambda.Start(wiring.Router(cfg, clients, handlers.Deps{}))
}

// fatal logs an initialisation failure as JSON (what CloudWatch shows for a
// failed cold start) and exits.
func fatal(msg string, err error) {
	slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error(msg, slog.String("error", err.Error()))
	os.Exit(1)
}
