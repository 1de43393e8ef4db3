package dynamo

import (
	"context"
	crand "crypto/rand"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/uuid"
	"github.com/slsrtc/slsrtc/internal/retry"
)

// Client is the part of the DynamoDB API the Store calls. *dynamodb.Client
// implements it; so does anything that wraps one (for counting calls in tests).
type Client interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ Client = (*dynamodb.Client)(nil)

// Default lifetimes of items (see the package documentation).
const (
	// DefaultConnectionTTL outlives API Gateway's 2-hour maximum connection
	// duration by a margin, so a connection whose $disconnect never ran still
	// disappears.
	DefaultConnectionTTL = 2*time.Hour + 15*time.Minute
	// DefaultRoomTTL is how long a room stays enterable after its last enter
	// or leave. It is longer than DefaultConnectionTTL, so a room always
	// outlives its members.
	DefaultRoomTTL = 24 * time.Hour
)

// Store reads and writes connections and rooms in one DynamoDB table.
// The zero value is not usable; call New.
type Store struct {
	client Client
	table  string

	// Now is the clock; tests replace it.
	Now func() time.Time
	// NewRoomID returns a fresh room ID, NewParticipantID the participant
	// ID of a new connection; the default of each is a random (version 4)
	// UUID, 122 random bits, whatever the connection.
	NewRoomID        func() (string, error)
	NewParticipantID func(connectionID string) (string, error)
	// Random is the source of resume tokens' secrets (crypto/rand).
	Random io.Reader
	// ConnectionTTL and RoomTTL set expiresAt (see the package documentation).
	ConnectionTTL, RoomTTL time.Duration
	// MaxAttempts bounds the attempts of an operation that loses races
	// (TransactionConflict, or an item changed between read and write).
	MaxAttempts int
	// Backoff returns how long to wait before attempt n (1-based) is retried.
	Backoff func(attempt int) time.Duration
	// Limits are the per-connection limits the store enforces; the zero
	// value enforces none.
	Limits Limits
	// refused and stale are what this instance learnt about the senders it
	// charged (see hints and chargeMessage).
	refused hints[int64]
	stale   hints[[]string]
	// ResumeGrace is how long Disconnect keeps a member's seat, name and
	// signals for a new connection to resume it (see Resume); zero: no
	// resume, Disconnect takes the member out at once.
	ResumeGrace time.Duration
}

// Limits bound what one connection may do, stored on its item so that they
// hold across Lambda instances. A zero field is no limit.
type Limits struct {
	// RoomsPerConnection is how many rooms one connection may create.
	RoomsPerConnection int
	// Moves bounds enters and leaves (counted together).
	Moves Rate
	// Messages bounds relayed messages.
	Messages Rate
	// AbuseAfter is how many messages refused in one Messages window make
	// Relay report ErrAbusive.
	AbuseAfter int
	// SubscriptionsPerRoom bounds the push subscriptions one room holds,
	// and SubscribesPerConnection the subscribes one connection makes
	// (see Subscribe).
	SubscriptionsPerRoom, SubscribesPerConnection int
	// NotifyEvery is the least time between two notifications to one
	// subscription (see ClaimNotification).
	NotifyEvery time.Duration
}

// Rate is N events per fixed window of length Per (windows aligned on the
// epoch). A zero N is no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// window returns the index of the window now falls in and how long until it
// ends.
func (r Rate) window(now time.Time) (index int64, left time.Duration) {
	per := r.Per.Milliseconds()
	ms := now.UnixMilli()
	index = ms / per
	return index, time.Duration((index+1)*per-ms) * time.Millisecond
}

// Grant is what a connection's token allows, as the store enforces it. The
// zero Grant (a stack without tokens) allows everything.
type Grant struct {
	// Granted says a token was presented: Create and Rooms apply.
	Granted bool
	// Create allows creating rooms.
	Create bool
	// Rooms, if not empty, are the only rooms the connection may enter.
	Rooms []string
	// PinnedName, if set, is the only user name the connection may use
	// (PinnedKey is its comparison key).
	PinnedName, PinnedKey string
}

// New returns a Store on table name through client, with default settings.
func New(client Client, table string) *Store {
	return &Store{
		client:           client,
		table:            table,
		Now:              time.Now,
		NewRoomID:        newUUID,
		NewParticipantID: func(string) (string, error) { return newUUID() },
		Random:           crand.Reader,
		ConnectionTTL:    DefaultConnectionTTL,
		RoomTTL:          DefaultRoomTTL,
		MaxAttempts:      6,
		Backoff:          JitteredBackoff(10*time.Millisecond, 250*time.Millisecond),
	}
}

func newUUID() (string, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// JitteredBackoff is the store's backoff between attempts: full jitter
// (see retry.FullJitter).
func JitteredBackoff(base, limit time.Duration) func(attempt int) time.Duration {
	return retry.FullJitter(base, limit)
}
