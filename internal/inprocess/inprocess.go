// Package inprocess is an HTTP client for servers that run in the same
// process: the local stack's SDK clients reach the embedded DynamoDB, the
// emulated @connections API and Lambda's Invoke API through it.
//
// A request to a host that has a handler is served by calling the handler
// on the caller's goroutine, with a server-side *http.Request built the way
// net/http's server builds one (RequestURI, a path decoded from it, Host,
// Content-Length, RemoteAddr) and its response buffered; every other request
// goes to the next client over the network. What the SDK sends and what the
// emulators answer are unchanged (method, path, headers, body, status, error
// bodies); what goes is the loopback TCP connection, the serialising and
// parsing of HTTP/1.1 on both ends, and the four goroutine hand-offs of each
// round trip, which were most of a relay's latency on the local stack
// (docs/performance.md, "Profiles").
package inprocess

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
)

// Doer is what the AWS SDK's HTTP clients implement (aws.HTTPClient).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Hosts maps a host (host:port, as in the endpoint URL) to the handler that
// serves it in this process. Its zero value serves nothing; handlers may be
// added while clients already use it.
type Hosts struct {
	mu       sync.RWMutex
	handlers map[string]http.Handler
}

// Handle makes h serve requests to host.
func (hs *Hosts) Handle(host string, h http.Handler) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.handlers == nil {
		hs.handlers = map[string]http.Handler{}
	}
	hs.handlers[host] = h
}

func (hs *Hosts) lookup(host string) http.Handler {
	hs.mu.RLock()
	defer hs.mu.RUnlock()
	return hs.handlers[host]
}

// Client serves requests to its Hosts in process and sends the others to
// Next.
type Client struct {
	Hosts *Hosts
	Next  Doer
}

// remoteAddr is the client address a handler sees: a loopback address, as
// for a request that came over TCP from this machine.
const remoteAddr = "127.0.0.1:1"

// Do implements Doer.
func (c Client) Do(req *http.Request) (*http.Response, error) {
	h := c.Hosts.lookup(req.URL.Host)
	if h == nil || req.URL.Scheme != "http" {
		return c.Next.Do(req)
	}
	sreq, err := serverRequest(req)
	if err != nil {
		return nil, err
	}
	w := &recorder{header: http.Header{}}
	if err := serve(h, w, sreq); err != nil {
		return nil, err
	}
	if err := req.Context().Err(); err != nil {
		// The transport returns the context's error when the caller gave up,
		// whatever the server did meanwhile.
		return nil, err
	}
	return w.response(req), nil
}

// serverRequest is req as net/http's server would hand it to a handler.
func serverRequest(req *http.Request) (*http.Request, error) {
	uri := req.URL.RequestURI()
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, fmt.Errorf("inprocess: %s %s: %w", req.Method, req.URL, err)
	}
	body := req.Body
	if body == nil {
		body = http.NoBody
	}
	sreq := &http.Request{
		Method:        req.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        req.Header.Clone(),
		Body:          body,
		ContentLength: req.ContentLength,
		Host:          req.Host,
		RemoteAddr:    remoteAddr,
		RequestURI:    uri,
	}
	if sreq.Header == nil {
		sreq.Header = http.Header{}
	}
	if sreq.Host == "" {
		sreq.Host = req.URL.Host
	}
	if req.ContentLength > 0 {
		sreq.Header.Set("Content-Length", strconv.FormatInt(req.ContentLength, 10))
	}
	return sreq.WithContext(req.Context()), nil
}

// serve runs h, turning a panic into an error, as a server's connection
// reset would reach the client (net/http's server recovers it and closes
// the connection).
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("inprocess: %s %s: handler panicked: %v", r.Method, r.URL, v)
		}
	}()
	defer r.Body.Close()
	h.ServeHTTP(w, r)
	return nil
}

// recorder is the http.ResponseWriter of an in-process request.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// response is the recorded answer as the transport would return it.
func (w *recorder) response(req *http.Request) *http.Response {
	w.WriteHeader(http.StatusOK)
	if w.header.Get("Content-Type") == "" && w.body.Len() > 0 {
		w.header.Set("Content-Type", http.DetectContentType(w.body.Bytes()))
	}
	n := int64(w.body.Len())
	w.header.Set("Content-Length", strconv.FormatInt(n, 10))
	return &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(&w.body),
		ContentLength: n,
		Request:       req,
	}
}

// RoundTrip makes a Client an http.RoundTripper, for an httputil.ReverseProxy
// in front of a handler in this process.
func (c Client) RoundTrip(req *http.Request) (*http.Response, error) { return c.Do(req) }

// RoundTripper is an http.RoundTripper used as a Client's Next.
type RoundTripper struct{ http.RoundTripper }

// Do implements Doer.
func (rt RoundTripper) Do(req *http.Request) (*http.Response, error) { return rt.RoundTrip(req) }

var (
	_ Doer              = Client{}
	_ http.RoundTripper = Client{}
	_ Doer              = RoundTripper{}
)
