package telemetry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/slsrtc/slsrtc/telemetry"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// TestMiddleware: every call made with a Record in its context is counted
// and timed, failures included; calls without one are ignored.
func TestMiddleware(t *testing.T) {
	db := dynamotest.New(t)
	client := dynamotest.NewClient(db.URL, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, telemetry.Middleware(telemetry.ServiceDynamoDB))
	})
	rec := &telemetry.Record{}
	ctx := telemetry.NewContext(context.Background(), rec)
	if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(db.Table)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("missing")}); err == nil {
		t.Fatal("describing a missing table succeeded")
	}
	if _, err := client.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(db.Table)}); err != nil {
		t.Fatal(err)
	}
	if got := rec.Calls(telemetry.ServiceDynamoDB); got != 2 {
		t.Errorf("Calls = %d, want 2", got)
	}
	var attrs []string
	for _, a := range rec.Attrs() {
		attrs = append(attrs, a.Key)
	}
	if got := strings.Join(attrs, ","); got != "dynamodbCalls,dynamodbMs,fanOut,gone" {
		t.Errorf("log attributes %s", got)
	}
}
