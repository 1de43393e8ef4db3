package emulator

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/coder/websocket"
)

// Behaviour 11: $disconnect runs exactly once on every kind of close, with
// disconnectStatusCode and disconnectReason.
func TestDisconnect(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*Config)
		close      func(t *testing.T, s *stack, c *client)
		wantCode   int64
		wantReason string
		clientSees websocket.StatusCode // close code the client gets when the gateway closes; 0: client closed
	}{
		{
			name:     "client close 1000 with reason",
			close:    func(t *testing.T, _ *stack, c *client) { _ = c.ws.Close(websocket.StatusNormalClosure, "bye") },
			wantCode: 1000, wantReason: "bye",
		},
		{
			name:     "client close 1001 without reason, like a closing tab",
			close:    func(t *testing.T, _ *stack, c *client) { _ = c.ws.Close(websocket.StatusGoingAway, "") },
			wantCode: 1001, wantReason: "",
		},
		{
			name:     "client close with an application code",
			close:    func(t *testing.T, _ *stack, c *client) { _ = c.ws.Close(4001, "custom") },
			wantCode: 4001, wantReason: "custom",
		},
		{
			name:     "client close frame without code",
			close:    func(t *testing.T, _ *stack, c *client) { _ = c.ws.Close(websocket.StatusNoStatusRcvd, "") },
			wantCode: 1005, wantReason: "",
		},
		{
			name:     "client vanishes without close frame",
			close:    func(t *testing.T, _ *stack, c *client) { _ = c.ws.CloseNow() },
			wantCode: 1006, wantReason: "",
		},
		{
			name: "DELETE @connections",
			close: func(t *testing.T, s *stack, c *client) {
				if _, err := s.mgmtClient().DeleteConnection(ctx(t), &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(c.id)}); err != nil {
					t.Fatalf("DeleteConnection: %v", err)
				}
			},
			wantCode: 1000, wantReason: "Connection Closed Normally", clientSees: websocket.StatusNormalClosure,
		},
		{
			name:     "idle timeout",
			edit:     func(cfg *Config) { cfg.IdleTimeout = 50 * time.Millisecond },
			close:    func(*testing.T, *stack, *client) {},
			wantCode: 1001, wantReason: "Going away", clientSees: websocket.StatusGoingAway,
		},
		{
			name:     "max duration",
			edit:     func(cfg *Config) { cfg.MaxDuration = 50 * time.Millisecond },
			close:    func(*testing.T, *stack, *client) {},
			wantCode: 1001, wantReason: "Going away", clientSees: websocket.StatusGoingAway,
		},
		{
			name: "shutdown",
			close: func(t *testing.T, s *stack, _ *client) {
				go s.gw.Shutdown(context.Background())
			},
			wantCode: 1001, wantReason: "Going away", clientSees: websocket.StatusGoingAway,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, nil, tt.edit)
			c := s.dial(t, nil)
			tt.close(t, s, c)
			disc := s.rec.waitFor(t, "DISCONNECT", event(c.id, eventDisconnect, routeDisconnect))
			rc := disc.ev.RequestContext
			if rc.DisconnectStatusCode != tt.wantCode || rc.DisconnectReason == nil || *rc.DisconnectReason != tt.wantReason {
				t.Errorf("disconnect code %d reason %v, want %d %q", rc.DisconnectStatusCode, rc.DisconnectReason, tt.wantCode, tt.wantReason)
			}
			if tt.clientSees != 0 {
				if got := c.closed(t); got.Code != tt.clientSees {
					t.Errorf("client got close code %d, want %d", got.Code, tt.clientSees)
				}
			}
			// Once the gateway has drained, exactly one $disconnect ran.
			if err := s.gw.Shutdown(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if n := s.rec.count(event(c.id, eventDisconnect, "")); n != 1 {
				t.Errorf("$disconnect ran %d times, want 1", n)
			}
			if n := s.gw.OpenConnections(); n != 0 {
				t.Errorf("Connections() = %d after close, want 0", n)
			}
		})
	}
}

// fakeClock hands out timers that fire only when the test says so.
type fakeClock struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	mu     sync.Mutex
	d      time.Duration
	f      func()
	resets int
}

func (c *fakeClock) afterFunc(d time.Duration, f func()) timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	ft := &fakeTimer{d: d, f: f}
	c.timers = append(c.timers, ft)
	return ft
}

func (ft *fakeTimer) Reset(time.Duration) bool {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.resets++
	return true
}

func (ft *fakeTimer) Stop() bool { return true }

func (ft *fakeTimer) resetCount() int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.resets
}

// timer returns the timer created with duration d.
func (c *fakeClock) timer(t *testing.T, d time.Duration) *fakeTimer {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ft := range c.timers {
		if ft.d == d {
			return ft
		}
	}
	t.Fatalf("no timer of %v", d)
	return nil
}

// Behaviour 19: the idle timeout is reset by client data frames only, and the idle
// and max-duration timers close the connection with 1001.
func TestTimeouts(t *testing.T) {
	const idle, maxDuration = time.Minute, 2 * time.Minute
	for _, which := range []string{"idle", "max duration"} {
		t.Run(which, func(t *testing.T) {
			rec := newRecorder(nil)
			cfg := testConfig(rec)
			cfg.IdleTimeout, cfg.MaxDuration = idle, maxDuration
			gw, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			clock := &fakeClock{}
			gw.afterFunc = clock.afterFunc
			s := serveStack(t, gw, rec)
			c := s.dial(t, nil)
			c.assertOpen(t) // a client data frame: resets idle
			idleTimer, maxTimer := clock.timer(t, idle), clock.timer(t, maxDuration)
			if got := idleTimer.resetCount(); got != 1 {
				t.Errorf("idle timer reset %d times after one client message, want 1", got)
			}
			c.assertOpenByPost(t, s) // a frame to the client: resets nothing
			if got := idleTimer.resetCount(); got != 1 {
				t.Errorf("idle timer reset %d times after a post to the client, want still 1", got)
			}
			if got := maxTimer.resetCount(); got != 0 {
				t.Errorf("max-duration timer reset %d times, want 0", got)
			}
			fire := idleTimer
			if which == "max duration" {
				fire = maxTimer
			}
			fire.f()
			if got := c.closed(t); got.Code != websocket.StatusGoingAway {
				t.Errorf("client got close code %d, want 1001", got.Code)
			}
			disc := s.rec.waitFor(t, "DISCONNECT", event(c.id, eventDisconnect, routeDisconnect))
			if got := disc.ev.RequestContext.DisconnectStatusCode; got != 1001 {
				t.Errorf("disconnectStatusCode = %d, want 1001", got)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		gw, err := New(testConfig(newRecorder(nil)))
		if err != nil {
			t.Fatal(err)
		}
		if gw.cfg.IdleTimeout != 10*time.Minute || gw.cfg.MaxDuration != 2*time.Hour || gw.cfg.FunctionTimeout != 3*time.Second || gw.cfg.IntegrationTimeout != 29*time.Second {
			t.Errorf("defaults idle %v max %v function %v integration %v, want 10m 2h 3s 29s", gw.cfg.IdleTimeout, gw.cfg.MaxDuration, gw.cfg.FunctionTimeout, gw.cfg.IntegrationTimeout)
		}
	})
}

// Shutdown closes every client with 1001 "Going away", runs $disconnect for each,
// refuses new connections and waits for invocations in flight.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	rec := newRecorder(func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if ev.RequestContext.RouteKey == "message" {
			started <- struct{}{}
			<-release
		}
		return echo(ctx, ev)
	})
	s := startStack(t, rec, nil)
	a, b := s.dial(t, nil), s.dial(t, nil)
	a.send(t, `{"action":"message"}`)
	<-started

	done := make(chan error, 1)
	go func() { done <- s.gw.Shutdown(ctx(t)) }()
	for _, c := range []*client{a, b} {
		if got := c.closed(t); got.Code != websocket.StatusGoingAway || got.Reason != "Going away" {
			t.Errorf("client got close %d %q, want 1001 \"Going away\"", got.Code, got.Reason)
		}
		disc := s.rec.waitFor(t, "DISCONNECT", event(c.id, eventDisconnect, routeDisconnect))
		if got := disc.ev.RequestContext.DisconnectStatusCode; got != 1001 {
			t.Errorf("disconnectStatusCode = %d, want 1001", got)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while an invocation was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, resp, err := s.tryDial(t, s.wsURL("/"+testStage), nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial during shutdown: %v (response %v), want 503", err, resp)
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Shutdown did not return after the invocation finished")
	}

	t.Run("bounded by ctx", func(t *testing.T) {
		stuck := make(chan struct{})
		rec := newRecorder(func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			if ev.RequestContext.RouteKey == "message" {
				started <- struct{}{}
				<-stuck
			}
			return echo(ctx, ev)
		})
		s := startStack(t, rec, nil)
		t.Cleanup(func() { close(stuck) })
		c := s.dial(t, nil)
		c.send(t, `{"action":"message"}`)
		<-started
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := s.gw.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
		}
	})
}
