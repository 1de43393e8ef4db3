package handlers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/gateway"
	"github.com/slsrtc/slsrtc/telemetry"
)

// Store is what the handlers need from the table; *dynamo.Store implements
// it. See dynamo for what each method writes and returns.
type Store interface {
	PutConnection(ctx context.Context, connectionID string, connectedAt time.Time) error
	CreateRoom(ctx context.Context, connectionID string, capacity int) (dynamo.Room, error)
	Enter(ctx context.Context, connectionID, roomID, userName string) (dynamo.Membership, error)
	Leave(ctx context.Context, connectionID string) (dynamo.Membership, error)
	Disconnect(ctx context.Context, connectionID string) (dynamo.Membership, error)
	Roster(ctx context.Context, roomID string) (dynamo.Roster, error)
	Expel(ctx context.Context, roomID, connectionID string) (dynamo.Membership, error)
	Connections(ctx context.Context, ids ...string) (map[string]dynamo.Connection, error)
}

var _ Store = (*dynamo.Store)(nil)

// Sender posts one frame to one connection; *gateway.Connections implements
// it. Post returns gateway.ErrGone when the connection is closed.
type Sender interface {
	Post(ctx context.Context, connectionID string, data []byte) error
}

var _ Sender = (*gateway.Connections)(nil)

// Invoker queues an asynchronous invocation of this function;
// *gateway.Invoker implements it.
type Invoker interface {
	InvokeAsync(ctx context.Context, payload []byte) error
}

var _ Invoker = (*gateway.Invoker)(nil)

// handlers holds what every handler uses.
type handlers struct {
	cfg     Config
	store   Store
	sender  Sender
	invoker Invoker
	log     *slog.Logger
	now     func() time.Time
}

// messageFunc handles a parsed client message from a connection.
type messageFunc func(ctx context.Context, connectionID string, m Message) error

// message adapts a messageFunc to a route: it parses the body, records the
// action and body size, and answers a parse failure with its error.
func (h *handlers) message(f messageFunc) HandlerFunc {
	return func(ctx context.Context, ev *events.APIGatewayWebsocketProxyRequest) error {
		rec := telemetry.FromContext(ctx)
		rec.SetBodyBytes(len(ev.Body))
		m, err := ParseMessage([]byte(ev.Body))
		rec.SetAction(m.Action)
		if err != nil {
			return err
		}
		return f(ctx, ev.RequestContext.ConnectionID, m)
	}
}

// fallback serves $default: messages whose action matched no route. An
// action the router knows (a template without that route) is served
// anyway; everything else is answered with unknown-action or
// invalid-message.
func (h *handlers) fallback(ctx context.Context, ev *events.APIGatewayWebsocketProxyRequest) error {
	return h.message(func(ctx context.Context, connectionID string, m Message) error {
		switch m.Action {
		case ActionCreateRoom:
			return h.createRoom(ctx, connectionID, m)
		case ActionEnterRoom:
			return h.enterRoom(ctx, connectionID, m)
		case ActionLeaveRoom:
			return h.leaveRoom(ctx, connectionID, m)
		case ActionMessage:
			return h.relay(ctx, connectionID, m)
		case ActionPing:
			return h.ping(ctx, connectionID, m)
		}
		return newError(CodeUnknownAction, "")
	})(ctx, ev)
}

// reply posts a frame to the connection that sent the message. A gone
// connection is not an error: its $disconnect cleans up.
func (h *handlers) reply(ctx context.Context, connectionID string, frame any) error {
	err := h.sender.Post(ctx, connectionID, encode(frame))
	if errors.Is(err, gateway.ErrGone) {
		return nil
	}
	return err
}

// sendError tells the client about e, best effort. action is the action of
// the message that failed, if it could be read.
func (h *handlers) sendError(ctx context.Context, connectionID string, e *Error, action string) {
	f := errorFrame{Type: TypeError, Code: e.Code, Message: e.Message, Action: truncate(action, 64)}
	if err := h.reply(ctx, connectionID, f); err != nil {
		h.log.WarnContext(ctx, "send error frame", slog.String("connectionId", connectionID), slog.String("error", err.Error()))
	}
}

func (h *handlers) ping(ctx context.Context, connectionID string, _ Message) error {
	return h.reply(ctx, connectionID, typeFrame{Type: TypePong})
}
