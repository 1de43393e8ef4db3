// Command local runs the slsrtc local stack: the signaling Lambda, in
// process, behind a faithful emulation of API Gateway's WebSocket API, its
// @connections API and Lambda's Invoke API, on an embedded DynamoDB.
//
//	go run ./cmd/local [-addr 127.0.0.1:3001] [-stage slsrtc] [-chaos [-chaos-seed N]]
//
// It serves the demo page (package web) at http://ADDR/, prints the endpoints
// and a ready line on stderr, then the function's JSON log lines on stdout as
// CloudWatch would hold them (-pretty renders them for humans). SIGINT or
// SIGTERM closes every client with 1001 and runs $disconnect for each.
//
// -chaos (or any of the flags that set one part of it, such as
// -disconnect-loss) makes the stack behave like AWS at its worst: see
// package chaos. -simulate-aws (or -chaos-profile aws) makes it as slow as
// AWS instead, without faults (docs/capacity.md, "Simulated AWS"). The banner prints the seed;
// -chaos-seed repeats a run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/slsrtc/slsrtc/internal/cmdline"
	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/internal/prettylog"
	"github.com/slsrtc/slsrtc/web"
)

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// The stack's garbage collector, unless GOGC or GOMEMLIMIT say otherwise:
// every invocation allocates what its SDK calls and the emulators' JSON
// need, so at GOGC's default of 100 the collector took a large share of a
// loaded stack's CPU. At 400 the heap may grow to five times the live data
// (hundreds of MB at thousands of connections) and a relay's p99 under load
// fell by a quarter to a half (docs/performance.md, "The local stack's own
// cost"); the soft limit makes the collector work harder rather than let a
// long, heavy run (a table of 50,000 items) pass it.
const (
	gcPercent   = 400
	memoryLimit = 2 << 30
)

// tuneGC applies gcPercent and memoryLimit where the environment does not
// set its own.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// run is main with its inputs and outputs explicit: it serves until ctx
// ends (SIGINT or SIGTERM in main), then shuts the stack down. It returns
// the exit code: 0 after a clean shutdown, 1 if shutdown failed, 2 for bad
// flags or a stack that cannot start.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		addr        = fs.String("addr", "127.0.0.1:3001", "listen address of the WebSocket API, @connections and Lambda Invoke")
		stage       = fs.String("stage", "", "stage name (default: the template's, slsrtc)")
		template    = fs.String("template", "template.yaml", "SAM template to read the routes and stage from")
		ddbEndpoint = fs.String("dynamodb-endpoint", "", "use this DynamoDB-compatible endpoint instead of the embedded one")
		table       = fs.String("table", "slsrtc-local", "DynamoDB table name (created if missing)")
		idle        = fs.Duration("idle-timeout", 10*time.Minute, "close connections idle this long (API Gateway: 10m)")
		maxDuration = fs.Duration("max-duration", 2*time.Hour, "close connections this long after they connected (API Gateway: 2h)")
		accessLog   = fs.Bool("access-log", false, "also print the stage's access log lines (JSON) on stderr")
		pretty      = fs.Bool("pretty", false, "render the function's JSON log and metric lines for humans")
		sendBuffer  = fs.Int("send-buffer", 0, "bytes of messages that may wait for one client before @connections posts get 429 (default 1 MiB)")
		sdkTCP      = fs.Bool("sdk-tcp", false, "send the function's DynamoDB, @connections and Invoke calls to the emulators over loopback TCP instead of in process: the same requests, slower (docs/performance.md)")
		chaosFlags  = addChaosFlags(fs)
		access      = addAccessFlags(fs)
		call        = addCallFlags(fs)
		pushing     = addPushFlags(fs)
	)
	if code, done := cmdline.Parse(fs, args, "usage: local [flags]\n", stderr); done {
		return code
	}
	profile, chaosOn, err := chaosFlags.resolve()
	if err != nil {
		fmt.Fprintf(stderr, "local: %v (see -h)\n", err)
		return 2
	}
	env, err := access.environment()
	if err == nil {
		var callEnv map[string]string
		callEnv, err = call.environment()
		maps.Copy(env, callEnv)
	}
	if err == nil {
		var pushEnv map[string]string
		pushEnv, err = pushing.environment()
		maps.Copy(env, pushEnv)
	}
	if err != nil {
		fmt.Fprintf(stderr, "local: %v\n", err)
		return 2
	}
	opts := localstack.Options{
		Getenv: func(name string) string {
			if v, ok := env[name]; ok {
				return v
			}
			return os.Getenv(name)
		},
		Addr: *addr, Stage: *stage, Template: *template, DynamoDBEndpoint: *ddbEndpoint, Table: *table,
		IdleTimeout: *idle, MaxDuration: *maxDuration, SendBuffer: *sendBuffer, Logs: stdout,
		Handlers: map[string]http.Handler{"/": web.Handler()},
		Chaos:    profile, SDKOverTCP: *sdkTCP,
	}
	if chaosOn { // each fault it makes is a line on stderr
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if *accessLog {
		opts.AccessLog = stderr
	}
	if *pretty {
		opts.Logs = prettylog.NewWriter(stdout)
	}

	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	s, err := localstack.Start(startCtx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "local: %v\n", err)
		return 2
	}
	demo := s.HTTPURL + "/" // the page asks the stack for its WebSocket URL (endpoints.json)
	chaosLine := ""
	if chaosOn {
		chaosLine = fmt.Sprintf("  Chaos         %s\n                (repeat with -chaos-seed %d)\n", profile, profile.Seed)
		if s.DynamoDBProxyURL != "" {
			chaosLine += fmt.Sprintf("                the function's DynamoDB calls go through %s; the table's own endpoint has no faults\n", s.DynamoDBProxyURL)
		}
	}
	if len(s.Config.AuthSecrets) > 0 {
		chaosLine += fmt.Sprintf("  Tokens        required at $connect: ?token=<JWT for audience %q> (go run ./cmd/token -h)\n", s.Config.AuthAudience)
	}
	if v := s.Config.Push.VAPID; v != nil {
		chaosLine += fmt.Sprintf("  Web Push      on: VAPID key %s, contact %s\n", v.PublicKey(), v.Subject())
	}
	fmt.Fprintf(stderr, "slsrtc local stack\n"+
		"  Demo page     %s\n"+
		"  WebSocket     %s\n"+
		"  @connections  %s/@connections/{connectionId}\n"+
		"  Lambda        %s  (function %s)\n"+
		"  DynamoDB      %s  (table %s)\n"+
		"%s"+
		"ready: wscat -c %s\n",
		demo, s.WebSocketURL, s.ConnectionsURL, s.HTTPURL, s.FunctionName, s.DynamoDBURL, s.Table, chaosLine, s.WebSocketURL)

	<-ctx.Done()
	fmt.Fprintln(stderr, "shutting down: closing connections (1001) and running $disconnect")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = s.Shutdown(shutdownCtx)
	if chaosOn {
		fmt.Fprintf(stderr, "chaos (seed %d): %s\n", profile.Seed, s.ChaosStats())
	}
	if err != nil {
		fmt.Fprintf(stderr, "local: shutdown: %v\n", err)
		return 1
	}
	return 0
}
