package dynamotest_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// TestFaultProxy: faults hit exactly the calls they select, answer as
// DynamoDB does (the SDK maps them to its typed errors), and a transaction
// whose response was lost is not applied twice when resent with its token.
func TestFaultProxy(t *testing.T) {
	db, p := dynamotest.NewWithFaults(t)
	// No SDK retries, to see each answer.
	client := dynamotest.NewClient(p.URL, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	key := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "counter"}, "sk": &types.AttributeValueMemberS{Value: "counter"},
	}
	get := func() error {
		_, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(db.Table), Key: key})
		return err
	}

	t.Run("selection", func(t *testing.T) {
		p.Clear()
		p.Inject(dynamotest.Fault{Op: "GetItem", Nth: 2, Times: 2, Failure: dynamotest.Throttled})
		var throttled *types.ProvisionedThroughputExceededException
		for i, wantFail := range []bool{false, true, true, false} {
			if err := get(); errors.As(err, &throttled) != wantFail {
				t.Errorf("call %d: %v, want failure %v", i+1, err, wantFail)
			}
		}
		if got := p.Calls(); !slices.Equal(got, []string{"GetItem", "GetItem", "GetItem", "GetItem"}) || p.Injected() != 2 {
			t.Errorf("calls %v, injected %d", got, p.Injected())
		}
	})

	increment := func(token string, by int) error {
		_, err := client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			ClientRequestToken: aws.String(token),
			TransactItems: []types.TransactWriteItem{{Update: &types.Update{
				TableName: aws.String(db.Table), Key: key,
				UpdateExpression:          aws.String("ADD #n :by"),
				ExpressionAttributeNames:  map[string]string{"#n": "n"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":by": &types.AttributeValueMemberN{Value: strconv.Itoa(by)}},
			}}},
		})
		return err
	}
	t.Run("cancellation reasons", func(t *testing.T) {
		p.Clear()
		p.Inject(dynamotest.Fault{Op: "TransactWriteItems", Failure: dynamotest.ConflictCanceled})
		var canceled *types.TransactionCanceledException
		if err := increment("t1", 1); !errors.As(err, &canceled) || len(canceled.CancellationReasons) != 1 ||
			aws.ToString(canceled.CancellationReasons[0].Code) != "TransactionConflict" {
			t.Errorf("error %v, want TransactionCanceledException with one TransactionConflict reason", err)
		}
	})
	t.Run("lost response and idempotency", func(t *testing.T) {
		p.Clear()
		p.Inject(dynamotest.Fault{Op: "TransactWriteItems", Failure: dynamotest.LostResponse})
		if err := increment("t2", 1); err == nil {
			t.Error("a lost response reached the client as success")
		}
		if err := increment("t2", 1); err != nil {
			t.Errorf("resent with its token: %v", err)
		}
		var mismatch interface{ ErrorCode() string }
		if err := increment("t2", 2); !errors.As(err, &mismatch) || mismatch.ErrorCode() != "IdempotentParameterMismatchException" {
			t.Errorf("token reused for another transaction: %v", err)
		}
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(db.Table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil || dynamotest.String(out.Item["n"]) != "1" {
			t.Errorf("counter = %v (%v), want 1: the transaction was applied once", dynamotest.String(out.Item["n"]), err)
		}
	})
}
