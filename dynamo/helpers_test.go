package dynamo_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/slsrtc/slsrtc/internal/dynamotest"
)

func num(n int64) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(n)} }

// assertUnchanged fails if the table differs from before: a failed operation
// must leave nothing half-written.
func assertUnchanged(t *testing.T, db *dynamotest.DB, before map[string]map[string]types.AttributeValue) {
	t.Helper()
	after := db.Items(t)
	if !reflect.DeepEqual(after, before) {
		t.Errorf("table changed by a failed operation:\n before: %v\n after:  %v", before, after)
	}
}

func deleteItem(t *testing.T, db *dynamotest.DB, pk string) {
	t.Helper()
	_, err := db.Client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
		TableName: aws.String(db.Table),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
	})
	if err != nil {
		t.Fatal(err)
	}
}
