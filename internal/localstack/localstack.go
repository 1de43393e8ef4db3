// Package localstack assembles the local stack: the API Gateway emulator
// (package local) serving the signaling router (package handlers) built on
// real AWS SDK clients pointed at loopback — the emulator's @connections and
// Lambda Invoke endpoints, and an embedded DynamoDB (or an external
// DynamoDB-compatible endpoint). cmd/local runs it; end-to-end tests start it
// in-process.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/truora/minidyn/server"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/internal/wiring"
	"github.com/slsrtc/slsrtc/local"
)

// Options configure a Stack. The zero value is usable: it reads
// template.yaml from the working directory and listens on a free port.
type Options struct {
	// Addr is the listen address of the WebSocket API, @connections, Lambda
	// Invoke and any extra handlers; default 127.0.0.1:0 (a free port).
	Addr string
	// Stage overrides the template's stage name.
	Stage string
	// Template is the SAM template to read routes and stage from; default
	// "template.yaml".
	Template string
	// DynamoDBEndpoint uses an external DynamoDB-compatible endpoint instead
	// of the embedded one; the table is created there if missing. Expired
	// items are then that endpoint's business (the TTL sweeps below are the
	// embedded DynamoDB's).
	DynamoDBEndpoint string
	// TTLSweepInterval is how often the embedded DynamoDB deletes the items
	// whose TTL attribute (dynamo.TTLAttribute, the template's
	// TimeToLiveSpecification) has passed, in the background as DynamoDB
	// does; default DefaultTTLSweepInterval, negative: never.
	TTLSweepInterval time.Duration
	// Table is the table name; default "slsrtc-local".
	Table string
	// IdleTimeout and MaxDuration shorten API Gateway's 10 minutes / 2 hours.
	IdleTimeout, MaxDuration time.Duration
	// Getenv supplies the function's optional settings (DEFAULT_ROOM_CAPACITY,
	// MAX_ROOM_CAPACITY, FANOUT_CONCURRENCY, METRICS_NAMESPACE,
	// AWS_LAMBDA_LOG_LEVEL); default os.Getenv. TABLE_NAME, CONNECTIONS_URL
	// and AWS_LAMBDA_FUNCTION_NAME are always the stack's own.
	Getenv func(string) string
	// Logs receives the function's log and metric lines as CloudWatch would
	// hold them; default os.Stdout.
	Logs io.Writer
	// AccessLog, if set, receives the stage's access log lines.
	AccessLog io.Writer
	// Handlers are mounted on the same server beside the API (e.g. the demo
	// page at "/"), keyed by ServeMux pattern.
	Handlers map[string]http.Handler
}

// Stack is a running local stack.
type Stack struct {
	// WebSocketURL is ws://ADDR/STAGE.
	WebSocketURL string
	// ConnectionsURL is the @connections endpoint, http://ADDR/STAGE.
	ConnectionsURL string
	// HTTPURL is http://ADDR, where the Lambda Invoke API and extra handlers are.
	HTTPURL string
	// DynamoDBURL is the DynamoDB endpoint in use.
	DynamoDBURL string
	// Table is the table name.
	Table string
	// FunctionName is the name the Lambda Invoke API answers to.
	FunctionName string
	// Config is the function's configuration.
	Config handlers.Config
	// Clients are the SDK clients the function uses.
	Clients wiring.Clients

	gateway  *local.Gateway
	server   *http.Server
	served   chan struct{}
	stopDB   func()
	ttl      *ttlSweeper
	shutdown bool
}

// Start starts a stack and returns once it accepts connections.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.Template == "" {
		opts.Template = "template.yaml"
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Table == "" {
		opts.Table = "slsrtc-local"
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Logs == nil {
		opts.Logs = os.Stdout
	}
	if opts.TTLSweepInterval == 0 {
		opts.TTLSweepInterval = DefaultTTLSweepInterval
	}
	tmpl, err := local.ReadTemplate(opts.Template)
	if err != nil {
		return nil, err
	}
	stage := tmpl.StageName
	if opts.Stage != "" {
		stage = opts.Stage
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	s := &Stack{
		HTTPURL: "http://" + ln.Addr().String(), Table: opts.Table, FunctionName: tmpl.FunctionName,
		served: make(chan struct{}),
	}
	s.WebSocketURL = "ws://" + ln.Addr().String() + "/" + stage
	s.ConnectionsURL = s.HTTPURL + "/" + stage
	fail := func(err error) (*Stack, error) {
		ln.Close()
		s.ttl.Stop()
		if s.stopDB != nil {
			s.stopDB()
		}
		return nil, err
	}

	s.DynamoDBURL = opts.DynamoDBEndpoint
	if s.DynamoDBURL == "" {
		db := server.NewServer()
		if s.DynamoDBURL, s.stopDB, err = local.ServeDynamoDB("", db); err != nil {
			return fail(err)
		}
		if opts.TTLSweepInterval > 0 {
			s.ttl = startTTLSweeper(db, opts.TTLSweepInterval, time.Now)
		}
	}

	s.Config, err = handlers.LoadConfig(func(name string) string {
		switch name {
		case "TABLE_NAME":
			return s.Table
		case "CONNECTIONS_URL":
			return s.ConnectionsURL
		case "AWS_LAMBDA_FUNCTION_NAME":
			return s.FunctionName
		case "AWS_REGION":
			return local.DefaultRegion
		}
		return opts.Getenv(name)
	})
	if err != nil {
		return fail(err)
	}
	awsCfg := aws.Config{
		Region:      local.DefaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	s.Clients = wiring.NewClients(awsCfg, s.Config, wiring.Endpoints{DynamoDB: s.DynamoDBURL, Lambda: s.HTTPURL})
	if err := dynamo.EnsureTable(ctx, s.Clients.DynamoDB, s.Table); err != nil {
		return fail(fmt.Errorf("table %s at %s: %w", s.Table, s.DynamoDBURL, err))
	}
	logger := slog.New(slog.NewJSONHandler(opts.Logs, &slog.HandlerOptions{Level: s.Config.LogLevel}))
	router := wiring.Router(s.Config, s.Clients, handlers.Deps{Logger: logger, Metrics: opts.Logs})

	s.gateway, err = local.New(local.Config{
		Stage:                    stage,
		RouteSelectionExpression: tmpl.RouteSelectionExpression,
		Routes:                   tmpl.Routes,
		RouteResponses:           tmpl.RouteResponses,
		Handler:                  router,
		FunctionName:             tmpl.FunctionName,
		IdleTimeout:              opts.IdleTimeout,
		MaxDuration:              opts.MaxDuration,
		AccessLog:                opts.AccessLog,
	})
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	for _, p := range s.gateway.Patterns() {
		mux.Handle(p, s.gateway)
	}
	for p, h := range opts.Handlers {
		mux.Handle(p, h)
	}
	s.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.server.Serve(ln) // http.ErrServerClosed after Shutdown
	}()
	return s, nil
}

// Connections returns the number of open WebSocket connections.
func (s *Stack) Connections() int { return s.gateway.Connections() }

// ExpiredItems returns how many items the embedded DynamoDB's TTL sweeps have
// deleted (0 with an external DynamoDB).
func (s *Stack) ExpiredItems() int64 { return s.ttl.Deleted() }

// Shutdown closes every client with 1001, runs $disconnect for each, waits
// for running invocations (bounded by ctx), then stops the servers, cutting
// any other request still in progress (e.g. to Options.Handlers).
func (s *Stack) Shutdown(ctx context.Context) error {
	if s.shutdown {
		return nil
	}
	s.shutdown = true
	err := s.gateway.Shutdown(ctx)
	// No invocation runs any more, so no request to the stack is still
	// needed: close the remaining HTTP connections instead of waiting for
	// them. (http.Server.Shutdown waits 5 s for a connection that never sent
	// a request, and the SDK clients' pools leave such spares behind when two
	// requests race for one new connection.)
	err = errors.Join(err, s.server.Close())
	<-s.served
	s.ttl.Stop()
	if s.stopDB != nil {
		s.stopDB()
	}
	return err
}
