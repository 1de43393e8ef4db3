package reliability_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/emulator/chaos"
	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/stacktest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

var soakSeed = flag.Int64("soak.seed", 0, "seed of TestPresenceSoak (0: a new one; a failure prints the one it used)")

// soakProfile is AWS at its worst, scaled to a test that lasts seconds:
// a fifth of the $disconnects lost, the rest up to a second late, slow and
// throttled @connections calls, DynamoDB conflicts, throttling and latency.
func soakProfile(seed int64) chaos.Profile {
	return chaos.Profile{
		Seed:                seed,
		DisconnectLoss:      0.2,
		DisconnectDelay:     chaos.Range{Max: time.Second},
		ConnectionsLatency:  chaos.Range{Min: time.Millisecond, Max: 30 * time.Millisecond},
		ConnectionsThrottle: 0.05,
		DynamoDBConflict:    0.05,
		DynamoDBThrottle:    0.03,
		DynamoDBLatency:     chaos.Range{Min: time.Millisecond, Max: 10 * time.Millisecond},
	}
}

// Sizes of the soak: rooms, members who stay in each from start to end,
// connections that come and go, and how many come and go at once.
const (
	soakRooms    = 3
	soakStayers  = 3
	soakChurners = 45
	soakWorkers  = 9
	soakCapacity = 8
)

// How a churning connection ends.
var soakEndings = []string{"close", "reset", "leave then close", "close at once", "leave, enter another room, reset"}

// TestPresenceSoak: real WebSocket clients churn through a few rooms of a
// local stack in chaos mode — they enter, leave, close, vanish without a
// close frame, close while their enter is still running — while the stack
// loses or delays $disconnects, slows and throttles @connections and makes
// DynamoDB conflict and throttle. Then the rooms go quiet, and:
//
//   - every staying member's view (built from the frames it received, in
//     order, both ignoring and using seq) equals the room's roster, a
//     strongly consistent read of the table;
//   - every roster holds the stayers and at most the members whose
//     $disconnect was lost (ghosts nobody has posted to since), each room's
//     count matches, and the table invariants hold;
//   - after one enter and leave per room (which posts to every member and so
//     finds the ghosts), every roster and every view is exactly the stayers.
//
// The randomness is seeded; a failure prints the seed, and -soak.seed
// replays the same choices (the interleaving still varies).
func TestPresenceSoak(t *testing.T) {
	seed := *soakSeed
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000
	}
	t.Logf("seed %d (replay: go test -run TestPresenceSoak ./internal/reliability -soak.seed=%d)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: go test -run TestPresenceSoak ./internal/reliability -soak.seed=%d", seed, seed)
		}
	})
	s, logs := stacktest.Start(t, localstack.Options{Template: "../../template.yaml", Chaos: soakProfile(seed)})
	t.Cleanup(func() {
		if t.Failed() {
			if f, err := os.CreateTemp("", "soak-*.log"); err == nil {
				_, _ = f.WriteString(logs.String())
				f.Close()
				t.Logf("the function's whole log: %s", f.Name())
			}
		}
	})
	db := &dynamotest.DB{Client: dynamotest.NewClient(s.DynamoDBURL), Table: s.Table}
	store := dynamo.New(db.Client, db.Table)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(uint64(seed), 0x50a4))

	// The stayers: the first of each room creates it.
	rooms := make([]string, soakRooms)
	stayers := make([][]*testkit.Client, soakRooms)
	views := map[*testkit.Client]*testkit.View{}
	for r := range rooms {
		for i := range soakStayers {
			c, err := testkit.Dial(ctx, s.WebSocketURL)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				rooms[r] = mustCreateRoom(ctx, t, c)
			}
			views[c] = c.Watch(rooms[r])
			if err := enterAndWait(ctx, c, rooms[r]); err != nil {
				t.Fatalf("stayer %d of room %d: %v", i, r, err)
			}
			stayers[r] = append(stayers[r], c)
		}
	}

	// The churn.
	type plan struct {
		room, other int
		ending      string
		linger      time.Duration
	}
	plans := make([]plan, soakChurners)
	for i := range plans {
		plans[i] = plan{room: rng.IntN(soakRooms), other: rng.IntN(soakRooms), ending: soakEndings[rng.IntN(len(soakEndings))],
			linger: time.Duration(rng.IntN(200)) * time.Millisecond}
	}
	var mu sync.Mutex
	outcomes := map[string]int{}
	var failures []string
	count := func(what string) { mu.Lock(); outcomes[what]++; mu.Unlock() }
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	work := make(chan plan)
	var wg sync.WaitGroup
	for range soakWorkers {
		wg.Go(func() {
			for p := range work {
				if err := churn(ctx, s.WebSocketURL, rooms, p.room, p.other, p.ending, p.linger, count); err != nil {
					fail("%s in room %d: %v", p.ending, p.room, err)
				}
			}
		})
	}
	for _, p := range plans {
		work <- p
	}
	close(work)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("churn: %v; chaos: %+v", outcomes, s.ChaosStats())

	// Quiet: no invocation running, no $disconnect pending.
	if err := s.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	dropped := s.ChaosStats().DroppedDisconnects
	for r, room := range rooms {
		stay := ids2(stayers[r])
		roster := checkRoster(ctx, t, store, room, stay, dropped)
		for _, c := range stayers[r] {
			waitView(ctx, t, fmt.Sprintf("%s in room %d", c.ID, r), views[c], roster)
		}
	}
	dynamotest.CheckInvariants(t, db)

	// One enter and leave per room posts to every member: ghosts are found.
	for r, room := range rooms {
		p, err := testkit.Dial(ctx, s.WebSocketURL)
		if err != nil {
			t.Fatal(err)
		}
		if err := enterAndWait(ctx, p, room); err != nil {
			t.Fatalf("probe of room %d: %v", r, err)
		}
		if err := p.Send(ctx, `{"action":"leaveroom"}`); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Next(ctx, func(f testkit.Frame) bool { return f.Type == "leave" && f.ConnectionID == p.ID }); err != nil {
			t.Fatalf("probe of room %d: %v", r, err)
		}
		_ = p.Close()
	}
	if err := s.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	for r, room := range rooms {
		stay := ids2(stayers[r])
		checkRoster(ctx, t, store, room, stay, nil)
		for _, c := range stayers[r] {
			waitView(ctx, t, fmt.Sprintf("%s in room %d after the probe", c.ID, r), views[c], stay)
		}
	}
	dynamotest.CheckInvariants(t, db)
}

// churn runs one connection that comes and goes.
func churn(ctx context.Context, url string, rooms []string, room, other int, ending string, linger time.Duration, count func(string)) error {
	c, err := testkit.Dial(ctx, url)
	if err != nil {
		return err
	}
	defer c.Reset() //nolint:errcheck // whatever is left of it
	if ending == "close at once" {
		if err := c.Send(ctx, enterBody(rooms[room], "")); err != nil {
			return err
		}
		count(ending)
		return c.Close()
	}
	if err := enterAndWait(ctx, c, rooms[room]); err != nil {
		if errors.Is(err, errRoomFull) {
			count("room-full")
			return c.Close()
		}
		return err
	}
	count("entered")
	time.Sleep(linger)
	switch ending {
	case "close":
		err = c.Close()
	case "reset":
		err = c.Reset()
	case "leave then close":
		if err = leaveAndWait(ctx, c); err == nil {
			err = c.Close()
		}
	case "leave, enter another room, reset":
		if err = leaveAndWait(ctx, c); err != nil {
			break
		}
		if err = enterAndWait(ctx, c, rooms[other]); errors.Is(err, errRoomFull) {
			err = nil
		}
		if err == nil {
			err = c.Reset()
		}
	}
	count(ending)
	return err
}

var errRoomFull = errors.New("room-full")

// enterAndWait enters room and waits for the room-members frame, or the
// error frame that refuses it (room-full is errRoomFull).
func enterAndWait(ctx context.Context, c *testkit.Client, room string) error {
	if err := c.Send(ctx, enterBody(room, "")); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	f, err := c.Next(ctx, func(f testkit.Frame) bool {
		return f.Type == "room-members" || f.Type == "error" || strings.HasPrefix(string(f.Raw), `{"message":`)
	})
	switch {
	case err != nil:
		return fmt.Errorf("enter %s: %w", room, err)
	case f.Type == "error" && f.Code == "room-full":
		return errRoomFull
	case f.Type != "room-members":
		return fmt.Errorf("enter %s: %s", room, f.Raw)
	}
	return nil
}

func leaveAndWait(ctx context.Context, c *testkit.Client) error {
	if err := c.Send(ctx, `{"action":"leaveroom"}`); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	f, err := c.Next(ctx, func(f testkit.Frame) bool {
		return f.Type == "leave" && f.ConnectionID == c.ID || f.Type == "error" || strings.HasPrefix(string(f.Raw), `{"message":`)
	})
	if err == nil && f.Type != "leave" {
		err = fmt.Errorf("leave: %s", f.Raw)
	}
	return err
}

func mustCreateRoom(ctx context.Context, t *testing.T, c *testkit.Client) string {
	t.Helper()
	if err := c.Send(ctx, fmt.Sprintf(`{"action":"createroom","capacity":%d}`, soakCapacity)); err != nil {
		t.Fatal(err)
	}
	f, err := c.Next(ctx, func(f testkit.Frame) bool { return f.Type == "room-created" || f.Type == "error" })
	if err != nil || f.Type != "room-created" {
		t.Fatalf("createroom: %s, %v", f.Raw, err)
	}
	return f.Body
}

func ids2(cs []*testkit.Client) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	slices.Sort(out)
	return out
}

// checkRoster reads a room and checks it: every stayer in it, nobody else
// but ghosts (connections whose $disconnect was lost), no stale member, and
// a count that matches. It returns the live members, sorted.
func checkRoster(ctx context.Context, t *testing.T, store *dynamo.Store, room string, stayers, ghosts []string) []string {
	t.Helper()
	r, err := store.Roster(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, m := range r.Live {
		live = append(live, m.ConnectionID)
		if !slices.Contains(stayers, m.ConnectionID) && !slices.Contains(ghosts, m.ConnectionID) {
			t.Errorf("room %s holds %s, neither a stayer nor a lost $disconnect", room, m.ConnectionID)
		}
	}
	slices.Sort(live)
	for _, id := range stayers {
		if !slices.Contains(live, id) {
			t.Errorf("room %s lost its stayer %s (roster %v)", room, id, live)
		}
	}
	if len(r.Stale) > 0 || r.Room.Members != len(live) {
		t.Errorf("room %s: %d stale, counts %d members for %d live", room, len(r.Stale), r.Room.Members, len(live))
	}
	return live
}

// waitView waits until a view equals want (frames may still be on their
// way once the stack is quiet), and fails with the difference if it does
// not within a few seconds.
func waitView(ctx context.Context, t *testing.T, who string, v *testkit.View, want []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		naive, ordered := v.Naive(), v.Ordered()
		if slices.Equal(naive, want) && slices.Equal(ordered, want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("%s sees %v (frames in order) and %v (by seq); the room holds %v", who, naive, ordered, want)
			for _, id := range slices.Concat(naive, ordered) {
				if !slices.Contains(want, id) {
					t.Logf("  the frames it got about %s:\n    %s", id, strings.Join(v.History(id), "\n    "))
				}
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}
