package dynamotest

import (
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// record is the union of the attributes of every item kind in the table.
type record struct {
	PK            string `dynamodbav:"pk"`
	SK            string `dynamodbav:"sk"`
	Kind          string `dynamodbav:"kind"`
	ConnectionID  string `dynamodbav:"connectionID"`
	ParticipantID string `dynamodbav:"participantID"`
	RoomID        string `dynamodbav:"roomID"`
	UserName      string `dynamodbav:"userName"`
	NameKey       string `dynamodbav:"nameKey"`
	ID            string `dynamodbav:"id"`
	Room          string `dynamodbav:"room"` // a connection's room, or a marker's
	Capacity      int    `dynamodbav:"capacity"`
	Members       int    `dynamodbav:"members"`
	Version       int64  `dynamodbav:"version"`
	ExpiresAt     int64  `dynamodbav:"expiresAt"`
	AwayUntil     int64  `dynamodbav:"awayUntil"`
	Away          int    `dynamodbav:"away"`
	MovedTo       string `dynamodbav:"movedTo"`
	SubID         string `dynamodbav:"subID"`
	Subs          int    `dynamodbav:"subs"`
	Endpoint      string `dynamodbav:"endpoint"`
	P256dh        string `dynamodbav:"p256dh"`
	Auth          string `dynamodbav:"auth"`
}

// Violations scans the table and returns every broken invariant, sorted:
//
//   - every connection's room exists;
//   - a connection is in a room exactly when its room's partition holds its
//     member item (keyed by its participant), and the member item says the
//     same room, participant and name;
//   - every room's member count equals its member items, and is within
//     capacity; its version is at least its member count (every member
//     was added by a change that incremented it); its away count equals
//     its members that are away, and a member is away exactly when its
//     connection is, until the same time;
//   - a connection a resume replaced (a tombstone) is in no room and
//     names a connection of its participant;
//   - every member with a user name owns the marker of that name in its room;
//   - every name marker belongs to a member of that room with that name (no
//     marker without its owner);
//   - no connection is in two rooms (one connection item, one member item,
//     and at most one marker per connection);
//   - every room's subscription count equals its push subscription items,
//     and every subscription is in the partition of a room that exists,
//     with a participant, an endpoint and keys;
//   - every item has a known kind and key form (room items, members and
//     markers in their room's partition, held signals in their
//     connection's);
//   - every item has a TTL (expiresAt), so nothing outlives a lost
//     $disconnect forever.
func (db *DB) Violations(t testing.TB) []string {
	t.Helper()
	var bad []string
	conns := map[string]record{}
	rooms := map[string]record{}
	var markers []record
	members := map[string]record{}  // by connection ID
	memberItems := map[string]int{} // by room ID
	subItems := map[string]int{}    // by room ID
	for key, item := range db.Items(t) {
		var r record
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			bad = append(bad, key+": undecodable: "+err.Error())
			continue
		}
		switch {
		case r.Kind == "connection" && key == ConnectionKey(r.ConnectionID):
			conns[r.ConnectionID] = r
		case r.Kind == "room" && key == RoomKey(r.ID):
			rooms[r.ID] = r
		case r.Kind == "userName" && key == NameKey(r.Room, r.NameKey):
			markers = append(markers, r)
		case r.Kind == "member" && key == MemberKey(r.RoomID, r.ParticipantID):
			if _, dup := members[r.ConnectionID]; dup {
				bad = append(bad, "connection "+r.ConnectionID+" has member items in two rooms")
			}
			members[r.ConnectionID] = r
			memberItems[r.RoomID]++
		case r.Kind == "subscription" && key == SubKey(r.RoomID, r.SubID):
			subItems[r.RoomID]++
			if r.ParticipantID == "" || r.Endpoint == "" || r.P256dh == "" || r.Auth == "" {
				bad = append(bad, key+": a push subscription without its participant, endpoint or keys")
			}
		case r.Kind == "held" && strings.HasPrefix(key, ItemKey("connectionID#"+r.ConnectionID, "held#")):
			// A signal held for an away connection: it outlives the
			// connection (read once, removed by TTL).
		default:
			bad = append(bad, key+": unknown item kind "+r.Kind)
		}
		if r.ExpiresAt <= 0 {
			bad = append(bad, key+": no expiresAt (TTL)")
		}
	}
	count := map[string]int{}
	away := map[string]int{}
	for id, m := range members {
		if c, ok := conns[id]; !ok || c.Room != m.RoomID || c.UserName != m.UserName || c.NameKey != m.NameKey || c.ParticipantID != m.ParticipantID ||
			c.AwayUntil != m.AwayUntil {
			bad = append(bad, "member item "+MemberKey(m.RoomID, m.ParticipantID)+" does not match its connection "+id)
		}
		if m.AwayUntil != 0 {
			away[m.RoomID]++
		}
	}
	for id, c := range conns {
		if c.MovedTo == "" {
			continue
		}
		if c.Room != "" || c.AwayUntil != 0 {
			bad = append(bad, "connection "+id+" was replaced by "+c.MovedTo+" but is still in room "+c.Room)
		}
		if next, ok := conns[c.MovedTo]; ok && next.ParticipantID != c.ParticipantID {
			bad = append(bad, "connection "+id+" was replaced by "+c.MovedTo+", another participant's")
		}
	}
	for id, c := range conns {
		if c.Room == "" {
			if c.UserName != "" {
				bad = append(bad, "connection "+id+" has a user name outside any room")
			}
			continue
		}
		count[c.Room]++
		if _, ok := rooms[c.Room]; !ok {
			bad = append(bad, "connection "+id+" is in missing room "+c.Room)
		}
		if _, ok := members[id]; !ok {
			bad = append(bad, "connection "+id+" is in room "+c.Room+" without a member item")
		}
	}
	for id, r := range rooms {
		if r.Members != count[id] || r.Members != memberItems[id] {
			bad = append(bad, "room "+id+" counts "+strconv.Itoa(r.Members)+" members but has "+strconv.Itoa(count[id])+
				" connections and "+strconv.Itoa(memberItems[id])+" member items in it")
		}
		if r.Members < 0 || r.Members > r.Capacity {
			bad = append(bad, "room "+id+" has "+strconv.Itoa(r.Members)+" members for capacity "+strconv.Itoa(r.Capacity))
		}
		if r.Away != away[id] {
			bad = append(bad, "room "+id+" counts "+strconv.Itoa(r.Away)+" members away but has "+strconv.Itoa(away[id]))
		}
		if r.Subs != subItems[id] {
			bad = append(bad, "room "+id+" counts "+strconv.Itoa(r.Subs)+" push subscriptions but has "+strconv.Itoa(subItems[id]))
		}
		if r.Version < int64(r.Members) {
			bad = append(bad, "room "+id+" has version "+strconv.FormatInt(r.Version, 10)+" below its "+strconv.Itoa(r.Members)+" members")
		}
	}
	for id, n := range subItems {
		if _, ok := rooms[id]; !ok {
			bad = append(bad, "room "+id+" is missing but holds "+strconv.Itoa(n)+" push subscriptions")
		}
	}
	owned := map[string]int{}
	for _, m := range markers {
		owned[m.ConnectionID]++
		c, ok := conns[m.ConnectionID]
		if !ok || c.Room != m.Room || c.NameKey != m.NameKey || c.ParticipantID != m.ParticipantID {
			bad = append(bad, "marker "+NameKey(m.Room, m.NameKey)+" has no owner (connection "+m.ConnectionID+")")
		}
	}
	for id, c := range conns {
		want := 0
		if c.Room != "" && c.UserName != "" {
			want = 1
		}
		if owned[id] != want {
			bad = append(bad, "connection "+id+" owns "+strconv.Itoa(owned[id])+" name markers, want "+strconv.Itoa(want))
		}
	}
	sort.Strings(bad)
	return bad
}

// CheckInvariants fails the test with every violation Violations finds.
func CheckInvariants(t testing.TB, db *DB) {
	t.Helper()
	if bad := db.Violations(t); len(bad) > 0 {
		t.Errorf("table invariants broken:\n  %s", strings.Join(bad, "\n  "))
	}
}

// String renders an attribute value for failure messages.
func String(v types.AttributeValue) string {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	case nil:
		return "<absent>"
	default:
		return "<non-scalar>"
	}
}
