package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/slsrtc/slsrtc/internal/retry"
)

// av is shorthand for the attribute value maps every call takes.
type av = map[string]types.AttributeValue

func str(s string) types.AttributeValue   { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue    { return &types.AttributeValueMemberN{Value: fmt.Sprint(n)} }
func boolean(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }

// errStale is returned by a failure handler when a condition failed because
// an item changed after the operation read it: the operation re-reads and
// tries again.
var errStale = errors.New("item changed since it was read")

// failFunc turns the failed condition of one transaction item into an error.
// old is the item as it was when the condition failed (nil when it did not
// exist, or when the item type cannot return it).
type failFunc func(old av) error

// tx collects the items of one TransactWriteItems call, in order, with what a
// failed condition on each one means. DynamoDB rule: two items of one
// transaction may not target the same key.
type tx struct {
	table  string
	items  []types.TransactWriteItem
	onFail []failFunc
}

func (t *tx) put(item av, cond string, names map[string]string, vals av, onFail failFunc) {
	t.items = append(t.items, types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(t.table), Item: item,
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	}})
	t.onFail = append(t.onFail, onFail)
}

// update adds an UpdateItem; ALL_OLD makes DynamoDB return the item with the
// cancellation reason, so onFail can tell "missing" from "full".
func (t *tx) update(k key, update, cond string, names map[string]string, vals av, onFail failFunc) {
	t.items = append(t.items, types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(t.table), Key: k.av(),
		UpdateExpression: aws.String(update), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}})
	t.onFail = append(t.onFail, onFail)
}

// delete adds a DeleteItem; an empty cond deletes unconditionally.
func (t *tx) delete(k key, cond string, names map[string]string, vals av, onFail failFunc) {
	d := &types.Delete{TableName: aws.String(t.table), Key: k.av(), ExpressionAttributeNames: names, ExpressionAttributeValues: vals}
	if cond != "" {
		d.ConditionExpression = aws.String(cond)
	}
	t.items = append(t.items, types.TransactWriteItem{Delete: d})
	t.onFail = append(t.onFail, onFail)
}

func (t *tx) check(k key, cond string, names map[string]string, vals av, onFail failFunc) {
	t.items = append(t.items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: aws.String(t.table), Key: k.av(),
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}})
	t.onFail = append(t.onFail, onFail)
}

// commit runs the transaction. A cancellation caused by a failed condition is
// mapped by the onFail of the FIRST item, in request order, whose reason is
// ConditionalCheckFailed (DynamoDB reports every item; some emulators stop at
// the first failure, and the first one is right for both). Cancellations
// caused only by conflicts or throttling, and TransactionConflictException,
// are retried with jittered backoff up to MaxAttempts; then ErrContention.
func (s *Store) commit(ctx context.Context, t *tx) error {
	in := &dynamodb.TransactWriteItemsInput{TransactItems: t.items}
	for attempt := 1; ; attempt++ {
		// Each attempt gets a fresh idempotency token (the SDK fills a nil
		// one, and its own retries of a lost response reuse it): a token is
		// remembered for 10 minutes, and a retry after a cancellation must be
		// a new transaction, not a replay of the cancelled one.
		in.ClientRequestToken = nil
		_, err := s.client.TransactWriteItems(ctx, in)
		if err == nil {
			return nil
		}
		var canceled *types.TransactionCanceledException
		if errors.As(err, &canceled) {
			for i, r := range canceled.CancellationReasons {
				if aws.ToString(r.Code) == "ConditionalCheckFailed" && i < len(t.onFail) && t.onFail[i] != nil {
					return t.onFail[i](r.Item)
				}
			}
		}
		if !retryableTx(err) {
			return fmt.Errorf("transact write items: %w", err)
		}
		if attempt >= s.MaxAttempts {
			return fmt.Errorf("%w: transact write items: %w", ErrContention, err)
		}
		if err := retry.Sleep(ctx, s.Backoff(attempt)); err != nil {
			return fmt.Errorf("transact write items: %w", err)
		}
	}
}

// retryableTx reports whether a failed transaction may succeed when sent
// again unchanged: it lost a race with another transaction, or was throttled.
func retryableTx(err error) bool {
	var conflict *types.TransactionConflictException
	if errors.As(err, &conflict) {
		return true
	}
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return false
	}
	retry := false
	for _, r := range canceled.CancellationReasons {
		switch aws.ToString(r.Code) {
		case "", "None":
		case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
			retry = true
		default:
			return false
		}
	}
	return retry
}

// Failures commitDropping recovers from by dropping the item from the
// transaction.
var (
	errRoomGone      = errors.New("room missing or empty")
	errMarkerForeign = errors.New("name marker owned by another participant")
)

// optional says which optional items a transaction built by commitDropping
// still holds: the room item's update and the name marker's.
type optional struct{ room, marker bool }

// commitDropping builds a transaction with build and commits it. When the
// cancellation is the room item's (errRoomGone: the room is gone, by TTL or
// a broken invariant) or the name marker's (errMarkerForeign: another
// participant owns it), that item is dropped and the rest committed again,
// so that a room or a marker already gone does not stop the change of the
// caller's own items. Other errors are returned as they are.
func (s *Store) commitDropping(ctx context.Context, build func(t *tx, with optional)) error {
	with := optional{room: true, marker: true}
	for {
		t := &tx{table: s.table}
		build(t, with)
		err := s.commit(ctx, t)
		switch {
		case errors.Is(err, errRoomGone) && with.room:
			with.room = false
		case errors.Is(err, errMarkerForeign) && with.marker:
			with.marker = false
		default:
			return err
		}
	}
}

// retryStale runs op until it returns something other than errStale, at most
// MaxAttempts times, backing off between attempts.
func (s *Store) retryStale(ctx context.Context, op func() error) error {
	for attempt := 1; ; attempt++ {
		err := op()
		if !errors.Is(err, errStale) {
			return err
		}
		if attempt >= s.MaxAttempts {
			return fmt.Errorf("%w: %w", ErrContention, err)
		}
		if err := retry.Sleep(ctx, s.Backoff(attempt)); err != nil {
			return err
		}
	}
}
