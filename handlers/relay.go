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
// are in the same room posts {"type":<type>,"body":<message>,"from":<sender>,
// "participantID":<sender's participant>} to the destination. The server
// sets "from"; the payload is never parsed. dest names a connection or a
// participant; a connection that a resume replaced is followed to the new
// one. A destination that is away (its connection closed, its seat held for
// a resume) has the signal held for it, delivered when it resumes; if it
// cannot be held (too many waiting, or its window passed) the sender gets
// undeliverable. A destination that turns out to be gone is cleaned up: it
// goes away (and the signal is held), or on a stack without resume its room
// is told (reason "gone"). A sender that keeps sending past its rate is
// closed.
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
	if err == nil && dest.MovedTo != "" {
		dest, err = h.store.Follow(ctx, dest.MovedTo)
	}
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
	frame = withParticipant(frame, sender.ParticipantID)
	if !dest.AwayUntil.IsZero() {
		return h.hold(ctx, sender, dest, m.Dest, frame)
	}
	err = h.sender.Post(ctx, dest.ID, frame)
	switch {
	case errors.Is(err, connections.ErrGone):
		left, err := h.removeConnection(ctx, dynamo.Member{RoomID: dest.RoomID, ParticipantID: dest.ParticipantID, ConnectionID: dest.ID})
		switch {
		case err != nil:
			h.log.WarnContext(ctx, "clean up gone connection", slog.String("goneConnectionId", dest.ID), slog.String("error", err.Error()))
		case !left.AwayUntil.IsZero():
			dest.AwayUntil = left.AwayUntil
			return h.hold(ctx, sender, dest, m.Dest, frame)
		case left.RoomID != "":
			h.announceLeave(ctx, left, ReasonGone, false)
		}
		return nil
	case err != nil:
		return fmt.Errorf("post to destination: %w", err)
	}
	rec.Count(telemetry.MetricRelays, 1)
	return nil
}

// hold keeps a relayed frame for an away destination (see
// dynamo.Store.Hold), named by the sender as named. A destination that
// resumed meanwhile gets the frame at its new connection. One that cannot
// hold it (too many waiting, its window passed, its seat freed) makes the
// signal undeliverable, and the sender is told.
func (h *server) hold(ctx context.Context, sender, dest dynamo.Connection, named string, frame []byte) error {
	rec := telemetry.FromContext(ctx)
	err := h.store.Hold(ctx, dest.ID, dynamo.Held{From: sender.ID, FromParticipant: sender.ParticipantID, Frame: frame})
	var moved *dynamo.MovedError
	switch {
	case err == nil:
		rec.Count(telemetry.MetricSignalsHeld, 1)
		return nil
	case errors.As(err, &moved):
		perr := h.sender.Post(ctx, moved.To, frame)
		if perr == nil {
			rec.Count(telemetry.MetricRelays, 1)
			return nil
		}
		if !errors.Is(perr, connections.ErrGone) {
			return fmt.Errorf("post to the connection the destination resumed on: %w", perr)
		}
		// Gone already: its $disconnect makes it away again; this signal
		// is lost, and the sender is told.
	case errors.Is(err, dynamo.ErrHoldFull), errors.Is(err, dynamo.ErrSessionExpired), errors.Is(err, dynamo.ErrConnectionNotFound):
	default:
		return fmt.Errorf("hold a signal for an away destination: %w", err)
	}
	rec.Count(telemetry.MetricSignalsUndeliverable, 1)
	ce := newError(CodeUndeliverable, "")
	if errors.Is(err, dynamo.ErrHoldFull) {
		ce.Message = "the destination is away and has as many signals waiting as it may; the signal was not delivered"
	}
	ce.Undelivered = &Undelivered{Dest: named, ParticipantID: dest.ParticipantID, Count: 1}
	return ce
}

// closeAbusive takes a connection that kept sending past its rate out of
// its room at once, without a seat held for a resume (see
// dynamo.Store.Remove: an abusive client must not come back through a
// resume token), tells it why, closes it (DELETE @connections; its
// $disconnect then finds nothing), tells its room (reason "disconnected"),
// logs it, and returns the refusal (already sent).
func (h *server) closeAbusive(ctx context.Context, connectionID string) *Error {
	e := newError(CodeRateLimited, "this connection kept sending past its rate and is closed")
	h.log.WarnContext(ctx, "closing a connection that kept sending past its rate", slog.String("abusiveConnectionId", connectionID))
	telemetry.FromContext(ctx).Count(telemetry.MetricConnectionsClosed, 1)
	left, err := h.store.Remove(ctx, connectionID)
	if err != nil {
		// Its $disconnect will take it out (away, on a stack with resume).
		h.log.ErrorContext(ctx, "remove abusive connection", slog.String("abusiveConnectionId", connectionID), slog.String("error", err.Error()))
	}
	h.sendError(ctx, connectionID, e, ActionMessage)
	e.sent = true
	if err := h.sender.Close(ctx, connectionID); err != nil && !errors.Is(err, connections.ErrGone) {
		h.log.ErrorContext(ctx, "close abusive connection", slog.String("abusiveConnectionId", connectionID), slog.String("error", err.Error()))
	}
	if left.RoomID != "" {
		h.announceLeave(ctx, left, ReasonDisconnected, false)
	}
	return e
}
