package inprocess_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/internal/inprocess"
)

// seen is what a handler saw of a request and answered.
type seen struct {
	Method, RequestURI, Path, RawPath, RawQuery, Host string
	ContentLength                                     int64
	Header                                            map[string]string
	Body                                              string
}

// echo records what it saw and answers with a status, headers and a body
// chosen by the request, as the emulators answer the SDK.
func echo(got *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		*got = seen{
			Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, RawPath: r.URL.RawPath,
			RawQuery: r.URL.RawQuery, Host: r.Host, ContentLength: r.ContentLength, Body: string(body),
			Header: map[string]string{},
		}
		for _, k := range []string{"Content-Type", "Content-Length", "X-Amz-Target", "Authorization", "Origin"} {
			got.Header[k] = r.Header.Get(k)
		}
		switch r.URL.Query().Get("answer") {
		case "gone":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", "GoneException")
			w.WriteHeader(http.StatusGone)
			_, _ = w.Write([]byte(`{"message":"gone"}`))
		case "empty":
			w.WriteHeader(http.StatusNoContent)
		case "silent":
		default:
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	})
}

// answer is what a client sees of a response.
type answer struct {
	Status        int
	ContentType   string
	ErrorType     string
	ContentLength int64
	Body          string
}

func do(t *testing.T, c interface {
	Do(*http.Request) (*http.Response, error)
}, method, target, body string, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Amzn-ErrorType"), resp.ContentLength, string(b)}
}

// TestSameAsOverTCP sends each request to the same handler over a loopback
// TCP server and in process, and compares what the handler saw and what the
// client got.
func TestSameAsOverTCP(t *testing.T) {
	var got seen
	srv := httptest.NewServer(echo(&got))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	hosts := &inprocess.Hosts{}
	hosts.Handle(host, echo(&got))
	// Next refuses: every request of the table must be served in process.
	refuse := doerFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("%s %s went to the network", r.Method, r.URL)
		return nil, errors.New("refused")
	})
	inproc := inprocess.Client{Hosts: hosts, Next: refuse}

	tests := []struct {
		name, method, path, body string
		header                   http.Header
	}{
		{"DynamoDB call", http.MethodPost, "/", `{"TableName":"t","Key":{"pk":{"S":"conn#a"}}}`,
			http.Header{"X-Amz-Target": {"DynamoDB_20120810.GetItem"}, "Content-Type": {"application/x-amz-json-1.0"}, "Authorization": {"AWS4-HMAC-SHA256 Credential=local/..."}}},
		{"post, ID percent-encoded", http.MethodPost, "/prod/@connections/L0SM9cOFvHcCIhw%3D", `{"type":"offer"}`, nil},
		{"post, %40connections", http.MethodPost, "/prod/%40connections/abc%3D", "x", nil},
		{"delete, no body", http.MethodDelete, "/prod/@connections/abc%3D", "", nil},
		{"get with a query", http.MethodGet, "/prod/@connections/abc?x=1&y=%2F", "", nil},
		{"an error answer", http.MethodPost, "/prod/@connections/abc?answer=gone", "x", nil},
		{"204", http.MethodDelete, "/prod/@connections/abc?answer=empty", "", nil},
		{"a handler that writes nothing", http.MethodGet, "/x?answer=silent", "", nil},
		{"from a page", http.MethodPost, "/2015-03-31/functions/f/invocations", "{}", http.Header{"Origin": {"http://evil.example"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			overTCP := do(t, srv.Client(), tt.method, srv.URL+tt.path, tt.body, tt.header)
			seenTCP := got
			got = seen{}
			inProcess := do(t, inproc, tt.method, srv.URL+tt.path, tt.body, tt.header)
			if !reflect.DeepEqual(got, seenTCP) {
				t.Errorf("the handler saw\n%+v in process,\n%+v over TCP", got, seenTCP)
			}
			if inProcess != overTCP {
				t.Errorf("the client got\n%+v in process,\n%+v over TCP", inProcess, overTCP)
			}
		})
	}
}

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// TestOtherHostsGoToNext: a host without a handler, or https, is Next's.
func TestOtherHostsGoToNext(t *testing.T) {
	hosts := &inprocess.Hosts{}
	hosts.Handle("127.0.0.1:1", http.NotFoundHandler())
	var sent []string
	c := inprocess.Client{Hosts: hosts, Next: doerFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.URL.String())
		return &http.Response{StatusCode: http.StatusTeapot, Body: http.NoBody}, nil
	})}
	for _, target := range []string{"http://127.0.0.1:2/", "https://127.0.0.1:1/", "http://localhost:1/"} {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		resp, err := c.Do(req)
		if err != nil || resp.StatusCode != http.StatusTeapot {
			t.Errorf("%s: %v, %v; want Next's answer", target, resp, err)
		}
	}
	if len(sent) != 3 {
		t.Errorf("Next got %q", sent)
	}
}

// TestHandlerFailures: a handler that panics looks like a connection the
// server dropped, and a request whose context ended fails with its error,
// as the transport's would.
func TestHandlerFailures(t *testing.T) {
	hosts := &inprocess.Hosts{}
	hosts.Handle("h:1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		<-r.Context().Done() // a handler that waits for its client, as openConn does
		w.WriteHeader(http.StatusGone)
	}))
	c := inprocess.Client{Hosts: hosts}

	req, _ := http.NewRequest(http.MethodGet, "http://h:1/panic", nil)
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panic: err = %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://h:1/wait", nil)
	if _, err := c.Do(req); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}

// TestBodyIsTheHandlers: the response body is a copy the handler no longer
// writes to, and JSON answers decode.
func TestBodyIsTheHandlers(t *testing.T) {
	hosts := &inprocess.Hosts{}
	hosts.Handle("h:1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path})
	}))
	u, _ := url.Parse("http://h:1/a%2Fb")
	resp, err := inprocess.Client{Hosts: hosts}.Do(&http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got["path"] != "/a/b" {
		t.Errorf("got %v, %v", got, err)
	}
}
