package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Names of the table's key, index and TTL attributes. template.yaml declares the
// same; a test keeps the two in step.
const (
	KeyAttribute     = "pk"
	RoomIndex        = "RoomMate"
	RoomAttribute    = "roomID"
	TTLAttribute     = "expiresAt"
	connectionPrefix = "connectionID#"
	roomPrefix       = "roomID#"
	namePrefix       = "userName#"
	memberPrefix     = "member#"
)

// RoomIndexProjection lists the non-key attributes the RoomMate index projects:
// what a member list needs, and liveUntil to tell stale members (see Roster).
var RoomIndexProjection = []string{"connectionID", "userName", "joinedAt", "liveUntil"}

// TableDefinition returns the CreateTable input for a table named name: the same
// keys and index as template.yaml, billed per request. TTL is configured
// separately (UpdateTimeToLive), as in CloudFormation.
func TableDefinition(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(KeyAttribute), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(RoomAttribute), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(KeyAttribute), KeyType: types.KeyTypeHash},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(RoomIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(RoomAttribute), KeyType: types.KeyTypeHash},
			},
			Projection: &types.Projection{
				ProjectionType:   types.ProjectionTypeInclude,
				NonKeyAttributes: RoomIndexProjection,
			},
		}},
	}
}

// TableAdmin is the part of the DynamoDB client EnsureTable uses.
type TableAdmin interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// EnsureTable creates the table named name from TableDefinition unless it
// exists, waits until it and its index are ACTIVE, and enables TTL on
// expiresAt where the endpoint supports it (the embedded emulator does not; its
// refusal is ignored because every read already treats expired items as absent).
// It is for the local stack and tests; in AWS the template creates the table.
func EnsureTable(ctx context.Context, client TableAdmin, name string) error {
	_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		if _, err := client.CreateTable(ctx, TableDefinition(name)); err != nil {
			var inUse *types.ResourceInUseException
			if !errors.As(err, &inUse) {
				return fmt.Errorf("create table %s: %w", name, err)
			}
		}
		_, _ = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName: aws.String(name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{
				AttributeName: aws.String(TTLAttribute), Enabled: aws.Bool(true),
			},
		})
	case err != nil:
		return fmt.Errorf("describe table %s: %w", name, err)
	}
	return waitActive(ctx, client, name)
}

func waitActive(ctx context.Context, client TableAdmin, name string) error {
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("describe table %s: %w", name, err)
		}
		// An empty status counts as active: the embedded emulator reports none
		// for tables.
		active := out.Table.TableStatus == types.TableStatusActive || out.Table.TableStatus == ""
		for _, gsi := range out.Table.GlobalSecondaryIndexes {
			active = active && (gsi.IndexStatus == types.IndexStatusActive || gsi.IndexStatus == "")
		}
		if active {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for table %s: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func connectionKey(id string) string         { return connectionPrefix + id }
func roomKey(id string) string               { return roomPrefix + id }
func nameKey(roomID, userName string) string { return namePrefix + roomID + "#" + userName }
func memberKey(roomID, connectionID string) string {
	return memberPrefix + roomID + "#" + connectionID
}
func keyOf(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: pk}}
}
