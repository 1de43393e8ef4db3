package dynamo

import (
	"errors"
	"fmt"
	"time"
)

// Domain errors returned by Store methods. Callers compare with errors.Is; any
// other error is an infrastructure failure (DynamoDB unreachable, throttled
// beyond the retry budget, ...) and carries its cause chain.
var (
	// ErrConnectionNotFound: the connection has no item (it never connected,
	// has disconnected, or its TTL has passed).
	ErrConnectionNotFound = errors.New("connection not found")
	// ErrRoomNotFound: no room with that ID, or it expired.
	ErrRoomNotFound = errors.New("room not found")
	// ErrRoomFull: the room's member count has reached its capacity.
	ErrRoomFull = errors.New("room is full")
	// ErrAlreadyInRoom: the connection is a member of a room already.
	ErrAlreadyInRoom = errors.New("connection is already in a room")
	// ErrNotInRoom: the connection is not a member of any room.
	ErrNotInRoom = errors.New("connection is not in a room")
	// ErrNameTaken: another member of the room uses that user name.
	ErrNameTaken = errors.New("user name is taken in this room")
	// ErrConnectionExists: a connection item with that ID exists already.
	ErrConnectionExists = errors.New("connection already recorded")
	// ErrContention: the operation kept losing races (transaction conflicts or
	// concurrent changes to the same items) until its retry budget ran out.
	ErrContention = errors.New("too much contention, retry budget exhausted")
	// ErrRoomIDCollision: every generated room ID collided with an existing
	// room; with 122-bit random IDs this means the ID source is broken.
	ErrRoomIDCollision = errors.New("could not generate a unique room id")
)

// Refusals of the per-connection limits and of a connection's grant (see
// Limits and Grant).
var (
	// ErrRoomLimit: the connection has created Limits.RoomsPerConnection
	// rooms already.
	ErrRoomLimit = errors.New("this connection has created as many rooms as it may")
	// ErrCreateNotAllowed: the connection's grant does not allow creating
	// rooms.
	ErrCreateNotAllowed = errors.New("the connection's token does not allow creating rooms")
	// ErrRoomNotAllowed: the connection's grant names the rooms it may
	// enter, and not this one.
	ErrRoomNotAllowed = errors.New("the connection's token does not allow this room")
	// ErrAbusive: the connection kept sending after it was rate limited
	// (Limits.AbuseAfter refusals in one window); the caller should close
	// it.
	ErrAbusive = errors.New("the connection keeps sending past its rate limit")
)

// Refusals of Subscribe.
var (
	// ErrNotMember: the connection is not a member of the room it
	// subscribes to (only members may follow a room).
	ErrNotMember = errors.New("the connection is not a member of this room")
	// ErrRoomSubscriptions: the room holds Limits.SubscriptionsPerRoom push
	// subscriptions already.
	ErrRoomSubscriptions = errors.New("the room has as many push subscriptions as it may")
	// ErrSubscribeLimit: the connection has subscribed
	// Limits.SubscribesPerConnection times already.
	ErrSubscribeLimit = errors.New("this connection has subscribed as many times as it may")
)

// RateLimitedError says that a connection went over one of its rates
// (Limits.Moves, Limits.Messages) and when it may try again.
type RateLimitedError struct {
	// What is limited: "messages" or "enters and leaves".
	What string
	// RetryAfter is how long until the current window ends.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many %s; retry after %v", e.What, e.RetryAfter)
}

// NamePinnedError says that the connection's grant pins its user name, and
// to what: the enter used another name, or none.
type NamePinnedError struct {
	// Name is the name the grant allows, as the token gives it.
	Name string
}

func (e *NamePinnedError) Error() string {
	return fmt.Sprintf("the connection's token pins the user name %q", e.Name)
}
