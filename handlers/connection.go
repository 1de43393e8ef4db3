package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/google/uuid"

	"github.com/slsrtc/slsrtc/connections"
	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/internal/retry"
	"github.com/slsrtc/slsrtc/names"
	"github.com/slsrtc/slsrtc/telemetry"
)

// connect serves $connect: it admits the client (its Origin, its token:
// see admit), records the connection with what the token allows (one
// PutItem) and queues the internal "connected" event (one asynchronous
// Invoke), because API Gateway refuses posts to a connection until $connect
// has returned. A refused client gets the handshake refused (401, 403) and
// nothing is written. If the event cannot be queued the record is removed
// and the handshake fails with 500, so the client can simply retry.
func (h *server) connect(ctx context.Context, ev *events.APIGatewayWebsocketProxyRequest) error {
	rc := ev.RequestContext
	grant, err := h.admit(ev)
	if err != nil {
		return err
	}
	connectedAt := time.UnixMilli(rc.ConnectedAt)
	if rc.ConnectedAt == 0 {
		connectedAt = h.now()
	}
	participant, err := h.store.PutConnection(ctx, rc.ConnectionID, connectedAt, grant)
	if err != nil {
		return fmt.Errorf("record connection: %w", err)
	}
	payload, err := json.Marshal(map[string]InternalEvent{internalKey: {
		Kind: internalConnected, ConnectionID: rc.ConnectionID, RequestID: rc.RequestID,
		ParticipantID: participant.ID, ResumeToken: participant.ResumeToken, ConnectedAt: connectedAt.UnixMilli(),
	}})
	if err != nil {
		return fmt.Errorf("encode connected event: %w", err)
	}
	if err := h.invoker.InvokeAsync(ctx, payload); err != nil {
		if _, cerr := h.store.Disconnect(ctx, rc.ConnectionID); cerr != nil {
			err = errors.Join(err, fmt.Errorf("remove connection record: %w", cerr))
		}
		return fmt.Errorf("queue connected event: %w", err)
	}
	return nil
}

// admit decides whether a handshake may connect, before anything is
// written: a browser's Origin must be one of cfg.AllowedOrigins (when any
// are set: 403 otherwise), and with cfg.AuthSecrets the ?token= query
// parameter must be a valid token (401 otherwise; see auth.Verifier). It
// returns what the token allows, in the store's terms. A refusal's message
// says why, never with the token.
func (h *server) admit(ev *events.APIGatewayWebsocketProxyRequest) (dynamo.Grant, error) {
	if len(h.cfg.AllowedOrigins) > 0 {
		if origin := header(ev.Headers, "Origin"); origin != "" && !slices.Contains(h.cfg.AllowedOrigins, origin) {
			return dynamo.Grant{}, newError(CodeForbidden, "this origin may not connect")
		}
	}
	if len(h.cfg.AuthSecrets) == 0 {
		return dynamo.Grant{}, nil
	}
	if h.verifierErr != nil {
		return dynamo.Grant{}, fmt.Errorf("token verifier: %w", h.verifierErr)
	}
	g, err := h.verifier.Verify(ev.QueryStringParameters["token"])
	if err != nil {
		return dynamo.Grant{}, &Error{Code: CodeUnauthorized, Message: "a valid token is required: " + err.Error(), Err: err}
	}
	out := dynamo.Grant{Granted: true, Create: g.Create, PinnedName: g.Name}
	if g.Name != "" {
		if out.PinnedKey, err = names.Normalize(g.Name); err != nil { // Verify checked it
			return dynamo.Grant{}, &Error{Code: CodeUnauthorized, Message: "the token's name is not allowed", Err: err}
		}
	}
	for _, r := range g.Rooms {
		if id, err := uuid.Parse(r); err == nil {
			r = id.String() // the canonical form enterroom uses
		}
		out.Rooms = append(out.Rooms, r)
	}
	return out, nil
}

// header returns the value of a header of a $connect event, whatever its
// case (API Gateway passes the client's spelling).
func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// connectedRetries are the waits between attempts to post "connected" while
// API Gateway still answers 410 because the handshake is finishing.
var connectedRetries = []time.Duration{25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}

// connectedThrottledRetries are the waits between attempts to post
// "connected" that failed otherwise: throttled (429) or a server error past
// the SDK's own three attempts, or a call that timed out. The client cannot
// start without this frame, and Lambda does not retry the asynchronous
// invocation (MaximumRetryAttempts 0: its retries come minutes late), so
// the handler waits up to 3.4 s in all between attempts (within the
// function's 10 s timeout, which ends it whatever the posts take).
var connectedThrottledRetries = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second, 2 * time.Second}

// connected serves the internal event queued by $connect: it posts
// {"type":"connected","body":<connection ID>,...} with the participant and
// the connection's limits (no DynamoDB call), retrying a Gone answer for
// about 1.5 s before concluding that the client left, and a throttled or
// failed post for about 3.5 s (connectedThrottledRetries).
func (h *server) connected(ctx context.Context, ev *InternalEvent) error {
	f := connectedFrame{Type: TypeConnected, Body: ev.ConnectionID, ParticipantID: ev.ParticipantID,
		ResumeToken: ev.ResumeToken, IdleTimeoutMs: h.cfg.IdleTimeout.Milliseconds()}
	if ev.ConnectedAt > 0 {
		f.ExpiresAt = ev.ConnectedAt + h.cfg.MaxConnectionDuration.Milliseconds()
	}
	if h.cfg.Push.VAPID != nil {
		f.VAPIDPublicKey = h.cfg.Push.VAPID.PublicKey()
	}
	frame := encode(f)
	gone, failed := 0, 0
	for {
		err := h.sender.Post(ctx, ev.ConnectionID, frame)
		var wait time.Duration
		switch {
		case err == nil:
			return nil
		case errors.Is(err, connections.ErrGone):
			if gone == len(connectedRetries) {
				return err
			}
			wait = connectedRetries[gone]
			gone++
		case errors.Is(err, connections.ErrPayloadTooLarge), ctx.Err() != nil, failed == len(connectedThrottledRetries):
			return err
		default:
			wait = connectedThrottledRetries[failed]
			failed++
		}
		if err := retry.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// closeNormal is WebSocket's normal closure (RFC 6455, 7.4.1): the close
// code of a client that ends its session on purpose.
const closeNormal = 1000

// disconnect serves $disconnect: it removes the connection (see
// dynamo.Store.Disconnect). A member's participant goes away, keeping its
// seat for a resume, and its room hears nothing yet; a client that closed
// with 1000 (normal closure: it meant to go), or any member on a stack
// without resume, leaves, and the room is told (reason "disconnected"). An
// unknown or already removed connection is a no-op.
func (h *server) disconnect(ctx context.Context, ev *events.APIGatewayWebsocketProxyRequest) error {
	end := h.store.Disconnect
	if ev.RequestContext.DisconnectStatusCode == closeNormal {
		end = h.store.Remove
	}
	left, err := end(ctx, ev.RequestContext.ConnectionID)
	if err != nil {
		return fmt.Errorf("remove connection: %w", err)
	}
	if left.RoomID == "" {
		return nil
	}
	rec := telemetry.FromContext(ctx)
	rec.SetRoom(left.RoomID)
	if !left.AwayUntil.IsZero() {
		rec.Count(telemetry.MetricParticipantsAway, 1)
		h.log.InfoContext(ctx, "participant away: its seat is held for a resume",
			slog.String("participantId", left.ParticipantID), slog.Time("awayUntil", left.AwayUntil))
		return nil
	}
	h.announceLeave(ctx, left, ReasonDisconnected, false)
	return nil
}
