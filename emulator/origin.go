package emulator

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// sameOrigin reports whether r may reach the @connections and Invoke endpoints: a
// request from a program (the AWS SDKs and CLI send neither Origin nor
// Sec-Fetch-Site), or from a page of the stack's own origin. Any other web page open
// in the developer's browser is refused, so it cannot forge API Gateway events or
// post to connections of a running stack.
//
// The stack's own origin is the address the request reached (http://127.0.0.1:3001),
// or localhost on that port when it is a loopback address; the Host header is not
// trusted, so a DNS-rebinding name is refused too.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default: // cross-site, same-site (another port of localhost is same-site)
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || !strings.EqualFold(u.Scheme, "http") || u.Path != "" {
		return false // includes "null", the origin of sandboxed frames and files
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	host, port, err := net.SplitHostPort(local.String())
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, net.JoinHostPort(host, port)) {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && strings.EqualFold(u.Host, net.JoinHostPort("localhost", port))
}

// refuseCrossOrigin answers a request sameOrigin refused, in the error shape of the
// API it was meant for, and reports whether it did.
func (g *Gateway) refuseCrossOrigin(w http.ResponseWriter, r *http.Request, code string) bool {
	if sameOrigin(r) {
		return false
	}
	g.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
		"origin", r.Header.Get("Origin"), "secFetchSite", r.Header.Get("Sec-Fetch-Site"))
	writeAWSError(w, code, "the local stack refuses cross-origin requests from web pages: "+
		"call it from a program (the AWS SDKs and CLI send no Origin) or from a page it serves")
	return true
}
