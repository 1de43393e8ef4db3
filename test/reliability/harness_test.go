package reliability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// env is the signaling router on the real store, on the embedded DynamoDB
// over HTTP (optionally behind a fault proxy), with a recording sender.
type env struct {
	t      testing.TB
	db     *dynamotest.DB
	faults *dynamotest.FaultProxy // nil without withFaults
	store  *dynamo.Store
	sender recorder
	router *handlers.Router
	logs   *testkit.LogBuffer
	seq    atomic.Int64
}

type envConfig struct {
	faults bool
	sender handlers.Sender // default: the recorder
	store  func(*dynamo.Store)
	cfg    handlers.Config
}

func withFaults(c *envConfig) { c.faults = true }

// withSender makes the router post through s instead of the recorder.
func withSender(s handlers.Sender) func(*envConfig) {
	return func(c *envConfig) { c.sender = s }
}

// withStore adjusts the store (clock, IDs, retry budget) before use.
func withStore(f func(*dynamo.Store)) func(*envConfig) {
	return func(c *envConfig) { c.store = f }
}

// sequentialRoomIDs makes room IDs predictable (valid v4 UUIDs), so that two
// runs of one scenario create the same rows.
func sequentialRoomIDs(s *dynamo.Store) {
	var n atomic.Int64
	s.NewRoomID = func() (string, error) {
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)), nil
	}
}

// newEnv builds an env with the protocol's default capacities (8, max 50).
func newEnv(t testing.TB, opts ...func(*envConfig)) *env {
	t.Helper()
	c := envConfig{cfg: handlers.Config{
		TableName: dynamotest.Table, ConnectionsURL: "http://unused", DefaultCapacity: 8, MaxCapacity: 50,
		FanOutConcurrency: 16, MetricsNamespace: "test",
	}}
	for _, o := range opts {
		o(&c)
	}
	e := &env{t: t, sender: newRecorder(), logs: &testkit.LogBuffer{}}
	if c.faults {
		e.db, e.faults = dynamotest.NewWithFaults(t)
	} else {
		e.db = dynamotest.New(t)
	}
	e.store = dynamo.New(e.db.Client, e.db.Table)
	dynamotest.Predictable(e.store)
	if c.store != nil {
		c.store(e.store)
	}
	var sender handlers.Sender = e.sender
	if c.sender != nil {
		sender = c.sender
	}
	e.router = handlers.New(c.cfg, handlers.Deps{
		Store: e.store, Sender: sender, Invoker: &testkit.Invoker{}, // "connected" is not looked at here
		Logger:  slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: e.logs,
	})
	if tt, ok := t.(*testing.T); ok {
		tt.Cleanup(func() {
			if tt.Failed() {
				tt.Logf("function logs (last 4 KB):\n%s", e.logs.Tail(4<<10))
			}
		})
	}
	return e
}

// invoke runs one API Gateway event through Router.Invoke, as Lambda does,
// and returns the integration's status code. Safe from many goroutines.
func (e *env) invoke(routeKey, eventType, connectionID, body string) int {
	return invoke(e.t, e.router, fmt.Sprintf("req-%d", e.seq.Add(1)), routeKey, eventType, connectionID, body)
}

// invoke sends router the JSON of an API Gateway WebSocket event, as
// Lambda does, and returns the response's statusCode (0 on a failure, which
// it reports). Safe from many goroutines.
func invoke(t testing.TB, router *handlers.Router, requestID, routeKey, eventType, connectionID, body string) int {
	ev := events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: routeKey, EventType: eventType, ConnectionID: connectionID,
			RequestID: requestID, ConnectedAt: time.Now().UnixMilli(),
		},
	}
	if eventType == "DISCONNECT" {
		ev.RequestContext.DisconnectStatusCode = 1006
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		t.Errorf("marshal event: %v", err)
		return 0
	}
	out, err := router.Invoke(context.Background(), payload)
	if err != nil {
		t.Errorf("Invoke(%s from %s): %v", routeKey, connectionID, err)
		return 0
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Errorf("response %s: %v", out, err)
	}
	return resp.StatusCode
}

func (e *env) connect(id string) int { return e.invoke("$connect", "CONNECT", id, "") }

func (e *env) disconnect(id string) int { return e.invoke("$disconnect", "DISCONNECT", id, "") }

// send delivers a client message on the route API Gateway would select
// ($request.body.action when it names a route, else $default).
func (e *env) send(id, body string) int {
	route := "$default"
	var sel struct{ Action any }
	if json.Unmarshal([]byte(body), &sel) == nil {
		if a, ok := sel.Action.(string); ok && knownRoutes[a] {
			route = a
		}
	}
	return e.invoke(route, "MESSAGE", id, body)
}

var knownRoutes = map[string]bool{"createroom": true, "enterroom": true, "leaveroom": true, "message": true, "ping": true}

// mustConnect connects every id, failing the test on any refusal.
func (e *env) mustConnect(ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		if s := e.connect(id); s != 200 {
			e.t.Fatalf("$connect %s: status %d", id, s)
		}
	}
}

// createRoom creates a room as id and returns its ID.
func (e *env) createRoom(id string, capacity int) string {
	e.t.Helper()
	body := `{"action":"createroom"}`
	if capacity > 0 {
		body = fmt.Sprintf(`{"action":"createroom","capacity":%d}`, capacity)
	}
	e.send(id, body)
	fs := e.sender.take(id)
	if len(fs) != 1 || fs[0].Type != "room-created" {
		e.t.Fatalf("createroom by %s got %v", id, fs)
	}
	return fs[0].Body
}

// enter makes id enter room (under name, if set) and forgets the frames
// everyone got.
func (e *env) enter(id, room, name string) {
	e.t.Helper()
	if s := e.send(id, enterBody(room, name)); s != 200 {
		e.t.Fatalf("enterroom %s: status %d, frames %v", id, s, e.sender.take(id))
	}
	e.sender.reset()
}

func enterBody(room, name string) string {
	if name == "" {
		return fmt.Sprintf(`{"action":"enterroom","roomID":%s}`, jsonString(room))
	}
	return fmt.Sprintf(`{"action":"enterroom","roomID":%s,"userName":%s}`, jsonString(room), jsonString(name))
}

func relayBody(dest, typ, message string) string {
	return fmt.Sprintf(`{"action":"message","dest":%s,"type":%s,"message":%s}`, jsonString(dest), jsonString(typ), jsonString(message))
}

// jsonString quotes s as a JSON string, escaping only what JSON requires.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// frame is any frame the server sends, decoded.
type frame struct {
	Type         string   `json:"type"`
	Body         string   `json:"body"`
	From         string   `json:"from"`
	Code         string   `json:"code"`
	Message      string   `json:"message"`
	RoomID       string   `json:"roomID"`
	ConnectionID string   `json:"connectionID"`
	UserName     string   `json:"userName"`
	Members      []member `json:"members"`
	raw          string
}

type member struct {
	ConnectionID string `json:"connectionID"`
	UserName     string `json:"userName"`
}

func (f frame) String() string { return f.raw }

// recorder is the test kit's fake Sender, with the frames each connection
// got decoded. Connections marked gone answer connections.ErrGone, as API
// Gateway's 410.
type recorder struct{ *testkit.Sender }

func newRecorder() recorder { return recorder{testkit.NewSender()} }

func (r recorder) setGone(ids ...string) { r.SetGone(ids...) }

// take returns and forgets the frames a connection got; a frame that is not
// JSON is kept with the type "<not JSON>", which no test expects.
func (r recorder) take(id string) []frame {
	var fs []frame
	for _, raw := range r.Take(id) {
		f := frame{raw: raw}
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			f.Type = "<not JSON>"
		}
		fs = append(fs, f)
	}
	return fs
}

// attempts returns how often the server posted to a connection.
func (r recorder) attempts(id string) int { return r.Attempts(id) }

// reset forgets every frame and count.
func (r recorder) reset() { r.Reset() }

// view is the table as membership sees it: every item with its timestamps,
// TTL and the room's version left out, so two runs of one scenario compare
// equal. (The version counts changes, like a clock: an enter undone after a
// failure leaves the membership as it was, two changes later.)
func view(t testing.TB, db *dynamotest.DB) string {
	t.Helper()
	items := db.Items(t)
	var lines []string
	for pk, item := range items {
		var attrs []string
		for k, v := range item {
			switch k {
			case "expiresAt", "liveUntil", "connectedAt", "joinedAt", "createdAt", "version":
				continue
			}
			attrs = append(attrs, k+"="+dynamotest.String(v))
		}
		sort.Strings(attrs)
		lines = append(lines, pk+" {"+strings.Join(attrs, " ")+"}")
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// logged reports whether a JSON log line has every field of want (numbers
// compare as JSON numbers: 1006, not "1006").
func logged(logs string, want map[string]any) bool {
	for _, line := range strings.Split(logs, "\n") {
		var got map[string]any
		if json.Unmarshal([]byte(line), &got) != nil {
			continue
		}
		match := true
		for k, v := range want {
			match = match && fmt.Sprint(got[k]) == fmt.Sprint(v)
		}
		if match {
			return true
		}
	}
	return false
}
