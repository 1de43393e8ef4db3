package push

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/slsrtc/slsrtc/test/pushservice"
)

// fakeResolver returns a resolver that answers every A query with addr and
// every other query with no record, over an in-memory connection: a DNS
// server an attacker controls, for a name that passes Validate.
func fakeResolver(t testing.TB, addr netip.Addr) *net.Resolver {
	t.Helper()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			client, server := net.Pipe()
			go serveDNS(server, addr)
			return client, nil
		},
	}
}

// serveDNS answers queries on c, framed as over TCP (the resolver frames
// them so on a connection that is not a PacketConn), until c is closed.
func serveDNS(c net.Conn, addr netip.Addr) {
	defer c.Close()
	for {
		var n uint16
		if binary.Read(c, binary.BigEndian, &n) != nil {
			return
		}
		query := make([]byte, n)
		if _, err := io.ReadFull(c, query); err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(query)
		if err != nil {
			return
		}
		q, err := p.Question()
		if err != nil {
			return
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		b.EnableCompression()
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		if q.Type == dnsmessage.TypeA && addr.Is4() {
			b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
				dnsmessage.AResource{A: addr.As4()})
		}
		msg, err := b.Finish()
		if err != nil {
			return
		}
		if binary.Write(c, binary.BigEndian, uint16(len(msg))) != nil || binary.Write(c, binary.BigEndian, msg) != nil {
			return
		}
	}
}

// TestDialRefusesRebinding: a public name (example.com, which the test
// service's certificate names) whose DNS answers 127.0.0.1 passes Validate,
// and the Sender refuses to connect; allowed loopback, the same request
// reaches the service, so the refusal is the address check's.
func TestDialRefusesRebinding(t *testing.T) {
	svc := pushservice.New(t)
	keys, err := NewVAPID("mailto:ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	browser := svc.NewSubscription()
	sub, err := ParseSubscription(browser.JSON, Policy{Ports: []int{svc.Port()}, AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	sub.Endpoint = strings.Replace(sub.Endpoint, "127.0.0.1", "example.com", 1)
	m, err := RoomEntered("r1", "mallory", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, allow := range []bool{false, true} {
		p := Policy{Ports: []int{svc.Port()}, RootCAs: svc.CertPool(), AllowLoopback: allow}
		if err := sub.Validate(p); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		s := NewSender(keys, p)
		s.client = newHTTPClient(p, fakeResolver(t, netip.MustParseAddr("127.0.0.1")))
		s.Sleep = func(context.Context, time.Duration) error { return nil }
		before := svc.Requests(browser.ID)
		err := s.Send(t.Context(), sub, m)
		reached := svc.Requests(browser.ID) - before
		if !allow {
			if !errors.Is(err, ErrForbiddenAddress) || !errors.Is(err, ErrRejected) || reached != 0 {
				t.Errorf("Send to a name that resolves to loopback: %v, %d requests; want ErrForbiddenAddress and none", err, reached)
			}
			var se *SendError
			if errors.As(err, &se) && se.Attempts != 1 {
				t.Errorf("a forbidden address was tried %d times", se.Attempts)
			}
			continue
		}
		// The JWT's aud is https://example.com:PORT, not the service's
		// origin: it refuses with 401, once it was reached.
		if reached != 1 || errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Send with loopback allowed: %v, %d requests; want the service reached", err, reached)
		}
	}
}

func TestCheckDial(t *testing.T) {
	p := Policy{Ports: []int{8443}}
	for _, tc := range []struct {
		network, address string
		allow            bool
	}{
		{"tcp", "142.250.74.10:443", true},
		{"tcp6", "[2607:f8b0:4004:c1b::5f]:443", true},
		{"tcp", "142.250.74.10:8443", true},
		{"tcp", "142.250.74.10:22", false},
		{"tcp", "127.0.0.1:443", false},
		{"tcp", "10.1.2.3:443", false},
		{"tcp", "169.254.169.254:443", false},
		{"tcp6", "[::1]:443", false},
		{"tcp6", "[::ffff:10.0.0.1]:443", false},
		{"tcp6", "[fd00::1]:443", false},
		{"tcp", "100.100.100.200:443", false},
		{"udp", "142.250.74.10:443", false},
		{"tcp", "not an address", false},
	} {
		err := checkDial(tc.network, tc.address, p)
		if (err == nil) != tc.allow || (err != nil && !errors.Is(err, ErrForbiddenAddress)) {
			t.Errorf("checkDial(%s, %s) = %v, want allowed %v", tc.network, tc.address, err, tc.allow)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"3", 3 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-1", 0},
		{"1.5", 0},
		{"99999999999999", 0},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second},
		{"Sun, 01 Mar 2026 11:59:00 GMT", 0},
		{"soon", 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestCanonicalEndpoint: webpush-go writes the JWT's aud as the endpoint's
// scheme://host, which must be the origin.
func TestCanonicalEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"https://fcm.googleapis.com/fcm/send/a":        "https://fcm.googleapis.com/fcm/send/a",
		"https://fcm.googleapis.com:443/fcm/send/a":    "https://fcm.googleapis.com/fcm/send/a",
		"https://FCM.GoogleAPIs.com/fcm/send/AbC":      "https://fcm.googleapis.com/fcm/send/AbC",
		"https://push.example.com:8443/a?token=x%2Fy":  "https://push.example.com:8443/a?token=x%2Fy",
		"https://[2001:4860::1]:443/a":                 "https://[2001:4860::1]/a",
		"https://Push.Example.com:443/a%2Fb?c=D#":      "https://push.example.com/a%2Fb?c=D",
		"https://wns2-par02p.notify.windows.com/w/?t=": "https://wns2-par02p.notify.windows.com/w/?t=",
	} {
		if got := canonicalEndpoint(in); got != want {
			t.Errorf("canonicalEndpoint(%s) = %s, want %s", in, got, want)
		}
	}
}

// roundTripper answers every request 201 without a network: what is left of
// a Send is webpush-go's work (key agreement, encryption, JWT).
type roundTripper struct{}

func (roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{StatusCode: 201, Body: io.NopCloser(bytes.NewReader(nil)), Header: http.Header{}, Request: r}, nil
}

// BenchmarkSendOffline measures one Send without a network or a push
// service: the encryption (an ECDH key pair and agreement, HKDF, AES-GCM of
// BodySize bytes) and the VAPID JWT (an ECDSA signature).
func BenchmarkSendOffline(b *testing.B) {
	keys, err := NewVAPID("mailto:ops@example.com")
	if err != nil {
		b.Fatal(err)
	}
	svc := pushservice.New(b)
	browser := svc.NewSubscription()
	p := Policy{Ports: []int{svc.Port()}, AllowLoopback: true}
	sub, err := ParseSubscription(browser.JSON, p)
	if err != nil {
		b.Fatal(err)
	}
	s := NewSender(keys, p)
	s.client = &http.Client{Transport: roundTripper{}}
	m, err := RoomEntered("3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b", "alice", "https://app.example.com/?room=3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(b.Context(), sub, m); err != nil {
			b.Fatal(err)
		}
	}
}
