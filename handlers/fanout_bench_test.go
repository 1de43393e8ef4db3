package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/slsrtc/slsrtc/connections"
	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/internal/wiring"
)

// benchPostLatency is the latency injected into every post of the fan-out
// benchmark: about what PostToConnection takes inside a region.
const benchPostLatency = 20 * time.Millisecond

// benchRoomID is the room of the benchmark (a canonical UUID, as enterroom
// requires).
const benchRoomID = "5f0c7a4e-7d1c-4a8e-9b0a-2f1e3d4c5b6a"

// benchStore is a room of members held in memory; only what enterroom and
// leaveroom call is implemented.
type benchStore struct{ members []dynamo.Member }

func newBenchStore(n int) *benchStore {
	s := &benchStore{}
	for i := range n {
		s.members = append(s.members, dynamo.Member{RoomID: benchRoomID, ConnectionID: "member" + strconv.Itoa(i) + "=", JoinedAt: time.UnixMilli(int64(i))})
	}
	return s
}

func (s *benchStore) Enter(_ context.Context, connectionID, roomID, userName, _ string) (dynamo.Member, error) {
	return dynamo.Member{RoomID: roomID, ConnectionID: connectionID, UserName: userName, JoinedAt: time.UnixMilli(1e6)}, nil
}

func (s *benchStore) Leave(_ context.Context, connectionID string) (dynamo.Member, error) {
	return dynamo.Member{RoomID: benchRoomID, ConnectionID: connectionID}, nil
}

func (s *benchStore) Roster(context.Context, string) (dynamo.Roster, error) {
	return dynamo.Roster{Room: dynamo.Room{ID: benchRoomID, Version: 1}, Live: append([]dynamo.Member(nil), s.members...)}, nil
}

var errBenchUnused = errors.New("not used by the benchmark")

func (s *benchStore) PutConnection(context.Context, string, time.Time, dynamo.Grant) (dynamo.Participant, error) {
	return dynamo.Participant{}, errBenchUnused
}
func (s *benchStore) Relay(context.Context, string, string) (dynamo.Connection, dynamo.Connection, error) {
	return dynamo.Connection{}, dynamo.Connection{}, errBenchUnused
}
func (s *benchStore) CreateRoom(context.Context, string, int) (dynamo.Room, error) {
	return dynamo.Room{}, errBenchUnused
}
func (s *benchStore) Disconnect(context.Context, string) (dynamo.Member, error) {
	return dynamo.Member{}, errBenchUnused
}
func (s *benchStore) Expel(context.Context, dynamo.Member) (dynamo.Member, error) {
	return dynamo.Member{}, errBenchUnused
}
func (s *benchStore) ConnectionsByID(context.Context, ...string) (map[string]dynamo.Connection, error) {
	return nil, errBenchUnused
}
func (s *benchStore) Connection(context.Context, string) (dynamo.Connection, error) {
	return dynamo.Connection{}, errBenchUnused
}
func (s *benchStore) RoomWithAway(context.Context, string) (string, error) { return "", nil }
func (s *benchStore) Remove(context.Context, string) (dynamo.Member, error) {
	return dynamo.Member{}, errBenchUnused
}
func (s *benchStore) Follow(context.Context, string) (dynamo.Connection, error) {
	return dynamo.Connection{}, errBenchUnused
}
func (s *benchStore) Hold(context.Context, string, dynamo.Held) error { return errBenchUnused }
func (s *benchStore) Held(context.Context, string) ([]dynamo.Held, error) {
	return nil, errBenchUnused
}

// The push subscription methods are never needed: the rooms have none
// (Room.Subs is 0).
func (s *benchStore) Subscribe(context.Context, string, dynamo.PushSubscription) (dynamo.PushSubscription, error) {
	return dynamo.PushSubscription{}, errBenchUnused
}
func (s *benchStore) Unsubscribe(context.Context, string, string, string) (bool, error) {
	return false, errBenchUnused
}
func (s *benchStore) Subscriptions(context.Context, string) ([]dynamo.PushSubscription, error) {
	return nil, errBenchUnused
}
func (s *benchStore) ClaimNotification(context.Context, dynamo.PushSubscription) (bool, error) {
	return false, errBenchUnused
}
func (s *benchStore) DropSubscription(context.Context, string, string) (bool, error) {
	return false, errBenchUnused
}
func (s *benchStore) Resume(context.Context, string, string) (dynamo.Resumed, error) {
	return dynamo.Resumed{}, errBenchUnused
}

// benchSleepSender is a Sender whose every post takes benchPostLatency.
type benchSleepSender struct{ posts atomic.Int64 }

func (s *benchSleepSender) Check(context.Context, string) error { return nil }
func (s *benchSleepSender) Close(context.Context, string) error { return nil }

func (s *benchSleepSender) Post(ctx context.Context, _ string, _ []byte) error {
	s.posts.Add(1)
	select {
	case <-time.After(benchPostLatency):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// benchConnectionsServer is an @connections endpoint that answers every
// post after benchPostLatency and counts posts and new TCP connections.
type benchConnectionsServer struct {
	*httptest.Server
	posts, dials atomic.Int64
}

func newBenchConnectionsServer(b *testing.B) *benchConnectionsServer {
	s := &benchConnectionsServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.posts.Add(1)
		time.Sleep(benchPostLatency)
		w.WriteHeader(http.StatusOK)
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.dials.Add(1)
		}
	}
	s.Start()
	b.Cleanup(s.Close)
	return s
}

// BenchmarkFanOut measures one broadcast to a room of 50 with every post
// taking 20 ms: the 50th member's enterroom (50 connections, 51 posts: the
// newcomer gets "enter" then "room-members") and a leaveroom that tells
// the 49 who stay and the leaver (50 posts). Sequential posting would take
// 50 × 20 ms = 1 s; the target is ≤ 100 ms at the default concurrency.
//
// sender=sleep posts through a Sender that sleeps; sender=http posts
// through the real @connections SDK client and HTTP pool (wiring) to a
// loopback endpoint that answers after 20 ms, and also reports how many
// TCP connections each broadcast had to open (0 once the pool is warm,
// when it is at least as wide as the concurrency).
//
//	go test -run '^$' -bench FanOut ./handlers
func BenchmarkFanOut(b *testing.B) {
	const members = 50
	for _, sender := range []string{"sleep", "http"} {
		for _, op := range []string{handlers.ActionEnterRoom, handlers.ActionLeaveRoom} {
			for _, concurrency := range []int{1, handlers.DefaultFanOutConcurrency, members} {
				name := fmt.Sprintf("sender=%s/op=%s/members=%d/concurrency=%d", sender, op, members, concurrency)
				b.Run(name, func(b *testing.B) { benchFanOut(b, sender, op, members, concurrency) })
			}
		}
	}
}

func benchFanOut(b *testing.B, sender, op string, members, concurrency int) {
	cfg := handlers.Config{FanOutConcurrency: concurrency, DefaultCapacity: 8, MaxCapacity: 50}
	store := newBenchStore(members - 1) // the caller is the 50th
	deps := handlers.Deps{Store: store, Logger: slog.New(slog.DiscardHandler), Metrics: io.Discard}
	caller := "caller="
	var countPosts, countDials func() int64
	switch sender {
	case "sleep":
		s := &benchSleepSender{}
		deps.Sender = s
		countPosts, countDials = s.posts.Load, func() int64 { return 0 }
	case "http":
		srv := newBenchConnectionsServer(b)
		cfg.ConnectionsURL = srv.URL + "/bench"
		awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}
		deps.Sender = connections.New(wiring.NewClients(awsCfg, cfg, wiring.Endpoints{}).ManagementAPI)
		countPosts, countDials = srv.posts.Load, srv.dials.Load
	}
	if op == handlers.ActionEnterRoom {
		// The room is read after the enter, consistently: the newcomer is in
		// it. (After a leave, the leaver is not.)
		store.members = append(store.members, dynamo.Member{RoomID: benchRoomID, ConnectionID: caller, JoinedAt: time.UnixMilli(1e6)})
	}
	router := handlers.New(cfg, deps)
	body := `{"action":"` + op + `","roomID":"` + benchRoomID + `"}`
	if op == handlers.ActionLeaveRoom {
		body = `{"action":"leaveroom"}`
	}
	payload, err := json.Marshal(events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: op, EventType: "MESSAGE", ConnectionID: caller, RequestID: "bench",
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	invoke := func() {
		out, err := router.Invoke(context.Background(), payload)
		if err != nil {
			b.Fatal(err)
		}
		var resp events.APIGatewayProxyResponse
		if err := json.Unmarshal(out, &resp); err != nil || resp.StatusCode != 200 {
			b.Fatalf("response %s (%v)", out, err)
		}
	}
	invoke() // warm the HTTP pool
	posts0, dials0 := countPosts(), countDials()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		invoke()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(b.N), "ms/broadcast")
	b.ReportMetric(float64(countPosts()-posts0)/float64(b.N), "posts/op")
	if sender == "http" {
		b.ReportMetric(float64(countDials()-dials0)/float64(b.N), "dials/op")
	}
}
