package handlers_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// TestRouterFixtures feeds aws-lambda-go's own API Gateway WebSocket event
// fixtures (testdata/events, copied from aws-lambda-go v1.55.1) through
// Router.Invoke.
func TestRouterFixtures(t *testing.T) {
	tests := []struct {
		file       string
		status     int
		connection string
		wantFrames []string
		wantStored bool
	}{
		// $connect records the connection; "connected" comes later, from the
		// internal event.
		{file: "apigw-websocket-request.json", status: 200, connection: "TWegAcC4EowCHnA=", wantStored: true},
		// $disconnect of a connection the table does not know is a no-op.
		{file: "apigw-websocket-request-disconnect.json", status: 200, connection: "R1kmxc2VNjMCFIA="},
		// $default with a body that has no action.
		{file: "apigw-websocket-request-send-message.json", status: 400, connection: "R1kmxc2VNjMCFIA=",
			wantFrames: []string{`{"type":"error","code":"invalid-message","message":"the message has no \"action\""}`}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			h := newHarness(t)
			payload, err := os.ReadFile(filepath.Join("testdata", "events", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
			out, err := h.router.Invoke(ctx, payload)
			if err != nil {
				t.Fatal(err)
			}
			var resp events.APIGatewayProxyResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := h.sender.Take(tt.connection); !equal(got, tt.wantFrames) {
				t.Errorf("frames = %q, want %q", got, tt.wantFrames)
			}
			if _, stored := h.db.Items(t)[dynamotest.ConnectionKey(tt.connection)]; stored != tt.wantStored {
				t.Errorf("connection stored = %v, want %v", stored, tt.wantStored)
			}
			// The log line carries both request IDs.
			if !strings.Contains(h.logs.String(), `"lambdaRequestId":"lambda-req-1"`) || !strings.Contains(h.logs.String(), `"connectionId":"`+tt.connection+`"`) {
				t.Errorf("log line lacks request or connection ID:\n%s", h.logs.String())
			}
		})
	}
}

// TestRouteKeys: the router serves exactly the protocol's routes.
func TestRouteKeys(t *testing.T) {
	want := []string{"$connect", "$default", "$disconnect", "createroom", "enterroom", "iceservers", "leaveroom", "message", "ping", "resume", "subscribe", "unsubscribe"}
	if got := handlers.RouteKeys(); !reflect.DeepEqual(got, want) {
		t.Errorf("RouteKeys() = %q, want %q", got, want)
	}
}

// TestDefaultRouteServesKnownActions: a template without a route for an
// action still works, through $default.
func TestDefaultRouteServesKnownActions(t *testing.T) {
	h := newHarness(t)
	h.connect("A")
	if resp := h.invoke(h.event("$default", "MESSAGE", "A", `{"action":"ping"}`)); resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	if got := h.sender.Take("A"); !equal(got, []string{`{"type":"pong"}`}) {
		t.Errorf("A got %q", got)
	}
}

// TestInternalEventNeedsNoRouteKey: only a payload without a routeKey is an
// internal event, so an API Gateway event can never be taken for one.
func TestInternalEventNeedsNoRouteKey(t *testing.T) {
	h := newHarness(t)
	h.connect("A")
	payload := `{"slsrtcInternal":{"kind":"connected","connectionId":"A"},"requestContext":{"routeKey":"ping","eventType":"MESSAGE","connectionId":"A"},"body":"{\"action\":\"ping\"}"}`
	out, err := h.router.Invoke(context.Background(), []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"statusCode":200`) {
		t.Errorf("response %s", out)
	}
	if got := h.sender.Take("A"); !equal(got, []string{`{"type":"pong"}`}) {
		t.Errorf("A got %q, want only the pong", got)
	}
}

// TestUnrecognisedPayload: something that is not JSON is a Lambda error.
func TestUnrecognisedPayload(t *testing.T) {
	h := newHarness(t)
	if _, err := h.router.Invoke(context.Background(), []byte("not json")); err == nil {
		t.Error("Invoke accepted a non-JSON payload")
	}
}
