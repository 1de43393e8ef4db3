package push_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/test/pushservice"
)

const room = "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"

// policyFor returns the Policy that lets a Sender reach svc.
func policyFor(svc *pushservice.Service) push.Policy {
	return push.Policy{Ports: []int{svc.Port()}, AllowLoopback: true, RootCAs: svc.CertPool()}
}

// clock is a fake clock whose Sleep moves it on and records the wait.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	return nil
}

func (c *clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}

// newSender returns a Sender for svc with a fake clock that starts now, a
// fixed backoff (100 ms · attempt), and its VAPID keys.
func newSender(t testing.TB, svc *pushservice.Service) (*push.Sender, *clock, *push.VAPID) {
	t.Helper()
	keys, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	s := push.NewSender(keys, policyFor(svc))
	c := &clock{now: time.Now()}
	s.Now, s.Sleep = c.Now, c.Sleep
	s.Backoff = func(attempt int) time.Duration { return time.Duration(attempt) * 100 * time.Millisecond }
	return s, c, keys
}

// subscribe makes a subscription on svc and parses its JSON as the server
// would.
func subscribe(t testing.TB, svc *pushservice.Service) (pushservice.Subscription, push.Subscription) {
	t.Helper()
	browser := svc.NewSubscription()
	sub, err := push.ParseSubscription(browser.JSON, policyFor(svc))
	if err != nil {
		t.Fatalf("ParseSubscription(%s): %v", browser.JSON, err)
	}
	return browser, sub
}

func roomEntered(t testing.TB, roomID, name string) push.Message {
	t.Helper()
	m, err := push.RoomEntered(roomID, name, "https://app.example.com/?room="+roomID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSendDelivers(t *testing.T) {
	svc := pushservice.New(t)
	s, c, keys := newSender(t, svc)
	browser, sub := subscribe(t, svc)
	m := roomEntered(t, room, "Zoë")
	if err := s.Send(t.Context(), sub, m); err != nil {
		t.Fatalf("Send: %v (service refusals %q)", err, svc.Refusals())
	}
	msgs := svc.Messages(browser.ID)
	if len(msgs) != 1 {
		t.Fatalf("the service accepted %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	var n push.Notification
	if err := json.Unmarshal(got.Payload, &n); err != nil || string(got.Payload) != string(m.Payload) {
		t.Fatalf("decrypted payload %q (%v), want %q", got.Payload, err, m.Payload)
	}
	want := push.Notification{Type: "room-entered", RoomID: room, UserName: "Zoë", URL: "https://app.example.com/?room=" + room}
	if n != want {
		t.Errorf("notification %+v, want %+v", n, want)
	}
	if got.BodySize != push.BodySize {
		t.Errorf("body of %d bytes, want %d", got.BodySize, push.BodySize)
	}
	if got.TTL != int(push.DefaultTTL/time.Second) || got.Urgency != "high" || len(got.Topic) != 32 {
		t.Errorf("TTL %d, Urgency %q, Topic %q; want %d, high, 32 characters", got.TTL, got.Urgency, got.Topic, int(push.DefaultTTL/time.Second))
	}
	if strings.Contains(got.Topic, room[:8]) {
		t.Errorf("Topic %q shows the room ID", got.Topic)
	}
	if got.Key != keys.PublicKey() || got.Subject != keys.Subject() {
		t.Errorf("VAPID k %s, sub %q; want %s, %q", got.Key, got.Subject, keys.PublicKey(), keys.Subject())
	}
	if left := time.Until(got.Expires); left <= 0 || left > 24*time.Hour {
		t.Errorf("JWT exp %v away, want within 24 hours", left)
	}
	if w := c.Waits(); len(w) != 0 {
		t.Errorf("waited %v", w)
	}
}

func TestSendHTTPSSubject(t *testing.T) {
	svc := pushservice.New(t)
	s, _, _ := newSender(t, svc)
	keys, err := push.NewVAPID("https://slsrtc.example.com/contact")
	if err != nil {
		t.Fatal(err)
	}
	s = push.NewSender(keys, policyFor(svc))
	browser, sub := subscribe(t, svc)
	if err := s.Send(t.Context(), sub, roomEntered(t, room, "")); err != nil {
		t.Fatal(err)
	}
	if msgs := svc.Messages(browser.ID); len(msgs) != 1 || msgs[0].Subject != keys.Subject() {
		t.Errorf("messages %+v, want one with sub %s", msgs, keys.Subject())
	}
}

func TestSendTopics(t *testing.T) {
	svc := pushservice.New(t)
	s, _, _ := newSender(t, svc)
	a, subA := subscribe(t, svc)
	b, subB := subscribe(t, svc)
	other := "0b8e6d35-52c4-4c4f-8f0e-5d7e9a3b1c20"
	for _, send := range []struct {
		sub  push.Subscription
		room string
	}{{subA, room}, {subA, room}, {subA, other}, {subB, room}} {
		if err := s.Send(t.Context(), send.sub, roomEntered(t, send.room, "bob")); err != nil {
			t.Fatal(err)
		}
	}
	ma, mb := svc.Messages(a.ID), svc.Messages(b.ID)
	if ma[0].Topic != ma[1].Topic {
		t.Errorf("two messages about one room to one subscription have Topics %q and %q", ma[0].Topic, ma[1].Topic)
	}
	if ma[0].Topic == ma[2].Topic {
		t.Error("messages about two rooms have the same Topic")
	}
	if ma[0].Topic == mb[0].Topic {
		t.Error("two subscriptions get the same Topic for one room")
	}
	if err := s.Send(t.Context(), subA, push.Message{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if m := svc.Messages(a.ID)[3]; m.Topic != "" {
		t.Errorf("a message without a topic has Topic %q", m.Topic)
	}
}

func TestSendPayloadBound(t *testing.T) {
	svc := pushservice.New(t)
	s, _, _ := newSender(t, svc)
	browser, sub := subscribe(t, svc)
	for _, size := range []int{0, 1, push.MaxPayloadSize} {
		payload := []byte(strings.Repeat("p", size))
		m, err := push.NewMessage(payload, room)
		if err != nil {
			t.Fatalf("NewMessage of %d bytes: %v", size, err)
		}
		if err := s.Send(t.Context(), sub, m); err != nil {
			t.Fatalf("Send of %d bytes: %v", size, err)
		}
		msgs := svc.Messages(browser.ID)
		last := msgs[len(msgs)-1]
		if string(last.Payload) != string(payload) || last.BodySize != push.BodySize {
			t.Errorf("a payload of %d bytes arrived as %d bytes in a body of %d", size, len(last.Payload), last.BodySize)
		}
	}
	if push.BodySize > pushservice.MaxBody {
		t.Errorf("BodySize %d is over what push services accept", push.BodySize)
	}
	tooLong := make([]byte, push.MaxPayloadSize+1)
	if _, err := push.NewMessage(tooLong, room); !errors.Is(err, push.ErrMessage) {
		t.Errorf("NewMessage of %d bytes: %v, want ErrMessage", len(tooLong), err)
	}
	before := svc.Requests(browser.ID)
	err := s.Send(t.Context(), sub, push.Message{Payload: tooLong})
	if !errors.Is(err, push.ErrRejected) || !errors.Is(err, push.ErrMessage) || push.StatusOf(err) != push.Failed {
		t.Errorf("Send of %d bytes: %v, want ErrRejected and ErrMessage", len(tooLong), err)
	}
	if svc.Requests(browser.ID) != before {
		t.Error("an over-long payload was posted")
	}
}

func TestSendClassifies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		answers   []pushservice.Answer
		status    push.Status
		reason    *push.Failure // nil: sent
		code      int
		attempts  int
		waits     []time.Duration
		cause     error
		detail    string
		delivered bool
	}{
		{name: "201", status: push.Sent, attempts: 1, delivered: true},
		{name: "202", answers: []pushservice.Answer{{Status: 202}}, status: push.Sent, attempts: 1},
		{name: "410", answers: []pushservice.Answer{{Status: 410}}, status: push.Gone, reason: push.ErrGone, code: 410, attempts: 1},
		{name: "404", answers: []pushservice.Answer{{Status: 404}}, status: push.Gone, reason: push.ErrGone, code: 404, attempts: 1},
		{name: "400", answers: []pushservice.Answer{{Status: 400, Body: "bad\x00request"}}, status: push.Failed, reason: push.ErrRejected, code: 400, attempts: 1, detail: "bad?request"},
		{name: "401", answers: []pushservice.Answer{{Status: 401}}, status: push.Failed, reason: push.ErrRejected, code: 401, attempts: 1},
		{name: "403", answers: []pushservice.Answer{{Status: 403, Body: `{"reason":"key mismatch"}`}}, status: push.Failed, reason: push.ErrRejected, code: 403, attempts: 1, detail: `{"reason":"key mismatch"}`},
		{name: "413", answers: []pushservice.Answer{{Status: 413}}, status: push.Failed, reason: push.ErrRejected, code: 413, attempts: 1},
		{name: "a redirect is not followed", answers: []pushservice.Answer{{Status: 307, Location: "https://169.254.169.254/latest/meta-data/"}},
			status: push.Failed, reason: push.ErrRejected, code: 307, attempts: 1, cause: push.ErrRedirect},
		{name: "429 with Retry-After, then 201", answers: []pushservice.Answer{{Status: 429, RetryAfter: "2"}},
			status: push.Sent, attempts: 2, waits: []time.Duration{2 * time.Second}, delivered: true},
		{name: "503 without Retry-After, then 201", answers: []pushservice.Answer{{Status: 503}},
			status: push.Sent, attempts: 2, waits: []time.Duration{100 * time.Millisecond}, delivered: true},
		{name: "500 twice, then 201", answers: []pushservice.Answer{{Status: 500}, {Status: 502}},
			status: push.Sent, attempts: 3, waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, delivered: true},
		{name: "500 three times", answers: []pushservice.Answer{{Status: 500}, {Status: 500}, {Status: 500, Body: "down"}},
			status: push.Failed, reason: push.ErrUnavailable, code: 500, attempts: 3,
			waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, detail: "down"},
		{name: "429 asking for more than MaxRetryWait", answers: []pushservice.Answer{{Status: 429, RetryAfter: "120"}},
			status: push.Failed, reason: push.ErrUnavailable, code: 429, attempts: 1},
		{name: "429 then 410", answers: []pushservice.Answer{{Status: 429, RetryAfter: "1"}, {Status: 410}},
			status: push.Gone, reason: push.ErrGone, code: 410, attempts: 2, waits: []time.Duration{time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := pushservice.New(t)
			s, c, _ := newSender(t, svc)
			browser, sub := subscribe(t, svc)
			svc.Queue(browser.ID, tc.answers...)
			err := s.Send(t.Context(), sub, roomEntered(t, room, "carol"))
			if got := push.StatusOf(err); got != tc.status {
				t.Fatalf("Send: %v; status %v, want %v", err, got, tc.status)
			}
			if n := svc.Requests(browser.ID); n != tc.attempts {
				t.Errorf("the service got %d requests, want %d", n, tc.attempts)
			}
			if w := c.Waits(); !slices.Equal(w, tc.waits) {
				t.Errorf("waits %v, want %v", w, tc.waits)
			}
			if delivered := len(svc.Messages(browser.ID)) == 1; delivered != tc.delivered {
				t.Errorf("delivered: %v, want %v", delivered, tc.delivered)
			}
			if tc.reason == nil {
				if err != nil {
					t.Errorf("Send: %v, want nil", err)
				}
				return
			}
			var se *push.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send: %v is not a *SendError", err)
			}
			if se.Reason != tc.reason || se.StatusCode != tc.code || se.Attempts != tc.attempts || se.Detail != tc.detail {
				t.Errorf("SendError %+v, want reason %s, status %d, %d attempts, detail %q", se, tc.reason.Code(), tc.code, tc.attempts, tc.detail)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("Send: %v, want it to wrap %v", err, tc.cause)
			}
			if strings.Contains(err.Error(), browser.ID) || strings.Contains(err.Error(), sub.Keys.P256dh) {
				t.Errorf("error %q quotes the subscription", err)
			}
		})
	}
}

func TestSendRetryAfterDate(t *testing.T) {
	svc := pushservice.New(t)
	s, c, _ := newSender(t, svc)
	browser, sub := subscribe(t, svc)
	start := c.Now()
	at := start.Add(4 * time.Second).Truncate(time.Second)
	svc.Queue(browser.ID, pushservice.Answer{Status: 503, RetryAfter: at.UTC().Format(http.TimeFormat)})
	if err := s.Send(t.Context(), sub, roomEntered(t, room, "dave")); err != nil {
		t.Fatal(err)
	}
	if w := c.Waits(); len(w) != 1 || w[0] != at.Sub(start) {
		t.Errorf("waits %v, want %v (until %v)", w, at.Sub(start), at)
	}
}

// TestSendStopsBeforeTheDeadline holds Send to the caller's deadline on the
// fake clock: a push service that answers 500 forever gets attempts until
// the next wait would end past the deadline, and Send reports it then, not
// after.
func TestSendStopsBeforeTheDeadline(t *testing.T) {
	svc := pushservice.New(t)
	s, c, _ := newSender(t, svc)
	browser, sub := subscribe(t, svc)
	svc.Always(browser.ID, pushservice.Answer{Status: 500})
	s.MaxAttempts = 1000
	s.MaxRetryWait = time.Hour
	s.Backoff = func(int) time.Duration { return time.Minute }
	start := c.Now()
	budget := 10*time.Minute + 30*time.Second
	ctx, cancel := context.WithDeadline(t.Context(), start.Add(budget))
	defer cancel()

	err := s.Send(ctx, sub, roomEntered(t, room, "erin"))
	var se *push.SendError
	if !errors.As(err, &se) || se.Reason != push.ErrUnavailable || se.StatusCode != 500 || se.Err != nil {
		t.Fatalf("Send: %v, want ErrUnavailable with status 500 and no context error", err)
	}
	// Attempts at 0, 1, ..., 10 minutes; an 11th wait would end at 11 > 10.5.
	if se.Attempts != 11 || svc.Requests(browser.ID) != 11 {
		t.Errorf("%d attempts, %d requests; want 11", se.Attempts, svc.Requests(browser.ID))
	}
	if spent := c.Now().Sub(start); spent >= budget {
		t.Errorf("spent %v of a %v budget", spent, budget)
	}

	t.Run("a Retry-After past the deadline ends it at once", func(t *testing.T) {
		svc.Queue(browser.ID, pushservice.Answer{Status: 429, RetryAfter: "900"})
		before := len(c.Waits())
		err := s.Send(ctx, sub, roomEntered(t, room, "erin"))
		var se *push.SendError
		if !errors.As(err, &se) || se.Reason != push.ErrUnavailable || se.Attempts != 1 || se.RetryAfter != 15*time.Minute {
			t.Fatalf("Send: %v, want ErrUnavailable after 1 attempt with Retry-After 15m", err)
		}
		if len(c.Waits()) != before {
			t.Error("Send waited for a Retry-After past the deadline")
		}
	})
}

func TestSendCancelled(t *testing.T) {
	svc := pushservice.New(t)
	s, _, _ := newSender(t, svc)
	browser, sub := subscribe(t, svc)
	reached := make(chan string, 1)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	svc.Always(browser.ID, pushservice.Answer{Status: 201, Reached: reached, Hold: hold})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-reached
		cancel()
	}()
	err := s.Send(ctx, sub, roomEntered(t, room, "frank"))
	if !errors.Is(err, push.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Send: %v, want ErrUnavailable and context.Canceled", err)
	}
	if err := s.Send(ctx, sub, roomEntered(t, room, "frank")); !errors.Is(err, context.Canceled) || svc.Requests(browser.ID) != 1 {
		t.Errorf("Send with a cancelled context: %v after %d requests, want context.Canceled and no request", err, svc.Requests(browser.ID))
	}
}

// TestSendAttemptTimeout: an attempt that gets no answer within Timeout is
// abandoned and retried.
func TestSendAttemptTimeout(t *testing.T) {
	svc := pushservice.New(t)
	s, _, _ := newSender(t, svc)
	browser, sub := subscribe(t, svc)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	svc.Queue(browser.ID, pushservice.Answer{Status: 201, Hold: hold})
	s.Timeout = 50 * time.Millisecond
	if err := s.Send(t.Context(), sub, roomEntered(t, room, "grace")); err != nil {
		t.Fatalf("Send: %v, want the second attempt to deliver", err)
	}
	if n, msgs := svc.Requests(browser.ID), svc.Messages(browser.ID); n != 2 || len(msgs) != 1 {
		t.Errorf("%d requests, %d messages; want 2 and 1", n, len(msgs))
	}

	s.MaxAttempts = 1
	svc.Queue(browser.ID, pushservice.Answer{Status: 201, Hold: hold})
	err := s.Send(t.Context(), sub, roomEntered(t, room, "grace"))
	if !errors.Is(err, push.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send with one attempt: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if strings.Contains(err.Error(), browser.ID) {
		t.Errorf("error %q quotes the endpoint", err)
	}
}

func TestSendRefusesInvalidSubscriptions(t *testing.T) {
	svc := pushservice.New(t)
	s, _, _ := newSender(t, svc)
	_, sub := subscribe(t, svc)
	for _, tc := range []struct {
		name   string
		change func(*push.Subscription)
		want   *push.Invalid
	}{
		{"a private address", func(s *push.Subscription) {
			s.Endpoint = strings.Replace(s.Endpoint, "127.0.0.1", "10.0.0.1", 1)
		}, push.ErrEndpointAddress},
		{"http", func(s *push.Subscription) { s.Endpoint = strings.Replace(s.Endpoint, "https", "http", 1) }, push.ErrEndpointScheme},
		{"a short auth", func(s *push.Subscription) { s.Keys.Auth = b64.EncodeToString(make([]byte, 15)) }, push.ErrAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := sub
			tc.change(&bad)
			err := s.Send(t.Context(), bad, roomEntered(t, room, "heidi"))
			if !errors.Is(err, tc.want) || push.StatusOf(err) != push.Gone {
				t.Errorf("Send: %v, want Gone with %s", err, tc.want.Code())
			}
		})
	}
}

// TestSendAfterKeyRotation: a subscription made with another
// applicationServerKey is refused by the push service (403, as FCM does):
// rotating the VAPID key strands every subscription made before.
func TestSendAfterKeyRotation(t *testing.T) {
	svc := pushservice.New(t)
	s, _, keys := newSender(t, svc)
	old, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	browser := svc.NewSubscriptionFor(old.PublicKey())
	sub, err := push.ParseSubscription(browser.JSON, policyFor(svc))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(t.Context(), sub, roomEntered(t, room, "ivan"))
	var se *push.SendError
	if !errors.As(err, &se) || se.Reason != push.ErrRejected || se.StatusCode != 403 || se.Attempts != 1 {
		t.Errorf("Send with a new key to a subscription of the old one: %v, want ErrRejected 403", err)
	}
	current := svc.NewSubscriptionFor(keys.PublicKey())
	sub, _ = push.ParseSubscription(current.JSON, policyFor(svc))
	if err := s.Send(t.Context(), sub, roomEntered(t, room, "ivan")); err != nil {
		t.Errorf("Send to a subscription of the current key: %v", err)
	}
}

func TestHTTPClientRefusesLoopback(t *testing.T) {
	svc := pushservice.New(t)
	for _, tc := range []struct {
		name   string
		policy push.Policy
		want   string // "" allowed
	}{
		{"loopback not allowed", push.Policy{Ports: []int{svc.Port()}, RootCAs: svc.CertPool()}, "loopback address"},
		{"loopback allowed, port not", push.Policy{AllowLoopback: true, RootCAs: svc.CertPool()}, "port"},
		{"loopback and port allowed", policyFor(svc), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := push.NewHTTPClient(tc.policy)
			resp, err := client.Post(svc.URL()+"/push/none", "application/octet-stream", nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Post: %v", err)
				}
				resp.Body.Close()
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatalf("Post reached the service (status %d)", resp.StatusCode)
			}
			if !errors.Is(err, push.ErrForbiddenAddress) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Post: %v, want ErrForbiddenAddress (%s)", err, tc.want)
			}
		})
	}
	t.Run("HTTPS_PROXY is ignored", func(t *testing.T) {
		t.Setenv("HTTPS_PROXY", "http://192.0.2.1:3128")
		resp, err := push.NewHTTPClient(policyFor(svc)).Post(svc.URL()+"/push/none", "application/octet-stream", nil)
		if err != nil {
			t.Fatalf("Post: %v", err)
		}
		resp.Body.Close()
	})
}

// TestSendLeavesThePayloadAlone: webpush-go pads in place when the payload
// has spare capacity; Send must not let it write past the payload's length.
func TestSendLeavesThePayloadAlone(t *testing.T) {
	svc := pushservice.New(t)
	s, _, _ := newSender(t, svc)
	browser, sub := subscribe(t, svc)
	backing := []byte(strings.Repeat("x", 4096))
	payload := backing[:10]
	if err := s.Send(t.Context(), sub, push.Message{Payload: payload}); err != nil {
		t.Fatal(err)
	}
	if string(backing) != strings.Repeat("x", 4096) {
		t.Errorf("Send wrote into the payload's array past its length: %q…", backing[:20])
	}
	if got := svc.Messages(browser.ID); len(got) != 1 || string(got[0].Payload) != "xxxxxxxxxx" {
		t.Errorf("messages %+v", got)
	}
}
