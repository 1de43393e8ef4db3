package dynamo

import "errors"

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
