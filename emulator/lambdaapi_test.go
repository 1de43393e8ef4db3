package emulator

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// selfInvoke is what the signaling Lambda sends itself, e.g. from $connect.
type selfInvoke struct {
	Kind         string `json:"kind"`
	ConnectionID string `json:"connectionId,omitempty"`
	Fail         bool   `json:"fail,omitempty"`
}

// invokeStack serves a stack whose handler is a real aws-lambda-go handler that
// reports each invocation's payload and Lambda context on seen.
func invokeStack(t *testing.T) (*stack, chan invoked) {
	t.Helper()
	seen := make(chan invoked, 16)
	h := lambda.NewHandler(func(ctx context.Context, in selfInvoke) (map[string]string, error) {
		lc, _ := lambdacontext.FromContext(ctx)
		_, hasDeadline := ctx.Deadline()
		seen <- invoked{in: in, lc: lc, hasDeadline: hasDeadline}
		if in.Fail {
			return nil, errors.New("boom")
		}
		return map[string]string{"handled": in.Kind}, nil
	})
	rec := newRecorder(nil)
	s := startStack(t, rec, func(cfg *Config) { cfg.Handler = h })
	return s, seen
}

type invoked struct {
	in          selfInvoke
	lc          *lambdacontext.LambdaContext
	hasDeadline bool
}

func next(t *testing.T, seen chan invoked) invoked {
	t.Helper()
	select {
	case inv := <-seen:
		return inv
	case <-ctx(t).Done():
		t.Fatal("handler not invoked")
	}
	return invoked{}
}

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Behaviour 20: an asynchronous Invoke (X-Amz-Invocation-Type: Event) answers 202 and
// runs the same handler with that payload and its own Lambda context; code that
// invokes itself works unchanged.
func TestInvokeEvent(t *testing.T) {
	s, seen := invokeStack(t)
	payload, _ := json.Marshal(selfInvoke{Kind: "connected", ConnectionID: "L0SM9cOFvHcCIhw="})
	out, err := s.lambdaClient().Invoke(ctx(t), &lambdasvc.InvokeInput{
		FunctionName:   aws.String(testFunction),
		InvocationType: types.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if out.StatusCode != http.StatusAccepted {
		t.Errorf("StatusCode = %d, want 202", out.StatusCode)
	}
	inv := next(t, seen)
	if inv.in.Kind != "connected" || inv.in.ConnectionID != "L0SM9cOFvHcCIhw=" {
		t.Errorf("handler got %+v, want the payload", inv.in)
	}
	if inv.lc == nil || !uuidShape.MatchString(inv.lc.AwsRequestID) || inv.lc.InvokedFunctionArn != "arn:aws:lambda:us-east-1:123456789012:function:"+testFunction {
		t.Errorf("lambda context = %+v, want a UUID request ID and the function ARN", inv.lc)
	}
	if !inv.hasDeadline {
		t.Error("invocation context has no deadline")
	}
}

// The Invoke endpoint's other invocation types, function name forms and errors,
// checked with the real Lambda client.
func TestInvokeEndpoint(t *testing.T) {
	s, seen := invokeStack(t)
	api := s.lambdaClient()
	arn := "arn:aws:lambda:us-east-1:123456789012:function:" + testFunction
	for _, name := range []string{testFunction, arn, "123456789012:function:" + testFunction, testFunction + ":$LATEST", arn + ":$LATEST"} {
		t.Run("RequestResponse "+name, func(t *testing.T) {
			out, err := api.Invoke(ctx(t), &lambdasvc.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"kind":"sync"}`)})
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			next(t, seen)
			if out.StatusCode != http.StatusOK || out.FunctionError != nil || string(out.Payload) != `{"handled":"sync"}` {
				t.Errorf("Invoke = %d %v %s, want 200 and the handler's result", out.StatusCode, out.FunctionError, out.Payload)
			}
		})
	}
	t.Run("function error", func(t *testing.T) {
		out, err := api.Invoke(ctx(t), &lambdasvc.InvokeInput{FunctionName: aws.String(testFunction), Payload: []byte(`{"fail":true}`)})
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		next(t, seen)
		var body struct{ ErrorMessage, ErrorType string }
		_ = json.Unmarshal(out.Payload, &body)
		if out.StatusCode != 200 || aws.ToString(out.FunctionError) != "Unhandled" || body.ErrorMessage != "boom" || body.ErrorType != "errorString" {
			t.Errorf("Invoke = %d %v %s, want 200 Unhandled with errorMessage boom", out.StatusCode, aws.ToString(out.FunctionError), out.Payload)
		}
	})
	t.Run("panic", func(t *testing.T) {
		gw, err := New(Config{Stage: "s", RouteSelectionExpression: "$request.body.action", FunctionName: "f", Handler: panicking{}})
		if err != nil {
			t.Fatal(err)
		}
		s := serveStack(t, gw, newRecorder(nil))
		out, err := s.lambdaClient().Invoke(ctx(t), &lambdasvc.InvokeInput{FunctionName: aws.String("f"), Payload: []byte(`{}`)})
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		if aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), `"errorMessage":"crash"`) {
			t.Errorf("Invoke of a panicking handler = %v %s, want Unhandled crash", aws.ToString(out.FunctionError), out.Payload)
		}
	})
	t.Run("function timeout", func(t *testing.T) {
		release := make(chan struct{})
		stuck := handlerFunc(func(ctx context.Context, _ []byte) ([]byte, error) {
			<-release // ignores its deadline, like a stuck Lambda
			return []byte(`{}`), nil
		})
		gw, err := New(Config{Stage: "s", RouteSelectionExpression: "$request.body.action", FunctionName: "f", Handler: stuck, FunctionTimeout: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		s := serveStack(t, gw, newRecorder(nil))
		t.Cleanup(func() { close(release) }) // before the stack's Shutdown
		out, err := s.lambdaClient().Invoke(ctx(t), &lambdasvc.InvokeInput{FunctionName: aws.String("f"), Payload: []byte(`{}`)})
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		var body struct{ ErrorMessage, ErrorType string }
		_ = json.Unmarshal(out.Payload, &body)
		if aws.ToString(out.FunctionError) != "Unhandled" || body.ErrorType != "Sandbox.Timedout" || !strings.HasSuffix(body.ErrorMessage, "Task timed out after 0.05 seconds") {
			t.Errorf("Invoke of a stuck handler = %v %s, want Unhandled Sandbox.Timedout after 0.05 seconds", aws.ToString(out.FunctionError), out.Payload)
		}
	})
	t.Run("DryRun", func(t *testing.T) {
		out, err := api.Invoke(ctx(t), &lambdasvc.InvokeInput{FunctionName: aws.String(testFunction), InvocationType: types.InvocationTypeDryRun})
		if err != nil || out.StatusCode != http.StatusNoContent {
			t.Errorf("DryRun = %v, %v, want 204", out, err)
		}
	})
	t.Run("unknown function", func(t *testing.T) {
		for _, name := range []string{"other", "arn:aws:lambda:us-east-1:123456789012:function:other"} {
			_, err := api.Invoke(ctx(t), &lambdasvc.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeEvent, Payload: []byte(`{}`)})
			if notFound := (*types.ResourceNotFoundException)(nil); !errors.As(err, &notFound) {
				t.Errorf("Invoke %s = %v, want *types.ResourceNotFoundException", name, err)
			}
		}
	})
	t.Run("Event payload too large", func(t *testing.T) {
		big := `{"kind":"` + strings.Repeat("x", maxAsyncPayload) + `"}`
		_, err := api.Invoke(ctx(t), &lambdasvc.InvokeInput{FunctionName: aws.String(testFunction), InvocationType: types.InvocationTypeEvent, Payload: []byte(big)})
		if tooLarge := (*types.RequestTooLargeException)(nil); !errors.As(err, &tooLarge) {
			t.Errorf("Invoke of %d bytes = %v, want *types.RequestTooLargeException", len(big), err)
		}
	})
	t.Run("invalid JSON", func(t *testing.T) {
		_, err := api.Invoke(ctx(t), &lambdasvc.InvokeInput{FunctionName: aws.String(testFunction), Payload: []byte(`{nope`)})
		if invalid := (*types.InvalidRequestContentException)(nil); !errors.As(err, &invalid) {
			t.Errorf("Invoke = %v, want *types.InvalidRequestContentException", err)
		}
	})
	t.Run("client context", func(t *testing.T) {
		cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"k":"v"}}`))
		if _, err := api.Invoke(ctx(t), &lambdasvc.InvokeInput{FunctionName: aws.String(testFunction), ClientContext: aws.String(cc), Payload: []byte(`{}`)}); err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		if inv := next(t, seen); inv.lc == nil || inv.lc.ClientContext.Custom["k"] != "v" {
			t.Errorf("lambda context %+v, want the client context", inv.lc)
		}
	})
	t.Run("GET is not an operation", func(t *testing.T) {
		if status, _, _ := s.rawRequest(t, http.MethodGet, invokePrefix+testFunction+"/invocations", ""); status != http.StatusNotFound {
			t.Errorf("GET invocations = %d, want 404", status)
		}
	})
}

// panicking is a handler that crashes.
type panicking struct{}

func (panicking) Invoke(context.Context, []byte) ([]byte, error) { panic("crash") }
