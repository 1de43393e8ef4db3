package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/coder/websocket"
)

// handlerFunc adapts a function to lambda.Handler.
type handlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f handlerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

// The whole local stack as cmd/local wires it: the Gateway mounted in a mux beside a
// page at "/", and a handler that, on $connect, invokes itself asynchronously through
// the Lambda API so that the second invocation can post "connected" through
// @connections once $connect has returned (retrying on 410 as it must in AWS).
func TestLocalStackSelfInvoke(t *testing.T) {
	var endpoint atomic.Pointer[string]
	creds := credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", "")
	handler := handlerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
		var in struct {
			RequestContext struct{ EventType, ConnectionID string } `json:"requestContext"`
			Kind           string                                   `json:"kind"`
			ConnectionID   string                                   `json:"connectionId"`
		}
		if err := json.Unmarshal(payload, &in); err != nil {
			return nil, err
		}
		switch {
		case in.RequestContext.EventType == eventConnect:
			lc, _ := lambdacontext.FromContext(ctx)
			self := lambdasvc.New(lambdasvc.Options{BaseEndpoint: endpoint.Load(), Region: "us-east-1", Credentials: creds})
			body, _ := json.Marshal(map[string]string{"kind": "connected", "connectionId": in.RequestContext.ConnectionID})
			if _, err := self.Invoke(ctx, &lambdasvc.InvokeInput{
				FunctionName:   aws.String(lc.InvokedFunctionArn),
				InvocationType: lambdatypes.InvocationTypeEvent,
				Payload:        body,
			}); err != nil {
				return nil, err
			}
		case in.Kind == "connected":
			api := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
				BaseEndpoint: aws.String(*endpoint.Load() + "/" + testStage), Region: "us-east-1", Credentials: creds,
			})
			for {
				_, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
					ConnectionId: aws.String(in.ConnectionID),
					Data:         []byte(`{"type":"connected","body":"` + in.ConnectionID + `"}`),
				})
				var gone *types.GoneException
				if !errors.As(err, &gone) {
					return []byte(`null`), err
				}
				select { // $connect has not returned yet
				case <-time.After(10 * time.Millisecond):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}
		return []byte(`{"statusCode":200}`), nil
	})
	rec := newRecorder(nil)
	cfg := testConfig(rec)
	cfg.Handler = handler
	gw, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "demo page") })
	for _, p := range gw.Patterns() {
		mux.Handle(p, gw)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if err := gw.Shutdown(ctx(t)); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	endpoint.Store(&srv.URL)

	ws, _, err := websocket.Dial(ctx(t), "ws://"+srv.Listener.Addr().String()+"/"+testStage, nil)
	if err != nil {
		t.Fatalf("dial through the mux: %v", err)
	}
	c := newClient(t, ws)
	var got struct{ Type, Body string }
	if err := json.Unmarshal([]byte(c.next(t)), &got); err != nil || got.Type != "connected" || !idShape.MatchString(got.Body) {
		t.Errorf("first frame = %+v (%v), want connected with the connection ID", got, err)
	}
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, srv.URL+"/"+testStage+"/%40connections/"+strings.ReplaceAll(got.Body, "=", "%3D"), strings.NewReader("through the mux"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if frame := c.next(t); resp.StatusCode != http.StatusOK || frame != "through the mux" {
		t.Errorf("POST %%40connections through the mux = %d, frame %q; want 200 and the frame", resp.StatusCode, frame)
	}
	for path, want := range map[string]string{"/": "demo page", "/index.html": "demo page"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("GET %s = %q, want %q", path, b, want)
		}
	}
}
