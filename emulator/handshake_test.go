package emulator

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
)

// Behaviour 1: only ws://ADDR/STAGE upgrades; any other path is refused at the
// handshake, and a plain GET of the stage is told to upgrade.
func TestHandshakePaths(t *testing.T) {
	s := startStack(t, nil, nil)
	tests := []struct {
		path       string
		wantStatus int // 0: upgrades
	}{
		{"/" + testStage, 0},
		{"/" + testStage + "?room=1", 0},
		{"/", http.StatusNotFound},
		{"/other", http.StatusNotFound},
		{"/" + testStage + "/", http.StatusNotFound},
		{"/" + testStage + "/sub", http.StatusNotFound},
		{"/" + testStage + "x", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c, resp, err := s.tryDial(t, s.wsURL(tt.path), nil)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("dial %s: %v", tt.path, err)
				}
				c.assertOpen(t)
				return
			}
			if err == nil {
				t.Fatalf("dial %s upgraded, want refused", tt.path)
			}
			if resp == nil || resp.StatusCode != tt.wantStatus {
				t.Fatalf("dial %s: %v (response %v), want status %d", tt.path, err, resp, tt.wantStatus)
			}
		})
	}
	t.Run("plain GET", func(t *testing.T) {
		resp, err := http.Get(s.srv.URL + "/" + testStage)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired {
			t.Errorf("GET /%s without upgrade = %d, want 426", testStage, resp.StatusCode)
		}
	})
	if n := s.rec.count(func(r recorded) bool { return r.ev.RequestContext.EventType == eventConnect }); n != 2 {
		t.Errorf("$connect ran %d times, want 2 (only for the stage path)", n)
	}
}

// Behaviour 3: a non-2xx $connect status rejects the handshake with that status; a
// failing handler (error, panic, no proxy response) gives 502. No $connect route:
// the connection is allowed.
func TestConnectRejected(t *testing.T) {
	tests := []struct {
		name       string
		respond    respondFunc
		noConnect  bool
		wantStatus int // 0: accepted
	}{
		{name: "200 accepts", respond: status(200), wantStatus: 0},
		{name: "204 accepts", respond: status(204), wantStatus: 0},
		{name: "401", respond: status(401), wantStatus: 401},
		{name: "403", respond: status(403), wantStatus: 403},
		{name: "429", respond: status(429), wantStatus: 429},
		{name: "500", respond: status(500), wantStatus: 500},
		{name: "error", respond: func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{}, errors.New("boom")
		}, wantStatus: 502},
		{name: "panic", respond: func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			panic("boom")
		}, wantStatus: 502},
		{name: "no statusCode", respond: status(0), wantStatus: 502},
		{name: "1xx", respond: status(101), wantStatus: 502},
		{name: "out of range", respond: status(1000), wantStatus: 502},
		{name: "negative", respond: status(-1), wantStatus: 502},
		{name: "no $connect route", respond: status(401), noConnect: true, wantStatus: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				if ev.RequestContext.EventType == eventConnect {
					return tt.respond(ctx, ev)
				}
				return echo(ctx, ev)
			})
			s := startStack(t, rec, func(cfg *Config) {
				if tt.noConnect {
					cfg.Routes = []string{"$disconnect", "echo"}
				}
			})
			c, resp, err := s.tryDial(t, s.wsURL("/"+testStage), nil)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("dial: %v, want accepted", err)
				}
				c.assertOpen(t)
				return
			}
			if err == nil {
				t.Fatal("dial accepted, want rejected")
			}
			if resp == nil || resp.StatusCode != tt.wantStatus {
				t.Fatalf("dial: %v (response %v), want status %d", err, resp, tt.wantStatus)
			}
			if n := s.gw.OpenConnections(); n != 0 {
				t.Errorf("Connections() = %d after a refused handshake, want 0", n)
			}
			// A refused connection never existed: no $disconnect.
			if err := s.gw.Shutdown(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if n := rec.count(func(r recorded) bool { return r.ev.RequestContext.EventType == eventDisconnect }); n != 0 {
				t.Errorf("$disconnect ran %d times for a refused connection", n)
			}
		})
	}
}

// Behaviour 4: a requested subprotocol is echoed only when the $connect response sets
// Sec-WebSocket-Protocol.
func TestSubprotocol(t *testing.T) {
	tests := []struct {
		name      string
		headers   map[string]string
		multi     map[string][]string
		requested []string
		want      string
	}{
		{name: "echoed from headers", headers: map[string]string{"Sec-WebSocket-Protocol": "chat"}, requested: []string{"chat", "json"}, want: "chat"},
		{name: "echoed from lowercase header", headers: map[string]string{"sec-websocket-protocol": "json"}, requested: []string{"chat", "json"}, want: "json"},
		{name: "echoed from multiValueHeaders", multi: map[string][]string{"Sec-WebSocket-Protocol": {"chat"}}, requested: []string{"chat"}, want: "chat"},
		{name: "not echoed without header", requested: []string{"chat"}, want: ""},
		{name: "none requested", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				if ev.RequestContext.EventType == eventConnect {
					return events.APIGatewayProxyResponse{StatusCode: 200, Headers: tt.headers, MultiValueHeaders: tt.multi}, nil
				}
				return echo(ctx, ev)
			})
			s := startStack(t, rec, nil)
			c, resp, err := s.tryDial(t, s.wsURL("/"+testStage), &websocket.DialOptions{Subprotocols: tt.requested})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ws.Subprotocol(); got != tt.want {
				t.Errorf("Subprotocol() = %q, want %q", got, tt.want)
			}
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tt.want {
				t.Errorf("response Sec-WebSocket-Protocol = %q, want %q", got, tt.want)
			}
			if tt.requested != nil {
				connect := s.rec.waitFor(t, "CONNECT", event(c.id, eventConnect, routeConnect))
				if got := connect.ev.Headers["Sec-WebSocket-Protocol"]; got == "" {
					t.Errorf("$connect event lacks Sec-WebSocket-Protocol: %v", connect.ev.Headers)
				}
			}
			c.assertOpen(t)
		})
	}
}

// status answers every invocation with that status code.
func status(code int) respondFunc {
	return func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: code}, nil
	}
}

// echo is the recorder's default answer.
func echo(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return newRecorder(nil).respond(ctx, ev)
}
