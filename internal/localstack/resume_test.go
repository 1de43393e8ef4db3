package localstack_test

import (
	"context"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// withResume gives the stack a resume window of grace seconds.
func withResume(grace string) func(*localstack.Options) {
	return func(o *localstack.Options) {
		o.Getenv = func(name string) string {
			if name == "RESUME_GRACE_SECONDS" {
				return grace
			}
			return ""
		}
	}
}

// resumeRoom is a room with A and B in it, on s.
func resumeRoom(t *testing.T, s *testStack) (a, b *testkit.Client, room string) {
	t.Helper()
	a, b = testkit.Connect(t, s.WebSocketURL), testkit.Connect(t, s.WebSocketURL)
	a.MustSend(t, `{"action":"createroom"}`)
	room = a.Expect(t, "room-created").Body
	a.MustSend(t, `{"action":"enterroom","roomID":"`+room+`","userName":"alice"}`)
	a.Expect(t, "room-members")
	b.MustSend(t, `{"action":"enterroom","roomID":"`+room+`","userName":"bob"}`)
	b.Expect(t, "room-members")
	a.ExpectAbout(t, "enter", b.ID)
	return a, b, room
}

// TestResumeThroughTheStack: B's TCP connection is reset (no close frame:
// $disconnect with 1006). A hears nothing; signals A sends meanwhile are
// held; a new connection with B's token takes B's seat, A gets one resumed
// frame, the resumer gets its room and the held signals in order, and a
// relay to B's old connection ID reaches the new one.
func TestResumeThroughTheStack(t *testing.T) {
	s := newStack(t, withResume("30"))
	a, b, room := resumeRoom(t, s)
	if err := b.Reset(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's $disconnect", func() bool { return s.OpenConnections() == 1 })
	waitFor(t, "B to be away", func() bool {
		item := s.items(t)[dynamotest.ConnectionKey(b.ID)]
		return item != nil && item["awayUntil"] != nil
	})
	for _, c := range []string{"1", "2"} {
		a.MustSend(t, `{"action":"message","dest":"`+b.ID+`","type":"ice-candidate","message":"c`+c+`"}`)
	}
	// Each message is its own invocation, and the ping's may finish first:
	// the signals are held once B's item counts them. (Had C resumed
	// before, a relay would have gone to C at once, maybe ahead of its
	// resumed frame.)
	waitFor(t, "the signals to be held", func() bool {
		n, ok := s.items(t)[dynamotest.ConnectionKey(b.ID)]["pendingSeq"].(float64)
		return ok && n == 2
	})
	a.MustSend(t, `{"action":"ping"}`)
	a.Expect(t, "pong") // nothing came before it: no leave, no error

	c := testkit.Connect(t, s.WebSocketURL)
	c.MustSend(t, `{"action":"resume","token":"`+b.ResumeToken+`"}`)
	self := c.Expect(t, "resumed")
	if self.PreviousConnectionID != b.ID || self.ConnectionID != c.ID || self.ParticipantID != b.ParticipantID ||
		self.UserName != "bob" || self.RoomID != room || self.ResumeToken == "" {
		t.Errorf("the resumer's frame %s: want %s resuming %s (bob) with a new token", self.Raw, c.ID, b.ID)
	}
	members := c.Expect(t, "room-members")
	if len(members.Members) != 2 || members.Members[1].ConnectionID != c.ID {
		t.Errorf("room-members %s: want A and the resumer", members.Raw)
	}
	held := map[string]bool{}
	for range 2 { // each message is its own invocation: held in the order they arrived
		f := c.Expect(t, "ice-candidate")
		held[f.Body] = f.From == a.ID && f.ParticipantID == a.ParticipantID
	}
	if !held["c1"] || !held["c2"] {
		t.Errorf("held signals %v, want c1 and c2 from A", held)
	}
	other := a.Expect(t, "resumed")
	if other.PreviousConnectionID != b.ID || other.ConnectionID != c.ID || other.ResumeToken != "" {
		t.Errorf("A's frame %s: want %s → %s, without the token", other.Raw, b.ID, c.ID)
	}
	a.MustSend(t, `{"action":"message","dest":"`+b.ID+`","type":"offer","message":"again"}`)
	if f := c.Expect(t, "offer"); f.Body != "again" {
		t.Errorf("a relay to the old connection ID: %s", f.Raw)
	}
	dynamotest.CheckInvariants(t, s.db)
}

// TestResumeWindowPasses: nobody resumes B within its window; A's next ping
// frees the seat (leave, reason expired) and reports the signal it sent B
// as undeliverable; a resume after that is session-expired.
func TestResumeWindowPasses(t *testing.T) {
	s := newStack(t, withResume("1"))
	a, b, _ := resumeRoom(t, s)
	if err := b.Reset(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's $disconnect", func() bool { return s.OpenConnections() == 1 })
	a.MustSend(t, `{"action":"message","dest":"`+b.ID+`","type":"offer","message":"x"}`)
	time.Sleep(1500 * time.Millisecond) // past the window; nothing measures it
	a.MustSend(t, `{"action":"ping"}`)
	a.Expect(t, "pong")
	if e := a.Expect(t, "error"); e.Code != "undeliverable" || e.Dest != b.ID || e.Count != 1 {
		t.Errorf("A got %s, want undeliverable (1 signal to B)", e.Raw)
	}
	if l := a.ExpectAbout(t, "leave", b.ID); l.Reason != "expired" {
		t.Errorf("B's leave %s, want reason expired", l.Raw)
	}
	c := testkit.Connect(t, s.WebSocketURL)
	c.MustSend(t, `{"action":"resume","token":"`+b.ResumeToken+`"}`)
	if e := c.Expect(t, "error"); e.Code != "session-expired" {
		t.Errorf("a late resume got %s, want session-expired", e.Raw)
	}
	dynamotest.CheckInvariants(t, s.db)
}

// TestResumeAcrossTheMaximumDuration: the stack closes A and B at their
// maximum duration (1001, as API Gateway does at 2 hours); both come back
// on new connections with their tokens, in their seats, and see each other
// move.
func TestResumeAcrossTheMaximumDuration(t *testing.T) {
	s := newStack(t, withResume("30"), func(o *localstack.Options) { o.MaxDuration = 2 * time.Second })
	a, b, _ := resumeRoom(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, old := range []*testkit.Client{a, b} {
		if err := old.Wait(ctx); err == nil {
			t.Fatal("a connection outlived the maximum duration")
		}
	}
	waitFor(t, "both $disconnects", func() bool { return s.OpenConnections() == 0 })
	c := testkit.Connect(t, s.WebSocketURL)
	c.MustSend(t, `{"action":"resume","token":"`+b.ResumeToken+`"}`)
	if f := c.Expect(t, "resumed"); f.PreviousConnectionID != b.ID {
		t.Errorf("resumed %s, want from %s", f.Raw, b.ID)
	}
	d := testkit.Connect(t, s.WebSocketURL)
	d.MustSend(t, `{"action":"resume","token":"`+a.ResumeToken+`"}`)
	if f := d.Expect(t, "resumed"); f.PreviousConnectionID != a.ID {
		t.Errorf("resumed %s, want from %s", f.Raw, a.ID)
	}
	if f := c.Expect(t, "resumed"); f.PreviousConnectionID != a.ID || f.ConnectionID != d.ID {
		t.Errorf("B's new connection got %s, want A at %s", f.Raw, d.ID)
	}
	d.MustSend(t, `{"action":"message","dest":"`+b.ParticipantID+`","type":"offer","message":"after the cut"}`)
	if f := c.Expect(t, "offer"); f.Body != "after the cut" {
		t.Errorf("a relay after the cut: %s", f.Raw)
	}
}
