package dynamo_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/slsrtc/slsrtc/test/dynamotest"
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
