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

// resume serves resume: the holder of a participant's resume token, on a
// new connection, takes over its seat (see dynamo.Store.Resume). The
// resumer gets {"type":"resumed",...} with its next token, then the room
// (room-members), then the signals held for it while it was away, in the
// order they were sent; every other member gets one resumed frame mapping
// the previous connection to the new one (instead of leave and enter),
// followed by the fence, as for any change of the room. A previous
// connection that is still open is closed. A token whose participant's
// window has passed is refused with session-expired, and the seat it held
// is freed and its room told (reason "expired").
func (h *server) resume(ctx context.Context, connectionID string, m Message) error {
	if h.cfg.ResumeGrace <= 0 {
		return newError(CodeSessionExpired, "this stack does not resume sessions (RESUME_GRACE_SECONDS is 0); connect as new")
	}
	rec := telemetry.FromContext(ctx)
	res, err := h.store.Resume(ctx, connectionID, m.Token)
	var expired *dynamo.SessionExpiredError
	if errors.As(err, &expired) && expired.Seat.RoomID != "" {
		rec.SetRoom(expired.Seat.RoomID)
		h.newPresence(expired.Seat.RoomID).announce(ctx) // its roster finds the seat stale and frees it
	}
	if err != nil {
		return err
	}
	rec.SetRoom(res.RoomID)
	rec.Count(telemetry.MetricResumes, 1)
	h.log.InfoContext(ctx, "participant resumed", slog.String("participantId", res.ParticipantID),
		slog.String("previousConnectionId", res.Previous), slog.Bool("wasAway", res.WasAway), slog.Int("held", res.Held))
	if !res.WasAway {
		// Still open (another network, or a resume ahead of the 2-hour
		// cut): close it; its $disconnect finds a tombstone and does
		// nothing.
		if err := h.sender.Close(ctx, res.Previous); err != nil && !errors.Is(err, connections.ErrGone) {
			h.log.WarnContext(ctx, "close the connection a resume replaced", slog.String("previousConnectionId", res.Previous),
				slog.String("error", err.Error()))
		}
	}
	p := h.newPresence(res.RoomID)
	r, rerr := h.store.Roster(ctx, res.RoomID)
	self := resumedFrame{Type: TypeResumed, RoomID: res.RoomID, ConnectionID: connectionID, PreviousConnectionID: res.Previous,
		ParticipantID: res.ParticipantID, UserName: res.UserName, ResumeToken: res.ResumeToken, Seq: r.Version()}
	if rerr != nil {
		// The room mates cannot be told now (the fence of the next change
		// will); the resumer must hear its token.
		h.log.ErrorContext(ctx, "read the room to announce a resume", slog.String("error", rerr.Error()))
		return h.reply(ctx, connectionID, self)
	}
	p.move(res.Previous, res.Member, r)
	p.lead[connectionID] = encode(self)
	p.snapshot[connectionID] = true
	p.settle(ctx, r, nil)
	return h.deliverHeld(ctx, connectionID, res)
}

// deliverHeld posts to a resumer the signals held for it while it was
// away, in the order they were sent, after its resumed frame and its room.
func (h *server) deliverHeld(ctx context.Context, connectionID string, res dynamo.Resumed) error {
	if res.Held == 0 {
		return nil
	}
	held, err := h.store.Held(ctx, res.Previous)
	if err != nil {
		return fmt.Errorf("read the signals held for a resumer: %w", err)
	}
	for _, s := range held {
		err := h.sender.Post(ctx, connectionID, s.Frame)
		switch {
		case errors.Is(err, connections.ErrGone):
			return nil // gone again: its $disconnect makes it away, and what it missed is lost with this connection
		case err != nil:
			return fmt.Errorf("deliver a held signal: %w", err)
		}
	}
	telemetry.FromContext(ctx).Count(telemetry.MetricRelays, float64(len(held)))
	return nil
}

// move records that the participant of m (now at m.ConnectionID) was at
// prev: every other member present in r is told of it (as one resumed
// frame: corrections folds the leave of a participant's previous
// connection and the enter of its new one).
func (p *presence) move(prev string, m dynamo.Member, r dynamo.Roster) {
	p.reasons[prev] = "resumed" // never sent: the leave is part of the resumed frame
	p.members[prev] = m
	for _, to := range r.Live {
		if to.ConnectionID != m.ConnectionID {
			p.tell(to.ConnectionID, m.ConnectionID, true)
			p.tell(to.ConnectionID, prev, false)
		}
	}
}

// sweep runs on a member's keep-alive: if its room holds seats for away
// members (see dynamo.Store.RoomWithAway: two cheap reads), the room is
// read, and those whose window has passed are freed and the room told
// (reason "expired"). Lambda has no timers; the pings of the members who
// stayed are what notices a participant that did not come back, within a
// ping interval of its window.
func (h *server) sweep(ctx context.Context, connectionID string) {
	roomID, err := h.store.RoomWithAway(ctx, connectionID)
	if err != nil {
		h.log.WarnContext(ctx, "sweep the caller's room for expired seats", slog.String("error", err.Error()))
		return
	}
	if roomID == "" {
		return
	}
	telemetry.FromContext(ctx).SetRoom(roomID)
	h.newPresence(roomID).announce(ctx)
}
