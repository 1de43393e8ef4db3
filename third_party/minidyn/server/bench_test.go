package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The benchmarks below measure one request against tables of growing size,
// in process (no HTTP): with an undo log of the touched items and queries
// that read their partition, the cost must not grow with the table.

var benchSizes = []int{500, 5_000, 50_000}

func benchS(v string) *AttributeValue { return &AttributeValue{S: aws.String(v)} }

func benchN(v int) *AttributeValue { return &AttributeValue{N: aws.String(fmt.Sprint(v))} }

// benchTable creates a table with a composite key (pk, sk) and a GSI on g,
// and fills it with n items in partitions of 4, as rooms of 4 members.
func benchTable(b *testing.B, n int) *Client {
	b.Helper()

	c := NewClient()
	ctx := context.Background()

	_, err := c.CreateTable(ctx, &CreateTableInput{
		TableName: aws.String("bench"),
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
	if err != nil {
		b.Fatal(err)
	}

	for i := range n {
		room := fmt.Sprintf("room#%d", i/4)

		_, err := c.PutItem(ctx, &PutItemInput{TableName: aws.String("bench"), Item: map[string]*AttributeValue{
			"pk": benchS(room), "sk": benchS(fmt.Sprintf("member#%d", i)), "g": benchS(room),
			"joinedAt": benchN(i), "expiresAt": benchN(2_000_000_000),
		}})
		if err != nil {
			b.Fatal(err)
		}
	}

	return c
}

// BenchmarkTransactWriteItems: a join-like transaction (count the seat with a
// condition, write the member) that commits, and one whose last item fails
// its condition, so that the first two are rolled back.
func BenchmarkTransactWriteItems(b *testing.B) {
	for _, commit := range []bool{true, false} {
		for _, n := range benchSizes {
			name := fmt.Sprintf("commit/items=%d", n)
			if !commit {
				name = fmt.Sprintf("rollback/items=%d", n)
			}

			b.Run(name, func(b *testing.B) {
				c := benchTable(b, n)
				ctx := context.Background()
				cond := "attribute_not_exists(pk)"

				if !commit {
					cond = "attribute_exists(pk)"
				}

				b.ResetTimer()

				for i := range b.N {
					_, err := c.TransactWriteItems(ctx, &TransactWriteItemsInput{TransactItems: []TransactWriteItem{
						{Update: &Update{
							TableName: aws.String("bench"), Key: map[string]*AttributeValue{"pk": benchS("room#0"), "sk": benchS("room")},
							UpdateExpression:          aws.String("SET members = if_not_exists(members, :zero) + :one"),
							ExpressionAttributeValues: map[string]*AttributeValue{":zero": benchN(0), ":one": benchN(1)},
						}},
						{Put: &Put{TableName: aws.String("bench"), Item: map[string]*AttributeValue{
							"pk": benchS("room#0"), "sk": benchS(fmt.Sprintf("member#x%d", i%8)), "g": benchS("room#0"), "joinedAt": benchN(i),
						}}},
						{ConditionCheck: &ConditionCheck{
							TableName: aws.String("bench"), Key: map[string]*AttributeValue{"pk": benchS("room#1"), "sk": benchS("absent")},
							ConditionExpression: aws.String(cond),
						}},
					}})
					if commit != (err == nil) {
						b.Fatalf("commit %v: %v", commit, err)
					}
				}
			})
		}
	}
}

// BenchmarkQuery reads one partition of 4 items, on the table (composite
// key) and on the GSI.
func BenchmarkQuery(b *testing.B) {
	for _, index := range []string{"", "byG"} {
		for _, n := range benchSizes {
			name := fmt.Sprintf("table/items=%d", n)
			keyCond := "pk = :room"

			if index != "" {
				name = fmt.Sprintf("gsi/items=%d", n)
				keyCond = "g = :room"
			}

			b.Run(name, func(b *testing.B) {
				c := benchTable(b, n)
				ctx := context.Background()
				in := &QueryInput{
					TableName: aws.String("bench"), KeyConditionExpression: aws.String(keyCond),
					ExpressionAttributeValues: map[string]*AttributeValue{":room": benchS(fmt.Sprintf("room#%d", n/8))},
				}

				if index != "" {
					in.IndexName = aws.String(index)
				}

				b.ResetTimer()

				for range b.N {
					out, err := c.Query(ctx, in)
					if err != nil || out.Count != 4 {
						b.Fatalf("count %v, %v", out, err)
					}
				}
			})
		}
	}
}
