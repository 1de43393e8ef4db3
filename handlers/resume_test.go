package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// pid is the participant ID of a connection on a harness with resume: a
// UUID, as the store issues (a relay's dest is read as a participant only
// in that form), derived from the connection ID so that runs compare.
func pid(connectionID string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(connectionID)).String()
}

// ids replaces p-A, p-B, ... in an expected frame with pid("A"), ...
func ids(s string) string {
	return regexp.MustCompile(`p-([A-Z])\b`).ReplaceAllStringFunc(s, func(m string) string { return pid(m[2:]) })
}

// grace is the resume window of the tests in this file.
const grace = 30 * time.Second

// withResume gives the router and the store a resume window of grace and the
// store the clock c.
func withResume(c *testkit.Clock) harnessOption {
	return func(hc *harnessConfig) {
		hc.config = func(cfg *handlers.Config) { cfg.ResumeGrace = grace }
		hc.resume = c
	}
}

// newResumeHarness is a room with A (alice) and B (bob), on a stack with
// resume, and the frames of the entries dropped.
func newResumeHarness(t *testing.T) (h *harness, room string, c *testkit.Clock) {
	t.Helper()
	c = testkit.NewClock(time.Now())
	h = newHarness(t, withResume(c))
	h.connect("A")
	h.connect("B")
	room = h.createRoom("A", 0)
	h.enter("A", room, "alice")
	h.enter("B", room, "bob")
	return h, room, c
}

func (h *harness) disconnectWith(id string, code int64) {
	h.t.Helper()
	ev := h.event("$disconnect", "DISCONNECT", id, "")
	ev.RequestContext.DisconnectStatusCode = code
	if resp := h.invoke(ev); resp.StatusCode != 200 {
		h.t.Fatalf("$disconnect status %d", resp.StatusCode)
	}
}

// resumedFrame is a decoded resumed frame.
type resumedFrame struct {
	Type, RoomID, ConnectionID, PreviousConnectionID, ParticipantID, UserName, ResumeToken string
	Seq                                                                                    int64
}

func decodeResumed(t *testing.T, frame string) resumedFrame {
	t.Helper()
	var f resumedFrame
	if err := json.Unmarshal([]byte(frame), &f); err != nil || f.Type != "resumed" {
		t.Fatalf("%s is not a resumed frame", frame)
	}
	return f
}

// TestResume: a member whose connection dropped keeps its seat and name;
// its room hears nothing; a new connection with its token takes the seat
// over, and the room gets one resumed frame instead of leave and enter.
// Relays to the old connection ID, and to the participant, reach the new.
func TestResume(t *testing.T) {
	h, room, _ := newResumeHarness(t)
	h.disconnectWith("B", 1006)
	if got := h.sender.Take("A"); len(got) != 0 {
		t.Errorf("A got %q when B dropped; want nothing until B resumes or its window passes", got)
	}
	if !strings.Contains(h.logs.String(), "participant away") || !strings.Contains(h.metrics.String(), `"ParticipantsAway":1`) {
		t.Error("going away is neither logged nor counted")
	}
	dynamotest.CheckInvariants(t, h.db)

	// The seat and the name are held.
	h.connect("D")
	if resp := h.send("D", `{"action":"enterroom","roomID":"`+room+`","userName":"Bob"}`); resp.StatusCode != 409 {
		t.Errorf("taking an away member's name: status %d, want 409", resp.StatusCode)
	}
	h.sender.Reset()

	h.connect("C")
	if resp := h.send("C", `{"action":"resume","token":"`+h.tokens["B"]+`"}`); resp.StatusCode != 200 {
		t.Fatalf("resume: status %d: %q", resp.StatusCode, h.sender.Take("C"))
	}
	got := h.sender.Take("C")
	if len(got) != 2 {
		t.Fatalf("C got %q, want resumed then room-members", got)
	}
	self := decodeResumed(t, got[0])
	if self.ConnectionID != "C" || self.PreviousConnectionID != "B" || self.ParticipantID != pid("B") || self.UserName != "bob" ||
		self.RoomID != room || self.ResumeToken == "" || self.ResumeToken == h.tokens["B"] {
		t.Errorf("C's resumed frame %s: want C at B's seat (p-B, bob) with a new token", got[0])
	}
	wantMembers := ids(`{"type":"room-members","roomID":"` + room + `","members":[{"connectionID":"A","participantID":"p-A","userName":"alice"},` +
		`{"connectionID":"C","participantID":"p-B","userName":"bob"}],"seq":` + fmt.Sprint(self.Seq) + `}`)
	if got[1] != wantMembers {
		t.Errorf("C's room-members\n%s\nwant\n%s", got[1], wantMembers)
	}
	wantA := ids(`{"type":"resumed","roomID":"` + room + `","connectionID":"C","previousConnectionID":"B","participantID":"p-B","userName":"bob","seq":` +
		fmt.Sprint(self.Seq) + `}`)
	if got := h.sender.Take("A"); !equal(got, []string{wantA}) {
		t.Errorf("A got %q, want only %s", got, wantA)
	}
	if len(h.sender.Closed()) != 0 {
		t.Errorf("closed %q; B's connection had closed already", h.sender.Closed())
	}
	dynamotest.CheckInvariants(t, h.db)

	for _, dest := range []string{"B", pid("B"), "C"} {
		h.send("A", `{"action":"message","dest":"`+dest+`","type":"offer","message":"to `+dest+`"}`)
		want := ids(`{"type":"offer","body":"to ` + dest + `","from":"A","participantID":"p-A"}`)
		if got := h.sender.Take("C"); !equal(got, []string{want}) {
			t.Errorf("a relay to %s: C got %q, want %s", dest, got, want)
		}
		if got := h.sender.Take("A"); len(got) != 0 {
			t.Errorf("a relay to %s: A got %q", dest, got)
		}
	}

	// The token is spent; the new one works once more (here, from an open
	// connection: the one it replaces is closed).
	h.connect("E")
	if resp := h.send("E", `{"action":"resume","token":"`+h.tokens["B"]+`"}`); resp.StatusCode != 410 {
		t.Errorf("a spent token: status %d, want 410", resp.StatusCode)
	}
	if got := h.sender.Take("E"); len(got) != 1 || !strings.Contains(got[0], `"code":"session-expired"`) {
		t.Errorf("E got %q, want session-expired", got)
	}
	if resp := h.send("E", `{"action":"resume","token":"`+self.ResumeToken+`"}`); resp.StatusCode != 200 {
		t.Fatalf("resume with the next token: status %d", resp.StatusCode)
	}
	if closed := h.sender.Closed(); len(closed) != 1 || closed[0] != "C" {
		t.Errorf("closed %q, want C (still open when E resumed it)", closed)
	}
	if got := h.sender.Take("A"); len(got) != 1 || decodeResumed(t, got[0]).PreviousConnectionID != "C" {
		t.Errorf("A got %q, want one resumed frame from C to E", got)
	}
	before := h.db.Items(t)
	h.disconnectWith("C", 1000) // the $disconnect of the replaced connection
	if got := h.sender.Take("A"); len(got) != 0 {
		t.Errorf("the replaced connection's $disconnect sent A %q", got)
	}
	if after := h.db.Items(t); len(after) != len(before) {
		t.Errorf("the replaced connection's $disconnect changed the table: %d items, then %d", len(before), len(after))
	}
	dynamotest.CheckInvariants(t, h.db)
	if !strings.Contains(h.metrics.String(), `"Resumes":1`) {
		t.Error("resumes are not counted")
	}
}

// TestSignalsHeldWhileAway: signals to an away member — by $disconnect, or
// found gone by the post itself — are kept and delivered in order after its
// resumed frame and room-members; nobody else is bothered.
func TestSignalsHeldWhileAway(t *testing.T) {
	for _, how := range []string{"disconnect", "gone"} {
		t.Run(how, func(t *testing.T) {
			h, _, _ := newResumeHarness(t)
			if how == "disconnect" {
				h.disconnectWith("B", 1001)
			} else {
				h.sender.SetGone("B")
			}
			var want []string
			for i := range 3 {
				body := fmt.Sprintf("candidate %d", i)
				if resp := h.send("A", `{"action":"message","dest":"B","type":"ice-candidate","message":"`+body+`"}`); resp.StatusCode != 200 {
					t.Fatalf("relay %d to an away member: status %d", i, resp.StatusCode)
				}
				want = append(want, ids(`{"type":"ice-candidate","body":"`+body+`","from":"A","participantID":"p-A"}`))
			}
			if got := h.sender.Take("A"); len(got) != 0 {
				t.Errorf("A got %q while B was away", got)
			}
			h.connect("C")
			h.send("C", `{"action":"resume","token":"`+h.tokens["B"]+`"}`)
			got := h.sender.Take("C")
			if len(got) != 5 || !strings.Contains(got[0], `"type":"resumed"`) || !strings.Contains(got[1], `"type":"room-members"`) ||
				!equal(got[2:], want) {
				t.Errorf("C got %q\nwant resumed, room-members, then %q", got, want)
			}
			if !strings.Contains(h.metrics.String(), `"SignalsHeld":1`) {
				t.Error("held signals are not counted")
			}
			dynamotest.CheckInvariants(t, h.db)
		})
	}
}

// TestAwayWindowPasses: a member who does not come back is freed at the
// next event that reads its room after the window (here, A's ping); the
// room hears leave (expired), the sender of a held signal hears it was not
// delivered, the name is free, and a late resume is session-expired.
func TestAwayWindowPasses(t *testing.T) {
	h, room, c := newResumeHarness(t)
	h.disconnectWith("B", 1006)
	h.send("A", `{"action":"message","dest":"`+pid("B")+`","type":"offer","message":"x"}`)
	h.send("A", `{"action":"message","dest":"B","type":"ice-candidate","message":"y"}`)

	c.Advance(grace - time.Second)
	h.send("A", `{"action":"ping"}`)
	if got := h.sender.Take("A"); !equal(got, []string{`{"type":"pong"}`}) {
		t.Errorf("A got %q within the window, want only pong", got)
	}
	c.Advance(2 * time.Second)
	h.send("A", `{"action":"ping"}`)
	got := h.sender.Take("A")
	if len(got) != 3 || got[0] != `{"type":"pong"}` ||
		!strings.Contains(got[1], `"code":"undeliverable"`) || !strings.Contains(got[1], ids(`"dest":"B","participantID":"p-B","count":2`)) ||
		got[2] != ids(`{"type":"leave","roomID":"`+room+`","connectionID":"B","participantID":"p-B","reason":"expired","seq":3}`) {
		t.Errorf("A got %q after the window; want pong, undeliverable for 2 signals to B, and leave (expired) with seq 3, past B's enter (2)", got)
	}
	if r, err := h.store.Room(t.Context(), room); err != nil || r.Members != 1 || r.Away != 0 {
		t.Errorf("room = %+v, %v; want 1 member, none away", r, err)
	}
	dynamotest.CheckInvariants(t, h.db)

	h.connect("C")
	if resp := h.send("C", `{"action":"resume","token":"`+h.tokens["B"]+`"}`); resp.StatusCode != 410 {
		t.Errorf("a late resume: status %d, want 410", resp.StatusCode)
	}
	if got := h.sender.Take("C"); len(got) != 1 || !strings.Contains(got[0], `"code":"session-expired"`) {
		t.Errorf("C got %q, want session-expired", got)
	}
	h.enter("C", room, "bob") // the name is free
	if resp := h.send("A", `{"action":"message","dest":"B","type":"offer","message":"x"}`); resp.StatusCode != 403 {
		t.Errorf("a relay to the expired connection: status %d, want 403", resp.StatusCode)
	}
}

// TestExpiryFoundByALateResume: when nothing read the room after the window,
// the late resume itself frees the seat and tells the room.
func TestExpiryFoundByALateResume(t *testing.T) {
	h, room, c := newResumeHarness(t)
	h.disconnectWith("B", 1006)
	c.Advance(grace + time.Second)
	h.connect("C")
	h.send("C", `{"action":"resume","token":"`+h.tokens["B"]+`"}`)
	if got := h.sender.Take("A"); len(got) != 1 || !strings.Contains(got[0], ids(`"connectionID":"B","participantID":"p-B","reason":"expired"`)) {
		t.Errorf("A got %q, want leave (expired) of B", got)
	}
	if r, err := h.store.Room(t.Context(), room); err != nil || r.Members != 1 {
		t.Errorf("room = %+v, %v; want 1 member", r, err)
	}
	dynamotest.CheckInvariants(t, h.db)
}

// TestNormalClosureLeaves: a client that closes with 1000 meant to go: its
// room is told at once, and its token resumes nothing.
func TestNormalClosureLeaves(t *testing.T) {
	h, room, _ := newResumeHarness(t)
	h.disconnectWith("B", 1000)
	if got, want := h.sender.Take("A"), []string{ids(`{"type":"leave","roomID":"` + room + `","connectionID":"B","participantID":"p-B","reason":"disconnected","seq":3}`)}; !equal(got, want) {
		t.Errorf("A got %q, want %q", got, want)
	}
	h.connect("C")
	if resp := h.send("C", `{"action":"resume","token":"`+h.tokens["B"]+`"}`); resp.StatusCode != 410 {
		t.Errorf("resume after a normal closure: status %d, want 410", resp.StatusCode)
	}
	dynamotest.CheckInvariants(t, h.db)
}

// TestHoldIsBounded: an away member holds at most dynamo.MaxHeldSignals
// signals; past that the sender gets undeliverable, and nothing is stored.
func TestHoldIsBounded(t *testing.T) {
	h, _, _ := newResumeHarness(t)
	h.disconnectWith("B", 1006)
	relay := `{"action":"message","dest":"B","type":"ice-candidate","message":"c"}`
	for i := range dynamo.MaxHeldSignals {
		if resp := h.send("A", relay); resp.StatusCode != 200 {
			t.Fatalf("signal %d: status %d", i, resp.StatusCode)
		}
	}
	before := len(h.db.Items(t))
	if resp := h.send("A", relay); resp.StatusCode != 410 {
		t.Errorf("one signal past the bound: status %d, want 410", resp.StatusCode)
	}
	if got := h.sender.Take("A"); len(got) != 1 || !strings.Contains(got[0], `"code":"undeliverable"`) || !strings.Contains(got[0], `"count":1`) {
		t.Errorf("A got %q, want undeliverable for one signal", got)
	}
	if after := len(h.db.Items(t)); after != before {
		t.Errorf("the refused signal changed the table: %d items, then %d", before, after)
	}
	dynamotest.CheckInvariants(t, h.db)
}

// TestResumeRefusals: what a resume cannot do, each with its typed error and
// the table unchanged.
func TestResumeRefusals(t *testing.T) {
	h, room, _ := newResumeHarness(t)
	h.connect("C")
	before := h.db.Items(t)
	for _, tt := range []struct {
		name, from, body string
		status           int
		code             string
	}{
		{"no token", "C", `{"action":"resume"}`, 400, "invalid-message"},
		{"not a token", "C", `{"action":"resume","token":"nope"}`, 400, "invalid-message"},
		{"too long", "C", `{"action":"resume","token":"` + strings.Repeat("a", 257) + `"}`, 400, "invalid-message"},
		{"a forged secret", "C", `{"action":"resume","token":"` + h.tokens["B"][:len(h.tokens["B"])-4] + `AAAA"}`, 410, "session-expired"},
		{"its own token", "B", `{"action":"resume","token":"` + h.tokens["B"] + `"}`, 410, "session-expired"},
		{"from a member", "A", `{"action":"resume","token":"` + h.tokens["B"] + `"}`, 409, "already-in-room"},
		{"a token of no seat", "C", `{"action":"resume","token":"` + h.tokens["C"] + `"}`, 410, "session-expired"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if resp := h.send(tt.from, tt.body); resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := h.sender.Take(tt.from); len(got) != 1 || !strings.Contains(got[0], `"code":"`+tt.code+`"`) {
				t.Errorf("%s got %q, want %s", tt.from, got, tt.code)
			}
			if got := h.sender.Take("A"); tt.from != "A" && len(got) != 0 {
				t.Errorf("A got %q", got)
			}
		})
	}
	if len(h.db.Items(t)) != len(before) {
		t.Error("a refused resume changed the table")
	}
	h.enter("C", room, "")
	dynamotest.CheckInvariants(t, h.db)

	// On a stack without resume, every token is refused.
	off := newHarness(t)
	off.connect("A")
	if resp := off.send("A", `{"action":"resume","token":"`+off.tokens["A"]+`"}`); resp.StatusCode != 410 {
		t.Errorf("resume on a stack without it: status %d, want 410", resp.StatusCode)
	}
}

// TestAbusiveConnectionCannotResume: a connection closed for flooding is
// out of its room at once (its room told), and its token resumes nothing.
func TestAbusiveConnectionCannotResume(t *testing.T) {
	c := testkit.NewClock(time.Now())
	h := newHarness(t, withResume(c), withLimits(dynamo.Limits{Messages: dynamo.Rate{N: 1, Per: time.Hour}, AbuseAfter: 1}))
	h.connect("A")
	h.connect("B")
	room := h.createRoom("A", 0)
	h.enter("A", room, "")
	h.enter("B", room, "")
	relay := `{"action":"message","dest":"A","type":"offer","message":"x"}`
	for range 3 {
		h.send("B", relay)
	}
	if closed := h.sender.Closed(); len(closed) != 1 || closed[0] != "B" {
		t.Fatalf("closed %q, want B", closed)
	}
	got := h.sender.Take("A")
	if len(got) != 2 || !strings.Contains(got[1], ids(`"connectionID":"B","participantID":"p-B","reason":"disconnected"`)) {
		t.Errorf("A got %q, want B's offer then its leave (disconnected)", got)
	}
	h.disconnectWith("B", 1001)
	h.connect("C")
	if resp := h.send("C", `{"action":"resume","token":"`+h.tokens["B"]+`"}`); resp.StatusCode != 410 {
		t.Errorf("resuming a closed abuser: status %d, want 410", resp.StatusCode)
	}
	dynamotest.CheckInvariants(t, h.db)
}

// TestResumeRacesAnotherResume: A and B both resume ahead of a cut, at
// the same moment (they joined together). C takes over B's seat; while C's
// room-members frame (listing A) is on its way, D takes over A's. C's
// fence finds A's connection gone and D's there: the same participant on
// a new connection, which C must hear as alice resuming, not as alice
// leaving and a new peer entering (a client keyed by participant would
// tear the call down and set it up again).
func TestResumeRacesAnotherResume(t *testing.T) {
	h, room, _ := newResumeHarness(t)
	h.connect("C")
	h.connect("D")
	h.sender.Reset()
	var fired atomic.Bool
	h.sender.PostFn = func(_ context.Context, to string, data []byte) error {
		if to == "C" && strings.Contains(string(data), `"room-members"`) && fired.CompareAndSwap(false, true) {
			if resp := h.send("D", `{"action":"resume","token":"`+h.tokens["A"]+`"}`); resp.StatusCode != 200 {
				t.Errorf("D's resume of A: status %d", resp.StatusCode)
			}
		}
		return nil
	}
	if resp := h.send("C", `{"action":"resume","token":"`+h.tokens["B"]+`"}`); resp.StatusCode != 200 {
		t.Fatalf("C's resume of B: status %d", resp.StatusCode)
	}
	if !fired.Load() {
		t.Fatal("the race was not forced")
	}
	var resumedAToD bool
	for _, frame := range h.sender.Take("C") {
		var f struct{ Type, ConnectionID, PreviousConnectionID, ParticipantID string }
		if err := json.Unmarshal([]byte(frame), &f); err != nil {
			t.Fatal(err)
		}
		switch {
		case f.ParticipantID == pid("A") && (f.Type == "leave" || f.Type == "enter"):
			t.Errorf("C was told %s", frame)
		case f.Type == "resumed" && f.ConnectionID == "D":
			resumedAToD = f.PreviousConnectionID == "A" && f.ParticipantID == pid("A")
		}
	}
	if !resumedAToD {
		t.Error("C was not told that alice resumed on D")
	}
	if got := h.sender.Take("D"); len(got) < 2 || decodeResumed(t, got[0]).ConnectionID != "D" {
		t.Errorf("D got %q, want its resumed frame first", got)
	}
	dynamotest.CheckInvariants(t, h.db)
	_ = room
}
