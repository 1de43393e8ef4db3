package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/coder/websocket"
)

// rawRequest sends a plain HTTP request to the stack and returns status and body.
func (s *stack) rawRequest(t *testing.T, method, path, body string) (int, http.Header, string) {
	t.Helper()
	return s.request(t, method, path, body, nil)
}

// request is rawRequest with extra headers.
func (s *stack) request(t *testing.T, method, path, body string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// Behaviour 12: POST @connections answers 200 and delivers exactly one text frame;
// the %40connections and %3D-escaped forms are accepted.
func TestPostToConnection(t *testing.T) {
	s := startStack(t, nil, nil)
	c := s.dial(t, nil)
	t.Run("sdk", func(t *testing.T) {
		_, err := s.mgmtClient().PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{
			ConnectionId: aws.String(c.id),
			Data:         []byte(`{"type":"connected","body":"` + c.id + `"}`),
		})
		if err != nil {
			t.Fatalf("PostToConnection: %v", err)
		}
		if got, want := c.next(t), `{"type":"connected","body":"`+c.id+`"}`; got != want {
			t.Errorf("frame = %q, want %q", got, want)
		}
		c.assertOpenByPost(t, s) // the next frame is the probe: the post made exactly one
	})
	escaped := strings.ReplaceAll(c.id, "=", "%3D")
	for _, tt := range []struct{ name, path string }{
		{"@connections", "/" + testStage + "/@connections/" + c.id},
		{"%40connections", "/" + testStage + "/%40connections/" + c.id},
		{"@connections with %3D", "/" + testStage + "/@connections/" + escaped},
		{"%40connections with %3D", "/" + testStage + "/%40connections/" + escaped},
	} {
		path := tt.path
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := s.rawRequest(t, http.MethodPost, path, "via "+path)
			if status != http.StatusOK {
				t.Fatalf("POST %s = %d %s, want 200", path, status, body)
			}
			if got := c.next(t); got != "via "+path {
				t.Errorf("frame = %q, want %q", got, "via "+path)
			}
		})
	}
}

// Behaviour 13: GET @connections answers connectedAt, identity and lastActiveAt.
func TestGetConnection(t *testing.T) {
	s := startStack(t, nil, nil)
	c := s.dial(t, nil)
	connect := s.rec.waitFor(t, "CONNECT", event(c.id, eventConnect, routeConnect))
	connectedAt := time.UnixMilli(connect.ev.RequestContext.ConnectedAt)

	out, err := s.mgmtClient().GetConnection(ctx(t), &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(c.id)})
	if err != nil {
		t.Fatalf("GetConnection: %v", err)
	}
	if out.ConnectedAt == nil || !out.ConnectedAt.Equal(connectedAt) {
		t.Errorf("ConnectedAt = %v, want %v (the event's connectedAt)", out.ConnectedAt, connectedAt)
	}
	if out.LastActiveAt == nil || !out.LastActiveAt.Equal(connectedAt) {
		t.Errorf("LastActiveAt = %v, want %v before any message", out.LastActiveAt, connectedAt)
	}
	if out.Identity == nil || aws.ToString(out.Identity.SourceIp) != "127.0.0.1" || aws.ToString(out.Identity.UserAgent) != testAgent {
		t.Errorf("Identity = %+v, want 127.0.0.1 and %q", out.Identity, testAgent)
	}

	c.send(t, `{"action":"message"}`)
	msg := s.rec.waitFor(t, "MESSAGE", event(c.id, eventMessage, "message"))
	status, header, body := s.rawRequest(t, http.MethodGet, "/"+testStage+"/@connections/"+c.id, "")
	if status != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET = %d %q, want 200 application/json", status, header.Get("Content-Type"))
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 3 || raw["connectedAt"] == nil || raw["identity"] == nil || raw["lastActiveAt"] == nil {
		t.Errorf("body %s, want exactly connectedAt, identity, lastActiveAt", body)
	}
	if id, _ := raw["identity"].(map[string]any); len(id) != 2 || id["sourceIp"] == nil || id["userAgent"] == nil {
		t.Errorf("identity %v, want exactly sourceIp and userAgent", raw["identity"])
	}
	last, err := time.Parse(time.RFC3339Nano, raw["lastActiveAt"].(string))
	if want := time.UnixMilli(msg.ev.RequestContext.RequestTimeEpoch); err != nil || !last.Equal(want) {
		t.Errorf("lastActiveAt = %v (%v), want the message's time %v", raw["lastActiveAt"], err, want)
	}
}

// Behaviour 14: DELETE @connections answers 204, closes the client and fires
// $disconnect.
func TestDeleteConnection(t *testing.T) {
	s := startStack(t, nil, nil)
	c := s.dial(t, nil)
	status, _, body := s.rawRequest(t, http.MethodDelete, "/"+testStage+"/%40connections/"+strings.ReplaceAll(c.id, "=", "%3D"), "")
	if status != http.StatusNoContent || body != "" {
		t.Errorf("DELETE = %d %q, want 204 and no body", status, body)
	}
	if got := c.closed(t); got.Code != 1000 {
		t.Errorf("client got close code %d, want 1000", got.Code)
	}
	disc := s.rec.waitFor(t, "DISCONNECT", event(c.id, eventDisconnect, routeDisconnect))
	if got := disc.ev.RequestContext.DisconnectStatusCode; got != 1000 {
		t.Errorf("disconnectStatusCode = %d, want 1000", got)
	}
	_, err := s.mgmtClient().GetConnection(ctx(t), &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(c.id)})
	if gone := (*types.GoneException)(nil); !errors.As(err, &gone) {
		t.Errorf("GetConnection after DELETE = %v, want *types.GoneException", err)
	}
}

// Behaviour 15: an unknown or closed connection answers 410 GoneException, which the
// Go SDK maps to *types.GoneException.
func TestGoneException(t *testing.T) {
	s := startStack(t, nil, nil)
	closed := s.dial(t, nil)
	closed.ws.CloseNow()
	s.rec.waitFor(t, "DISCONNECT", event(closed.id, eventDisconnect, routeDisconnect))
	api := s.mgmtClient()
	for _, tt := range []struct{ name, id string }{
		{"unknown", newID()},
		{"closed", closed.id},
	} {
		calls := map[string]func() error{
			"Post": func() error {
				_, err := api.PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(tt.id), Data: []byte("x")})
				return err
			},
			"Get": func() error {
				_, err := api.GetConnection(ctx(t), &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(tt.id)})
				return err
			},
			"Delete": func() error {
				_, err := api.DeleteConnection(ctx(t), &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(tt.id)})
				return err
			},
		}
		for op, call := range calls {
			t.Run(tt.name+" "+op, func(t *testing.T) {
				var gone *types.GoneException
				if err := call(); !errors.As(err, &gone) {
					t.Errorf("%s = %v, want *types.GoneException", op, err)
				}
			})
		}
	}
	t.Run("wire", func(t *testing.T) {
		status, header, body := s.rawRequest(t, http.MethodPost, "/"+testStage+"/@connections/"+closed.id, "x")
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || status != http.StatusGone || e.Type != "GoneException" || e.Message == "" || header.Get("X-Amzn-ErrorType") != "GoneException" {
			t.Errorf("POST to a closed connection = %d %v %s, want 410 with GoneException in X-Amzn-ErrorType and __type", status, header, body)
		}
	})
}

// Behaviour 16: PostToConnection before $connect has returned answers 410; once it
// returned, posting works.
func TestPostBeforeConnect(t *testing.T) {
	inConnect := make(chan string, 1)
	release := make(chan struct{})
	rec := newRecorder(func(ctx context.Context, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if ev.RequestContext.EventType == eventConnect {
			inConnect <- ev.RequestContext.ConnectionID
			<-release
		}
		return echo(ctx, ev)
	})
	s := startStack(t, rec, nil)
	type dialResult struct {
		ws  *websocket.Conn
		err error
	}
	dialed := make(chan dialResult, 1)
	go func() {
		ws, _, err := websocket.Dial(context.Background(), s.wsURL("/"+testStage), nil)
		dialed <- dialResult{ws, err}
	}()
	id := <-inConnect
	api := s.mgmtClient()
	_, err := api.PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte("too early")})
	if gone := (*types.GoneException)(nil); !errors.As(err, &gone) {
		t.Errorf("PostToConnection during $connect = %v, want *types.GoneException", err)
	}
	_, err = api.GetConnection(ctx(t), &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
	if gone := (*types.GoneException)(nil); !errors.As(err, &gone) {
		t.Errorf("GetConnection during $connect = %v, want *types.GoneException", err)
	}
	close(release)
	d := <-dialed
	if d.err != nil {
		t.Fatalf("dial: %v", d.err)
	}
	c := newClient(t, d.ws)
	c.id = id
	c.assertOpenByPost(t, s)
}

// Behaviour 17: a PostToConnection body over 128 KB answers 413
// PayloadTooLargeException; 128 KB exactly is delivered.
func TestPostPayloadTooLarge(t *testing.T) {
	s := startStack(t, nil, nil)
	c := s.dial(t, nil)
	api := s.mgmtClient()
	_, err := api.PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(c.id), Data: make([]byte, maxMessageBytes+1)})
	if tooLarge := (*types.PayloadTooLargeException)(nil); !errors.As(err, &tooLarge) {
		t.Errorf("PostToConnection of 128 KB + 1 = %v, want *types.PayloadTooLargeException", err)
	}
	status, header, _ := s.rawRequest(t, http.MethodPost, "/"+testStage+"/@connections/"+c.id, strings.Repeat("x", maxMessageBytes+1))
	if status != http.StatusRequestEntityTooLarge || header.Get("X-Amzn-ErrorType") != "PayloadTooLargeException" {
		t.Errorf("raw POST of 128 KB + 1 = %d %q, want 413 PayloadTooLargeException", status, header.Get("X-Amzn-ErrorType"))
	}
	data := strings.Repeat("y", maxMessageBytes)
	if _, err := api.PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(c.id), Data: []byte(data)}); err != nil {
		t.Fatalf("PostToConnection of 128 KB: %v", err)
	}
	if got := c.next(t); got != data {
		t.Errorf("frame of %d bytes, want the 128 KB posted", len(got))
	}
}

// @connections calls outside the stage (a BaseEndpoint without the stage) answer
// 403 ForbiddenException, as API Gateway does.
func TestConnectionsOutsideStage(t *testing.T) {
	s := startStack(t, nil, nil)
	c := s.dial(t, nil)
	api := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint: aws.String(s.srv.URL), // no stage
		Region:       "us-east-1",
		Credentials:  s.mgmtClient().Options().Credentials,
	})
	_, err := api.PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(c.id), Data: []byte("x")})
	if forbidden := (*types.ForbiddenException)(nil); !errors.As(err, &forbidden) {
		t.Errorf("PostToConnection without the stage = %v, want *types.ForbiddenException", err)
	}
	if status, _, _ := s.rawRequest(t, http.MethodPut, "/"+testStage+"/@connections/"+c.id, ""); status != http.StatusForbidden {
		t.Errorf("PUT @connections = %d, want 403", status)
	}
}

// A client that does not read fills its buffer: posts are then answered 429
// LimitExceededException (the SDK's *types.LimitExceededException, which its
// retryer retries), not 410, and the connection stays. Once it reads, it gets
// every message that was answered 200, in order, and none that was refused.
func TestSlowReader(t *testing.T) {
	s := startStack(t, nil, func(cfg *Config) { cfg.SendBuffer = 64 << 10 })
	// A small receive window, so that the kernel's buffers fill quickly.
	small := &net.Dialer{Timeout: wait, Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		_ = rc.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	c := s.rawDialWith(t, small)
	api := s.mgmtClient()
	post := func(data string) error {
		_, err := api.PostToConnection(ctx(t), &apigatewaymanagementapi.PostToConnectionInput{
			ConnectionId: aws.String(c.id), Data: []byte(data),
		})
		return err
	}
	message := func(i int) string { return fmt.Sprintf("%06d", i) + strings.Repeat(".", 16<<10) }

	accepted := 0
	for ; accepted < 4000; accepted++ {
		err := post(message(accepted))
		if err == nil {
			continue
		}
		var limit *types.LimitExceededException
		if !errors.As(err, &limit) {
			t.Fatalf("post %d: %v, want *types.LimitExceededException", accepted, err)
		}
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusTooManyRequests || re.Response.Header.Get("X-Amzn-ErrorType") != "LimitExceededException" {
			t.Errorf("post %d: %v, want 429 with X-Amzn-ErrorType LimitExceededException", accepted, err)
		}
		break
	}
	if accepted == 4000 {
		t.Fatal("4000 posts of 16 KB to a client that does not read were all accepted")
	}
	t.Logf("%d posts of 16 KB accepted before the first 429", accepted)
	if _, err := api.GetConnection(ctx(t), &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(c.id)}); err != nil {
		t.Errorf("GetConnection of the slow reader: %v, want it still connected", err)
	}
	for i := range accepted {
		if _, got := c.readMessage(t); got != message(i) {
			t.Fatalf("message %d: got %.10q…, want %.10q…", i, got, message(i))
		}
	}
	if err := post("end"); err != nil {
		t.Fatalf("post once the client has read: %v", err)
	}
	if _, got := c.readMessage(t); got != "end" {
		t.Errorf("after the %d accepted messages: %.10q…, want end (the refused one must not arrive)", accepted, got)
	}
}
