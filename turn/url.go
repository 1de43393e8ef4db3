package turn

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The URL schemes: STUN (RFC 7064) and TURN (RFC 7065), each plain and over
// TLS (DTLS for turns with transport=udp).
const (
	SchemeSTUN  = "stun"
	SchemeSTUNS = "stuns"
	SchemeTURN  = "turn"
	SchemeTURNS = "turns"
)

// The transports a TURN URL may name (RFC 7065, section 3).
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
)

// maxHostLength bounds a DNS name (RFC 1035, section 2.3.4: 255 octets on
// the wire, 253 characters written out).
const maxHostLength = 253

// A URL is a STUN or TURN server URL: RFC 7064's stunURI and RFC 7065's
// turnURI,
//
//	stun:host[:port]
//	stuns:host[:port]
//	turn:host[:port][?transport=udp|tcp]
//	turns:host[:port][?transport=udp|tcp]
//
// where host is a DNS name, an IPv4 address, or an IPv6 address in
// brackets. It has no user information, path or fragment, and no query but
// the transport of a TURN URL.
type URL struct {
	// Scheme is SchemeSTUN, SchemeSTUNS, SchemeTURN or SchemeTURNS.
	Scheme string
	// Host is a DNS name (lower case), or an IPv4 or IPv6 address
	// (without brackets).
	Host string
	// Port is the port; 0 when the URL has none, and the client uses the
	// scheme's default (3478, or 5349 for stuns and turns).
	Port int
	// Transport is TransportUDP, TransportTCP, or "" when the URL names
	// none (the client chooses; browsers try UDP). Only TURN URLs have one.
	Transport string
}

// IsTURN reports whether u is a TURN URL (turn or turns), whose server needs
// credentials.
func (u URL) IsTURN() bool { return u.Scheme == SchemeTURN || u.Scheme == SchemeTURNS }

// String returns u in canonical form: scheme, host and transport in lower
// case, an IPv6 address in brackets, and the port only if u has one.
// ParseURL(u.String()) returns u.
func (u URL) String() string {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteByte(':')
	if strings.Contains(u.Host, ":") {
		b.WriteString("[" + u.Host + "]")
	} else {
		b.WriteString(u.Host)
	}
	if u.Port != 0 {
		b.WriteString(":" + strconv.Itoa(u.Port))
	}
	if u.Transport != "" {
		b.WriteString("?transport=" + u.Transport)
	}
	return b.String()
}

// ParseURL parses a STUN or TURN URL (see URL). Scheme, host and transport
// are case-insensitive (RFC 3986, section 3.1 and 3.2.2; RFC 5234 for the
// ABNF's literals) and are returned in lower case. It returns an error that
// quotes s and says what is wrong: a scheme other than the four, a missing
// or malformed host (an IPv6 address without brackets or with a zone, a name
// that is not a DNS name), a port outside 1 to 65535, a query on a STUN URL
// or one other than transport=udp or transport=tcp, user information, a
// path or a fragment.
func ParseURL(s string) (URL, error) {
	u, err := parseURL(s)
	if err != nil {
		return URL{}, fmt.Errorf("%q: %w", s, err)
	}
	return u, nil
}

func parseURL(s string) (URL, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return URL{}, errors.New("not a URL (want stun:, stuns:, turn: or turns:)")
	}
	var u URL
	switch u.Scheme = strings.ToLower(scheme); u.Scheme {
	case SchemeSTUN, SchemeSTUNS, SchemeTURN, SchemeTURNS:
	default:
		return URL{}, errors.New("scheme is not stun, stuns, turn or turns")
	}
	if strings.HasPrefix(rest, "//") {
		return URL{}, errors.New("has // after the scheme (write turn:host, not turn://host)")
	}
	if i := strings.IndexAny(rest, "@/#"); i >= 0 {
		switch rest[i] {
		case '@':
			return URL{}, errors.New("has user information (@): credentials are not part of the URL")
		case '/':
			return URL{}, errors.New("has a path (/)")
		default:
			return URL{}, errors.New("has a fragment (#)")
		}
	}
	authority, query, hasQuery := strings.Cut(rest, "?")
	host, port, err := splitHostPort(authority)
	if err != nil {
		return URL{}, err
	}
	if u.Host, err = parseHost(host); err != nil {
		return URL{}, err
	}
	if u.Port, err = parsePort(port); err != nil {
		return URL{}, err
	}
	if hasQuery {
		if !u.IsTURN() {
			return URL{}, errors.New("has a query (?): a STUN URL has none (RFC 7064)")
		}
		if u.Transport, err = parseTransport(query); err != nil {
			return URL{}, err
		}
	}
	return u, nil
}

// splitHostPort splits host[:port], where host may be an IPv6 address in
// brackets (returned with them). port is "" when there is none; a colon with
// nothing after it is an error.
func splitHostPort(authority string) (host, port string, err error) {
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return "", "", errors.New("has [ without ]")
		}
		host, after := authority[:end+1], authority[end+1:]
		switch {
		case after == "":
			return host, "", nil
		case after[0] != ':':
			return "", "", errors.New("has something other than :port after ]")
		case after == ":":
			return "", "", errors.New("has a colon but no port")
		}
		return host, after[1:], nil
	}
	switch strings.Count(authority, ":") {
	case 0:
		return authority, "", nil
	case 1:
		host, port, _ = strings.Cut(authority, ":")
		if port == "" {
			return "", "", errors.New("has a colon but no port")
		}
		return host, port, nil
	default:
		return "", "", errors.New("has an IPv6 address without brackets (write turn:[::1]:3478)")
	}
}

// parseHost returns the host as URL.Host holds it.
func parseHost(host string) (string, error) {
	if host == "" {
		return "", errors.New("has no host")
	}
	if strings.HasPrefix(host, "[") {
		inner := host[1 : len(host)-1]
		addr, err := netip.ParseAddr(inner)
		switch {
		case err != nil || !addr.Is6():
			return "", errors.New("has brackets around something other than an IPv6 address")
		case addr.Zone() != "":
			return "", errors.New("has an IPv6 zone (%), which a URL for other hosts cannot use")
		}
		return addr.String(), nil
	}
	if addr, err := netip.ParseAddr(host); err == nil && addr.Is4() {
		return addr.String(), nil
	}
	return parseDNSName(host)
}

// parseDNSName checks a host name (RFC 1123, section 2.1): dot-separated
// labels of 1 to 63 letters, digits and hyphens that neither start nor end
// with a hyphen, 253 characters at most, and not all digits in the last
// label (then it was meant as an IPv4 address).
func parseDNSName(host string) (string, error) {
	if len(host) > maxHostLength {
		return "", fmt.Errorf("has a host name longer than %d characters", maxHostLength)
	}
	labels := strings.Split(host, ".")
	for _, label := range labels {
		if label == "" {
			return "", errors.New("has a host name with an empty label (.. or a dot at either end)")
		}
		if len(label) > 63 {
			return "", errors.New("has a host name with a label longer than 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", errors.New("has a host name with a label that starts or ends with a hyphen")
		}
		for _, c := range []byte(label) {
			if !isAlnum(c) && c != '-' {
				return "", errors.New("has a host that is neither an IP address nor a DNS name (letters, digits, hyphens and dots)")
			}
		}
	}
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		return "", errors.New("has a host that looks like an IPv4 address but is not one")
	}
	return strings.ToLower(host), nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// parsePort returns the port, 0 for none.
func parsePort(port string) (int, error) {
	if port == "" {
		return 0, nil
	}
	if len(port) > 5 || strings.Trim(port, "0123456789") != "" {
		return 0, errors.New("has a port that is not a number from 1 to 65535")
	}
	n, _ := strconv.Atoi(port)
	if n < 1 || n > 65535 {
		return 0, errors.New("has a port that is not a number from 1 to 65535")
	}
	return n, nil
}

// parseTransport reads the query of a TURN URL: transport=udp or
// transport=tcp.
func parseTransport(query string) (string, error) {
	key, value, ok := strings.Cut(query, "=")
	if !ok || !strings.EqualFold(key, "transport") {
		return "", errors.New("has a query other than ?transport=udp or ?transport=tcp")
	}
	switch value = strings.ToLower(value); value {
	case TransportUDP, TransportTCP:
		return value, nil
	}
	return "", errors.New("has a transport other than udp or tcp")
}
