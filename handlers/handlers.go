package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/slsrtc/slsrtc/auth"
	"github.com/slsrtc/slsrtc/connections"
	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/selfinvoke"
	"github.com/slsrtc/slsrtc/telemetry"
)

// Store is what the handlers need from the table; *dynamo.Store implements
// it. See dynamo for what each method writes and returns.
type Store interface {
	PutConnection(ctx context.Context, connectionID string, connectedAt time.Time, g dynamo.Grant) (dynamo.Participant, error)
	CreateRoom(ctx context.Context, connectionID string, capacity int) (dynamo.Room, error)
	Enter(ctx context.Context, connectionID, roomID, userName, nameKey string) (dynamo.Member, error)
	Leave(ctx context.Context, connectionID string) (dynamo.Member, error)
	Disconnect(ctx context.Context, connectionID string) (dynamo.Member, error)
	Roster(ctx context.Context, roomID string) (dynamo.Roster, error)
	Expel(ctx context.Context, m dynamo.Member) (dynamo.Member, error)
	Relay(ctx context.Context, from, to string) (sender, dest dynamo.Connection, err error)
	ConnectionsByID(ctx context.Context, ids ...string) (map[string]dynamo.Connection, error)
	RoomWithAway(ctx context.Context, connectionID string) (string, error)
	Connection(ctx context.Context, connectionID string) (dynamo.Connection, error)
	Resume(ctx context.Context, connectionID, token string) (dynamo.Resumed, error)
	Remove(ctx context.Context, connectionID string) (dynamo.Member, error)
	Follow(ctx context.Context, connectionID string) (dynamo.Connection, error)
	Hold(ctx context.Context, connectionID string, h dynamo.Held) error
	Held(ctx context.Context, connectionID string) ([]dynamo.Held, error)
	Subscribe(ctx context.Context, connectionID string, sub dynamo.PushSubscription) (dynamo.PushSubscription, error)
	Unsubscribe(ctx context.Context, connectionID, roomID, subID string) (bool, error)
	Subscriptions(ctx context.Context, roomID string) ([]dynamo.PushSubscription, error)
	ClaimNotification(ctx context.Context, sub dynamo.PushSubscription) (bool, error)
	DropSubscription(ctx context.Context, roomID, subID string) (bool, error)
}

var _ Store = (*dynamo.Store)(nil)

// Sender posts one frame to one connection, asks whether a connection is
// still open, and closes one; *connections.Client implements it. All return
// connections.ErrGone when the connection is closed.
type Sender interface {
	Post(ctx context.Context, connectionID string, data []byte) error
	Check(ctx context.Context, connectionID string) error
	Close(ctx context.Context, connectionID string) error
}

var _ Sender = (*connections.Client)(nil)

// Invoker queues an asynchronous invocation of this function;
// *selfinvoke.Invoker implements it.
type Invoker interface {
	InvokeAsync(ctx context.Context, payload []byte) error
}

var _ Invoker = (*selfinvoke.Invoker)(nil)

// server holds what every handler uses; the handlers are its methods.
type server struct {
	cfg     Config
	store   Store
	sender  Sender
	invoker Invoker
	log     *slog.Logger
	now     func() time.Time
	// verifier checks tokens when cfg.AuthSecrets are set; verifierErr is
	// why it could not be built (every $connect then fails).
	verifier    *auth.Verifier
	verifierErr error
	// push sends notifications when cfg.Push.VAPID is set (nil: push is
	// off); pushPolicy is what subscriptions' endpoints may name.
	push       *push.Sender
	pushPolicy push.Policy
}

// message adapts the handler of an action to its route: it parses the body,
// records the action and body size, and answers a parse failure with its
// error. The route API Gateway chose is the action that runs: a body whose
// action is not the route's (API Gateway matched another spelling than the
// one the parser read) is invalid-message. On $default (routeKey
// RouteDefault) any action of the table is served: a template may lack
// its route.
func (h *server) message(routeKey string) HandlerFunc {
	return func(ctx context.Context, ev *events.APIGatewayWebsocketProxyRequest) error {
		rec := telemetry.FromContext(ctx)
		rec.SetBodyBytes(len(ev.Body))
		m, err := ParseMessage([]byte(ev.Body))
		rec.SetAction(m.Action)
		if err != nil {
			return err
		}
		if routeKey != RouteDefault && m.Action != routeKey {
			return newError(CodeInvalidMessage, fmt.Sprintf("the message's action does not match the route %q it was sent on", routeKey))
		}
		a, _ := lookupAction(m.Action) // ParseMessage accepts table actions only
		return a.serve(h, ctx, ev.RequestContext.ConnectionID, m)
	}
}

// reply posts a frame to the connection that sent the message. A gone
// connection is not an error: its $disconnect cleans up.
func (h *server) reply(ctx context.Context, connectionID string, frame any) error {
	err := h.sender.Post(ctx, connectionID, encode(frame))
	if errors.Is(err, connections.ErrGone) {
		return nil
	}
	return err
}

// sendError tells the client about e, best effort. action is the action of
// the message that failed, if it could be read.
func (h *server) sendError(ctx context.Context, connectionID string, e *Error, action string) {
	f := errorFrame{Type: TypeError, Code: e.Code, Message: e.Message, Action: truncate(action, 64),
		RetryAfterMs: e.RetryAfter.Milliseconds(), Reason: e.Reason}
	if u := e.Undelivered; u != nil {
		f.Dest, f.ParticipantID, f.Count = u.Dest, u.ParticipantID, u.Count
	}
	if err := h.reply(ctx, connectionID, f); err != nil {
		h.log.WarnContext(ctx, "send error frame", slog.String("connectionId", connectionID), slog.String("error", err.Error()))
	}
}

// ping serves ping: pong, and, on a stack with resume, the sweep of the
// caller's room for away members whose window has passed (see sweep).
func (h *server) ping(ctx context.Context, connectionID string, _ Message) error {
	if err := h.reply(ctx, connectionID, typeFrame{Type: TypePong}); err != nil {
		return err
	}
	if h.cfg.ResumeGrace > 0 {
		h.sweep(ctx, connectionID)
	}
	return nil
}
