package dynamo_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// grace is the resume window of these tests.
const grace = 30 * time.Second

// awayFixture is A (alice) and B (bob) in a room of 2, with resume on, and
// B's connection closed: B is away.
func awayFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	f := newFixture(t)
	f.store.ResumeGrace = grace
	f.connect(t, "A", "B")
	room := f.room(t, "A", 2)
	f.enter(t, "A", room, "alice")
	f.enter(t, "B", room, "bob")
	m, err := f.store.Disconnect(context.Background(), "B")
	if err != nil || m.RoomID != room || !m.AwayUntil.Equal(t0.Add(grace)) {
		t.Fatalf("Disconnect(B) = %+v, %v; want B away in %s until %v", m, err, room, t0.Add(grace))
	}
	return f, room
}

// TestDisconnectGoesAway: with resume on, a member whose connection closes
// keeps its seat, its name and its connection item; the room counts it
// away, its roster lists it live and away, and a repeated $disconnect
// changes nothing.
func TestDisconnectGoesAway(t *testing.T) {
	f, room := awayFixture(t)
	ctx := context.Background()
	r, err := f.store.Roster(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Live) != 2 || len(r.Stale) != 0 || r.Room.Members != 2 || r.Room.Away != 1 {
		t.Fatalf("Roster = %+v, want A and B live, 2 members, 1 away", r)
	}
	for _, m := range r.Live {
		if away := !m.AwayUntil.IsZero(); away != (m.ConnectionID == "B") {
			t.Errorf("member %s away = %v", m.ConnectionID, away)
		}
	}
	if _, err := f.store.Enter(ctx, "A", room, "bob", "bob"); !errors.Is(err, dynamo.ErrAlreadyInRoom) {
		t.Fatalf("Enter: %v", err)
	}
	f.connect(t, "C")
	if _, err := f.store.Enter(ctx, "C", room, "", ""); !errors.Is(err, dynamo.ErrRoomFull) {
		t.Errorf("Enter into a room whose away member holds its seat: %v, want ErrRoomFull", err)
	}
	dynamotest.CheckInvariants(t, f.db)
	before := f.db.Items(t)
	if m, err := f.store.Disconnect(ctx, "B"); err != nil || m.AwayUntil.IsZero() {
		t.Errorf("second Disconnect(B) = %+v, %v; want the away member again", m, err)
	}
	assertUnchanged(t, f.db, before)
}

// TestAwayWindowPasses: once its window has passed, an away member is
// stale; Expel gives its seat and name back and removes its connection.
func TestAwayWindowPasses(t *testing.T) {
	f, room := awayFixture(t)
	ctx := context.Background()
	f.now = t0.Add(grace)
	r, err := f.store.Roster(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Live) != 1 || len(r.Stale) != 1 || r.Stale[0].ConnectionID != "B" {
		t.Fatalf("Roster = %+v, want A live and B stale", r)
	}
	m, err := f.store.Expel(ctx, r.Stale[0])
	if err != nil || m.ParticipantID != "p-B" || m.UserName != "bob" {
		t.Fatalf("Expel = %+v, %v", m, err)
	}
	if got, _ := f.store.Room(ctx, room); got.Members != 1 || got.Away != 0 {
		t.Errorf("room after Expel = %+v, want 1 member, none away", got)
	}
	items := f.db.Items(t)
	for _, k := range []string{dynamotest.ConnectionKey("B"), dynamotest.MemberKey(room, "p-B"), dynamotest.NameKey(room, "bob")} {
		if _, ok := items[k]; ok {
			t.Errorf("%s still stored", k)
		}
	}
	dynamotest.CheckInvariants(t, f.db)
}

// TestResume: a new connection with the away participant's token takes its
// seat, name and participant; the old connection becomes a tombstone that
// points at the new one; the room's version moves on and nobody is away.
// The token is spent; the new one resumes again, also from a connection
// that is still open (WasAway false).
func TestResume(t *testing.T) {
	f, room := awayFixture(t)
	ctx := context.Background()
	f.now = t0.Add(grace - time.Second)
	f.connect(t, "B2")
	before, _ := f.store.Room(ctx, room)
	res, err := f.store.Resume(ctx, "B2", f.tokens["B"])
	if err != nil {
		t.Fatal(err)
	}
	want := dynamo.Member{RoomID: room, ParticipantID: "p-B", ConnectionID: "B2", UserName: "bob", NameKey: "bob", JoinedAt: t0}
	if res.Member != want || res.Previous != "B" || !res.WasAway || res.ResumeToken == "" || res.ResumeToken == f.tokens["B"] {
		t.Fatalf("Resume = %+v, want %+v from B, away, with a new token", res, want)
	}
	after, _ := f.store.Room(ctx, room)
	if after.Version != before.Version+1 || after.Members != 2 || after.Away != 0 {
		t.Errorf("room after Resume = %+v, want version %d, 2 members, none away", after, before.Version+1)
	}
	c, err := f.store.Connection(ctx, "B2")
	if err != nil || c.ParticipantID != "p-B" || c.RoomID != room || c.UserName != "bob" || !c.AwayUntil.IsZero() {
		t.Errorf("Connection(B2) = %+v, %v", c, err)
	}
	if _, err := f.store.Connection(ctx, "B"); !errors.Is(err, dynamo.ErrConnectionNotFound) {
		t.Errorf("Connection(B) after Resume: %v, want ErrConnectionNotFound (a tombstone)", err)
	}
	if tomb := f.db.Items(t)[dynamotest.ConnectionKey("B")]; dynamotest.String(tomb["movedTo"]) != "B2" {
		t.Errorf("B's item = %v, want a tombstone pointing at B2", tomb)
	}
	dynamotest.CheckInvariants(t, f.db)

	f.connect(t, "B3")
	if _, err := f.store.Resume(ctx, "B3", f.tokens["B"]); !errors.Is(err, dynamo.ErrSessionExpired) {
		t.Errorf("a spent token: %v, want ErrSessionExpired", err)
	}
	again, err := f.store.Resume(ctx, "B3", res.ResumeToken)
	if err != nil || again.Previous != "B2" || again.WasAway || again.ParticipantID != "p-B" {
		t.Errorf("Resume from an open connection = %+v, %v; want B2 replaced, not away", again, err)
	}
	// The old connection's late $disconnect does nothing.
	before2 := f.db.Items(t)
	for _, id := range []string{"B", "B2"} {
		if m, err := f.store.Disconnect(ctx, id); err != nil || m.RoomID != "" {
			t.Errorf("Disconnect(%s) of a replaced connection = %+v, %v; want a no-op", id, m, err)
		}
	}
	assertUnchanged(t, f.db, before2)
	dynamotest.CheckInvariants(t, f.db)
}

// TestResumeRefused: a token that resumes nothing is refused, and nothing
// is written.
func TestResumeRefused(t *testing.T) {
	f, room := awayFixture(t)
	ctx := context.Background()
	f.connect(t, "N", "idle")
	f.connect(t, "M")
	f.enter(t, "M", f.room(t, "M", 2), "")
	tokenB := f.tokens["B"]
	prefix, secret, _ := strings.Cut(tokenB, ".")
	wrong := prefix + "." + strings.Repeat("A", len(secret))
	tests := []struct {
		name, from, token string
		at                time.Time
		want              error
		seat              bool // the error names B's seat, whose window passed
	}{
		{"not a token", "N", "nonsense", t0, dynamo.ErrBadResumeToken, false},
		{"short secret", "N", prefix + ".AAAA", t0, dynamo.ErrBadResumeToken, false},
		{"wrong secret", "N", wrong, t0, dynamo.ErrSessionExpired, false},
		{"unknown connection", "N", "dW5rbm93bg." + secret, t0, dynamo.ErrSessionExpired, false},
		{"a connection in no room", "N", f.tokens["idle"], t0, dynamo.ErrSessionExpired, false},
		{"itself", "A", f.tokens["A"], t0, dynamo.ErrSessionExpired, false},
		{"from a connection in a room", "M", tokenB, t0, dynamo.ErrAlreadyInRoom, false},
		{"from an unknown connection", "ghost", tokenB, t0, dynamo.ErrConnectionNotFound, false},
		{"window passed", "N", tokenB, t0.Add(grace), dynamo.ErrSessionExpired, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.now = tt.at
			before := f.db.Items(t)
			_, err := f.store.Resume(ctx, tt.from, tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Resume = %v, want %v", err, tt.want)
			}
			var expired *dynamo.SessionExpiredError
			if gotSeat := errors.As(err, &expired) && expired.Seat.RoomID == room; gotSeat != tt.seat {
				t.Errorf("error %#v names the seat: %v, want %v", err, gotSeat, tt.seat)
			}
			assertUnchanged(t, f.db, before)
		})
	}
}

// TestResumeRaces: of two new connections resuming with one token, exactly
// one gets the seat; a signal held while the participant resumes is either
// counted by the resume or refused as moved, never lost; a resume racing the
// old connection's $disconnect wins
// either way (before it, the disconnect finds a tombstone; after, the seat
// is away); the table holds its invariants throughout.
func TestResumeRaces(t *testing.T) {
	t.Run("one token, two connections", func(t *testing.T) {
		for range 5 {
			f, _ := awayFixture(t)
			f.connect(t, "X", "Y")
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, id := range []string{"X", "Y"} {
				wg.Go(func() { _, errs[i] = f.store.Resume(context.Background(), id, f.tokens["B"]) })
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, dynamo.ErrSessionExpired):
					t.Errorf("loser got %v, want ErrSessionExpired", err)
				}
			}
			if won != 1 {
				t.Errorf("%d resumes won, want 1: %v", won, errs)
			}
			dynamotest.CheckInvariants(t, f.db)
		}
	})
	t.Run("a signal held while the participant resumes", func(t *testing.T) {
		for range 5 {
			f, _ := awayFixture(t)
			f.connect(t, "X")
			var wg sync.WaitGroup
			var holdErr, resumeErr error
			var res dynamo.Resumed
			wg.Go(func() {
				holdErr = f.store.Hold(context.Background(), "B", dynamo.Held{From: "A", FromParticipant: "p-A", Frame: []byte(`{"type":"offer"}`)})
			})
			wg.Go(func() { res, resumeErr = f.store.Resume(context.Background(), "X", f.tokens["B"]) })
			wg.Wait()
			if resumeErr != nil {
				t.Fatalf("Resume: %v", resumeErr)
			}
			var moved *dynamo.MovedError
			switch {
			case holdErr == nil && res.Held == 1: // held first: the resume read it
			case errors.As(holdErr, &moved) && moved.To == "X" && res.Held == 0: // resumed first: deliver to X
			default:
				t.Errorf("Hold: %v; Resume held %d; want the signal held and counted, or refused as moved to X", holdErr, res.Held)
			}
			dynamotest.CheckInvariants(t, f.db)
		}
	})
	t.Run("resume and the old connection's disconnect", func(t *testing.T) {
		for range 5 {
			f := newFixture(t)
			f.store.ResumeGrace = grace
			f.connect(t, "A", "B", "B2")
			room := f.room(t, "A", 2)
			f.enter(t, "A", room, "alice")
			f.enter(t, "B", room, "bob")
			var wg sync.WaitGroup
			var resumeErr, disconnectErr error
			wg.Go(func() { _, resumeErr = f.store.Resume(context.Background(), "B2", f.tokens["B"]) })
			wg.Go(func() { _, disconnectErr = f.store.Disconnect(context.Background(), "B") })
			wg.Wait()
			if resumeErr != nil || disconnectErr != nil {
				t.Fatalf("Resume: %v; Disconnect: %v", resumeErr, disconnectErr)
			}
			r, err := f.store.Roster(context.Background(), room)
			if err != nil || len(r.Live) != 2 || r.Room.Away != 0 || !r.Has("B2") {
				t.Errorf("Roster = %+v, %v; want A and B2, none away", r, err)
			}
			dynamotest.CheckInvariants(t, f.db)
		}
	})
}
