package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// PushSubscription is a browser's Web Push subscription to a room: whoever
// made it is told when someone enters the room while it is not there. The
// store keeps what Send needs (the endpoint and the keys, as the browser
// gave them; the caller validated them) and who made it.
type PushSubscription struct {
	RoomID string
	// ID names the subscription within the room: a hash of its endpoint
	// (push.Subscription.ID), so one endpoint has one subscription per
	// room.
	ID string
	// ParticipantID is who subscribed; ConnectionID, from which connection.
	ParticipantID, ConnectionID string
	Endpoint                    string
	P256dh, Auth                string
	CreatedAt                   time.Time
	// NotifiedAt is when the last notification was claimed (zero: never).
	NotifiedAt time.Time
	// Until is the browser's expirationTime (zero: none).
	Until time.Time
	// ExpiresAt is when the store forgets it: RoomTTL after it was made or
	// last notified, or Until if that is earlier.
	ExpiresAt time.Time
}

// subItem is the stored form of a PushSubscription, in its room's partition.
type subItem struct {
	PK            string `dynamodbav:"pk"`
	SK            string `dynamodbav:"sk"`
	Kind          string `dynamodbav:"kind"`
	RoomID        string `dynamodbav:"roomID"`
	SubID         string `dynamodbav:"subID"`
	ParticipantID string `dynamodbav:"participantID"`
	ConnectionID  string `dynamodbav:"connectionID"`
	Endpoint      string `dynamodbav:"endpoint"`
	P256dh        string `dynamodbav:"p256dh"`
	Auth          string `dynamodbav:"auth"`
	CreatedAt     int64  `dynamodbav:"createdAt"`
	NotifiedAt    int64  `dynamodbav:"notifiedAt,omitempty"`
	// Until is the browser's expirationTime (epoch milliseconds), if any:
	// expiresAt never passes it.
	Until     int64 `dynamodbav:"until,omitempty"`
	ExpiresAt int64 `dynamodbav:"expiresAt"`
}

func (i subItem) subscription() PushSubscription {
	return PushSubscription{
		RoomID: i.RoomID, ID: i.SubID, ParticipantID: i.ParticipantID, ConnectionID: i.ConnectionID,
		Endpoint: i.Endpoint, P256dh: i.P256dh, Auth: i.Auth, CreatedAt: millis(i.CreatedAt),
		NotifiedAt: millis(i.NotifiedAt), Until: millis(i.Until), ExpiresAt: time.Unix(i.ExpiresAt, 0).UTC(),
	}
}

// subExpiry returns the TTL of a subscription renewed at now: RoomTTL
// later, or the browser's expirationTime (until, epoch milliseconds; 0:
// none) if that is earlier.
func (s *Store) subExpiry(now time.Time, until int64) int64 {
	exp := now.Add(s.RoomTTL).Unix()
	if until > 0 {
		exp = min(exp, until/1000)
	}
	return exp
}

// Failures Subscribe recovers from by switching between adding a
// subscription and replacing one.
var (
	errSubExists  = errors.New("subscription exists")
	errSubMissing = errors.New("subscription missing")
)

// Subscribe stores a push subscription for a room on behalf of a
// connection, which must be a member of the room (not away); sub's RoomID,
// ID, Endpoint, keys and Until (the browser's expirationTime, if any) are
// set by the caller, who validated them. It reads the
// connection (one GetItem: its participant is bound to the subscription),
// then ONE transaction:
//
//  1. Update the connection: count the subscribe against
//     Limits.SubscribesPerConnection, if it exists, is the participant read,
//     and is in this room (ErrConnectionNotFound, ErrNotMember,
//     ErrSubscribeLimit);
//  2. Update the room: count the subscription against
//     Limits.SubscriptionsPerRoom and renew its expiry, if it exists
//     (ErrRoomNotFound, ErrRoomSubscriptions);
//  3. Put the subscription (roomID#<room>, sub#<ID>), if there is none
//     with that ID.
//
// A subscription with that ID (the same endpoint) is replaced instead: the
// same transaction without counting it in the room, its Put conditioned on
// the item existing. It is then bound to the caller's participant, and its
// notification cooldown starts again. The error is that of the first
// failed condition in this order; nothing is written unless everything is.
// Returns the subscription as stored.
func (s *Store) Subscribe(ctx context.Context, connectionID string, sub PushSubscription) (PushSubscription, error) {
	if sub.RoomID == "" {
		return PushSubscription{}, ErrRoomNotFound
	}
	var until int64
	if !sub.Until.IsZero() {
		until = max(sub.Until.UnixMilli(), 1)
	}
	var stored PushSubscription
	replace := false
	err := s.retryStale(ctx, func() error {
		now := s.Now()
		c, err := s.readConnection(ctx, connectionID)
		if err != nil {
			return err
		}
		if err := s.maySubscribe(c, sub.RoomID); err != nil {
			return err
		}
		k := subKey(sub.RoomID, sub.ID)
		item := subItem{
			PK: k.pk, SK: k.sk, Kind: kindSub, RoomID: sub.RoomID, SubID: sub.ID,
			ParticipantID: c.ParticipantID, ConnectionID: connectionID,
			Endpoint: sub.Endpoint, P256dh: sub.P256dh, Auth: sub.Auth,
			CreatedAt: now.UnixMilli(), Until: until, ExpiresAt: s.subExpiry(now, until),
		}
		if item.ExpiresAt <= now.Unix() {
			return ErrSubscriptionExpired
		}
		err = s.subscribe(ctx, now, c, item, replace)
		switch {
		case errors.Is(err, errSubExists):
			replace = true
			return errStale
		case errors.Is(err, errSubMissing):
			replace = false
			return errStale
		case err != nil:
			return err
		}
		stored = item.subscription()
		return nil
	})
	return stored, err
}

// ErrSubscriptionExpired: the browser's expirationTime has passed.
var ErrSubscriptionExpired = errors.New("the push subscription has expired")

// maySubscribe returns why a connection read as c may not subscribe to
// roomID, or nil: in the order of Subscribe's conditions on it.
func (s *Store) maySubscribe(c connectionItem, roomID string) error {
	switch max := s.Limits.SubscribesPerConnection; {
	case c.RoomID != roomID || c.AwayUntil != 0:
		return ErrNotMember
	case max > 0 && c.Subscribes >= max:
		return ErrSubscribeLimit
	}
	return nil
}

// subscribe runs Subscribe's transaction for the connection read as c:
// adding item, or replacing the subscription with its key.
func (s *Store) subscribe(ctx context.Context, now time.Time, c connectionItem, item subItem, replace bool) error {
	t := &tx{table: s.table}
	cond := "attribute_exists(#pk) AND #exp > :now AND attribute_not_exists(#moved) AND #pid = :pid" +
		" AND #room = :room AND attribute_not_exists(#away)"
	names := map[string]string{"#pk": KeyAttribute, "#exp": TTLAttribute, "#moved": "movedTo", "#pid": "participantID",
		"#room": "room", "#away": "awayUntil", "#subs": "subscribes"}
	vals := av{":now": num(now.Unix()), ":pid": str(c.ParticipantID), ":room": str(item.RoomID), ":zero": num(0), ":one": num(1)}
	if max := s.Limits.SubscribesPerConnection; max > 0 {
		cond += " AND (attribute_not_exists(#subs) OR #subs < :max)"
		vals[":max"] = num(int64(max))
	}
	t.update(connectionKey(c.ConnectionID), "SET #subs = if_not_exists(#subs, :zero) + :one", cond, names, vals,
		func(old av) error {
			cur, ok, _ := decodeConnection(old, now)
			if !ok || cur.MovedTo != "" {
				return ErrConnectionNotFound
			}
			if cur.ParticipantID != c.ParticipantID {
				return errStale
			}
			return s.maySubscribe(cur, item.RoomID)
		})

	roomFail := func(old av) error {
		if _, ok, _ := decodeRoom(old, now); !ok {
			return ErrRoomNotFound
		}
		return ErrRoomSubscriptions
	}
	names = map[string]string{"#pk": KeyAttribute, "#exp": TTLAttribute}
	vals = av{":now": num(now.Unix()), ":exp": num(now.Add(s.RoomTTL).Unix())}
	if replace {
		t.update(roomKey(item.RoomID), "SET #exp = :exp", "attribute_exists(#pk) AND #exp > :now", names, vals, roomFail)
	} else {
		cond := "attribute_exists(#pk) AND #exp > :now"
		names["#subs"] = "subs"
		vals[":zero"], vals[":one"] = num(0), num(1)
		if max := s.Limits.SubscriptionsPerRoom; max > 0 {
			cond += " AND (attribute_not_exists(#subs) OR #subs < :max)"
			vals[":max"] = num(int64(max))
		}
		t.update(roomKey(item.RoomID), "SET #subs = if_not_exists(#subs, :zero) + :one, #exp = :exp", cond, names, vals, roomFail)
	}

	put, err := attributevalue.MarshalMap(item)
	if err != nil {
		return fmt.Errorf("marshal subscription: %w", err)
	}
	if replace {
		t.put(put, "attribute_exists(#pk)", map[string]string{"#pk": KeyAttribute}, nil, func(av) error { return errSubMissing })
	} else {
		t.put(put, "attribute_not_exists(#pk)", map[string]string{"#pk": KeyAttribute}, nil, func(av) error { return errSubExists })
	}
	return s.commit(ctx, t)
}

// Unsubscribe removes the push subscription subID of a room on behalf of a
// connection, which must exist (ErrConnectionNotFound); knowing the
// endpoint the ID is derived from is the caller's proof that it is the
// subscription's browser, so the connection need not be the one, or of
// the participant, that subscribed, nor in the room. Removing a
// subscription that does not exist is not an error: removed is false. See
// DropSubscription for the transaction.
func (s *Store) Unsubscribe(ctx context.Context, connectionID, roomID, subID string) (removed bool, err error) {
	return s.removeSubscription(ctx, roomID, subID, func(t *tx, now time.Time) {
		t.check(connectionKey(connectionID), "attribute_exists(#pk) AND #exp > :now AND attribute_not_exists(#moved)",
			map[string]string{"#pk": KeyAttribute, "#exp": TTLAttribute, "#moved": "movedTo"}, av{":now": num(now.Unix())},
			func(av) error { return ErrConnectionNotFound })
	})
}

// DropSubscription removes the push subscription subID of a room: its push
// service said it is gone (404, 410), or it expired. ONE transaction
// deletes the item, if it exists, and decrements the room's count, if the
// room exists and counts one; a room that is gone or counts none (a
// broken invariant, or TTL) is dropped from the transaction, which runs
// again. removed is false if there was no such subscription.
func (s *Store) DropSubscription(ctx context.Context, roomID, subID string) (removed bool, err error) {
	return s.removeSubscription(ctx, roomID, subID, nil)
}

// removeSubscription runs the transaction of DropSubscription, with the
// items own adds first.
func (s *Store) removeSubscription(ctx context.Context, roomID, subID string, own func(t *tx, now time.Time)) (bool, error) {
	if roomID == "" || subID == "" {
		return false, nil
	}
	err := s.commitDropping(ctx, func(t *tx, with optional) {
		if own != nil {
			own(t, s.Now())
		}
		t.delete(subKey(roomID, subID), "attribute_exists(#pk)", map[string]string{"#pk": KeyAttribute}, nil,
			func(av) error { return errSubMissing })
		if with.room {
			t.update(roomKey(roomID), "SET #subs = #subs - :one", "attribute_exists(#pk) AND #subs > :zero",
				map[string]string{"#pk": KeyAttribute, "#subs": "subs"}, av{":one": num(1), ":zero": num(0)},
				func(av) error { return errRoomGone })
		}
	})
	switch {
	case errors.Is(err, errSubMissing):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// Subscriptions returns the push subscriptions of a room, expired ones
// included (see PushSubscription.ExpiresAt; the caller drops them): ONE
// Query of the room's partition (sort keys beginning "sub#") with
// ConsistentRead, so it sees every Subscribe and DropSubscription that
// committed before it. A room holds at most Limits.SubscriptionsPerRoom of
// them, a few kilobytes: one page. An empty roomID has none (no call).
func (s *Store) Subscriptions(ctx context.Context, roomID string) ([]PushSubscription, error) {
	if roomID == "" {
		return nil, nil
	}
	items, err := queryPrefix[subItem](ctx, s, roomPrefix+roomID, subPrefix, "subscriptions")
	if err != nil {
		return nil, err
	}
	subs := make([]PushSubscription, 0, len(items))
	for _, i := range items {
		subs = append(subs, i.subscription())
	}
	return subs, nil
}

// ClaimNotification claims the right to notify a push subscription now,
// as read by Subscriptions: one UpdateItem that sets its notifiedAt to now
// and renews its expiry (RoomTTL later, never past the browser's
// expirationTime), if it is still the subscription read (not replaced
// since: same createdAt), has not expired, and was not notified within
// Limits.NotifyEvery. Because the condition is the table's, the cooldown
// holds across Lambda instances: of two enters at once, one claims. ok is
// false when the subscription is gone, replaced, or within its cooldown.
func (s *Store) ClaimNotification(ctx context.Context, sub PushSubscription) (ok bool, err error) {
	now := s.Now()
	var until int64
	if !sub.Until.IsZero() {
		until = sub.Until.UnixMilli()
	}
	cond := "#created = :created AND #exp > :now"
	vals := av{":created": num(sub.CreatedAt.UnixMilli()), ":now": num(now.Unix()), ":at": num(now.UnixMilli()),
		":exp": num(s.subExpiry(now, until))}
	if every := s.Limits.NotifyEvery; every > 0 {
		cond += " AND (attribute_not_exists(#at) OR #at <= :cutoff)"
		vals[":cutoff"] = num(now.Add(-every).UnixMilli())
	}
	_, err = s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: subKey(sub.RoomID, sub.ID).av(),
		UpdateExpression: aws.String("SET #at = :at, #exp = :exp"), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#created": "createdAt", "#exp": TTLAttribute, "#at": "notifiedAt"},
		ExpressionAttributeValues: vals,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim notification: %w", err)
	}
	return true, nil
}
