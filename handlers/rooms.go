package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/telemetry"
)

// createRoom serves createroom: one transaction creates the room, and the
// caller gets {"type":"room-created","body":<room ID>}. It does not enter it.
func (h *handlers) createRoom(ctx context.Context, connectionID string, m Message) error {
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
// dynamo.Store.Enter), one query lists the room, and one parallel fan-out
// sends "enter" to every member — the newcomer included, who also gets
// "room-members". If the room cannot be listed, the enter is undone and the
// client gets "internal". Stale members the listing finds are expelled and
// announced as leaving; a room that refuses the enter as full is first swept
// of them (one more query, then the enter is tried again).
func (h *handlers) enterRoom(ctx context.Context, connectionID string, m Message) error {
	rec := telemetry.FromContext(ctx)
	rec.SetRoom(m.RoomID)
	joined, err := h.store.Enter(ctx, connectionID, m.RoomID, m.UserName)
	if errors.Is(err, dynamo.ErrRoomFull) && h.sweep(ctx, m.RoomID) > 0 {
		joined, err = h.store.Enter(ctx, connectionID, m.RoomID, m.UserName)
	}
	if err != nil {
		if ce, internal := clientError(err); !internal {
			rec.Count(telemetry.MetricJoinsRejected, 1)
			return ce
		}
		return err
	}
	rec.Count(telemetry.MetricJoins, 1)
	listed, err := h.store.Roster(ctx, m.RoomID)
	if err != nil {
		// Nobody has been told yet: undo the enter, so that the client's
		// "internal" is the truth and its retry can succeed.
		if _, lerr := h.store.Leave(ctx, connectionID); lerr != nil {
			err = errors.Join(err, fmt.Errorf("undo enter: %w", lerr))
		}
		return fmt.Errorf("list members after enter: %w", err)
	}
	// The index is eventually consistent: the newcomer may not be listed yet.
	members := withMember(listed.Live, dynamo.Member{ConnectionID: connectionID, UserName: joined.UserName, JoinedAt: joined.JoinedAt})

	enter := encode(enterFrame{Type: TypeEnter, RoomID: m.RoomID, ConnectionID: connectionID, UserName: joined.UserName})
	roster := membersFrame{Type: TypeRoomMembers, RoomID: m.RoomID, Members: make([]memberEntry, 0, len(members))}
	for _, mem := range members {
		roster.Members = append(roster.Members, memberEntry{ConnectionID: mem.ConnectionID, UserName: mem.UserName})
	}
	// The newcomer's two frames are the fan-out's longest chain: start it
	// first so that it overlaps the other posts (docs/performance.md).
	posts := make([]post, 0, len(members))
	posts = append(posts, post{to: connectionID, frames: [][]byte{enter, encode(roster)}})
	for _, mem := range members {
		if mem.ConnectionID != connectionID {
			posts = append(posts, post{to: mem.ConnectionID, frames: [][]byte{enter}})
		}
	}
	h.deliver(ctx, m.RoomID, posts, connectionIDs(listed.Stale))
	return nil
}

// sweep expels the stale members of a room that refused an enter as full:
// members whose connection must be gone but whose $disconnect never came
// still hold their seats. It returns how many seats it freed.
func (h *handlers) sweep(ctx context.Context, roomID string) int {
	listed, err := h.store.Roster(ctx, roomID)
	if err != nil {
		h.log.WarnContext(ctx, "list a full room for stale members", slog.String("error", err.Error()))
		return 0
	}
	if len(listed.Stale) == 0 {
		return 0
	}
	return h.cleanupRound(ctx, roomID, nil, connectionIDs(listed.Stale), map[string]bool{}, 0)
}

func connectionIDs(members []dynamo.Member) []string {
	ids := make([]string, 0, len(members))
	for _, m := range members {
		ids = append(ids, m.ConnectionID)
	}
	return ids
}

// leaveRoom serves leaveroom: one read and one transaction take the caller
// out of its room (see dynamo.Store.Leave), one query lists who remains, and
// one fan-out sends "leave" to them and to the leaver.
func (h *handlers) leaveRoom(ctx context.Context, connectionID string, _ Message) error {
	left, err := h.store.Leave(ctx, connectionID)
	if err != nil {
		return err
	}
	telemetry.FromContext(ctx).SetRoom(left.RoomID)
	h.announceLeave(ctx, left.RoomID, []string{connectionID}, []string{connectionID})
	return nil
}

// withMember returns members with m in it, keeping join order.
func withMember(members []dynamo.Member, m dynamo.Member) []dynamo.Member {
	for _, x := range members {
		if x.ConnectionID == m.ConnectionID {
			return members
		}
	}
	return append(members, m)
}
