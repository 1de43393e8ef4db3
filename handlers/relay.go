package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/slsrtc/slsrtc/connections"
	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/telemetry"
)

// relay serves message: it reads sender and destination in one
// BatchGetItem, and only when both are in the same room posts
// {"type":<type>,"body":<message>,"from":<sender>} to the destination. The
// server sets "from"; the payload is never parsed. A destination that turns
// out to be gone is cleaned up and its room told (reason "gone").
func (h *server) relay(ctx context.Context, connectionID string, m Message) error {
	rec := telemetry.FromContext(ctx)
	denied := func(err error) error {
		rec.Count(telemetry.MetricRelaysDenied, 1)
		return err
	}
	frame := encode(relayFrame{Type: m.Type, Body: m.Payload, From: connectionID})
	if len(frame) > MaxMessageBytes {
		return denied(newError(CodePayloadTooLarge, fmt.Sprintf("the relayed message would be %d bytes; the limit is %d", len(frame), MaxMessageBytes)))
	}
	conns, err := h.store.ConnectionsByID(ctx, connectionID, m.Dest)
	if err != nil {
		return fmt.Errorf("read sender and destination: %w", err)
	}
	sender, ok := conns[connectionID]
	switch {
	case !ok:
		return denied(dynamo.ErrConnectionNotFound)
	case sender.RoomID == "":
		return denied(newError(CodeNotInRoom, "enter a room before sending messages"))
	}
	rec.SetRoom(sender.RoomID)
	if dest, ok := conns[m.Dest]; !ok || dest.RoomID != sender.RoomID {
		return denied(newError(CodeForbidden, "the destination is not in your room"))
	}
	err = h.sender.Post(ctx, m.Dest, frame)
	switch {
	case errors.Is(err, connections.ErrGone):
		left, err := h.removeConnection(ctx, sender.RoomID, m.Dest)
		if err != nil {
			h.log.WarnContext(ctx, "clean up gone connection", slog.String("goneConnectionId", m.Dest), slog.String("error", err.Error()))
		} else if left.RoomID != "" {
			h.announceLeave(ctx, left, ReasonGone, false)
		}
		return nil
	case err != nil:
		return fmt.Errorf("post to destination: %w", err)
	}
	rec.Count(telemetry.MetricRelays, 1)
	return nil
}
