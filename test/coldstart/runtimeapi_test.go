package coldstart_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// runtimeAPI is a minimal Lambda Runtime API (the 2018-06-01 interface a
// provided.al2023 bootstrap polls): it hands out queued events from /next and
// records the responses. It also answers @connections posts on
// /stage/@connections/{id}, so the function's frames stay on loopback.
type runtimeAPI struct {
	server *httptest.Server
	events chan []byte
	done   chan struct{}

	mu        sync.Mutex
	firstNext time.Time           // when the bootstrap first asked for an event (init done)
	responses []runtimeResponse   // in arrival order
	posts     map[string][]string // @connections frames by connection
	arrived   chan struct{}       // signalled on every response
}

type runtimeResponse struct {
	at   time.Time
	path string // .../response, .../error or init/error
	body string
}

func newRuntimeAPI(t testing.TB) *runtimeAPI {
	api := &runtimeAPI{
		events: make(chan []byte, 16), done: make(chan struct{}),
		posts: map[string][]string{}, arrived: make(chan struct{}, 16),
	}
	api.server = httptest.NewServer(http.HandlerFunc(api.serve))
	t.Cleanup(func() {
		close(api.done)
		api.server.Close()
	})
	return api
}

// addr is the value of AWS_LAMBDA_RUNTIME_API.
func (api *runtimeAPI) addr() string { return strings.TrimPrefix(api.server.URL, "http://") }

func (api *runtimeAPI) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next":
		api.mu.Lock()
		if api.firstNext.IsZero() {
			api.firstNext = now
		}
		api.mu.Unlock()
		select {
		case ev := <-api.events:
			h := w.Header()
			h.Set("Lambda-Runtime-Aws-Request-Id", "req-"+strconv.FormatInt(now.UnixNano(), 36))
			h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(now.Add(30*time.Second).UnixMilli(), 10))
			h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:slsrtc")
			h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
			_, _ = w.Write(ev)
		case <-api.done:
			http.Error(w, "shutting down", http.StatusGone)
		case <-r.Context().Done():
		}
	case r.Method == http.MethodPost && (strings.HasPrefix(r.URL.Path, "/2018-06-01/runtime/invocation/") ||
		r.URL.Path == "/2018-06-01/runtime/init/error"):
		api.mu.Lock()
		api.responses = append(api.responses, runtimeResponse{at: now, path: r.URL.Path, body: string(body)})
		api.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		api.arrived <- struct{}{}
	case r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/@connections/"):
		_, id, _ := strings.Cut(r.URL.Path, "/@connections/")
		api.mu.Lock()
		api.posts[id] = append(api.posts[id], string(body))
		api.mu.Unlock()
	default:
		http.NotFound(w, r)
	}
}

// next waits for the next response (or init error) of the bootstrap.
func (api *runtimeAPI) next(t testing.TB, timeout time.Duration) runtimeResponse {
	t.Helper()
	select {
	case <-api.arrived:
	case <-time.After(timeout):
		t.Fatalf("no response from the bootstrap within %s", timeout)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	return api.responses[len(api.responses)-1]
}
