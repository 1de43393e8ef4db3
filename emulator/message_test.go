package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/slsrtc/slsrtc/test/testkit"
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

// Behaviour 18 and the 32 KB frame limit: a client frame over 32 KB closes the
// connection with 1009, and so does a message over 128 KB however it is framed; a
// message of up to 128 KB in frames of up to 32 KB is delivered whole. A binary
// frame closes with 1003. Frames are written by hand (rawClient).
func TestMessageLimits(t *testing.T) {
	const kb = 1024
	tests := []struct {
		name       string
		opcode     byte
		frames     []int // payload sizes of the message's frames
		wantCode   int   // 0: delivered
		wantReason string
	}{
		{"one 32 KB frame", opText, []int{32 * kb}, 0, ""},
		{"100 KB in four fragments", opText, []int{25 * kb, 25 * kb, 25 * kb, 25 * kb}, 0, ""},
		{"128 KB in 32 KB frames", opText, []int{32 * kb, 32 * kb, 32 * kb, 32 * kb}, 0, ""},
		{"with empty fragments", opText, []int{0, 10, 0, 32 * kb, 0}, 0, ""},
		{"one 33 KB frame", opText, []int{33 * kb}, 1009, frameTooBigReason},
		{"one frame of 32 KB + 1", opText, []int{32*kb + 1}, 1009, frameTooBigReason},
		{"a 33 KB continuation frame", opText, []int{1 * kb, 33 * kb}, 1009, frameTooBigReason},
		{"one 1 MB frame", opText, []int{1024 * kb}, 1009, frameTooBigReason},
		{"128 KB + 1 in 32 KB frames", opText, []int{32 * kb, 32 * kb, 32 * kb, 32 * kb, 1}, 1009, "read limited at 131073 bytes"},
		{"binary", opBinary, []int{64}, 1003, "Binary frames are not supported"},
		{"33 KB binary frame", opBinary, []int{33 * kb}, 1009, frameTooBigReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, nil, nil)
			c := s.rawDial(t)
			size := 0
			for _, n := range tt.frames {
				size += n
			}
			body := `{"action":"message","pad":"` + strings.Repeat("x", size-len(`{"action":"message","pad":""}`)) + `"}`
			_ = c.sendMessage(tt.opcode, []byte(body), tt.frames) // the server may close while we write
			if tt.wantCode == 0 {
				rec := s.rec.waitFor(t, "the message", event(c.id, eventMessage, "message"))
				if rec.ev.Body != body {
					t.Errorf("body of %d bytes delivered, want the %d sent", len(rec.ev.Body), size)
				}
				// Still open: the echo route answers.
				if err := c.sendMessage(opText, []byte(`{"action":"echo"}`), []int{17}); err != nil {
					t.Fatal(err)
				}
				if _, got := c.readMessage(t); got != `route:echo body:{"action":"echo"}` {
					t.Errorf("echo = %q", got)
				}
				return
			}
			if code, reason := c.closed(t); code != tt.wantCode || reason != tt.wantReason {
				t.Errorf("closed with %d %q, want %d %q", code, reason, tt.wantCode, tt.wantReason)
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

// The 1009 close for a frame over 32 KB goes through the WebSocket library's
// serialised writes: while @connections posts are being written to the client, it
// still reads whole frames, then the close frame.
func TestFrameTooBigWhileWriting(t *testing.T) {
	s := startStack(t, nil, nil)
	c := s.rawDial(t)
	data := strings.Repeat("y", 128*1024)
	var posts sync.WaitGroup
	for range 8 {
		posts.Go(func() {
			_, _ = s.mgmtClient().PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{
				ConnectionId: aws.String(c.id), Data: []byte(data),
			}) // 410 once closed
		})
	}
	_ = c.writeFrame(true, opText, []byte(strings.Repeat("x", 33*1024)))
	for {
		f, err := c.readFrame()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if f.opcode == 0x8 {
			if code := int(f.payload[0])<<8 | int(f.payload[1]); code != 1009 {
				t.Errorf("close code %d, want 1009", code)
			}
			_ = c.writeFrame(true, 0x8, f.payload)
			break
		}
		if f.opcode > opText || strings.Trim(string(f.payload), "y") != "" {
			t.Fatalf("frame with opcode %d and payload %.40q: the stream is corrupt", f.opcode, f.payload)
		}
	}
	posts.Wait()
}

// A message posted to @connections or sent back on a route response reaches the
// client in frames of at most 32 KB, as API Gateway sends them; a browser sees one
// message either way.
func TestOutgoingFrames(t *testing.T) {
	const kb = 1024
	tests := []struct {
		name      string
		size      int
		wantSizes []int
	}{
		{"small", 100, []int{100}},
		{"32 KB", 32 * kb, []int{32 * kb}},
		{"128 KB", 128 * kb, []int{32 * kb, 32 * kb, 32 * kb, 32 * kb, 0}},
		{"40 KB", 40 * kb, []int{32 * kb, 8 * kb, 0}},
	}
	s := startStack(t, nil, nil)
	c := s.rawDial(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := strings.Repeat("y", tt.size)
			_, err := s.mgmtClient().PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{
				ConnectionId: aws.String(c.id), Data: []byte(data),
			})
			if err != nil {
				t.Fatalf("PostToConnection: %v", err)
			}
			sizes, got := c.readMessage(t)
			if got != data || !slices.Equal(sizes, tt.wantSizes) {
				t.Errorf("got %d bytes in frames %v, want %d in %v", len(got), sizes, tt.size, tt.wantSizes)
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
			access := &testkit.LogBuffer{}
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
