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

// Names of the table's key and TTL attributes. template.yaml declares the
// same; a test keeps the two in step.
const (
	// KeyAttribute is the partition key: which connection or room an item
	// belongs to.
	KeyAttribute = "pk"
	// SortAttribute is the sort key: what the item is within its partition.
	SortAttribute = "sk"
	// TTLAttribute holds each item's expiry in epoch seconds.
	TTLAttribute = "expiresAt"
)

// Key prefixes and sort keys (see the package documentation). A room's
// partition sorts its members (member#...) before the room item (room), and
// its push subscriptions (sub#...) and name markers (userName#...) after it,
// so one key condition, sk <= "room", reads the room and its members without
// the rest, and another, begins_with(sk, "sub#"), the subscriptions alone.
const (
	connectionPrefix = "connectionID#"
	roomPrefix       = "roomID#"
	connectionSort   = "connection"
	roomSort         = "room"
	memberPrefix     = "member#"
	namePrefix       = "userName#"
	subPrefix        = "sub#"
)

// TableDefinition returns the CreateTable input for a table named name: the same
// keys as template.yaml, billed per request, and no secondary index (every read
// the protocol makes is a strongly consistent read of the base table). TTL is
// configured separately (UpdateTimeToLive), as in CloudFormation.
func TableDefinition(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(KeyAttribute), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(SortAttribute), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(KeyAttribute), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(SortAttribute), KeyType: types.KeyTypeRange},
		},
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

// key is the primary key of one item.
type key struct{ pk, sk string }

func connectionKey(id string) key { return key{connectionPrefix + id, connectionSort} }
func roomKey(id string) key       { return key{roomPrefix + id, roomSort} }
func memberKey(roomID, participantID string) key {
	return key{roomPrefix + roomID, memberPrefix + participantID}
}
func markerKey(roomID, nameKey string) key { return key{roomPrefix + roomID, namePrefix + nameKey} }
func subKey(roomID, subID string) key      { return key{roomPrefix + roomID, subPrefix + subID} }

// av returns the key as DynamoDB's Key map.
func (k key) av() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		KeyAttribute:  &types.AttributeValueMemberS{Value: k.pk},
		SortAttribute: &types.AttributeValueMemberS{Value: k.sk},
	}
}
