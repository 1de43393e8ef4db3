package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/slsrtc/slsrtc/auth"
	"github.com/slsrtc/slsrtc/connections"
	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/telemetry"
)

// Route keys API Gateway sends besides the actions.
const (
	RouteConnect    = "$connect"
	RouteDisconnect = "$disconnect"
	RouteDefault    = "$default"
)

// HandlerFunc handles one API Gateway WebSocket event. It returns nil, an
// *Error for the client, or an internal error.
type HandlerFunc func(ctx context.Context, ev *events.APIGatewayWebsocketProxyRequest) error

// Router is the Lambda's entry point: a table from routeKey to HandlerFunc
// with a $default fallback, like net/http's ServeMux, plus the internal
// events the function sends itself. It implements lambda.Handler.
type Router struct {
	routes   map[string]HandlerFunc
	internal map[string]func(ctx context.Context, ev *InternalEvent) error
	h        *server
	log      *slog.Logger
	metrics  io.Writer
	now      func() time.Time
	// started is set by the first invocation, whose line says coldStart.
	started atomic.Bool
}

// InternalEvent is the payload the function sends itself with an asynchronous
// Lambda Invoke. API Gateway events never carry its top-level key, so no
// WebSocket client can produce one.
type InternalEvent struct {
	Kind         string `json:"kind"`
	ConnectionID string `json:"connectionId"`
	// RequestID is the API Gateway request that caused it, for the logs.
	RequestID string `json:"requestId,omitempty"`
	// For "connected": the participant $connect issued, its resume token
	// and when the connection was made (epoch milliseconds).
	ParticipantID string `json:"participantId,omitempty"`
	ResumeToken   string `json:"resumeToken,omitempty"`
	ConnectedAt   int64  `json:"connectedAt,omitempty"`
}

// internalKey is the top-level key of an internal event's payload.
const internalKey = "slsrtcInternal"

// envelope is either an API Gateway WebSocket event or an internal event.
type envelope struct {
	events.APIGatewayWebsocketProxyRequest
	Internal *InternalEvent `json:"slsrtcInternal,omitempty"`
}

// Internal event kinds.
const internalConnected = "connected"

// Deps are the router's collaborators.
type Deps struct {
	Store   Store
	Sender  Sender
	Invoker Invoker
	// Logger receives one JSON line per invocation (default: JSON to stdout
	// at Config.LogLevel).
	Logger *slog.Logger
	// Metrics receives one Embedded Metric Format line per invocation
	// (default stdout; io.Discard to turn off).
	Metrics io.Writer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// PushPolicy, if set, replaces Config.Push.Policy(): tests allow the
	// loopback push service (test/pushservice) with it.
	PushPolicy *push.Policy
}

// New returns the router with every route of the protocol registered.
func New(cfg Config, deps Deps) *Router {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	}
	// Every line logged during an invocation carries its identity.
	deps.Logger = slog.New(telemetry.NewHandler(deps.Logger.Handler()))
	if deps.Metrics == nil {
		deps.Metrics = os.Stdout
	}
	cfg = cfg.withDefaults()
	h := &server{cfg: cfg, store: deps.Store, sender: deps.Sender, invoker: deps.Invoker, log: deps.Logger, now: deps.Now}
	if len(cfg.AuthSecrets) > 0 {
		h.verifier, h.verifierErr = auth.NewVerifier(cfg.AuthAudience, cfg.AuthSecrets...)
	}
	h.pushPolicy = cfg.Push.Policy()
	if deps.PushPolicy != nil {
		h.pushPolicy = *deps.PushPolicy
	}
	if cfg.Push.VAPID != nil {
		h.push = push.NewSender(cfg.Push.VAPID, h.pushPolicy)
	}
	r := &Router{
		routes:   map[string]HandlerFunc{},
		internal: map[string]func(context.Context, *InternalEvent) error{},
		h:        h,
		log:      deps.Logger,
		metrics:  deps.Metrics,
		now:      deps.Now,
	}
	r.Handle(RouteConnect, h.connect)
	r.Handle(RouteDisconnect, h.disconnect)
	r.Handle(RouteDefault, h.message(RouteDefault))
	for _, a := range actions {
		r.Handle(a.name, h.message(a.name))
	}
	r.internal[internalConnected] = h.connected
	return r
}

// RouteKeys returns the route keys the router serves, sorted. template.yaml
// must declare exactly these routes (a test checks it).
func RouteKeys() []string {
	return New(Config{}, Deps{Logger: slog.New(slog.DiscardHandler), Metrics: io.Discard}).RouteKeys()
}

// RouteKeys returns the route keys registered on r, sorted.
func (r *Router) RouteKeys() []string {
	keys := make([]string, 0, len(r.routes))
	for k := range r.routes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Handle registers h for routeKey, replacing any previous handler.
func (r *Router) Handle(routeKey string, h HandlerFunc) { r.routes[routeKey] = h }

// Invoke handles one Lambda invocation: the JSON of an API Gateway WebSocket
// event, or of an InternalEvent. For API Gateway it returns the JSON of an
// events.APIGatewayProxyResponse whose statusCode is 200, or the status of
// the error code (which rejects a $connect). It returns an error only for a
// payload it cannot understand; handler failures, panics included, become
// an error frame for the client and a 500.
//
// Every invocation writes one log line, msg "invocation" (see
// Router.finish), and one Embedded Metric Format line.
func (r *Router) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start := r.now()
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		err = fmt.Errorf("unrecognised event: %w", err)
		rec := &telemetry.Record{}
		rec.SetIdentity(telemetry.Identity{LambdaRequestID: lambdaRequestID(ctx)})
		ctx = telemetry.NewContext(ctx, rec)
		r.finish(ctx, rec, start, "", CodeInternal, err, slog.Int("payloadBytes", len(payload)))
		return nil, err
	}
	if env.Internal != nil && env.RequestContext.RouteKey == "" {
		return []byte("null"), r.invokeInternal(ctx, env.Internal)
	}
	resp := r.serve(ctx, &env.APIGatewayWebsocketProxyRequest)
	return json.Marshal(resp)
}

// serve dispatches an API Gateway event and turns the outcome into the
// response, the client's error frame, the log line and the metrics.
func (r *Router) serve(ctx context.Context, ev *events.APIGatewayWebsocketProxyRequest) events.APIGatewayProxyResponse {
	start := r.now()
	rc := &ev.RequestContext
	rec := &telemetry.Record{}
	rec.SetIdentity(telemetry.Identity{
		LambdaRequestID: lambdaRequestID(ctx),
		RequestID:       rc.RequestID,
		ConnectionID:    rc.ConnectionID,
		RouteKey:        rc.RouteKey,
		EventType:       rc.EventType,
	})
	ctx = telemetry.NewContext(ctx, rec)

	h, ok := r.routes[rc.RouteKey]
	if !ok {
		h = r.routes[RouteDefault]
	}
	hctx, cancel := withReserve(ctx)
	err := safeCall(func() error { return h(hctx, ev) })
	cancel()

	resp := events.APIGatewayProxyResponse{StatusCode: 200}
	var extra []slog.Attr
	if rc.EventType == "DISCONNECT" {
		extra = append(extra, slog.Int("disconnectStatusCode", int(rc.DisconnectStatusCode)))
	}
	code := ""
	if err != nil {
		ce, internal := clientError(err)
		code = ce.Code
		resp.StatusCode = statusOf(code)
		if !internal {
			extra = append(extra, slog.String("reason", logReason(ce)))
			err = nil // a rejection, not a failure: the reason says why
		}
		if rc.EventType == "MESSAGE" && !ce.sent {
			r.h.sendError(ctx, rc.ConnectionID, ce, rec.Action())
		}
	}
	r.finish(ctx, rec, start, rc.RouteKey, code, err, extra...)
	return resp
}

// invokeInternal runs an internal event. Failures are logged, not returned:
// Lambda would retry an asynchronous invocation a minute later, when a
// "connected" frame is no use. In the metrics its routeKey is
// "internal:<kind>".
func (r *Router) invokeInternal(ctx context.Context, ev *InternalEvent) error {
	start := r.now()
	rec := &telemetry.Record{}
	rec.SetIdentity(telemetry.Identity{
		LambdaRequestID: lambdaRequestID(ctx),
		RequestID:       ev.RequestID,
		ConnectionID:    ev.ConnectionID,
		EventType:       "INTERNAL",
		InternalEvent:   truncate(ev.Kind, 64),
	})
	ctx = telemetry.NewContext(ctx, rec)
	h, ok := r.internal[ev.Kind]
	route := "internal:" + ev.Kind
	var err error
	if ok {
		err = safeCall(func() error { return h(ctx, ev) })
	} else {
		route = "internal:unknown"
		err = fmt.Errorf("unknown internal event kind %q", truncate(ev.Kind, 64))
	}
	if errors.Is(err, connections.ErrGone) {
		r.finish(ctx, rec, start, route, "", nil, slog.String("outcome", "gone"))
		return nil
	}
	code := ""
	if err != nil {
		code = CodeInternal
	}
	r.finish(ctx, rec, start, route, code, err)
	return nil
}

// finish writes the invocation's log line and metrics. The line, msg
// "invocation", carries the identity (telemetry.NewHandler adds it), then
// outcome ("ok", "rejected" with the code and reason, or "error" with code
// "internal", the error and its errorChain; extra may override it), coldStart
// on the first invocation of the process, the record's measurements
// (telemetry.Record.Attrs) and durationMs. Failures log at ERROR, everything
// else at INFO. metricsRouteKey is the routeKey dimension of the metrics.
func (r *Router) finish(ctx context.Context, rec *telemetry.Record, start time.Time, metricsRouteKey, code string, err error, extra ...slog.Attr) {
	rec.Count(telemetry.MetricInvocations, 1)
	level, outcome := slog.LevelInfo, "ok"
	switch {
	case err != nil:
		level, outcome = slog.LevelError, "error"
		rec.Count(telemetry.MetricInternalErrors, 1)
	case code != "":
		outcome = "rejected"
	}
	attrs := make([]slog.Attr, 0, 24)
	if !slices.ContainsFunc(extra, func(a slog.Attr) bool { return a.Key == "outcome" }) {
		attrs = append(attrs, slog.String("outcome", outcome))
	}
	if code != "" {
		attrs = append(attrs, slog.String("code", code))
	}
	attrs = append(attrs, extra...)
	attrs = append(attrs, telemetry.ErrorAttrs(err)...)
	if !r.started.Swap(true) {
		attrs = append(attrs, slog.Bool("coldStart", true))
	}
	attrs = append(attrs, rec.Attrs()...)
	attrs = append(attrs, slog.Float64("durationMs", float64(r.now().Sub(start).Microseconds())/1000))
	r.log.LogAttrs(ctx, level, "invocation", attrs...)
	emf := telemetry.EMF{Namespace: r.h.cfg.MetricsNamespace, RouteKey: metricsRouteKey, Code: code,
		Level: telemetry.MetricsLevel(r.h.cfg.LogLevel), Time: r.now()}
	if werr := rec.WriteEMF(r.metrics, emf); werr != nil {
		r.log.LogAttrs(ctx, slog.LevelWarn, "write metrics", telemetry.ErrorAttrs(werr)...)
	}
}

// logReason is the reason a rejection is logged with: the client's message,
// except where that quotes the client's own input (the unknown action),
// which is content the log does not keep.
func logReason(ce *Error) string {
	if ce.Code == CodeUnknownAction {
		return codeSpec(CodeUnknownAction).message
	}
	return ce.Message
}

// deadlineReserve is how much of the invocation's deadline a handler leaves
// unused: the time to undo a half-done operation, send the client its error
// and write the log line after the handler's own calls ran out of time.
const deadlineReserve = time.Second

// outerContext is the context key under which withReserve keeps the
// invocation's own context.
type outerContext struct{}

// withReserve returns a context for the handler whose deadline is the
// invocation's minus deadlineReserve (at most a quarter of the time left),
// and which remembers the invocation's context for cleanupContext. Without
// a deadline it returns ctx.
func withReserve(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	reserve := min(deadlineReserve, time.Until(deadline)/4)
	return context.WithDeadline(context.WithValue(ctx, outerContext{}, ctx), deadline.Add(-reserve))
}

// cleanupContext returns the invocation's context for work that must still
// happen when the handler's own deadline has passed: undoing a half-done
// operation.
func cleanupContext(ctx context.Context) context.Context {
	if outer, ok := ctx.Value(outerContext{}).(context.Context); ok {
		return outer
	}
	return ctx
}

// safeCall runs f, turning a panic into an internal error with its stack.
func safeCall(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return f()
}

func lambdaRequestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}
