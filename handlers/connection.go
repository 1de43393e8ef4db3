package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/slsrtc/slsrtc/connections"
	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/telemetry"
)

// connect serves $connect: it records the connection (one PutItem) and
// queues the internal "connected" event (one asynchronous Invoke), because
// API Gateway refuses posts to a connection until $connect has returned. If
// the event cannot be queued the record is removed and the handshake fails
// with 500, so the client can simply retry.
func (h *server) connect(ctx context.Context, ev *events.APIGatewayWebsocketProxyRequest) error {
	rc := ev.RequestContext
	connectedAt := time.UnixMilli(rc.ConnectedAt)
	if rc.ConnectedAt == 0 {
		connectedAt = h.now()
	}
	var grant dynamo.Grant
	if err := h.store.PutConnection(ctx, rc.ConnectionID, connectedAt, grant); err != nil {
		return fmt.Errorf("record connection: %w", err)
	}
	payload, err := json.Marshal(map[string]InternalEvent{internalKey: {
		Kind: internalConnected, ConnectionID: rc.ConnectionID, RequestID: rc.RequestID,
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

// connectedRetries are the waits between attempts to post "connected" while
// API Gateway still answers 410 because the handshake is finishing.
var connectedRetries = []time.Duration{25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}

// connected serves the internal event queued by $connect: it posts
// {"type":"connected","body":<connection ID>} (no DynamoDB call), retrying
// a Gone answer for about 1.5 s before concluding that the client left.
func (h *server) connected(ctx context.Context, ev *InternalEvent) error {
	frame := encode(bodyFrame{Type: TypeConnected, Body: ev.ConnectionID})
	var err error
	for attempt := 0; ; attempt++ {
		err = h.sender.Post(ctx, ev.ConnectionID, frame)
		if !errors.Is(err, connections.ErrGone) || attempt == len(connectedRetries) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(connectedRetries[attempt]):
		}
	}
	return err
}

// disconnect serves $disconnect: it removes the connection and its
// membership (see dynamo.Store.Disconnect) and tells the rest of the room
// (reason "disconnected").
// An unknown or already removed connection is a no-op.
func (h *server) disconnect(ctx context.Context, ev *events.APIGatewayWebsocketProxyRequest) error {
	left, err := h.store.Disconnect(ctx, ev.RequestContext.ConnectionID)
	if err != nil {
		return fmt.Errorf("remove connection: %w", err)
	}
	if left.RoomID == "" {
		return nil
	}
	telemetry.FromContext(ctx).SetRoom(left.RoomID)
	h.announceLeave(ctx, left, ReasonDisconnected, false)
	return nil
}
