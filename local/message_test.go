package local

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"

	"github.com/slsrtc/slsrtc/internal/logbuf"
)

// Behaviour 6: route selection on $request.body.action, the JSON value stringified,
// exact match, $default for a missing field, an unknown value or a non-JSON body.
func TestRouteSelection(t *testing.T) {
	routes := []string{"$connect", "$disconnect", "$default", "message", "1", "true", "a.b"}
	tests := []struct {
		expr, body, want string
	}{
		{"$request.body.action", `{"action":"message"}`, "message"},
		{"$request.body.action", `{"action":"message","x":{"action":"no"}}`, "message"},
		{"$request.body.action", `{"action":"Message"}`, "$default"},
		{"$request.body.action", `{"action":"unknown"}`, "$default"},
		{"$request.body.action", `{"other":"message"}`, "$default"},
		{"$request.body.action", `{}`, "$default"},
		{"$request.body.action", `{"action":null}`, "$default"},
		{"$request.body.action", `{"action":1}`, "1"},
		{"$request.body.action", `{"action":true}`, "true"},
		{"$request.body.action", `{"action":"$connect"}`, "$default"},
		{"$request.body.action", `{"action":"$disconnect"}`, "$default"},
		{"$request.body.action", `not json`, "$default"},
		{"$request.body.action", ``, "$default"},
		{"$request.body.action", `["message"]`, "$default"},
		{"$request.body.action", `"message"`, "$default"},
		{"${request.body.action}", `{"action":"message"}`, "message"},
		{"$request.body.meta.kind", `{"meta":{"kind":"message"}}`, "message"},
		{"$request.body.meta.kind", `{"meta":"message"}`, "$default"},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" "+tt.body, func(t *testing.T) {
			s, err := newRouteSelector(tt.expr, routes)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.selectRoute([]byte(tt.body)); got != tt.want {
				t.Errorf("selectRoute(%q) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
	t.Run("unsupported expressions", func(t *testing.T) {
		for _, expr := range []string{"", "action", "$request.header.action", "$request.body.", "$request.body.action.", "${request.body.action"} {
			if _, err := newRouteSelector(expr, routes); err == nil {
				t.Errorf("newRouteSelector(%q) succeeded, want an error", expr)
			}
			rec := newRecorder(nil)
			cfg := testConfig(rec)
			cfg.RouteSelectionExpression = expr
			if _, err := New(cfg); err == nil {
				t.Errorf("New with expression %q succeeded, want an error", expr)
			}
		}
	})
	t.Run("end to end", func(t *testing.T) {
		s := startStack(t, nil, nil)
		c := s.dial(t, nil)
		for _, tt := range []struct{ body, route string }{
			{`{"action":"message"}`, "message"},
			{`{"action":"nope"}`, "$default"},
			{`plain text`, "$default"},
		} {
			c.send(t, tt.body)
			s.rec.waitFor(t, tt.route+" for "+tt.body, func(r recorded) bool {
				return r.ev.RequestContext.ConnectionID == c.id && r.ev.Body == tt.body && r.ev.RequestContext.RouteKey == tt.route
			})
		}
	})
}

// frameIDs parses an error frame and checks its IDs: the connection's, and a fresh
// AWS-shaped request ID.
func frameIDs(t *testing.T, frame, connectionID string) (requestID string) {
	t.Helper()
	var f struct {
		Message      string `json:"message"`
		ConnectionID string `json:"connectionId"`
		RequestID    string `json:"requestId"`
	}
	if err := json.Unmarshal([]byte(frame), &f); err != nil {
		t.Fatalf("frame %q is not JSON: %v", frame, err)
	}
	if f.ConnectionID != connectionID {
		t.Errorf("frame connectionId = %q, want %q", f.ConnectionID, connectionID)
	}
	if !idShape.MatchString(f.RequestID) {
		t.Errorf("frame requestId = %q, want an AWS-shaped ID", f.RequestID)
	}
	return f.RequestID
}

// normalizeFrame replaces the IDs of an error frame, keeping every other byte.
func normalizeFrame(t *testing.T, frame, connectionID string) []byte {
	t.Helper()
	requestID := frameIDs(t, frame, connectionID)
	frame = strings.Replace(frame, connectionID, "<connectionId>", 1)
	frame = strings.Replace(frame, requestID, "<requestId>", 1)
	return []byte(frame + "\n")
}

// Behaviour 7: with no match and no $default, the client gets the byte-exact
// Forbidden frame and stays connected.
func TestForbiddenFrame(t *testing.T) {
	s := startStack(t, nil, func(cfg *Config) {
		cfg.Routes = []string{"$connect", "$disconnect", "echo"}
	})
	c := s.dial(t, nil)
	for _, body := range []string{`{"action":"nope"}`, `not json`, `{}`} {
		c.send(t, body)
		golden(t, "forbidden_frame.txt", normalizeFrame(t, c.next(t), c.id))
		c.assertOpen(t)
	}
	if n := s.rec.count(func(r recorded) bool {
		return r.ev.RequestContext.EventType == eventMessage && r.ev.RequestContext.RouteKey != "echo"
	}); n != 0 {
		t.Errorf("%d invocations for unrouted messages, want 0", n)
	}
}

// Behaviour 8: when the handler fails (error, panic, malformed response on a two-way
// route), the client gets the byte-exact Internal server error frame and stays
// connected.
func TestInternalServerErrorFrame(t *testing.T) {
	tests := []struct {
		name   string
		action string
	}{
		{"error", "fail"},
		{"panic", "panic"},
		{"error on a two-way route", "failecho"},
		{"malformed response on a two-way route", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(failing)
			s := startStack(t, rec, func(cfg *Config) {
				cfg.Handler = malformedHandler{rec}
				cfg.Routes = append(cfg.Routes, "fail", "panic", "failecho", "malformed")
				cfg.RouteResponses = map[string]bool{"echo": true, "failecho": true, "malformed": true}
			})
			c := s.dial(t, nil)
			c.send(t, `{"action":"`+tt.action+`"}`)
			golden(t, "internal_error_frame.txt", normalizeFrame(t, c.next(t), c.id))
			c.assertOpen(t)
		})
	}
}

// failing answers the routes of TestInternalServerErrorFrame.
func failing(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	switch ev.RequestContext.RouteKey {
	case "fail", "failecho":
		return events.APIGatewayProxyResponse{}, errors.New("boom")
	case "panic":
		panic("boom")
	}
	return echo(ctx, ev)
}

// malformedHandler returns a payload that is not an APIGatewayProxyResponse on the
// malformed route.
type malformedHandler struct{ *recorder }

func (h malformedHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := h.recorder.Invoke(ctx, payload)
	if strings.Contains(string(payload), `"routeKey":"malformed"`) {
		return []byte(`"not a proxy response"`), nil
	}
	return out, err
}

// Behaviour 9: a return body reaches the client only on a route with a route
// response; non-2xx statuses do not close the socket.
func TestRouteResponses(t *testing.T) {
	rec := newRecorder(func(_ context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		code := 200
		if strings.Contains(ev.Body, `"status":500`) {
			code = 500
		}
		return events.APIGatewayProxyResponse{StatusCode: code, Body: "reply to " + ev.Body}, nil
	})
	s := startStack(t, rec, nil)
	c := s.dial(t, nil)
	tests := []struct {
		name, body string
		forwarded  bool
	}{
		{"one-way route", `{"action":"message"}`, false},
		{"one-way route, 500", `{"action":"message","status":500}`, false},
		{"$default without route response", `{"action":"nope"}`, false},
		{"two-way route", `{"action":"echo"}`, true},
		{"two-way route, 500", `{"action":"echo","status":500}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.send(t, tt.body)
			if tt.forwarded {
				if got, want := c.next(t), "reply to "+tt.body; got != want {
					t.Errorf("frame = %q, want %q", got, want)
				}
				return
			}
			// Wait for the invocation to finish, then check nothing came back: the
			// next frame must be the answer to a later two-way message.
			s.rec.waitFor(t, tt.body, func(r recorded) bool { return r.ev.Body == tt.body })
			marker := `{"action":"echo","after":"` + tt.name + `"}`
			c.send(t, marker)
			if got, want := c.next(t), "reply to "+marker; got != want {
				t.Errorf("frame = %q, want %q: the one-way response was forwarded", got, want)
			}
		})
	}
}

// Behaviour 18: a client message over 128 KB closes the connection with 1009, a
// binary frame with 1003; a message of exactly 128 KB is delivered.
func TestMessageLimits(t *testing.T) {
	tests := []struct {
		name     string
		typ      websocket.MessageType
		size     int
		wantCode websocket.StatusCode // 0: delivered
	}{
		{"128 KB text delivered", websocket.MessageText, maxMessageBytes, 0},
		{"128 KB + 1 text", websocket.MessageText, maxMessageBytes + 1, websocket.StatusMessageTooBig},
		{"1 MB text", websocket.MessageText, 1 << 20, websocket.StatusMessageTooBig},
		{"binary", websocket.MessageBinary, 64, websocket.StatusUnsupportedData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, nil, nil)
			c := s.dial(t, nil)
			body := `{"action":"message","pad":"` + strings.Repeat("x", tt.size-len(`{"action":"message","pad":""}`)) + `"}`
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			_ = c.ws.Write(ctx, tt.typ, []byte(body)) // the server may close while we write
			if tt.wantCode == 0 {
				rec := s.rec.waitFor(t, "the 128 KB message", event(c.id, eventMessage, "message"))
				if len(rec.ev.Body) != tt.size {
					t.Errorf("body length = %d, want %d", len(rec.ev.Body), tt.size)
				}
				c.assertOpen(t)
				return
			}
			if got := c.closed(t); got.Code != tt.wantCode {
				t.Errorf("close code = %d, want %d", got.Code, tt.wantCode)
			}
			disc := s.rec.waitFor(t, "DISCONNECT", event(c.id, eventDisconnect, routeDisconnect))
			if got := disc.ev.RequestContext.DisconnectStatusCode; got != int64(tt.wantCode) {
				t.Errorf("disconnectStatusCode = %d, want %d", got, tt.wantCode)
			}
			if n := s.rec.count(event(c.id, eventMessage, "")); n != 0 {
				t.Errorf("%d MESSAGE invocations for a refused message, want 0", n)
			}
		})
	}
}

// Invocations run concurrently, one per frame, as Lambda scales out: a message whose
// handler waits for a later message's handler must not deadlock.
func TestConcurrentInvocations(t *testing.T) {
	second := make(chan struct{})
	rec := newRecorder(func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		switch {
		case strings.Contains(ev.Body, `"first"`):
			select {
			case <-second:
			case <-ctx.Done():
				return events.APIGatewayProxyResponse{}, ctx.Err()
			}
		case strings.Contains(ev.Body, `"second"`):
			close(second)
		}
		return events.APIGatewayProxyResponse{StatusCode: 200, Body: ev.Body}, nil
	})
	s := startStack(t, rec, func(cfg *Config) { cfg.FunctionTimeout = wait })
	c := s.dial(t, nil)
	c.send(t, `{"action":"echo","n":"first"}`)
	c.send(t, `{"action":"echo","n":"second"}`)
	got := map[string]bool{c.next(t): true, c.next(t): true}
	if !got[`{"action":"echo","n":"first"}`] || !got[`{"action":"echo","n":"second"}`] {
		t.Errorf("frames = %v, want both echoes", got)
	}
}

// Two timeouts, as in AWS: the function's own Timeout (the deadline of the handler's
// context; a function that outlives it has failed, and the client gets "Internal
// server error") and API Gateway's integration timeout ("Endpoint request timed
// out", however long the function may still run). The socket stays open either way.
func TestInvokeTimeout(t *testing.T) {
	tests := []struct {
		name                  string
		function, integration time.Duration
		wantFrame             string
		wantStatus            int
	}{
		{"function timeout", 50 * time.Millisecond, time.Hour, msgInternalError, 502},
		{"integration timeout", time.Hour, 50 * time.Millisecond, msgEndpointTimeout, 504},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			deadlines := make(chan time.Duration, 1)
			rec := newRecorder(func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				deadline, _ := ctx.Deadline()
				deadlines <- time.Until(deadline)
				<-release // ignores its deadline, like a stuck Lambda
				return echo(ctx, ev)
			})
			access := &logbuf.Buffer{}
			// Only the stuck route: no other invocation has to beat the short timeout.
			s := startStack(t, rec, func(cfg *Config) {
				cfg.Routes = []string{"message"}
				cfg.RouteResponses = nil
				cfg.FunctionTimeout = tt.function
				cfg.IntegrationTimeout = tt.integration
				cfg.AccessLog = access
			})
			t.Cleanup(func() { close(release) }) // runs before the stack's Shutdown
			c := s.dial(t, nil)
			c.send(t, `{"action":"message"}`)
			// The handler's deadline is the function's Timeout, not the gateway's:
			// in the second case it is still most of an hour away.
			if left := <-deadlines; left > tt.function || tt.function == time.Hour && left < 59*time.Minute {
				t.Errorf("handler's deadline %v away, want the function timeout %v", left, tt.function)
			}
			frame := c.next(t)
			var f struct{ ConnectionID string }
			_ = json.Unmarshal([]byte(frame), &f)
			frameIDs(t, frame, f.ConnectionID)
			if want := `{"message": "` + tt.wantFrame + `", "connectionId":"`; !strings.HasPrefix(frame, want) {
				t.Errorf("frame = %q, want the %s frame", frame, tt.wantFrame)
			}
			c.id = f.ConnectionID
			c.assertOpenByPost(t, s)
			if !strings.Contains(access.String(), `"status":"`+strconv.Itoa(tt.wantStatus)+`"`) {
				t.Errorf("access log %s, want status %d", access.String(), tt.wantStatus)
			}
		})
	}
}
