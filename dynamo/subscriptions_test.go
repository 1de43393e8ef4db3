package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// sub returns a subscription to room whose endpoint (and ID) is named by n.
func sub(room, n string) dynamo.PushSubscription {
	return dynamo.PushSubscription{RoomID: room, ID: "id-" + n, Endpoint: "https://push.example.com/" + n,
		P256dh: "p256dh-" + n, Auth: "auth-" + n}
}

// pushFixture is a fixture with the push limits of docs/push.md and a room
// that connections m0..m{members-1} are in.
func pushFixture(t *testing.T, members int) (*fixture, string) {
	t.Helper()
	f := newFixture(t)
	f.store.Limits = dynamo.Limits{SubscriptionsPerRoom: 10, SubscribesPerConnection: 5, NotifyEvery: time.Minute}
	f.connect(t, "owner")
	room := f.room(t, "owner", 50)
	for i := range members {
		id := fmt.Sprintf("m%d", i)
		f.connect(t, id)
		f.enter(t, id, room, "")
	}
	return f, room
}

func (f *fixture) subs(t *testing.T, room string) (count int, items []dynamo.PushSubscription) {
	t.Helper()
	r, err := f.store.Roster(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	items, err = f.store.Subscriptions(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	return r.Room.Subs, items
}

func TestSubscribe(t *testing.T) {
	ctx := context.Background()
	f, room := pushFixture(t, 2)
	got, err := f.store.Subscribe(ctx, "m0", sub(room, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if got.ParticipantID != "p-m0" || got.ConnectionID != "m0" || !got.ExpiresAt.Equal(f.now.Add(f.store.RoomTTL)) {
		t.Errorf("stored %+v, want participant p-m0, connection m0, expiry RoomTTL from now", got)
	}
	n, items := f.subs(t, room)
	if n != 1 || len(items) != 1 || items[0].Endpoint != "https://push.example.com/a" || items[0].P256dh != "p256dh-a" {
		t.Fatalf("room counts %d, holds %+v; want the one subscription", n, items)
	}
	dynamotest.CheckInvariants(t, f.db)

	// The same endpoint again, from another member: replaced, rebound,
	// counted once.
	f.now = f.now.Add(time.Second)
	if _, err := f.store.Subscribe(ctx, "m1", sub(room, "a")); err != nil {
		t.Fatal(err)
	}
	n, items = f.subs(t, room)
	if n != 1 || len(items) != 1 || items[0].ParticipantID != "p-m1" {
		t.Fatalf("after re-subscribing: room counts %d, holds %+v; want one, m1's", n, items)
	}
	dynamotest.CheckInvariants(t, f.db)

	// A browser's expirationTime earlier than the room's bounds the item.
	s := sub(room, "b")
	s.Until = f.now.Add(time.Hour)
	got, err = f.store.Subscribe(ctx, "m0", s)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ExpiresAt.Equal(s.Until.Truncate(time.Second)) {
		t.Errorf("expiry %v, want the browser's %v", got.ExpiresAt, s.Until)
	}
	s.Until = f.now.Add(-time.Second)
	if _, err := f.store.Subscribe(ctx, "m0", s); !errors.Is(err, dynamo.ErrSubscriptionExpired) {
		t.Errorf("an expired subscription: error %v, want ErrSubscriptionExpired", err)
	}
}

// TestSubscribeRefusals: every refusal is its own error, and writes
// nothing.
func TestSubscribeRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		prep func(t *testing.T, f *fixture, room string)
		conn string
		room func(room string) string
		want error
	}{
		{"not connected", nil, "nobody", nil, dynamo.ErrConnectionNotFound},
		{"not in the room", func(t *testing.T, f *fixture, _ string) { f.connect(t, "outsider") }, "outsider", nil, dynamo.ErrNotMember},
		{"the room's creator, not in it", nil, "owner", nil, dynamo.ErrNotMember},
		{"in another room", func(t *testing.T, f *fixture, _ string) {
			f.connect(t, "elsewhere")
			f.enter(t, "elsewhere", f.room(t, "owner", 2), "")
		}, "elsewhere", nil, dynamo.ErrNotMember},
		{"connection expired", func(t *testing.T, f *fixture, _ string) {
			f.now = f.now.Add(f.store.ConnectionTTL + time.Second)
		}, "m0", nil, dynamo.ErrConnectionNotFound},
		{"connection's limit", func(t *testing.T, f *fixture, room string) {
			for i := range 5 {
				if _, err := f.store.Subscribe(ctx, "m0", sub(room, fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
		}, "m0", nil, dynamo.ErrSubscribeLimit},
		{"room's limit", func(t *testing.T, f *fixture, room string) {
			for i := range 10 {
				if _, err := f.store.Subscribe(ctx, fmt.Sprintf("m%d", i/5), sub(room, fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
		}, "m2", nil, dynamo.ErrRoomSubscriptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, room := pushFixture(t, 3)
			if tt.prep != nil {
				tt.prep(t, f, room)
			}
			before := f.db.Items(t)
			_, err := f.store.Subscribe(ctx, tt.conn, sub(room, "new"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			assertUnchanged(t, f.db, before)
		})
	}
}

// TestSubscribeRaces: the limits hold whatever the interleaving, because
// the transaction's conditions are what enforce them.
func TestSubscribeRaces(t *testing.T) {
	ctx := context.Background()
	t.Run("room's limit", func(t *testing.T) {
		f, room := pushFixture(t, 14)
		var wg sync.WaitGroup
		errs := make([]error, 14)
		for i := range 14 {
			wg.Go(func() { _, errs[i] = f.store.Subscribe(ctx, fmt.Sprintf("m%d", i), sub(room, fmt.Sprint(i))) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, dynamo.ErrRoomSubscriptions) && !errors.Is(err, dynamo.ErrContention):
				t.Errorf("unexpected error %v", err)
			}
		}
		if n, items := f.subs(t, room); ok > 10 || n != ok || len(items) != ok {
			t.Errorf("%d subscribes succeeded, the room counts %d and holds %d; want at most 10, all equal", ok, n, len(items))
		}
		dynamotest.CheckInvariants(t, f.db)
	})
	t.Run("one endpoint", func(t *testing.T) {
		f, room := pushFixture(t, 6)
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				if _, err := f.store.Subscribe(ctx, fmt.Sprintf("m%d", i), sub(room, "same")); err != nil && !errors.Is(err, dynamo.ErrContention) {
					t.Errorf("m%d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if n, items := f.subs(t, room); n != 1 || len(items) != 1 {
			t.Errorf("the room counts %d and holds %d subscriptions of one endpoint; want 1", n, len(items))
		}
		dynamotest.CheckInvariants(t, f.db)
	})
	t.Run("subscribe and leave", func(t *testing.T) {
		// The leave puts the connection back as read: a subscribe that
		// counted in between must not be lost.
		for range 5 {
			f, room := pushFixture(t, 1)
			var wg sync.WaitGroup
			wg.Go(func() { _, _ = f.store.Subscribe(ctx, "m0", sub(room, "x")) })
			wg.Go(func() { _, _ = f.store.Leave(ctx, "m0") })
			wg.Wait()
			c := f.db.Items(t)[dynamotest.ConnectionKey("m0")]
			_, items := f.subs(t, room)
			if want := fmt.Sprint(len(items)); dynamotest.String(c["subscribes"]) != want && !(want == "0" && c["subscribes"] == nil) {
				t.Errorf("the connection counts %s subscribes, the room holds %s", dynamotest.String(c["subscribes"]), want)
			}
			dynamotest.CheckInvariants(t, f.db)
		}
	})
}

func TestUnsubscribeAndDrop(t *testing.T) {
	ctx := context.Background()
	f, room := pushFixture(t, 2)
	for _, n := range []string{"a", "b"} {
		if _, err := f.store.Subscribe(ctx, "m0", sub(room, n)); err != nil {
			t.Fatal(err)
		}
	}
	f.connect(t, "outsider") // knows the endpoint: that is enough
	if removed, err := f.store.Unsubscribe(ctx, "outsider", room, "id-a"); err != nil || !removed {
		t.Fatalf("Unsubscribe = %v, %v; want removed", removed, err)
	}
	if removed, err := f.store.Unsubscribe(ctx, "outsider", room, "id-a"); err != nil || removed {
		t.Fatalf("Unsubscribe again = %v, %v; want nothing removed, no error", removed, err)
	}
	if _, err := f.store.Unsubscribe(ctx, "nobody", room, "id-b"); !errors.Is(err, dynamo.ErrConnectionNotFound) {
		t.Fatalf("Unsubscribe from no connection: %v, want ErrConnectionNotFound", err)
	}
	if n, items := f.subs(t, room); n != 1 || len(items) != 1 || items[0].ID != "id-b" {
		t.Fatalf("room counts %d, holds %+v; want b alone", n, items)
	}
	if removed, err := f.store.DropSubscription(ctx, room, "id-b"); err != nil || !removed {
		t.Fatalf("DropSubscription = %v, %v; want removed", removed, err)
	}
	if n, items := f.subs(t, room); n != 0 || len(items) != 0 {
		t.Fatalf("room counts %d, holds %d; want none", n, len(items))
	}
	dynamotest.CheckInvariants(t, f.db)

	// A room item gone (TTL) does not keep a subscription stuck.
	if _, err := f.store.Subscribe(ctx, "m1", sub(room, "c")); err != nil {
		t.Fatal(err)
	}
	f.db.Delete(t, dynamotest.RoomKey(room))
	if removed, err := f.store.DropSubscription(ctx, room, "id-c"); err != nil || !removed {
		t.Fatalf("DropSubscription without the room = %v, %v; want removed", removed, err)
	}
}

// TestClaimNotification: one notification per subscription per
// NotifyEvery, whoever asks, and none to a subscription replaced or
// removed since it was read.
func TestClaimNotification(t *testing.T) {
	ctx := context.Background()
	f, room := pushFixture(t, 1)
	if _, err := f.store.Subscribe(ctx, "m0", sub(room, "a")); err != nil {
		t.Fatal(err)
	}
	_, items := f.subs(t, room)
	read := items[0]
	claim := func(s dynamo.PushSubscription) bool {
		t.Helper()
		ok, err := f.store.ClaimNotification(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim(read) {
		t.Fatal("the first claim was refused")
	}
	f.now = f.now.Add(59 * time.Second)
	if claim(read) {
		t.Error("a claim within the minute was granted")
	}
	f.now = f.now.Add(time.Second)
	if !claim(read) {
		t.Error("a claim a minute later was refused")
	}
	if _, items := f.subs(t, room); !items[0].ExpiresAt.Equal(f.now.Add(f.store.RoomTTL)) || !items[0].NotifiedAt.Equal(f.now) {
		t.Errorf("after a claim: notified %v, expires %v; want now and RoomTTL from now", items[0].NotifiedAt, items[0].ExpiresAt)
	}

	// Concurrent claims from many instances: one wins.
	f.now = f.now.Add(time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Go(func() {
			if ok, err := f.store.ClaimNotification(ctx, read); err == nil && ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d of 8 concurrent claims won, want 1", won)
	}

	// Replaced since the read: the claim is refused (the new one is claimed
	// from its own read).
	f.now = f.now.Add(time.Minute)
	if _, err := f.store.Subscribe(ctx, "m0", sub(room, "a")); err != nil {
		t.Fatal(err)
	}
	if claim(read) {
		t.Error("a claim of a replaced subscription was granted")
	}
	if _, err := f.store.DropSubscription(ctx, room, "id-a"); err != nil {
		t.Fatal(err)
	}
	if claim(read) {
		t.Error("a claim of a removed subscription was granted")
	}
	dynamotest.CheckInvariants(t, f.db)
}

// TestRosterCountsSubscriptions: the enter path learns from the Roster it
// reads anyway whether the room has subscriptions at all.
func TestRosterCountsSubscriptions(t *testing.T) {
	ctx := context.Background()
	f, room := pushFixture(t, 1)
	r, err := f.store.Roster(ctx, room)
	if err != nil || r.Room.Subs != 0 {
		t.Fatalf("Roster = %+v, %v; want no subscriptions", r.Room, err)
	}
	if _, err := f.store.Subscribe(ctx, "m0", sub(room, "a")); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.store.Roster(ctx, room); r.Room.Subs != 1 || len(r.Live) != 1 {
		t.Fatalf("Roster = %+v; want one subscription and the one member (no subscription item among members)", r)
	}
}
