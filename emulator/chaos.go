package emulator

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/slsrtc/slsrtc/emulator/chaos"
	"github.com/slsrtc/slsrtc/internal/retry"
)

// gatewayChaos applies the $disconnect and @connections parts of a chaos.Profile.
// A nil *gatewayChaos makes none.
type gatewayChaos struct {
	profile     chaos.Profile
	disconnects *chaos.Rand // one stream per kind of event, so that each is
	connections *chaos.Rand // reproducible whatever the other does
	invokes     *chaos.Rand
	shutdown    chan struct{}
	sleep       func(ctx context.Context, d time.Duration) error // sleep; tests may replace it
	once        sync.Once

	mu    sync.Mutex
	stats chaos.Stats
}

// newGatewayChaos returns the chaos of p, or nil when p makes none in the gateway.
func newGatewayChaos(p chaos.Profile) *gatewayChaos {
	if !p.Gateway() {
		return nil
	}
	return &gatewayChaos{
		profile:     p,
		disconnects: chaos.NewRand(p.Seed, "disconnect"),
		connections: chaos.NewRand(p.Seed, "connections"),
		invokes:     chaos.NewRand(p.Seed, "invokes"),
		shutdown:    make(chan struct{}),
		sleep:       retry.Sleep,
	}
}

// disconnect decides the fate of one connection's $disconnect: false if it is
// dropped, else true once its delay has passed (cut short by Shutdown).
func (gc *gatewayChaos) disconnect(g *Gateway, c *conn) bool {
	if gc == nil {
		return true
	}
	drop := gc.disconnects.Chance(gc.profile.DisconnectLoss)
	delay := gc.disconnects.Duration(gc.profile.DisconnectDelay)
	gc.mu.Lock()
	switch {
	case drop:
		gc.stats.DroppedDisconnects = append(gc.stats.DroppedDisconnects, c.id)
	case delay > 0:
		gc.stats.DelayedDisconnects++
	}
	gc.mu.Unlock()
	if drop {
		g.log.Info("chaos: $disconnect dropped", "connectionId", c.id)
		return false
	}
	if delay > 0 {
		g.log.Debug("chaos: $disconnect delayed", "connectionId", c.id, "delay", delay)
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-gc.shutdown:
		}
	}
	return true
}

// connectionsCall delays an @connections call and may answer it 429
// LimitExceededException; it reports whether it answered.
func (gc *gatewayChaos) connectionsCall(g *Gateway, w http.ResponseWriter, r *http.Request, id string) bool {
	if gc == nil {
		return false
	}
	delay := gc.connections.Duration(gc.profile.ConnectionsLatency)
	throttle := gc.connections.Chance(gc.profile.ConnectionsThrottle)
	if l := gc.profile.Latencies.Connections; !l.IsZero() { // no draw otherwise: a seed's faults stay the same
		delay += gc.connections.Latency(l)
	}
	if delay > 0 {
		if err := gc.sleep(r.Context(), delay); err != nil {
			return true // the caller gave up
		}
	}
	if !throttle {
		return false
	}
	gc.mu.Lock()
	gc.stats.ThrottledConnectionsCalls++
	gc.mu.Unlock()
	g.log.Info("chaos: @connections call throttled", "method", r.Method, "connectionId", id)
	writeAWSError(w, codeLimitExceeded, "Rate exceeded")
	return true
}

// invokeDelay returns how long an invocation waits before the handler runs:
// a draw from the profile's Latencies.Invoke (0 without one).
func (gc *gatewayChaos) invokeDelay() time.Duration {
	if gc == nil || gc.profile.Latencies.Invoke.IsZero() {
		return 0
	}
	return gc.invokes.Latency(gc.profile.Latencies.Invoke)
}

// beforeInvoke waits, before an invocation's handler runs, for a draw of the
// profile's Latencies.Invoke: API Gateway selecting the route and Lambda
// reaching a warm function. ctx ending cuts it short. Here the wait counts
// against FunctionTimeout, where on AWS it counts only against API Gateway's
// 29-second integration timeout: tens of milliseconds against seconds.
func (gc *gatewayChaos) beforeInvoke(ctx context.Context) {
	if d := gc.invokeDelay(); d > 0 {
		_ = gc.sleep(ctx, d)
	}
}

// stop cuts the $disconnect delays short: the gateway is shutting down.
func (gc *gatewayChaos) stop() {
	if gc != nil {
		gc.once.Do(func() { close(gc.shutdown) })
	}
}

// snapshot returns the stats so far.
func (gc *gatewayChaos) snapshot() chaos.Stats {
	if gc == nil {
		return chaos.Stats{}
	}
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return chaos.Stats{}.Add(gc.stats) // a copy
}
