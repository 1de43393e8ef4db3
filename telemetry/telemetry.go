// Package telemetry collects what one Lambda invocation did — its route and
// outcome, the room it touched, how many AWS calls it made and how long they
// took, the size of its fan-out — and writes it as the one structured JSON log
// line and the CloudWatch Embedded Metric Format line users read in
// CloudWatch.
//
// The router puts a Record in the invocation's context; handlers annotate it;
// an AWS SDK middleware (Middleware) times every call made with that context;
// a slog.Handler (NewHandler) stamps every line logged with that context with
// the invocation's identity, so one connection's or one room's lines can be
// found by the same fields.
package telemetry

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Record accumulates the facts of one invocation. Its methods are safe for
// concurrent use (a fan-out reports from many goroutines) and do nothing on a
// nil Record.
type Record struct {
	mu sync.Mutex

	id        Identity
	action    string
	roomID    string
	bodyBytes int
	fanOut    int
	gone      int
	fanOutDur time.Duration
	calls     map[string]*callStats // by service (ServiceDynamoDB, ServiceConnections, ServiceLambda)
	counts    map[string]float64    // counter metrics by name
	samples   map[string][]float64  // distribution metrics (latencies) by name
}

type callStats struct {
	n   int
	dur time.Duration
}

type ctxKey struct{}

// NewContext returns ctx carrying r.
func NewContext(ctx context.Context, r *Record) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// FromContext returns the Record in ctx, or nil (on which every method is a
// no-op).
func FromContext(ctx context.Context) *Record {
	r, _ := ctx.Value(ctxKey{}).(*Record)
	return r
}

// Identity is what an invocation is about: the IDs a user searches the logs
// for. Empty fields are not logged.
type Identity struct {
	LambdaRequestID string // Lambda's request ID (platform.report's record.requestId)
	RequestID       string // API Gateway's requestId (the access log's requestId)
	ConnectionID    string // the WebSocket connection the event came from or is about
	RouteKey        string // API Gateway's routeKey
	EventType       string // CONNECT, MESSAGE, DISCONNECT, or INTERNAL
	InternalEvent   string // the kind of an internal event ("connected")
}

// SetIdentity records what the invocation is about.
func (r *Record) SetIdentity(id Identity) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.id = id
	r.mu.Unlock()
}

// SetAction records the protocol action the client asked for. The log shows
// it only when it looks like an action name (see loggableAction): anything
// else is client content, of which the log keeps only the size.
func (r *Record) SetAction(action string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.action = action
	r.mu.Unlock()
}

// Action returns the action set with SetAction.
func (r *Record) Action() string {
	if r == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.action
}

// SetRoom records the room the invocation acted on.
func (r *Record) SetRoom(roomID string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.roomID = roomID
	r.mu.Unlock()
}

// SetBodyBytes records the size of the client's message (never its content:
// SDP can hold addresses).
func (r *Record) SetBodyBytes(n int) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.bodyBytes = n
	r.mu.Unlock()
}

// AddFanOut records one fan-out: how many connections it posted to, how many
// of them were gone, and how long it took. A fan-out to nobody is no sample
// of FanOutLatency.
func (r *Record) AddFanOut(targets, gone int, d time.Duration) {
	if r == nil || targets == 0 {
		return
	}
	r.mu.Lock()
	r.fanOut += targets
	r.gone += gone
	r.fanOutDur += d
	r.mu.Unlock()
	r.Observe(MetricFanOutLatency, ms(d))
}

// ObserveCall records one AWS API call to service that took d.
func (r *Record) ObserveCall(service string, d time.Duration) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.calls == nil {
		r.calls = map[string]*callStats{}
	}
	s := r.calls[service]
	if s == nil {
		s = &callStats{}
		r.calls[service] = s
	}
	s.n++
	s.dur += d
	r.mu.Unlock()
}

// Calls returns how many calls to service the invocation made so far.
func (r *Record) Calls(service string) int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.calls[service]; s != nil {
		return s.n
	}
	return 0
}

// Count adds v to the metric named name (one of the Metric constants).
func (r *Record) Count(name string, v float64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.counts == nil {
		r.counts = map[string]float64{}
	}
	r.counts[name] += v
	r.mu.Unlock()
}

// Observe adds one sample v of the distribution metric named name.
func (r *Record) Observe(name string, v float64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.samples == nil {
		r.samples = map[string][]float64{}
	}
	r.samples[name] = append(r.samples[name], v)
	r.mu.Unlock()
}

// identityAttrs returns what NewHandler adds to every line logged with the
// record's context: the identity, the action and the room, as far as known.
func (r *Record) identityAttrs() []slog.Attr {
	r.mu.Lock()
	defer r.mu.Unlock()
	attrs := make([]slog.Attr, 0, 8)
	for _, f := range []struct{ key, value string }{
		{"lambdaRequestId", r.id.LambdaRequestID},
		{"requestId", r.id.RequestID},
		{"connectionId", r.id.ConnectionID},
		{"routeKey", r.id.RouteKey},
		{"eventType", r.id.EventType},
		{"internalEvent", r.id.InternalEvent},
	} {
		if f.value != "" {
			attrs = append(attrs, slog.String(f.key, f.value))
		}
	}
	switch {
	case loggableAction(r.action):
		attrs = append(attrs, slog.String("action", r.action))
	case r.action != "":
		attrs = append(attrs, slog.Int("actionBytes", len(r.action)))
	}
	if r.roomID != "" {
		attrs = append(attrs, slog.String("roomID", r.roomID))
	}
	return attrs
}

// loggableAction reports whether a client's action may be logged as is: a
// short name of letters, digits, '-', '_' and '.', as every protocol action
// is. Anything else (a client that put its SDP in "action") is content.
func loggableAction(a string) bool {
	if a == "" || len(a) > 32 {
		return false
	}
	for _, c := range a {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Attrs returns the record's measurements as log attributes, in a stable
// order: bodyBytes (when the event had a body), dynamodbCalls and
// dynamodbMs (always), the calls and milliseconds of every other service
// called, fanOut and gone (always) and fanOutMs (after a fan-out). The
// identity is not among them: NewHandler adds it to every line.
func (r *Record) Attrs() []slog.Attr {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var attrs []slog.Attr
	if r.bodyBytes > 0 {
		attrs = append(attrs, slog.Int("bodyBytes", r.bodyBytes))
	}
	services := []string{ServiceDynamoDB}
	for s := range r.calls {
		if s != ServiceDynamoDB {
			services = append(services, s)
		}
	}
	sort.Strings(services[1:])
	for _, s := range services {
		var st callStats
		if c := r.calls[s]; c != nil {
			st = *c
		}
		attrs = append(attrs, slog.Int(s+"Calls", st.n), slog.Float64(s+"Ms", ms(st.dur)))
	}
	attrs = append(attrs, slog.Int("fanOut", r.fanOut), slog.Int("gone", r.gone))
	if r.fanOut > 0 {
		attrs = append(attrs, slog.Float64("fanOutMs", ms(r.fanOutDur)))
	}
	return attrs
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
