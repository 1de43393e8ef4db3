package emulator

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// StartDynamoDB serves a DynamoDB the real SDK client can use, on loopback, until
// stopped.
func TestStartDynamoDB(t *testing.T) {
	url, stop, err := StartDynamoDB("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	db := dynamodb.New(dynamodb.Options{
		BaseEndpoint:     aws.String(url),
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", ""),
		RetryMaxAttempts: 1,
	})
	_, err = db.CreateTable(ctx(t), &dynamodb.CreateTableInput{
		TableName:            aws.String("slsrtc"),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "connectionID#1"}}
	item := map[string]types.AttributeValue{"pk": key["pk"], "roomID": &types.AttributeValueMemberS{Value: "r1"}}
	if _, err := db.PutItem(ctx(t), &dynamodb.PutItemInput{TableName: aws.String("slsrtc"), Item: item}); err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	out, err := db.GetItem(ctx(t), &dynamodb.GetItemInput{TableName: aws.String("slsrtc"), Key: key})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	if got, _ := out.Item["roomID"].(*types.AttributeValueMemberS); got == nil || got.Value != "r1" {
		t.Errorf("GetItem = %v, want roomID r1", out.Item)
	}

	stop()
	stop() // harmless
	if _, err := db.GetItem(ctx(t), &dynamodb.GetItemInput{TableName: aws.String("slsrtc"), Key: key}); err == nil {
		t.Error("GetItem after stop succeeded, want a connection error")
	}
	if _, _, err := StartDynamoDB("256.0.0.1:0"); err == nil {
		t.Error("StartDynamoDB on a bad address succeeded, want an error")
	}
}
