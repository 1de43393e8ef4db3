package push

import (
	"bytes"
	"crypto/ecdh"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	// MaxEndpointLength bounds an endpoint URL, in bytes. The endpoints of
	// the push services browsers use today are 100 to 500 bytes (Windows'
	// WNS, which carries its token in the query, has the longest); 2048
	// leaves room for a service that lengthens them, and keeps a room's
	// subscriptions a few kilobytes in the table.
	MaxEndpointLength = 2048
	// MaxSubscriptionSize bounds the JSON ParseSubscription reads, in bytes:
	// the longest endpoint, the keys, and room for white space and fields a
	// browser may add.
	MaxSubscriptionSize = 4096
	// P256dhLength is the size of the p256dh key: an uncompressed P-256
	// point (0x04, X, Y; RFC 8291, section 3.1).
	P256dhLength = 65
	// AuthLength is the size of the auth secret (RFC 8291, section 3.2).
	AuthLength = 16
)

// A Subscription is a browser's PushSubscription as its toJSON method gives
// it to the page, which sends it to the server:
//
//	{"endpoint":"https://fcm.googleapis.com/fcm/send/…","expirationTime":null,
//	 "keys":{"p256dh":"BNcRd…","auth":"tBHI…"}}
//
// Whoever knows the endpoint can post to it, but only a holder of the VAPID
// key the subscription was made with gets past the push service, and only
// the browser can read what is posted (it is encrypted to p256dh and auth).
type Subscription struct {
	// Endpoint is the push service's URL for this subscription.
	Endpoint string `json:"endpoint"`
	// ExpirationTime is when the subscription expires, in milliseconds since
	// the epoch (a DOMTimeStamp); nil (null) if it does not. See ExpiresAt.
	ExpirationTime *float64 `json:"expirationTime,omitempty"`
	// Keys are the browser's keys messages are encrypted to.
	Keys Keys `json:"keys"`
}

// Keys are a subscription's keys, each base64url-encoded (RFC 4648, section
// 5; browsers omit the padding).
type Keys struct {
	// P256dh is the browser's ECDH public key: an uncompressed P-256 point.
	P256dh string `json:"p256dh"`
	// Auth is the browser's 16-byte authentication secret.
	Auth string `json:"auth"`
}

// ExpiresAt returns when the subscription expires, and false if it does not
// say. The store can keep a subscription no longer than this.
func (s Subscription) ExpiresAt() (time.Time, bool) {
	if s.ExpirationTime == nil {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(*s.ExpirationTime)), true
}

// ID returns a short, stable name for the subscription, for a key in the
// store: the first 128 bits of the SHA-256 of its endpoint, base64url (22
// characters). The push service makes a new endpoint for each subscription,
// so two subscriptions with the same ID are the same one, and the ID does
// not reveal the endpoint.
func (s Subscription) ID() string {
	sum := sha256.Sum256([]byte(s.Endpoint))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// A Policy says which push endpoints Validate accepts and which servers the
// Sender connects to. The zero Policy is the one for production: https on
// port 443 to public addresses, any host, the system's certificate roots.
type Policy struct {
	// Ports are the ports an endpoint may name besides 443 (the test push
	// service listens on a random port).
	Ports []int
	// AllowLoopback accepts endpoints whose host is a loopback IP address
	// (127.0.0.0/8, ::1), and lets the Sender connect to loopback
	// addresses: for tests against a local push service. The name localhost
	// stays refused.
	AllowLoopback bool
	// Hosts, if not empty, are the only hosts an endpoint may name: a host
	// matches an entry equal to it or a parent domain of it
	// ("notify.windows.com" matches "wns2-par02p.notify.windows.com").
	// KnownServices lists the push services of the major browsers.
	Hosts []string
	// RootCAs are the certificate authorities the Sender trusts; nil means
	// the system's. Tests set the test push service's.
	RootCAs *x509.CertPool
}

// KnownServices are the hosts of the push services of the major browsers in
// 2026, for Policy.Hosts: Chrome and its derivatives (Firebase Cloud
// Messaging), Firefox (Mozilla autopush), Safari (Apple), Edge (Windows
// Notification Service).
var KnownServices = []string{
	"fcm.googleapis.com",
	"android.googleapis.com",
	"push.services.mozilla.com",
	"push.apple.com",
	"notify.windows.com",
}

// allowsPort reports whether an endpoint may name port.
func (p Policy) allowsPort(port int) bool {
	return port == 443 || slices.Contains(p.Ports, port)
}

// allowsHost reports whether host (lower case) is in Hosts, or Hosts is
// empty.
func (p Policy) allowsHost(host string) bool {
	if len(p.Hosts) == 0 {
		return true
	}
	for _, h := range p.Hosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if host == h || strings.HasSuffix(host, "."+h) {
			return true
		}
	}
	return false
}

// An Invalid is why a subscription was refused. The variables below are the
// only Invalid values; errors wrap them with detail that never quotes the
// subscription (its endpoint is a capability), and errors.Is and errors.As
// find them.
type Invalid struct {
	code, text string
}

// Error returns a fixed sentence for the reason.
func (r *Invalid) Error() string { return r.text }

// Code returns a short, stable name for the reason ("endpoint-port"), for
// an error frame, a log field or a metric dimension.
func (r *Invalid) Code() string { return r.code }

// The reasons a subscription is refused.
var (
	// ErrMalformed: not a JSON object with the fields of a PushSubscription
	// (endpoint a string, keys an object of strings, expirationTime a
	// number or null), or longer than MaxSubscriptionSize.
	ErrMalformed = &Invalid{"malformed", "subscription is not a PushSubscription JSON object"}
	// ErrEndpointLength: the endpoint is longer than MaxEndpointLength.
	ErrEndpointLength = &Invalid{"endpoint-too-long", "endpoint is too long"}
	// ErrEndpointURL: the endpoint is not an absolute URL with a host name
	// of ASCII letters, digits, hyphens and dots or an IP address, or it
	// has a fragment.
	ErrEndpointURL = &Invalid{"endpoint-url", "endpoint is not a valid URL"}
	// ErrEndpointScheme: the endpoint's scheme is not https.
	ErrEndpointScheme = &Invalid{"endpoint-not-https", "endpoint is not an https URL"}
	// ErrEndpointUserinfo: the endpoint has a user name or password.
	ErrEndpointUserinfo = &Invalid{"endpoint-userinfo", "endpoint has user information"}
	// ErrEndpointPort: the endpoint names a port other than 443 that the
	// Policy does not allow.
	ErrEndpointPort = &Invalid{"endpoint-port", "endpoint port is not allowed"}
	// ErrEndpointAddress: the endpoint's host is an IP address that is not
	// public: loopback (unless allowed), private, link-local, unique-local,
	// shared (CGNAT), multicast, unspecified, or another special-purpose
	// range.
	ErrEndpointAddress = &Invalid{"endpoint-address", "endpoint address is not public"}
	// ErrEndpointName: the endpoint's host is a name that cannot be a public
	// push service: localhost and other local or reserved suffixes, a single
	// label, a numeric last label (see localName).
	ErrEndpointName = &Invalid{"endpoint-name", "endpoint host is a local name"}
	// ErrEndpointHost: Policy.Hosts is set and the endpoint's host is not in
	// it.
	ErrEndpointHost = &Invalid{"endpoint-host", "endpoint host is not a known push service"}
	// ErrKeyEncoding: p256dh or auth is not base64url.
	ErrKeyEncoding = &Invalid{"key-encoding", "key is not base64url"}
	// ErrP256dh: p256dh is not a 65-byte uncompressed P-256 point on the
	// curve.
	ErrP256dh = &Invalid{"p256dh", "p256dh is not an uncompressed P-256 public key"}
	// ErrAuth: auth is not 16 bytes.
	ErrAuth = &Invalid{"auth", "auth is not 16 bytes"}
)

// invalid returns an error wrapping reason with detail.
func invalid(reason *Invalid, format string, args ...any) error {
	return fmt.Errorf("push: %s: %w", fmt.Sprintf(format, args...), reason)
}

// ParseSubscription reads a PushSubscription's JSON (see Subscription) and
// validates it under p. Fields other than endpoint, expirationTime and keys
// are ignored, as browsers may add some. Returns ErrMalformed, or what
// Validate returns.
func ParseSubscription(data []byte, p Policy) (Subscription, error) {
	if len(data) > MaxSubscriptionSize {
		return Subscription{}, invalid(ErrMalformed, "longer than %d bytes", MaxSubscriptionSize)
	}
	var s Subscription
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil || dec.More() {
		return Subscription{}, invalid(ErrMalformed, "not a JSON object of the right types")
	}
	if bytes.TrimSpace(data)[0] != '{' { // null decodes into the zero value
		return Subscription{}, invalid(ErrMalformed, "not a JSON object")
	}
	if err := s.Validate(p); err != nil {
		return Subscription{}, err
	}
	return s, nil
}

// Validate checks that the subscription can be sent to safely under p: an
// https endpoint of at most MaxEndpointLength bytes, without user
// information, on port 443 or one of p.Ports, whose host is a public name
// (in p.Hosts, if set) or a public IP address (or loopback, if
// p.AllowLoopback); a p256dh that is an uncompressed P-256 point on the
// curve; a 16-byte auth.
//
// A name's addresses are not looked up here (they can change before a push
// is sent): the Sender's client checks each address it connects to.
//
// Every error wraps exactly one of the Invalid values; none quotes the
// endpoint or the keys.
func (s Subscription) Validate(p Policy) error {
	if err := validateEndpoint(s.Endpoint, p); err != nil {
		return err
	}
	if s.ExpirationTime != nil && (*s.ExpirationTime < 0 || *s.ExpirationTime > math.MaxInt64/2) {
		return invalid(ErrMalformed, "expirationTime is out of range")
	}
	dh, err := decodeKey(s.Keys.P256dh)
	if err != nil {
		return invalid(ErrKeyEncoding, "p256dh")
	}
	if len(dh) != P256dhLength || dh[0] != 4 {
		return invalid(ErrP256dh, "%d bytes", len(dh))
	}
	if _, err := ecdh.P256().NewPublicKey(dh); err != nil {
		return invalid(ErrP256dh, "not a point on the curve")
	}
	auth, err := decodeKey(s.Keys.Auth)
	if err != nil {
		return invalid(ErrKeyEncoding, "auth")
	}
	if len(auth) != AuthLength {
		return invalid(ErrAuth, "%d bytes", len(auth))
	}
	return nil
}

// decodeKey decodes base64url with or without its padding. Non-zero
// trailing bits, white space and the standard alphabet's + and / are
// refused.
func decodeKey(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") { // the decoder skips them
		return nil, errors.New("line break in base64url")
	}
	if len(s)%4 == 0 && strings.HasSuffix(s, "=") {
		return base64.URLEncoding.Strict().DecodeString(s)
	}
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// validateEndpoint checks the endpoint URL under p (see Validate).
func validateEndpoint(endpoint string, p Policy) error {
	if len(endpoint) > MaxEndpointLength {
		return invalid(ErrEndpointLength, "more than %d bytes", MaxEndpointLength)
	}
	u, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return invalid(ErrEndpointURL, "does not parse")
	case !strings.EqualFold(u.Scheme, "https"):
		return invalid(ErrEndpointScheme, "scheme %s", schemeWord(u.Scheme))
	case u.Opaque != "":
		return invalid(ErrEndpointURL, "no // before the host")
	case u.User != nil:
		return invalid(ErrEndpointUserinfo, "user information before the host")
	case u.Host == "" || u.Hostname() == "":
		return invalid(ErrEndpointURL, "no host")
	case u.Fragment != "" || strings.Contains(endpoint, "#"):
		return invalid(ErrEndpointURL, "a fragment")
	}
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return invalid(ErrEndpointURL, "an invalid port")
		}
		if !p.allowsPort(n) {
			return invalid(ErrEndpointPort, "port %d", n)
		}
	}
	host := strings.ToLower(u.Hostname())
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return invalid(ErrEndpointURL, "an invalid IPv6 address")
		}
		return checkAddress(a, p)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return checkAddress(a, p)
	}
	host = strings.TrimSuffix(host, ".")
	if !isHostName(host) {
		return invalid(ErrEndpointURL, "a host that is not a DNS name")
	}
	if why := localName(host); why != "" {
		return invalid(ErrEndpointName, "%s", why)
	}
	if !p.allowsHost(host) {
		return invalid(ErrEndpointHost, "not in the allowed hosts")
	}
	return nil
}

// checkAddress returns ErrEndpointAddress unless a is public, or loopback
// and p allows loopback. Policy.Hosts does not apply to addresses: with
// Hosts set, an address is refused.
func checkAddress(a netip.Addr, p Policy) error {
	why := addressRange(a)
	if why == "loopback" && p.AllowLoopback {
		return nil
	}
	if why != "" {
		return invalid(ErrEndpointAddress, "%s address", why)
	}
	if len(p.Hosts) > 0 {
		return invalid(ErrEndpointHost, "an IP address, not a known push service")
	}
	return nil
}

// isHostName reports whether host (lower case, without a trailing dot) is a
// DNS name of letters, digits and hyphens: labels of 1 to 63 characters
// that neither begin nor end with a hyphen, 253 characters in all.
func isHostName(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// schemeWord names a scheme in an error without quoting arbitrary input:
// the common ones by name, anything else as "other".
func schemeWord(scheme string) string {
	switch s := strings.ToLower(scheme); s {
	case "http", "ws", "wss", "ftp", "file", "data", "javascript":
		return s
	case "":
		return "missing"
	}
	return "other"
}
