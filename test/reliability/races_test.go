package reliability_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sync"
	"testing"

	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// parallel runs f(0..n-1) in n goroutines released at once, and waits.
func parallel(n int, f func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

// connectAll connects the ids, 16 at a time.
func (e *env) connectAll(ids []string) {
	e.t.Helper()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if s := e.connect(id); s != 200 {
				e.t.Errorf("$connect %s: status %d", id, s)
			}
		}()
	}
	wg.Wait()
	if e.t.Failed() {
		e.t.FailNow()
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

// TestEnterRoomCapacityRace: 200 connections enter a capacity-8 room at
// once, 20 times over: exactly 8 get in and 192 get room-full, the room
// counts 8, and every member learns of every other member.
func TestEnterRoomCapacityRace(t *testing.T) {
	const clients, capacity, reps = 200, 8, 20
	for rep := range reps {
		// A fresh table each time: minidyn copies the table for every
		// transaction, so this keeps each repetition as cheap as the first.
		e := newEnv(t)
		conns := ids("c", clients)
		e.connectAll(append(conns, "owner"))
		room := e.createRoom("owner", capacity)

		status := make([]int, clients)
		parallel(clients, func(i int) { status[i] = e.send(conns[i], enterBody(room, "")) })

		var winners []string
		knows := map[string]map[string]bool{} // winner → members it was told of
		for i, id := range conns {
			fs := e.sender.take(id)
			switch status[i] {
			case 200:
				winners = append(winners, id)
				knows[id] = checkMemberFrames(t, id, room, fs)
			case 409:
				if len(fs) != 1 || fs[0].Type != "error" || fs[0].Code != "room-full" {
					t.Errorf("rep %d: refused %s got %v, want one room-full error", rep, id, fs)
				}
			default:
				t.Errorf("rep %d: %s got status %d, frames %v", rep, id, status[i], fs)
			}
		}
		if len(winners) != capacity {
			t.Fatalf("rep %d: %d connections entered a room of capacity %d", rep, len(winners), capacity)
		}
		// With an index that is read after the enter's write (minidyn's is
		// immediate), the later of two joiners lists the earlier, and the
		// earlier is told of the later.
		for _, x := range winners {
			for _, y := range winners {
				if !knows[x][y] {
					t.Errorf("rep %d: %s was never told of %s", rep, x, y)
				}
			}
		}
		r, err := e.store.Room(context.Background(), room)
		if err != nil || r.Members != capacity {
			t.Errorf("rep %d: room = %+v, %v; want %d members", rep, r, err, capacity)
		}
		listed, err := e.store.Roster(context.Background(), room)
		if err != nil || len(listed.Live) != capacity {
			t.Errorf("rep %d: Roster = %+v, %v", rep, listed, err)
		}
		dynamotest.CheckInvariants(t, e.db)
		if t.Failed() {
			return
		}
	}
}

// checkMemberFrames: a member that entered got its own "enter" and one
// "room-members" listing itself, and "enter" only for others of its room.
// It returns the members id was told of (listed or entering).
func checkMemberFrames(t *testing.T, id, room string, fs []frame) map[string]bool {
	t.Helper()
	told := map[string]bool{}
	rosters, self := 0, 0
	for _, f := range fs {
		switch {
		case f.RoomID != room:
			t.Errorf("%s got a frame of another room: %v", id, f)
		case f.Type == "room-members":
			rosters++
			for _, m := range f.Members {
				told[m.ConnectionID] = true
			}
			if !told[id] || len(f.Members) > 8 {
				t.Errorf("%s got roster %v", id, f)
			}
		case f.Type == "enter":
			told[f.ConnectionID] = true
			if f.ConnectionID == id {
				self++
			}
		default:
			t.Errorf("%s got unexpected %v", id, f)
		}
	}
	if rosters != 1 || self != 1 {
		t.Errorf("%s got %d rosters and %d own enter frames in %v", id, rosters, self, fs)
	}
	return told
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestCreateRoomRace: 50 connections create a room at once and get 50
// distinct rooms, each stored empty.
func TestCreateRoomRace(t *testing.T) {
	const n = 50
	e := newEnv(t)
	conns := ids("c", n)
	e.connectAll(conns)
	status := make([]int, n)
	parallel(n, func(i int) { status[i] = e.send(conns[i], `{"action":"createroom","capacity":4}`) })
	rooms := map[string]bool{}
	for i, id := range conns {
		fs := e.sender.take(id)
		if status[i] != 200 || len(fs) != 1 || fs[0].Type != "room-created" || !uuidV4.MatchString(fs[0].Body) {
			t.Fatalf("%s: status %d, frames %v", id, status[i], fs)
		}
		rooms[fs[0].Body] = true
	}
	if len(rooms) != n {
		t.Errorf("%d distinct rooms from %d createroom", len(rooms), n)
	}
	for id := range rooms {
		r, err := e.store.Room(context.Background(), id)
		if err != nil || r.Members != 0 || r.Capacity != 4 {
			t.Errorf("room %s = %+v, %v", id, r, err)
		}
	}
	dynamotest.CheckInvariants(t, e.db)
}

// TestSameNameRace: two connections enter one room under the same name at
// the same moment: one gets in, the other gets name-taken, 20 times over.
func TestSameNameRace(t *testing.T) {
	e := newEnv(t)
	for rep := range 20 {
		a, b := fmt.Sprintf("a%02d", rep), fmt.Sprintf("b%02d", rep)
		e.mustConnect(a, b)
		room := e.createRoom(a, 4)
		var status [2]int
		parallel(2, func(i int) { status[i] = e.send([]string{a, b}[i], enterBody(room, "alice")) })
		winner, loser := a, b
		if status[0] != 200 {
			winner, loser = b, a
		}
		if status[0]+status[1] != 200+409 {
			t.Fatalf("rep %d: statuses %v, want one 200 and one 409", rep, status)
		}
		if fs := e.sender.take(loser); len(fs) != 1 || fs[0].Code != "name-taken" {
			t.Errorf("rep %d: %s got %v, want name-taken", rep, loser, fs)
		}
		r, err := e.store.Roster(context.Background(), room)
		members := r.Live
		if err != nil || len(members) != 1 || members[0].ConnectionID != winner || members[0].UserName != "alice" {
			t.Errorf("rep %d: members %+v, %v; want %s as alice", rep, members, err, winner)
		}
		e.sender.reset()
	}
	dynamotest.CheckInvariants(t, e.db)
}

// TestMembershipChurn: the same connections enter, leave, disconnect and
// enter again all at once, while fan-outs find some of them gone. Every
// answer is a success or a typed refusal, never "internal", and after each
// round the table invariants hold.
func TestMembershipChurn(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	e := newEnv(t)
	e.mustConnect("owner")
	rooms := []string{e.createRoom("owner", 4), e.createRoom("owner", 4), e.createRoom("owner", 3)}
	names := []string{"", "ann", "bob", "cy"}
	allowed := map[int]bool{200: true, 403: true, 409: true}

	for round := range 12 {
		conns := ids(fmt.Sprintf("r%02d-", round), 12)
		e.connectAll(conns)
		type op struct{ id, body string }
		var ops []op
		for _, id := range conns {
			room := rooms[rng.IntN(len(rooms))]
			ops = append(ops,
				op{id, enterBody(room, names[rng.IntN(len(names))])},
				op{id, `{"action":"leaveroom"}`},
				op{id, "$disconnect"},
				op{id, enterBody(rooms[rng.IntN(len(rooms))], names[rng.IntN(len(names))])},
				op{id, relayBody(conns[rng.IntN(len(conns))], "offer", "x")},
			)
		}
		rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		// Some connections vanish without a $disconnect: fan-outs find them gone.
		e.sender.setGone(conns[rng.IntN(len(conns))], conns[rng.IntN(len(conns))])
		parallel(len(ops), func(i int) {
			o := ops[i]
			var s int
			if o.body == "$disconnect" {
				s = e.disconnect(o.id)
			} else {
				s = e.send(o.id, o.body)
			}
			if !allowed[s] {
				t.Errorf("round %d: %s %s: status %d", round, o.id, o.body, s)
			}
		})
		for _, id := range conns {
			for _, f := range e.sender.take(id) {
				if f.Type == "error" && f.Code == "internal" {
					t.Errorf("round %d: %s got %v", round, id, f)
				}
			}
		}
		dynamotest.CheckInvariants(t, e.db)
		if t.Failed() {
			t.Fatalf("round %d broke (seed %d)", round, seed)
		}
		// Everyone left over disconnects, as API Gateway would eventually.
		parallel(len(conns), func(i int) { e.disconnect(conns[i]) })
		dynamotest.CheckInvariants(t, e.db)
	}
	for _, room := range rooms {
		if r, err := e.store.Room(context.Background(), room); err != nil || r.Members != 0 {
			t.Errorf("room %s after everyone left: %+v, %v", room, r, err)
		}
	}
}
