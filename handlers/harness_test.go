package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// harness is the router on the real store (embedded DynamoDB over HTTP) with
// a fake sender and invoker.
type harness struct {
	t       testing.TB
	db      *dynamotest.DB
	store   *dynamo.Store
	sender  *testkit.Sender
	invoker *testkit.Invoker
	router  *handlers.Router
	logs    *testkit.LogBuffer
	metrics *testkit.LogBuffer
	cfg     handlers.Config
	seq     int
	// tokens are the resume tokens the connections got in "connected".
	tokens map[string]string
}

// harnessOption changes how newHarness builds the router.
type harnessOption func(*harnessConfig)

type harnessConfig struct {
	client func(dynamo.Client) dynamo.Client   // wraps the SDK client under the store
	store  func(handlers.Store) handlers.Store // wraps the store under the router
	config func(*handlers.Config)              // changes the router's configuration
	limits dynamo.Limits                       // the store's limits
	resume *testkit.Clock                      // the store's clock, with ResumeGrace grace (see withResume)
	push   *push.Policy                        // Deps.PushPolicy
}

// withPushPolicy sets the router's push.Policy (Deps.PushPolicy).
func withPushPolicy(p push.Policy) harnessOption {
	return func(c *harnessConfig) { c.push = &p }
}

// withConfig changes the router's configuration.
func withConfig(f func(*handlers.Config)) harnessOption {
	return func(c *harnessConfig) { c.config = f }
}

// withLimits sets the store's limits.
func withLimits(l dynamo.Limits) harnessOption {
	return func(c *harnessConfig) { c.limits = l }
}

// withClient puts wrap around the DynamoDB client the store uses.
func withClient(wrap func(dynamo.Client) dynamo.Client) harnessOption {
	return func(c *harnessConfig) { c.client = wrap }
}

// withStore puts wrap around the store the router uses.
func withStore(wrap func(handlers.Store) handlers.Store) harnessOption {
	return func(c *harnessConfig) { c.store = wrap }
}

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	var c harnessConfig
	for _, o := range opts {
		o(&c)
	}
	h := &harness{t: t, db: dynamotest.New(t), sender: testkit.NewSender(), invoker: &testkit.Invoker{},
		logs: &testkit.LogBuffer{}, metrics: &testkit.LogBuffer{}, tokens: map[string]string{}}
	var client dynamo.Client = h.db.Client
	if c.client != nil {
		client = c.client(client)
	}
	h.store = dynamo.New(client, h.db.Table)
	h.store.Backoff = func(int) time.Duration { return time.Millisecond }
	dynamotest.Predictable(h.store)
	h.store.Limits = c.limits
	if c.resume != nil {
		h.store.Now = c.resume.Now
		h.store.ResumeGrace = grace
		h.store.NewParticipantID = func(connectionID string) (string, error) { return pid(connectionID), nil }
	}
	var store handlers.Store = h.store
	if c.store != nil {
		store = c.store(store)
	}
	h.cfg = handlers.Config{TableName: h.db.Table, ConnectionsURL: "http://unused", DefaultCapacity: 3, MaxCapacity: 5,
		FanOutConcurrency: 4, MetricsNamespace: "test"}
	if c.config != nil {
		c.config(&h.cfg)
	}
	h.router = handlers.New(h.cfg, handlers.Deps{Store: store, Sender: h.sender, Invoker: h.invoker,
		Logger:  slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: h.metrics, PushPolicy: c.push})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) event(routeKey, eventType, connectionID, body string) events.APIGatewayWebsocketProxyRequest {
	h.seq++
	return events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: routeKey, EventType: eventType, ConnectionID: connectionID,
			RequestID: fmt.Sprintf("req%04d", h.seq), ConnectedAt: time.Now().UnixMilli(),
		},
	}
}

// invoke sends an event through Router.Invoke as Lambda would and decodes
// the response.
func (h *harness) invoke(ev any) events.APIGatewayProxyResponse {
	h.t.Helper()
	payload, err := json.Marshal(ev)
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := h.router.Invoke(context.Background(), payload)
	if err != nil {
		h.t.Fatalf("Invoke: %v", err)
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		h.t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

// connect runs $connect and the internal event it queues, and returns the
// frames the client got (["connected"]).
func (h *harness) connect(id string) {
	h.t.Helper()
	if resp := h.invoke(h.event("$connect", "CONNECT", id, "")); resp.StatusCode != 200 {
		h.t.Fatalf("$connect status %d", resp.StatusCode)
	}
	for _, p := range h.invoker.Take() {
		if _, err := h.router.Invoke(context.Background(), p); err != nil {
			h.t.Fatalf("internal invoke: %v", err)
		}
	}
	got := h.sender.Take(id)
	var f struct {
		Type, Body, ParticipantID, ResumeToken string
		ExpiresAt, IdleTimeoutMs               int64
	}
	wantPID, _ := h.store.NewParticipantID(id)
	if len(got) != 1 || json.Unmarshal([]byte(got[0]), &f) != nil || f.Type != "connected" || f.Body != id ||
		f.ParticipantID != wantPID || f.ResumeToken == "" || f.ExpiresAt <= time.Now().UnixMilli() || f.IdleTimeoutMs != 600000 {
		h.t.Fatalf("%s got %q after connecting, want one connected frame with its ID, participant %s, a resume token and its limits", id, got, wantPID)
	}
	h.tokens[id] = f.ResumeToken
}

// send delivers a client message, choosing the route as API Gateway does
// ($request.body.action, matched exactly, else $default).
func (h *harness) send(id, body string) events.APIGatewayProxyResponse {
	h.t.Helper()
	route := "$default"
	var sel map[string]any
	if json.Unmarshal([]byte(body), &sel) == nil {
		if a, ok := sel["action"].(string); ok && slices.Contains(handlers.RouteKeys(), a) {
			route = a
		}
	}
	return h.invoke(h.event(route, "MESSAGE", id, body))
}

func (h *harness) disconnect(id string) {
	h.t.Helper()
	ev := h.event("$disconnect", "DISCONNECT", id, "")
	ev.RequestContext.DisconnectStatusCode = 1001
	if resp := h.invoke(ev); resp.StatusCode != 200 {
		h.t.Fatalf("$disconnect status %d", resp.StatusCode)
	}
}

// createRoom creates a room as id and returns its ID.
func (h *harness) createRoom(id string, capacity int) string {
	h.t.Helper()
	body := `{"action":"createroom"}`
	if capacity > 0 {
		body = fmt.Sprintf(`{"action":"createroom","capacity":%d}`, capacity)
	}
	h.send(id, body)
	frames := h.sender.Take(id)
	var f struct{ Type, Body string }
	if len(frames) != 1 || json.Unmarshal([]byte(frames[0]), &f) != nil || f.Type != "room-created" {
		h.t.Fatalf("createroom got %q", frames)
	}
	return f.Body
}

// enter makes id enter room and drops the frames everyone got.
func (h *harness) enter(id, room, name string) {
	h.t.Helper()
	body := fmt.Sprintf(`{"action":"enterroom","roomID":%q}`, room)
	if name != "" {
		body = fmt.Sprintf(`{"action":"enterroom","roomID":%q,"userName":%q}`, room, name)
	}
	if resp := h.send(id, body); resp.StatusCode != 200 {
		h.t.Fatalf("enterroom status %d: %q", resp.StatusCode, h.sender.Take(id))
	}
	h.sender.Reset()
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

var errBoom = errors.New("boom")
