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
)

// Relay prepares the relay of one message from one connection to another:
// it charges the message to the sender's Limits.Messages and returns both
// connections, read strongly consistent. The destination is the zero
// Connection if it does not exist or expired.
//
// Without a message limit it is one BatchGetItem of both. With one, the read
// of the sender becomes a conditional UpdateItem that counts the message in
// the sender's current window (and returns the sender), made in parallel with
// a GetItem of the destination: two calls, but no more waiting than one. The
// first message of a window costs one more update (the counter is reset),
// and a refused message one more (refusals are counted, to tell abuse).
//
// Returns ErrConnectionNotFound (the sender), *RateLimitedError, or
// ErrAbusive once Limits.AbuseAfter messages were refused in one window.
func (s *Store) Relay(ctx context.Context, from, to string) (sender, dest Connection, err error) {
	if s.Limits.Messages.N <= 0 {
		conns, err := s.ConnectionsByID(ctx, from, to)
		if err != nil {
			return Connection{}, Connection{}, err
		}
		if _, ok := conns[from]; !ok {
			return Connection{}, Connection{}, ErrConnectionNotFound
		}
		return conns[from], conns[to], nil
	}
	var wg sync.WaitGroup
	var destErr error
	wg.Go(func() {
		c, err := s.readConnection(ctx, to)
		switch {
		case errors.Is(err, ErrConnectionNotFound):
		case err != nil:
			destErr = err
		default:
			dest = c.connection()
		}
	})
	sender, err = s.chargeMessage(ctx, from)
	wg.Wait()
	if err == nil {
		err = destErr
	}
	if err != nil {
		return Connection{}, Connection{}, err
	}
	return sender, dest, nil
}

// chargeMessage counts one message against the sender's window and returns
// the sender. It first assumes the window is the sender's current one (the
// common case in a burst of signals), then that it is a new one.
func (s *Store) chargeMessage(ctx context.Context, from string) (Connection, error) {
	rate := s.Limits.Messages
	now := s.Now()
	window, left := rate.window(now)
	names := map[string]string{"#pk": KeyAttribute, "#exp": TTLAttribute, "#w": "msgWindow", "#n": "msgs", "#r": "msgsRefused"}
	vals := av{":now": num(now.Unix()), ":w": num(window), ":one": num(1), ":zero": num(0), ":max": num(int64(rate.N))}
	live := "attribute_exists(#pk) AND #exp > :now"
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
		case !ok:
			return Connection{}, ErrConnectionNotFound
		case old.MsgWindow == window && old.Msgs >= rate.N:
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
