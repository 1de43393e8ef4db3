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

// relay serves message: it charges the message to the sender's rate and
// reads sender and destination (see dynamo.Store.Relay), and only when both
// are in the same room posts {"type":<type>,"body":<message>,"from":<sender>}
// to the destination. The server sets "from"; the payload is never parsed. A
// destination that turns out to be gone is cleaned up and its room told
// (reason "gone"). A sender that keeps sending past its rate is closed.
func (h *server) relay(ctx context.Context, connectionID string, m Message) error {
	rec := telemetry.FromContext(ctx)
	denied := func(err error) error {
		rec.Count(telemetry.MetricRelaysDenied, 1)
		return err
	}
	frame := encode(relayFrame{Type: m.Type, Body: m.Payload, From: connectionID})
	if n := len(frame) + participantFieldBytes; n > MaxMessageBytes {
		return denied(newError(CodePayloadTooLarge, fmt.Sprintf("the relayed message would be %d bytes; the limit is %d", n, MaxMessageBytes)))
	}
	sender, dest, err := h.store.Relay(ctx, connectionID, m.Dest)
	switch {
	case errors.Is(err, dynamo.ErrAbusive):
		return denied(h.closeAbusive(ctx, connectionID))
	case err != nil:
		if ce, internal := clientError(err); !internal {
			return denied(ce)
		}
		return fmt.Errorf("read sender and destination: %w", err)
	case sender.RoomID == "":
		return denied(newError(CodeNotInRoom, "enter a room before sending messages"))
	}
	rec.SetRoom(sender.RoomID)
	if dest.RoomID != sender.RoomID {
		return denied(newError(CodeForbidden, "the destination is not in your room"))
	}
	err = h.sender.Post(ctx, m.Dest, withParticipant(frame, sender.ParticipantID))
	switch {
	case errors.Is(err, connections.ErrGone):
		left, err := h.removeConnection(ctx, dynamo.Member{RoomID: dest.RoomID, ParticipantID: dest.ParticipantID, ConnectionID: dest.ID})
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

// closeAbusive closes a connection that kept sending past its rate (DELETE
// @connections; its $disconnect then takes it out of its room), after
// telling it why, logs it, and returns the refusal (already sent).
func (h *server) closeAbusive(ctx context.Context, connectionID string) *Error {
	e := newError(CodeRateLimited, "this connection kept sending past its rate and is closed")
	h.log.WarnContext(ctx, "closing a connection that kept sending past its rate", slog.String("abusiveConnectionId", connectionID))
	telemetry.FromContext(ctx).Count(telemetry.MetricConnectionsClosed, 1)
	h.sendError(ctx, connectionID, e, ActionMessage)
	e.sent = true
	if err := h.sender.Close(ctx, connectionID); err != nil && !errors.Is(err, connections.ErrGone) {
		h.log.ErrorContext(ctx, "close abusive connection", slog.String("abusiveConnectionId", connectionID), slog.String("error", err.Error()))
	}
	return e
}
