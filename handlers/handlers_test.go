package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/connections"
	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// TestMessages drives every client action and every error code through the
// router, the real store on the embedded DynamoDB and a fake sender. Each case
// lists the exact frames every connection gets; "{room}" and "{other}" stand
// for the IDs made in setup. A failed action must leave the table unchanged.
func TestMessages(t *testing.T) {
	type vars = map[string]string
	tests := []struct {
		name   string
		setup  func(h *harness) vars // after A, B and C connected
		from   string
		body   string
		status int
		want   map[string][]string // frames by connection
	}{
		{
			name: "ping", from: "A", body: `{"action":"ping"}`, status: 200,
			want: map[string][]string{"A": {`{"type":"pong"}`}},
		},
		{
			name: "createroom with default capacity", from: "A", body: `{"action":"createroom"}`, status: 200,
			want: map[string][]string{"A": {`{"type":"room-created","body":"{new-room}"}`}},
		},
		{
			name: "createroom capacity above maximum", from: "A", body: `{"action":"createroom","capacity":6}`, status: 400,
			want: map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"\"capacity\" must be from 1 to 5","action":"createroom"}`}},
		},
		{
			name: "createroom capacity zero", from: "A", body: `{"action":"createroom","capacity":0}`, status: 400,
			want: map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"\"capacity\" must be at least 1","action":"createroom"}`}},
		},
		{
			name: "createroom capacity not an integer", from: "A", body: `{"action":"createroom","capacity":"4"}`, status: 400,
			want: map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"\"capacity\" must be an integer","action":"createroom"}`}},
		},
		{
			name: "createroom from an unregistered connection", from: "X", body: `{"action":"createroom"}`, status: 403,
			want: map[string][]string{"X": {`{"type":"error","code":"forbidden","message":"this connection is not registered (it may have expired); reconnect","action":"createroom"}`}},
		},
		{
			name: "enterroom first member", from: "A", status: 200,
			setup: func(h *harness) vars { return vars{"room": h.createRoom("A", 0)} },
			body:  `{"action":"enterroom","roomID":"{room}"}`,
			want: map[string][]string{"A": {
				`{"type":"enter","roomID":"{room}","connectionID":"A","participantID":"p-A","seq":1}`,
				`{"type":"room-members","roomID":"{room}","members":[{"connectionID":"A","participantID":"p-A"}],"seq":1}`,
			}},
		},
		{
			name: "enterroom tells everyone", from: "B", status: 200,
			setup: func(h *harness) vars {
				r := h.createRoom("A", 0)
				h.enter("A", r, "alice")
				return vars{"room": r}
			},
			body: `{"action":"enterroom","roomID":"{room}","userName":"bob"}`,
			want: map[string][]string{
				"A": {`{"type":"enter","roomID":"{room}","connectionID":"B","participantID":"p-B","userName":"bob","seq":2}`},
				"B": {
					`{"type":"enter","roomID":"{room}","connectionID":"B","participantID":"p-B","userName":"bob","seq":2}`,
					`{"type":"room-members","roomID":"{room}","members":[{"connectionID":"A","participantID":"p-A","userName":"alice"},{"connectionID":"B","participantID":"p-B","userName":"bob"}],"seq":2}`,
				},
			},
		},
		{
			name: "enterroom room ID in upper case", from: "A", status: 200,
			setup: func(h *harness) vars { return vars{"room": h.createRoom("A", 0)} },
			body:  `{"action":"enterroom","roomID":"{ROOM}"}`,
			want: map[string][]string{"A": {
				`{"type":"enter","roomID":"{room}","connectionID":"A","participantID":"p-A","seq":1}`,
				`{"type":"room-members","roomID":"{room}","members":[{"connectionID":"A","participantID":"p-A"}],"seq":1}`,
			}},
		},
		{
			name: "enterroom unknown room", from: "A", status: 404,
			body: `{"action":"enterroom","roomID":"9b2f4c8e-0000-4000-8000-000000000000"}`,
			want: map[string][]string{"A": {`{"type":"error","code":"room-not-found","message":"no such room (it may have expired)","action":"enterroom"}`}},
		},
		{
			name: "enterroom malformed room ID", from: "A", status: 400,
			body: `{"action":"enterroom","roomID":"lobby"}`,
			want: map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"\"roomID\" must be a room ID as returned by createroom","action":"enterroom"}`}},
		},
		{
			name: "enterroom missing room ID", from: "A", status: 400,
			body: `{"action":"enterroom"}`,
			want: map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"enterroom needs \"roomID\"","action":"enterroom"}`}},
		},
		{
			name: "enterroom full room", from: "C", status: 409,
			setup: func(h *harness) vars {
				r := h.createRoom("A", 2)
				h.enter("A", r, "")
				h.enter("B", r, "")
				return vars{"room": r}
			},
			body: `{"action":"enterroom","roomID":"{room}"}`,
			want: map[string][]string{"C": {`{"type":"error","code":"room-full","message":"the room is full","action":"enterroom"}`}},
		},
		{
			name: "enterroom twice", from: "A", status: 409,
			setup: func(h *harness) vars {
				r := h.createRoom("A", 0)
				h.enter("A", r, "")
				return vars{"room": r}
			},
			body: `{"action":"enterroom","roomID":"{room}"}`,
			want: map[string][]string{"A": {`{"type":"error","code":"already-in-room","message":"this connection is already in a room; leave it first","action":"enterroom"}`}},
		},
		{
			name: "enterroom name taken", from: "B", status: 409,
			setup: func(h *harness) vars {
				r := h.createRoom("A", 0)
				h.enter("A", r, "alice")
				return vars{"room": r}
			},
			body: `{"action":"enterroom","roomID":"{room}","userName":"alice"}`,
			want: map[string][]string{"B": {`{"type":"error","code":"name-taken","message":"that user name is taken in this room","action":"enterroom"}`}},
		},
		{
			name: "enterroom name taken in another case", from: "B", status: 409,
			setup: func(h *harness) vars {
				r := h.createRoom("A", 0)
				h.enter("A", r, "alice")
				return vars{"room": r}
			},
			body: `{"action":"enterroom","roomID":"{room}","userName":"ALICE"}`,
			want: map[string][]string{"B": {`{"type":"error","code":"name-taken","message":"that user name is taken in this room","action":"enterroom"}`}},
		},
		{
			name: "enterroom name with a control character", from: "A", status: 400,
			setup: func(h *harness) vars { return vars{"room": h.createRoom("A", 0)} },
			body:  `{"action":"enterroom","roomID":"{room}","userName":"al\u0007ice"}`,
			want:  map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"\"userName\" must contain printable characters only","action":"enterroom"}`}},
		},
		{
			name: "leaveroom tells the leaver and the rest", from: "B", status: 200,
			setup: func(h *harness) vars {
				r := h.createRoom("A", 0)
				h.enter("A", r, "")
				h.enter("B", r, "bob")
				return vars{"room": r}
			},
			body: `{"action":"leaveroom"}`,
			want: map[string][]string{
				"A": {`{"type":"leave","roomID":"{room}","connectionID":"B","participantID":"p-B","reason":"left","seq":3}`},
				"B": {`{"type":"leave","roomID":"{room}","connectionID":"B","participantID":"p-B","reason":"left","seq":3}`},
			},
		},
		{
			name: "leaveroom outside a room", from: "A", status: 409, body: `{"action":"leaveroom"}`,
			want: map[string][]string{"A": {`{"type":"error","code":"not-in-room","message":"this connection is not in a room","action":"leaveroom"}`}},
		},
		{
			name: "relay within the room", from: "B", status: 200,
			setup: func(h *harness) vars {
				r := h.createRoom("A", 0)
				h.enter("A", r, "")
				h.enter("B", r, "")
				return vars{"room": r}
			},
			body: `{"action":"message","dest":"A","type":"offer","message":"{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n<x>\"}","from":"forged","participantID":"p-forged"}`,
			want: map[string][]string{"A": {`{"type":"offer","body":"{\"type\":\"offer\",\"sdp\":\"v=0\\r\\n<x>\"}","from":"B","participantID":"p-B"}`}},
		},
		{
			name: "relay outside the room", from: "B", status: 403,
			setup: func(h *harness) vars {
				r := h.createRoom("A", 0)
				h.enter("A", r, "")
				h.enter("B", h.createRoom("B", 0), "")
				return vars{"room": r}
			},
			body: `{"action":"message","dest":"A","type":"offer","message":"x"}`,
			want: map[string][]string{"B": {`{"type":"error","code":"forbidden","message":"the destination is not in your room","action":"message"}`}},
		},
		{
			name: "relay to an unknown connection", from: "B", status: 403,
			setup: func(h *harness) vars {
				r := h.createRoom("A", 0)
				h.enter("B", r, "")
				return vars{"room": r}
			},
			body: `{"action":"message","dest":"nobody","type":"answer","message":"x"}`,
			want: map[string][]string{"B": {`{"type":"error","code":"forbidden","message":"the destination is not in your room","action":"message"}`}},
		},
		{
			name: "relay before entering a room", from: "A", status: 409,
			body: `{"action":"message","dest":"B","type":"offer","message":"x"}`,
			want: map[string][]string{"A": {`{"type":"error","code":"not-in-room","message":"enter a room before sending messages","action":"message"}`}},
		},
		{
			name: "relay forging a server event", from: "B", status: 403,
			setup: func(h *harness) vars {
				r := h.createRoom("A", 0)
				h.enter("A", r, "")
				h.enter("B", r, "")
				return vars{"room": r}
			},
			body: `{"action":"message","dest":"A","type":"leave","message":"x"}`,
			want: map[string][]string{"B": {`{"type":"error","code":"forbidden","message":"\"leave\" is a server event type (in any case) and cannot be relayed","action":"message"}`}},
		},
		{
			name: "relay forging a server event in another case", from: "B", status: 403,
			setup: func(h *harness) vars {
				r := h.createRoom("A", 0)
				h.enter("A", r, "")
				h.enter("B", r, "")
				return vars{"room": r}
			},
			body: `{"action":"message","dest":"A","type":"Enter","message":"x"}`,
			want: map[string][]string{"B": {`{"type":"error","code":"forbidden","message":"\"Enter\" is a server event type (in any case) and cannot be relayed","action":"message"}`}},
		},
		{
			name: "two spellings of the action", from: "A", status: 400,
			setup: func(h *harness) vars { return vars{"room": h.createRoom("A", 0)} },
			body:  `{"action":"enterroom","roomID":"{room}","ACTION":"ping"}`,
			want:  map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"the message has both \"action\" and \"ACTION\"; field names are case-sensitive","action":"enterroom"}`}},
		},
		{
			name: "a repeated field", from: "A", status: 400,
			body: `{"action":"ping","action":"createroom"}`,
			want: map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"the message repeats \"action\"","action":"ping"}`}},
		},
		{
			name: "action in another case is not the action", from: "A", status: 400,
			body: `{"Action":"ping"}`,
			want: map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"the message has no \"action\""}`}},
		},
		{
			name: "relay without a payload", from: "B", status: 400,
			body: `{"action":"message","dest":"A","type":"offer"}`,
			want: map[string][]string{"B": {`{"type":"error","code":"invalid-message","message":"message needs \"message\", the payload string","action":"message"}`}},
		},
		{
			name: "relay with an object payload", from: "B", status: 400,
			body: `{"action":"message","dest":"A","type":"offer","message":{"sdp":"v=0"}}`,
			want: map[string][]string{"B": {`{"type":"error","code":"invalid-message","message":"\"message\" must be a string","action":"message"}`}},
		},
		{
			name: "relay too large once framed", from: "B", status: 413,
			// U+2028 is 3 bytes raw in the request and 6 escaped in the frame.
			body: `{"action":"message","dest":"A","type":"offer","message":"` + strings.Repeat("\u2028", 40000) + `"}`,
			want: map[string][]string{"B": {`{"type":"error","code":"payload-too-large","message":"the relayed message would be 240092 bytes; the limit is 131072","action":"message"}`}},
		},
		{
			name: "body over 128 KB", from: "A", status: 413,
			body: `{"action":"ping","pad":"` + strings.Repeat("x", 128*1024-20) + `"}`,
			want: map[string][]string{"A": {`{"type":"error","code":"payload-too-large","message":"the message is 131078 bytes; the limit is 131072"}`}},
		},
		{
			name: "unknown action", from: "A", status: 400, body: `{"action":"sendmessage"}`,
			want: map[string][]string{"A": {`{"type":"error","code":"unknown-action","message":"unknown action \"sendmessage\"; use one of createroom, enterroom, leaveroom, message, ping, resume, iceservers, subscribe, unsubscribe","action":"sendmessage"}`}},
		},
		{
			name: "missing action", from: "A", status: 400, body: `{"roomID":"x"}`,
			want: map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"the message has no \"action\""}`}},
		},
		{
			name: "action not a string", from: "A", status: 400, body: `{"action":7}`,
			want: map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"\"action\" must be a string"}`}},
		},
		{
			name: "not JSON", from: "A", status: 400, body: `hello`,
			want: map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"the message is not valid JSON: invalid character 'h' looking for beginning of value"}`}},
		},
		{
			name: "JSON but not an object", from: "A", status: 400, body: `["ping"]`,
			want: map[string][]string{"A": {`{"type":"error","code":"invalid-message","message":"the message must be a JSON object"}`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for _, id := range []string{"A", "B", "C"} {
				h.connect(id)
			}
			v := vars{}
			if tt.setup != nil {
				v = tt.setup(h)
			}
			expand := func(s string) string {
				for k, val := range v {
					s = strings.ReplaceAll(s, "{"+k+"}", val)
					s = strings.ReplaceAll(s, "{"+strings.ToUpper(k)+"}", strings.ToUpper(val))
				}
				return s
			}
			before := h.db.Items(t)
			resp := h.send(tt.from, expand(tt.body))
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			for _, id := range []string{"A", "B", "C", "X"} {
				got := h.sender.Take(id)
				var want []string
				for _, w := range tt.want[id] {
					want = append(want, expand(w))
				}
				if strings.Contains(strings.Join(want, ""), "{new-room}") && len(got) == 1 {
					var f struct{ Body string }
					_ = json.Unmarshal([]byte(got[0]), &f)
					want[0] = strings.ReplaceAll(want[0], "{new-room}", f.Body)
				}
				if !equal(got, want) {
					t.Errorf("%s got\n  %q\nwant\n  %q", id, got, want)
				}
			}
			if tt.status != 200 && !reflect.DeepEqual(h.db.Items(t), before) {
				t.Error("a refused message changed the table")
			}
			dynamotest.CheckInvariants(t, h.db)
		})
	}
}

// TestDisconnectTellsTheRoom: a dropped member's room mates get "leave";
// a repeated or unknown $disconnect is a no-op.
func TestDisconnectTellsTheRoom(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"A", "B", "C"} {
		h.connect(id)
	}
	room := h.createRoom("A", 0)
	h.enter("A", room, "alice")
	h.enter("B", room, "bob")
	h.enter("C", h.createRoom("C", 0), "")

	h.disconnect("B")
	if got, want := h.sender.Take("A"), []string{`{"type":"leave","roomID":"` + room + `","connectionID":"B","participantID":"p-B","reason":"disconnected","seq":3}`}; !equal(got, want) {
		t.Errorf("A got %q, want %q", got, want)
	}
	if got := h.sender.Take("C"); len(got) != 0 {
		t.Errorf("C, in another room, got %q", got)
	}
	before := h.db.Items(t)
	h.disconnect("B")
	h.disconnect("never-connected")
	if got := h.sender.Take("A"); len(got) != 0 {
		t.Errorf("a repeated $disconnect sent %q", got)
	}
	if !reflect.DeepEqual(h.db.Items(t), before) {
		t.Error("a repeated $disconnect changed the table")
	}
	dynamotest.CheckInvariants(t, h.db)

	// The name is free again.
	h.connect("D")
	h.enter("D", room, "bob")
}

// TestGoneMembersAreCleanedUp: a fan-out that finds gone connections (their
// $disconnect never came) removes each once and tells the rest.
func TestGoneMembersAreCleanedUp(t *testing.T) {
	h := newHarness(t)
	ids := []string{"A", "B", "C", "D"}
	for _, id := range ids {
		h.connect(id)
	}
	room := h.createRoom("A", 5)
	for _, id := range ids {
		h.enter(id, room, "")
	}
	h.sender.SetGone("B")
	h.sender.SetGone("C")
	h.connect("E")
	h.send("E", `{"action":"enterroom","roomID":"`+room+`"}`)

	// E's enter is version 5 of the room; the two removals make it 7.
	enterE := `{"type":"enter","roomID":"` + room + `","connectionID":"E","participantID":"p-E","seq":5}`
	leaveB := `{"type":"leave","roomID":"` + room + `","connectionID":"B","participantID":"p-B","reason":"gone","seq":7}`
	leaveC := `{"type":"leave","roomID":"` + room + `","connectionID":"C","participantID":"p-C","reason":"gone","seq":7}`
	for _, id := range []string{"A", "D"} {
		got := h.sender.Take(id)
		if len(got) != 3 || got[0] != enterE || !equal(sorted(got[1:]), []string{leaveB, leaveC}) {
			t.Errorf("%s got %q, want enter(E) then leave(B) and leave(C) in any order", id, got)
		}
	}
	if got := h.sender.Take("E"); len(got) != 4 || !equal(sorted(got[2:]), []string{leaveB, leaveC}) {
		t.Errorf("E got %q, want enter, room-members, then the two leaves", got)
	}
	items := h.db.Items(t)
	for _, id := range []string{"B", "C"} {
		if _, ok := items[dynamotest.ConnectionKey(id)]; ok {
			t.Errorf("gone connection %s still stored", id)
		}
	}
	r, err := h.store.Room(context.Background(), room)
	if err != nil || r.Members != 3 {
		t.Errorf("room = %+v, %v; want 3 members", r, err)
	}
	dynamotest.CheckInvariants(t, h.db)
	if n := strings.Count(h.metrics.String(), `"GoneConnectionsCleaned":2`); n != 1 {
		t.Errorf("metrics report 2 cleaned connections %d times, want once:\n%s", n, h.metrics.String())
	}
}

// TestRelayToGoneDestination: the destination's room is told it left.
func TestRelayToGoneDestination(t *testing.T) {
	h := newHarness(t)
	h.connect("A")
	h.connect("B")
	room := h.createRoom("A", 0)
	h.enter("A", room, "")
	h.enter("B", room, "")
	h.sender.SetGone("B")
	if resp := h.send("A", `{"action":"message","dest":"B","type":"offer","message":"x"}`); resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	if got, want := h.sender.Take("A"), []string{`{"type":"leave","roomID":"` + room + `","connectionID":"B","participantID":"p-B","reason":"gone","seq":3}`}; !equal(got, want) {
		t.Errorf("A got %q, want %q", got, want)
	}
	dynamotest.CheckInvariants(t, h.db)
}

// TestConnect: $connect records the connection and queues "connected"; it
// posts nothing itself (API Gateway would answer 410).
func TestConnect(t *testing.T) {
	h := newHarness(t)
	if resp := h.invoke(h.event("$connect", "CONNECT", "A", "")); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := h.sender.Take("A"); len(got) != 0 {
		t.Errorf("$connect posted %q", got)
	}
	payloads := h.invoker.Take()
	var queued struct {
		Internal handlers.InternalEvent `json:"slsrtcInternal"`
	}
	if len(payloads) != 1 || json.Unmarshal(payloads[0], &queued) != nil {
		t.Fatalf("queued %q", payloads)
	}
	if ev := queued.Internal; ev.Kind != "connected" || ev.ConnectionID != "A" || ev.RequestID != "req0001" || ev.ParticipantID != "p-A" ||
		ev.ResumeToken == "" || ev.ConnectedAt == 0 {
		t.Errorf("queued %+v, want connected for A with its participant, resume token and connection time", ev)
	}
	if _, ok := h.db.Items(t)[dynamotest.ConnectionKey("A")]; !ok {
		t.Error("connection not recorded")
	}
	// The internal event retries while the handshake is still finishing.
	fails := 2
	h.sender.PostFn = func(context.Context, string, []byte) error {
		if fails > 0 {
			fails--
			return connections.ErrGone
		}
		return nil
	}
	if out, err := h.router.Invoke(context.Background(), payloads[0]); err != nil || string(out) != "null" {
		t.Fatalf("internal invoke = %s, %v", out, err)
	}
	want := fmt.Sprintf(`{"type":"connected","body":"A","participantID":"p-A","resumeToken":%q,"expiresAt":%d,"idleTimeoutMs":600000}`,
		queued.Internal.ResumeToken, queued.Internal.ConnectedAt+2*3600*1000)
	if got := h.sender.Take("A"); !equal(got, []string{want}) {
		t.Errorf("A got %q, want %q", got, want)
	}
}

// TestConnectedRetries: the internal event that posts "connected" tries
// again while API Gateway answers 410 (the handshake finishing) and when a
// post fails otherwise (throttled past the SDK's own attempts), within
// bounds; a payload API Gateway refuses is not tried again. The client gets
// the frame once, or nothing: an ERROR line, unless it left (still 410).
func TestConnectedRetries(t *testing.T) {
	throttled := errors.New("post to connection: StatusCode: 429, LimitExceededException")
	many := func(err error, n int) []error { return slices.Repeat([]error{err}, n) }
	tests := []struct {
		name      string
		answers   []error // of the posts in turn; then nil
		wantPosts int
		wantFrame bool
		wantError bool // an ERROR invocation line
	}{
		{"at once", nil, 1, true, false},
		{"gone while the handshake finishes", many(connections.ErrGone, 2), 3, true, false},
		{"throttled past the SDK's attempts", many(throttled, 3), 4, true, false},
		{"gone, then throttled", []error{connections.ErrGone, throttled, connections.ErrGone, throttled}, 5, true, false},
		{"throttled for good", many(throttled, 10), 5, false, true},
		{"gone for good: the client left", many(connections.ErrGone, 10), 7, false, false},
		{"too large", []error{connections.ErrPayloadTooLarge}, 1, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // the waits are real
			h := newHarness(t)
			h.invoke(h.event("$connect", "CONNECT", "A", ""))
			payloads := h.invoker.Take()
			if len(payloads) != 1 {
				t.Fatalf("queued %q", payloads)
			}
			posts := 0
			h.sender.PostFn = func(context.Context, string, []byte) error {
				posts++
				if posts <= len(tt.answers) {
					return tt.answers[posts-1]
				}
				return nil
			}
			_, err := h.router.Invoke(context.Background(), payloads[0])
			if err != nil {
				t.Fatalf("internal invoke: %v", err)
			}
			if posts != tt.wantPosts {
				t.Errorf("%d posts, want %d", posts, tt.wantPosts)
			}
			got := h.sender.Take("A")
			if (len(got) == 1) != tt.wantFrame || len(got) > 1 {
				t.Errorf("A got %q; want the connected frame: %v", got, tt.wantFrame)
			}
			if failed := strings.Contains(h.logs.String(), `"level":"ERROR","msg":"invocation"`); failed != tt.wantError {
				t.Errorf("an ERROR invocation line: %v, want %v:\n%s", failed, tt.wantError, h.logs.String())
			}
		})
	}
}

// TestConnectFailures: a $connect that cannot record the connection or queue
// "connected" rejects the handshake and leaves nothing behind.
func TestConnectFailures(t *testing.T) {
	t.Run("invoke fails", func(t *testing.T) {
		h := newHarness(t)
		h.invoker.Err = errBoom
		if resp := h.invoke(h.event("$connect", "CONNECT", "A", "")); resp.StatusCode != 500 {
			t.Errorf("status %d, want 500", resp.StatusCode)
		}
		if items := h.db.Items(t); len(items) != 0 {
			t.Errorf("table holds %v", items)
		}
		if !strings.Contains(h.logs.String(), `"outcome":"error"`) || !strings.Contains(h.logs.String(), "boom") {
			t.Errorf("the failure is not logged with its cause:\n%s", h.logs.String())
		}
	})
	t.Run("duplicate connection ID", func(t *testing.T) {
		h := newHarness(t)
		h.connect("A")
		ev := h.event("$connect", "CONNECT", "A", "")
		ev.RequestContext.ConnectedAt -= 1000 // another connection with the same ID
		if resp := h.invoke(ev); resp.StatusCode != 500 {
			t.Errorf("status %d, want 500", resp.StatusCode)
		}
	})
}

// TestInternalErrorIsSafe: an unexpected store failure reaches the client as
// "internal" without details, and the log has the cause.
func TestInternalErrorIsSafe(t *testing.T) {
	h := newHarness(t)
	h.connect("A")
	h.db.Server.EmulateFailure("internal_server")
	defer h.db.Server.EmulateFailure("none")
	resp := h.send("A", `{"action":"createroom"}`)
	if resp.StatusCode != 500 {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if got, want := h.sender.Take("A"), []string{`{"type":"error","code":"internal","message":"internal error; try again","action":"createroom"}`}; !equal(got, want) {
		t.Errorf("A got %q, want %q", got, want)
	}
	if !strings.Contains(h.logs.String(), "emulated error") {
		t.Errorf("cause not logged:\n%s", h.logs.String())
	}
}

// TestPanicIsContained: a panicking handler answers 500 and "internal".
func TestPanicIsContained(t *testing.T) {
	h := newHarness(t)
	h.connect("A")
	h.sender.PostFn = func(_ context.Context, _ string, data []byte) error {
		if strings.Contains(string(data), "pong") {
			panic("sender exploded")
		}
		return nil
	}
	if resp := h.send("A", `{"action":"ping"}`); resp.StatusCode != 500 {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if got := h.sender.Take("A"); len(got) != 1 || !strings.Contains(got[0], `"code":"internal"`) {
		t.Errorf("A got %q", got)
	}
	if !strings.Contains(h.logs.String(), "sender exploded") {
		t.Error("panic not logged")
	}
}

var _ = errors.Is

// outageStore fails the room read after an enter, and the enter's undo
// finds the connection gone (the client disconnected meanwhile).
type outageStore struct {
	handlers.Store
}

func (outageStore) Roster(context.Context, string) (dynamo.Roster, error) {
	return dynamo.Roster{}, errBoom
}

func (outageStore) Leave(context.Context, string) (dynamo.Member, error) {
	return dynamo.Member{}, dynamo.ErrConnectionNotFound
}

// TestOutageAfterEnterIsInternal (review defect 1): when the read after an
// enter fails and the undo finds the client gone, the failure is an outage:
// 500, "internal", an ERROR line and the InternalErrors metric — not a 403
// rejection that hides it from the alarm.
func TestOutageAfterEnterIsInternal(t *testing.T) {
	h := newHarness(t, withStore(func(s handlers.Store) handlers.Store { return outageStore{s} }))
	h.connect("A")
	room := h.createRoom("A", 0)
	resp := h.send("A", `{"action":"enterroom","roomID":"`+room+`"}`)
	if resp.StatusCode != 500 {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if got, want := h.sender.Take("A"), []string{`{"type":"error","code":"internal","message":"internal error; try again","action":"enterroom"}`}; !equal(got, want) {
		t.Errorf("A got %q, want %q", got, want)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `"level":"ERROR","msg":"invocation"`) || !strings.Contains(logs, "boom") {
		t.Errorf("no ERROR invocation line with the cause:\n%s", logs)
	}
	if !strings.Contains(h.metrics.String(), `"InternalErrors":1`) {
		t.Errorf("no InternalErrors metric:\n%s", h.metrics.String())
	}
}

// slowStore's room read never answers before its context ends.
type slowStore struct {
	handlers.Store
	undone chan error
}

func (slowStore) Roster(ctx context.Context, _ string) (dynamo.Roster, error) {
	<-ctx.Done()
	return dynamo.Roster{}, ctx.Err()
}

func (s slowStore) Leave(ctx context.Context, id string) (dynamo.Member, error) {
	m, err := s.Store.Leave(ctx, id)
	s.undone <- err
	return m, err
}

// TestDeadlineLeavesTimeToCleanUp: a handler whose call runs into the
// function's deadline still has time to undo the enter, tell the client and
// log: the handler's own deadline comes before the invocation's.
func TestDeadlineLeavesTimeToCleanUp(t *testing.T) {
	undone := make(chan error, 1)
	h := newHarness(t, withStore(func(s handlers.Store) handlers.Store { return slowStore{Store: s, undone: undone} }))
	h.connect("A")
	room := h.createRoom("A", 0)
	payload, _ := json.Marshal(h.event("enterroom", "MESSAGE", "A", `{"action":"enterroom","roomID":"`+room+`"}`))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	out, err := h.router.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Error("the invocation ran past its deadline")
	}
	if !strings.Contains(string(out), `"statusCode":500`) {
		t.Errorf("response %s, want 500", out)
	}
	if err := <-undone; err != nil {
		t.Errorf("undo of the enter: %v", err)
	}
	if c, err := h.store.Connection(context.Background(), "A"); err != nil || c.RoomID != "" {
		t.Errorf("A after the undone enter: %+v, %v; want in no room", c, err)
	}
	if got := h.sender.Take("A"); len(got) != 1 || !strings.Contains(got[0], `"code":"internal"`) {
		t.Errorf("A got %q, want the internal error", got)
	}
	if !strings.Contains(h.logs.String(), "context deadline exceeded") {
		t.Errorf("the timeout is not logged:\n%s", h.logs.String())
	}
}
