package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/telemetry"
)

// PushDeadline bounds the notifications of one enter (docs/push.md): the
// read of the subscriptions, the claims and the posts, retries included.
// The invocation's own deadline bounds them too.
const PushDeadline = 3 * time.Second

// subscribe serves subscribe: the caller, a member of the room, follows it
// with a browser's PushSubscription, checked under the configured
// push.Policy (a refusal is invalid-message with the reason's code). ONE
// read and ONE transaction store it (see dynamo.Store.Subscribe), and the
// caller gets {"type":"subscribed","roomID":…,"expiresAt":…}. Without a
// VAPID key it is push-disabled.
func (h *server) subscribe(ctx context.Context, connectionID string, m Message) error {
	rec := telemetry.FromContext(ctx)
	rec.SetRoom(m.RoomID)
	if h.push == nil {
		return newError(CodePushDisabled, "")
	}
	sub, err := push.ParseSubscription([]byte(m.Subscription), h.pushPolicy)
	if err != nil {
		e := &Error{Code: CodeInvalidMessage, Message: `"subscription" is not accepted: ` + err.Error(), Err: err}
		if inv := (*push.Invalid)(nil); errors.As(err, &inv) {
			e.Reason = inv.Code()
		}
		return e
	}
	until, _ := sub.ExpiresAt()
	stored, err := h.store.Subscribe(ctx, connectionID, dynamo.PushSubscription{
		RoomID: m.RoomID, ID: sub.ID(), Endpoint: sub.Endpoint, P256dh: sub.Keys.P256dh, Auth: sub.Keys.Auth, Until: until,
	})
	if err != nil {
		return err
	}
	rec.Count(telemetry.MetricPushSubscribes, 1)
	return h.reply(ctx, connectionID, subscribedFrame{Type: TypeSubscribed, RoomID: m.RoomID, ExpiresAt: stored.ExpiresAt.UnixMilli()})
}

// unsubscribe serves unsubscribe: the subscription of the room with that
// endpoint is removed (one transaction, see dynamo.Store.Unsubscribe);
// knowing the endpoint is the proof of being its browser. The caller gets
// {"type":"unsubscribed","roomID":…,"removed":…}, removed false if there
// was none. It works with push off too, so that a page can clean up.
func (h *server) unsubscribe(ctx context.Context, connectionID string, m Message) error {
	telemetry.FromContext(ctx).SetRoom(m.RoomID)
	id := push.Subscription{Endpoint: m.Endpoint}.ID()
	removed, err := h.store.Unsubscribe(ctx, connectionID, m.RoomID, id)
	if err != nil {
		return err
	}
	return h.reply(ctx, connectionID, unsubscribedFrame{Type: TypeUnsubscribed, RoomID: m.RoomID, Removed: removed})
}

// notifyFollowers tells the followers of a room that entrant entered it,
// after the enter's fan-out and fence, so it never delays them. r is the
// last read of the room: a room that counts no subscriptions costs nothing
// more. Otherwise, within PushDeadline: one Query reads the subscriptions;
// those of a participant with a seat in r (present, or away and about to
// resume) are skipped, expired ones dropped; each other one is claimed
// (one conditional update: at most one notification per subscription per
// Limits.NotifyEvery, across instances) and sent (push.Sender.SendAll:
// 429 and 5xx retried within the deadline). A subscription its push
// service says is gone (404, 410) is dropped; other failures are logged.
func (h *server) notifyFollowers(ctx context.Context, r dynamo.Roster, entrant dynamo.Member) {
	if h.push == nil || r.Room.Subs == 0 {
		return
	}
	rec := telemetry.FromContext(ctx)
	sendCtx, cancel := context.WithTimeout(ctx, PushDeadline)
	defer cancel()
	subs, err := h.store.Subscriptions(sendCtx, r.Room.ID)
	if err != nil {
		h.log.WarnContext(ctx, "read the room's push subscriptions", slog.String("roomID", r.Room.ID), slog.String("error", err.Error()))
		return
	}
	seated := map[string]bool{}
	for _, m := range r.Live {
		seated[m.ParticipantID] = true
	}
	now := h.now()
	var due []dynamo.PushSubscription
	for _, s := range subs {
		switch {
		case !s.ExpiresAt.After(now):
			h.dropSubscription(ctx, s, "expired")
		case !seated[s.ParticipantID]:
			due = append(due, s)
		}
	}
	claimed := make([]bool, len(due))
	h.parallel(len(due), func(i int) {
		ok, err := h.store.ClaimNotification(sendCtx, due[i])
		if err != nil {
			h.log.WarnContext(ctx, "claim a push notification", slog.String("subscriptionId", due[i].ID), slog.String("error", err.Error()))
		}
		claimed[i] = ok
	})
	var send []dynamo.PushSubscription
	for i, s := range due {
		if claimed[i] {
			send = append(send, s)
		}
	}
	if n := len(due) - len(send); n > 0 {
		rec.Count(telemetry.MetricPushThrottled, float64(n))
	}
	if len(send) == 0 {
		return
	}
	msg, err := push.RoomEntered(r.Room.ID, entrant.UserName, h.roomURL(r.Room.ID))
	if err != nil {
		h.log.ErrorContext(ctx, "build the room-entered notification", slog.String("error", err.Error()))
		return
	}
	targets := make([]push.Subscription, len(send))
	for i, s := range send {
		targets[i] = push.Subscription{Endpoint: s.Endpoint, Keys: push.Keys{P256dh: s.P256dh, Auth: s.Auth}}
	}
	for i, o := range h.push.SendAll(sendCtx, targets, msg) {
		switch o.Status {
		case push.Sent:
			rec.Count(telemetry.MetricPushSent, 1)
		case push.Gone:
			h.dropSubscription(ctx, send[i], "gone")
		default:
			rec.Count(telemetry.MetricPushFailed, 1)
			attrs := []any{slog.String("roomID", r.Room.ID), slog.String("subscriptionId", send[i].ID)}
			var se *push.SendError
			if errors.As(o.Err, &se) {
				attrs = append(attrs, slog.String("reason", se.Reason.Code()), slog.Int("status", se.StatusCode),
					slog.Int("attempts", se.Attempts), slog.String("detail", se.Detail))
			}
			attrs = append(attrs, slog.String("error", o.Err.Error()))
			h.log.WarnContext(ctx, "push notification not delivered", attrs...)
		}
	}
}

// dropSubscription removes a subscription that expired or that its push
// service says is gone, and counts it.
func (h *server) dropSubscription(ctx context.Context, s dynamo.PushSubscription, why string) {
	if _, err := h.store.DropSubscription(ctx, s.RoomID, s.ID); err != nil {
		h.log.WarnContext(ctx, "drop a push subscription", slog.String("subscriptionId", s.ID), slog.String("why", why),
			slog.String("error", err.Error()))
		return
	}
	telemetry.FromContext(ctx).Count(telemetry.MetricPushRemoved, 1)
	h.log.InfoContext(ctx, "push subscription removed", slog.String("roomID", s.RoomID), slog.String("subscriptionId", s.ID),
		slog.String("why", why))
}

// roomURL returns the URL a notification about roomID opens: the
// configured page with ?room=<room ID>, or "" without one.
func (h *server) roomURL(roomID string) string {
	if h.cfg.Push.PageURL == "" {
		return ""
	}
	return h.cfg.Push.PageURL + "?" + url.Values{"room": {roomID}}.Encode()
}
