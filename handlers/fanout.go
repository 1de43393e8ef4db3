package handlers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/slsrtc/slsrtc/gateway"
	"github.com/slsrtc/slsrtc/telemetry"
)

// post is what one connection receives in a fan-out: frames, in order.
type post struct {
	to     string
	frames [][]byte
}

// maxGoneRounds bounds how many times cleaning up gone connections may
// discover more gone connections.
const maxGoneRounds = 3

// fanOut sends the posts in parallel, at most cfg.FanOutConcurrency at a
// time; the frames of one post go in order. It returns the connections that
// were gone. Other failures are logged and do not stop the rest.
func (h *handlers) fanOut(ctx context.Context, posts []post) (gone []string) {
	start := time.Now()
	sem := make(chan struct{}, h.cfg.FanOutConcurrency)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range posts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, f := range p.frames {
				err := h.sender.Post(ctx, p.to, f)
				if errors.Is(err, gateway.ErrGone) {
					mu.Lock()
					gone = append(gone, p.to)
					mu.Unlock()
					return
				}
				if err != nil {
					h.log.WarnContext(ctx, "fan-out post failed", slog.String("to", p.to), slog.String("error", err.Error()))
					return
				}
			}
		}()
	}
	wg.Wait()
	telemetry.FromContext(ctx).AddFanOut(len(posts), len(gone), time.Since(start))
	return gone
}

// deliver fans the posts out to a room and cleans up whoever was gone.
func (h *handlers) deliver(ctx context.Context, roomID string, posts []post) {
	if gone := h.fanOut(ctx, posts); len(gone) > 0 {
		h.cleanupGone(ctx, roomID, gone)
	}
}

// announceLeave tells the members of a room that the connections in left
// have left: everyone still listed except them, plus extra (the leaver of
// a leaveroom, who also gets its "leave").
func (h *handlers) announceLeave(ctx context.Context, roomID string, left, extra []string) {
	h.announceLeaveRound(ctx, roomID, left, extra, map[string]bool{}, 0)
}

// cleanupGone removes connections API Gateway reported gone (their
// $disconnect may never come) and tells their room.
func (h *handlers) cleanupGone(ctx context.Context, roomID string, gone []string) {
	h.cleanupRound(ctx, roomID, gone, map[string]bool{}, 0)
}

// cleanupRound removes each gone connection once (cleaned remembers whom
// this invocation already removed, so a fan-out that finds many gone
// connections cleans each once) and announces the leaves; the
// announcement may find more, up to maxGoneRounds rounds.
func (h *handlers) cleanupRound(ctx context.Context, roomID string, gone []string, cleaned map[string]bool, round int) {
	rec := telemetry.FromContext(ctx)
	var left []string
	for _, id := range gone {
		if cleaned[id] {
			continue
		}
		cleaned[id] = true
		m, err := h.store.Disconnect(ctx, id)
		if err != nil {
			h.log.WarnContext(ctx, "clean up gone connection", slog.String("goneConnectionId", id), slog.String("error", err.Error()))
			continue
		}
		rec.Count(telemetry.MetricGoneCleaned, 1)
		if m.RoomID != "" {
			left = append(left, id)
			roomID = m.RoomID
		}
	}
	if len(left) > 0 {
		h.announceLeaveRound(ctx, roomID, left, nil, cleaned, round+1)
	}
}

func (h *handlers) announceLeaveRound(ctx context.Context, roomID string, left, extra []string, cleaned map[string]bool, round int) {
	members, err := h.store.Members(ctx, roomID)
	if err != nil {
		// The room mates cannot be told; the leaver (extra) still is.
		h.log.ErrorContext(ctx, "list members to announce leave", slog.String("roomID", roomID), slog.String("error", err.Error()))
	}
	skip := map[string]bool{}
	for _, id := range left {
		skip[id] = true
	}
	frames := make([][]byte, 0, len(left))
	for _, id := range left {
		frames = append(frames, encode(leaveFrame{Type: TypeLeave, RoomID: roomID, ConnectionID: id}))
	}
	var posts []post
	for _, m := range members {
		// The index may still list those who left; skip them and whoever
		// this invocation already cleaned up.
		if !skip[m.ConnectionID] && !cleaned[m.ConnectionID] {
			posts = append(posts, post{to: m.ConnectionID, frames: frames})
		}
	}
	for _, id := range extra {
		posts = append(posts, post{to: id, frames: frames})
	}
	gone := h.fanOut(ctx, posts)
	if len(gone) > 0 && round < maxGoneRounds {
		h.cleanupRound(ctx, roomID, gone, cleaned, round)
	}
}
