package dynamotest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Failure is what a faulty DynamoDB answers instead of the real response.
type Failure struct {
	// Name describes the failure in test names.
	Name string
	// Status and Type are the HTTP status and the error type the SDK maps
	// to its error (e.g. *types.ProvisionedThroughputExceededException).
	Status int
	Type   string
	// Reason, if set, makes the answer a TransactionCanceledException whose
	// CancellationReasons carry this code for every item of the request.
	Reason string
	// Lost forwards the request first, so the write happens, and then loses
	// the response: the client sees a 500 for a call that succeeded, as on a
	// timeout.
	Lost bool
}

// Failures the proxy can inject.
var (
	// InternalServerError is a 500 the SDK retries.
	InternalServerError = Failure{Name: "500", Status: http.StatusInternalServerError, Type: "InternalServerError"}
	// Throttled is DynamoDB's throttling answer; the SDK retries it with a
	// throttling backoff.
	Throttled = Failure{Name: "throttled", Status: http.StatusBadRequest, Type: "ProvisionedThroughputExceededException"}
	// ConflictCanceled is a transaction cancelled because another one held
	// its items (reason TransactionConflict); the SDK does not retry it.
	ConflictCanceled = Failure{Name: "conflict-canceled", Status: http.StatusBadRequest, Type: "TransactionCanceledException", Reason: "TransactionConflict"}
	// ThrottlingCanceled is a transaction cancelled by throttling (reason
	// ThrottlingError); the SDK does not retry it.
	ThrottlingCanceled = Failure{Name: "throttling-canceled", Status: http.StatusBadRequest, Type: "TransactionCanceledException", Reason: "ThrottlingError"}
	// TransactionConflict is the TransactionConflictException DynamoDB answers
	// when a transaction collides with a non-transactional write.
	TransactionConflict = Failure{Name: "conflict-exception", Status: http.StatusBadRequest, Type: "TransactionConflictException"}
	// LostResponse applies the call and answers 500.
	LostResponse = Failure{Name: "lost-response", Status: http.StatusInternalServerError, Type: "InternalServerError", Lost: true}
)

// Fault makes the proxy answer some calls with a Failure.
type Fault struct {
	// Op is the operation, e.g. "TransactWriteItems"; empty matches every call.
	Op string
	// Nth is the first matching call (1-based, counted from Inject) to fail.
	Nth int
	// Times is how many matching calls, from the Nth on, fail (at least 1).
	Times int
	Failure
}

type fault struct {
	Fault
	seen, failed int
}

// FaultProxy is an HTTP proxy in front of a DynamoDB endpoint. It records the
// operation of every call and answers the calls a Fault selects with a
// Failure instead of the real response.
//
// It also gives TransactWriteItems DynamoDB's idempotency, which the embedded
// emulator lacks: a call repeating the ClientRequestToken of a transaction
// that succeeded answers success again without applying it twice (the SDK
// sends the same token on every retry of one call).
type FaultProxy struct {
	// URL is the proxy's endpoint; point the SDK client's BaseEndpoint at it.
	URL string

	proxy *httputil.ReverseProxy

	mu        sync.Mutex
	calls     []string
	faults    []*fault
	committed map[string]committedTx // by ClientRequestToken
}

type committedTx struct {
	request  string // the request without its token, to detect reuse with other parameters
	response []byte
}

// NewFaultProxy starts a proxy to the DynamoDB endpoint target that stops
// when the test ends.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("fault proxy target: %v", err)
	}
	p := &FaultProxy{proxy: httputil.NewSingleHostReverseProxy(u), committed: map[string]committedTx{}}
	hs := httptest.NewServer(p)
	t.Cleanup(hs.Close)
	p.URL = hs.URL
	return p
}

// NewWithFaults starts an emulator (as New does) behind a FaultProxy. The
// returned DB's Client and URL go through the proxy.
func NewWithFaults(t testing.TB) (*DB, *FaultProxy) {
	t.Helper()
	db := New(t)
	p := NewFaultProxy(t, db.URL)
	db.URL = p.URL
	db.Client = NewClient(p.URL)
	return db, p
}

// Inject adds a fault; it counts the calls that follow.
func (p *FaultProxy) Inject(f Fault) {
	if f.Times < 1 {
		f.Times = 1
	}
	if f.Nth < 1 {
		f.Nth = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &fault{Fault: f})
}

// Clear removes every fault and forgets the recorded calls.
func (p *FaultProxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
	p.calls = nil
}

// Calls returns the operations called since the last Clear, in order.
func (p *FaultProxy) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

// Injected returns how many calls the faults have failed so far.
func (p *FaultProxy) Injected() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, f := range p.faults {
		n += f.failed
	}
	return n
}

// ServeHTTP records the call, applies the first fault that selects it and
// otherwise forwards it.
func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.Header.Get("X-Amz-Target")
	op = op[strings.LastIndex(op, ".")+1:]
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	p.mu.Lock()
	p.calls = append(p.calls, op)
	var failure *Failure
	for _, f := range p.faults {
		if f.Op != "" && f.Op != op {
			continue
		}
		f.seen++
		if failure == nil && f.seen >= f.Nth && f.failed < f.Times {
			f.failed++
			failure = &f.Failure
		}
	}
	p.mu.Unlock()

	if failure != nil && !failure.Lost {
		writeFailure(w, *failure, body)
		return
	}
	if op == "TransactWriteItems" {
		p.serveTransaction(w, r, body, failure)
		return
	}
	if failure != nil { // lost: apply, then fail
		p.proxy.ServeHTTP(httptest.NewRecorder(), r)
		writeFailure(w, *failure, body)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// serveTransaction forwards a TransactWriteItems with DynamoDB's
// ClientRequestToken idempotency. A lost failure applies it and then fails.
func (p *FaultProxy) serveTransaction(w http.ResponseWriter, r *http.Request, body []byte, lost *Failure) {
	var in map[string]json.RawMessage
	_ = json.Unmarshal(body, &in)
	var token string
	_ = json.Unmarshal(in["ClientRequestToken"], &token)
	delete(in, "ClientRequestToken")
	request, _ := json.Marshal(in)

	if token != "" {
		p.mu.Lock()
		done, ok := p.committed[token]
		p.mu.Unlock()
		switch {
		case ok && done.request != string(request):
			writeFailure(w, Failure{Status: http.StatusBadRequest, Type: "IdempotentParameterMismatchException"}, body)
			return
		case ok:
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			_, _ = w.Write(done.response)
			return
		}
	}
	rec := httptest.NewRecorder()
	p.proxy.ServeHTTP(rec, r)
	if token != "" && rec.Code == http.StatusOK {
		p.mu.Lock()
		p.committed[token] = committedTx{request: string(request), response: rec.Body.Bytes()}
		p.mu.Unlock()
	}
	if lost != nil {
		writeFailure(w, *lost, body)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// writeFailure answers as DynamoDB does, in the awsJson1_0 error format. A
// cancellation gets one reason per item of the request.
func writeFailure(w http.ResponseWriter, f Failure, request []byte) {
	out := map[string]any{
		"__type":  "com.amazonaws.dynamodb.v20120810#" + f.Type,
		"message": "injected by dynamotest.FaultProxy: " + f.Type,
	}
	if f.Reason != "" {
		var in struct{ TransactItems []json.RawMessage }
		_ = json.Unmarshal(request, &in)
		reasons := make([]map[string]string, len(in.TransactItems))
		for i := range reasons {
			reasons[i] = map[string]string{"Code": f.Reason, "Message": "injected"}
		}
		out["CancellationReasons"] = reasons
		out["message"] = fmt.Sprintf("Transaction cancelled, please refer cancellation reasons for specific reasons [%s]", f.Reason)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", f.Type)
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(out)
}
