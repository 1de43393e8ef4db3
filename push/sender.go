package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
	"github.com/slsrtc/slsrtc/internal/retry"
)

// Defaults of a Sender made by NewSender.
const (
	// DefaultTTL is how long a push service keeps a message it could not
	// deliver yet: an invitation to a room is stale after a few minutes.
	DefaultTTL = 5 * time.Minute
	// DefaultAttemptTimeout bounds one POST, connection included. Push
	// services answer in well under a second.
	DefaultAttemptTimeout = 3 * time.Second
	// DefaultMaxAttempts bounds the attempts of one Send.
	DefaultMaxAttempts = 3
	// DefaultMaxRetryWait is the longest wait between attempts, Retry-After
	// included: a push service that asks for more is reported unavailable
	// at once, with its Retry-After.
	DefaultMaxRetryWait = 5 * time.Second
	// DefaultConcurrency bounds the posts SendAll makes at once.
	DefaultConcurrency = 8
)

// Urgency values (RFC 8030, section 5.3).
const (
	UrgencyVeryLow = "very-low"
	UrgencyLow     = "low"
	UrgencyNormal  = "normal"
	UrgencyHigh    = "high"
)

// maxErrorBody bounds what Send reads of an answer's body, and
// maxErrorDetail what of it a SendError keeps.
const (
	maxErrorBody   = 4096
	maxErrorDetail = 200
)

// A Failure is why Send did not deliver a message. The variables below are
// the only Failures; a SendError carries one, and errors.Is finds it.
type Failure struct {
	code, text string
}

// Error returns a fixed sentence for the reason.
func (f *Failure) Error() string { return f.text }

// Code returns a short, stable name for the reason ("gone"), for a log field
// or a metric dimension.
func (f *Failure) Code() string { return f.code }

// The reasons Send fails.
var (
	// ErrGone: the subscription will never work again: the push service
	// answered 404 or 410 (it expired, or the user unsubscribed), or it does
	// not pass Validate under the Sender's Policy. The caller deletes it.
	ErrGone = &Failure{"gone", "push subscription is gone"}
	// ErrRejected: the push service refused the message for good (400, 401,
	// 403, 413 or another 4xx; a redirect), or the endpoint resolved to a
	// forbidden address (ErrForbiddenAddress), or the message is invalid
	// (ErrMessage). Sending it again would not help; 401 and 403 usually
	// mean the subscription was made with another VAPID key. Worth a log
	// line.
	ErrRejected = &Failure{"rejected", "push service refused the message"}
	// ErrUnavailable: the push service kept answering 429 or 5xx, or could
	// not be reached in time, until the attempts, the deadline or the
	// longest wait ran out. The subscription may work later.
	ErrUnavailable = &Failure{"unavailable", "push service is unavailable"}
)

// A SendError is what Send returns when it did not deliver the message. Its
// Error never quotes the endpoint, the keys or the payload.
type SendError struct {
	// Reason is ErrGone, ErrRejected or ErrUnavailable.
	Reason *Failure
	// StatusCode is the push service's last answer; 0 if there was none.
	StatusCode int
	// RetryAfter is the last answer's Retry-After; 0 if it had none.
	RetryAfter time.Duration
	// Attempts is how many POSTs were made.
	Attempts int
	// Detail is the start of the last answer's body (up to 200 visible ASCII
	// characters, others replaced), for a log line: push services say there
	// why they refused.
	Detail string
	// Err is the cause, if any: a network error, a context's error, an
	// *Invalid, ErrMessage, ErrForbiddenAddress, ErrRedirect.
	Err error
}

// Error describes the failure: the reason, the status, the attempts, the
// cause.
func (e *SendError) Error() string {
	var b strings.Builder
	b.WriteString("push: ")
	b.WriteString(e.Reason.text)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": status %d", e.StatusCode)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the reason and the cause, for errors.Is and errors.As.
func (e *SendError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// A Sender sends push messages (RFC 8030), encrypted to each subscription's
// keys (RFC 8291, aes128gcm) and signed with its VAPID key (RFC 8292). Set
// its fields before the first Send; it is then safe for concurrent use, and
// keeps connections to push services open between calls (make one per
// Lambda instance).
//
// The encryption and the VAPID header are github.com/SherClockHolmes/webpush-go
// v1.4.0's, which takes our context and HTTP client. Around it, Send pads
// every body to BodySize (its RecordSize), hands it a payload without spare
// capacity (it pads by appending to the slice it is given), lowercases the
// endpoint's host and drops a :443 (it writes the JWT's aud from the
// endpoint as written), and passes a mailto: subject without its scheme (it
// prefixes "mailto:" to anything not https:). Its JWTs expire 12 hours after
// the wall clock's now, whatever Options.VapidExpiration says.
type Sender struct {
	keys   *VAPID
	policy Policy
	client *http.Client

	// TTL is how long the push service keeps a message it cannot deliver
	// yet, in whole seconds (default DefaultTTL). 0 asks it to deliver now
	// or drop the message.
	TTL time.Duration
	// Urgency is the Urgency header: UrgencyHigh (the default) lets the
	// message wake a device on low battery.
	Urgency string
	// Timeout bounds one attempt (default DefaultAttemptTimeout); 0 leaves
	// it to ctx.
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one Send (default
	// DefaultMaxAttempts); only 429, 5xx and failures to connect or to get
	// an answer are retried.
	MaxAttempts int
	// Backoff returns how long to wait before attempt n+1 after attempt n
	// failed, when the push service gave no Retry-After (default: full
	// jitter, between 0 and 100 ms·2^(n-1), at most 2 s).
	Backoff func(attempt int) time.Duration
	// MaxRetryWait is the longest Send waits between two attempts (default
	// DefaultMaxRetryWait).
	MaxRetryWait time.Duration
	// Concurrency bounds the posts SendAll makes at once (default
	// DefaultConcurrency).
	Concurrency int
	// Now is the clock that Retry-After dates and deadlines are read with.
	Now func() time.Time
	// Sleep waits d, or until ctx is done (then it returns ctx's error).
	Sleep func(ctx context.Context, d time.Duration) error
}

// NewSender returns a Sender that signs with keys, refuses subscriptions p
// does not accept, and posts through NewHTTPClient(p).
func NewSender(keys *VAPID, p Policy) *Sender {
	return &Sender{
		keys:         keys,
		policy:       p,
		client:       NewHTTPClient(p),
		TTL:          DefaultTTL,
		Urgency:      UrgencyHigh,
		Timeout:      DefaultAttemptTimeout,
		MaxAttempts:  DefaultMaxAttempts,
		Backoff:      retry.FullJitter(100*time.Millisecond, 2*time.Second),
		MaxRetryWait: DefaultMaxRetryWait,
		Concurrency:  DefaultConcurrency,
		Now:          time.Now,
		Sleep:        retry.Sleep,
	}
}

// Send posts m to sub, and retries 429, 5xx and failures to connect or to
// get an answer (each attempt bounded by Timeout) with backoff, or after the
// push service's Retry-After, until MaxAttempts, ctx's deadline (no wait
// that would end past it is started) or a wait longer than MaxRetryWait.
// It returns nil when the push service accepted the message (2xx); else a
// *SendError whose Reason is ErrGone (delete the subscription), ErrRejected
// (log it) or ErrUnavailable. StatusOf tells them apart.
func (s *Sender) Send(ctx context.Context, sub Subscription, m Message) error {
	if err := sub.Validate(s.policy); err != nil {
		return &SendError{Reason: ErrGone, Err: err}
	}
	if len(m.Payload) > MaxPayloadSize {
		return &SendError{Reason: ErrRejected, Err: fmt.Errorf("%w: payload of %d bytes, more than %d", ErrMessage, len(m.Payload), MaxPayloadSize)}
	}
	endpoint := canonicalEndpoint(sub.Endpoint)
	opts := &webpush.Options{
		HTTPClient:      s.client,
		RecordSize:      BodySize,
		Subscriber:      s.subscriber(),
		Topic:           topicHeader(m.Topic, endpoint),
		TTL:             int(s.TTL / time.Second),
		Urgency:         webpush.Urgency(s.Urgency),
		VAPIDPublicKey:  s.keys.PublicKey(),
		VAPIDPrivateKey: s.keys.privateKey(),
	}
	wsub := &webpush.Subscription{Endpoint: endpoint, Keys: webpush.Keys{Auth: sub.Keys.Auth, P256dh: sub.Keys.P256dh}}
	// webpush-go appends the padding to the payload it is given
	// (bytes.NewBuffer(message)): without spare capacity it copies it,
	// instead of writing past len into the caller's array, which concurrent
	// sends of one Message share.
	payload := m.Payload[:len(m.Payload):len(m.Payload)]
	failure := &SendError{Reason: ErrUnavailable}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			failure.Err = err
			return failure
		}
		failure.Attempts = attempt
		retry := s.attempt(ctx, payload, wsub, opts, failure)
		if !retry {
			if failure.Reason == nil {
				return nil
			}
			return failure
		}
		if attempt >= s.MaxAttempts {
			return failure
		}
		wait := failure.RetryAfter
		if wait == 0 {
			wait = s.Backoff(attempt)
		}
		if wait > s.MaxRetryWait {
			return failure
		}
		if deadline, ok := ctx.Deadline(); ok && !s.Now().Add(wait).Before(deadline) {
			return failure
		}
		if err := s.Sleep(ctx, wait); err != nil {
			failure.Err = err
			return failure
		}
	}
}

// attempt makes one POST and records its outcome in f: Reason nil when it
// was accepted. It returns whether the outcome may be retried.
func (s *Sender) attempt(ctx context.Context, payload []byte, sub *webpush.Subscription, opts *webpush.Options, f *SendError) (retry bool) {
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	f.StatusCode, f.RetryAfter, f.Detail, f.Err = 0, 0, "", nil
	resp, err := webpush.SendNotificationWithContext(ctx, payload, sub, opts)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text quotes the endpoint
		}
		f.Err = err
		if errors.Is(err, ErrForbiddenAddress) {
			f.Reason = ErrRejected
			return false
		}
		if errors.Is(err, webpush.ErrMaxPadExceeded) {
			f.Reason, f.Err = ErrRejected, ErrMessage
			return false
		}
		f.Reason = ErrUnavailable
		return uerr != nil // a failed request; not a failure to encrypt
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	code := resp.StatusCode
	f.StatusCode = code
	switch {
	case code >= 200 && code < 300:
		f.Reason = nil
		return false
	case code == http.StatusNotFound || code == http.StatusGone:
		f.Reason = ErrGone
	case code == http.StatusTooManyRequests || code >= 500:
		f.Reason = ErrUnavailable
		f.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.Now())
		f.Detail = detail(body)
		return true
	case code >= 300 && code < 400:
		f.Reason, f.Err = ErrRejected, ErrRedirect
	default:
		f.Reason = ErrRejected
	}
	f.Detail = detail(body)
	return false
}

// subscriber returns the VAPID subject as webpush-go wants it: it prefixes
// "mailto:" to anything that does not begin with "https:", so a mailto:
// subject goes without its scheme.
func (s *Sender) subscriber() string {
	return strings.TrimPrefix(s.keys.Subject(), "mailto:")
}

// canonicalEndpoint returns endpoint with its host in lower case and without
// a :443 port, so that the JWT's aud, which webpush-go writes as the
// endpoint's scheme://host, is its origin (RFC 8292, section 2: an explicit
// default port or upper-case letters would not match). endpoint is valid.
func canonicalEndpoint(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	host := strings.ToLower(u.Host)
	host = strings.TrimSuffix(host, ":443")
	if host == u.Host {
		return endpoint
	}
	u.Host = host
	return u.String()
}

// parseRetryAfter reads a Retry-After header (RFC 9110, section 10.2.3):
// delay-seconds or an HTTP-date; 0 if absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// detail returns the start of an answer's body for SendError.Detail.
func detail(body []byte) string {
	if len(body) > maxErrorDetail {
		body = body[:maxErrorDetail]
	}
	b := make([]byte, len(body))
	for i, c := range body {
		if c < ' ' || c > '~' {
			c = '?'
		}
		b[i] = c
	}
	return string(b)
}
