// Package dynamotest starts the embedded DynamoDB emulator (minidyn's HTTP
// server) for tests and returns a real aws-sdk-go-v2 client talking to it over
// loopback HTTP, with the signaling table created from dynamo.TableDefinition.
package dynamotest

import (
	"context"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"

	"github.com/slsrtc/slsrtc/dynamo"
)

// Table is the table name tests use.
const Table = "slsrtc-test"

// DB is a running emulator with a client and the table created.
type DB struct {
	Server *server.Server // the emulator, for failure injection
	URL    string         // its endpoint
	Client *dynamodb.Client
	Table  string
}

// New starts an emulator that stops when the test ends.
func New(t testing.TB) *DB {
	t.Helper()
	srv := server.NewServer()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	client := NewClient(hs.URL)
	if err := dynamo.EnsureTable(context.Background(), client, Table); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return &DB{Server: srv, URL: hs.URL, Client: client, Table: Table}
}

// NewClient returns a DynamoDB client for endpoint with static credentials and
// the SDK's standard retryer, as the Lambda builds it. optFns are applied last.
func NewClient(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	opts := dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	return dynamodb.New(opts, optFns...)
}

// Items returns every item of the table keyed by ItemKey(pk, sk) (a Scan, all
// pages).
func (db *DB) Items(t testing.TB) map[string]map[string]types.AttributeValue {
	t.Helper()
	items := map[string]map[string]types.AttributeValue{}
	in := &dynamodb.ScanInput{TableName: aws.String(db.Table)}
	for {
		out, err := db.Client.Scan(context.Background(), in)
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		for _, item := range out.Items {
			pk, _ := item[dynamo.KeyAttribute].(*types.AttributeValueMemberS)
			sk, _ := item[dynamo.SortAttribute].(*types.AttributeValueMemberS)
			if pk == nil || sk == nil {
				t.Fatalf("item without string pk and sk: %v", item)
			}
			items[ItemKey(pk.Value, sk.Value)] = item
		}
		if len(out.LastEvaluatedKey) == 0 {
			return items
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// IsRateCounter reports whether name is an attribute of a connection item
// that counts its messages, enters and leaves against its rates: a refused
// request still counts, so comparisons of "nothing stored" leave them out.
// Message counters are named after their window (msgs#<window>,
// msgsRefused#<window>).
func IsRateCounter(name string) bool {
	return name == "moveWindow" || name == "moves" ||
		strings.HasPrefix(name, "msgs#") || strings.HasPrefix(name, "msgsRefused#")
}

// ItemKey is how Items names an item: "pk|sk".
func ItemKey(pk, sk string) string { return pk + "|" + sk }

// Keys of the store's items as Items names them (see package dynamo).
func ConnectionKey(id string) string { return ItemKey("connectionID#"+id, "connection") }
func RoomKey(id string) string       { return ItemKey("roomID#"+id, "room") }
func MemberKey(roomID, participantID string) string {
	return ItemKey("roomID#"+roomID, "member#"+participantID)
}
func NameKey(roomID, userName string) string { return ItemKey("roomID#"+roomID, "userName#"+userName) }
func SubKey(roomID, subID string) string     { return ItemKey("roomID#"+roomID, "sub#"+subID) }

// Delete deletes the item Items names key, behind the store's back (to
// break an invariant or play DynamoDB's TTL deleting an item).
func (db *DB) Delete(t testing.TB, key string) {
	t.Helper()
	pk, sk, ok := strings.Cut(key, "|")
	if !ok {
		t.Fatalf("Delete(%q): not an ItemKey", key)
	}
	_, err := db.Client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
		TableName: aws.String(db.Table),
		Key: map[string]types.AttributeValue{
			dynamo.KeyAttribute:  &types.AttributeValueMemberS{Value: pk},
			dynamo.SortAttribute: &types.AttributeValueMemberS{Value: sk},
		},
	})
	if err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

// Predictable makes what a store issues to new connections the same in
// every run, for tests that compare tables or frames: participant ID
// "p-<connection ID>", and resume tokens from a fixed seed.
func Predictable(s *dynamo.Store) {
	s.NewParticipantID = func(connectionID string) (string, error) { return "p-" + connectionID, nil }
	s.Random = rand.NewChaCha8([32]byte{'s', 'l', 's', 'r', 't', 'c'})
}
