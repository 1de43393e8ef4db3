package localstack_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/internal/localstack"
)

// TestTTLSweep checks that the local stack's table has TTL enabled on the
// template's attribute and that the background sweep deletes the items whose
// TTL has passed, as DynamoDB does, and keeps every other item. The items
// are keyed from the table's own key schema, whatever it is.
func TestTTLSweep(t *testing.T) {
	s := newStack(t, func(o *localstack.Options) { o.TTLSweepInterval = 10 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db := s.db.Client

	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(s.Table)})
	if err != nil {
		t.Fatal(err)
	}
	if got := ttl.TimeToLiveDescription; got.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(got.AttributeName) != dynamo.TTLAttribute {
		t.Fatalf("TTL %s on %q, want ENABLED on %q", got.TimeToLiveStatus, aws.ToString(got.AttributeName), dynamo.TTLAttribute)
	}

	now := time.Now().Unix()
	num := func(v int64) types.AttributeValue {
		return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	tests := []struct {
		name    string
		ttl     types.AttributeValue // nil: no TTL attribute
		expires bool
	}{
		{"expired a minute ago", num(now - 60), true},
		{"expired a day ago", num(now - 86400), true},
		{"live for an hour", num(now + 3600), false},
		{"no TTL", nil, false},
		{"TTL not a number", &types.AttributeValueMemberS{Value: strconv.FormatInt(now-60, 10)}, false},
		{"older than five years", num(now - 6*365*86400), false},
	}
	keys := tableKeys(ctx, t, db, s.Table)
	for i, tt := range tests {
		item := keys(i)
		if tt.ttl != nil {
			item[dynamo.TTLAttribute] = tt.ttl
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}

	// Wait for the sweeps to delete the expired items (bounded by ctx).
	present := func() map[string]bool {
		out := map[string]bool{}
		for i, tt := range tests {
			got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: keys(i)})
			if err != nil {
				t.Fatal(err)
			}
			out[tt.name] = len(got.Item) > 0
		}
		return out
	}
	for {
		gone := 0
		for _, tt := range tests {
			if tt.expires && !present()[tt.name] {
				gone++
			}
		}
		if gone == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("expired items still present: %v", present())
		case <-time.After(20 * time.Millisecond):
		}
	}
	got := present()
	for _, tt := range tests {
		if got[tt.name] == tt.expires {
			t.Errorf("%s: present %v, want %v", tt.name, got[tt.name], !tt.expires)
		}
	}
	if n := s.ExpiredItems(); n != 2 {
		t.Errorf("ExpiredItems() = %d, want 2", n)
	}
}

// tableKeys returns a function that makes the key of test item i: every key
// attribute of the table (from DescribeTable) holds i, in its declared type.
func tableKeys(ctx context.Context, t *testing.T, db *dynamodb.Client, table string) func(i int) map[string]types.AttributeValue {
	t.Helper()
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	typeOf := map[string]types.ScalarAttributeType{}
	for _, d := range desc.Table.AttributeDefinitions {
		typeOf[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	return func(i int) map[string]types.AttributeValue {
		id := fmt.Sprintf("ttl-test-%d", i)
		item := map[string]types.AttributeValue{}
		for _, k := range desc.Table.KeySchema {
			name := aws.ToString(k.AttributeName)
			switch typeOf[name] {
			case types.ScalarAttributeTypeN:
				item[name] = &types.AttributeValueMemberN{Value: strconv.Itoa(i)}
			case types.ScalarAttributeTypeB:
				item[name] = &types.AttributeValueMemberB{Value: []byte(id)}
			default:
				item[name] = &types.AttributeValueMemberS{Value: id}
			}
		}
		return item
	}
}
