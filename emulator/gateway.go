package emulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/coder/websocket"

	"github.com/slsrtc/slsrtc/emulator/chaos"
)

// Defaults of Config, the quotas of API Gateway and Lambda.
const (
	DefaultRegion             = "us-east-1"
	DefaultAccountID          = "123456789012"
	DefaultIdleTimeout        = 10 * time.Minute
	DefaultMaxDuration        = 2 * time.Hour
	DefaultFunctionTimeout    = defaultFunctionTimeout // Lambda's default Timeout, 3 s
	DefaultIntegrationTimeout = 29 * time.Second       // API Gateway's maximum
)

// maxMessageBytes is the largest message a client may send and the largest payload
// PostToConnection accepts: 128 KB.
const maxMessageBytes = 128 * 1024

// Config configures a Gateway. Stage, RouteSelectionExpression, Routes and Handler are
// required; ReadTemplate returns the first three from template.yaml.
type Config struct {
	// Stage is the stage name: the WebSocket is served at /{Stage} and the
	// @connections API at /{Stage}/@connections/{id}.
	Stage string
	// RouteSelectionExpression picks a message's route; only $request.body.<field>
	// (or ${request.body.<field>}) is supported, which is what WebSocket APIs use.
	RouteSelectionExpression string
	// Routes lists the route keys that exist, e.g. "$connect", "$default", "message".
	// A missing $connect accepts every connection; a missing $disconnect invokes nothing
	// on close; a missing $default makes unmatched messages answer Forbidden.
	Routes []string
	// RouteResponses marks the routes with a two-way route response: only their
	// integration's response body is sent back to the client.
	RouteResponses map[string]bool
	// Handler is the one function behind every route, invoked with the JSON of an
	// events.APIGatewayWebsocketProxyRequest and expected to return the JSON of an
	// events.APIGatewayProxyResponse. The Lambda Invoke endpoint calls it too.
	Handler lambda.Handler
	// FunctionName is the name the Lambda Invoke endpoint answers to (empty: every
	// name is unknown); the handler's InvokedFunctionArn is
	// arn:aws:lambda:{Region}:{AccountID}:function:{FunctionName}.
	FunctionName string
	// Region, AccountID and APIID fill ARNs and events; defaults "us-east-1",
	// "123456789012" and a random 10-character lowercase ID.
	Region, AccountID, APIID string
	// IdleTimeout closes a connection (1001) after that long without a data frame from
	// its client; MaxDuration closes it (1001) that long after it connected. Defaults
	// 10 minutes and 2 hours.
	IdleTimeout, MaxDuration time.Duration
	// FunctionTimeout is the function's Timeout (Template.FunctionTimeout): the
	// deadline of each invocation's context, after which the invocation fails as
	// Lambda's does (a WebSocket route then answers "Internal server error").
	// Default 3 s, Lambda's default.
	FunctionTimeout time.Duration
	// IntegrationTimeout is how long a WebSocket route waits for its integration
	// before answering "Endpoint request timed out", whatever the function's own
	// timeout; default 29 s, API Gateway's maximum.
	IntegrationTimeout time.Duration
	// SendBuffer is how many bytes of messages may wait to be written to one
	// client (AWS's "WebSocket client side buffer", whose size it does not
	// document): a post that would exceed it is answered 429
	// LimitExceededException, a client that reads slowly is not disconnected. An
	// empty buffer takes any message. Default DefaultSendBuffer, 1 MiB.
	SendBuffer int
	// Chaos makes the gateway behave like AWS at its worst (its $disconnect and
	// @connections parts; the DynamoDB part is chaos.DynamoDBProxy's): see
	// chaos.Profile. The zero value makes none.
	Chaos chaos.Profile
	// AccessLog, when set, receives one JSON line per WebSocket event, like a stage's
	// access log: requestId, connectionId, eventType, routeKey, status,
	// integrationLatency, sourceIp, requestTime.
	AccessLog io.Writer
	// Logger receives the emulator's own diagnostics (not the Lambda's logs); nil
	// discards them.
	Logger *slog.Logger
}

// Gateway emulates one stage of an API Gateway WebSocket API whose routes all use
// one Lambda proxy integration, the stage's @connections management API, and the
// Lambda Invoke API of that function. It is an http.Handler; see ServeHTTP.
type Gateway struct {
	cfg         Config
	routes      map[string]bool
	selector    *routeSelector
	functionARN string
	stagePath   string // "/" + Stage
	log         *slog.Logger
	accessMu    sync.Mutex

	// afterFunc is time.AfterFunc; tests replace it to drive the timeouts.
	afterFunc func(time.Duration, func()) timer

	inflight tracker // open connections and running invocations
	busy     tracker // running invocations and pending $disconnects (see WaitQuiet)
	envs     environments
	chaos    *gatewayChaos

	mu      sync.Mutex
	conns   map[string]*conn
	closing bool
}

// New returns a Gateway for cfg after filling its defaults. It returns an error when a
// required field is missing, the route selection expression is not supported, or a
// route response names a route that does not exist.
func New(cfg Config) (*Gateway, error) {
	if cfg.Stage == "" || strings.ContainsAny(cfg.Stage, "/?#@") {
		return nil, fmt.Errorf("new gateway: invalid stage %q", cfg.Stage)
	}
	if cfg.Handler == nil {
		return nil, errors.New("new gateway: no handler")
	}
	selector, err := newRouteSelector(cfg.RouteSelectionExpression, cfg.Routes)
	if err != nil {
		return nil, fmt.Errorf("new gateway: %w", err)
	}
	routes := map[string]bool{}
	for _, r := range cfg.Routes {
		if r == "" {
			return nil, errors.New("new gateway: empty route key")
		}
		routes[r] = true
	}
	for r, ok := range cfg.RouteResponses {
		if ok && !routes[r] {
			return nil, fmt.Errorf("new gateway: route response for unknown route %q", r)
		}
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if cfg.APIID == "" {
		cfg.APIID = newAPIID()
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = DefaultMaxDuration
	}
	if cfg.SendBuffer <= 0 {
		cfg.SendBuffer = DefaultSendBuffer
	}
	if cfg.FunctionTimeout <= 0 {
		cfg.FunctionTimeout = DefaultFunctionTimeout
	}
	if cfg.IntegrationTimeout <= 0 {
		cfg.IntegrationTimeout = DefaultIntegrationTimeout
	}
	if err := cfg.Chaos.Validate(); err != nil {
		return nil, fmt.Errorf("new gateway: chaos: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Gateway{
		cfg:         cfg,
		routes:      routes,
		selector:    selector,
		functionARN: "arn:aws:lambda:" + cfg.Region + ":" + cfg.AccountID + ":function:" + cfg.FunctionName,
		stagePath:   "/" + cfg.Stage,
		log:         logger,
		afterFunc:   func(d time.Duration, f func()) timer { return time.AfterFunc(d, f) },
		conns:       map[string]*conn{},
		chaos:       newGatewayChaos(cfg.Chaos),
	}, nil
}

// invokePrefix starts the path of the Lambda Invoke API.
const invokePrefix = "/2015-03-31/functions/"

// ServeHTTP serves:
//
//   - GET /{Stage}: the WebSocket API (only this path upgrades);
//   - POST, GET, DELETE /{Stage}/@connections/{id}: the management API, also spelled
//     %40connections, with the ID percent-encoded or not;
//   - POST /2015-03-31/functions/{name}/invocations: Lambda's Invoke API;
//
// It refuses with 403 a request to the last two from another origin's web page (see
// sameOrigin), and answers 404 to anything else, so it can sit in a mux beside other
// handlers (see Patterns).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path // decoded: %40 is @ and %3D is = here
	if p == g.stagePath {
		g.serveWebSocket(w, r)
		return
	}
	if rest, ok := strings.CutPrefix(p, invokePrefix); ok {
		if name, ok := strings.CutSuffix(rest, "/invocations"); ok && name != "" && !strings.Contains(name, "/") {
			if !g.refuseCrossOrigin(w, r, codeAccessDenied) {
				g.serveInvoke(w, r, name)
			}
			return
		}
	}
	if stage, id, ok := strings.Cut(p, "/@connections/"); ok {
		if stage != g.stagePath || id == "" || strings.Contains(id, "/") {
			// What API Gateway answers a path outside the stage's API: a Forbidden
			// that usually means a BaseEndpoint without the stage.
			g.log.Warn("@connections call outside the stage", "path", p, "stage", g.cfg.Stage)
			writeAWSError(w, codeForbidden, "Forbidden")
			return
		}
		if !g.refuseCrossOrigin(w, r, codeForbidden) && !g.chaos.connectionsCall(g, w, r, id) {
			g.serveConnection(w, r, id)
		}
		return
	}
	http.NotFound(w, r)
}

// Patterns returns the http.ServeMux patterns that reach the Gateway: mount it on
// each of them, next to other handlers such as a page at "/".
func (g *Gateway) Patterns() []string {
	return []string{g.stagePath, g.stagePath + "/", invokePrefix}
}

// OpenConnections returns the number of connections whose $connect is running or that
// are open.
func (g *Gateway) OpenConnections() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// Shutdown closes every connection with 1001 "Going away", which runs $disconnect for
// each, refuses new connections, and waits until no invocation is running (including
// asynchronous Invoke calls those make). It returns ctx's error, after dropping the
// connections without a close handshake, if ctx ends first.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.chaos.stop()
	defer g.envs.close()
	g.mu.Lock()
	g.closing = true
	conns := make([]*conn, 0, len(g.conns))
	for _, c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()

	for _, c := range conns {
		c.closeWith(websocket.StatusGoingAway, "Going away")
	}
	if err := g.inflight.wait(ctx); err != nil {
		for _, c := range conns {
			if _, ws, _ := c.snapshot(); ws != nil {
				go ws.CloseNow()
			}
		}
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// WaitQuiet returns once no invocation is running and no $disconnect is pending
// (a late one included, see Config.Chaos), or with ctx's error. Open connections do
// not count. A close the gateway has not read yet is not pending yet: after closing
// clients, wait for Connections to drop first.
func (g *Gateway) WaitQuiet(ctx context.Context) error { return g.busy.wait(ctx) }

// ChaosStats returns what Config.Chaos has done so far: the connections whose
// $disconnect was dropped, how many were delayed, how many @connections calls
// were throttled.
func (g *Gateway) ChaosStats() chaos.Stats { return g.chaos.snapshot() }

// register adds a new connection, counting it as in flight until its $disconnect is
// done; it reports false once Shutdown has begun.
func (g *Gateway) register(c *conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.conns[c.id] = c
	g.inflight.add()
	return true
}

// forget removes a connection from the table @connections looks in.
func (g *Gateway) forget(c *conn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conns[c.id] == c {
		delete(g.conns, c.id)
	}
}

// lookup returns the connection with that ID, or nil.
func (g *Gateway) lookup(id string) *conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.conns[id]
}
