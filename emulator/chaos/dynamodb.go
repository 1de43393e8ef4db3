package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
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

// Failures DynamoDB answers, for Fault.
var (
	// InternalServerError is a 500 the SDK retries.
	InternalServerError = Failure{Name: "500", Status: http.StatusInternalServerError, Type: "InternalServerError"}
	// Throttled is DynamoDB's throttling answer for provisioned capacity; the
	// SDK retries it with a throttling backoff.
	Throttled = Failure{Name: "throttled", Status: http.StatusBadRequest, Type: "ProvisionedThroughputExceededException"}
	// ThrottlingException is DynamoDB's throttling answer for on-demand
	// capacity; the SDK retries it too.
	ThrottlingException = Failure{Name: "throttling-exception", Status: http.StatusBadRequest, Type: "ThrottlingException"}
	// ConflictCanceled is a transaction cancelled because another one held
	// its items (reason TransactionConflict); the SDK does not retry it.
	ConflictCanceled = Failure{Name: "conflict-canceled", Status: http.StatusBadRequest, Type: "TransactionCanceledException", Reason: "TransactionConflict"}
	// ThrottlingCanceled is a transaction cancelled by throttling (reason
	// ThrottlingError); the SDK does not retry it.
	ThrottlingCanceled = Failure{Name: "throttling-canceled", Status: http.StatusBadRequest, Type: "TransactionCanceledException", Reason: "ThrottlingError"}
	// TransactionConflict is the TransactionConflictException DynamoDB answers
	// when a write collides with a transaction in progress on its item.
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

// DynamoDBProxy is an HTTP proxy in front of a DynamoDB endpoint (point the
// SDK client's BaseEndpoint at wherever it is served). It records the
// operation of every call, answers the calls an injected Fault selects with
// its Failure, and makes the random DynamoDB chaos of a Profile (see
// SetProfile); otherwise it forwards the call.
//
// It also gives TransactWriteItems DynamoDB's idempotency, which the embedded
// emulator lacks: a call repeating the ClientRequestToken of a transaction
// that succeeded answers success again without applying it twice (the SDK
// sends the same token on every retry of one call).
type DynamoDBProxy struct {
	proxy *httputil.ReverseProxy
	sleep func(time.Duration) // time.Sleep; tests may replace it
	now   func() time.Time    // time.Now; tests may replace it

	mu        sync.Mutex
	calls     []string
	faults    []*fault
	committed map[string]committedTx // by ClientRequestToken
	tokens    []string               // committed's keys, oldest first
	profile   Profile
	rand      *Rand
	stats     Stats
}

type committedTx struct {
	request  string // the request without its token, to detect reuse with other parameters
	response []byte
	at       time.Time
}

// IdempotencyWindow is how long DynamoDB remembers a ClientRequestToken:
// a call repeating it later is a new transaction. The proxy forgets its
// committed transactions after the same time, so that a stack left running
// does not keep every one.
const IdempotencyWindow = 10 * time.Minute

// maxCalls bounds the operations Calls keeps: the oldest half is dropped
// past it, so that a chaos stack left running does not keep every call.
const maxCalls = 100_000

// NewDynamoDBProxy returns a proxy to the DynamoDB endpoint target (a URL
// such as http://127.0.0.1:8000).
func NewDynamoDBProxy(target string) (*DynamoDBProxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("dynamodb proxy target %q: want an http(s) URL", target)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = WideTransport()
	return &DynamoDBProxy{
		proxy:     proxy,
		sleep:     time.Sleep,
		now:       time.Now,
		committed: map[string]committedTx{},
	}, nil
}

// WideTransport returns an HTTP transport like http.DefaultTransport that
// keeps as many idle connections to one host as a loaded local stack has
// calls in flight. http.DefaultTransport keeps 2, so under load the proxy
// opened and closed a loopback connection for almost every call, and the
// sockets left in TIME_WAIT ran the machine's ephemeral ports down.
func WideTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	return t
}

// SetTransport makes the proxy forward calls through rt (a proxy in the
// same process as its DynamoDB can reach it without a socket).
func (p *DynamoDBProxy) SetTransport(rt http.RoundTripper) {
	p.proxy.Transport = rt
}

// SetProfile makes the proxy apply p's DynamoDB chaos to the calls that
// follow, drawing its choices from p.Seed.
func (p *DynamoDBProxy) SetProfile(profile Profile) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.profile = profile
	p.rand = NewRand(profile.Seed, "dynamodb")
}

// Inject adds a fault; it counts the calls that follow.
func (p *DynamoDBProxy) Inject(f Fault) {
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

// Clear removes every injected fault and forgets the recorded calls.
func (p *DynamoDBProxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
	p.calls = nil
}

// Calls returns the operations called since the last Clear, in order (at
// most the last 100,000).
func (p *DynamoDBProxy) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

// Injected returns how many calls the injected faults have failed so far.
func (p *DynamoDBProxy) Injected() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, f := range p.faults {
		n += f.failed
	}
	return n
}

// Stats returns the chaos the profile has made so far (DynamoDBConflicts,
// DynamoDBThrottles).
func (p *DynamoDBProxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// controlPlane lists the operations chaos leaves alone: table management, which
// the stack does at start.
var controlPlane = map[string]bool{
	"CreateTable": true, "DeleteTable": true, "DescribeTable": true, "UpdateTable": true, "ListTables": true,
	"UpdateTimeToLive": true, "DescribeTimeToLive": true,
}

// ServeHTTP records the call, applies the first injected fault that selects
// it, else the profile's chaos, and otherwise forwards it.
func (p *DynamoDBProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.Header.Get("X-Amz-Target")
	op = op[strings.LastIndex(op, ".")+1:]
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	p.mu.Lock()
	if len(p.calls) >= maxCalls {
		p.calls = append([]string(nil), p.calls[maxCalls/2:]...)
	}
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
	var delay time.Duration
	var chaos *Failure
	if failure == nil && p.rand != nil && !controlPlane[op] {
		delay = p.rand.Duration(p.profile.DynamoDBLatency)
		chaos = p.chaosFailure(op)
		if l := p.profile.Latencies.DynamoDB(op); !l.IsZero() { // no draw otherwise: a seed's faults stay the same
			delay += p.rand.Latency(l)
		}
	}
	p.mu.Unlock()

	if delay > 0 {
		p.sleep(delay)
	}
	if chaos != nil {
		writeFailure(w, *chaos, body, p.rand)
		return
	}
	if failure != nil && !failure.Lost {
		writeFailure(w, *failure, body, nil)
		return
	}
	if op == "TransactWriteItems" {
		p.serveTransaction(w, r, body, failure)
		return
	}
	if failure != nil { // lost: apply, then fail
		p.proxy.ServeHTTP(newRecorder(), r)
		writeFailure(w, *failure, body, nil)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// chaosFailure draws whether the profile fails a call of op, and how; p.mu is
// held. One draw decides among conflict, throttling and success, so each
// call consumes the same draws whatever its fate.
func (p *DynamoDBProxy) chaosFailure(op string) *Failure {
	draw := p.rand.Float64()
	kind := p.rand.IntN(2)
	switch {
	case draw < p.profile.DynamoDBConflict:
		switch op {
		case "TransactWriteItems", "TransactGetItems":
			p.stats.DynamoDBConflicts++
			f := ConflictCanceled
			f.Reason = oneItemConflict
			return &f
		case "UpdateItem", "DeleteItem":
			p.stats.DynamoDBConflicts++
			f := TransactionConflict
			return &f
		}
	case draw < p.profile.DynamoDBConflict+p.profile.DynamoDBThrottle:
		p.stats.DynamoDBThrottles++
		f := Throttled
		if kind == 1 {
			f = ThrottlingException
		}
		return &f
	}
	return nil
}

// forgetCommitted forgets the transactions committed longer than
// IdempotencyWindow ago; p.mu is held.
func (p *DynamoDBProxy) forgetCommitted() {
	n, now := 0, p.now()
	for _, token := range p.tokens {
		if now.Sub(p.committed[token].at) < IdempotencyWindow {
			break
		}
		delete(p.committed, token)
		n++
	}
	p.tokens = p.tokens[n:]
}

// oneItemConflict is the Reason of a chaos conflict: one item of the
// transaction, chosen at random, has reason TransactionConflict and the others
// None, as when one item is held by another transaction.
const oneItemConflict = "TransactionConflict:one"

// serveTransaction forwards a TransactWriteItems with DynamoDB's
// ClientRequestToken idempotency. A lost failure applies it and then fails.
func (p *DynamoDBProxy) serveTransaction(w http.ResponseWriter, r *http.Request, body []byte, lost *Failure) {
	// The request without its token, in a canonical form: decoded whole and
	// encoded again with every object's keys sorted, since the SDK writes
	// maps (a Key, ExpressionAttributeNames) in Go's random map order, and
	// a resend must match its original whatever the order.
	var in map[string]any
	_ = json.Unmarshal(body, &in)
	token, _ := in["ClientRequestToken"].(string)
	delete(in, "ClientRequestToken")
	request, _ := json.Marshal(in)

	if token != "" {
		p.mu.Lock()
		p.forgetCommitted()
		done, ok := p.committed[token]
		p.mu.Unlock()
		switch {
		case ok && done.request != string(request):
			writeFailure(w, Failure{Status: http.StatusBadRequest, Type: "IdempotentParameterMismatchException"}, body, nil)
			return
		case ok:
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			_, _ = w.Write(done.response)
			return
		}
	}
	rec := newRecorder()
	p.proxy.ServeHTTP(rec, r)
	if token != "" && rec.code == http.StatusOK {
		p.mu.Lock()
		if _, ok := p.committed[token]; !ok {
			p.tokens = append(p.tokens, token)
		}
		p.committed[token] = committedTx{request: string(request), response: rec.body.Bytes(), at: p.now()}
		p.mu.Unlock()
	}
	if lost != nil {
		writeFailure(w, *lost, body, nil)
		return
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.code)
	_, _ = w.Write(rec.body.Bytes())
}

// recorder is an http.ResponseWriter that keeps the response, for the proxy to
// decide what to answer once the endpoint has answered.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}, code: http.StatusOK} }

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// errorMessages are DynamoDB's messages for the errors it is made to answer.
var errorMessages = map[string]string{
	"ProvisionedThroughputExceededException": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
	"ThrottlingException":                    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html",
	"TransactionConflictException":           "Transaction is ongoing for the item",
	"InternalServerError":                    "Internal server error",
}

// writeFailure answers as DynamoDB does, in the awsJson1_0 error format:
// __type with its namespace (ThrottlingException comes from the coral
// availability layer, the others from DynamoDB) and message. A cancellation
// gets one reason per item of the request, and the message lists them.
func writeFailure(w http.ResponseWriter, f Failure, request []byte, rnd *Rand) {
	namespace := "com.amazonaws.dynamodb.v20120810#"
	if f.Type == "ThrottlingException" {
		namespace = "com.amazon.coral.availability#"
	}
	message, ok := errorMessages[f.Type]
	if !ok {
		message = "injected by chaos.DynamoDBProxy: " + f.Type
	}
	out := map[string]any{"__type": namespace + f.Type, "message": message}
	if f.Reason != "" {
		var in struct{ TransactItems []json.RawMessage }
		_ = json.Unmarshal(request, &in)
		reasons := make([]map[string]string, len(in.TransactItems))
		codes := make([]string, len(reasons))
		conflicted := -1
		if f.Reason == oneItemConflict && rnd != nil && len(reasons) > 0 {
			conflicted = rnd.IntN(len(reasons))
		}
		for i := range reasons {
			switch {
			case f.Reason != oneItemConflict:
				reasons[i] = map[string]string{"Code": f.Reason, "Message": reasonMessages[f.Reason]}
			case i == conflicted:
				reasons[i] = map[string]string{"Code": "TransactionConflict", "Message": reasonMessages["TransactionConflict"]}
			default:
				reasons[i] = map[string]string{"Code": "None"}
			}
			codes[i] = reasons[i]["Code"]
		}
		out["CancellationReasons"] = reasons
		out["message"] = "Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]"
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", f.Type)
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(out)
}

// reasonMessages are the messages of cancellation reasons.
var reasonMessages = map[string]string{
	"TransactionConflict": "Transaction is ongoing for the item",
	"ThrottlingError":     "Throughput exceeds the current capacity of your table or index.",
}
