package emulator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/slsrtc/slsrtc/emulator/chaos"
)

// waitGone waits until the stack no longer holds the connection: its close has been
// handled and its $disconnect, if any, decided.
func (s *stack) waitGone(t *testing.T, c *client) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for s.gw.lookup(c.id) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("connection %s still held after %v", c.id, wait)
		}
		time.Sleep(time.Millisecond)
	}
}

// Chaos drops $disconnect (the connection is gone all the same: 410) or delays it,
// a delay that Shutdown cuts short; ChaosStats names the dropped connections.
func TestChaosDisconnect(t *testing.T) {
	tests := []struct {
		name        string
		profile     chaos.Profile
		wantDropped bool
		wantDelayed bool
		beforeStop  bool // $disconnect runs before Shutdown
	}{
		{"dropped", chaos.Profile{Seed: 1, DisconnectLoss: 1}, true, false, false},
		{"late", chaos.Profile{Seed: 1, DisconnectDelay: chaos.Range{Min: time.Hour, Max: time.Hour}}, false, true, false},
		{"a little late", chaos.Profile{Seed: 1, DisconnectDelay: chaos.Range{Min: time.Millisecond, Max: 20 * time.Millisecond}}, false, true, true},
		{"no chaos", chaos.Profile{Seed: 1}, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, nil, func(cfg *Config) { cfg.Chaos = tt.profile })
			c := s.dial(t, nil)
			_ = c.ws.CloseNow()
			s.waitGone(t, c)
			_, err := s.mgmtClient().GetConnection(ctx(t), &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(c.id)})
			if gone := (*types.GoneException)(nil); !errors.As(err, &gone) {
				t.Errorf("GetConnection of a closed connection: %v, want GoneException", err)
			}
			disconnects := event(c.id, eventDisconnect, routeDisconnect)
			if tt.beforeStop {
				s.rec.waitFor(t, "$disconnect", disconnects)
			} else if n := s.rec.count(disconnects); n != 0 {
				t.Errorf("$disconnect ran %d times before Shutdown, want 0", n)
			}
			if err := s.gw.Shutdown(ctx(t)); err != nil { // waits for every $disconnect and its fate
				t.Fatal(err)
			}
			stats := s.gw.ChaosStats()
			want := 1
			if tt.wantDropped {
				want = 0
			}
			if n := s.rec.count(disconnects); n != want {
				t.Errorf("$disconnect ran %d times, want %d", n, want)
			}
			if got := slices.Contains(stats.DroppedDisconnects, c.id); got != tt.wantDropped || len(stats.DroppedDisconnects) > 1 {
				t.Errorf("DroppedDisconnects %v, want %s: %v", stats.DroppedDisconnects, c.id, tt.wantDropped)
			}
			if got := stats.DelayedDisconnects == 1; got != tt.wantDelayed {
				t.Errorf("DelayedDisconnects %d, want delayed %v", stats.DelayedDisconnects, tt.wantDelayed)
			}
		})
	}
}

// The same seed drops the same $disconnects of connections that close in the same
// order; another seed others.
func TestChaosDisconnectSeeded(t *testing.T) {
	dropped := func(seed int64) []int {
		s := startStack(t, nil, func(cfg *Config) { cfg.Chaos = chaos.Profile{Seed: seed, DisconnectLoss: 0.5} })
		var ids []string
		for range 16 {
			c := s.dial(t, nil)
			_ = c.ws.CloseNow()
			// One at a time, so that the order of the decisions is fixed: wait
			// until this one's $disconnect has run or been dropped.
			deadline := time.Now().Add(wait)
			for s.rec.count(event(c.id, eventDisconnect, routeDisconnect)) == 0 && !slices.Contains(s.gw.ChaosStats().DroppedDisconnects, c.id) {
				if time.Now().After(deadline) {
					t.Fatalf("no $disconnect and no drop for %s after %v", c.id, wait)
				}
				time.Sleep(time.Millisecond)
			}
			ids = append(ids, c.id)
		}
		var out []int
		for _, id := range s.gw.ChaosStats().DroppedDisconnects {
			out = append(out, slices.Index(ids, id))
		}
		return out
	}
	a, b, other := dropped(7), dropped(7), dropped(8)
	if !slices.Equal(a, b) {
		t.Errorf("seed 7 dropped the $disconnects of connections %v, then %v", a, b)
	}
	if slices.Equal(a, other) {
		t.Errorf("seeds 7 and 8 both dropped %v", a)
	}
	if len(a) == 0 || len(a) == 16 {
		t.Errorf("a loss of 0.5 dropped %d of 16", len(a))
	}
}

// @connections chaos answers 429 LimitExceededException, which the SDK maps to
// *types.LimitExceededException and its retryer retries: with retries every post
// arrives, once. Latency holds a call back.
func TestChaosConnections(t *testing.T) {
	t.Run("always throttled", func(t *testing.T) {
		s := startStack(t, nil, func(cfg *Config) { cfg.Chaos = chaos.Profile{Seed: 1, ConnectionsThrottle: 1} })
		c := s.dial(t, nil)
		api := s.mgmtClient()
		_, postErr := api.PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(c.id), Data: []byte("x")})
		_, getErr := api.GetConnection(ctx(t), &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(c.id)})
		_, deleteErr := api.DeleteConnection(ctx(t), &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(c.id)})
		for name, err := range map[string]error{"Post": postErr, "Get": getErr, "Delete": deleteErr} {
			if limit := (*types.LimitExceededException)(nil); !errors.As(err, &limit) {
				t.Errorf("%sConnection: %v, want *types.LimitExceededException", name, err)
			}
		}
		c.assertOpen(t) // the DELETE did nothing, the POST delivered nothing
		if got := s.gw.ChaosStats().ThrottledConnectionsCalls; got != 3 {
			t.Errorf("ThrottledConnectionsCalls = %d, want 3", got)
		}
	})
	t.Run("retried by the SDK", func(t *testing.T) {
		s := startStack(t, nil, func(cfg *Config) { cfg.Chaos = chaos.Profile{Seed: 1, ConnectionsThrottle: 0.5} })
		c := s.dial(t, nil)
		api := apigatewaymanagementapi.New(s.mgmtClient().Options(), func(o *apigatewaymanagementapi.Options) {
			o.RetryMaxAttempts = 0
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = 20
				so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				so.RateLimiter = ratelimit.None
			})
		})
		const n = 20
		for i := range n {
			if _, err := api.PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{
				ConnectionId: aws.String(c.id), Data: []byte{'a' + byte(i)},
			}); err != nil {
				t.Fatalf("post %d: %v", i, err)
			}
		}
		for i := range n {
			if got, want := c.next(t), string([]byte{'a' + byte(i)}); got != want {
				t.Fatalf("frame %d = %q, want %q (each post once, in order)", i, got, want)
			}
		}
		if got := s.gw.ChaosStats().ThrottledConnectionsCalls; got == 0 {
			t.Error("no call throttled at 0.5")
		}
	})
	t.Run("latency", func(t *testing.T) {
		s := startStack(t, nil, func(cfg *Config) {
			cfg.Chaos = chaos.Profile{Seed: 1, ConnectionsLatency: chaos.Range{Min: time.Hour, Max: time.Hour}}
		})
		c := s.dial(t, nil)
		short, cancel := context.WithTimeout(ctx(t), 100*time.Millisecond)
		defer cancel()
		_, err := s.mgmtClient().GetConnection(short, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(c.id)})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("GetConnection held back by an hour: %v, want the caller's deadline", err)
		}
	})
}

// New refuses a profile that makes no sense.
func TestChaosInvalid(t *testing.T) {
	cfg := testConfig(newRecorder(nil))
	cfg.Chaos = chaos.Profile{DisconnectLoss: 2}
	if _, err := New(cfg); err == nil {
		t.Error("New accepted a DisconnectLoss of 2")
	}
}

// WaitQuiet waits for running invocations and pending $disconnects, late ones
// included: after it, every $disconnect has run or been dropped.
func TestWaitQuiet(t *testing.T) {
	tests := []struct {
		name  string
		delay chaos.Range
		quiet bool // within a short wait
	}{
		{"$disconnect an hour late", chaos.Range{Min: time.Hour, Max: time.Hour}, false},
		{"$disconnect a little late", chaos.Range{Min: time.Millisecond, Max: 20 * time.Millisecond}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, nil, func(cfg *Config) { cfg.Chaos = chaos.Profile{Seed: 1, DisconnectDelay: tt.delay} })
			c := s.dial(t, nil)
			_ = c.ws.CloseNow()
			s.waitGone(t, c)
			timeout := wait
			if !tt.quiet {
				timeout = 100 * time.Millisecond // the hour will not pass
			}
			short, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err := s.gw.WaitQuiet(short)
			if tt.quiet != (err == nil) {
				t.Fatalf("WaitQuiet = %v, want quiet %v", err, tt.quiet)
			}
			if n := s.rec.count(event(c.id, eventDisconnect, routeDisconnect)); tt.quiet && n != 1 {
				t.Errorf("quiet, but $disconnect ran %d times, want 1", n)
			}
		})
	}
	t.Run("a running invocation", func(t *testing.T) {
		release := make(chan struct{})
		rec := newRecorder(func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
			if ev.RequestContext.RouteKey == "message" {
				<-release
			}
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		})
		s := startStack(t, rec, nil)
		c := s.dial(t, nil)
		c.send(t, `{"action":"message"}`)
		s.rec.waitFor(t, "the message", event(c.id, eventMessage, "message"))
		short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := s.gw.WaitQuiet(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitQuiet while a handler runs = %v, want the deadline", err)
		}
		close(release)
		if err := s.gw.WaitQuiet(ctx(t)); err != nil {
			t.Errorf("WaitQuiet once it returned: %v", err)
		}
	})
}

// The AWS profile's latencies: an invocation waits a draw of Invoke before
// its handler runs (a fixed one here, P99 = P50), none without it; a nil
// gatewayChaos (no chaos) never waits.
func TestChaosInvokeDelay(t *testing.T) {
	fixed := chaos.Latency{P50: 12 * time.Millisecond, P99: 12 * time.Millisecond}
	if d := newGatewayChaos(chaos.Profile{Latencies: chaos.Latencies{Invoke: fixed}}).invokeDelay(); d != 12*time.Millisecond {
		t.Errorf("invokeDelay = %v, want 12ms", d)
	}
	if d := newGatewayChaos(chaos.Profile{Latencies: chaos.Latencies{Connections: fixed}}).invokeDelay(); d != 0 {
		t.Errorf("invokeDelay without Latencies.Invoke = %v", d)
	}
	if d := newGatewayChaos(chaos.Profile{}).invokeDelay(); d != 0 {
		t.Errorf("invokeDelay without chaos = %v", d)
	}
	if newGatewayChaos(chaos.AWS(1)) == nil {
		t.Error("the AWS profile makes no gateway chaos: its @connections and invoke latencies would be lost")
	}
}

// The AWS profile's latencies in a running gateway: each invocation waits its
// Invoke draw before the handler runs, each @connections call its
// Connections draw before it is answered (fixed draws here, P99 = P50, and a
// sleep that only records, so nothing is timed).
func TestChaosLatencies(t *testing.T) {
	fixed := func(d time.Duration) chaos.Latency { return chaos.Latency{P50: d, P99: d} }
	var (
		mu  sync.Mutex
		log []string
	)
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		log = append(log, s)
	}
	handled := make(chan struct{}, 4)
	rec := newRecorder(func(_ context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		note("handler " + ev.RequestContext.RouteKey)
		handled <- struct{}{}
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	})
	cfg := testConfig(rec)
	cfg.Chaos = chaos.Profile{Seed: 1, Latencies: chaos.Latencies{Invoke: fixed(12 * time.Millisecond), Connections: fixed(20 * time.Millisecond)}}
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gw.chaos.sleep = func(_ context.Context, d time.Duration) error {
		note(fmt.Sprint("sleep ", d))
		return nil
	}
	s := serveStack(t, gw, rec)
	c := s.dial(t, nil)
	<-handled // $connect
	c.send(t, `{"action":"message"}`)
	select {
	case <-handled:
	case <-time.After(wait):
		t.Fatal("the message was not handled")
	}
	if _, err := s.mgmtClient().PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(c.id), Data: []byte("x"),
	}); err != nil {
		t.Fatal(err)
	}
	if got := c.next(t); got != "x" {
		t.Errorf("frame %q, want x", got)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"sleep 12ms", "handler $connect", "sleep 12ms", "handler message", "sleep 20ms"}
	if !slices.Equal(log, want) {
		t.Errorf("log %q, want %q", log, want)
	}
}
