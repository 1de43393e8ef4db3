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

// Bounds of the signals held for one away participant (see Hold): enough
// for an ICE restart's offer and its candidates, several times over.
const (
	MaxHeldSignals = 64
	MaxHeldBytes   = 256 * 1024
)

// heldPrefix starts the sort key of a held signal, in its connection's
// partition: held#<sequence number, zero-padded>, so that a Query returns
// them in the order they were held.
const heldPrefix = "held#"

// kindHeld is the kind of a held signal's item.
const kindHeld = "held"

// ErrHoldFull: the away participant has as many signals held as it may
// (MaxHeldSignals, MaxHeldBytes); this one is not kept.
var ErrHoldFull = errors.New("the destination is away and has as many signals held as it may")

// MovedError says that the destination was replaced by a resume: the
// participant is at connection To now.
type MovedError struct{ To string }

func (e *MovedError) Error() string { return "the destination resumed on connection " + e.To }

// Held is a signal kept for an away participant.
type Held struct {
	// From and FromParticipant are the sender.
	From, FromParticipant string
	// Frame is the relayed frame, as the participant is to receive it.
	Frame []byte
	At    time.Time
}

// heldItem is the stored form of a Held, in the partition of the away
// connection it was sent to.
type heldItem struct {
	PK              string `dynamodbav:"pk"`
	SK              string `dynamodbav:"sk"`
	Kind            string `dynamodbav:"kind"`
	ConnectionID    string `dynamodbav:"connectionID"`
	From            string `dynamodbav:"from"`
	FromParticipant string `dynamodbav:"fromParticipant"`
	Frame           []byte `dynamodbav:"frame"`
	At              int64  `dynamodbav:"at"`
	ExpiresAt       int64  `dynamodbav:"expiresAt"`
}

func heldKey(connectionID string, seq int) key {
	return key{connectionPrefix + connectionID, fmt.Sprintf("%s%010d", heldPrefix, seq)}
}

// Hold keeps a signal for a participant that is away (its connection
// closed, its seat held for a resume), to be delivered in order if a new
// connection resumes it within its window (see Held). It reads the away
// connection (one GetItem), then ONE transaction: the connection's held
// count and size move on, if it is still away in the same window, not
// replaced, its count is the one read and the bounds hold; and the signal
// is put under the next sequence number. A signal held costs nothing to
// anybody else, and nothing is held while nobody is away.
//
// Returns *MovedError if a resume replaced the connection meanwhile (the
// caller delivers to the new one), *SessionExpiredError with the seat if
// its window has passed, ErrHoldFull, ErrConnectionNotFound if it is gone
// (its seat freed), or ErrContention.
func (s *Store) Hold(ctx context.Context, connectionID string, h Held) error {
	return s.retryStale(ctx, func() error {
		now := s.Now()
		c, live, err := s.getConnection(ctx, connectionID)
		switch {
		case err != nil:
			return err
		case !live:
			return ErrConnectionNotFound
		case c.MovedTo != "":
			return &MovedError{To: c.MovedTo}
		case c.RoomID == "" || c.AwayUntil == 0:
			return ErrConnectionNotFound // not away: nothing to hold for (a caller's stale read)
		case c.AwayUntil <= now.UnixMilli():
			return &SessionExpiredError{Seat: c.membership()}
		case c.PendingSeq >= MaxHeldSignals || c.PendingBytes+len(h.Frame) > MaxHeldBytes:
			return ErrHoldFull
		}
		seq := c.PendingSeq + 1
		k := heldKey(connectionID, seq)
		item, err := attributevalue.MarshalMap(heldItem{
			PK: k.pk, SK: k.sk, Kind: kindHeld, ConnectionID: connectionID, From: h.From, FromParticipant: h.FromParticipant,
			Frame: h.Frame, At: now.UnixMilli(),
			// Read once, by the resume or the expiry; then only DynamoDB's
			// TTL removes it.
			ExpiresAt: time.UnixMilli(c.AwayUntil).Add(TombstoneTTL).Unix(),
		})
		if err != nil {
			return fmt.Errorf("marshal held signal: %w", err)
		}
		t := &tx{table: s.table}
		cond := "#away = :away AND attribute_not_exists(#moved)"
		vals := av{":away": num(c.AwayUntil), ":seq": num(int64(seq)), ":bytes": num(int64(c.PendingBytes + len(h.Frame)))}
		if c.PendingSeq == 0 {
			cond += " AND attribute_not_exists(#seq)"
		} else {
			cond += " AND #seq = :read"
			vals[":read"] = num(int64(c.PendingSeq))
		}
		t.update(connectionKey(connectionID), "SET #seq = :seq, #bytes = :bytes", cond,
			map[string]string{"#away": "awayUntil", "#moved": "movedTo", "#seq": "pendingSeq", "#bytes": "pendingBytes"}, vals,
			func(av) error { return errStale })
		t.put(item, "attribute_not_exists(#pk)", map[string]string{"#pk": KeyAttribute}, nil, func(av) error { return errStale })
		return s.commit(ctx, t)
	})
}

// Held returns the signals held for a connection that went away, in the
// order they were held: ONE Query of its partition (consistent). Its
// resume (or the expiry of its window) reads them once; the items stay
// until DynamoDB's TTL removes them.
func (s *Store) Held(ctx context.Context, connectionID string) ([]Held, error) {
	items, err := queryPrefix[heldItem](ctx, s, connectionPrefix+connectionID, heldPrefix, "held signals")
	if err != nil {
		return nil, err
	}
	out := make([]Held, 0, len(items))
	for _, h := range items {
		out = append(out, Held{From: h.From, FromParticipant: h.FromParticipant, Frame: h.Frame, At: millis(h.At)})
	}
	return out, nil
}

// queryPrefix reads the items of partition pk whose sort key begins with
// prefix, with ConsistentRead (it sees every write committed before it),
// page after page, each decoded into a T; what names them in errors.
func queryPrefix[T any](ctx context.Context, s *Store, pk, prefix, what string) ([]T, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		ConsistentRead:            aws.Bool(true),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames:  map[string]string{"#pk": KeyAttribute, "#sk": SortAttribute},
		ExpressionAttributeValues: av{":pk": str(pk), ":prefix": str(prefix)},
	}
	var out []T
	for {
		page, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", what, err)
		}
		for _, item := range page.Items {
			var v T
			if err := attributevalue.UnmarshalMap(item, &v); err != nil {
				return nil, fmt.Errorf("decode %s: %w", what, err)
			}
			out = append(out, v)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// RoomWithAway returns the room of a connection if some of its members are
// away (see Disconnect), "" if it is in no room or nobody there is away:
// two GetItems, projected and eventually consistent (half a read unit
// each), for the sweep a member's keep-alive runs. A read a moment stale
// only moves a sweep to the next keep-alive.
func (s *Store) RoomWithAway(ctx context.Context, connectionID string) (string, error) {
	get := func(k key, attr string) (map[string]types.AttributeValue, error) {
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.table), Key: k.av(), ProjectionExpression: aws.String("#a"),
			ExpressionAttributeNames: map[string]string{"#a": attr},
		})
		if err != nil {
			return nil, err
		}
		return out.Item, nil
	}
	c, err := get(connectionKey(connectionID), "room")
	if err != nil {
		return "", fmt.Errorf("get connection's room: %w", err)
	}
	room, ok := c["room"].(*types.AttributeValueMemberS)
	if !ok || room.Value == "" {
		return "", nil
	}
	r, err := get(roomKey(room.Value), "away")
	if err != nil {
		return "", fmt.Errorf("get room's away count: %w", err)
	}
	if n, ok := r["away"].(*types.AttributeValueMemberN); !ok || n.Value == "0" {
		return "", nil
	}
	return room.Value, nil
}
