package dynamo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
)

// TombstoneTTL is how long the item of a connection that a resume replaced
// is kept: relays addressed to its old ID in the meantime follow it to the
// new connection (see Relay), and its late $disconnect finds it and does
// nothing.
const TombstoneTTL = 10 * time.Minute

// ErrSessionExpired: a resume token that does not resume anything: its
// participant's window passed, it was used already, its connection left
// its room or never was in one, or its secret is wrong. (Which one is not
// told: a token is a credential.)
var ErrSessionExpired = errors.New("the session cannot be resumed: it expired, was resumed already, or the token is not valid")

// SessionExpiredError is ErrSessionExpired with the seat whose window
// passed, when that is why (Seat.RoomID is empty otherwise): the caller
// frees it and tells its room, since nobody else may have yet.
type SessionExpiredError struct {
	Seat Member
}

func (e *SessionExpiredError) Error() string { return ErrSessionExpired.Error() }
func (e *SessionExpiredError) Is(target error) bool {
	return target == ErrSessionExpired
}

// Resumed is the outcome of a Resume.
type Resumed struct {
	// Member is the seat, now at the new connection.
	Member
	// Previous is the connection the participant was at.
	Previous string
	// ResumeToken is the participant's next token: the one used is spent.
	ResumeToken string
	// WasAway tells whether the previous connection had closed (its
	// $disconnect, or a 410, made it away); if not, it may still be open
	// and the caller should close it.
	WasAway bool
	// Held is how many signals were held for the participant while it was
	// away (see Hold and Held).
	Held int
}

// Resume moves a participant to a new connection, in its seat: the holder
// of the participant's resume token, connected as connectionID (fresh, in
// no room), takes over the seat, the user name and the per-connection
// state (grant, limits' counters) of the connection the token was issued
// to, whether that one has closed (within its window: away) or is still
// open (a client that moved to another network before API Gateway noticed,
// or that reconnects ahead of the 2-hour cut). It reads both connections
// (two GetItems, in parallel), then ONE transaction:
//
//  1. Put the new connection: the previous one's participant, membership,
//     grant and counters, its own ID, connection time and expiry, and the
//     next token's hash; if it is still the fresh connection read (same
//     connectedAt, in no room, not replaced);
//  2. Put the previous connection as a tombstone (movedTo: the new one,
//     expiring TombstoneTTL later), if it still holds the token's hash, the
//     membership read, the away state read and the held signals read, so
//     that a token is spent once and a signal held meanwhile is not lost;
//  3. Update the member item: the new connection, its liveness and expiry,
//     not away; if it is still the previous connection's;
//  4. Update the name marker (if a name): the new connection and expiry,
//     if it is the participant's;
//  5. Update the room: increment version (a change the room is told of),
//     renew its expiry, and take the participant off the away count.
//
// A room or marker already gone (TTL, a broken invariant) is dropped from
// the transaction (see commitDropping). A change since the reads is read again.
// Returns *SessionExpiredError (errors.Is ErrSessionExpired) for a token
// that resumes nothing, ErrBadResumeToken for one of the wrong shape,
// ErrConnectionNotFound (the new connection), ErrAlreadyInRoom (the new
// connection is in a room), ErrContention.
func (s *Store) Resume(ctx context.Context, connectionID, token string) (Resumed, error) {
	prevID, secret, err := parseResumeToken(token)
	if err != nil {
		return Resumed{}, err
	}
	if prevID == connectionID {
		return Resumed{}, &SessionExpiredError{}
	}
	var out Resumed
	err = s.retryStale(ctx, func() error {
		now := s.Now()
		var (
			wg        sync.WaitGroup
			prev, cur connectionItem
			prevLive  bool
			prevErr   error
		)
		wg.Go(func() { prev, prevLive, prevErr = s.getConnection(ctx, prevID) })
		cur, err := s.readConnection(ctx, connectionID)
		wg.Wait()
		switch {
		case err != nil:
			return err
		case prevErr != nil && !errors.Is(prevErr, ErrConnectionNotFound):
			return prevErr
		case cur.RoomID != "":
			return ErrAlreadyInRoom
		}
		if seat, ok := resumable(prev, prevErr == nil && prevLive, secret, now); !ok {
			return &SessionExpiredError{Seat: seat}
		}
		next, hash, err := newResumeToken(s.Random, connectionID)
		if err != nil {
			return err
		}
		if err := s.resume(ctx, now, prev, cur, hash); err != nil {
			return err
		}
		m := prev.membership()
		m.ConnectionID, m.AwayUntil = connectionID, time.Time{}
		out = Resumed{Member: m, Previous: prevID, ResumeToken: next, WasAway: prev.AwayUntil != 0, Held: prev.PendingSeq}
		return nil
	})
	return out, err
}

// resumable reports whether prev (live: it exists and its TTL has not
// passed) is a connection the token's secret resumes: not replaced, holding
// the secret's hash, in a room, and, if away, within its window. When its
// window has passed, seat is its membership (to be freed).
func resumable(prev connectionItem, live bool, secret []byte, now time.Time) (seat Member, ok bool) {
	switch {
	case !live || prev.MovedTo != "" || prev.RoomID == "" || !secretMatches(secret, prev.ResumeHash):
		return Member{}, false
	case prev.AwayUntil != 0 && prev.AwayUntil <= now.UnixMilli():
		return prev.membership(), false
	}
	return Member{}, true
}

// resume runs Resume's transaction (see there) for the connections read as
// prev and cur, with hash the next token's.
func (s *Store) resume(ctx context.Context, now time.Time, prev, cur connectionItem, hash string) error {
	moved := prev
	moved.ConnectionID, moved.ConnectedAt, moved.ExpiresAt = cur.ConnectionID, cur.ConnectedAt, cur.ExpiresAt
	moved.ResumeHash, moved.AwayUntil, moved.PendingSeq, moved.PendingBytes = hash, 0, 0, 0
	k := connectionKey(cur.ConnectionID)
	moved.PK, moved.SK = k.pk, k.sk
	movedItem, err := attributevalue.MarshalMap(moved)
	if err != nil {
		return fmt.Errorf("marshal connection: %w", err)
	}
	pk := connectionKey(prev.ConnectionID)
	tomb, err := attributevalue.MarshalMap(connectionItem{
		PK: pk.pk, SK: pk.sk, Kind: kindConnection, ConnectionID: prev.ConnectionID, ParticipantID: prev.ParticipantID,
		ConnectedAt: prev.ConnectedAt, ExpiresAt: now.Add(TombstoneTTL).Unix(), MovedTo: cur.ConnectionID,
	})
	if err != nil {
		return fmt.Errorf("marshal tombstone: %w", err)
	}
	liveUntil := time.UnixMilli(cur.ConnectedAt).Add(s.ConnectionTTL).Unix()
	return s.commitDropping(ctx, func(t *tx, with optional) {
		t.put(movedItem, "#at = :at AND attribute_not_exists(#room) AND attribute_not_exists(#moved)",
			map[string]string{"#at": "connectedAt", "#room": "room", "#moved": "movedTo"}, av{":at": num(cur.ConnectedAt)},
			func(av) error { return errStale })

		cond := "#hash = :hash AND #room = :room AND #joined = :joined AND attribute_not_exists(#moved)"
		names := map[string]string{"#hash": "resumeHash", "#room": "room", "#joined": "joinedAt", "#moved": "movedTo",
			"#away": "awayUntil", "#seq": "pendingSeq"}
		vals := av{":hash": str(prev.ResumeHash), ":room": str(prev.RoomID), ":joined": num(prev.JoinedAt)}
		if prev.AwayUntil == 0 {
			cond += " AND attribute_not_exists(#away)"
		} else {
			cond += " AND #away = :away"
			vals[":away"] = num(prev.AwayUntil)
		}
		if prev.PendingSeq == 0 {
			cond += " AND attribute_not_exists(#seq)"
		} else {
			cond += " AND #seq = :seq"
			vals[":seq"] = num(int64(prev.PendingSeq))
		}
		t.put(tomb, cond, names, vals, func(av) error { return errStale })

		t.update(memberKey(prev.RoomID, prev.ParticipantID), "SET #conn = :new, #live = :live, #exp = :exp REMOVE #away", "#conn = :old",
			map[string]string{"#conn": "connectionID", "#live": "liveUntil", "#exp": TTLAttribute, "#away": "awayUntil"},
			av{":new": str(cur.ConnectionID), ":old": str(prev.ConnectionID), ":live": num(liveUntil),
				":exp": num(liveUntil + int64(s.RoomTTL/time.Second))},
			func(av) error { return errStale })
		if with.marker && prev.NameKey != "" {
			t.update(markerKey(prev.RoomID, prev.NameKey), "SET #conn = :new, #exp = :exp", "#pid = :pid",
				map[string]string{"#conn": "connectionID", "#exp": TTLAttribute, "#pid": "participantID"},
				av{":new": str(cur.ConnectionID), ":exp": num(liveUntil), ":pid": str(prev.ParticipantID)},
				func(av) error { return errMarkerForeign })
		}
		if with.room {
			update := "SET #version = #version + :one, #exp = :exp"
			names := map[string]string{"#pk": KeyAttribute, "#version": "version", "#exp": TTLAttribute}
			vals := av{":one": num(1), ":exp": num(now.Add(s.RoomTTL).Unix())}
			if prev.AwayUntil != 0 {
				update += " ADD #away :minus"
				names["#away"], vals[":minus"] = "away", num(-1)
			}
			t.update(roomKey(prev.RoomID), update, "attribute_exists(#pk)", names, vals, func(av) error { return errRoomGone })
		}
	})
}
