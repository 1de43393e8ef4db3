package inprocess_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/slsrtc/slsrtc/internal/inprocess"
)

// BenchmarkSDKCall is the floor under a relay on the local stack: one call
// of the real SDK clients, as the function makes it (signed, through the
// SDK's middleware, serialised and deserialised), served in process by a
// handler that answers at once with a canned answer, so no emulator work
// is counted. A relay makes three such calls (UpdateItem, GetItem,
// PostToConnection); docs/performance.md compares their sum with a whole
// relay of PeerJS server.
func BenchmarkSDKCall(b *testing.B) {
	hosts := &inprocess.Hosts{}
	hosts.Handle("dynamodb.test:1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = io.WriteString(w, `{"Item":{"pk":{"S":"connectionID#abc"},"sk":{"S":"connection"},"roomID":{"S":"r"},"expiresAt":{"N":"4102444800"}}}`)
	}))
	hosts.Handle("connections.test:1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("key", "secret", "")}
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String("http://dynamodb.test:1")
		o.HTTPClient = inprocess.Client{Hosts: hosts}
	})
	api := apigatewaymanagementapi.NewFromConfig(cfg, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String("http://connections.test:1")
		o.HTTPClient = inprocess.Client{Hosts: hosts}
	})
	ctx := context.Background()
	key := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "connectionID#abc"}, "sk": &types.AttributeValueMemberS{Value: "connection"},
	}
	b.Run("GetItem", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key, ConsistentRead: aws.Bool(true)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PostToConnection", func(b *testing.B) {
		b.ReportAllocs()
		data := make([]byte, 600) // a relayed 512-byte signal
		for b.Loop() {
			if _, err := api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("abc="), Data: data}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
