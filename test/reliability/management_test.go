package reliability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/internal/wiring"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// connectionsStub is an @connections API whose answer to each POST is
// chosen per connection and attempt.
type connectionsStub struct {
	URL    string // the stage URL, as CONNECTIONS_URL
	answer func(connectionID string, attempt int) (status int, errorType string)

	mu        sync.Mutex
	attempts  map[string]int
	delivered map[string][]frame
}

func newConnectionsStub(t *testing.T, answer func(connectionID string, attempt int) (int, string)) *connectionsStub {
	s := &connectionsStub{answer: answer, attempts: map[string]int{}, delivered: map[string][]frame{}}
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(hs.Close)
	s.URL = hs.URL + "/stage"
	return s
}

func (s *connectionsStub) serve(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/stage/@connections/")
	if r.Method != http.MethodPost || !ok {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	data, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.attempts[id]++
	status, errorType := s.answer(id, s.attempts[id])
	if status == http.StatusOK {
		f := frame{raw: string(data)}
		_ = json.Unmarshal(data, &f)
		s.delivered[id] = append(s.delivered[id], f)
	}
	s.mu.Unlock()
	if status != http.StatusOK {
		w.Header().Set("X-Amzn-ErrorType", errorType)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":%q}`, errorType)
	}
}

func (s *connectionsStub) result(id string) (attempts int, delivered []frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[id], s.delivered[id]
}

// TestManagementAPIFailures: a fan-out through the real @connections client
// as internal/wiring builds it (3 attempts, backoff capped at 500 ms), with
// one member throttled twice (429), one failing for good (500) and one gone
// (410). The throttled member gets its frames on the third attempt, the
// failing one is given up after 3, the gone one is asked once, removed and
// its leave sent to the rest, and everyone else gets every frame.
func TestManagementAPIFailures(t *testing.T) {
	stub := newConnectionsStub(t, func(id string, attempt int) (int, string) {
		switch {
		case id == "throttled" && attempt <= 2:
			return http.StatusTooManyRequests, "LimitExceededException"
		case id == "broken":
			return http.StatusInternalServerError, "InternalServerErrorException"
		case id == "gone":
			return http.StatusGone, "GoneException"
		}
		return http.StatusOK, ""
	})
	db := dynamotest.New(t)
	cfg := handlers.Config{TableName: db.Table, ConnectionsURL: stub.URL, DefaultCapacity: 8, MaxCapacity: 50,
		FanOutConcurrency: 16, MetricsNamespace: "test"}
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	clients := wiring.NewClients(awsCfg, cfg, wiring.Endpoints{DynamoDB: db.URL})
	logs := &testkit.LogBuffer{}
	router := wiring.Router(cfg, clients, handlers.Deps{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: io.Discard})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs)
		}
	})

	ctx := context.Background()
	store := dynamo.New(clients.DynamoDB, db.Table)
	dynamotest.Predictable(store)
	members := []string{"ok1", "ok2", "throttled", "broken", "gone"}
	for _, id := range append(members, "N") {
		if _, err := store.PutConnection(ctx, id, time.Now(), dynamo.Grant{}); err != nil {
			t.Fatal(err)
		}
	}
	room, err := store.CreateRoom(ctx, "ok1", 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range members {
		if _, err := store.Enter(ctx, id, room.ID, "", ""); err != nil {
			t.Fatal(err)
		}
	}

	if s := invoke(t, router, "req-1", "enterroom", "MESSAGE", "N", enterBody(room.ID, "")); s != 200 {
		t.Fatalf("enterroom status %d", s)
	}

	// Five members entered (version 5); N is version 6, removing gone 7.
	enterN := fmt.Sprintf(`{"type":"enter","roomID":%q,"connectionID":"N","participantID":"p-N","seq":6}`, room.ID)
	leaveGone := fmt.Sprintf(`{"type":"leave","roomID":%q,"connectionID":"gone","participantID":"p-gone","reason":"gone","seq":7}`, room.ID)
	tests := []struct {
		id       string
		attempts int
		frames   []string
	}{
		{"ok1", 2, []string{enterN, leaveGone}},
		{"ok2", 2, []string{enterN, leaveGone}},
		{"throttled", 4, []string{enterN, leaveGone}}, // 429, 429, 200; then 200
		{"broken", 6, nil},                            // 3 attempts per post, one post sent again
		{"gone", 1, nil},                              // 410 is final, and it is not told its own leave
		{"N", 3, []string{enterN, "room-members", leaveGone}},
	}
	for _, tt := range tests {
		attempts, got := stub.result(tt.id)
		var raw []string
		for _, f := range got {
			if f.Type == "room-members" {
				raw = append(raw, f.Type)
			} else {
				raw = append(raw, f.raw)
			}
		}
		if attempts != tt.attempts || strings.Join(raw, "\n") != strings.Join(tt.frames, "\n") {
			t.Errorf("%s: %d attempts, frames %q; want %d attempts, frames %q", tt.id, attempts, raw, tt.attempts, tt.frames)
		}
	}
	if _, err := store.Connection(ctx, "gone"); err == nil {
		t.Error("the gone connection is still stored")
	}
	if _, err := store.Connection(ctx, "broken"); err != nil {
		t.Errorf("a connection that answered 500 was removed: %v", err)
	}
	if !logged(logs.String(), map[string]any{"msg": "fan-out post failed", "to": "broken"}) {
		t.Error("the failed post is not logged")
	}
	dynamotest.CheckInvariants(t, db)
}

// TestGoneCleanedOncePerFanOut: a fan-out that finds half the room gone
// posts to each gone connection once, removes each once and tells each
// remaining member about each leave once — no retry storm, no repeated
// announcements. Two fan-outs finding the same gone connections at once
// remove each once between them and tell each member of each leave at
// most once each (the second may re-tell what its own room-members claimed).
func TestGoneCleanedOncePerFanOut(t *testing.T) {
	t.Run("one fan-out", func(t *testing.T) {
		e := newEnv(t, withFaults)
		room := e.roomOf(12, 20)
		gone := ids("m", 12)[:6]
		e.sender.setGone(gone...)
		e.mustConnect("N")
		e.faults.Clear()
		if s := e.send("N", enterBody(room, "")); s != 200 {
			t.Fatalf("enterroom status %d", s)
		}
		calls := map[string]int{}
		for _, c := range e.faults.Calls() {
			calls[c]++
		}
		// One enter (a read and a transaction), then per gone connection
		// one read and one transaction; the room is read for the enter,
		// again after its fan-out (which finds the leaves to announce), and
		// once more after those.
		if want := map[string]int{"TransactWriteItems": 7, "GetItem": 7, "Query": 3}; !maps.Equal(calls, want) {
			t.Errorf("DynamoDB calls %v, want %v", calls, want)
		}
		checkLeavesOnce(t, e, room, gone, ids("m", 12)[6:], []string{"N"}, 1)
	})
	t.Run("two fan-outs at once", func(t *testing.T) {
		e := newEnv(t)
		room := e.roomOf(10, 20)
		gone := ids("m", 10)[:4]
		e.sender.setGone(gone...)
		e.mustConnect("N1", "N2")
		parallel(2, func(i int) { e.send([]string{"N1", "N2"}[i], enterBody(room, "")) })
		checkLeavesOnce(t, e, room, gone, ids("m", 10)[4:], []string{"N1", "N2"}, 2)
	})
}

// roomOf creates a room of the given capacity with n members m000...
func (e *env) roomOf(n, capacity int) string {
	e.t.Helper()
	members := ids("m", n)
	e.mustConnect(append(members, "owner")...)
	room := e.createRoom("owner", capacity)
	for _, id := range members {
		e.enter(id, room, "")
	}
	return room
}

// checkLeavesOnce: every gone connection was posted to at most fanOuts
// times and is no longer stored; every earlier member got each leave at
// least once and at most once per fan-out; a newcomer got each leave at most
// once per fan-out, and at least once if its room-members listed the one who
// left; and every member's view ends without the gone.
func checkLeavesOnce(t *testing.T, e *env, room string, gone, earlier, newcomers []string, fanOuts int) {
	t.Helper()
	for _, id := range gone {
		if n := e.sender.attempts(id); n < 1 || n > fanOuts {
			t.Errorf("gone %s was posted to %d times, want 1 to %d", id, n, fanOuts)
		}
		if _, err := e.store.Connection(context.Background(), id); err == nil {
			t.Errorf("gone %s is still stored", id)
		}
	}
	for _, id := range append(earlier, newcomers...) {
		leaves, shown := map[string]int{}, map[string]bool{}
		for _, f := range e.sender.take(id) {
			switch f.Type {
			case "leave":
				leaves[f.ConnectionID]++
			case "room-members":
				for _, m := range f.Members {
					shown[m.ConnectionID] = true
				}
			}
		}
		newcomer := slices.Contains(newcomers, id)
		for _, g := range gone {
			if n := leaves[g]; n > fanOuts || n == 0 && (!newcomer || shown[g]) {
				t.Errorf("%s was told %d times that %s left (newcomer %v, shown it %v)", id, n, g, newcomer, shown[g])
			}
		}
	}
	r, err := e.store.Room(context.Background(), room)
	if want := len(earlier) + len(newcomers); err != nil || r.Members != want {
		t.Errorf("room = %+v, %v; want %d members", r, err, want)
	}
	dynamotest.CheckInvariants(t, e.db)
}
