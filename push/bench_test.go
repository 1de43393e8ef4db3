package push_test

import (
	"testing"

	"github.com/slsrtc/slsrtc/test/pushservice"
)

// BenchmarkSend measures one Send against the test push service on
// loopback: the encryption and JWT, an HTTP/2 POST over a kept-alive TLS
// connection, and the service's own checks (the JWT's signature) and
// decryption. Allocations count both sides.
func BenchmarkSend(b *testing.B) {
	svc := pushservice.New(b)
	s, _, _ := newSender(b, svc)
	_, sub := subscribe(b, svc)
	m := roomEntered(b, room, "alice")
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(b.Context(), sub, m); err != nil {
			b.Fatal(err)
		}
	}
}
