package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fixture is a store on a fresh emulator with a controllable clock.
type fixture struct {
	db    *dynamotest.DB
	store *dynamo.Store
	now   time.Time
	// tokens are the resume tokens issued to the connections.
	tokens map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{db: dynamotest.New(t), now: t0, tokens: map[string]string{}}
	f.store = dynamo.New(f.db.Client, f.db.Table)
	f.store.Now = func() time.Time { return f.now }
	f.store.Backoff = func(int) time.Duration { return time.Millisecond }
	dynamotest.Predictable(f.store)
	return f
}

// member names the seat of a connection that entered room (with the
// fixture's participant IDs).
func member(room, connectionID string) dynamo.Member {
	return dynamo.Member{RoomID: room, ParticipantID: "p-" + connectionID, ConnectionID: connectionID}
}

func (f *fixture) connect(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		p, err := f.store.PutConnection(context.Background(), id, f.now, dynamo.Grant{})
		if err != nil {
			t.Fatalf("PutConnection(%s): %v", id, err)
		}
		f.tokens[id] = p.ResumeToken
	}
}

func (f *fixture) room(t *testing.T, creator string, capacity int) string {
	t.Helper()
	r, err := f.store.CreateRoom(context.Background(), creator, capacity)
	if err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	return r.ID
}

func (f *fixture) enter(t *testing.T, conn, room, name string) {
	t.Helper()
	if _, err := f.store.Enter(context.Background(), conn, room, name, name); err != nil {
		t.Fatalf("Enter(%s, %s, %q): %v", conn, room, name, err)
	}
}

func TestPutConnection(t *testing.T) {
	f := newFixture(t)
	p, err := f.store.PutConnection(context.Background(), "c1", f.now, dynamo.Grant{})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "p-c1" || p.ResumeToken == "" {
		t.Errorf("participant %+v, want p-c1 with a resume token", p)
	}
	_, secret, _ := strings.Cut(p.ResumeToken, ".")
	for name, v := range f.db.Items(t)[dynamotest.ConnectionKey("c1")] {
		if s, ok := v.(*types.AttributeValueMemberS); ok && len(secret) > 8 && strings.Contains(s.Value, secret) {
			t.Errorf("the connection item keeps the resume token's secret in %s", name)
		}
	}
	got, err := f.store.Connection(context.Background(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	want := dynamo.Connection{ID: "c1", ParticipantID: "p-c1", ConnectedAt: t0}
	if !got.ConnectedAt.Equal(want.ConnectedAt) || got.ID != want.ID || got.ParticipantID != want.ParticipantID || got.RoomID != "" {
		t.Errorf("Connection = %+v, want %+v", got, want)
	}
	item := f.db.Items(t)[dynamotest.ConnectionKey("c1")]
	if got, want := item["expiresAt"], t0.Add(dynamo.DefaultConnectionTTL).Unix(); fmt.Sprint(got) != fmt.Sprint(num(want)) {
		t.Errorf("expiresAt = %v, want %d", got, want)
	}
	// The SDK resends a PutItem whose response was lost: the same
	// connection again is accepted, another one with its ID is not.
	if _, err := f.store.PutConnection(context.Background(), "c1", t0, dynamo.Grant{}); err != nil {
		t.Errorf("repeated PutConnection error = %v, want nil", err)
	}
	if _, err := f.store.PutConnection(context.Background(), "c1", t0.Add(time.Second), dynamo.Grant{}); !errors.Is(err, dynamo.ErrConnectionExists) {
		t.Errorf("PutConnection of another connection with that ID: error = %v, want ErrConnectionExists", err)
	}
	room := f.room(t, "c1", 2)
	f.enter(t, "c1", room, "")
	if _, err := f.store.PutConnection(context.Background(), "c1", t0, dynamo.Grant{}); !errors.Is(err, dynamo.ErrConnectionExists) {
		t.Errorf("PutConnection of a connection in a room: error = %v, want ErrConnectionExists", err)
	}
}

func TestConnectionExpired(t *testing.T) {
	f := newFixture(t)
	f.connect(t, "c1")
	f.now = t0.Add(dynamo.DefaultConnectionTTL)
	if _, err := f.store.Connection(context.Background(), "c1"); !errors.Is(err, dynamo.ErrConnectionNotFound) {
		t.Errorf("Connection after TTL: error = %v, want ErrConnectionNotFound", err)
	}
}

func TestCreateRoom(t *testing.T) {
	f := newFixture(t)
	f.connect(t, "c1")
	r, err := f.store.CreateRoom(context.Background(), "c1", 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ID) != 36 || r.Capacity != 4 || r.Members != 0 {
		t.Errorf("CreateRoom = %+v, want a UUID room of capacity 4 and no members", r)
	}
	got, err := f.store.Room(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != r.ID || got.Capacity != 4 {
		t.Errorf("Room = %+v, want %+v", got, r)
	}
}

func TestCreateRoomUnknownConnection(t *testing.T) {
	f := newFixture(t)
	before := f.db.Items(t)
	if _, err := f.store.CreateRoom(context.Background(), "ghost", 4); !errors.Is(err, dynamo.ErrConnectionNotFound) {
		t.Errorf("error = %v, want ErrConnectionNotFound", err)
	}
	assertUnchanged(t, f.db, before)
}

func TestCreateRoomIDCollision(t *testing.T) {
	tests := []struct {
		name    string
		ids     []string
		wantID  string
		wantErr error
	}{
		{"retries with a fresh id", []string{"taken", "fresh"}, "fresh", nil},
		{"gives up after three collisions", []string{"taken", "taken", "taken", "never"}, "", dynamo.ErrRoomIDCollision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.connect(t, "c1")
			f.store.NewRoomID = func() (string, error) { return "taken", nil }
			f.room(t, "c1", 2)
			next := tt.ids
			f.store.NewRoomID = func() (string, error) { id := next[0]; next = next[1:]; return id, nil }
			before := f.db.Items(t)
			r, err := f.store.CreateRoom(context.Background(), "c1", 2)
			if !errors.Is(err, tt.wantErr) || r.ID != tt.wantID {
				t.Fatalf("CreateRoom = %q, %v; want %q, %v", r.ID, err, tt.wantID, tt.wantErr)
			}
			if tt.wantErr != nil {
				assertUnchanged(t, f.db, before)
			}
		})
	}
}

func TestEnter(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, f *fixture, room string)
		conn    string
		room    string // "" means the fixture's room
		user    string
		wantErr error
	}{
		{name: "enters", conn: "c1"},
		{name: "enters with a name", conn: "c1", user: "alice"},
		{name: "unknown room", conn: "c1", room: "00000000-0000-4000-8000-000000000000", wantErr: dynamo.ErrRoomNotFound},
		{name: "expired room", conn: "c9", wantErr: dynamo.ErrRoomNotFound,
			setup: func(t *testing.T, f *fixture, room string) {
				f.now = t0.Add(dynamo.DefaultRoomTTL)
				f.connect(t, "c9")
			}},
		{name: "unknown connection", conn: "ghost", wantErr: dynamo.ErrConnectionNotFound},
		{name: "full room", conn: "c1", wantErr: dynamo.ErrRoomFull,
			setup: func(t *testing.T, f *fixture, room string) { f.enter(t, "c2", room, ""); f.enter(t, "c3", room, "") }},
		{name: "already in this room", conn: "c1", wantErr: dynamo.ErrAlreadyInRoom,
			setup: func(t *testing.T, f *fixture, room string) { f.enter(t, "c1", room, "") }},
		{name: "already in another room", conn: "c1", wantErr: dynamo.ErrAlreadyInRoom,
			setup: func(t *testing.T, f *fixture, room string) { f.enter(t, "c1", f.room(t, "c2", 2), "") }},
		{name: "name taken", conn: "c1", user: "alice", wantErr: dynamo.ErrNameTaken,
			setup: func(t *testing.T, f *fixture, room string) { f.enter(t, "c2", room, "alice") }},
		{name: "same name in another room is fine", conn: "c1", user: "alice",
			setup: func(t *testing.T, f *fixture, room string) { f.enter(t, "c2", f.room(t, "c2", 2), "alice") }},
		{name: "names are case sensitive", conn: "c1", user: "Alice",
			setup: func(t *testing.T, f *fixture, room string) { f.enter(t, "c2", room, "alice") }},
		{name: "full wins over name taken", conn: "c1", user: "alice", wantErr: dynamo.ErrRoomFull,
			setup: func(t *testing.T, f *fixture, room string) {
				f.enter(t, "c2", room, "alice")
				f.enter(t, "c3", room, "")
			}},
		{name: "already in room wins over full", conn: "c1", wantErr: dynamo.ErrAlreadyInRoom,
			setup: func(t *testing.T, f *fixture, room string) { f.enter(t, "c1", room, ""); f.enter(t, "c2", room, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.connect(t, "c1", "c2", "c3")
			room := f.room(t, "c1", 2)
			if tt.setup != nil {
				tt.setup(t, f, room)
			}
			if tt.room != "" {
				room = tt.room
			}
			before := f.db.Items(t)
			m, err := f.store.Enter(context.Background(), tt.conn, room, tt.user, tt.user)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Enter error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				assertUnchanged(t, f.db, before)
				return
			}
			want := dynamo.Member{RoomID: room, ParticipantID: "p-" + tt.conn, ConnectionID: tt.conn, UserName: tt.user, NameKey: tt.user, JoinedAt: f.now}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("Enter = %+v, want %+v", m, want)
			}
			c, err := f.store.Connection(context.Background(), tt.conn)
			if err != nil || c.RoomID != room || c.UserName != tt.user {
				t.Errorf("Connection after Enter = %+v, %v", c, err)
			}
			dynamotest.CheckInvariants(t, f.db)
		})
	}
}

func TestLeave(t *testing.T) {
	f := newFixture(t)
	f.connect(t, "c1", "c2")
	room := f.room(t, "c1", 2)
	f.enter(t, "c1", room, "alice")
	f.enter(t, "c2", room, "bob")

	m, err := f.store.Leave(context.Background(), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if m.RoomID != room || m.UserName != "alice" || m.ConnectionID != "c1" {
		t.Errorf("Leave = %+v", m)
	}
	dynamotest.CheckInvariants(t, f.db)
	if r, _ := f.store.Room(context.Background(), room); r.Members != 1 {
		t.Errorf("members after leave = %d, want 1", r.Members)
	}
	// The name is free again and the connection can enter again.
	f.connect(t, "c3")
	f.enter(t, "c3", room, "alice")
	if _, err := f.store.Enter(context.Background(), "c1", room, "alice", "alice"); !errors.Is(err, dynamo.ErrRoomFull) {
		t.Errorf("re-enter a full room: %v, want ErrRoomFull", err)
	}
	dynamotest.CheckInvariants(t, f.db)

	before := f.db.Items(t)
	if _, err := f.store.Leave(context.Background(), "c1"); !errors.Is(err, dynamo.ErrNotInRoom) {
		t.Errorf("second Leave: %v, want ErrNotInRoom", err)
	}
	if _, err := f.store.Leave(context.Background(), "ghost"); !errors.Is(err, dynamo.ErrConnectionNotFound) {
		t.Errorf("Leave of unknown connection: %v, want ErrConnectionNotFound", err)
	}
	assertUnchanged(t, f.db, before)
}

func TestLeaveSurvivesMissingRoom(t *testing.T) {
	f := newFixture(t)
	f.connect(t, "c1")
	room := f.room(t, "c1", 2)
	f.enter(t, "c1", room, "alice")
	f.db.Delete(t, dynamotest.RoomKey(room)) // a broken invariant must not trap the connection
	if _, err := f.store.Leave(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	dynamotest.CheckInvariants(t, f.db)
}

func TestDisconnect(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, f *fixture, room string)
		conn     string
		wantRoom bool
		wantName string
	}{
		{name: "in a room with a name", conn: "c1", wantRoom: true, wantName: "alice",
			setup: func(t *testing.T, f *fixture, room string) { f.enter(t, "c1", room, "alice") }},
		{name: "in a room without a name", conn: "c1", wantRoom: true,
			setup: func(t *testing.T, f *fixture, room string) { f.enter(t, "c1", room, "") }},
		{name: "in no room", conn: "c1"},
		{name: "unknown connection is a no-op", conn: "ghost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.connect(t, "c1", "c2")
			room := f.room(t, "c2", 3)
			f.enter(t, "c2", room, "bob")
			if tt.setup != nil {
				tt.setup(t, f, room)
			}
			for i := range 2 { // a repeated $disconnect is a no-op
				m, err := f.store.Disconnect(context.Background(), tt.conn)
				if err != nil {
					t.Fatalf("Disconnect #%d: %v", i+1, err)
				}
				wantRoom := ""
				if tt.wantRoom && i == 0 {
					wantRoom = room
				}
				if m.RoomID != wantRoom || (i == 0 && m.UserName != tt.wantName) {
					t.Errorf("Disconnect #%d = %+v, want room %q name %q", i+1, m, wantRoom, tt.wantName)
				}
			}
			if _, ok := f.db.Items(t)[dynamotest.ConnectionKey(tt.conn)]; ok {
				t.Error("connection item still stored")
			}
			if r, _ := f.store.Room(context.Background(), room); r.Members != 1 {
				t.Errorf("room members = %d, want 1 (bob)", r.Members)
			}
			dynamotest.CheckInvariants(t, f.db)
		})
	}
}

func TestRoster(t *testing.T) {
	f := newFixture(t)
	f.connect(t, "c1", "c2", "c3")
	room := f.room(t, "c1", 8)
	other := f.room(t, "c1", 8)
	f.enter(t, "c2", room, "bob")
	f.now = f.now.Add(time.Second)
	f.enter(t, "c1", room, "")
	f.enter(t, "c3", other, "carol")

	got, err := f.store.Roster(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	want := []dynamo.Member{
		{RoomID: room, ParticipantID: "p-c2", ConnectionID: "c2", UserName: "bob", NameKey: "bob", JoinedAt: t0},
		{RoomID: room, ParticipantID: "p-c1", ConnectionID: "c1", JoinedAt: t0.Add(time.Second)},
	}
	if !reflect.DeepEqual(got.Live, want) || len(got.Stale) != 0 {
		t.Errorf("Roster = %+v, want live %+v", got, want)
	}
	if got.Room.ID != room || got.Room.Capacity != 8 || got.Room.Members != 2 || got.Version() != 2 {
		t.Errorf("Roster.Room = %+v, want the room with 2 members at version 2", got.Room)
	}
	if !got.Has("c1") || got.Has("c3") {
		t.Errorf("Has(c1), Has(c3) = %v, %v; want true, false", got.Has("c1"), got.Has("c3"))
	}

	f.now = t0.Add(time.Second + dynamo.DefaultConnectionTTL) // members whose connection must be gone are stale
	if got, err := f.store.Roster(context.Background(), room); err != nil || len(got.Live) != 0 || len(got.Stale) != 2 {
		t.Errorf("Roster after TTL = %+v, %v; want both stale", got, err)
	}
	for _, id := range []string{"00000000-0000-4000-8000-000000000000", ""} {
		if got, err := f.store.Roster(context.Background(), id); err != nil || len(got.Live)+len(got.Stale) != 0 || got.Room.ID != "" {
			t.Errorf("Roster(%q) = %+v, %v; want an empty roster", id, got, err)
		}
	}
}

// TestVersionCountsMembershipChanges: every operation that adds or removes
// a member increments the room's version exactly once, in its transaction;
// refusals and operations on other rooms do not.
func TestVersionCountsMembershipChanges(t *testing.T) {
	f := newFixture(t)
	f.connect(t, "c1", "c2", "c3", "c4")
	room := f.room(t, "c1", 3)
	other := f.room(t, "c1", 3)
	ctx := context.Background()
	steps := []struct {
		name string
		op   func() error
		want int64
	}{
		{"enter c1", func() error { _, err := f.store.Enter(ctx, "c1", room, "alice", "alice"); return err }, 1},
		{"enter c2", func() error { _, err := f.store.Enter(ctx, "c2", room, "", ""); return err }, 2},
		{"refused: name taken", func() error {
			_, err := f.store.Enter(ctx, "c3", room, "alice", "alice")
			return ignore(err, dynamo.ErrNameTaken)
		}, 2},
		{"another room", func() error { _, err := f.store.Enter(ctx, "c4", other, "", ""); return err }, 2},
		{"leave c1", func() error { _, err := f.store.Leave(ctx, "c1"); return err }, 3},
		{"disconnect c2", func() error { _, err := f.store.Disconnect(ctx, "c2"); return err }, 4},
		{"enter c3", func() error { _, err := f.store.Enter(ctx, "c3", room, "", ""); return err }, 5},
		{"expel c3", func() error { _, err := f.store.Expel(ctx, member(room, "c3")); return err }, 6},
		{"expel c3 again", func() error { _, err := f.store.Expel(ctx, member(room, "c3")); return err }, 6},
	}
	for _, st := range steps {
		if err := st.op(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		r, err := f.store.Room(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		if r.Version != st.want {
			t.Errorf("after %s: version = %d, want %d", st.name, r.Version, st.want)
		}
	}
	dynamotest.CheckInvariants(t, f.db)
}

func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("no error, want %v", want)
	}
	return err
}

// TestEmptyRoomIDNeverReachesDynamoDB: an empty room ID is refused or
// answered without a call (DynamoDB rejects an empty key value).
func TestEmptyRoomIDNeverReachesDynamoDB(t *testing.T) {
	f := newFixture(t)
	f.connect(t, "c1")
	cc := &countingClient{Client: f.db.Client}
	store := dynamo.New(cc, f.db.Table)
	ctx := context.Background()
	if _, err := store.Enter(ctx, "c1", "", "", ""); !errors.Is(err, dynamo.ErrRoomNotFound) {
		t.Errorf("Enter: %v, want ErrRoomNotFound", err)
	}
	if _, err := store.Room(ctx, ""); !errors.Is(err, dynamo.ErrRoomNotFound) {
		t.Errorf("Room: %v, want ErrRoomNotFound", err)
	}
	if r, err := store.Roster(ctx, ""); err != nil || len(r.Live) != 0 {
		t.Errorf("Roster = %+v, %v; want empty", r, err)
	}
	if m, err := store.Expel(ctx, member("", "c1")); err != nil || m.RoomID != "" {
		t.Errorf("Expel = %+v, %v; want a no-op", m, err)
	}
	if cc.calls != 0 {
		t.Errorf("%d DynamoDB calls with an empty room ID, want 0", cc.calls)
	}
}

// countingClient counts the calls that reach DynamoDB.
type countingClient struct {
	dynamo.Client
	calls int
}

func (c *countingClient) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.calls++
	return c.Client.GetItem(ctx, in, optFns...)
}

func (c *countingClient) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.calls++
	return c.Client.Query(ctx, in, optFns...)
}

func (c *countingClient) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.calls++
	return c.Client.TransactWriteItems(ctx, in, optFns...)
}

func TestConnections(t *testing.T) {
	f := newFixture(t)
	f.connect(t, "c1", "c2")
	room := f.room(t, "c1", 2)
	f.enter(t, "c1", room, "alice")
	got, err := f.store.ConnectionsByID(context.Background(), "c1", "c2", "ghost", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["c1"].RoomID != room || got["c1"].UserName != "alice" || got["c2"].RoomID != "" {
		t.Errorf("Connections = %+v", got)
	}
}

// TestEnterRace is the capacity race in miniature (the reliability suite runs
// it at scale): concurrent joins never overfill a room.
func TestEnterRace(t *testing.T) {
	f := newFixture(t)
	const joiners, capacity = 30, 4
	ids := make([]string, joiners)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%02d", i)
	}
	f.connect(t, ids...)
	room := f.room(t, ids[0], capacity)
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[string]int{}
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("user%d", i)
			_, err := f.store.Enter(context.Background(), id, room, name, name)
			key := "ok"
			if err != nil {
				key = err.Error()
			}
			mu.Lock()
			results[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if results["ok"] != capacity || results["ok"]+results[dynamo.ErrRoomFull.Error()] != joiners {
		t.Errorf("results = %v, want %d ok and the rest room-full", results, capacity)
	}
	dynamotest.CheckInvariants(t, f.db)
}

// tokenClient makes the first transaction look cancelled by a conflict after
// the SDK filled its idempotency token, and records the token each later
// attempt arrives with.
type tokenClient struct {
	dynamo.Client
	calls    int
	arriving []*string
}

func (c *tokenClient) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.calls++
	c.arriving = append(c.arriving, in.ClientRequestToken)
	if c.calls == 1 {
		// Let the SDK fill the token without writing anything: a transaction
		// of one failing condition check.
		probe := *in
		probe.TransactItems = []types.TransactWriteItem{{ConditionCheck: &types.ConditionCheck{
			TableName: in.TransactItems[0].Put.TableName, Key: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "none"}, "sk": &types.AttributeValueMemberS{Value: "none"},
			},
			ConditionExpression: aws.String("attribute_exists(pk)"),
		}}}
		_, _ = c.Client.TransactWriteItems(ctx, &probe, optFns...)
		in.ClientRequestToken = probe.ClientRequestToken
		return nil, &types.TransactionCanceledException{CancellationReasons: []types.CancellationReason{{Code: aws.String("TransactionConflict")}, {Code: aws.String("None")}}}
	}
	return c.Client.TransactWriteItems(ctx, in, optFns...)
}

// TestRetryUsesAFreshToken: a transaction retried after a conflict is a new
// transaction, not a replay of the cancelled one under the same token.
func TestRetryUsesAFreshToken(t *testing.T) {
	f := newFixture(t)
	f.connect(t, "c1")
	tc := &tokenClient{Client: f.db.Client}
	store := dynamo.New(tc, f.db.Table)
	store.Backoff = func(int) time.Duration { return 0 }
	store.Now = f.store.Now
	if _, err := store.CreateRoom(context.Background(), "c1", 2); err != nil {
		t.Fatal(err)
	}
	if tc.calls != 2 || tc.arriving[1] != nil {
		t.Errorf("calls = %d, second attempt arrived with token %v; want 2 calls, the second without a token", tc.calls, tc.arriving)
	}
}

// TestRosterAndExpel: a member whose connection must be gone is listed as
// stale, and Expel gives its seat back whether or not its connection item
// still exists; expelling again, or a member that never was, is a no-op.
func TestRosterAndExpel(t *testing.T) {
	for _, connectionDeleted := range []bool{false, true} {
		t.Run(fmt.Sprintf("connection deleted %v", connectionDeleted), func(t *testing.T) {
			f := newFixture(t)
			f.connect(t, "c1", "ghost")
			room := f.room(t, "c1", 2)
			f.enter(t, "ghost", room, "casper")
			f.now = t0.Add(time.Hour)
			f.connect(t, "c2")
			f.enter(t, "c2", room, "")
			f.now = t0.Add(dynamo.DefaultConnectionTTL + time.Second)
			if connectionDeleted {
				f.db.Delete(t, dynamotest.ConnectionKey("ghost"))
			}
			r, err := f.store.Roster(context.Background(), room)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Live) != 1 || r.Live[0].ConnectionID != "c2" || len(r.Stale) != 1 || r.Stale[0].ConnectionID != "ghost" {
				t.Fatalf("Roster = %+v, want c2 live and ghost stale", r)
			}
			m, err := f.store.Expel(context.Background(), member(room, "ghost"))
			if err != nil || m.RoomID != room || m.UserName != "casper" {
				t.Fatalf("Expel = %+v, %v", m, err)
			}
			if got, _ := f.store.Room(context.Background(), room); got.Members != 1 {
				t.Errorf("members after Expel = %d, want 1", got.Members)
			}
			for _, k := range []string{dynamotest.ConnectionKey("ghost"), dynamotest.MemberKey(room, "p-ghost"), dynamotest.NameKey(room, "casper")} {
				if _, ok := f.db.Items(t)[k]; ok {
					t.Errorf("%s still stored", k)
				}
			}
			dynamotest.CheckInvariants(t, f.db)
			before := f.db.Items(t)
			for _, id := range []string{"ghost", "never"} {
				if m, err := f.store.Expel(context.Background(), member(room, id)); err != nil || m.RoomID != "" {
					t.Errorf("Expel(%s) again = %+v, %v; want a no-op", id, m, err)
				}
			}
			assertUnchanged(t, f.db, before)
		})
	}
}
