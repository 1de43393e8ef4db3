package push

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress is wrapped by the error of a connection the client
// refused to make: the endpoint's host name resolved to an address that is
// not public (or loopback, with Policy.AllowLoopback), or to a port the
// Policy does not allow. Validate cannot see this: a name's addresses are
// only known, and can change (DNS rebinding), when the client connects.
var ErrForbiddenAddress = errors.New("push: the endpoint resolves to an address that is not public")

// ErrRedirect is wrapped by the error of a request the push service answered
// with a redirect: the client does not follow redirects.
var ErrRedirect = errors.New("push: the push service answered with a redirect")

// dialTimeout bounds a TCP connect and a TLS handshake.
const dialTimeout = 5 * time.Second

// NewHTTPClient returns the HTTP client the Sender posts with, made for
// talking to untrusted endpoints:
//
//   - it connects only to public addresses and the ports p allows, checked
//     on each address the dialer is about to connect to, after the name was
//     resolved (a net.Dialer Control function), so a name that resolves to
//     127.0.0.1 or 169.254.169.254 is refused however Validate saw it;
//     loopback is allowed only with p.AllowLoopback;
//   - it follows no redirect: a 3xx is returned as is (Send reports it);
//   - it uses no proxy, whatever HTTPS_PROXY says (the check is on the
//     address the client connects to, which a proxy would hide);
//   - TLS 1.2 or later, verified against p.RootCAs (nil: the system's).
//
// It sets no overall timeout: the caller's context bounds each request.
func NewHTTPClient(p Policy) *http.Client {
	return newHTTPClient(p, nil)
}

// newHTTPClient is NewHTTPClient with a resolver (nil: the default); tests
// give one that answers what they want.
func newHTTPClient(p Policy, resolver *net.Resolver) *http.Client {
	dialer := &net.Dialer{
		Timeout:  dialTimeout,
		Resolver: resolver,
		Control: func(network, address string, _ syscall.RawConn) error {
			return checkDial(network, address, p)
		},
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.RootCAs},
		TLSHandshakeTimeout: dialTimeout,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// checkDial refuses a connection to address (ip:port, resolved) unless the
// IP is public, or loopback and p allows it, and the port is allowed.
func checkDial(network, address string, p Policy) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %s", ErrForbiddenAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address", ErrForbiddenAddress)
	}
	if why := addressRange(ap.Addr()); why != "" && (why != "loopback" || !p.AllowLoopback) {
		return fmt.Errorf("%w: %s address", ErrForbiddenAddress, why)
	}
	if !p.allowsPort(int(ap.Port())) {
		return fmt.Errorf("%w: port %d", ErrForbiddenAddress, ap.Port())
	}
	return nil
}
