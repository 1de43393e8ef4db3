package budget_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"

	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/internal/wiring"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// calls counts SDK calls by "Service.Operation", e.g. "DynamoDB.GetItem".
type calls map[string]int

func (c calls) String() string {
	keys := slices.Sorted(maps.Keys(c))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"×"+itoa(c[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// counter collects the calls of one invocation; it travels in the
// invocation's context, so calls from fan-out goroutines count too. With
// keep, it also keeps each call's input and output (the capacity model reads
// the items and keys DynamoDB calls touched).
type counter struct {
	mu   sync.Mutex
	n    calls
	keep bool
	kept []sdkCall
}

// sdkCall is one SDK call: its operation, input and output (nil on error).
type sdkCall struct {
	op      string
	in, out any
}

type counterKey struct{}

func (c *counter) add(op string) {
	c.mu.Lock()
	c.n[op]++
	c.mu.Unlock()
}

func (c *counter) snapshot() calls {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// countCalls is an SDK API option that reports each operation, once per
// call whatever its retries, to the counter in the call's context.
func countCalls(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("budgetCount",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c, ok := ctx.Value(counterKey{}).(*counter)
			if !ok {
				return next.HandleInitialize(ctx, in)
			}
			op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
			c.add(op)
			out, md, err := next.HandleInitialize(ctx, in)
			if c.keep {
				c.mu.Lock()
				c.kept = append(c.kept, sdkCall{op: op, in: in.Parameters, out: out.Result})
				c.mu.Unlock()
			}
			return out, md, err
		}), middleware.After)
}

// Operation names as countCalls reports them.
const (
	getItem      = "DynamoDB.GetItem"
	batchGetItem = "DynamoDB.BatchGetItem"
	putItem      = "DynamoDB.PutItem"
	updateItem   = "DynamoDB.UpdateItem"
	deleteItem   = "DynamoDB.DeleteItem"
	query        = "DynamoDB.Query"
	transact     = "DynamoDB.TransactWriteItems"
	post         = "ApiGatewayManagementApi.PostToConnection"
	check        = "ApiGatewayManagementApi.GetConnection"
	invoke       = "Lambda.Invoke"
)

// connectionsAPI is a recording @connections endpoint: it answers every
// PostToConnection and GetConnection with 200, or 410 GoneException for
// connections marked gone, and can hold posts to prove that a fan-out runs
// them in parallel.
type connectionsAPI struct {
	mu     sync.Mutex
	posts  map[string][]string // frames by connection
	gone   map[string]int      // connection → 410 answers still to give (-1: always)
	gate   *gate
	server *httptest.Server
}

func newConnectionsAPI(t *testing.T) *connectionsAPI {
	api := &connectionsAPI{posts: map[string][]string{}, gone: map[string]int{}}
	api.server = httptest.NewServer(http.HandlerFunc(api.serve))
	t.Cleanup(api.server.Close)
	return api
}

func (api *connectionsAPI) serve(w http.ResponseWriter, r *http.Request) {
	_, id, ok := strings.Cut(r.URL.Path, "/@connections/")
	if !ok || r.Method != http.MethodPost && r.Method != http.MethodGet {
		http.Error(w, "not @connections", http.StatusNotFound)
		return
	}
	if r.Method == http.MethodGet {
		api.mu.Lock()
		_, gone := api.gone[id]
		api.mu.Unlock()
		if gone {
			writeGone(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"connectedAt":"2026-11-25T12:00:00.000Z","identity":{"sourceIp":"127.0.0.1","userAgent":"test"},"lastActiveAt":"2026-11-25T12:00:00.000Z"}`))
		return
	}
	body, _ := io.ReadAll(r.Body)
	api.mu.Lock()
	g := api.gate
	n, gone := api.gone[id]
	if gone && n > 0 {
		api.gone[id] = n - 1
		if n == 1 {
			delete(api.gone, id)
		}
	}
	if !gone {
		api.posts[id] = append(api.posts[id], string(body))
	}
	api.mu.Unlock()
	if g != nil {
		g.pass()
	}
	if gone {
		writeGone(w)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func writeGone(w http.ResponseWriter) {
	w.Header().Set("X-Amzn-ErrorType", "GoneException")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusGone)
	_, _ = w.Write([]byte(`{"message":"gone"}`))
}

// setGone makes the next n posts to id answer 410 (n < 0: all of them).
func (api *connectionsAPI) setGone(id string, n int) {
	api.mu.Lock()
	api.gone[id] = n
	api.mu.Unlock()
}

func (api *connectionsAPI) setGate(g *gate) {
	api.mu.Lock()
	api.gate = g
	api.mu.Unlock()
}

// take returns and forgets the frames posted to id.
func (api *connectionsAPI) take(id string) []string {
	api.mu.Lock()
	defer api.mu.Unlock()
	p := api.posts[id]
	delete(api.posts, id)
	return p
}

// gate holds every post until want posts are in flight at once, then lets
// all through. A fan-out that is not parallel never gets there: after a
// generous wait the gate gives up, lets everything through and reports the
// most posts it ever saw in flight.
type gate struct {
	want int

	mu       sync.Mutex
	inflight int
	max      int
	open     chan struct{}
	opened   bool
}

func newGate(want int) *gate { return &gate{want: want, open: make(chan struct{})} }

func (g *gate) pass() {
	g.mu.Lock()
	g.inflight++
	g.max = max(g.max, g.inflight)
	if g.inflight >= g.want {
		g.release()
	}
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-time.After(10 * time.Second):
		g.mu.Lock()
		g.release()
		g.mu.Unlock()
	}
	g.mu.Lock()
	g.inflight--
	g.mu.Unlock()
}

func (g *gate) release() { // with mu held
	if !g.opened {
		g.opened = true
		close(g.open)
	}
}

func (g *gate) maxInFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.max
}

// lambdaAPI is a recording Lambda Invoke endpoint: it accepts Event
// invocations with 202 and keeps their payloads.
type lambdaAPI struct {
	mu       sync.Mutex
	payloads [][]byte
	server   *httptest.Server
}

func newLambdaAPI(t *testing.T) *lambdaAPI {
	api := &lambdaAPI{}
	api.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Invocation-Type") != "Event" {
			http.Error(w, "only Event invocations expected", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		api.mu.Lock()
		api.payloads = append(api.payloads, body)
		api.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(api.server.Close)
	return api
}

// takeLast returns and forgets the last payload invoked.
func (api *lambdaAPI) takeLast(t *testing.T) []byte {
	t.Helper()
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.payloads) == 0 {
		t.Fatal("no asynchronous invocation")
	}
	p := api.payloads[len(api.payloads)-1]
	api.payloads = api.payloads[:len(api.payloads)-1]
	return p
}

// harness is the signaling router on real SDK clients that count their
// calls, the embedded DynamoDB and the recording endpoints.
type harness struct {
	t      *testing.T
	db     *dynamotest.DB
	faults *dynamotest.FaultProxy // in front of db, to fail chosen calls
	conns  *connectionsAPI
	lambda *lambdaAPI
	cfg    handlers.Config
	router *handlers.Router
	seq    int
}

// sessionNow is the one instant of a session: the message and move windows
// of the limits never turn in the middle of it.
var sessionNow = time.Date(2026, 11, 25, 12, 0, 1, 0, time.UTC)

// newHarness returns a harness whose function reads env (beside what the
// harness sets), with deps changed by each of opts.
func newHarness(t *testing.T, env map[string]string, opts ...func(*handlers.Deps)) *harness {
	t.Helper()
	db, faults := dynamotest.NewWithFaults(t)
	h := &harness{t: t, db: db, faults: faults, conns: newConnectionsAPI(t), lambda: newLambdaAPI(t)}
	vars := map[string]string{
		"TABLE_NAME":               h.db.Table,
		"CONNECTIONS_URL":          h.conns.server.URL + "/test",
		"AWS_LAMBDA_FUNCTION_NAME": "slsrtc-budget",
		"AWS_REGION":               "us-east-1",
	}
	maps.Copy(vars, env)
	cfg, err := handlers.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = cfg
	awsCfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		APIOptions:  []func(*middleware.Stack) error{countCalls},
	}
	clients := wiring.NewClients(awsCfg, cfg, wiring.Endpoints{DynamoDB: h.db.URL, Lambda: h.lambda.server.URL})
	deps := handlers.Deps{Logger: slog.New(slog.DiscardHandler), Metrics: io.Discard, Now: func() time.Time { return sessionNow }}
	for _, o := range opts {
		o(&deps)
	}
	h.router = wiring.Router(cfg, clients, deps)
	return h
}

// run invokes the router with payload and returns the status it answered
// (0 for an internal event) and the SDK calls the invocation made.
func (h *harness) run(payload []byte) (int, calls) {
	h.t.Helper()
	c := &counter{n: calls{}}
	return h.runCounting(c, payload), c.snapshot()
}

// runCounting invokes the router with payload, its SDK calls counted by c,
// and returns the status it answered (0 for an internal event).
func (h *harness) runCounting(c *counter, payload []byte) int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), counterKey{}, c), 30*time.Second)
	defer cancel()
	out, err := h.router.Invoke(ctx, payload)
	if err != nil {
		h.t.Fatalf("invoke %s: %v", payload, err)
	}
	var resp events.APIGatewayProxyResponse
	if string(out) != "null" {
		if err := json.Unmarshal(out, &resp); err != nil {
			h.t.Fatalf("response %s: %v", out, err)
		}
	}
	return resp.StatusCode
}

// event returns the JSON of an API Gateway WebSocket event.
func (h *harness) event(routeKey, eventType, connectionID, body string) []byte {
	h.seq++
	ev := events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: routeKey, EventType: eventType, ConnectionID: connectionID,
			// The session's one instant (see newHarness): item sizes, which
			// TestCapacityDoc measures, do not depend on the clock.
			RequestID: "req-" + itoa(h.seq), ConnectedAt: sessionNow.UnixMilli(), Stage: "test",
		},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func (h *harness) connect(id string) []byte {
	return h.event(handlers.RouteConnect, "CONNECT", id, "")
}

// disconnect is the $disconnect of id, closed with code (1000: the client
// meant to go; anything else: its participant goes away, for a resume).
func (h *harness) disconnect(id string, code int64) []byte {
	var ev events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(h.event(handlers.RouteDisconnect, "DISCONNECT", id, ""), &ev); err != nil {
		h.t.Fatal(err)
	}
	ev.RequestContext.DisconnectStatusCode = code
	b, err := json.Marshal(ev)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// message is a client's message; the route key is its action, as API
// Gateway selects it.
func (h *harness) message(id, body string) []byte {
	var m struct {
		Action string `json:"action"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		h.t.Fatal(err)
	}
	return h.event(m.Action, "MESSAGE", id, body)
}

// frame decodes the only frame posted to id since the last take, or fails.
func (h *harness) frames(id string) []map[string]any {
	h.t.Helper()
	var out []map[string]any
	for _, p := range h.conns.take(id) {
		var f map[string]any
		if err := json.Unmarshal([]byte(p), &f); err != nil {
			h.t.Fatalf("frame to %s: %s: %v", id, p, err)
		}
		out = append(out, f)
	}
	return out
}
