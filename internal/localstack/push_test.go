package localstack_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/pushservice"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// withPush gives the stack a VAPID key pair, a page URL, and a Policy that
// allows the test push service on loopback.
func withPush(keys *push.VAPID, svc *pushservice.Service) func(*localstack.Options) {
	return func(o *localstack.Options) {
		env := map[string]string{"VAPID_SECRET": keys.Secret(), "PUSH_PAGE_URL": "https://app.example.com/"}
		o.Getenv = func(name string) string { return env[name] }
		o.PushPolicy = &push.Policy{AllowLoopback: true, Ports: []int{svc.Port()}, RootCAs: svc.CertPool()}
	}
}

// TestPushThroughTheStack: through the local stack, with real WebSocket
// clients and the test push service (which checks the VAPID JWT and
// decrypts as a browser would): a follower who closed its tab receives the
// room-entered payload when someone enters; a member in the room receives
// nothing; a subscription whose push service answers 410 is removed; and a
// second enter within the minute sends nothing more.
func TestPushThroughTheStack(t *testing.T) {
	keys, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	svc := pushservice.New(t)
	s := newStack(t, withPush(keys, svc))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// follow enters the room as name, subscribes a new browser made for
	// the stack's key, and returns both.
	var room string
	follow := func(name string) (*testkit.Client, pushservice.Subscription) {
		t.Helper()
		c := testkit.Connect(t, s.WebSocketURL)
		if room == "" {
			c.MustSend(t, `{"action":"createroom"}`)
			room = c.Expect(t, "room-created").Body
		}
		c.MustSend(t, `{"action":"enterroom","roomID":"`+room+`","userName":"`+name+`"}`)
		c.Expect(t, "room-members")
		sub := svc.NewSubscriptionFor(keys.PublicKey())
		c.MustSend(t, `{"action":"subscribe","roomID":"`+room+`","subscription":`+string(sub.JSON)+`}`)
		if f := c.Expect(t, "subscribed"); f.RoomID != room {
			t.Fatalf("subscribe answered %s", f.Raw)
		}
		return c, sub
	}
	alice, aliceSub := follow("alice") // closes her tab
	dave, daveSub := follow("dave")    // closes his tab and unsubscribes in the browser
	_, bobSub := follow("bob")         // stays in the room
	// Bob's enter is over (its push included: alice and dave were in the
	// room at its last read) before anyone leaves; else that enter, still
	// running, could rightly tell alice about bob.
	if err := s.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*testkit.Client{alice, dave} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	svc.Unsubscribe(daveSub.ID)
	if err := s.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}

	carol := testkit.Connect(t, s.WebSocketURL)
	carol.MustSend(t, `{"action":"enterroom","roomID":"`+room+`","userName":"carol"}`)
	carol.Expect(t, "room-members")
	if err := s.WaitQuiet(ctx); err != nil { // the enter's invocation, push included, is over
		t.Fatal(err)
	}
	msgs := svc.Messages(aliceSub.ID)
	if len(msgs) != 1 {
		t.Fatalf("alice's browser received %d messages, want 1 (refusals: %q)", len(msgs), svc.Refusals())
	}
	var n push.Notification
	if err := json.Unmarshal(msgs[0].Payload, &n); err != nil {
		t.Fatal(err)
	}
	want := push.Notification{Type: push.TypeRoomEntered, RoomID: room, UserName: "carol", URL: "https://app.example.com/?room=" + room}
	if n != want || msgs[0].Key != keys.PublicKey() || msgs[0].Subject != "mailto:ops@example.com" {
		t.Errorf("alice's browser decrypted %+v from key %s, sub %s; want %+v from the stack's key", n, msgs[0].Key, msgs[0].Subject, want)
	}
	if got := svc.Requests(bobSub.ID); got != 0 {
		t.Errorf("bob, in the room, was pushed to (%d requests)", got)
	}
	if got := svc.Requests(daveSub.ID); got != 1 {
		t.Errorf("dave's endpoint got %d requests, want the one answered 410", got)
	}
	items := s.db.Items(t)
	if _, ok := items[dynamotest.SubKey(room, pushSubID(daveSub))]; ok {
		t.Error("the subscription its push service said is gone (410) is still stored")
	}
	if _, ok := items[dynamotest.SubKey(room, pushSubID(aliceSub))]; !ok {
		t.Error("alice's subscription was removed")
	}
	if subs := dynamotest.String(items[dynamotest.RoomKey(room)]["subs"]); subs != "2" {
		t.Errorf("the room counts %s subscriptions, want alice's and bob's", subs)
	}

	// Carol leaves and comes back at once: within the minute, nothing more.
	carol.MustSend(t, `{"action":"leaveroom"}`)
	carol.Expect(t, "leave")
	carol.MustSend(t, `{"action":"enterroom","roomID":"`+room+`","userName":"carol"}`)
	carol.Expect(t, "room-members")
	if err := s.WaitQuiet(ctx); err != nil {
		t.Fatal(err)
	}
	if got := svc.Requests(aliceSub.ID); got != 1 {
		t.Errorf("alice's browser got %d requests after a second enter within the minute, want still 1", got)
	}
	dynamotest.CheckInvariants(t, s.db)
}

// pushSubID is the store's ID of a test subscription.
func pushSubID(s pushservice.Subscription) string {
	return push.Subscription{Endpoint: s.Endpoint}.ID()
}
