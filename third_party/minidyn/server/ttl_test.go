package server

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"
)

func TestServerTimeToLive(t *testing.T) {
	c := require.New(t)
	ctx := context.Background()
	s := NewServer()
	ts := httptest.NewServer(s)

	defer ts.Close()

	cli := newTestDynamoClient(t, ts.URL)
	makeBasicTable(t, cli, "sessions", "id")

	describe := func() *ddbtypes.TimeToLiveDescription {
		out, err := cli.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("sessions")})
		c.NoError(err)

		return out.TimeToLiveDescription
	}
	update := func(enabled bool) error {
		_, err := cli.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName: aws.String("sessions"),
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{
				AttributeName: aws.String("expiresAt"), Enabled: aws.Bool(enabled),
			},
		})

		return err
	}
	validation := func(err error) {
		var apiErr smithy.APIError
		c.ErrorAs(err, &apiErr)
		c.Equal("ValidationException", apiErr.ErrorCode())
	}

	c.Equal(ddbtypes.TimeToLiveStatusDisabled, describe().TimeToLiveStatus)
	validation(update(false))
	c.NoError(update(true))
	c.Equal(ddbtypes.TimeToLiveStatusEnabled, describe().TimeToLiveStatus)
	c.Equal("expiresAt", aws.ToString(describe().AttributeName))
	validation(update(true))

	_, err := cli.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("missing")})

	var notFound *ddbtypes.ResourceNotFoundException
	c.ErrorAs(err, &notFound)

	now := time.Unix(1_800_000_000, 0)
	for i, exp := range []int64{now.Unix() - 10, now.Unix() + 10, now.Unix() - 1} {
		_, err := cli.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String("sessions"),
			Item: map[string]ddbtypes.AttributeValue{
				"id":        &ddbtypes.AttributeValueMemberS{Value: fmt.Sprint(i)},
				"expiresAt": &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(exp)},
			},
		})
		c.NoError(err)
	}

	c.Equal(2, s.ExpireItems(now))
	c.Equal(0, s.ExpireItems(now))

	out, err := cli.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("sessions")})
	c.NoError(err)
	c.Len(out.Items, 1)
	c.Equal(&ddbtypes.AttributeValueMemberS{Value: "1"}, out.Items[0]["id"])

	c.NoError(update(false))
	c.Equal(0, s.ExpireItems(now.Add(time.Hour)), "TTL disabled")
}

// TestServerExpireItemsInBatches expires more items than one batch holds
// the lock for.
func TestServerExpireItemsInBatches(t *testing.T) {
	c := require.New(t)
	ctx := context.Background()
	s := NewServer()
	ts := httptest.NewServer(s)

	defer ts.Close()

	cli := newTestDynamoClient(t, ts.URL)
	makeBasicTable(t, cli, "a", "id")
	makeBasicTable(t, cli, "b", "id")

	for _, table := range []string{"a", "b"} {
		_, err := cli.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(table),
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String("exp"), Enabled: aws.Bool(true)},
		})
		c.NoError(err)

		for i := range expireBatch + 7 {
			_, err := cli.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: aws.String(table),
				Item: map[string]ddbtypes.AttributeValue{
					"id":  &ddbtypes.AttributeValueMemberS{Value: fmt.Sprint(i)},
					"exp": &ddbtypes.AttributeValueMemberN{Value: "1000"},
				},
			})
			c.NoError(err)
		}
	}

	c.Equal(2*(expireBatch+7), s.ExpireItems(time.Unix(2000, 0)))
}

// TestServerTransactRollbackAcrossTables cancels a transaction whose last
// item fails: the items it wrote before, in two tables and their index, are
// as they were.
func TestServerTransactRollbackAcrossTables(t *testing.T) {
	c := require.New(t)
	ctx := context.Background()
	ts := httptest.NewServer(NewServer())

	defer ts.Close()

	cli := newTestDynamoClient(t, ts.URL)
	makeBasicTable(t, cli, "plain", "id")

	_, err := cli.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("indexed"),
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange},
		},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String("g"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		GlobalSecondaryIndexes: []ddbtypes.GlobalSecondaryIndex{{
			IndexName:  aws.String("byG"),
			KeySchema:  []ddbtypes.KeySchemaElement{{AttributeName: aws.String("g"), KeyType: ddbtypes.KeyTypeHash}},
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeAll},
		}},
		BillingMode: ddbtypes.BillingModePayPerRequest,
	})
	c.NoError(err)

	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }

	for _, sk := range []string{"1", "2"} {
		_, err := cli.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String("indexed"),
			Item:      map[string]ddbtypes.AttributeValue{"pk": s("room"), "sk": s(sk), "g": s("old")},
		})
		c.NoError(err)
	}

	state := func() []any {
		var out []any

		for _, table := range []string{"plain", "indexed"} {
			scan, err := cli.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
			c.NoError(err)

			out = append(out, scan.Items)
		}

		for _, g := range []string{"old", "new"} {
			q, err := cli.Query(ctx, &dynamodb.QueryInput{
				TableName: aws.String("indexed"), IndexName: aws.String("byG"),
				KeyConditionExpression:    aws.String("g = :g"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":g": s(g)},
			})
			c.NoError(err)

			out = append(out, q.Items)
		}

		return out
	}
	before := state()

	_, err = cli.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []ddbtypes.TransactWriteItem{
			{Put: &ddbtypes.Put{TableName: aws.String("plain"), Item: map[string]ddbtypes.AttributeValue{"id": s("new")}}},
			{Update: &ddbtypes.Update{
				TableName: aws.String("indexed"), Key: map[string]ddbtypes.AttributeValue{"pk": s("room"), "sk": s("1")},
				UpdateExpression:          aws.String("SET g = :g"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":g": s("new")},
			}},
			{Delete: &ddbtypes.Delete{TableName: aws.String("indexed"), Key: map[string]ddbtypes.AttributeValue{"pk": s("room"), "sk": s("2")}}},
			{ConditionCheck: &ddbtypes.ConditionCheck{
				TableName: aws.String("plain"), Key: map[string]ddbtypes.AttributeValue{"id": s("absent")},
				ConditionExpression: aws.String("attribute_exists(id)"),
			}},
		},
	})

	var canceled *ddbtypes.TransactionCanceledException
	c.ErrorAs(err, &canceled)

	codes := make([]string, len(canceled.CancellationReasons))
	for i, r := range canceled.CancellationReasons {
		codes[i] = aws.ToString(r.Code)
	}

	c.Equal([]string{"None", "None", "None", "ConditionalCheckFailed"}, codes)
	c.Equal(before, state())
}
