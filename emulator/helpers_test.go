package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/coder/websocket"

	"github.com/slsrtc/slsrtc/test/testkit"
)

// wait bounds every wait for something to happen. Tests never assert how long things
// take; they wait for events with this generous limit.
const wait = 10 * time.Second

// Names the test stack uses.
const (
	testStage    = "test"
	testAPIID    = "testapi123"
	testFunction = "signaling"
	testAgent    = "slsrtc-test/1.0"
)

// recorded is one invocation the recorder saw.
type recorded struct {
	raw      []byte
	ev       events.APIGatewayWebsocketProxyRequest
	lc       *lambdacontext.LambdaContext
	deadline time.Time
}

// respondFunc answers one invocation.
type respondFunc func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

// recorder is a lambda.Handler that records every invocation and answers with
// respond, by default 200 with the body "route:<routeKey> body:<body>".
type recorder struct {
	respond respondFunc

	mu      sync.Mutex
	seen    []recorded
	changed chan struct{}
}

func newRecorder(respond respondFunc) *recorder {
	if respond == nil {
		respond = func(_ context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: "route:" + ev.RequestContext.RouteKey + " body:" + ev.Body}, nil
		}
	}
	return &recorder{respond: respond, changed: make(chan struct{})}
}

// Invoke implements lambda.Handler.
func (r *recorder) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	rec := recorded{raw: append([]byte(nil), payload...)}
	_ = json.Unmarshal(payload, &rec.ev)
	rec.lc, _ = lambdacontext.FromContext(ctx)
	rec.deadline, _ = ctx.Deadline()
	r.mu.Lock()
	r.seen = append(r.seen, rec)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	resp, err := r.respond(ctx, rec.ev)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// waitFor returns the first invocation that matches, waiting for it.
func (r *recorder) waitFor(t *testing.T, what string, match func(recorded) bool) recorded {
	t.Helper()
	deadline := time.After(wait)
	for {
		r.mu.Lock()
		for _, rec := range r.seen {
			if match(rec) {
				r.mu.Unlock()
				return rec
			}
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no invocation %s within %v", what, wait)
		}
	}
}

// count returns how many invocations match.
func (r *recorder) count(match func(recorded) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.seen {
		if match(rec) {
			n++
		}
	}
	return n
}

// event matches an event of a connection by type and route.
func event(connectionID, eventType, routeKey string) func(recorded) bool {
	return func(rec recorded) bool {
		rc := rec.ev.RequestContext
		return rc.ConnectionID == connectionID && rc.EventType == eventType && (routeKey == "" || rc.RouteKey == routeKey)
	}
}

// stack is a Gateway behind an httptest.Server.
type stack struct {
	gw   *Gateway
	srv  *httptest.Server
	rec  *recorder
	host string // 127.0.0.1:port
}

// testConfig is the configuration tests start from.
func testConfig(rec *recorder) Config {
	return Config{
		Stage:                    testStage,
		RouteSelectionExpression: "$request.body.action",
		Routes:                   []string{"$connect", "$disconnect", "$default", "message", "echo"},
		RouteResponses:           map[string]bool{"echo": true},
		Handler:                  rec,
		FunctionName:             testFunction,
		APIID:                    testAPIID,
	}
}

// startStack serves a Gateway configured by testConfig and edit.
func startStack(t *testing.T, rec *recorder, edit func(*Config)) *stack {
	t.Helper()
	if rec == nil {
		rec = newRecorder(nil)
	}
	cfg := testConfig(rec)
	if edit != nil {
		edit(&cfg)
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return serveStack(t, gw, rec)
}

// serveStack serves gw; cleanup shuts it down and checks that it drains.
func serveStack(t *testing.T, gw *Gateway, rec *recorder) *stack {
	t.Helper()
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &stack{gw: gw, srv: srv, rec: rec, host: strings.TrimPrefix(srv.URL, "http://")}
}

// wsURL returns the WebSocket URL of path on the stack.
func (s *stack) wsURL(path string) string { return "ws://" + s.host + path }

// client is a test WebSocket client whose frames are read in the background.
type client struct {
	ws     *websocket.Conn
	id     string // connection ID, known when the stack has a $connect route
	frames chan string
	done   chan struct{}
	err    error // the read error, once done is closed
}

// clientSeq numbers test clients.
var clientSeq atomic.Int64

// dial connects a client to the stage and, when $connect exists, learns its ID.
func (s *stack) dial(t *testing.T, opts *websocket.DialOptions) *client {
	t.Helper()
	c, resp, err := s.tryDial(t, s.wsURL("/"+testStage), opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	return c
}

// tryDial connects to url, tagging the handshake with a unique X-Test-Client header.
func (s *stack) tryDial(t *testing.T, url string, opts *websocket.DialOptions) (*client, *http.Response, error) {
	t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	tag := "client-" + strconv.FormatInt(clientSeq.Add(1), 10)
	if opts.HTTPHeader == nil {
		opts.HTTPHeader = http.Header{}
	}
	opts.HTTPHeader.Set("X-Test-Client", tag)
	if opts.HTTPHeader.Get("User-Agent") == "" {
		opts.HTTPHeader.Set("User-Agent", testAgent)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, resp, err
	}
	c := newClient(t, ws)
	if s.gw.routes[routeConnect] {
		rec := s.rec.waitFor(t, "$connect of "+tag, func(r recorded) bool {
			return r.ev.RequestContext.EventType == eventConnect && r.ev.Headers["X-Test-Client"] == tag
		})
		c.id = rec.ev.RequestContext.ConnectionID
	}
	return c, resp, nil
}

// newClient reads the frames of ws in the background.
func newClient(t *testing.T, ws *websocket.Conn) *client {
	ws.SetReadLimit(1 << 20)
	c := &client{ws: ws, frames: make(chan string, 64), done: make(chan struct{})}
	t.Cleanup(func() { _ = ws.CloseNow() })
	go func() {
		defer close(c.done)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			c.frames <- string(data)
		}
	}()
	return c
}

// send writes a text frame.
func (c *client) send(t *testing.T, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// next returns the next frame the client received.
func (c *client) next(t *testing.T) string {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.done:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		t.Fatalf("connection ended before a frame arrived: %v", c.err)
	case <-time.After(wait):
		t.Fatalf("no frame within %v", wait)
	}
	return ""
}

// closed waits for the connection to end and returns the close frame the client got.
func (c *client) closed(t *testing.T) websocket.CloseError {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(wait):
		t.Fatalf("connection still open after %v", wait)
	}
	var ce websocket.CloseError
	if !errors.As(c.err, &ce) {
		t.Fatalf("connection ended without a close frame: %v", c.err)
	}
	return ce
}

// assertOpen checks that the connection still works by a round trip on the echo
// route, which has a route response; frames received before the echo fail the test.
func (c *client) assertOpen(t *testing.T) {
	t.Helper()
	c.send(t, `{"action":"echo","probe":true}`)
	if got, want := c.next(t), `route:echo body:{"action":"echo","probe":true}`; got != want {
		t.Fatalf("frame = %q, want the echo %q", got, want)
	}
}

// assertOpenByPost checks that the connection still works by posting to it through
// the @connections API, which invokes nothing.
func (c *client) assertOpenByPost(t *testing.T, s *stack) {
	t.Helper()
	_, err := s.mgmtClient().PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(c.id),
		Data:         []byte("probe"),
	})
	if err != nil {
		t.Fatalf("PostToConnection: %v", err)
	}
	if got := c.next(t); got != "probe" {
		t.Fatalf("frame = %q, want the posted probe", got)
	}
}

// mgmtClient returns a real @connections client for the stack.
func (s *stack) mgmtClient() *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint:     aws.String(s.srv.URL + "/" + testStage),
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

// lambdaClient returns a real Lambda client for the stack.
func (s *stack) lambdaClient() *lambdasvc.Client {
	return lambdasvc.New(lambdasvc.Options{
		BaseEndpoint:     aws.String(s.srv.URL),
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

// ctx returns a context bounded by wait.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

// golden compares got with testdata/name, rewriting the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), got)
}

// idShape is the shape of connection, request and message IDs.
var idShape = regexp.MustCompile(`^[A-Za-z0-9_-]{15}=$`)

// normalizeEvent checks the volatile fields of a raw event (IDs, times, host, keys)
// for their AWS shape and replaces them with placeholders, for golden comparison.
func normalizeEvent(t *testing.T, raw []byte, host string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("event is not JSON: %v", err)
	}
	rc, _ := m["requestContext"].(map[string]any)
	for _, k := range []string{"connectionId", "requestId", "extendedRequestId", "messageId"} {
		v, ok := rc[k]
		if !ok {
			continue
		}
		if s, _ := v.(string); !idShape.MatchString(s) {
			t.Errorf("requestContext.%s = %v, want 16 URL-safe base64 characters ending in =", k, v)
		}
		rc[k] = "<" + k + ">"
	}
	if rc["requestId"] != nil && rc["extendedRequestId"] == nil {
		t.Errorf("extendedRequestId missing")
	}
	now := time.Now()
	for _, k := range []string{"connectedAt", "requestTimeEpoch"} {
		ms, _ := rc[k].(float64)
		if at := time.UnixMilli(int64(ms)); at.Before(now.Add(-time.Hour)) || at.After(now.Add(time.Minute)) {
			t.Errorf("requestContext.%s = %v, want epoch milliseconds of now", k, rc[k])
		}
		rc[k] = "<epoch-ms>"
	}
	{
		s, _ := rc["requestTime"].(string)
		at, err := time.Parse(clfLayout, s)
		if err != nil || !strings.HasSuffix(s, " +0000") {
			t.Errorf("requestTime = %q, want CLF in UTC like 20/Jan/2024:11:55:08 +0000", s)
		} else if at.Before(now.Add(-time.Hour)) || at.After(now.Add(time.Minute)) {
			t.Errorf("requestTime = %q, want now", s)
		}
		rc["requestTime"] = "<clf>"
	}
	if rc["domainName"] == host {
		rc["domainName"] = "<host>"
	}
	placeholders := map[string]string{"Host": "<host>", "Sec-WebSocket-Key": "<key>", "X-Amzn-Trace-Id": "<trace>", "X-Forwarded-Port": "<port>", "X-Test-Client": "<client>"}
	if h, ok := m["headers"].(map[string]any); ok {
		for k, p := range placeholders {
			if v, ok := h[k].(string); ok && v != "" {
				h[k] = p
			}
		}
	}
	if h, ok := m["multiValueHeaders"].(map[string]any); ok {
		for k, p := range placeholders {
			if v, ok := h[k].([]any); ok && len(v) == 1 && v[0] != "" {
				h[k] = []any{p}
			}
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
