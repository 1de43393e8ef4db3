package dynamo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
// the sender. It first assumes the window is the sender's current one (the
// common case in a burst of signals), then that it is a new one. A sender
// this instance refused in this window already is refused at once (see
// refusedSenders).
func (s *Store) chargeMessage(ctx context.Context, from string) (Connection, error) {
	rate := s.Limits.Messages
	now := s.Now()
	window, left := rate.window(now)
	names := map[string]string{"#pk": KeyAttribute, "#exp": TTLAttribute, "#w": "msgWindow", "#n": "msgs", "#r": "msgsRefused", "#moved": "movedTo"}
	vals := av{":now": num(now.Unix()), ":w": num(window), ":one": num(1), ":zero": num(0), ":max": num(int64(rate.N))}
	live := "attribute_exists(#pk) AND #exp > :now AND attribute_not_exists(#moved)"
	if s.refused.has(from, window) {
		return Connection{}, s.refuseMessage(ctx, from, window, left)
	}
	variants := []struct{ update, cond string }{
		{"SET #n = #n + :one", live + " AND #w = :w AND #n < :max"},
		{"SET #w = :w, #n = :one, #r = :zero", live + " AND (attribute_not_exists(#w) OR #w <> :w)"},
	}
	// A window that turns between the two attempts sends the first one round
	// again; a third turn is contention.
	for attempt := range 2 * len(variants) {
		v := variants[attempt%len(variants)]
		expr := v.update + " " + v.cond
		out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.table), Key: connectionKey(from).av(),
			UpdateExpression: aws.String(v.update), ConditionExpression: aws.String(v.cond),
			ExpressionAttributeNames: only(names, expr), ExpressionAttributeValues: only(vals, expr),
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
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
		old, ok, err := decodeConnection(failed.Item, now)
		if err != nil {
			return Connection{}, fmt.Errorf("decode sender: %w", err)
		}
		if len(failed.Item) == 0 { // an endpoint that does not return the item
			old, ok, err = s.getConnection(ctx, from)
			if errors.Is(err, ErrConnectionNotFound) {
				return Connection{}, ErrConnectionNotFound
			}
			if err != nil {
				return Connection{}, err
			}
		}
		switch {
		case !ok || old.MovedTo != "":
			return Connection{}, ErrConnectionNotFound
		case old.MsgWindow == window && old.Msgs >= rate.N:
			s.refused.add(from, window)
			return Connection{}, s.refuseMessage(ctx, from, window, left)
		}
	}
	return Connection{}, fmt.Errorf("%w: the message window kept turning", ErrContention)
}

// refuseMessage counts a refused message in the sender's window and returns
// the error for it: *RateLimitedError, or ErrAbusive past Limits.AbuseAfter.
func (s *Store) refuseMessage(ctx context.Context, from string, window int64, left time.Duration) error {
	limited := &RateLimitedError{What: "messages", RetryAfter: left}
	if s.Limits.AbuseAfter <= 0 {
		return limited
	}
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: connectionKey(from).av(),
		UpdateExpression:          aws.String("SET #r = if_not_exists(#r, :zero) + :one"),
		ConditionExpression:       aws.String("#w = :w"),
		ExpressionAttributeNames:  map[string]string{"#r": "msgsRefused", "#w": "msgWindow"},
		ExpressionAttributeValues: av{":zero": num(0), ":one": num(1), ":w": num(window)},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed): // the window turned: this one is not counted
		return limited
	case err != nil:
		return fmt.Errorf("count refused message: %w", err)
	}
	var refused struct {
		N int `dynamodbav:"msgsRefused"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &refused); err != nil {
		return fmt.Errorf("decode refused count: %w", err)
	}
	if refused.N >= s.Limits.AbuseAfter {
		return ErrAbusive
	}
	return limited
}

// placeholder matches the #name and :value placeholders of an expression.
var placeholder = regexp.MustCompile(`[#:][A-Za-z0-9_]+`)

// only returns the entries of m whose placeholder expr uses: DynamoDB refuses
// a request that defines a name or value its expressions do not use.
func only[V any](m map[string]V, expr string) map[string]V {
	out := map[string]V{}
	for _, p := range placeholder.FindAllString(expr, -1) {
		if v, ok := m[p]; ok {
			out[p] = v
		}
	}
	return out
}
