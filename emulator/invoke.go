package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// invocation is what one run of the Handler produced.
type invocation struct {
	requestID string // the AwsRequestID the handler saw
	payload   []byte
	err       error // the handler's error or a recovered panic: a function error
	timedOut  bool  // FunctionTimeout passed before the handler returned
	latency   time.Duration
}

// failed reports whether the invocation ended in a function error or a timeout.
func (inv invocation) failed() bool { return inv.err != nil || inv.timedOut }

// errorResponse returns the body Lambda returns for a failed invocation.
func (inv invocation) errorResponse(timeout time.Duration) messages.InvokeResponse_Error {
	if inv.timedOut {
		return messages.InvokeResponse_Error{
			Type:    "Sandbox.Timedout",
			Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.requestID, timeout.Seconds()),
		}
	}
	var ive messages.InvokeResponse_Error
	if errors.As(inv.err, &ive) {
		return ive
	}
	var p *panicError
	if errors.As(inv.err, &p) {
		return messages.InvokeResponse_Error{Type: typeName(p.value), Message: fmt.Sprint(p.value)}
	}
	return messages.InvokeResponse_Error{Type: typeName(inv.err), Message: inv.err.Error()}
}

// typeName names the type of v the way aws-lambda-go fills errorType.
func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// panicError is a panic recovered from the Handler; Lambda reports it as a crash.
type panicError struct{ value any }

func (p *panicError) Error() string { return fmt.Sprintf("handler panicked: %v", p.value) }

// invoke runs the Handler once the way Lambda does and returns what it produced;
// see start.
func (g *Gateway) invoke(requestID string, payload []byte, cc *lambdacontext.ClientContext) invocation {
	return <-g.start(requestID, payload, cc)
}

// start starts one run of the Handler the way Lambda does: a context carrying a
// lambdacontext.LambdaContext (AwsRequestID, InvokedFunctionArn) and a deadline of
// FunctionTimeout, a panic recovered as a crash, and a handler that outlives its
// deadline abandoned as timed out (its environment still counts as in flight until
// it returns). It runs in one of the gateway's execution environments (see
// environments). The channel delivers the invocation once it has returned or timed out.
func (g *Gateway) start(requestID string, payload []byte, cc *lambdacontext.ClientContext) <-chan invocation {
	lc := &lambdacontext.LambdaContext{AwsRequestID: requestID, InvokedFunctionArn: g.functionARN}
	if cc != nil {
		lc.ClientContext = *cc
	}
	ctx, cancel := context.WithTimeout(lambdacontext.NewContext(context.Background(), lc), g.cfg.FunctionTimeout)
	begin := time.Now()
	done := make(chan invocation, 1)
	result := make(chan invocation, 1)
	g.inflight.add()
	g.busy.add()
	g.envs.run(func() {
		defer g.inflight.done()
		defer g.busy.done()
		g.chaos.beforeInvoke(ctx) // API Gateway and Lambda on their way to the handler
		out, err := g.call(ctx, requestID, payload)
		done <- invocation{payload: out, err: err}
	})
	go func() {
		defer cancel()
		var inv invocation
		select {
		case inv = <-done:
		case <-ctx.Done():
			inv.timedOut = true
			g.log.Warn("invocation timed out", "awsRequestId", requestID, "timeout", g.cfg.FunctionTimeout)
		}
		inv.requestID = requestID
		inv.latency = time.Since(begin)
		if inv.err != nil {
			g.log.Warn("invocation failed", "awsRequestId", requestID, "err", inv.err)
		}
		result <- inv
	}()
	return result
}

// call calls the Handler, turning a panic into a *panicError.
func (g *Gateway) call(ctx context.Context, requestID string, payload []byte) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			g.log.Error("handler panicked", "awsRequestId", requestID, "panic", v, "stack", string(debug.Stack()))
			out, err = nil, &panicError{value: v}
		}
	}()
	return g.cfg.Handler.Invoke(ctx, payload)
}

// integration is the outcome of a WebSocket route's AWS_PROXY integration.
type integration struct {
	resp      events.APIGatewayProxyResponse
	failure   string // "" on success, else the message of the frame API Gateway sends
	malformed bool   // the payload is not an APIGatewayProxyResponse
	latency   time.Duration
}

// status returns the status API Gateway logs for the integration.
func (in integration) status() int {
	switch {
	case in.failure == msgEndpointTimeout:
		return 504
	case in.failure != "":
		return 502
	case in.malformed:
		return 502
	case in.resp.StatusCode == 0:
		return 200
	}
	return in.resp.StatusCode
}

// integrate invokes the Handler with a WebSocket event and decodes its response. A
// function error, a crash and a function timeout are integration failures ("Internal
// server error"); an invocation still running after IntegrationTimeout is
// "Endpoint request timed out", and keeps running unobserved as in AWS.
func (g *Gateway) integrate(ev events.APIGatewayWebsocketProxyRequest) integration {
	payload, err := json.Marshal(ev)
	if err != nil { // cannot happen: the event holds only strings, numbers and maps
		return integration{failure: msgInternalError}
	}
	begin := time.Now()
	timeout := time.NewTimer(g.cfg.IntegrationTimeout)
	defer timeout.Stop()
	var inv invocation
	select {
	case inv = <-g.start(newUUID(), payload, nil):
	case <-timeout.C:
		g.log.Warn("integration timed out", "routeKey", ev.RequestContext.RouteKey, "connectionId", ev.RequestContext.ConnectionID, "timeout", g.cfg.IntegrationTimeout)
		return integration{failure: msgEndpointTimeout, latency: time.Since(begin)}
	}
	in := integration{latency: inv.latency}
	switch {
	case inv.failed():
		in.failure = msgInternalError
	default:
		if err := json.Unmarshal(inv.payload, &in.resp); err != nil {
			in.malformed = true
			g.log.Warn("handler response is not an APIGatewayProxyResponse", "awsRequestId", inv.requestID, "err", err)
		}
	}
	return in
}

// tracker counts work in flight (connections and invocations) so that Shutdown can
// wait for it. Unlike sync.WaitGroup it allows add while someone waits.
type tracker struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to zero
}

func (t *tracker) add() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.zero = make(chan struct{})
	}
	t.n++
}

func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 {
		close(t.zero)
	}
}

// wait returns when nothing is in flight, or ctx's error when ctx ends first.
func (t *tracker) wait(ctx context.Context) error {
	for {
		t.mu.Lock()
		if t.n == 0 {
			t.mu.Unlock()
			return nil
		}
		zero := t.zero
		t.mu.Unlock()
		select {
		case <-zero:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
