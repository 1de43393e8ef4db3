package localstack_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/coder/websocket"

	"github.com/slsrtc/slsrtc/internal/localstack"
)

func startStack(t *testing.T) *localstack.Stack {
	t.Helper()
	return newStack(t).Stack
}

// client is a WebSocket client of the stack that decodes frames.
type client struct {
	t  *testing.T
	ws *websocket.Conn
	id string
}

func dial(t *testing.T, s *localstack.Stack) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.WebSocketURL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := &client{t: t, ws: ws}
	f := c.expect("connected")
	c.id = f["body"].(string)
	return c
}

func (c *client) send(msg string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		c.t.Fatalf("send %s: %v", msg, err)
	}
}

// next reads one frame.
func (c *client) next() map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		c.t.Fatalf("frame %s: %v", data, err)
	}
	return f
}

// expect reads one frame and fails unless its type is typ.
func (c *client) expect(typ string) map[string]any {
	c.t.Helper()
	f := c.next()
	if f["type"] != typ {
		c.t.Fatalf("got frame %v, want type %q", f, typ)
	}
	return f
}

// TestSeedSession is the original README's wscat session.
func TestSeedSession(t *testing.T) {
	s := startStack(t)
	a := dial(t, s)
	a.send(`{"action":"createroom"}`)
	room := a.expect("room-created")["body"].(string)
	a.send(`{"action":"enterroom","roomID":"` + room + `"}`)
	if f := a.expect("enter"); f["connectionID"] != a.id || f["roomID"] != room {
		t.Fatalf("enter = %v", f)
	}
	a.expect("room-members")

	b := dial(t, s)
	b.send(`{"action":"enterroom","roomID":"` + room + `","userName":"bob"}`)
	if f := a.expect("enter"); f["connectionID"] != b.id || f["userName"] != "bob" {
		t.Fatalf("A saw enter %v", f)
	}
	b.expect("enter")
	members := b.expect("room-members")["members"].([]any)
	if len(members) != 2 {
		t.Fatalf("room-members = %v", members)
	}
	b.send(`{"action":"message","dest":"` + a.id + `","type":"offer","message":"{\"sdp\":\"v=0\"}"}`)
	if f := a.expect("offer"); f["from"] != b.id || f["body"] != `{"sdp":"v=0"}` {
		t.Fatalf("relayed = %v", f)
	}
	b.ws.Close(websocket.StatusNormalClosure, "bye")
	if f := a.expect("leave"); f["connectionID"] != b.id {
		t.Fatalf("leave = %v", f)
	}
	a.send(`{"action":"ping"}`)
	// B's leave may come twice: B's enter can still be checking the room
	// (its fence) when B closes, and it corrects what it told A.
	for f := a.next(); f["type"] != "pong"; f = a.next() {
		if f["type"] != "leave" || f["connectionID"] != b.id {
			t.Fatalf("got frame %v, want pong", f)
		}
	}
	a.send(`{"action":"dance"}`)
	if f := a.expect("error"); f["code"] != "unknown-action" || !strings.Contains(f["message"].(string), "dance") {
		t.Fatalf("error = %v", f)
	}
}

// The function runs with the template's Timeout (10 s) as its deadline, not
// API Gateway's 29-second integration timeout nor Lambda's 3-second default.
func TestFunctionTimeout(t *testing.T) {
	left := make(chan time.Duration, 1)
	s := newStack(t, func(o *localstack.Options) {
		o.WrapHandler = func(h lambda.Handler) lambda.Handler {
			return handlerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
				if deadline, ok := ctx.Deadline(); ok {
					select {
					case left <- time.Until(deadline):
					default:
					}
				}
				return h.Invoke(ctx, payload)
			})
		}
	})
	if s.FunctionTimeout != 10*time.Second {
		t.Errorf("FunctionTimeout = %v, want the template's 10s", s.FunctionTimeout)
	}
	dial(t, s.Stack)
	// Bounds, not a measurement: the deadline was set just before the call.
	if got := <-left; got > 10*time.Second || got <= 3*time.Second {
		t.Errorf("the handler's deadline is %v away, want the template's 10s", got)
	}
}

// handlerFunc adapts a function to lambda.Handler.
type handlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f handlerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}
