package localstack_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/slsrtc/slsrtc/emulator/chaos"
	"github.com/slsrtc/slsrtc/internal/localstack"
)

// eventLog records the route keys the function was invoked with, by
// connection ID.
type eventLog struct {
	mu     sync.Mutex
	routes map[string][]string
}

func (l *eventLog) wrap(h lambda.Handler) lambda.Handler {
	return handlerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
		var ev struct {
			RequestContext struct{ RouteKey, ConnectionID string } `json:"requestContext"`
		}
		if json.Unmarshal(payload, &ev) == nil && ev.RequestContext.ConnectionID != "" {
			l.mu.Lock()
			l.routes[ev.RequestContext.ConnectionID] = append(l.routes[ev.RequestContext.ConnectionID], ev.RequestContext.RouteKey)
			l.mu.Unlock()
		}
		return h.Invoke(ctx, payload)
	})
}

func (l *eventLog) of(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.routes[id])
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Options.Chaos reaches the whole stack: a dropped $disconnect never invokes
// the function, and the DynamoDB faults reach the function's real SDK client
// (DynamoDBURL itself stays free of faults); Options.DynamoDBProxy lets a test
// inject its own.
func TestChaos(t *testing.T) {
	t.Run("dropped $disconnect", func(t *testing.T) {
		events := &eventLog{routes: map[string][]string{}}
		s := newStack(t, func(o *localstack.Options) {
			o.Chaos = chaos.Profile{Seed: 1, DisconnectLoss: 1}
			o.WrapHandler = events.wrap
		})
		a, _ := dialPeer(t, s, "A")
		a.ws.CloseNow()
		waitFor(t, "A's $disconnect dropped", func() bool { return slices.Contains(s.ChaosStats().DroppedDisconnects, a.id) })
		if err := s.Shutdown(context.Background()); err != nil { // waits for anything in flight
			t.Fatal(err)
		}
		if got := events.of(a.id); slices.Contains(got, "$disconnect") {
			t.Errorf("A's routes %v: its $disconnect ran", got)
		}
	})
	t.Run("DynamoDB throttled", func(t *testing.T) {
		s := newStack(t, func(o *localstack.Options) { o.Chaos = chaos.Profile{Seed: 1, DynamoDBThrottle: 1} })
		if _, _, err := tryDialPeer(t, s, "A"); err == nil {
			t.Fatal("connected although every DynamoDB call is throttled")
		}
		if got := s.ChaosStats().DynamoDBThrottles; got == 0 {
			t.Error("no DynamoDB call throttled")
		}
		if logs := s.logs.String(); !strings.Contains(logs, "ThrottlingException") && !strings.Contains(logs, "ProvisionedThroughputExceededException") {
			t.Errorf("the function's logs do not name the throttling:\n%s", logs)
		}
		if s.DynamoDBProxyURL == "" || s.DynamoDBProxyURL == s.DynamoDBURL {
			t.Errorf("DynamoDBProxyURL %q beside DynamoDBURL %q", s.DynamoDBProxyURL, s.DynamoDBURL)
		}
		_ = s.items(t) // the table's own endpoint has no faults
	})
	t.Run("injected faults", func(t *testing.T) {
		s := newStack(t, func(o *localstack.Options) { o.DynamoDBProxy = true })
		s.DynamoDBProxy.Inject(chaos.Fault{Times: 1000, Failure: chaos.InternalServerError})
		if _, _, err := tryDialPeer(t, s, "A"); err == nil {
			t.Fatal("connected although every DynamoDB call fails")
		}
		if s.DynamoDBProxy.Injected() == 0 {
			t.Error("no fault injected")
		}
		s.DynamoDBProxy.Clear()
		dialPeer(t, s, "B")
		if len(s.DynamoDBProxy.Calls()) == 0 {
			t.Error("the proxy saw no call")
		}
	})
}
