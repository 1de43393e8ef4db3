package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"
)

// Relay prepares the relay of one message from one connection to another:
// it charges the message to the sender's Limits.Messages and returns both
// connections, read strongly consistent. The destination is the zero
// Connection if it does not exist or expired; it may be away (AwayUntil:
// see Hold) or replaced by a resume (MovedTo: see Follow).
//
// to is a connection ID, or a participant ID (a UUID): then the
// destination is the connection of that participant's seat in the sender's
// room, read from its member item once the sender's room is known (one
// more read, after the sender's).
//
// Without a message limit it is one BatchGetItem of both (a GetItem of the
// sender, for a participant, before the member item). With one, the read of the sender becomes a
// conditional UpdateItem that counts the message in the sender's current
// window (and returns the sender), made in parallel with a GetItem of the
// destination: two calls, but no more waiting than one. The first message
// of a window costs one more update (the counter is reset), and a refused
// message one more (refusals are counted, to tell abuse).
//
// Returns ErrConnectionNotFound (the sender), *RateLimitedError, or
// ErrAbusive once Limits.AbuseAfter messages were refused in one window.
func (s *Store) Relay(ctx context.Context, from, to string) (sender, dest Connection, err error) {
	if isParticipantID(to) {
		if sender, err = s.relaySender(ctx, from); err != nil {
			return Connection{}, Connection{}, err
		}
		dest, err = s.seatConnection(ctx, sender.RoomID, to)
		return sender, dest, err
	}
	if s.Limits.Messages.N <= 0 {
		items, err := s.batchConnections(ctx, []string{from, to})
		if err != nil {
			return Connection{}, Connection{}, err
		}
		if c, ok := items[from]; !ok || c.MovedTo != "" {
			return Connection{}, Connection{}, ErrConnectionNotFound
		}
		if c, ok := items[to]; ok {
			dest = c.connection()
		}
		return items[from].connection(), dest, nil
	}
	var wg sync.WaitGroup
	var destErr error
	wg.Go(func() { dest, destErr = s.relayDest(ctx, to) })
	sender, err = s.relaySender(ctx, from)
	wg.Wait()
	if err == nil {
		err = destErr
	}
	if err != nil {
		return Connection{}, Connection{}, err
	}
	return sender, dest, nil
}

// relaySender returns the sender of a message, charged to its rate when
// there is one.
func (s *Store) relaySender(ctx context.Context, from string) (Connection, error) {
	if s.Limits.Messages.N > 0 {
		return s.chargeMessage(ctx, from)
	}
	return s.Connection(ctx, from)
}

// relayDest reads the destination of a message: the zero Connection if it
// does not exist or expired, else as stored, tombstone or not.
func (s *Store) relayDest(ctx context.Context, to string) (Connection, error) {
	c, live, err := s.getConnection(ctx, to)
	switch {
	case errors.Is(err, ErrConnectionNotFound):
		return Connection{}, nil
	case err != nil:
		return Connection{}, err
	case !live:
		return Connection{}, nil
	}
	return c.connection(), nil
}

// seatConnection returns the connection of participant's seat in roomID, as
// its member item knows it (its away state included): the zero Connection
// if there is no such seat. One GetItem, none without a room.
func (s *Store) seatConnection(ctx context.Context, roomID, participant string) (Connection, error) {
	if roomID == "" {
		return Connection{}, nil
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: memberKey(roomID, participant).av(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Connection{}, fmt.Errorf("get member: %w", err)
	}
	if len(out.Item) == 0 {
		return Connection{}, nil
	}
	var m memberItem
	if err := attributevalue.UnmarshalMap(out.Item, &m); err != nil {
		return Connection{}, fmt.Errorf("decode member: %w", err)
	}
	return Connection{ID: m.ConnectionID, ParticipantID: m.ParticipantID, RoomID: m.RoomID, UserName: m.UserName,
		JoinedAt: millis(m.JoinedAt), AwayUntil: millis(m.AwayUntil)}, nil
}

// isParticipantID reports whether a destination names a participant (a
// UUID) rather than a connection: API Gateway's connection IDs are 16
// characters, never a UUID.
func isParticipantID(to string) bool {
	_, err := uuid.Parse(to)
	return err == nil && len(to) == 36
}

// Follow returns the connection a participant is at now, starting from
// one of its connections that a resume may have replaced (a tombstone):
// it follows MovedTo, at most maxFollow hops. The zero Connection if the
// chain ends in a connection that does not exist or expired. One GetItem
// per hop.
func (s *Store) Follow(ctx context.Context, connectionID string) (Connection, error) {
	for range maxFollow {
		c, err := s.relayDest(ctx, connectionID)
		if err != nil || c.MovedTo == "" {
			return c, err
		}
		connectionID = c.MovedTo
	}
	return Connection{}, nil
}

// maxFollow bounds the resumes Follow follows: more in TombstoneTTL means
// a client that reconnects in a loop, and its signals may wait for the
// next frame that names its connection.
const maxFollow = 3

// chargeMessage counts one message against the sender's window and returns
// the sender, as one conditional UpdateItem whatever the window: the count
// is an attribute named after its window (msgCounter), so the first message
// of a window creates it (if_not_exists) instead of resetting an older one,
// which took a second, sequential update. The same update removes the
// previous window's counters, and those of older windows this instance saw
// on the sender's item (a sender that paused for more than a window leaves
// them; see staleMsgCounters), so the item keeps the current counters only.
//
// Returns ErrConnectionNotFound if the sender does not exist, expired or
// was replaced by a resume, or the refusal (see refuseMessage) if its window
// is full.
func (s *Store) chargeMessage(ctx context.Context, from string) (Connection, error) {
	rate := s.Limits.Messages
	now := s.Now()
	window, left := rate.window(now)
	if w, ok := s.refused.get(from); ok && w == window {
		return Connection{}, s.refuseMessage(ctx, from, window, left)
	}
	count := msgCounter(msgsPrefix, window)
	names := map[string]string{"#pk": KeyAttribute, "#exp": TTLAttribute, "#moved": "movedTo", "#n": count}
	stale, _ := s.stale.get(from)
	var removes []string
	for i, name := range append([]string{msgCounter(msgsPrefix, window-1), msgCounter(refusedPrefix, window-1)}, stale...) {
		placeholder := "#old" + strconv.Itoa(i)
		names[placeholder] = name
		removes = append(removes, placeholder)
	}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: connectionKey(from).av(),
		UpdateExpression:                    aws.String("SET #n = if_not_exists(#n, :zero) + :one REMOVE " + strings.Join(removes, ", ")),
		ConditionExpression:                 aws.String("attribute_exists(#pk) AND #exp > :now AND attribute_not_exists(#moved) AND (attribute_not_exists(#n) OR #n < :max)"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           av{":now": num(now.Unix()), ":zero": num(0), ":one": num(1), ":max": num(int64(rate.N))},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		switch found := staleMsgCounters(out.Attributes, window); {
		case len(found) > 0:
			s.stale.set(from, found)
		case len(stale) > 0: // removed
			s.stale.forget(from)
		}
		c, ok, err := decodeConnection(out.Attributes, now)
		if err != nil || !ok {
			return Connection{}, fmt.Errorf("decode sender: %v (live %v)", err, ok)
		}
		return c.connection(), nil
	}
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		return Connection{}, fmt.Errorf("count message: %w", err)
	}
	item := failed.Item
	if len(item) == 0 { // an endpoint that does not return the item
		if item, err = s.getConnectionItem(ctx, from); err != nil {
			return Connection{}, err
		}
	}
	old, ok, err := decodeConnection(item, now)
	switch {
	case err != nil:
		return Connection{}, fmt.Errorf("decode sender: %w", err)
	case !ok || old.MovedTo != "":
		return Connection{}, ErrConnectionNotFound
	}
	var n int
	if err := attributevalue.Unmarshal(item[count], &n); err != nil || n < rate.N {
		return Connection{}, fmt.Errorf("count message: refused with %d of %d counted (%v)", n, rate.N, err)
	}
	s.refused.set(from, window)
	return Connection{}, s.refuseMessage(ctx, from, window, left)
}

// The counters of a connection's messages are attributes named after their
// window (Rate.window's index): msgs#<window> counts the messages charged
// in it, msgsRefused#<window> the ones refused.
const (
	msgsPrefix    = "msgs#"
	refusedPrefix = "msgsRefused#"
)

// msgCounter names the counter of window with prefix.
func msgCounter(prefix string, window int64) string {
	return prefix + strconv.FormatInt(window, 10)
}

// legacyMsgCounters are the message counters of a connection item written
// before counters were named after their window: removed as stale.
var legacyMsgCounters = []string{"msgWindow", "msgs", "msgsRefused"}

// staleMsgCounters returns the message counters of a connection item that
// the next charge in window or later does not remove by name: those of
// windows before the previous one (the sender paused), and legacy ones.
func staleMsgCounters(item av, window int64) []string {
	var stale []string
	for name := range item {
		if slices.Contains(legacyMsgCounters, name) {
			stale = append(stale, name)
			continue
		}
		for _, prefix := range []string{msgsPrefix, refusedPrefix} {
			if w, ok := strings.CutPrefix(name, prefix); ok {
				if n, err := strconv.ParseInt(w, 10, 64); err == nil && n < window-1 {
					stale = append(stale, name)
				}
			}
		}
	}
	return stale
}

// refuseMessage counts a refused message in the sender's window and returns
// the error for it: *RateLimitedError, or ErrAbusive past Limits.AbuseAfter.
func (s *Store) refuseMessage(ctx context.Context, from string, window int64, left time.Duration) error {
	limited := &RateLimitedError{What: "messages", RetryAfter: left}
	if s.Limits.AbuseAfter <= 0 {
		return limited
	}
	counter := msgCounter(refusedPrefix, window)
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: connectionKey(from).av(),
		UpdateExpression:          aws.String("SET #r = if_not_exists(#r, :zero) + :one"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#r": counter, "#pk": KeyAttribute},
		ExpressionAttributeValues: av{":zero": num(0), ":one": num(1)},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed): // gone meanwhile: nothing to count
		return limited
	case err != nil:
		return fmt.Errorf("count refused message: %w", err)
	}
	var refused int
	if err := attributevalue.Unmarshal(out.Attributes[counter], &refused); err != nil {
		return fmt.Errorf("decode refused count: %w", err)
	}
	if refused >= s.Limits.AbuseAfter {
		return ErrAbusive
	}
	return limited
}
