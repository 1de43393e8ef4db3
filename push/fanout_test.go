package push_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/test/pushservice"
)

func TestSendAllOutcomes(t *testing.T) {
	svc := pushservice.New(t)
	s, _, _ := newSender(t, svc)
	var browsers []pushservice.Subscription
	var subs []push.Subscription
	for range 4 {
		b, sub := subscribe(t, svc)
		browsers, subs = append(browsers, b), append(subs, sub)
	}
	svc.Unsubscribe(browsers[1].ID)
	svc.Always(browsers[2].ID, pushservice.Answer{Status: 400})
	invalid := subs[0]
	invalid.Endpoint = strings.Replace(invalid.Endpoint, "127.0.0.1", "169.254.169.254", 1)
	subs = append(subs, invalid)

	out := s.SendAll(t.Context(), subs, roomEntered(t, room, "judy"))
	want := []push.Status{push.Sent, push.Gone, push.Failed, push.Sent, push.Gone}
	if len(out) != len(want) {
		t.Fatalf("%d outcomes for %d subscriptions", len(out), len(want))
	}
	for i, o := range out {
		if o.Status != want[i] || (o.Err == nil) != (o.Status == push.Sent) {
			t.Errorf("outcome %d: %v (%v), want %v", i, o.Status, o.Err, want[i])
		}
	}
	if !errors.Is(out[2].Err, push.ErrRejected) || !errors.Is(out[4].Err, push.ErrEndpointAddress) {
		t.Errorf("errors %v and %v", out[2].Err, out[4].Err)
	}
	if len(svc.Messages(browsers[0].ID)) != 1 || len(svc.Messages(browsers[3].ID)) != 1 {
		t.Error("a sent message was not delivered")
	}
	if out := s.SendAll(t.Context(), nil, roomEntered(t, room, "judy")); len(out) != 0 {
		t.Errorf("SendAll of nothing = %v", out)
	}
}

// TestSendAllBound holds every request until the test releases it: two are
// in flight, never more, with Concurrency 2.
func TestSendAllBound(t *testing.T) {
	svc := pushservice.New(t)
	s, _, _ := newSender(t, svc)
	s.Concurrency = 2
	reached := make(chan string, 6)
	holds := map[string]chan struct{}{}
	var subs []push.Subscription
	for range 6 {
		b, sub := subscribe(t, svc)
		holds[b.ID] = make(chan struct{})
		svc.Queue(b.ID, pushservice.Answer{Status: 201, Reached: reached, Hold: holds[b.ID]})
		subs = append(subs, sub)
	}
	done := make(chan []push.Outcome)
	go func() { done <- s.SendAll(t.Context(), subs, roomEntered(t, room, "ken")) }()
	first, second := <-reached, <-reached
	close(holds[first])
	close(holds[second])
	for range 4 {
		close(holds[<-reached])
	}
	for i, o := range <-done {
		if o.Status != push.Sent {
			t.Errorf("outcome %d: %v (%v)", i, o.Status, o.Err)
		}
	}
	if n := svc.MaxInFlight(); n != 2 {
		t.Errorf("%d requests in flight at most, want 2", n)
	}
}

// TestSendAllCancelled cancels a fan-out whose requests hang: SendAll
// returns, every outcome is Failed with the context's error, and the
// subscriptions it had not reached yet were never posted to.
func TestSendAllCancelled(t *testing.T) {
	svc := pushservice.New(t)
	s, _, _ := newSender(t, svc)
	s.Concurrency = 2
	reached := make(chan string, 6)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	var subs []push.Subscription
	var ids []string
	for range 6 {
		b, sub := subscribe(t, svc)
		svc.Always(b.ID, pushservice.Answer{Status: 201, Reached: reached, Hold: hold})
		subs, ids = append(subs, sub), append(ids, b.ID)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-reached
		<-reached
		cancel()
	}()
	out := s.SendAll(ctx, subs, roomEntered(t, room, "liz"))
	requests, notStarted := 0, 0
	for i, o := range out {
		var se *push.SendError
		if o.Status != push.Failed || !errors.As(o.Err, &se) || se.Reason != push.ErrUnavailable || !errors.Is(o.Err, context.Canceled) {
			t.Errorf("outcome %d: %v (%v), want Failed, unavailable, canceled", i, o.Status, o.Err)
			continue
		}
		requests += svc.Requests(ids[i])
		if se.Attempts == 0 {
			notStarted++
		}
	}
	if requests != 2 || notStarted != 4 {
		t.Errorf("%d requests, %d sends not started; want 2 and 4", requests, notStarted)
	}
}
