package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// TestGrantIsEnforced: what a token allows is stored with the connection
// and enforced by the transactions themselves; a refusal writes nothing.
func TestGrantIsEnforced(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		grant   dynamo.Grant
		op      func(f *fixture, room string) error
		wantErr error
	}{
		{"no token: create", dynamo.Grant{}, func(f *fixture, _ string) error {
			_, err := f.store.CreateRoom(ctx, "c", 2)
			return err
		}, nil},
		{"create not granted", dynamo.Grant{Granted: true}, func(f *fixture, _ string) error {
			_, err := f.store.CreateRoom(ctx, "c", 2)
			return err
		}, dynamo.ErrCreateNotAllowed},
		{"create granted", dynamo.Grant{Granted: true, Create: true}, func(f *fixture, _ string) error {
			_, err := f.store.CreateRoom(ctx, "c", 2)
			return err
		}, nil},
		{"a room of the list", dynamo.Grant{Granted: true, Rooms: []string{"other", "{room}"}}, func(f *fixture, room string) error {
			_, err := f.store.Enter(ctx, "c", room, "", "")
			return err
		}, nil},
		{"a room not in the list", dynamo.Grant{Granted: true, Rooms: []string{"other"}}, func(f *fixture, room string) error {
			_, err := f.store.Enter(ctx, "c", room, "", "")
			return err
		}, dynamo.ErrRoomNotAllowed},
		{"the pinned name", dynamo.Grant{Granted: true, PinnedName: "Alice", PinnedKey: "alice"}, func(f *fixture, room string) error {
			_, err := f.store.Enter(ctx, "c", room, "ALICE", "alice")
			return err
		}, nil},
		{"another name", dynamo.Grant{Granted: true, PinnedName: "Alice", PinnedKey: "alice"}, func(f *fixture, room string) error {
			_, err := f.store.Enter(ctx, "c", room, "bob", "bob")
			return err
		}, &dynamo.NamePinnedError{Name: "Alice"}},
		{"no name when one is pinned", dynamo.Grant{Granted: true, PinnedName: "Alice", PinnedKey: "alice"}, func(f *fixture, room string) error {
			_, err := f.store.Enter(ctx, "c", room, "", "")
			return err
		}, &dynamo.NamePinnedError{Name: "Alice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.connect(t, "owner")
			room := f.room(t, "owner", 4)
			g := tt.grant
			for i, r := range g.Rooms {
				if r == "{room}" {
					g.Rooms[i] = room
				}
			}
			if _, err := f.store.PutConnection(ctx, "c", f.now, g); err != nil {
				t.Fatal(err)
			}
			before := f.db.Items(t)
			err := tt.op(f, room)
			var pinned *dynamo.NamePinnedError
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("error = %v, want none", err)
				}
			case *dynamo.NamePinnedError:
				if !errors.As(err, &pinned) || pinned.Name != want.Name {
					t.Fatalf("error = %v, want %v", err, want)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("error = %v, want %v", err, want)
				}
			}
			if tt.wantErr != nil {
				assertUnchanged(t, f.db, before)
			}
			dynamotest.CheckInvariants(t, f.db)
		})
	}
}

// TestRoomsPerConnection: a connection creates at most its limit of rooms,
// and a leave (which rewrites the connection) does not reset the count.
func TestRoomsPerConnection(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.store.Limits.RoomsPerConnection = 2
	f.connect(t, "c")
	room := f.room(t, "c", 2)
	f.enter(t, "c", room, "")
	if _, err := f.store.Leave(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	f.room(t, "c", 2)
	before := f.db.Items(t)
	if _, err := f.store.CreateRoom(ctx, "c", 2); !errors.Is(err, dynamo.ErrRoomLimit) {
		t.Fatalf("third room: %v, want ErrRoomLimit", err)
	}
	assertUnchanged(t, f.db, before)
}

// TestMovesPerWindow: enters and leaves together are limited per window;
// the next window starts the count afresh, and the refusal says when.
func TestMovesPerWindow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.now = time.Date(2026, 11, 25, 12, 0, 10, 0, time.UTC)
	f.store.Limits.Moves = dynamo.Rate{N: 3, Per: time.Minute}
	f.connect(t, "c")
	room := f.room(t, "c", 2)
	for i, op := range []func() error{
		func() error { _, err := f.store.Enter(ctx, "c", room, "", ""); return err },
		func() error { _, err := f.store.Leave(ctx, "c"); return err },
		func() error { _, err := f.store.Enter(ctx, "c", room, "", ""); return err },
	} {
		if err := op(); err != nil {
			t.Fatalf("move %d: %v", i+1, err)
		}
	}
	before := f.db.Items(t)
	_, err := f.store.Leave(ctx, "c")
	var limited *dynamo.RateLimitedError
	if !errors.As(err, &limited) || limited.RetryAfter != 50*time.Second {
		t.Fatalf("fourth move: %v, want rate limited for 50s", err)
	}
	assertUnchanged(t, f.db, before)
	f.now = f.now.Add(50 * time.Second) // the next window
	if _, err := f.store.Leave(ctx, "c"); err != nil {
		t.Fatalf("a move in the next window: %v", err)
	}
	if _, err := f.store.Enter(ctx, "c", room, "", ""); err != nil {
		t.Fatalf("a second move in the next window: %v", err)
	}
	dynamotest.CheckInvariants(t, f.db)
}

// TestRelayLimits: Relay charges each message to the sender, refuses past
// the window's budget (saying when it may retry), reports abuse once as many
// again were refused, and starts afresh in the next window. Without a limit
// it is the plain read of both connections.
func TestRelayLimits(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.now = time.Date(2026, 11, 25, 12, 0, 4, 0, time.UTC)
	room := f.pairRoom(t)

	sender, dest, err := f.store.Relay(ctx, "a", "b")
	if err != nil || sender.RoomID != room || dest.RoomID != room {
		t.Fatalf("Relay without limits = %+v, %+v, %v", sender, dest, err)
	}
	if _, dest, err := f.store.Relay(ctx, "a", "nobody"); err != nil || dest.ID != "" {
		t.Fatalf("Relay to nobody = %+v, %v; want no destination", dest, err)
	}
	if _, _, err := f.store.Relay(ctx, "nobody", "b"); !errors.Is(err, dynamo.ErrConnectionNotFound) {
		t.Fatalf("Relay from nobody: %v, want ErrConnectionNotFound", err)
	}

	f.store.Limits.Messages = dynamo.Rate{N: 3, Per: 10 * time.Second}
	f.store.Limits.AbuseAfter = 2
	for i := range 3 {
		if sender, dest, err := f.store.Relay(ctx, "a", "b"); err != nil || sender.RoomID != room || dest.ID != "b" {
			t.Fatalf("message %d: %+v, %+v, %v", i+1, sender, dest, err)
		}
	}
	var limited *dynamo.RateLimitedError
	if _, _, err := f.store.Relay(ctx, "a", "b"); !errors.As(err, &limited) || limited.RetryAfter != 6*time.Second {
		t.Fatalf("fourth message: %v, want rate limited for 6s", err)
	}
	if _, _, err := f.store.Relay(ctx, "a", "b"); !errors.Is(err, dynamo.ErrAbusive) {
		t.Fatalf("fifth message: %v, want ErrAbusive", err)
	}
	if _, _, err := f.store.Relay(ctx, "b", "a"); err != nil {
		t.Fatalf("b's own budget: %v", err)
	}
	f.now = f.now.Add(6 * time.Second)
	if _, _, err := f.store.Relay(ctx, "a", "b"); err != nil {
		t.Fatalf("the next window: %v", err)
	}
	dynamotest.CheckInvariants(t, f.db)
}

// TestRelayLimitIsExactUnderConcurrency: messages from one sender on many
// Lambda instances at once are counted exactly: the budget, no more.
func TestRelayLimitIsExactUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.now = time.Date(2026, 11, 25, 12, 0, 1, 0, time.UTC)
	f.pairRoom(t)
	f.store.Limits.Messages = dynamo.Rate{N: 10, Per: 10 * time.Second}
	results := make(chan error, 30)
	for range cap(results) {
		go func() { _, _, err := f.store.Relay(ctx, "a", "b"); results <- err }()
	}
	counts := map[string]int{}
	for range cap(results) {
		err := <-results
		var limited *dynamo.RateLimitedError
		switch {
		case err == nil:
			counts["ok"]++
		case errors.As(err, &limited):
			counts["limited"]++
		default:
			counts[fmt.Sprint(err)]++
		}
	}
	if counts["ok"] != 10 || counts["limited"] != 20 {
		t.Errorf("outcomes %v, want 10 ok and 20 limited", counts)
	}
}

// updateCounter counts the UpdateItem calls a store makes.
type updateCounter struct {
	dynamo.Client
	n atomic.Int64
}

func (c *updateCounter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.n.Add(1)
	return c.Client.UpdateItem(ctx, in, optFns...)
}

// TestRefusalIsCheapOnAWarmInstance: once an instance has refused a sender
// in a window, its further messages in that window cost one write (the
// refusal counted), not two; abuse is still told from the table's count,
// and the next window charges as usual.
func TestRefusalIsCheapOnAWarmInstance(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.now = time.Date(2026, 11, 25, 12, 0, 1, 0, time.UTC)
	f.pairRoom(t)
	counter := &updateCounter{Client: f.db.Client}
	warm := dynamo.New(counter, f.db.Table)
	warm.Now = func() time.Time { return f.now }
	warm.Limits = dynamo.Limits{Messages: dynamo.Rate{N: 1, Per: 10 * time.Second}, AbuseAfter: 3}

	if _, _, err := warm.Relay(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	var limited *dynamo.RateLimitedError
	for i, want := range []int64{2, 1} { // the first refusal learns, the second knows
		counter.n.Store(0)
		if _, _, err := warm.Relay(ctx, "a", "b"); !errors.As(err, &limited) {
			t.Fatalf("refusal %d: %v, want rate limited", i+1, err)
		}
		if got := counter.n.Load(); got != want {
			t.Errorf("refusal %d made %d UpdateItems, want %d", i+1, got, want)
		}
	}
	if _, _, err := warm.Relay(ctx, "a", "b"); !errors.Is(err, dynamo.ErrAbusive) {
		t.Errorf("third refusal: %v, want ErrAbusive (counted in the table)", err)
	}
	f.now = f.now.Add(10 * time.Second)
	if _, _, err := warm.Relay(ctx, "a", "b"); err != nil {
		t.Errorf("the next window: %v, want the message charged", err)
	}
}

// pairRoom connects a and b and makes them the members of a room of 2.
func (f *fixture) pairRoom(t *testing.T) string {
	t.Helper()
	f.connect(t, "a", "b")
	room := f.room(t, "a", 2)
	f.enter(t, "a", room, "")
	f.enter(t, "b", room, "")
	return room
}

// TestMessageCountersAreOneWrite: every message costs one UpdateItem, the
// first of a window too (its counter, named after the window, is created
// rather than reset), and the sender's item keeps only its current
// counters: the previous window's go with the next charge, older ones
// (after a pause) and legacy ones with the charge after the one that saw
// them.
func TestMessageCountersAreOneWrite(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	start := time.Date(2026, 11, 25, 12, 0, 1, 0, time.UTC)
	f.now = start
	f.pairRoom(t)
	counter := &updateCounter{Client: f.db.Client}
	store := dynamo.New(counter, f.db.Table)
	store.Now = func() time.Time { return f.now }
	store.Limits = dynamo.Limits{Messages: dynamo.Rate{N: 5, Per: 10 * time.Second}, AbuseAfter: 10}
	window := func(at time.Time) int64 { return at.UnixMilli() / 10000 }
	counters := func() []string {
		var names []string
		for name := range f.db.Items(t)[dynamotest.ConnectionKey("a")] {
			if dynamotest.IsRateCounter(name) || name == "msgs" || name == "msgWindow" {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		return names
	}
	// A counter left by the code before counters were named after windows.
	if _, err := f.db.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &f.db.Table, Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "connectionID#a"}, "sk": &types.AttributeValueMemberS{Value: "connection"}},
		UpdateExpression:          aws.String("SET msgWindow = :w, msgs = :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":w": &types.AttributeValueMemberN{Value: "1"}, ":n": &types.AttributeValueMemberN{Value: "3"}},
	}); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name  string
		after time.Duration // since start
		want  []int64       // windows (after start's) of the msgs# counters left
		other []string      // other counters left
	}{
		{"first message: the legacy counters seen", 0, []int64{0}, []string{"msgWindow", "msgs"}},
		{"second: the legacy counters removed", time.Second, []int64{0}, nil},
		{"the next window: the previous one removed", 10 * time.Second, []int64{1}, nil},
		{"after a pause: the old one seen", 45 * time.Second, []int64{1, 4}, nil},
		{"the next message: the old one removed", 46 * time.Second, []int64{4}, nil},
	}
	for _, step := range steps {
		f.now = start.Add(step.after)
		counter.n.Store(0)
		if _, _, err := store.Relay(ctx, "a", "b"); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if n := counter.n.Load(); n != 1 {
			t.Errorf("%s: %d UpdateItems, want 1", step.name, n)
		}
		want := slices.Clone(step.other)
		for _, w := range step.want {
			want = append(want, fmt.Sprintf("msgs#%d", window(start)+w))
		}
		slices.Sort(want)
		if got := counters(); !slices.Equal(got, want) {
			t.Errorf("%s: counters %v, want %v", step.name, got, want)
		}
	}
	dynamotest.CheckInvariants(t, f.db)
}
