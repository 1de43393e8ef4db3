package push_test

import (
	"crypto/ecdh"
	"encoding/json"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/push"
)

// Keys of a fixed browser for the fuzz seeds.
const (
	seedP256dh = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	seedAuth   = "BTBZMqHH6r4Tts7J_aSIgg"
)

var reasons = []*push.Invalid{
	push.ErrMalformed, push.ErrEndpointLength, push.ErrEndpointURL, push.ErrEndpointScheme,
	push.ErrEndpointUserinfo, push.ErrEndpointPort, push.ErrEndpointAddress, push.ErrEndpointName,
	push.ErrEndpointHost, push.ErrKeyEncoding, push.ErrP256dh, push.ErrAuth,
}

func subscriptionJSON(endpoint, p256dh, auth string) string {
	b, _ := json.Marshal(map[string]any{"endpoint": endpoint, "expirationTime": nil, "keys": map[string]string{"p256dh": p256dh, "auth": auth}})
	return string(b)
}

// FuzzParseSubscription feeds ParseSubscription any bytes. It never panics;
// a refusal wraps exactly one Invalid and quotes nothing of the endpoint;
// and a subscription it accepts passes checks written here without the
// package's helpers (an https URL without user information on port 443,
// whose host is not a non-public IP address or a local name; keys that
// decode to a point on P-256 and 16 bytes) and parses again to itself from
// its JSON.
func FuzzParseSubscription(f *testing.F) {
	for _, endpoint := range []string{
		fcm, "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk", "https://8.8.8.8/x",
		"https://[2607:f8b0:4004:c1b::5f]/x", "https://fcm.googleapis.com:443/x", "http://fcm.googleapis.com/x",
		"https://127.0.0.1/x", "https://[::ffff:7f00:1]/x", "https://localhost./x", "https://127.1/x",
		"https://0x7f.1/x", "https://u@fcm.googleapis.com/x", "https://fcm.googleapis.com:8443/x",
		"https://169.254.169.254/latest", "https://[fe80::1%25en0]/x", "https://metadata.google.internal/x",
		"https://fcm.googleapis.com/x#f", "https:fcm.googleapis.com", "https://%31%32%37.0.0.1/x",
	} {
		f.Add([]byte(subscriptionJSON(endpoint, seedP256dh, seedAuth)))
	}
	for _, keys := range [][2]string{{"", ""}, {seedP256dh[:86], seedAuth}, {seedP256dh, seedAuth + "AA"}, {"+" + seedP256dh[1:], seedAuth}} {
		f.Add([]byte(subscriptionJSON(fcm, keys[0], keys[1])))
	}
	for _, s := range []string{``, `null`, `{}`, `[]`, `{"endpoint":1}`, `{"endpoint":"` + fcm + `","expirationTime":-5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sub, err := push.ParseSubscription(data, push.Policy{})
		if err != nil {
			n := 0
			for _, r := range reasons {
				if errors.Is(err, r) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("ParseSubscription: %v wraps %d reasons", err, n)
			}
			var loose struct{ Endpoint string }
			if json.Unmarshal(data, &loose) == nil && len(loose.Endpoint) >= 12 && strings.Contains(err.Error(), loose.Endpoint) {
				t.Fatalf("error %q quotes the endpoint", err)
			}
			return
		}
		if why := unsafeEndpoint(sub.Endpoint); why != "" {
			t.Fatalf("ParseSubscription accepted %q: %s", sub.Endpoint, why)
		}
		dh, err1 := b64.DecodeString(strings.TrimRight(sub.Keys.P256dh, "="))
		auth, err2 := b64.DecodeString(strings.TrimRight(sub.Keys.Auth, "="))
		if err1 != nil || err2 != nil || len(auth) != 16 {
			t.Fatalf("ParseSubscription accepted keys %+v", sub.Keys)
		}
		if _, err := ecdh.P256().NewPublicKey(dh); err != nil || len(dh) != 65 {
			t.Fatalf("ParseSubscription accepted p256dh %q: %v", sub.Keys.P256dh, err)
		}
		again, err := json.Marshal(sub)
		if err != nil {
			t.Fatal(err)
		}
		sub2, err := push.ParseSubscription(again, push.Policy{})
		if err != nil || sub2.Endpoint != sub.Endpoint || sub2.Keys != sub.Keys {
			t.Fatalf("%s parses to %+v, %v; want %+v", again, sub2, err, sub)
		}
	})
}

// FuzzValidateEndpoint gives Validate any endpoint with valid keys, so that
// mutations explore the URL checks.
func FuzzValidateEndpoint(f *testing.F) {
	for _, e := range []string{
		fcm, "https://a.b/", "https://[::1]/", "https://1.2.3.4:443/", "https://x.y:0443/", "https://x.y.:443/",
		"https://10.0.0.1/", "https://[64:ff9b::7f00:1]/", "https://a.local/", "https://A.B/C?D#E", "https://0/",
		"https://2130706433/", "https://a@b.c/", "https://b.c\\@d.e/", "https://[2002::1]/",
	} {
		f.Add(e)
	}
	f.Fuzz(func(t *testing.T, endpoint string) {
		s := push.Subscription{Endpoint: endpoint, Keys: push.Keys{P256dh: seedP256dh, Auth: seedAuth}}
		err := s.Validate(push.Policy{})
		if err != nil {
			var r *push.Invalid
			if !errors.As(err, &r) {
				t.Fatalf("Validate: %v wraps no Invalid", err)
			}
			if len(endpoint) >= 12 && strings.Contains(err.Error(), endpoint) {
				t.Fatalf("error %q quotes the endpoint", err)
			}
			return
		}
		if why := unsafeEndpoint(endpoint); why != "" {
			t.Fatalf("Validate accepted %q: %s", endpoint, why)
		}
	})
}

// unsafeEndpoint returns why endpoint should not have been accepted, with
// checks independent of the package's: "" if it is an https URL without
// user information or fragment on port 443, whose host is a public IP
// address or a name of at least two labels outside the local suffixes.
func unsafeEndpoint(endpoint string) string {
	if len(endpoint) > push.MaxEndpointLength {
		return "too long"
	}
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return "does not parse"
	case u.Scheme != "https":
		return "not https"
	case u.User != nil:
		return "user information"
	case u.Fragment != "" || strings.Contains(endpoint, "#"):
		return "a fragment"
	case u.Port() != "" && u.Port() != "443":
		return "port " + u.Port()
	}
	host := strings.ToLower(u.Hostname())
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() ||
			!a.IsGlobalUnicast() || a.Zone() != "" || netip.MustParsePrefix("100.64.0.0/10").Contains(a) {
			return "a non-public address"
		}
		return ""
	}
	host = strings.TrimSuffix(host, ".")
	if !strings.Contains(host, ".") {
		return "one label"
	}
	for _, local := range []string{"localhost", "local", "internal", "home.arpa"} {
		if host == local || strings.HasSuffix(host, "."+local) {
			return "a local name"
		}
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "a character outside LDH"
		}
	}
	last := host[strings.LastIndexByte(host, '.')+1:]
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
		return "a numeric last label"
	}
	return ""
}
