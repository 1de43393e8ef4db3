package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// The races of docs/reliability.md ("Presence"), each forced at the moment
// it needs: the sender's PostFn runs another client's action in the middle
// of a fan-out, before the frame it holds is delivered.

func wantView(t *testing.T, who string, v *testkit.View, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := v.Naive(); !slices.Equal(got, want) {
		t.Errorf("%s's view, applying frames in order, is %q; want %q", who, got, want)
	}
	if got := v.Ordered(); !slices.Equal(got, want) {
		t.Errorf("%s's view, ordered by seq, is %q; want %q", who, got, want)
	}
}

// isPresence reports whether a frame is a presence frame of type typ about
// member.
func isPresence(frame []byte, typ, member string) bool {
	var f struct{ Type, ConnectionID string }
	return json.Unmarshal(frame, &f) == nil && f.Type == typ && f.ConnectionID == member
}

// TestEnterRacesTheNewcomersDisconnect: B's enter reads the room (B in it);
// B's connection closes and its $disconnect tells A "leave B" before B's
// enter fan-out delivers "enter B" to A. Without the re-read A would keep B
// for ever.
func TestEnterRacesTheNewcomersDisconnect(t *testing.T) {
	h := newHarness(t)
	h.connect("A")
	h.connect("B")
	room := h.createRoom("A", 0)
	viewA := h.sender.Watch("A", room)
	h.enter("A", room, "")
	var fired atomic.Bool
	h.sender.PostFn = func(_ context.Context, to string, data []byte) error {
		if to == "A" && isPresence(data, "enter", "B") && fired.CompareAndSwap(false, true) {
			h.sender.SetGone("B")
			h.disconnect("B")
		}
		return nil
	}
	h.send("B", `{"action":"enterroom","roomID":"`+room+`"}`)
	if !fired.Load() {
		t.Fatal("the race was not forced")
	}
	wantView(t, "A", viewA, "A")
	dynamotest.CheckInvariants(t, h.db)
}

// TestSnapshotRacesALeave: N's room-members lists X, but X leaves and its
// "leave X" reaches N before the snapshot does.
func TestSnapshotRacesALeave(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"A", "X", "N"} {
		h.connect(id)
	}
	room := h.createRoom("A", 0)
	h.enter("A", room, "")
	h.enter("X", room, "")
	viewN := h.sender.Watch("N", room)
	var fired atomic.Bool
	h.sender.PostFn = func(_ context.Context, to string, data []byte) error {
		if to == "N" && strings.Contains(string(data), `"room-members"`) && fired.CompareAndSwap(false, true) {
			h.send("X", `{"action":"leaveroom"}`)
		}
		return nil
	}
	h.send("N", `{"action":"enterroom","roomID":"`+room+`"}`)
	if !fired.Load() {
		t.Fatal("the race was not forced")
	}
	wantView(t, "N", viewN, "A", "N")
	dynamotest.CheckInvariants(t, h.db)
}

// barrierStore holds each Enter, once committed, until n of them have
// committed: every enter then reads a room the others have entered too.
type barrierStore struct {
	handlers.Store
	wg *sync.WaitGroup
}

func (s barrierStore) Enter(ctx context.Context, connectionID, roomID, userName, nameKey string) (dynamo.Member, error) {
	m, err := s.Store.Enter(ctx, connectionID, roomID, userName, nameKey)
	s.wg.Done()
	s.wg.Wait()
	return m, err
}

// TestSimultaneousEntersSeeEachOther: A and B enter at once, both commit
// before either reads the room, and DynamoDB's indexes lag by a second (as
// they may in AWS). At least one must be told of the other — here both are,
// because the room is read consistently from the base table, never from an
// index.
func TestSimultaneousEntersSeeEachOther(t *testing.T) {
	var lag *dynamotest.LaggingIndex
	var wg sync.WaitGroup
	h := newHarness(t,
		withClient(func(c dynamo.Client) dynamo.Client { lag = dynamotest.NewLaggingIndex(c, time.Second); return lag }),
		withStore(func(s handlers.Store) handlers.Store { return barrierStore{Store: s, wg: &wg} }))
	h.connect("A")
	h.connect("B")
	room := h.createRoom("A", 0)
	a, b := h.sender.Watch("A", room), h.sender.Watch("B", room)
	evs := []events.APIGatewayWebsocketProxyRequest{
		h.event("enterroom", "MESSAGE", "A", `{"action":"enterroom","roomID":"`+room+`"}`),
		h.event("enterroom", "MESSAGE", "B", `{"action":"enterroom","roomID":"`+room+`"}`),
	}
	wg.Add(len(evs))
	var done sync.WaitGroup
	for _, ev := range evs {
		payload, _ := json.Marshal(ev)
		done.Go(func() {
			if _, err := h.router.Invoke(context.Background(), payload); err != nil {
				t.Error(err)
			}
		})
	}
	done.Wait()
	if !slices.Contains(a.Naive(), "B") && !slices.Contains(b.Naive(), "A") {
		t.Errorf("neither was told of the other: A sees %q, B sees %q", a.Naive(), b.Naive())
	}
	wantView(t, "A", a, "A", "B")
	wantView(t, "B", b, "A", "B")
	if n := lag.IndexQueries.Load(); n != 0 {
		t.Errorf("%d reads of an eventually consistent index on the enter path", n)
	}
}

// TestLostDisconnectFreesTheSeatOfAFullRoom: B's connection is gone but its
// $disconnect never came; a full room asks API Gateway about its members
// before it refuses C, and gives B's seat to C.
func TestLostDisconnectFreesTheSeatOfAFullRoom(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"A", "B", "C", "D"} {
		h.connect(id)
	}
	room := h.createRoom("A", 2)
	viewC := h.sender.Watch("C", room)
	h.enter("A", room, "alice")
	h.enter("B", room, "bob")
	h.sender.SetGone("B")
	if resp := h.send("C", `{"action":"enterroom","roomID":"`+room+`","userName":"bob"}`); resp.StatusCode != 200 {
		t.Fatalf("C's enter: status %d, frames %q", resp.StatusCode, h.sender.Take("C"))
	}
	leaveB := `{"type":"leave","roomID":"` + room + `","connectionID":"B","participantID":"p-B","reason":"gone","seq":4}`
	enterC := `{"type":"enter","roomID":"` + room + `","connectionID":"C","participantID":"p-C","userName":"bob","seq":4}`
	if got, want := h.sender.Take("A"), []string{leaveB, enterC}; !equal(got, want) {
		t.Errorf("A got %q, want %q", got, want)
	}
	wantView(t, "C", viewC, "A", "C")
	dynamotest.CheckInvariants(t, h.db)

	// A room full of live members is checked, then refused.
	h.sender.Checks() // from now on
	before := h.db.Items(t)
	if resp := h.send("D", `{"action":"enterroom","roomID":"`+room+`"}`); resp.StatusCode != 409 {
		t.Errorf("D's enter: status %d, want 409", resp.StatusCode)
	}
	if n := h.sender.Checks(); n != 2 {
		t.Errorf("%d members checked, want 2", n)
	}
	if got := h.sender.Take("A"); len(got) != 0 {
		t.Errorf("A got %q from a refused enter", got)
	}
	if after := h.db.Items(t); len(after) != len(before) {
		t.Error("a refused enter changed the table")
	}
}

// TestFailedPostIsSentAgain: a post that fails (after the client's own
// retries) is not taken as told: the next round sends it again.
func TestFailedPostIsSentAgain(t *testing.T) {
	h := newHarness(t)
	h.connect("A")
	h.connect("B")
	room := h.createRoom("A", 0)
	viewA := h.sender.Watch("A", room)
	h.enter("A", room, "")
	var failures atomic.Int64
	h.sender.PostFn = func(_ context.Context, to string, data []byte) error {
		if to == "A" && isPresence(data, "enter", "B") && failures.Add(1) == 1 {
			return errBoom
		}
		return nil
	}
	h.send("B", `{"action":"enterroom","roomID":"`+room+`"}`)
	if failures.Load() != 2 {
		t.Errorf("enter B was posted to A %d times, want 2 (one failure, one success)", failures.Load())
	}
	wantView(t, "A", viewA, "A", "B")
	if !strings.Contains(h.metrics.String(), `"PresenceCorrections":1`) {
		t.Errorf("no PresenceCorrections metric:\n%s", h.metrics.String())
	}
}

// makeStale plays a member whose connection outlived API Gateway's 2-hour
// limit without a $disconnect: its member item's liveUntil is in the past.
func (h *harness) makeStale(room, id string) {
	h.t.Helper()
	key := map[string]types.AttributeValue{
		dynamo.KeyAttribute: &types.AttributeValueMemberS{Value: "roomID#" + room}, dynamo.SortAttribute: &types.AttributeValueMemberS{Value: "member#p-" + id},
	}
	_, err := h.db.Client.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(h.db.Table), Key: key,
		UpdateExpression:          aws.String("SET liveUntil = :past"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":past": &types.AttributeValueMemberN{Value: "1"}},
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// TestCleanupStaysInItsRoom (review defect 3): a fan-out in room R finds G
// gone after G moved to room R2, and finds R's stale member S. S is
// expelled from R (not from R2, where it never was), G from R2, and each
// room hears of its own leaver.
func TestCleanupStaysInItsRoom(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"A", "S", "G", "Z", "N"} {
		h.connect(id)
	}
	room, other := h.createRoom("A", 5), h.createRoom("Z", 5)
	viewA, viewZ := h.sender.Watch("A", room), h.sender.Watch("Z", other)
	h.enter("A", room, "")
	h.enter("S", room, "")
	h.enter("G", room, "")
	h.enter("Z", other, "")
	h.makeStale(room, "S")
	var fired atomic.Bool
	h.sender.PostFn = func(_ context.Context, to string, data []byte) error {
		if to == "G" && fired.CompareAndSwap(false, true) {
			h.send("G", `{"action":"leaveroom"}`)
			h.send("G", `{"action":"enterroom","roomID":"`+other+`"}`)
			h.sender.SetGone("G")
		}
		return nil
	}
	h.send("N", `{"action":"enterroom","roomID":"`+room+`"}`)
	if !fired.Load() {
		t.Fatal("the race was not forced")
	}
	for _, rm := range []struct{ id, want string }{{room, "A N"}, {other, "Z"}} {
		r, err := h.store.Roster(context.Background(), rm.id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range r.Live {
			got = append(got, m.ConnectionID)
		}
		if strings.Join(got, " ") != rm.want || len(r.Stale) != 0 {
			t.Errorf("room %s holds %q (stale %v), want %s", rm.id, got, r.Stale, rm.want)
		}
	}
	wantView(t, "A", viewA, "A", "N")
	wantView(t, "Z", viewZ, "Z")
	reasons := map[string]string{}
	for _, f := range append(h.sender.Take("A"), h.sender.Take("Z")...) {
		var leave struct{ Type, ConnectionID, Reason string }
		if json.Unmarshal([]byte(f), &leave) == nil && leave.Type == "leave" {
			reasons[leave.ConnectionID] = leave.Reason
		}
	}
	if reasons["S"] != "expired" || reasons["G"] != "gone" {
		t.Errorf("leave reasons %v, want S expired and G gone", reasons)
	}
	dynamotest.CheckInvariants(t, h.db)
}

// TestRouteIsTheAction: the action that runs is the route API Gateway
// chose; a body whose action names another route is refused, and nothing
// runs.
func TestRouteIsTheAction(t *testing.T) {
	h := newHarness(t)
	h.connect("A")
	room := h.createRoom("A", 0)
	for _, tt := range []struct{ route, action, body string }{
		{"enterroom", "ping", `{"action":"ping"}`},
		{"ping", "enterroom", `{"action":"enterroom","roomID":"` + room + `"}`},
		{"createroom", "leaveroom", `{"action":"leaveroom"}`},
	} {
		resp := h.invoke(h.event(tt.route, "MESSAGE", "A", tt.body))
		want := fmt.Sprintf(`{"type":"error","code":"invalid-message","message":"the message's action does not match the route \"%s\" it was sent on","action":"%s"}`,
			tt.route, tt.action)
		if got := h.sender.Take("A"); resp.StatusCode != 400 || len(got) != 1 || got[0] != want {
			t.Errorf("route %s, body %s: status %d, frames %q; want 400 and %s", tt.route, tt.body, resp.StatusCode, got, want)
		}
	}
	if r, _ := h.store.Roster(context.Background(), room); len(r.Live) != 0 {
		t.Errorf("a refused message entered the room: %+v", r)
	}
}
