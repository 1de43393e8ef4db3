package handlers_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/pushservice"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// pushHarness is a harness with a VAPID key, the push limits of the
// configuration's defaults, a settable store clock and the test push
// service allowed by its Policy.
func pushHarness(t *testing.T) (*harness, *pushservice.Service, *testkit.Clock) {
	t.Helper()
	svc := pushservice.New(t)
	clock := testkit.NewClock(time.Now())
	limits := handlers.Limits{SubscriptionsPerRoom: handlers.DefaultSubscriptionsPerRoom,
		SubscribesPerConnection: handlers.DefaultSubscribesPerConnection, NotifyEvery: handlers.DefaultNotifyEvery}
	h := newHarness(t, withLimits(limits.Store()),
		withConfig(func(c *handlers.Config) {
			c.Push.VAPID = testVAPID
			c.Push.PageURL = "https://app.example.com/"
		}),
		withPushPolicy(push.Policy{AllowLoopback: true, Ports: []int{svc.Port()}, RootCAs: svc.CertPool()}))
	h.store.Now = clock.Now
	return h, svc, clock
}

// subscribe sends subscribe for sub and returns the frames the caller got.
func (h *harness) subscribe(id, room string, sub pushservice.Subscription) []string {
	h.t.Helper()
	h.send(id, `{"action":"subscribe","roomID":"`+room+`","subscription":`+string(sub.JSON)+`}`)
	return h.sender.Take(id)
}

// roomEntered decodes the one message a subscription received.
func roomEntered(t *testing.T, svc *pushservice.Service, sub pushservice.Subscription) push.Notification {
	t.Helper()
	msgs := svc.Messages(sub.ID)
	if len(msgs) != 1 {
		t.Fatalf("the subscription received %d messages, want 1 (refusals: %q)", len(msgs), svc.Refusals())
	}
	var n push.Notification
	if err := json.Unmarshal(msgs[0].Payload, &n); err != nil {
		t.Fatalf("payload %q: %v", msgs[0].Payload, err)
	}
	if msgs[0].Key != testVAPID.PublicKey() || msgs[0].BodySize != push.BodySize || msgs[0].Urgency != push.UrgencyHigh {
		t.Errorf("message %+v: want signed with the stack's key, %d bytes, urgency high", msgs[0], push.BodySize)
	}
	return n
}

// TestSubscribe: only a member subscribes, the subscription is checked
// under the Policy (a refusal names its reason), and a stack without VAPID
// says push is off.
func TestSubscribe(t *testing.T) {
	h, svc, _ := pushHarness(t)
	sub := svc.NewSubscription()
	h.connect("A")
	room := h.createRoom("A", 0)

	got := h.subscribe("A", room, sub)
	if len(got) != 1 || !strings.Contains(got[0], `"code":"forbidden"`) {
		t.Fatalf("a subscribe from outside the room got %q, want forbidden", got)
	}
	h.enter("A", room, "alice")
	got = h.subscribe("A", room, sub)
	var f struct {
		Type, RoomID string
		ExpiresAt    int64
	}
	if len(got) != 1 || json.Unmarshal([]byte(got[0]), &f) != nil || f.Type != "subscribed" || f.RoomID != room ||
		f.ExpiresAt != h.store.Now().Add(24*time.Hour).Unix()*1000 {
		t.Fatalf("subscribe got %q, want subscribed until 24 h from now", got)
	}
	dynamotest.CheckInvariants(t, h.db)

	for _, tt := range []struct{ name, subscription, reason string }{
		{"plain http", `{"endpoint":"http://127.0.0.1:1/push/x","keys":{"p256dh":"` + keyOf(sub) + `","auth":"` + authOf(sub) + `"}}`, "endpoint-not-https"},
		{"private address", `{"endpoint":"https://10.0.0.1/push/x","keys":{"p256dh":"` + keyOf(sub) + `","auth":"` + authOf(sub) + `"}}`, "endpoint-address"},
		{"metadata service", `{"endpoint":"https://169.254.169.254/latest","keys":{"p256dh":"` + keyOf(sub) + `","auth":"` + authOf(sub) + `"}}`, "endpoint-address"},
		{"bad key", `{"endpoint":"https://127.0.0.1/push/x","keys":{"p256dh":"AAAA","auth":"` + authOf(sub) + `"}}`, "p256dh"},
		{"not an object", `"https://127.0.0.1/"`, "malformed"},
	} {
		h.send("A", `{"action":"subscribe","roomID":"`+room+`","subscription":`+tt.subscription+`}`)
		got := h.sender.Take("A")
		if len(got) != 1 || !strings.Contains(got[0], `"code":"invalid-message"`) || !strings.Contains(got[0], `"reason":"`+tt.reason+`"`) {
			t.Errorf("%s: got %q, want invalid-message with reason %s", tt.name, got, tt.reason)
		}
	}

	// The deployed Policy: only the known push services.
	known := newHarness(t, withConfig(func(c *handlers.Config) { c.Push.VAPID = testVAPID }))
	known.connect("A")
	r2 := known.createRoom("A", 0)
	known.enter("A", r2, "")
	known.send("A", `{"action":"subscribe","roomID":"`+r2+`","subscription":{"endpoint":"https://push.example.com/x","keys":{"p256dh":"`+keyOf(sub)+`","auth":"`+authOf(sub)+`"}}}`)
	if got := known.sender.Take("A"); len(got) != 1 || !strings.Contains(got[0], `"reason":"endpoint-host"`) {
		t.Errorf("an unknown push service got %q, want endpoint-host", got)
	}

	off := newHarness(t)
	off.connect("A")
	r3 := off.createRoom("A", 0)
	off.enter("A", r3, "")
	got = off.subscribe("A", r3, sub)
	if len(got) != 1 || !strings.Contains(got[0], `"code":"push-disabled"`) {
		t.Errorf("without VAPID subscribe got %q, want push-disabled", got)
	}
	off.connect("B")
	if strings.Contains(strings.Join(off.sender.Take("B"), ""), "vapidPublicKey") {
		t.Error("a stack without VAPID sent a vapidPublicKey")
	}
}

func keyOf(s pushservice.Subscription) string  { return jsonField(s, "p256dh") }
func authOf(s pushservice.Subscription) string { return jsonField(s, "auth") }

func jsonField(s pushservice.Subscription, name string) string {
	var v struct{ Keys map[string]string }
	_ = json.Unmarshal(s.JSON, &v)
	return v.Keys[name]
}

// TestNotifyOnEnter: an enter notifies the followers who are not in the
// room — not those present — once per minute at most; a subscription its
// push service says is gone is removed; a push service that fails is
// retried, then logged, and its subscription kept.
func TestNotifyOnEnter(t *testing.T) {
	h, svc, clock := pushHarness(t)
	h.connect("A")
	if got := h.sender.Take("A"); len(got) != 0 {
		t.Fatalf("frames left: %q", got)
	}
	room := h.createRoom("A", 5)
	away, present := svc.NewSubscriptionFor(testVAPID.PublicKey()), svc.NewSubscriptionFor(testVAPID.PublicKey())
	h.enter("A", room, "alice")
	h.subscribe("A", room, away)
	h.connect("B")
	h.enter("B", room, "bob")
	h.subscribe("B", room, present)
	h.send("A", `{"action":"leaveroom"}`) // A follows the room from outside now
	h.sender.Reset()

	h.connect("C")
	h.enter("C", room, "carol")
	n := roomEntered(t, svc, away)
	if n != (push.Notification{Type: push.TypeRoomEntered, RoomID: room, UserName: "carol", URL: "https://app.example.com/?room=" + room}) {
		t.Errorf("notification %+v", n)
	}
	if got := svc.Requests(present.ID); got != 0 {
		t.Errorf("a member present in the room was notified (%d requests)", got)
	}
	if !strings.Contains(h.metrics.String(), `"PushSent":1`) {
		t.Errorf("no PushSent metric in %s", h.metrics.Tail(1))
	}

	// Within the minute: no second notification.
	h.send("C", `{"action":"leaveroom"}`)
	clock.Advance(30 * time.Second)
	h.enter("C", room, "carol")
	if got := svc.Requests(away.ID); got != 1 {
		t.Errorf("%d requests within the minute, want the first only", got)
	}
	if !strings.Contains(h.metrics.String(), `"PushThrottled":1`) {
		t.Errorf("no PushThrottled metric")
	}

	// A 500 is retried; then the browser unsubscribes: 410 removes it.
	h.send("C", `{"action":"leaveroom"}`)
	clock.Advance(time.Minute)
	svc.Queue(away.ID, pushservice.Answer{Status: 500})
	h.enter("C", room, "carol")
	if got, msgs := svc.Requests(away.ID), len(svc.Messages(away.ID)); got != 3 || msgs != 2 {
		t.Errorf("after a 500: %d requests, %d messages; want the retry delivered", got, msgs)
	}
	h.send("C", `{"action":"leaveroom"}`)
	clock.Advance(time.Minute)
	svc.Unsubscribe(away.ID)
	h.enter("C", room, "carol")
	r, err := h.store.Roster(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	subs, _ := h.store.Subscriptions(context.Background(), room)
	if r.Room.Subs != 1 || len(subs) != 1 || subs[0].ParticipantID != "p-B" {
		t.Errorf("after a 410 the room counts %d subscriptions, holds %+v; want B's alone", r.Room.Subs, subs)
	}
	if !strings.Contains(h.metrics.String(), `"PushSubscriptionsRemoved":1`) {
		t.Errorf("no PushSubscriptionsRemoved metric")
	}
	dynamotest.CheckInvariants(t, h.db)

	// A push service that keeps failing: retried, logged, kept.
	h.send("B", `{"action":"leaveroom"}`)
	h.send("C", `{"action":"leaveroom"}`)
	clock.Advance(time.Minute)
	svc.Always(present.ID, pushservice.Answer{Status: 503})
	h.enter("C", room, "carol")
	if got := svc.Requests(present.ID); got != push.DefaultMaxAttempts {
		t.Errorf("%d requests to a failing push service, want %d", got, push.DefaultMaxAttempts)
	}
	if !strings.Contains(h.logs.String(), `"msg":"push notification not delivered"`) || !strings.Contains(h.logs.String(), `"status":503`) {
		t.Errorf("the failure was not logged with its status")
	}
	if subs, _ := h.store.Subscriptions(context.Background(), room); len(subs) != 1 {
		t.Errorf("a failing subscription was removed")
	}
}

// TestEnterWithoutFollowers: a room nobody follows costs the enter nothing
// more: no read of subscriptions.
func TestEnterWithoutFollowers(t *testing.T) {
	var queries []string
	h := newHarness(t, withConfig(func(c *handlers.Config) { c.Push.VAPID = testVAPID }),
		withClient(func(c dynamo.Client) dynamo.Client { return &queryLog{Client: c, queries: &queries} }))
	h.connect("A")
	room := h.createRoom("A", 0)
	queries = nil
	h.enter("A", room, "")
	for _, q := range queries {
		if strings.Contains(q, "begins_with") {
			t.Errorf("an enter into a room without followers read its subscriptions: %s", q)
		}
	}
}

// queryLog is a DynamoDB client that records the key condition of every
// Query.
type queryLog struct {
	dynamo.Client
	mu      sync.Mutex
	queries *[]string
}

func (c *queryLog) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.mu.Lock()
	*c.queries = append(*c.queries, aws.ToString(in.KeyConditionExpression))
	c.mu.Unlock()
	return c.Client.Query(ctx, in, opts...)
}
