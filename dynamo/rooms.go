package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// roomIDAttempts bounds how often CreateRoom draws a new ID after a collision.
const roomIDAttempts = 3

// CreateRoom creates an empty room with the given capacity on behalf of a
// connection and returns it. ONE transaction: a Put of the room item
// conditioned on its key being new (the room item is the unique marker of its
// ID), and an Update of the creating connection that counts the room, if
// the connection exists, its grant allows creating rooms and it has created
// fewer than Limits.RoomsPerConnection. A colliding ID is replaced by a fresh
// one, at most 3 times, then ErrRoomIDCollision. Returns
// ErrConnectionNotFound, ErrCreateNotAllowed or ErrRoomLimit. The caller
// validates capacity.
func (s *Store) CreateRoom(ctx context.Context, connectionID string, capacity int) (Room, error) {
	errCollision := errors.New("room id collision")
	for range roomIDAttempts {
		id, err := s.NewRoomID()
		if err != nil {
			return Room{}, fmt.Errorf("new room id: %w", err)
		}
		now := s.Now()
		k := roomKey(id)
		r := roomItem{
			PK: k.pk, SK: k.sk, Kind: kindRoom, ID: id, Capacity: capacity,
			CreatedAt: now.UnixMilli(), CreatedBy: connectionID, ExpiresAt: now.Add(s.RoomTTL).Unix(),
		}
		item, err := attributevalue.MarshalMap(r)
		if err != nil {
			return Room{}, fmt.Errorf("marshal room: %w", err)
		}
		t := &tx{table: s.table}
		t.put(item, "attribute_not_exists(#pk)", map[string]string{"#pk": KeyAttribute}, nil,
			func(av) error { return errCollision })
		cond := "attribute_exists(#pk) AND #exp > :now AND (attribute_not_exists(#granted) OR #mayCreate = :true)"
		vals := av{":now": num(now.Unix()), ":true": boolean(true), ":one": num(1), ":zero": num(0)}
		if max := s.Limits.RoomsPerConnection; max > 0 {
			cond += " AND (attribute_not_exists(#created) OR #created < :max)"
			vals[":max"] = num(int64(max))
		}
		t.update(connectionKey(connectionID), "SET #created = if_not_exists(#created, :zero) + :one", cond,
			map[string]string{"#pk": KeyAttribute, "#exp": TTLAttribute, "#granted": "granted", "#mayCreate": "mayCreate", "#created": "roomsCreated"},
			vals, func(old av) error {
				c, ok, _ := decodeConnection(old, now)
				switch {
				case !ok:
					return ErrConnectionNotFound
				case c.Granted && !c.MayCreate:
					return ErrCreateNotAllowed
				}
				return ErrRoomLimit
			})
		err = s.commit(ctx, t)
		if errors.Is(err, errCollision) {
			continue
		}
		if err != nil {
			return Room{}, err
		}
		return r.room(), nil
	}
	return Room{}, ErrRoomIDCollision
}

// Room returns the room with that ID (one strongly consistent GetItem), or
// ErrRoomNotFound if it does not exist or expired (or the ID is empty, which
// costs no call).
func (s *Store) Room(ctx context.Context, roomID string) (Room, error) {
	if roomID == "" {
		return Room{}, ErrRoomNotFound
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: roomKey(roomID).av(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Room{}, fmt.Errorf("get room: %w", err)
	}
	r, ok, err := decodeRoom(out.Item, s.Now())
	if err != nil {
		return Room{}, fmt.Errorf("decode room: %w", err)
	}
	if !ok {
		return Room{}, ErrRoomNotFound
	}
	return r.room(), nil
}

// Enter makes a connection's participant a member of a room, optionally
// under a user name (shown as userName, unique within the room by its
// comparison key nameKey). It reads the connection (one GetItem: the
// participant keys the seat, and the rate window decides the update), then
// ONE transaction of up to four items, in this order:
//
//  1. Update the connection: set room, joinedAt and the name, and count the
//     enter against Limits.Moves, if it exists, is the participant read, is
//     in no room (ErrConnectionNotFound, ErrAlreadyInRoom), its grant allows
//     this room and this name (ErrRoomNotAllowed, *NamePinnedError), and it
//     is within its rate (*RateLimitedError);
//  2. Update the room: increment members and version and renew its expiry, if
//     it exists and members < capacity (ErrRoomNotFound, ErrRoomFull);
//  3. Put the member item (roomID#<room>, member#<participant>), if absent
//     (it cannot exist while item 1's condition holds; ErrAlreadyInRoom
//     otherwise);
//  4. Put the name marker (roomID#<room>, userName#<key>), if no live marker
//     exists (ErrNameTaken). Skipped without a user name.
//
// The error is that of the first failed condition in this order. Nothing is
// written unless everything is. A connection that changed since the read
// (another enter, a rate window that turned) is read again. Transaction
// conflicts are retried (ErrContention when they persist). An empty roomID is
// ErrRoomNotFound, without a call.
func (s *Store) Enter(ctx context.Context, connectionID, roomID, userName, nameKey string) (Member, error) {
	if roomID == "" {
		return Member{}, ErrRoomNotFound
	}
	var joined Member
	err := s.retryStale(ctx, func() error {
		now := s.Now()
		c, err := s.readConnection(ctx, connectionID)
		if err != nil {
			return err
		}
		if err := c.mayEnter(roomID, nameKey); err != nil {
			return err
		}
		sameWindow := false
		if rate := s.Limits.Moves; rate.N > 0 {
			window, left := rate.window(now)
			if sameWindow = c.MoveWindow == window; sameWindow && c.Moves >= rate.N {
				return &RateLimitedError{What: "enters and leaves", RetryAfter: left}
			}
		}
		if err := s.enter(ctx, now, c, roomID, userName, nameKey, sameWindow); err != nil {
			return err
		}
		joined = Member{RoomID: roomID, ParticipantID: c.ParticipantID, ConnectionID: connectionID,
			UserName: userName, NameKey: nameKey, JoinedAt: millis(now.UnixMilli())}
		return nil
	})
	return joined, err
}

// mayEnter returns why a connection read as c may not enter roomID under
// the name nameKey, or nil: in the order of Enter's conditions on it.
func (c connectionItem) mayEnter(roomID, nameKey string) error {
	switch {
	case c.RoomID != "":
		return ErrAlreadyInRoom
	case len(c.Rooms) > 0 && !slices.Contains(c.Rooms, roomID):
		return ErrRoomNotAllowed
	case c.PinnedKey != "" && c.PinnedKey != nameKey:
		return &NamePinnedError{Name: c.PinnedName}
	}
	return nil
}

// enter runs Enter's transaction for the connection read as c, whose last
// enter or leave was in this window of Limits.Moves (sameWindow) or an
// earlier one. A connection that no longer satisfies what was read is
// errStale.
func (s *Store) enter(ctx context.Context, now time.Time, c connectionItem, roomID, userName, nameKey string, sameWindow bool) error {
	joined := now.UnixMilli()
	expires := now.Add(s.ConnectionTTL).Unix()
	t := &tx{table: s.table}

	set := "SET #room = :room, #joined = :joined"
	cond := "attribute_exists(#pk) AND #exp > :now AND #pid = :pid AND attribute_not_exists(#room)" +
		" AND (attribute_not_exists(#rooms) OR contains(#rooms, :room))" +
		" AND (attribute_not_exists(#pinned) OR #pinned = :key)"
	vals := av{":room": str(roomID), ":joined": num(joined), ":now": num(now.Unix()), ":key": str(nameKey), ":pid": str(c.ParticipantID)}
	names := map[string]string{"#pk": KeyAttribute, "#exp": TTLAttribute, "#room": "room", "#joined": "joinedAt",
		"#rooms": "rooms", "#pinned": "pinnedKey", "#pid": "participantID"}
	if userName != "" {
		set += ", #name = :name, #key = :key"
		vals[":name"] = str(userName)
		names["#name"], names["#key"] = "userName", "nameKey"
	}
	rate := s.Limits.Moves
	if rate.N > 0 {
		window, _ := rate.window(now)
		names["#mw"], names["#mn"] = "moveWindow", "moves"
		vals[":w"] = num(window)
		if sameWindow {
			set += ", #mn = #mn + :one"
			cond += " AND #mw = :w AND #mn < :max"
			vals[":one"], vals[":max"] = num(1), num(int64(rate.N))
		} else {
			set += ", #mw = :w, #mn = :one"
			cond += " AND (attribute_not_exists(#mw) OR #mw <> :w)"
			vals[":one"] = num(1)
		}
	}
	t.update(connectionKey(c.ConnectionID), set, cond, names, vals, func(old av) error {
		cur, ok, _ := decodeConnection(old, now)
		if !ok {
			return ErrConnectionNotFound
		}
		if err := cur.mayEnter(roomID, nameKey); err != nil {
			return err
		}
		return errStale // another participant, or the rate window, changed
	})

	t.update(roomKey(roomID), "SET #members = #members + :one, #version = #version + :one, #exp = :exp",
		"attribute_exists(#pk) AND #exp > :now AND #members < #capacity",
		map[string]string{"#pk": KeyAttribute, "#exp": TTLAttribute, "#members": "members", "#capacity": "capacity", "#version": "version"},
		av{":one": num(1), ":now": num(now.Unix()), ":exp": num(now.Add(s.RoomTTL).Unix())},
		func(old av) error {
			if _, ok, _ := decodeRoom(old, now); !ok {
				return ErrRoomNotFound
			}
			return ErrRoomFull
		})

	mk := memberKey(roomID, c.ParticipantID)
	member, err := attributevalue.MarshalMap(memberItem{
		PK: mk.pk, SK: mk.sk, Kind: kindMember, RoomID: roomID, ParticipantID: c.ParticipantID, ConnectionID: c.ConnectionID,
		UserName: userName, NameKey: nameKey, JoinedAt: joined, LiveUntil: expires,
		// Kept past its connection's life so that a Roster finds it and
		// Expel can give its seat back even when its $disconnect was lost
		// and the connection item is already gone.
		ExpiresAt: now.Add(s.ConnectionTTL + s.RoomTTL).Unix(),
	})
	if err != nil {
		return fmt.Errorf("marshal member: %w", err)
	}
	t.put(member, "attribute_not_exists(#pk)", map[string]string{"#pk": KeyAttribute}, nil,
		func(av) error { return ErrAlreadyInRoom })

	if userName != "" {
		nk := markerKey(roomID, nameKey)
		marker, err := attributevalue.MarshalMap(nameItem{
			PK: nk.pk, SK: nk.sk, Kind: kindName, RoomID: roomID, UserName: userName, NameKey: nameKey,
			ParticipantID: c.ParticipantID, ConnectionID: c.ConnectionID, ExpiresAt: expires,
		})
		if err != nil {
			return fmt.Errorf("marshal name marker: %w", err)
		}
		t.put(marker, "attribute_not_exists(#pk) OR #exp <= :now",
			map[string]string{"#pk": KeyAttribute, "#exp": TTLAttribute}, av{":now": num(now.Unix())},
			func(av) error { return ErrNameTaken })
	}
	return s.commit(ctx, t)
}

// Leave takes a connection out of its room and keeps the connection. It reads
// the connection (one GetItem), then ONE transaction:
//
//  1. Put the connection back without room, userName and joinedAt, if it is
//     still in the membership it was read in;
//  2. Delete the member item;
//  3. Update the room: decrement members, increment version and renew its
//     expiry, if it exists and members > 0;
//  4. Delete the name marker, if it is absent or still this participant's.
//
// A room or marker that is already gone (a broken invariant, or TTL) does not
// keep the connection stuck: that item is dropped from the transaction and it
// is retried. A membership that changed since the read is re-read.
// Returns the membership that ended, ErrConnectionNotFound, ErrNotInRoom or
// ErrContention.
func (s *Store) Leave(ctx context.Context, connectionID string) (Member, error) {
	var left Member
	err := s.retryStale(ctx, func() error {
		c, err := s.readConnection(ctx, connectionID)
		if err != nil {
			return err
		}
		if c.RoomID == "" {
			return ErrNotInRoom
		}
		kept := c
		kept.RoomID, kept.UserName, kept.NameKey, kept.JoinedAt = "", "", "", 0
		if rate := s.Limits.Moves; rate.N > 0 {
			window, wait := rate.window(s.Now())
			switch {
			case c.MoveWindow != window:
				kept.MoveWindow, kept.Moves = window, 1
			case c.Moves >= rate.N:
				return &RateLimitedError{What: "enters and leaves", RetryAfter: wait}
			default:
				kept.Moves++
			}
		}
		left, err = s.leave(ctx, c, &kept)
		return err
	})
	return left, err
}

// leave runs the leave transaction for a connection read as c: the
// connection is rewritten as kept, or deleted if kept is nil. The rewrite is
// a whole Put rather than an update with REMOVE (which the embedded emulator
// ignores); its condition makes that safe: the membership and the rooms
// and subscribes counters are those read, and nothing else that matters changes meanwhile
// (a concurrent relay's message count may be overwritten by the one read a
// moment before).
func (s *Store) leave(ctx context.Context, c connectionItem, kept *connectionItem) (Member, error) {
	same := "#room = :room AND #joined = :joined"
	names := map[string]string{"#room": "room", "#joined": "joinedAt"}
	vals := av{":room": str(c.RoomID), ":joined": num(c.JoinedAt)}
	var item av
	if kept != nil {
		var err error
		if item, err = attributevalue.MarshalMap(kept); err != nil {
			return Member{}, fmt.Errorf("marshal connection: %w", err)
		}
		// The counters that change outside an enter or leave must not be
		// put back as they were read.
		for _, n := range []struct {
			attr string
			v    int
		}{{"roomsCreated", c.RoomsCreated}, {"subscribes", c.Subscribes}} {
			names["#"+n.attr] = n.attr
			if n.v > 0 {
				same += " AND #" + n.attr + " = :" + n.attr
				vals[":"+n.attr] = num(int64(n.v))
			} else {
				same += " AND attribute_not_exists(#" + n.attr + ")"
			}
		}
	}
	return s.endMembership(ctx, c.membership(), func(t *tx) {
		if kept == nil {
			t.delete(connectionKey(c.ConnectionID), same, names, vals, func(av) error { return errStale })
		} else {
			t.put(item, same, names, vals, func(av) error { return errStale })
		}
		t.delete(memberKey(c.RoomID, c.ParticipantID), "", nil, nil, nil)
	})
}

// endMembership runs ONE transaction that ends membership m: own adds the
// caller's items (the connection and the member item, each conditioned so
// that a change since they were read fails as errStale), then the room's
// decrement and version increment (if it exists and members > 0) and the
// delete of the name marker (if it is absent or still this participant's). A
// room that is missing or empty, or a marker another connection owns (a
// broken invariant, or TTL), must not keep the membership alive: that item is
// dropped and the transaction runs again. It returns m, or the transaction's
// error.
func (s *Store) endMembership(ctx context.Context, m Member, own func(t *tx)) (Member, error) {
	err := s.commitDropping(ctx, func(t *tx, with optional) {
		own(t)
		if with.room {
			update := "SET #members = #members - :one, #version = #version + :one, #exp = :exp"
			names := map[string]string{"#pk": KeyAttribute, "#members": "members", "#version": "version", "#exp": TTLAttribute}
			vals := av{":one": num(1), ":zero": num(0), ":exp": num(s.Now().Add(s.RoomTTL).Unix())}
			if !m.AwayUntil.IsZero() { // it no longer counts as away either
				update += " ADD #away :minus"
				names["#away"], vals[":minus"] = "away", num(-1)
			}
			t.update(roomKey(m.RoomID), update, "attribute_exists(#pk) AND #members > :zero", names, vals,
				func(av) error { return errRoomGone })
		}
		if with.marker && m.NameKey != "" {
			t.delete(markerKey(m.RoomID, m.NameKey), "attribute_not_exists(#pk) OR #pid = :pid",
				map[string]string{"#pk": KeyAttribute, "#pid": "participantID"}, av{":pid": str(m.ParticipantID)},
				func(av) error { return errMarkerForeign })
		}
	})
	if err != nil {
		return Member{}, err
	}
	return m, nil
}

// Roster is a strongly consistent read of a room: the room item and its
// members, live and stale. A live member is present, or away (its
// connection closed, AwayUntil set) within its window for a resume. A stale
// member still holds a seat (the room's count) until Expel, but must be
// gone: its connection has outlived API Gateway's 2-hour maximum although
// its $disconnect never removed it, or it went away and its window passed.
type Roster struct {
	// Room is the room item; its ID is empty if the room does not exist or
	// expired. Room.Version is the number of membership changes the read
	// has seen.
	Room        Room
	Live, Stale []Member
}

// Version is the room's version at the read (0 for a missing room).
func (r Roster) Version() int64 { return r.Room.Version }

// Has reports whether connectionID is the connection of a live member.
func (r Roster) Has(connectionID string) bool {
	for _, m := range r.Live {
		if m.ConnectionID == connectionID {
			return true
		}
	}
	return false
}

// Roster reads a room and its members, each list ordered by when they
// joined: ONE Query of the room's partition (roomID#<room>, sort keys up to
// "room": the member items and the room item, not the name markers) with
// ConsistentRead, so it sees every membership change committed before it
// started — a read that can decide who to tell, unlike a secondary index.
// A room is one page (the configuration caps rooms at 1,000 members, about
// 200 KB); more pages are read if DynamoDB returns them, each consistent on
// its own. An unknown room, or an empty roomID
// (no call), has no members.
func (s *Store) Roster(ctx context.Context, roomID string) (Roster, error) {
	var r Roster
	if roomID == "" {
		return r, nil
	}
	now := s.Now()
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		ConsistentRead:            aws.Bool(true),
		KeyConditionExpression:    aws.String("#pk = :pk AND #sk <= :room"),
		ExpressionAttributeNames:  map[string]string{"#pk": KeyAttribute, "#sk": SortAttribute},
		ExpressionAttributeValues: av{":pk": str(roomPrefix + roomID), ":room": str(roomSort)},
	}
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return Roster{}, fmt.Errorf("query room: %w", err)
		}
		for _, item := range out.Items {
			if kind, _ := item["kind"].(*types.AttributeValueMemberS); kind != nil && kind.Value == kindRoom {
				room, ok, err := decodeRoom(item, now)
				if err != nil {
					return Roster{}, fmt.Errorf("decode room: %w", err)
				}
				if ok {
					r.Room = room.room()
				}
				continue
			}
			var m memberItem
			if err := attributevalue.UnmarshalMap(item, &m); err != nil {
				return Roster{}, fmt.Errorf("decode member: %w", err)
			}
			if expired(m.LiveUntil, now) || (m.AwayUntil != 0 && m.AwayUntil <= now.UnixMilli()) {
				r.Stale = append(r.Stale, m.member())
			} else {
				r.Live = append(r.Live, m.member())
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	byJoin(r.Live)
	byJoin(r.Stale)
	return r, nil
}

func byJoin(members []Member) {
	sort.Slice(members, func(i, j int) bool {
		if !members[i].JoinedAt.Equal(members[j].JoinedAt) {
			return members[i].JoinedAt.Before(members[j].JoinedAt)
		}
		return members[i].ConnectionID < members[j].ConnectionID
	})
}

// Expel removes a member of a room whose connection is gone, whether or not
// its connection item still exists: a stale member (see Roster), or one that
// @connections reports gone. m names the seat (room and participant) and
// the connection it was found at: a seat that has moved to another
// connection since (a resume) is not expelled. It reads the member item (one
// GetItem); if there is none, or it is another connection's, it returns an
// empty Member and nil. Otherwise ONE transaction:
//
//  1. Delete the member item, if it is still the one read;
//  2. Delete the connection item, if it is absent or still in this
//     membership;
//  3. Update the room: decrement members and increment version, if it exists
//     and members > 0;
//  4. Delete the name marker, if it is absent or still this participant's.
//
// As in Leave, a room or marker already gone is dropped from the
// transaction. Returns the membership that ended, or ErrContention.
func (s *Store) Expel(ctx context.Context, m Member) (Member, error) {
	if m.RoomID == "" || m.ParticipantID == "" {
		return Member{}, nil
	}
	var left Member
	err := s.retryStale(ctx, func() error {
		out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.table), Key: memberKey(m.RoomID, m.ParticipantID).av(), ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return fmt.Errorf("get member: %w", err)
		}
		var cur memberItem
		if err := attributevalue.UnmarshalMap(out.Item, &cur); err != nil {
			return fmt.Errorf("decode member: %w", err)
		}
		if len(out.Item) == 0 || cur.ConnectionID != m.ConnectionID {
			left = Member{}
			return nil
		}
		left, err = s.expel(ctx, cur)
		return err
	})
	return left, err
}

func (s *Store) expel(ctx context.Context, m memberItem) (Member, error) {
	return s.endMembership(ctx, m.member(), func(t *tx) {
		t.delete(memberKey(m.RoomID, m.ParticipantID), "#conn = :conn",
			map[string]string{"#conn": "connectionID"}, av{":conn": str(m.ConnectionID)},
			func(av) error { return errStale })
		t.delete(connectionKey(m.ConnectionID), "attribute_not_exists(#pk) OR (#room = :room AND #joined = :joined)",
			map[string]string{"#pk": KeyAttribute, "#room": "room", "#joined": "joinedAt"},
			av{":room": str(m.RoomID), ":joined": num(m.JoinedAt)},
			func(av) error { return errStale })
	})
}
