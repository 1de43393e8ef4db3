package push_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/push"
)

var b64 = base64.RawURLEncoding

// newKeys returns valid keys, as a browser makes them.
func newKeys(t testing.TB) push.Keys {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return push.Keys{P256dh: b64.EncodeToString(k.PublicKey().Bytes()), Auth: b64.EncodeToString(auth)}
}

const fcm = "https://fcm.googleapis.com/fcm/send/dGVzdC10b2tlbjpBUEE5MWJHZXhhbXBsZQ"

func TestValidateAccepts(t *testing.T) {
	keys := newKeys(t)
	for _, tc := range []struct {
		name     string
		endpoint string
		policy   push.Policy
	}{
		{"FCM", fcm, push.Policy{}},
		{"Mozilla", "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk", push.Policy{}},
		{"Apple", "https://web.push.apple.com/QGuQyavXutnMH", push.Policy{}},
		{"WNS with a query", "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAD", push.Policy{}},
		{"explicit port 443", "https://fcm.googleapis.com:443/fcm/send/x", push.Policy{}},
		{"upper-case scheme and host", "HTTPS://FCM.googleapis.com/fcm/send/x", push.Policy{}},
		{"a trailing dot", "https://fcm.googleapis.com./fcm/send/x", push.Policy{}},
		{"a public IPv4 address", "https://8.8.8.8/push/x", push.Policy{}},
		{"a public IPv6 address", "https://[2607:f8b0:4004:c1b::5f]/push/x", push.Policy{}},
		{"an allowed port", "https://push.example.com:8443/x", push.Policy{Ports: []int{8443}}},
		{"loopback when allowed", "https://127.0.0.1:8443/push/x", push.Policy{Ports: []int{8443}, AllowLoopback: true}},
		{"IPv6 loopback when allowed", "https://[::1]/push/x", push.Policy{AllowLoopback: true}},
		{"a known service", fcm, push.Policy{Hosts: push.KnownServices}},
		{"a subdomain of a known service", "https://wns2-par02p.notify.windows.com/w/?token=x", push.Policy{Hosts: push.KnownServices}},
		{"the longest endpoint", "https://push.example.com/" + strings.Repeat("a", push.MaxEndpointLength-len("https://push.example.com/")), push.Policy{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := push.Subscription{Endpoint: tc.endpoint, Keys: keys}
			if err := s.Validate(tc.policy); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	t.Run("padded keys", func(t *testing.T) {
		k := keys
		k.P256dh = base64.URLEncoding.EncodeToString(mustB64(t, k.P256dh))
		k.Auth = base64.URLEncoding.EncodeToString(mustB64(t, k.Auth))
		if err := (push.Subscription{Endpoint: fcm, Keys: k}).Validate(push.Policy{}); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateRefuses(t *testing.T) {
	keys := newKeys(t)
	p256dh := mustB64(t, keys.P256dh)
	offCurve := append([]byte(nil), p256dh...)
	offCurve[64] ^= 1
	compressed := append([]byte{2 + p256dh[64]&1}, p256dh[1:33]...)
	with := func(f func(*push.Keys)) push.Keys { k := keys; f(&k); return k }
	for _, tc := range []struct {
		name     string
		endpoint string
		keys     push.Keys
		policy   push.Policy
		want     *push.Invalid
	}{
		{"empty endpoint", "", keys, push.Policy{}, push.ErrEndpointScheme},
		{"not a URL", "https://fcm.googleapis.com/%zz", keys, push.Policy{}, push.ErrEndpointURL},
		{"relative", "/fcm/send/x", keys, push.Policy{}, push.ErrEndpointScheme},
		{"opaque", "https:fcm.googleapis.com/x", keys, push.Policy{}, push.ErrEndpointURL},
		{"no host", "https:///x", keys, push.Policy{}, push.ErrEndpointURL},
		{"a fragment", fcm + "#x", keys, push.Policy{}, push.ErrEndpointURL},
		{"an empty fragment", fcm + "#", keys, push.Policy{}, push.ErrEndpointURL},
		{"a non-ASCII host", "https://bücher.example.com/x", keys, push.Policy{}, push.ErrEndpointURL},
		{"an underscore in the host", "https://push_service.example.com/x", keys, push.Policy{}, push.ErrEndpointURL},
		{"an empty label", "https://push..example.com/x", keys, push.Policy{}, push.ErrEndpointURL},
		{"a label of 64 characters", "https://" + strings.Repeat("a", 64) + ".example.com/x", keys, push.Policy{}, push.ErrEndpointURL},
		{"an IPv4 address in brackets", "https://[127.0.0.1]/x", keys, push.Policy{}, push.ErrEndpointURL},
		{"an IPv6 zone", "https://[fe80::1%25eth0]/x", keys, push.Policy{}, push.ErrEndpointURL},
		{"an empty port", "https://fcm.googleapis.com:/x", keys, push.Policy{}, push.ErrEndpointURL},
		{"port 0443", "https://fcm.googleapis.com:0443/x", keys, push.Policy{}, push.ErrEndpointURL},
		{"port 70000", "https://fcm.googleapis.com:70000/x", keys, push.Policy{}, push.ErrEndpointURL},
		{"http", "http://fcm.googleapis.com/fcm/send/x", keys, push.Policy{}, push.ErrEndpointScheme},
		{"wss", "wss://fcm.googleapis.com/x", keys, push.Policy{}, push.ErrEndpointScheme},
		{"javascript", "javascript:alert(1)", keys, push.Policy{}, push.ErrEndpointScheme},
		{"user information", "https://user:pass@fcm.googleapis.com/x", keys, push.Policy{}, push.ErrEndpointUserinfo},
		{"an @ that hides the host", "https://fcm.googleapis.com@169.254.169.254/x", keys, push.Policy{}, push.ErrEndpointUserinfo},
		{"port 8443", "https://push.example.com:8443/x", keys, push.Policy{}, push.ErrEndpointPort},
		{"port 80", "https://push.example.com:80/x", keys, push.Policy{Ports: []int{8443}}, push.ErrEndpointPort},
		{"loopback", "https://127.0.0.1/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"loopback 127.1.2.3", "https://127.1.2.3/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"IPv6 loopback", "https://[::1]/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"IPv4-mapped loopback", "https://[::ffff:127.0.0.1]/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"private 10/8", "https://10.0.0.1/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"private 172.16/12", "https://172.31.255.1/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"private 192.168/16", "https://192.168.1.1/x", keys, push.Policy{AllowLoopback: true}, push.ErrEndpointAddress},
		{"link-local (cloud metadata)", "https://169.254.169.254/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"IPv6 link-local", "https://[fe80::1]/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"unique-local", "https://[fd00:ec2::254]/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"CGNAT", "https://100.64.0.1/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"multicast", "https://224.0.0.1/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"IPv6 multicast", "https://[ff02::1]/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"unspecified", "https://0.0.0.0/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"IPv6 unspecified", "https://[::]/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"this network 0/8", "https://0.1.2.3/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"broadcast", "https://255.255.255.255/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"documentation", "https://192.0.2.1/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"benchmarking", "https://198.18.0.1/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"NAT64 of a private address", "https://[64:ff9b::a00:1]/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"6to4", "https://[2002:7f00:1::]/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"Teredo", "https://[2001:0::1]/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"IPv6 documentation", "https://[2001:db8::1]/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"site-local", "https://[fec0::1]/x", keys, push.Policy{}, push.ErrEndpointAddress},
		{"localhost", "https://localhost/x", keys, push.Policy{AllowLoopback: true}, push.ErrEndpointName},
		{"localhost.", "https://localhost./x", keys, push.Policy{}, push.ErrEndpointName},
		{"LOCALHOST", "https://LOCALHOST/x", keys, push.Policy{}, push.ErrEndpointName},
		{"a subdomain of localhost", "https://push.localhost/x", keys, push.Policy{}, push.ErrEndpointName},
		{"mDNS .local", "https://printer.local/x", keys, push.Policy{}, push.ErrEndpointName},
		{".internal", "https://metadata.google.internal/x", keys, push.Policy{}, push.ErrEndpointName},
		{"home.arpa", "https://router.home.arpa/x", keys, push.Policy{}, push.ErrEndpointName},
		{"one label", "https://intranet/x", keys, push.Policy{}, push.ErrEndpointName},
		{"a decimal IPv4", "https://2130706433/x", keys, push.Policy{}, push.ErrEndpointName},
		{"a short IPv4", "https://127.1/x", keys, push.Policy{}, push.ErrEndpointName},
		{"a hexadecimal IPv4", "https://0x7f.0.0.1/x", keys, push.Policy{}, push.ErrEndpointName},
		{"an octal IPv4", "https://0177.0.0.01/x", keys, push.Policy{}, push.ErrEndpointName},
		{"not a known service", "https://push.example.com/x", keys, push.Policy{Hosts: push.KnownServices}, push.ErrEndpointHost},
		{"a suffix but not a subdomain", "https://evilfcm.googleapis.com.example.com/x", keys, push.Policy{Hosts: []string{"fcm.googleapis.com"}}, push.ErrEndpointHost},
		{"an address with known services", "https://8.8.8.8/x", keys, push.Policy{Hosts: push.KnownServices}, push.ErrEndpointHost},
		{"too long", "https://push.example.com/" + strings.Repeat("a", push.MaxEndpointLength), keys, push.Policy{}, push.ErrEndpointLength},
		{"p256dh not base64url", fcm, with(func(k *push.Keys) { k.P256dh = "!" + k.P256dh[1:] }), push.Policy{}, push.ErrKeyEncoding},
		{"p256dh in the standard alphabet", fcm, with(func(k *push.Keys) {
			k.P256dh = strings.NewReplacer("-", "+", "_", "/").Replace(b64.EncodeToString(append([]byte{4}, make([]byte, 64)...)) + "+/")
		}), push.Policy{}, push.ErrKeyEncoding},
		{"p256dh with white space", fcm, with(func(k *push.Keys) { k.P256dh = k.P256dh[:40] + "\n" + k.P256dh[40:] }), push.Policy{}, push.ErrKeyEncoding},
		{"p256dh missing", fcm, with(func(k *push.Keys) { k.P256dh = "" }), push.Policy{}, push.ErrP256dh},
		{"p256dh of 64 bytes", fcm, with(func(k *push.Keys) { k.P256dh = b64.EncodeToString(p256dh[:64]) }), push.Policy{}, push.ErrP256dh},
		{"p256dh compressed", fcm, with(func(k *push.Keys) { k.P256dh = b64.EncodeToString(compressed) }), push.Policy{}, push.ErrP256dh},
		{"p256dh with another prefix", fcm, with(func(k *push.Keys) {
			b := append([]byte(nil), p256dh...)
			b[0] = 6
			k.P256dh = b64.EncodeToString(b)
		}), push.Policy{}, push.ErrP256dh},
		{"p256dh off the curve", fcm, with(func(k *push.Keys) { k.P256dh = b64.EncodeToString(offCurve) }), push.Policy{}, push.ErrP256dh},
		{"p256dh all zeros", fcm, with(func(k *push.Keys) { k.P256dh = b64.EncodeToString(append([]byte{4}, make([]byte, 64)...)) }), push.Policy{}, push.ErrP256dh},
		{"auth not base64url", fcm, with(func(k *push.Keys) { k.Auth = "n0t~base64url!" }), push.Policy{}, push.ErrKeyEncoding},
		{"auth missing", fcm, with(func(k *push.Keys) { k.Auth = "" }), push.Policy{}, push.ErrAuth},
		{"auth of 15 bytes", fcm, with(func(k *push.Keys) { k.Auth = b64.EncodeToString(make([]byte, 15)) }), push.Policy{}, push.ErrAuth},
		{"auth of 32 bytes", fcm, with(func(k *push.Keys) { k.Auth = b64.EncodeToString(make([]byte, 32)) }), push.Policy{}, push.ErrAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := push.Subscription{Endpoint: tc.endpoint, Keys: tc.keys}
			err := s.Validate(tc.policy)
			checkInvalid(t, err, tc.want, s)
		})
	}
}

// checkInvalid checks that err wraps want and no other Invalid, and quotes
// none of s.
func checkInvalid(t *testing.T, err error, want *push.Invalid, s push.Subscription) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %s", err, want.Code())
	}
	var r *push.Invalid
	if !errors.As(err, &r) || r != want {
		t.Errorf("errors.As finds %v, want %s", r, want.Code())
	}
	for _, secret := range []string{s.Endpoint, s.Keys.P256dh, s.Keys.Auth} {
		if len(secret) >= 8 && strings.Contains(err.Error(), secret) {
			t.Errorf("error %q quotes the subscription", err)
		}
	}
	if u := strings.TrimPrefix(s.Endpoint, "https://"); len(u) > 12 && strings.Contains(err.Error(), u[:12]) {
		t.Errorf("error %q quotes the endpoint", err)
	}
}

func TestParseSubscription(t *testing.T) {
	keys := newKeys(t)
	js := `{"endpoint":"` + fcm + `","expirationTime":null,"keys":{"p256dh":"` + keys.P256dh + `","auth":"` + keys.Auth + `"}}`
	s, err := push.ParseSubscription([]byte(js), push.Policy{})
	if err != nil {
		t.Fatalf("ParseSubscription: %v", err)
	}
	if s.Endpoint != fcm || s.Keys != keys || s.ExpirationTime != nil {
		t.Errorf("ParseSubscription = %+v", s)
	}
	if _, ok := s.ExpiresAt(); ok {
		t.Error("ExpiresAt says the subscription expires")
	}
	t.Run("expirationTime and unknown fields", func(t *testing.T) {
		js := `{"endpoint":"` + fcm + `","expirationTime":1767225600000.5,"keys":{"p256dh":"` + keys.P256dh + `","auth":"` + keys.Auth + `","x":"y"},"options":{}}`
		s, err := push.ParseSubscription([]byte(js), push.Policy{})
		if err != nil {
			t.Fatalf("ParseSubscription: %v", err)
		}
		at, ok := s.ExpiresAt()
		if !ok || at.UnixMilli() != 1767225600000 {
			t.Errorf("ExpiresAt = %v, %v; want 2026-01-01", at, ok)
		}
	})
	for _, tc := range []struct {
		name string
		js   string
		want *push.Invalid
	}{
		{"empty", ``, push.ErrMalformed},
		{"null", `null`, push.ErrMalformed},
		{"a list", `[]`, push.ErrMalformed},
		{"a string", `"` + fcm + `"`, push.ErrMalformed},
		{"endpoint a number", `{"endpoint":1}`, push.ErrMalformed},
		{"keys a string", `{"endpoint":"` + fcm + `","keys":"x"}`, push.ErrMalformed},
		{"expirationTime a string", `{"endpoint":"` + fcm + `","expirationTime":"soon","keys":{}}`, push.ErrMalformed},
		{"expirationTime negative", `{"endpoint":"` + fcm + `","expirationTime":-1,"keys":{"p256dh":"` + keys.P256dh + `","auth":"` + keys.Auth + `"}}`, push.ErrMalformed},
		{"trailing data", js + `{}`, push.ErrMalformed},
		{"too long", js + strings.Repeat(" ", push.MaxSubscriptionSize), push.ErrMalformed},
		{"no keys", `{"endpoint":"` + fcm + `"}`, push.ErrP256dh},
		{"an http endpoint", strings.Replace(js, "https:", "http:", 1), push.ErrEndpointScheme},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := push.ParseSubscription([]byte(tc.js), push.Policy{})
			checkInvalid(t, err, tc.want, push.Subscription{Endpoint: fcm, Keys: keys})
		})
	}
}

func TestInvalidCodes(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range []*push.Invalid{
		push.ErrMalformed, push.ErrEndpointLength, push.ErrEndpointURL, push.ErrEndpointScheme,
		push.ErrEndpointUserinfo, push.ErrEndpointPort, push.ErrEndpointAddress, push.ErrEndpointName,
		push.ErrEndpointHost, push.ErrKeyEncoding, push.ErrP256dh, push.ErrAuth,
	} {
		if r.Code() == "" || seen[r.Code()] {
			t.Errorf("code %q is empty or not unique", r.Code())
		}
		seen[r.Code()] = true
	}
}

func TestSubscriptionID(t *testing.T) {
	a := push.Subscription{Endpoint: fcm}
	b := push.Subscription{Endpoint: fcm + "x"}
	if a.ID() != a.ID() || a.ID() == b.ID() || len(a.ID()) != 22 || strings.Contains(fcm, a.ID()) {
		t.Errorf("IDs %q and %q", a.ID(), b.ID())
	}
}
