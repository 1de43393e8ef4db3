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
	"github.com/slsrtc/slsrtc/internal/retry"
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
// absent, expired, or replaced by a resume (a tombstone).
func (s *Store) readConnection(ctx context.Context, connectionID string) (connectionItem, error) {
	c, live, err := s.getConnection(ctx, connectionID)
	if err == nil && (!live || c.MovedTo != "") {
		err = ErrConnectionNotFound
	}
	return c, err
}

// getConnection reads a connection's item whether or not it has expired
// (live tells); ErrConnectionNotFound if there is none.
func (s *Store) getConnection(ctx context.Context, connectionID string) (c connectionItem, live bool, err error) {
	item, err := s.getConnectionItem(ctx, connectionID)
	if err != nil {
		return c, false, err
	}
	if len(item) == 0 {
		return c, false, ErrConnectionNotFound
	}
	c, live, err = decodeConnection(item, s.Now())
	if err != nil {
		return c, false, fmt.Errorf("decode connection: %w", err)
	}
	return c, live, nil
}

// getConnectionItem reads a connection's item as stored, strongly
// consistent: empty if there is none.
func (s *Store) getConnectionItem(ctx context.Context, connectionID string) (av, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: connectionKey(connectionID).av(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get connection: %w", err)
	}
	return out.Item, nil
}

// ConnectionsByID returns the connections with the given IDs that exist, keyed by
// ID, read strongly consistent: one BatchGetItem for up to 100 IDs, repeated
// only for keys DynamoDB leaves unprocessed. Missing or expired connections,
// and those a resume replaced, are absent from the map.
func (s *Store) ConnectionsByID(ctx context.Context, ids ...string) (map[string]Connection, error) {
	items, err := s.batchConnections(ctx, ids)
	if err != nil {
		return nil, err
	}
	found := make(map[string]Connection, len(items))
	for id, c := range items {
		if c.MovedTo == "" {
			found[id] = c.connection()
		}
	}
	return found, nil
}

// batchConnections reads the live connection items with the given IDs
// (tombstones included), keyed by ID: ConnectionsByID's reads.
func (s *Store) batchConnections(ctx context.Context, ids []string) (map[string]connectionItem, error) {
	found := make(map[string]connectionItem, len(ids))
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
				found[c.ConnectionID] = c
			}
		}
		keys = append(keys[len(batch):], out.UnprocessedKeys[s.table].Keys...)
		if len(out.UnprocessedKeys[s.table].Keys) > 0 {
			if attempt >= s.MaxAttempts {
				return nil, fmt.Errorf("%w: batch get connections left keys unprocessed", ErrContention)
			}
			if err := retry.Sleep(ctx, s.Backoff(attempt)); err != nil {
				return nil, err
			}
		}
	}
	return found, nil
}

// Disconnect ends a connection whose WebSocket closed. If it is in no room,
// one conditional DeleteItem removes it. If it is in a room:
//
//   - with ResumeGrace, its participant goes away: ONE transaction sets
//     awayUntil (now + ResumeGrace) on the connection and its member item
//     and counts it in the room's away members. The seat, the name and the
//     connection item (with its resume token's hash) stay, and nothing
//     changes for the room mates; Resume takes the seat over within the
//     window, or the next Roster finds it expired and Expel frees it. The
//     returned Member has AwayUntil set.
//   - without, ONE transaction deletes the connection, decrements the
//     room's member count and deletes its name marker (as Leave does).
//
// It first reads the connection (one GetItem) to learn its room.
//
// It returns the membership that ended or went away (RoomID empty if it was
// in no room). A connection that does not exist, that a resume replaced, or
// that is away already, is not an error: $disconnect is delivered at least
// once and cleanup after a 410 may race with it, so a repeated Disconnect
// returns an empty Member (the away one, for an away connection) and nil.
// Unlike every other method, it also removes a connection whose TTL has
// passed but whose item is still there (DynamoDB deletes late), with its
// membership and without a grace, so that a room does not keep counting a
// member nobody can reach. Concurrent changes to the connection are re-read
// and retried; ErrContention if that never settles.
func (s *Store) Disconnect(ctx context.Context, connectionID string) (Member, error) {
	return s.disconnect(ctx, connectionID, s.ResumeGrace > 0)
}

// Remove is Disconnect without a grace: a member leaves its room at once
// and cannot be resumed (a connection the function closes for abuse must
// not come back through a resume). An away member is taken out too.
func (s *Store) Remove(ctx context.Context, connectionID string) (Member, error) {
	return s.disconnect(ctx, connectionID, false)
}

func (s *Store) disconnect(ctx context.Context, connectionID string, grace bool) (Member, error) {
	var left Member
	err := s.retryStale(ctx, func() error {
		c, live, err := s.getConnection(ctx, connectionID)
		switch {
		case errors.Is(err, ErrConnectionNotFound):
			left = Member{}
			return nil
		case err != nil:
			return err
		case c.MovedTo != "":
			left = Member{} // resumed elsewhere: the tombstone stays for relays in flight
			return nil
		case c.RoomID == "":
			left = Member{}
			return s.deleteIdleConnection(ctx, connectionID)
		case c.AwayUntil != 0 && grace:
			left = c.membership()
			return nil
		case live && grace && c.AwayUntil == 0:
			left, err = s.goAway(ctx, c)
			return err
		}
		left, err = s.leave(ctx, c, nil)
		return err
	})
	return left, err
}

// goAway runs Disconnect's transaction for a member whose participant keeps
// its seat for ResumeGrace: awayUntil on the connection (if it is still in
// the membership read, and not away) and on the member item (if it is still
// this connection's), and the room's away count. A room already gone is
// dropped from the transaction (see commitDropping).
func (s *Store) goAway(ctx context.Context, c connectionItem) (Member, error) {
	until := s.Now().Add(s.ResumeGrace).UnixMilli()
	err := s.commitDropping(ctx, func(t *tx, with optional) {
		t.update(connectionKey(c.ConnectionID), "SET #away = :until",
			"#room = :room AND #joined = :joined AND attribute_not_exists(#away) AND attribute_not_exists(#moved)",
			map[string]string{"#away": "awayUntil", "#room": "room", "#joined": "joinedAt", "#moved": "movedTo"},
			av{":until": num(until), ":room": str(c.RoomID), ":joined": num(c.JoinedAt)},
			func(av) error { return errStale })
		t.update(memberKey(c.RoomID, c.ParticipantID), "SET #away = :until", "#conn = :conn",
			map[string]string{"#away": "awayUntil", "#conn": "connectionID"},
			av{":until": num(until), ":conn": str(c.ConnectionID)},
			func(av) error { return errStale })
		if with.room {
			t.update(roomKey(c.RoomID), "ADD #away :one", "attribute_exists(#pk)",
				map[string]string{"#pk": KeyAttribute, "#away": "away"}, av{":one": num(1)},
				func(av) error { return errRoomGone })
		}
	})
	if err != nil {
		return Member{}, err
	}
	m := c.membership()
	m.AwayUntil = millis(until)
	return m, nil
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
