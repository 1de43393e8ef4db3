package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// PutConnection records a new connection, not in any room, expiring
// ConnectionTTL after connectedAt, with what its token allows (the zero
// Grant: everything), and issues its participant: a fresh participant ID and
// resume token (the item keeps the token's hash, never the token). One
// PutItem, conditioned on the key being new or holding this very connection
// (same connectedAt, in no room): the SDK resends a PutItem whose response
// was lost, and that retry must not turn a recorded connection into a
// refused one. Returns ErrConnectionExists if another connection with that
// ID exists.
func (s *Store) PutConnection(ctx context.Context, connectionID string, connectedAt time.Time, g Grant) (Participant, error) {
	pid, err := s.NewParticipantID(connectionID)
	if err != nil {
		return Participant{}, fmt.Errorf("participant id: %w", err)
	}
	token, hash, err := newResumeToken(s.Random, connectionID)
	if err != nil {
		return Participant{}, err
	}
	k := connectionKey(connectionID)
	item, err := attributevalue.MarshalMap(connectionItem{
		PK: k.pk, SK: k.sk, Kind: kindConnection, ConnectionID: connectionID,
		ConnectedAt: connectedAt.UnixMilli(), ExpiresAt: connectedAt.Add(s.ConnectionTTL).Unix(),
		ParticipantID: pid, ResumeHash: hash,
		Granted: g.Granted, MayCreate: g.Granted && g.Create, Rooms: g.Rooms,
		PinnedName: g.PinnedName, PinnedKey: g.PinnedKey,
	})
	if err != nil {
		return Participant{}, fmt.Errorf("marshal connection: %w", err)
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR (#at = :at AND attribute_not_exists(#room))"),
		ExpressionAttributeNames:  map[string]string{"#pk": KeyAttribute, "#at": "connectedAt", "#room": "room"},
		ExpressionAttributeValues: av{":at": num(connectedAt.UnixMilli())},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return Participant{}, ErrConnectionExists
	}
	if err != nil {
		return Participant{}, fmt.Errorf("put connection: %w", err)
	}
	return Participant{ID: pid, ResumeToken: token}, nil
}

// Connection returns the connection with that ID, read strongly consistent.
// One GetItem. Returns ErrConnectionNotFound if it does not exist or expired.
func (s *Store) Connection(ctx context.Context, connectionID string) (Connection, error) {
	c, err := s.readConnection(ctx, connectionID)
	if err != nil {
		return Connection{}, err
	}
	return c.connection(), nil
}

// readConnection reads a live connection: ErrConnectionNotFound if it is
// absent or expired.
func (s *Store) readConnection(ctx context.Context, connectionID string) (connectionItem, error) {
	c, live, err := s.getConnection(ctx, connectionID)
	if err == nil && !live {
		err = ErrConnectionNotFound
	}
	return c, err
}

// getConnection reads a connection's item whether or not it has expired
// (live tells); ErrConnectionNotFound if there is none.
func (s *Store) getConnection(ctx context.Context, connectionID string) (c connectionItem, live bool, err error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: connectionKey(connectionID).av(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return c, false, fmt.Errorf("get connection: %w", err)
	}
	if len(out.Item) == 0 {
		return c, false, ErrConnectionNotFound
	}
	c, live, err = decodeConnection(out.Item, s.Now())
	if err != nil {
		return c, false, fmt.Errorf("decode connection: %w", err)
	}
	return c, live, nil
}

// ConnectionsByID returns the connections with the given IDs that exist, keyed by
// ID, read strongly consistent: one BatchGetItem for up to 100 IDs (a relay
// reads sender and destination together), repeated only for keys DynamoDB
// leaves unprocessed. Missing or expired connections are absent from the map.
func (s *Store) ConnectionsByID(ctx context.Context, ids ...string) (map[string]Connection, error) {
	found := make(map[string]Connection, len(ids))
	seen := make(map[string]bool, len(ids))
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			keys = append(keys, connectionKey(id).av())
		}
	}
	now := s.Now()
	for attempt := 1; len(keys) > 0; attempt++ {
		batch := keys[:min(len(keys), 100)]
		out, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{s.table: {Keys: batch, ConsistentRead: aws.Bool(true)}},
		})
		if err != nil {
			return nil, fmt.Errorf("batch get connections: %w", err)
		}
		for _, item := range out.Responses[s.table] {
			c, ok, err := decodeConnection(item, now)
			if err != nil {
				return nil, fmt.Errorf("decode connection: %w", err)
			}
			if ok {
				found[c.ConnectionID] = c.connection()
			}
		}
		keys = append(keys[len(batch):], out.UnprocessedKeys[s.table].Keys...)
		if len(out.UnprocessedKeys[s.table].Keys) > 0 {
			if attempt >= s.MaxAttempts {
				return nil, fmt.Errorf("%w: batch get connections left keys unprocessed", ErrContention)
			}
			if err := sleep(ctx, s.Backoff(attempt)); err != nil {
				return nil, err
			}
		}
	}
	return found, nil
}

// Disconnect removes a connection for good: if it is in a room, ONE
// transaction deletes the connection, decrements the room's member count and
// deletes its name marker (as Leave does); otherwise one conditional
// DeleteItem. It first reads the connection (one GetItem) to learn its room.
//
// It returns the membership that ended (RoomID empty if it was in no room).
// A connection that does not exist is not an error: $disconnect is delivered
// at least once and cleanup after a 410 may race with it, so a repeated
// Disconnect returns an empty Member and nil. Unlike every other method,
// it also removes a connection whose TTL has passed but whose item is still
// there (DynamoDB deletes late), with its membership, so that a room does
// not keep counting a member nobody can reach. Concurrent changes to the
// connection are re-read and retried; ErrContention if that never settles.
func (s *Store) Disconnect(ctx context.Context, connectionID string) (Member, error) {
	var left Member
	err := s.retryStale(ctx, func() error {
		c, _, err := s.getConnection(ctx, connectionID)
		if errors.Is(err, ErrConnectionNotFound) {
			left = Member{}
			return nil
		}
		if err != nil {
			return err
		}
		if c.RoomID == "" {
			left = Member{}
			return s.deleteIdleConnection(ctx, connectionID)
		}
		left, err = s.leave(ctx, c, nil)
		return err
	})
	return left, err
}

// deleteIdleConnection deletes a connection that is in no room. The condition
// catches an Enter that won a race since the connection was read.
func (s *Store) deleteIdleConnection(ctx context.Context, connectionID string) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: connectionKey(connectionID).av(),
		ConditionExpression:      aws.String("attribute_not_exists(#room)"),
		ExpressionAttributeNames: map[string]string{"#room": "room"},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return errStale
	}
	if err != nil {
		return fmt.Errorf("delete connection: %w", err)
	}
	return nil
}
