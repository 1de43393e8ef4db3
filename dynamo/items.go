package dynamo

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
)

// Connection is one WebSocket connection as the store knows it.
type Connection struct {
	ID string
	// ParticipantID is the participant the connection is (see Participant).
	ParticipantID string
	ConnectedAt   time.Time
	// RoomID is empty unless the connection is a member of a room; UserName
	// and JoinedAt are set only with it.
	RoomID   string
	UserName string
	JoinedAt time.Time
	// AwayUntil is set while the connection is closed but its participant
	// keeps its seat for a new connection to resume it (until then).
	AwayUntil time.Time
	// MovedTo is set on a connection that a resume replaced: the
	// connection its participant is at now.
	MovedTo string
}

// Room is a room's item.
type Room struct {
	ID        string
	Capacity  int
	Members   int
	CreatedAt time.Time
	// Version counts the membership changes of the room: every transaction
	// that adds or removes a member, or moves one to a new connection
	// (a resume), increments it, so a strongly consistent read that
	// returns version v has seen exactly the first v changes.
	Version int64
	// Away counts the members whose connection closed and whose seat is
	// held for a resume.
	Away int
	// Subs counts the room's push subscriptions (see Subscribe): an enter
	// into a room where it is 0 reads no subscriptions.
	Subs int
}

// Member is one connection's membership in a room: what Enter created, what
// Leave, Disconnect and Expel ended, and each entry of a Roster.
type Member struct {
	RoomID string
	// ParticipantID is who holds the seat (the member item's key);
	// ConnectionID, the connection it is reached at.
	ParticipantID string
	ConnectionID  string
	// UserName is the name as the member chose it (empty: none); NameKey
	// is the form names are compared in, unique within the room.
	UserName string
	NameKey  string
	JoinedAt time.Time
	// AwayUntil, when set, is when the seat of a member whose connection
	// closed is given up unless a new connection resumes it.
	AwayUntil time.Time
}

// connectionItem is the stored form of a Connection. Times are epoch
// milliseconds; expiresAt is epoch seconds (the TTL attribute's format).
type connectionItem struct {
	PK           string `dynamodbav:"pk"`
	SK           string `dynamodbav:"sk"`
	Kind         string `dynamodbav:"kind"`
	ConnectionID string `dynamodbav:"connectionID"`
	ConnectedAt  int64  `dynamodbav:"connectedAt"`
	ExpiresAt    int64  `dynamodbav:"expiresAt"`
	// The participant: its ID, and the hash of its resume token's secret.
	ParticipantID string `dynamodbav:"participantID"`
	ResumeHash    string `dynamodbav:"resumeHash,omitempty"`
	RoomID        string `dynamodbav:"room,omitempty"`
	UserName      string `dynamodbav:"userName,omitempty"`
	NameKey       string `dynamodbav:"nameKey,omitempty"`
	JoinedAt      int64  `dynamodbav:"joinedAt,omitempty"`

	// The grant of the connection's token (absent: a stack without tokens).
	Granted    bool     `dynamodbav:"granted,omitempty"`
	MayCreate  bool     `dynamodbav:"mayCreate,omitempty"`
	Rooms      []string `dynamodbav:"rooms,stringset,omitempty"`
	PinnedName string   `dynamodbav:"pinnedName,omitempty"` // as the token gives it
	PinnedKey  string   `dynamodbav:"pinnedKey,omitempty"`  // its comparison key

	// While in a room with its connection closed: when its seat is given
	// up (epoch milliseconds). After a resume: the connection that took
	// over (the item is a tombstone, kept for relays in flight).
	AwayUntil int64  `dynamodbav:"awayUntil,omitempty"`
	MovedTo   string `dynamodbav:"movedTo,omitempty"`
	// Signals held for it while away: the sequence number of the last one,
	// and their total size.
	PendingSeq   int `dynamodbav:"pendingSeq,omitempty"`
	PendingBytes int `dynamodbav:"pendingBytes,omitempty"`

	// The limits' counters (see Limits): rooms created, and the current
	// window (its index) and count of enters and leaves. Messages, and the
	// refused ones, are counted in attributes named after their window
	// (see chargeMessage), not decoded here.
	RoomsCreated int   `dynamodbav:"roomsCreated,omitempty"`
	MoveWindow   int64 `dynamodbav:"moveWindow,omitempty"`
	Moves        int   `dynamodbav:"moves,omitempty"`
	// Push subscriptions made (subscribe actions that succeeded).
	Subscribes int `dynamodbav:"subscribes,omitempty"`
}

// memberItem is a participant's seat in a room, in the room's partition,
// with the connection it is reached at.
type memberItem struct {
	PK            string `dynamodbav:"pk"`
	SK            string `dynamodbav:"sk"`
	Kind          string `dynamodbav:"kind"`
	RoomID        string `dynamodbav:"roomID"`
	ParticipantID string `dynamodbav:"participantID"`
	ConnectionID  string `dynamodbav:"connectionID"`
	UserName      string `dynamodbav:"userName,omitempty"`
	NameKey       string `dynamodbav:"nameKey,omitempty"`
	JoinedAt      int64  `dynamodbav:"joinedAt"`
	// LiveUntil is when the connection must be gone (ConnectionTTL after the
	// enter); ExpiresAt, the TTL, is RoomTTL later (see Expel).
	LiveUntil int64 `dynamodbav:"liveUntil"`
	ExpiresAt int64 `dynamodbav:"expiresAt"`
	// AwayUntil is the connection item's (epoch milliseconds): set while
	// the seat is held for a resume.
	AwayUntil int64 `dynamodbav:"awayUntil,omitempty"`
}

type roomItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Kind      string `dynamodbav:"kind"`
	ID        string `dynamodbav:"id"`
	Capacity  int    `dynamodbav:"capacity"`
	Members   int    `dynamodbav:"members"`
	Version   int64  `dynamodbav:"version"`
	CreatedAt int64  `dynamodbav:"createdAt"`
	CreatedBy string `dynamodbav:"createdBy"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
	Away      int    `dynamodbav:"away,omitempty"`
	Subs      int    `dynamodbav:"subs,omitempty"`
}

type nameItem struct {
	PK       string `dynamodbav:"pk"`
	SK       string `dynamodbav:"sk"`
	Kind     string `dynamodbav:"kind"`
	RoomID   string `dynamodbav:"room"`
	UserName string `dynamodbav:"userName"`
	NameKey  string `dynamodbav:"nameKey"`
	// ParticipantID owns the name; ConnectionID is the connection that
	// took it.
	ParticipantID string `dynamodbav:"participantID"`
	ConnectionID  string `dynamodbav:"connectionID"`
	ExpiresAt     int64  `dynamodbav:"expiresAt"`
}

// Values of the kind attribute.
const (
	kindConnection = "connection"
	kindRoom       = "room"
	kindName       = "userName"
	kindMember     = "member"
	kindSub        = "subscription"
)

func (c connectionItem) connection() Connection {
	return Connection{
		ID: c.ConnectionID, ParticipantID: c.ParticipantID, ConnectedAt: millis(c.ConnectedAt),
		RoomID: c.RoomID, UserName: c.UserName, JoinedAt: millis(c.JoinedAt),
		AwayUntil: millis(c.AwayUntil), MovedTo: c.MovedTo,
	}
}

// membership is the membership a connection item records (RoomID empty if
// none).
func (c connectionItem) membership() Member {
	return Member{RoomID: c.RoomID, ParticipantID: c.ParticipantID, ConnectionID: c.ConnectionID, UserName: c.UserName, NameKey: c.NameKey,
		JoinedAt: millis(c.JoinedAt), AwayUntil: millis(c.AwayUntil)}
}

func (m memberItem) member() Member {
	return Member{RoomID: m.RoomID, ParticipantID: m.ParticipantID, ConnectionID: m.ConnectionID, UserName: m.UserName, NameKey: m.NameKey,
		JoinedAt: millis(m.JoinedAt), AwayUntil: millis(m.AwayUntil)}
}

func (r roomItem) room() Room {
	return Room{ID: r.ID, Capacity: r.Capacity, Members: r.Members, CreatedAt: millis(r.CreatedAt), Version: r.Version, Away: r.Away, Subs: r.Subs}
}

func millis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// expired reports whether an item with TTL value expiresAt (epoch seconds) is
// dead at now, whether or not DynamoDB has deleted it yet.
func expired(expiresAt int64, now time.Time) bool { return expiresAt <= now.Unix() }

// decodeConnection unmarshals a stored connection; ok is false for a missing
// or expired one.
func decodeConnection(item av, now time.Time) (c connectionItem, ok bool, err error) {
	if len(item) == 0 {
		return c, false, nil
	}
	if err := attributevalue.UnmarshalMap(item, &c); err != nil {
		return c, false, err
	}
	return c, !expired(c.ExpiresAt, now), nil
}

func decodeRoom(item av, now time.Time) (r roomItem, ok bool, err error) {
	if len(item) == 0 {
		return r, false, nil
	}
	if err := attributevalue.UnmarshalMap(item, &r); err != nil {
		return r, false, err
	}
	return r, !expired(r.ExpiresAt, now), nil
}
