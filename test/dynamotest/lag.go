package dynamotest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/slsrtc/slsrtc/dynamo"
)

// LaggingIndex wraps a client so that reads from a global secondary index
// behave as DynamoDB documents them: eventually consistent. An item written
// less than Lag ago is not yet in any index query's answer (DynamoDB
// propagates a write to its indexes typically within a second, under load
// longer). Base-table reads are untouched. IndexQueries counts the index
// queries, so a test can also insist there are none.
type LaggingIndex struct {
	dynamo.Client
	Lag time.Duration
	// IndexQueries counts Query calls with an IndexName.
	IndexQueries atomic.Int64

	mu      sync.Mutex
	written map[string]time.Time // by pk: the last write of an item of that partition
}

// NewLaggingIndex wraps client with the given lag.
func NewLaggingIndex(client dynamo.Client, lag time.Duration) *LaggingIndex {
	return &LaggingIndex{Client: client, Lag: lag, written: map[string]time.Time{}}
}

func (l *LaggingIndex) wrote(keys ...map[string]types.AttributeValue) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if pk, ok := k[dynamo.KeyAttribute].(*types.AttributeValueMemberS); ok {
			l.written[pk.Value] = time.Now()
		}
	}
}

// PutItem records the write.
func (l *LaggingIndex) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := l.Client.PutItem(ctx, in, optFns...)
	if err == nil {
		l.wrote(in.Item)
	}
	return out, err
}

// TransactWriteItems records the writes.
func (l *LaggingIndex) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := l.Client.TransactWriteItems(ctx, in, optFns...)
	if err == nil {
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				l.wrote(it.Put.Item)
			case it.Update != nil:
				l.wrote(it.Update.Key)
			}
		}
	}
	return out, err
}

// Query answers an index query without the items written less than Lag
// ago.
func (l *LaggingIndex) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := l.Client.Query(ctx, in, optFns...)
	if err != nil || in.IndexName == nil {
		return out, err
	}
	l.IndexQueries.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	visible := out.Items[:0:0]
	for _, item := range out.Items {
		pk, _ := item[dynamo.KeyAttribute].(*types.AttributeValueMemberS)
		if pk != nil && time.Since(l.written[pk.Value]) < l.Lag {
			continue
		}
		visible = append(visible, item)
	}
	out.Items, out.Count = visible, int32(len(visible))
	return out, nil
}
