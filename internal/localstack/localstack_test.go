package localstack_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/testkit"
)

func startStack(t *testing.T) *localstack.Stack {
	t.Helper()
	return newStack(t).Stack
}

// TestSeedSession is the original README's wscat session.
func TestSeedSession(t *testing.T) {
	s := startStack(t)
	a := testkit.Connect(t, s.WebSocketURL)
	a.MustSend(t, `{"action":"createroom"}`)
	room := a.Expect(t, "room-created").Body
	a.MustSend(t, `{"action":"enterroom","roomID":"`+room+`"}`)
	if f := a.Expect(t, "enter"); f.ConnectionID != a.ID || f.RoomID != room {
		t.Fatalf("enter = %s", f.Raw)
	}
	a.Expect(t, "room-members")

	b := testkit.Connect(t, s.WebSocketURL)
	b.MustSend(t, `{"action":"enterroom","roomID":"`+room+`","userName":"bob"}`)
	if f := a.Expect(t, "enter"); f.ConnectionID != b.ID || f.UserName != "bob" {
		t.Fatalf("A saw enter %s", f.Raw)
	}
	b.Expect(t, "enter")
	if members := b.Expect(t, "room-members").Members; len(members) != 2 {
		t.Fatalf("room-members = %v", members)
	}
	b.MustSend(t, `{"action":"message","dest":"`+a.ID+`","type":"offer","message":"{\"sdp\":\"v=0\"}"}`)
	if f := a.Expect(t, "offer"); f.From != b.ID || f.Body != `{"sdp":"v=0"}` {
		t.Fatalf("relayed = %s", f.Raw)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// B's leave may come twice: B's enter can still be checking the room
	// (its fence) when B closes, and it corrects what it told A.
	if f := a.Expect(t, "leave"); f.ConnectionID != b.ID {
		t.Fatalf("leave = %s", f.Raw)
	}
	a.MustSend(t, `{"action":"ping"}`)
	a.Expect(t, "pong")
	a.MustSend(t, `{"action":"dance"}`)
	if f := a.Expect(t, "error"); f.Code != "unknown-action" || !strings.Contains(f.Message, "dance") {
		t.Fatalf("error = %s", f.Raw)
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
	testkit.Connect(t, s.WebSocketURL)
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
