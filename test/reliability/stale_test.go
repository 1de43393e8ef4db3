package reliability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/stacktest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// record stores connections connected at the given time, as $connect does,
// straight through the store.
func (e *env) record(at time.Time, ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		if _, err := e.store.PutConnection(context.Background(), id, at, dynamo.Grant{}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestTTLValues: every item carries expiresAt: a connection 2 h 15 min after
// it connected (API Gateway's 2-hour maximum plus a margin), a membership and
// its name marker 2 h 15 min after the enter, a room 24 h after its last
// enter or leave.
func TestTTLValues(t *testing.T) {
	if dynamo.DefaultConnectionTTL != 2*time.Hour+15*time.Minute || dynamo.DefaultRoomTTL != 24*time.Hour {
		t.Fatalf("TTLs %v and %v differ from docs/reliability.md", dynamo.DefaultConnectionTTL, dynamo.DefaultRoomTTL)
	}
	clk := testkit.NewClock(t0)
	e := newEnv(t, withStore(func(s *dynamo.Store) { s.Now = clk.Now; sequentialRoomIDs(s) }))
	ctx := context.Background()
	e.record(t0, "A", "B")
	clk.Set(t0.Add(time.Minute))
	room, err := e.store.CreateRoom(ctx, "A", 4)
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(10 * time.Minute))
	if _, err := e.store.Enter(ctx, "A", room.ID, "alice", "alice"); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(20 * time.Minute))
	if _, err := e.store.Enter(ctx, "B", room.ID, "", ""); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(30 * time.Minute))
	if _, err := e.store.Leave(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	conn, room24 := dynamo.DefaultConnectionTTL, dynamo.DefaultRoomTTL
	want := map[string]time.Time{
		dynamotest.ConnectionKey("A"):        t0.Add(conn),
		dynamotest.ConnectionKey("B"):        t0.Add(conn),
		dynamotest.MemberKey(room.ID, "p-A"): t0.Add(10*time.Minute + conn + room24), // outlives its connection for Expel
		dynamotest.NameKey(room.ID, "alice"): t0.Add(10*time.Minute + conn),
		dynamotest.RoomKey(room.ID):          t0.Add(30*time.Minute + room24), // renewed by B's leave
	}
	items := e.db.Items(t)
	if len(items) != len(want) {
		t.Errorf("table holds %d items, want %d", len(items), len(want))
	}
	for pk, at := range want {
		var got struct{ ExpiresAt int64 }
		if err := attributevalue.UnmarshalMap(items[pk], &got); err != nil || got.ExpiresAt != at.Unix() {
			t.Errorf("%s expiresAt = %d (%v), want %d (%s)", pk, got.ExpiresAt, err, at.Unix(), at)
		}
	}
	var member struct{ LiveUntil int64 }
	if err := attributevalue.UnmarshalMap(items[dynamotest.MemberKey(room.ID, "p-A")], &member); err != nil || member.LiveUntil != t0.Add(10*time.Minute+conn).Unix() {
		t.Errorf("member liveUntil = %d (%v), want %d", member.LiveUntil, err, t0.Add(10*time.Minute+conn).Unix())
	}
}

// TestExpiredItemsAreAbsent: DynamoDB deletes expired items late, so every
// read and condition treats an item past its expiresAt as absent: an
// expired connection cannot act or be reached, an expired room cannot be
// entered, an expired member is not listed and its name is free again.
func TestExpiredItemsAreAbsent(t *testing.T) {
	clk := testkit.NewClock(t0)
	e := newEnv(t, withStore(func(s *dynamo.Store) { s.Now = clk.Now }))
	ctx := context.Background()
	e.record(t0, "old", "host")
	room, err := e.store.CreateRoom(ctx, "host", 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Enter(ctx, "old", room.ID, "sam", "sam"); err != nil {
		t.Fatal(err)
	}
	stale, err := e.store.CreateRoom(ctx, "host", 4)
	if err != nil {
		t.Fatal(err)
	}
	// 2 h 20 min later: "old" and its membership have expired. "host" and
	// "fresh" connected just now; the room was renewed by an enter.
	clk.Set(t0.Add(dynamo.DefaultConnectionTTL + 5*time.Minute))
	e.record(clk.Now(), "fresh", "other")
	if _, err := e.store.Enter(ctx, "other", room.ID, "", ""); err != nil {
		t.Fatal(err)
	}
	e.sender.reset()

	tests := []struct {
		name, from, body, code string
	}{
		{"expired connection creates a room", "old", `{"action":"createroom"}`, "forbidden"},
		{"expired connection relays", "old", relayBody("other", "offer", "x"), "forbidden"},
		{"relay to an expired connection", "other", relayBody("old", "offer", "x"), "forbidden"},
		{"expired connection enters", "old", enterBody(room.ID, ""), "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.send(tt.from, tt.body)
			if fs := e.sender.take(tt.from); len(fs) != 1 || fs[0].Code != tt.code {
				t.Errorf("%s got %v, want %s", tt.from, fs, tt.code)
			}
			if fs := e.sender.take("old"); len(fs) != 0 {
				t.Errorf("the expired connection was sent %v", fs)
			}
		})
	}
	t.Run("expired member is not listed, its name is free, and it is expelled", func(t *testing.T) {
		e.send("fresh", enterBody(room.ID, "sam"))
		fs := e.sender.take("fresh")
		if len(fs) != 3 || fs[1].Type != "room-members" || len(fs[1].Members) != 2 || fs[2].Type != "leave" || fs[2].ConnectionID != "old" {
			t.Fatalf("fresh got %v, want enter, room-members listing other and itself, then leave of old", fs)
		}
		for _, m := range fs[1].Members {
			if m.ConnectionID == "old" {
				t.Errorf("room-members lists the expired member: %v", fs[1])
			}
		}
		if r, err := e.store.Room(ctx, room.ID); err != nil || r.Members != 2 {
			t.Errorf("room = %+v, %v; want 2 members once old is expelled", r, err)
		}
		if _, ok := e.db.Items(t)[dynamotest.MemberKey(room.ID, "p-old")]; ok {
			t.Error("the expired member's item is still stored")
		}
	})
	t.Run("expired room cannot be entered", func(t *testing.T) {
		clk.Set(t0.Add(dynamo.DefaultRoomTTL + time.Second))
		e.record(clk.Now(), "late")
		e.send("late", enterBody(stale.ID, ""))
		if fs := e.sender.take("late"); len(fs) != 1 || fs[0].Code != "room-not-found" {
			t.Errorf("late got %v, want room-not-found", fs)
		}
	})
}

// TestGoneExpiredMemberIsCleanedUp: a member whose connection record has
// expired (its $disconnect never came) but whose membership has not, is
// found gone by the next fan-out and removed with its membership: the room
// stops counting it, its room mates are told, its name is free.
// Regression: Disconnect used to treat the expired connection as absent and
// leave the membership behind, to be posted to (410) by every fan-out.
func TestGoneExpiredMemberIsCleanedUp(t *testing.T) {
	clk := testkit.NewClock(t0)
	e := newEnv(t, withStore(func(s *dynamo.Store) { s.Now = clk.Now }))
	ctx := context.Background()
	e.record(t0, "ghost", "peer")
	room, err := e.store.CreateRoom(ctx, "peer", 3)
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(time.Hour))
	for _, id := range []string{"ghost", "peer"} {
		if _, err := e.store.Enter(ctx, id, room.ID, map[string]string{"ghost": "casper"}[id], map[string]string{"ghost": "casper"}[id]); err != nil {
			t.Fatal(err)
		}
	}
	// The ghost's connection expired at t0+2h15m; its membership (entered an
	// hour later) has not. API Gateway answers 410 for it.
	clk.Set(t0.Add(dynamo.DefaultConnectionTTL + time.Minute))
	e.sender.setGone("ghost")
	e.record(clk.Now(), "new", "late")
	if s := e.send("new", enterBody(room.ID, "")); s != 200 {
		t.Fatalf("enterroom status %d", s)
	}
	for _, id := range []string{"peer", "new"} {
		var leaves []string
		for _, f := range e.sender.take(id) {
			if f.Type == "leave" {
				leaves = append(leaves, f.ConnectionID)
			}
		}
		if strings.Join(leaves, ",") != "ghost" {
			t.Errorf("%s was told of leaves %v, want the ghost's", id, leaves)
		}
	}
	if r, err := e.store.Room(ctx, room.ID); err != nil || r.Members != 2 {
		t.Errorf("room = %+v, %v; want 2 members (peer, new)", r, err)
	}
	if s := e.send("late", enterBody(room.ID, "casper")); s != 200 {
		t.Errorf("the ghost's seat or name is still taken: status %d, frames %v", s, e.sender.take("late"))
	}
	if n := e.sender.attempts("ghost"); n != 1 {
		t.Errorf("the ghost was posted to %d times, want once", n)
	}
	dynamotest.CheckInvariants(t, e.db)
}

// TestDisconnectIsIdempotent: $disconnect of an unknown connection, of one
// already cleaned up, and several $disconnects and gone-cleanups of the same
// connection at once change nothing beyond the first and tell the room once.
func TestDisconnectIsIdempotent(t *testing.T) {
	e := newEnv(t)
	e.mustConnect("A", "B", "C")
	room := e.createRoom("A", 4)
	e.enter("A", room, "alice")
	e.enter("B", room, "bob")
	e.enter("C", room, "")
	before := e.db.Items(t)
	if s := e.disconnect("unknown"); s != 200 {
		t.Errorf("$disconnect of an unknown connection: status %d", s)
	}
	if !reflect.DeepEqual(e.db.Items(t), before) {
		t.Error("$disconnect of an unknown connection changed the table")
	}
	// B drops: three $disconnects (at-least-once delivery) race with A's
	// relay to it, which finds it gone.
	e.sender.setGone("B")
	parallel(4, func(i int) {
		if i == 3 {
			e.send("A", relayBody("B", "offer", "x"))
			return
		}
		if s := e.disconnect("B"); s != 200 {
			t.Errorf("$disconnect B: status %d", s)
		}
	})
	for _, id := range []string{"A", "C"} {
		n := 0
		for _, f := range e.sender.take(id) {
			if f.Type == "leave" && f.ConnectionID == "B" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s was told %d times that B left, want once", id, n)
		}
	}
	after := e.db.Items(t)
	if s := e.disconnect("B"); s != 200 {
		t.Errorf("late $disconnect B: status %d", s)
	}
	if !reflect.DeepEqual(e.db.Items(t), after) {
		t.Error("a repeated $disconnect changed the table")
	}
	if r, err := e.store.Room(context.Background(), room); err != nil || r.Members != 2 {
		t.Errorf("room = %+v, %v; want 2 members", r, err)
	}
	dynamotest.CheckInvariants(t, e.db)
}

// stack is the local stack with a WebSocket client helper and its table.
type stack struct {
	*localstack.Stack
	logs *testkit.LogBuffer
	db   *dynamotest.DB
}

func startStack(t *testing.T) *stack {
	t.Helper()
	s, logs := stacktest.Start(t, localstack.Options{Template: "../../template.yaml"})
	return &stack{Stack: s, logs: logs, db: &dynamotest.DB{Client: s.Clients.DynamoDB, Table: s.Table}}
}

// dial connects a WebSocket client of the stack (testkit.Client).
func (s *stack) dial(t *testing.T) *testkit.Client { return testkit.Connect(t, s.WebSocketURL) }

// TestTCPResetThroughLocalStack: a client that vanishes without a close
// frame (TCP reset) produces $disconnect with status 1006, and its room
// mates get "leave".
func TestTCPResetThroughLocalStack(t *testing.T) {
	s := startStack(t)
	a, b := s.dial(t), s.dial(t)
	a.MustSend(t, `{"action":"createroom"}`)
	room := a.Expect(t, "room-created").Body
	a.MustSend(t, enterBody(room, "alice"))
	a.Expect(t, "room-members")
	b.MustSend(t, enterBody(room, "bob"))
	b.Expect(t, "room-members")
	a.Expect(t, "enter")

	if err := b.Reset(); err != nil {
		t.Fatal(err)
	}
	if f := a.Expect(t, "leave"); f.ConnectionID != b.ID || f.RoomID != room {
		t.Errorf("leave = %v, want B leaving %s", f, room)
	}
	// The invocation's log line is written when it returns, after its fan-out.
	want := map[string]any{"msg": "invocation", "connectionId": b.ID, "routeKey": "$disconnect", "disconnectStatusCode": 1006}
	for deadline := time.Now().Add(10 * time.Second); !logged(s.logs.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no $disconnect with 1006 for %s in the function logs", b.ID)
		}
	}
	if _, ok := s.db.Items(t)[dynamotest.ConnectionKey(b.ID)]; ok {
		t.Error("the reset connection is still stored")
	}
	dynamotest.CheckInvariants(t, s.db)
}

// TestGhostCleanedOnNextFanOut: a connection the table lists in a room but
// the gateway does not know (its $disconnect was lost) is found gone (410)
// by the next fan-out to the room and removed: the members are told it
// left, its seat and name are free, and a $disconnect arriving late is a
// no-op.
func TestGhostCleanedOnNextFanOut(t *testing.T) {
	s := startStack(t)
	a := s.dial(t)
	a.MustSend(t, `{"action":"createroom","capacity":3}`)
	room := a.Expect(t, "room-created").Body
	a.MustSend(t, enterBody(room, "alice"))
	a.Expect(t, "room-members")

	ctx := context.Background()
	store := dynamo.New(s.Clients.DynamoDB, s.Table)
	const ghost = "R2hvc3RHaG9zdEE=" // shaped like an API Gateway connection ID
	if _, err := store.PutConnection(ctx, ghost, time.Now(), dynamo.Grant{}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Enter(ctx, ghost, room, "casper", "casper"); err != nil {
		t.Fatal(err)
	}

	b := s.dial(t)
	b.MustSend(t, enterBody(room, ""))
	if f := b.Expect(t, "room-members"); len(f.Members) != 3 {
		t.Errorf("room-members = %v, want alice, the ghost and b", f)
	}
	if f := b.Expect(t, "leave"); f.ConnectionID != ghost {
		t.Errorf("b got leave %v, want the ghost's", f)
	}
	// a may first hear of the ghost itself: its own enter's fence can
	// re-read the room after the ghost was planted.
	a.ExpectAbout(t, "enter", b.ID)
	a.ExpectAbout(t, "leave", ghost)
	c := s.dial(t)
	c.MustSend(t, enterBody(room, "casper"))
	if f := c.Expect(t, "room-members"); len(f.Members) != 3 {
		t.Errorf("room-members = %v, want alice, b and casper (c)", f)
	}

	before := s.db.Items(t)
	out, err := s.Clients.Lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(s.FunctionName), Payload: disconnectEvent(t, ghost)})
	if err != nil || out.FunctionError != nil || !strings.Contains(string(out.Payload), `"statusCode":200`) {
		t.Fatalf("late $disconnect of the ghost: %v %v %s", err, out.FunctionError, out.Payload)
	}
	if !reflect.DeepEqual(s.db.Items(t), before) {
		t.Error("a late $disconnect of a cleaned-up connection changed the table")
	}
	dynamotest.CheckInvariants(t, s.db)
}

func disconnectEvent(t *testing.T, connectionID string) []byte {
	t.Helper()
	b, err := json.Marshal(events.APIGatewayWebsocketProxyRequest{RequestContext: events.APIGatewayWebsocketProxyRequestContext{
		RouteKey: "$disconnect", EventType: "DISCONNECT", ConnectionID: connectionID, RequestID: "late-disconnect",
		DisconnectStatusCode: 1006,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLostDisconnectFreesTheSeat: a member whose $disconnect never came
// holds its seat in the room's count. Once its connection must be gone
// (ConnectionTTL after the enter) the member is stale: a full room that
// refuses an enter is swept of stale members, their seats are given back,
// and the enter succeeds — even after DynamoDB's TTL deleted the stale
// connection's own item, because its member item outlives it by RoomTTL.
func TestLostDisconnectFreesTheSeat(t *testing.T) {
	for _, connectionDeleted := range []bool{false, true} {
		t.Run(fmt.Sprintf("connection item deleted by TTL %v", connectionDeleted), func(t *testing.T) {
			clk := testkit.NewClock(t0)
			e := newEnv(t, withStore(func(s *dynamo.Store) { s.Now = clk.Now }))
			ctx := context.Background()
			e.record(t0, "host", "ghost")
			room, err := e.store.CreateRoom(ctx, "host", 2)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.Enter(ctx, "host", room.ID, "", ""); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.Enter(ctx, "ghost", room.ID, "casper", "casper"); err != nil {
				t.Fatal(err)
			}
			// host keeps its seat by leaving and re-entering now and then;
			// ghost's connection closed without a $disconnect.
			clk.Set(t0.Add(dynamo.DefaultConnectionTTL - time.Minute))
			if _, err := e.store.Leave(ctx, "host"); err != nil {
				t.Fatal(err)
			}
			e.record(clk.Now(), "host2")
			if _, err := e.store.Enter(ctx, "host2", room.ID, "", ""); err != nil {
				t.Fatal(err)
			}
			clk.Set(t0.Add(dynamo.DefaultConnectionTTL + time.Minute))
			if connectionDeleted {
				e.db.Delete(t, dynamotest.ConnectionKey("ghost"))
			}
			e.record(clk.Now(), "newcomer")
			e.sender.reset()
			if s := e.send("newcomer", enterBody(room.ID, "casper")); s != 200 {
				t.Fatalf("enterroom: status %d, frames %v", s, e.sender.take("newcomer"))
			}
			got := e.sender.take("host2")
			if len(got) != 2 || got[0].Type != "leave" || got[0].ConnectionID != "ghost" || got[1].Type != "enter" || got[1].ConnectionID != "newcomer" {
				t.Errorf("host2 got %v, want leave(ghost) then enter(newcomer)", got)
			}
			if r, err := e.store.Room(ctx, room.ID); err != nil || r.Members != 2 {
				t.Errorf("room = %+v, %v; want 2 members (host2, newcomer)", r, err)
			}
			if _, ok := e.db.Items(t)[dynamotest.ConnectionKey("ghost")]; ok {
				t.Error("the ghost's connection item is still stored")
			}
			dynamotest.CheckInvariants(t, e.db)
		})
	}
}
