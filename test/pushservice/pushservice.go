// Package pushservice is a push service for tests: an HTTPS server on
// loopback that behaves like the ones browsers use (RFC 8030), and the
// browser's side of a subscription.
//
// NewSubscription does what pushManager.subscribe does: it makes a key pair
// and an auth secret, keeps the private key, and returns the
// PushSubscription JSON the page would send to the server, with an endpoint
// on the service. A POST to the endpoint is checked as a push service would
// check it, and its payload decrypted as the browser would decrypt it:
//
//   - Authorization: vapid t=<JWT>, k=<key> (RFC 8292): an ES256 JWT signed
//     by k, aud the service's origin, exp in the future and at most 24 hours
//     away, sub a mailto: or https: URI; else 401. A subscription made for
//     an applicationServerKey (NewSubscriptionFor) refuses another k with
//     403, as FCM does;
//   - a TTL header of a non-negative integer, an Urgency (if any) of the four
//     values, a Topic (if any) of at most 32 base64url characters; else 400;
//   - Content-Encoding: aes128gcm, else 415; a body of at most 4096 bytes,
//     else 413;
//   - the body decrypts (RFC 8188 and RFC 8291, one record) with the
//     subscription's keys; else 400.
//
// An accepted message is answered 201 and recorded (Messages). Queue and
// Always make a subscription answer 404, 410, 429 with a Retry-After, 500 or
// a redirect instead, after the checks; Unsubscribe makes it answer 410.
//
// The checks and the decryption are this package's own, from the RFCs
// (crypto/ecdh, crypto/hkdf, crypto/aes, crypto/ecdsa), not a push
// library's, so that a sender tested against the service is tested against
// the RFCs. Only loopback is used.
package pushservice

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxBody is the largest body the service accepts: the 4096 bytes RFC 8030
// (section 7.2) asks every push service to accept.
const MaxBody = 4096

// A Subscription is a browser's subscription to the service.
type Subscription struct {
	// ID names the subscription in the service's methods.
	ID string
	// Endpoint is the URL messages are posted to.
	Endpoint string
	// JSON is what PushSubscription.toJSON() gives the page:
	// {"endpoint":…,"expirationTime":null,"keys":{"p256dh":…,"auth":…}}.
	JSON []byte
	// PrivateKey is the browser's private key; p256dh is its public key.
	PrivateKey *ecdh.PrivateKey
	// Auth is the browser's authentication secret.
	Auth []byte
}

// A Message is a message the service accepted for a subscription.
type Message struct {
	// Payload is the decrypted payload.
	Payload []byte
	// BodySize is the size of the encrypted body.
	BodySize int
	// TTL, Urgency and Topic are the request's headers ("" if absent).
	TTL            int
	Urgency, Topic string
	// Key is the VAPID public key (k), Subject the JWT's sub, Expires its
	// exp.
	Key, Subject string
	Expires      time.Time
}

// An Answer is what the service answers a request instead of 201, once the
// request has passed the checks.
type Answer struct {
	// Status is the status code (404, 410, 429, 500, 307, ...).
	Status int
	// RetryAfter, Location and Body are sent if not empty.
	RetryAfter, Location, Body string
	// Reached, if not nil, receives the subscription's ID when a request
	// gets to this answer (the send must not block: make it buffered).
	Reached chan<- string
	// Hold, if not nil, delays the answer until it is closed or the
	// request is abandoned by the client.
	Hold <-chan struct{}
}

// Service is a push service for tests. Its methods are safe for concurrent
// use.
type Service struct {
	server *httptest.Server

	mu        sync.Mutex
	now       func() time.Time
	subs      map[string]*subscription
	refusals  []string
	unrouted  int
	inFlight  int
	maxFlight int
}

type subscription struct {
	Subscription
	serverKey string // the applicationServerKey it is bound to; "" any
	gone      bool
	queue     []Answer
	always    *Answer
	requests  int
	messages  []Message
}

// New starts a service on loopback, closed when the test ends.
func New(t testing.TB) *Service {
	t.Helper()
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start starts a service on loopback; Close stops it. (New does both for a
// test; Start is for examples.)
func Start() *Service {
	s := &Service{now: time.Now, subs: map[string]*subscription{}}
	s.server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.server.EnableHTTP2 = true
	s.server.StartTLS()
	return s
}

// Close stops the service, after the requests in progress have ended.
func (s *Service) Close() { s.server.Close() }

// URL returns the service's origin, https://127.0.0.1:PORT.
func (s *Service) URL() string { return s.server.URL }

// Port returns the port the service listens on.
func (s *Service) Port() int {
	u, _ := url.Parse(s.server.URL)
	port, _ := strconv.Atoi(u.Port())
	return port
}

// CertPool returns a pool holding the service's certificate, for a client's
// RootCAs.
func (s *Service) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.server.Certificate())
	return pool
}

// Client returns an HTTP client that trusts the service.
func (s *Service) Client() *http.Client { return s.server.Client() }

// SetClock sets the clock the JWT's exp is checked with (time.Now by
// default).
func (s *Service) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// NewSubscription subscribes a new browser, accepting any VAPID key.
func (s *Service) NewSubscription() Subscription {
	return s.NewSubscriptionFor("")
}

// NewSubscriptionFor subscribes a new browser with applicationServerKey
// (base64url), as pushManager.subscribe({applicationServerKey}) does: the
// service refuses messages for it signed with another key (403). "" accepts
// any key.
func (s *Service) NewSubscriptionFor(applicationServerKey string) Subscription {
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return s.add(key, auth, applicationServerKey)
}

// add registers a subscription with the given keys.
func (s *Service) add(key *ecdh.PrivateKey, auth []byte, serverKey string) Subscription {
	id := strings.ToLower(rand.Text())
	endpoint := s.server.URL + "/push/" + id
	js, err := json.Marshal(map[string]any{
		"endpoint":       endpoint,
		"expirationTime": nil,
		"keys": map[string]string{
			"p256dh": b64.EncodeToString(key.PublicKey().Bytes()),
			"auth":   b64.EncodeToString(auth),
		},
	})
	if err != nil {
		panic(err)
	}
	sub := Subscription{ID: id, Endpoint: endpoint, JSON: js, PrivateKey: key, Auth: auth}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[id] = &subscription{Subscription: sub, serverKey: serverKey}
	return sub
}

// Queue makes the subscription's next requests that pass the checks get
// answers, one each, in order; requests after them are accepted again (or
// get the Always answer).
func (s *Service) Queue(id string, answers ...Answer) {
	s.with(id, func(sub *subscription) { sub.queue = append(sub.queue, answers...) })
}

// Always makes every request to the subscription that passes the checks get
// a, after the queued answers.
func (s *Service) Always(id string, a Answer) {
	s.with(id, func(sub *subscription) { sub.always = &a })
}

// Unsubscribe ends the subscription, as the browser's unsubscribe does: its
// endpoint answers 410 Gone from now on.
func (s *Service) Unsubscribe(id string) {
	s.with(id, func(sub *subscription) { sub.gone = true })
}

// Messages returns the messages the subscription accepted, in order.
func (s *Service) Messages(id string) []Message {
	var out []Message
	s.with(id, func(sub *subscription) { out = append(out, sub.messages...) })
	return out
}

// Requests returns how many requests reached the subscription's endpoint,
// refused ones included.
func (s *Service) Requests(id string) int {
	var n int
	s.with(id, func(sub *subscription) { n = sub.requests })
	return n
}

// MaxInFlight returns the most requests the service has been handling at
// once.
func (s *Service) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxFlight
}

// Refusals returns why the service refused requests, one line each
// ("401: the JWT has expired"), in order.
func (s *Service) Refusals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refusals...)
}

func (s *Service) with(id string, f func(*subscription)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[id]
	if !ok {
		panic("pushservice: no subscription " + id)
	}
	f(sub)
}

var (
	pathRE  = regexp.MustCompile(`^/push/([a-z0-9]+)$`)
	topicRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
)

// serve handles a POST to an endpoint: the checks of the package
// documentation, then the subscription's answer.
func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	m := pathRE.FindStringSubmatch(r.URL.Path)
	s.mu.Lock()
	s.inFlight++
	s.maxFlight = max(s.maxFlight, s.inFlight)
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	var sub *subscription
	if m != nil {
		sub = s.subs[m[1]]
	}
	if sub == nil {
		s.unrouted++
		s.mu.Unlock()
		s.refuse(w, http.StatusNotFound, "no such subscription")
		return
	}
	sub.requests++
	gone, serverKey, now, ua, auth := sub.gone, sub.serverKey, s.now(), sub.PrivateKey, sub.Auth
	s.mu.Unlock()

	if r.Method != http.MethodPost {
		s.refuse(w, http.StatusMethodNotAllowed, "not a POST")
		return
	}
	if gone {
		s.refuse(w, http.StatusGone, "unsubscribed")
		return
	}
	v, err := verifyVAPID(r.Header.Get("Authorization"), s.server.URL, now)
	if err != nil {
		s.refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	if serverKey != "" && v.key != serverKey {
		s.refuse(w, http.StatusForbidden, "the VAPID key is not the subscription's applicationServerKey")
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get("TTL"))
	if err != nil || ttl < 0 {
		s.refuse(w, http.StatusBadRequest, "no TTL, or not a non-negative integer")
		return
	}
	urgency := r.Header.Get("Urgency")
	switch urgency {
	case "", "very-low", "low", "normal", "high":
	default:
		s.refuse(w, http.StatusBadRequest, "Urgency is not very-low, low, normal or high")
		return
	}
	topic := r.Header.Get("Topic")
	if topic != "" && !topicRE.MatchString(topic) {
		s.refuse(w, http.StatusBadRequest, "Topic is not 1 to 32 base64url characters")
		return
	}
	if r.Header.Get("Content-Encoding") != "aes128gcm" {
		s.refuse(w, http.StatusUnsupportedMediaType, "Content-Encoding is not aes128gcm")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		s.refuse(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if len(body) > MaxBody {
		s.refuse(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a body of more than %d bytes", MaxBody))
		return
	}
	payload, err := decrypt(body, ua, auth)
	if err != nil {
		s.refuse(w, http.StatusBadRequest, "decrypting: "+err.Error())
		return
	}

	s.mu.Lock()
	var answer *Answer
	switch {
	case len(sub.queue) > 0:
		answer = &sub.queue[0]
		sub.queue = sub.queue[1:]
	case sub.always != nil:
		answer = sub.always
	default:
		sub.messages = append(sub.messages, Message{
			Payload: payload, BodySize: len(body), TTL: ttl, Urgency: urgency, Topic: topic,
			Key: v.key, Subject: v.subject, Expires: v.expires,
		})
	}
	s.mu.Unlock()
	if answer == nil {
		w.Header().Set("Location", s.server.URL+"/message/"+strings.ToLower(rand.Text()))
		w.WriteHeader(http.StatusCreated)
		return
	}
	s.answer(w, r, sub.ID, *answer)
}

// answer sends a scripted answer.
func (s *Service) answer(w http.ResponseWriter, r *http.Request, id string, a Answer) {
	if a.Reached != nil {
		a.Reached <- id
	}
	if a.Hold != nil {
		select {
		case <-a.Hold:
		case <-r.Context().Done():
			return
		}
	}
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	if a.Location != "" {
		w.Header().Set("Location", a.Location)
	}
	w.WriteHeader(a.Status)
	io.WriteString(w, a.Body)
}

// refuse answers status and records why.
func (s *Service) refuse(w http.ResponseWriter, status int, why string) {
	s.mu.Lock()
	s.refusals = append(s.refusals, fmt.Sprintf("%d: %s", status, why))
	s.mu.Unlock()
	http.Error(w, why, status)
}
