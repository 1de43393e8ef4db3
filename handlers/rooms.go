package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/telemetry"
)

// createRoom serves createroom: one transaction creates the room, and the
// caller gets {"type":"room-created","body":<room ID>}. It does not enter it.
func (h *server) createRoom(ctx context.Context, connectionID string, m Message) error {
	capacity := m.Capacity
	if capacity == 0 {
		capacity = h.cfg.DefaultCapacity
	}
	if capacity > h.cfg.MaxCapacity {
		return newError(CodeInvalidMessage, fmt.Sprintf(`"capacity" must be from 1 to %d`, h.cfg.MaxCapacity))
	}
	room, err := h.store.CreateRoom(ctx, connectionID, capacity)
	if err != nil {
		return err
	}
	rec := telemetry.FromContext(ctx)
	rec.SetRoom(room.ID)
	rec.Count(telemetry.MetricRoomsCreated, 1)
	return h.reply(ctx, connectionID, bodyFrame{Type: TypeRoomCreated, Body: room.ID})
}

// enterRoom serves enterroom: one transaction makes the caller a member (see
// dynamo.Store.Enter), one strongly consistent read of the room decides who
// is told, and one parallel fan-out sends "enter" to every member — the
// newcomer included, who also gets "room-members" — followed by the fence
// (see presence): a re-read that corrects what changed meanwhile. If the
// room cannot be read, the enter is undone and the client gets "internal".
// A room that refuses the enter as full first gives back the seats of
// members whose connection is gone (see freeSeats), and the enter is tried
// once more. On a stack with STUN or TURN servers, the newcomer then gets
// its ice-servers frame (see iceServers). Then the room's push followers
// who are not in it are notified (see notifyFollowers): nothing more for a
// room without any.
func (h *server) enterRoom(ctx context.Context, connectionID string, m Message) error {
	rec := telemetry.FromContext(ctx)
	rec.SetRoom(m.RoomID)
	p := h.newPresence(m.RoomID)
	joined, err := h.store.Enter(ctx, connectionID, m.RoomID, m.UserName, m.NameKey)
	if errors.Is(err, dynamo.ErrRoomFull) {
		if p = h.freeSeats(ctx, m.RoomID); len(p.departed) > 0 {
			joined, err = h.store.Enter(ctx, connectionID, m.RoomID, m.UserName, m.NameKey)
		}
	}
	if err != nil {
		if len(p.departed) > 0 {
			p.announce(ctx) // the seats freed for nothing are still news to the room
		}
		if ce, internal := clientError(err); !internal {
			rec.Count(telemetry.MetricJoinsRejected, 1)
			return ce
		}
		return err
	}
	rec.Count(telemetry.MetricJoins, 1)
	r, err := h.store.Roster(ctx, m.RoomID)
	if err != nil {
		// Nobody has been told yet: undo the enter, so that the client's
		// "internal" is the truth and its retry can succeed.
		if _, lerr := h.store.Leave(cleanupContext(ctx), connectionID); lerr != nil {
			err = errors.Join(err, fmt.Errorf("undo enter: %w", lerr))
		}
		return fmt.Errorf("read the room after enter: %w", err)
	}
	if r.Has(connectionID) {
		for _, mem := range r.Live {
			p.tell(mem.ConnectionID, joined.ConnectionID, true)
		}
		p.snapshot[connectionID] = true
	}
	// Otherwise the newcomer left again (or its connection closed) before
	// the read: whoever took it out tells the room, and nobody needs to hear
	// of its enter.
	p.settle(ctx, r, nil)
	if hasICEServers(h.cfg.ICE) && r.Has(connectionID) {
		// What the newcomer needs to connect to the members it just
		// heard of, without asking.
		f, err := h.iceServersFrame(joined.ParticipantID)
		if err == nil {
			err = h.reply(ctx, connectionID, f)
		}
		if err != nil {
			return err
		}
	}
	// Last, once everyone in the room has been told: the followers who
	// are not in it.
	if r.Has(connectionID) {
		h.notifyFollowers(ctx, p.last, joined)
	}
	return nil
}

// leaveRoom serves leaveroom: one read and one transaction take the caller
// out of its room (see dynamo.Store.Leave), one read of the room says who
// remains, and one fan-out sends "leave" (reason "left") to them and to the
// leaver, followed by the fence.
func (h *server) leaveRoom(ctx context.Context, connectionID string, _ Message) error {
	left, err := h.store.Leave(ctx, connectionID)
	if err != nil {
		return err
	}
	telemetry.FromContext(ctx).SetRoom(left.RoomID)
	h.announceLeave(ctx, left, ReasonLeft, true)
	return nil
}
