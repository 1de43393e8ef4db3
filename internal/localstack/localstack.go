// Package localstack assembles the local stack: the API Gateway emulator
// (package emulator) serving the signaling router (package handlers) built on
// real AWS SDK clients pointed at loopback — the emulator's @connections and
// Lambda Invoke endpoints, and an embedded DynamoDB (or an external
// DynamoDB-compatible endpoint). cmd/local runs it; end-to-end tests start it
// in-process.
package localstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/truora/minidyn/server"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/emulator"
	"github.com/slsrtc/slsrtc/emulator/chaos"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/internal/inprocess"
	"github.com/slsrtc/slsrtc/internal/wiring"
	"github.com/slsrtc/slsrtc/push"
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
	// AWS_LAMBDA_LOG_LEVEL, ...); default os.Getenv. TABLE_NAME,
	// CONNECTIONS_URL and AWS_LAMBDA_FUNCTION_NAME are always the stack's
	// own, and MAX_CONNECTION_SECONDS and IDLE_TIMEOUT_SECONDS follow
	// MaxDuration and IdleTimeout.
	Getenv func(string) string
	// Logs receives the function's log and metric lines as CloudWatch would
	// hold them; default os.Stdout.
	Logs io.Writer
	// AccessLog, if set, receives the stage's access log lines.
	AccessLog io.Writer
	// Handlers are mounted on the same server beside the API (e.g. the demo
	// page at "/"), keyed by ServeMux pattern; EndpointsPath is the stack's.
	Handlers map[string]http.Handler
	// WrapHandler, if set, wraps the function's handler, e.g. for a test to
	// watch invocations; the wrapped handler runs as Lambda runs it.
	WrapHandler func(lambda.Handler) lambda.Handler
	// Chaos makes the stack behave like AWS at its worst (see
	// chaos.Profile): $disconnect dropped or late, @connections calls slow or
	// throttled, and, through a chaos.DynamoDBProxy between the function and
	// the table, DynamoDB conflicts, throttling and latency. The zero value
	// makes none; Stack.ChaosStats tells what it did.
	Chaos chaos.Profile
	// DynamoDBProxy puts a chaos.DynamoDBProxy between the function and the
	// table even when Chaos makes no DynamoDB faults, so that a test can
	// Inject its own (Stack.DynamoDBProxy).
	DynamoDBProxy bool
	// SendBuffer is the size of each connection's buffer of messages waiting
	// for its client (emulator.Config.SendBuffer); default 1 MiB.
	SendBuffer int
	// Logger receives the emulator's own diagnostics, chaos events among
	// them; nil discards them.
	Logger *slog.Logger
	// SDKOverTCP sends the function's SDK calls to the embedded DynamoDB
	// (or the chaos proxy in front of it, and the proxy's to the table),
	// @connections and Lambda Invoke over loopback TCP. By default they are
	// served in process (package inprocess): the same requests and answers,
	// without a socket, which makes a relay a third cheaper
	// (BenchmarkStackRelay). An external DynamoDB is always reached over TCP.
	SDKOverTCP bool
	// PushPolicy, if set, replaces the push.Policy the configuration gives
	// (PUSH_HOSTS): tests allow the loopback push service
	// (test/pushservice) with it.
	PushPolicy *push.Policy
}

// EndpointsPath is where a stack describes its endpoints (see Endpoints), so
// that a page it serves, such as the demo page, finds its WebSocket whatever
// the stage.
const EndpointsPath = "/endpoints.json"

// Endpoints is the JSON a stack answers at EndpointsPath. The URLs use the
// host the request named, so they work for a browser that reached the stack
// as localhost as well as 127.0.0.1.
type Endpoints struct {
	Stage          string `json:"stage"`
	WebSocketURL   string `json:"webSocketURL"`   // ws://HOST/STAGE
	ConnectionsURL string `json:"connectionsURL"` // http://HOST/STAGE, the SDK's BaseEndpoint
	LambdaURL      string `json:"lambdaURL"`      // http://HOST
	FunctionName   string `json:"functionName"`
}

func serveEndpoints(w http.ResponseWriter, r *http.Request, stage, function string) {
	body, _ := json.Marshal(Endpoints{
		Stage:          stage,
		WebSocketURL:   "ws://" + r.Host + "/" + stage,
		ConnectionsURL: "http://" + r.Host + "/" + stage,
		LambdaURL:      "http://" + r.Host,
		FunctionName:   function,
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(body)
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
	// FunctionTimeout is the function's Timeout from the template: the
	// deadline of each invocation (API Gateway's integration timeout stays
	// 29 s).
	FunctionTimeout time.Duration
	// Config is the function's configuration.
	Config handlers.Config
	// Clients are the SDK clients the function uses.
	Clients wiring.Clients
	// DynamoDBProxy is the proxy between the function and the table when
	// Options.Chaos makes DynamoDB faults or Options.DynamoDBProxy asks for
	// it, else nil; DynamoDBProxyURL is where it is served. DynamoDBURL stays
	// the table's own endpoint, free of faults, for tests and the AWS CLI.
	DynamoDBProxy    *chaos.DynamoDBProxy
	DynamoDBProxyURL string

	gateway  *emulator.Gateway
	server   *http.Server
	served   chan struct{}
	stops    []func() // the embedded DynamoDB, its TTL sweeper, the proxy: last first
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
	tmpl, err := emulator.ReadTemplate(opts.Template)
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
		FunctionTimeout: tmpl.FunctionTimeout, served: make(chan struct{}),
	}
	s.WebSocketURL = "ws://" + ln.Addr().String() + "/" + stage
	s.ConnectionsURL = s.HTTPURL + "/" + stage
	fail := func(err error) (*Stack, error) {
		ln.Close()
		s.stop()
		return nil, err
	}
	if err := opts.Chaos.Validate(); err != nil {
		return fail(fmt.Errorf("chaos: %w", err))
	}

	var inProcess *inprocess.Hosts
	if !opts.SDKOverTCP {
		inProcess = &inprocess.Hosts{}
	}
	s.DynamoDBURL = opts.DynamoDBEndpoint
	if s.DynamoDBURL == "" {
		db := server.NewServer()
		var stopDB func()
		if s.DynamoDBURL, stopDB, err = emulator.ServeDynamoDB("", db); err != nil {
			return fail(err)
		}
		s.stops = append(s.stops, stopDB)
		if inProcess != nil {
			inProcess.Handle(hostOf(s.DynamoDBURL), db)
		}
		if opts.TTLSweepInterval > 0 {
			s.ttl = startTTLSweeper(db, opts.TTLSweepInterval, time.Now)
			s.stops = append(s.stops, s.ttl.Stop)
		}
	}
	functionDB := s.DynamoDBURL
	if opts.Chaos.DynamoDB() || opts.DynamoDBProxy {
		if err := s.startDynamoDBProxy(opts.Chaos); err != nil {
			return fail(err)
		}
		functionDB = s.DynamoDBProxyURL
		if inProcess != nil {
			s.DynamoDBProxy.SetTransport(inprocess.Client{Hosts: inProcess, Next: inprocess.RoundTripper{RoundTripper: chaos.WideTransport()}})
			inProcess.Handle(hostOf(s.DynamoDBProxyURL), s.DynamoDBProxy)
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
			return emulator.DefaultRegion
		case "MAX_CONNECTION_SECONDS": // what "connected" tells clients
			return seconds(opts.MaxDuration)
		case "IDLE_TIMEOUT_SECONDS":
			return seconds(opts.IdleTimeout)
		}
		return opts.Getenv(name)
	})
	if err != nil {
		return fail(err)
	}
	awsCfg := aws.Config{
		Region:      emulator.DefaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	s.Clients = wiring.NewClients(awsCfg, s.Config, wiring.Endpoints{DynamoDB: functionDB, Lambda: s.HTTPURL, InProcess: inProcess})
	if err := dynamo.EnsureTable(ctx, s.Clients.DynamoDB, s.Table); err != nil {
		return fail(fmt.Errorf("table %s at %s: %w", s.Table, s.DynamoDBURL, err))
	}
	logger := slog.New(slog.NewJSONHandler(opts.Logs, &slog.HandlerOptions{Level: s.Config.LogLevel}))
	var handler lambda.Handler = wiring.Router(s.Config, s.Clients, handlers.Deps{Logger: logger, Metrics: opts.Logs, PushPolicy: opts.PushPolicy})
	if opts.WrapHandler != nil {
		handler = opts.WrapHandler(handler)
	}

	s.gateway, err = emulator.New(emulator.Config{
		Stage:                    stage,
		RouteSelectionExpression: tmpl.RouteSelectionExpression,
		Routes:                   tmpl.Routes,
		RouteResponses:           tmpl.RouteResponses,
		Handler:                  handler,
		FunctionName:             tmpl.FunctionName,
		FunctionTimeout:          tmpl.FunctionTimeout,
		IdleTimeout:              opts.IdleTimeout,
		MaxDuration:              opts.MaxDuration,
		SendBuffer:               opts.SendBuffer,
		Chaos:                    opts.Chaos,
		AccessLog:                opts.AccessLog,
		Logger:                   opts.Logger,
	})
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	for _, p := range s.gateway.Patterns() {
		mux.Handle(p, s.gateway)
	}
	mux.HandleFunc("GET "+EndpointsPath, func(w http.ResponseWriter, r *http.Request) { serveEndpoints(w, r, stage, s.FunctionName) })
	for p, h := range opts.Handlers {
		mux.Handle(p, h)
	}
	if inProcess != nil {
		inProcess.Handle(ln.Addr().String(), mux)
	}
	s.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.server.Serve(ln) // http.ErrServerClosed after Shutdown
	}()
	return s, nil
}

// hostOf returns the host:port of an http://host:port URL.
func hostOf(endpoint string) string {
	return strings.TrimPrefix(endpoint, "http://")
}

// seconds renders a duration the emulator enforces for the function's
// environment: whole seconds, rounded up; "" (the function's default, API
// Gateway's) when it is not set.
func seconds(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// OpenConnections returns the number of open WebSocket connections.
func (s *Stack) OpenConnections() int { return s.gateway.OpenConnections() }

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
	s.stop()
	return err
}

// stop stops the servers Start started beside the stack's own, last first.
func (s *Stack) stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	s.stops = nil
}

// startDynamoDBProxy serves a chaos.DynamoDBProxy in front of s.DynamoDBURL on
// a free loopback port, with profile's DynamoDB chaos.
func (s *Stack) startDynamoDBProxy(profile chaos.Profile) error {
	proxy, err := chaos.NewDynamoDBProxy(s.DynamoDBURL)
	if err != nil {
		return err
	}
	if profile.DynamoDB() {
		proxy.SetProfile(profile)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("dynamodb proxy: %w", err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // http.ErrServerClosed once stopped
	}()
	s.stops = append(s.stops, func() {
		_ = srv.Close() // as StartDynamoDB's stop: the function is done with the table
		<-served
	})
	s.DynamoDBProxy, s.DynamoDBProxyURL = proxy, "http://"+ln.Addr().String()
	return nil
}

// WaitQuiet returns once no invocation is running and no $disconnect is
// pending (a late one included), or with ctx's error: a test that closed its
// clients waits for Connections to drop, then for this, before it compares the
// table with what the clients saw.
func (s *Stack) WaitQuiet(ctx context.Context) error { return s.gateway.WaitQuiet(ctx) }

// ChaosStats returns what Options.Chaos has done so far: the connections
// whose $disconnect was dropped (never invoked), the $disconnects delayed, the
// @connections calls throttled and the DynamoDB calls failed.
func (s *Stack) ChaosStats() chaos.Stats {
	stats := s.gateway.ChaosStats()
	if s.DynamoDBProxy != nil {
		stats = stats.Add(s.DynamoDBProxy.Stats())
	}
	return stats
}
