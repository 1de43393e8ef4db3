package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// This file is the code's side of the observability checks: what the
// function actually writes to its log. The router runs a session that
// produces every kind of line — successes, rejections, an internal error, a
// fan-out that finds a gone connection, a failed post, the internal
// "connected" event, a payload it cannot read — and the checks read the field
// names of the log lines and the metrics of the EMF lines it wrote. A query
// or alarm that names a field or metric the code does not write fails.

// observed is what the session wrote.
type observed struct {
	// fields are the field names of every JSON line, nested objects
	// flattened with dots as CloudWatch Logs Insights does (_aws.Timestamp).
	fields map[string]bool
	// metrics are the EMF metrics by name, with the dimension sets each was
	// written with (a set as its names joined by ",").
	metrics map[string]map[string]bool
	// namespaces are the EMF namespaces written.
	namespaces map[string]bool
	// lines are the log lines, for failure messages.
	lines []string
}

// metricsNamespace is the namespace of the session's metrics.
const metricsNamespace = "slsrtc-deploy-test"

// observe runs the session once and returns what it wrote.
var observe = sync.OnceValues(func() (*observed, error) {
	w := &testkit.LogBuffer{}
	store := newMemStore()
	sender := testkit.NewSender()
	invoker := &testkit.Invoker{}
	cfg := handlers.Config{TableName: "t", ConnectionsURL: "http://unused", DefaultCapacity: 3, MaxCapacity: 5,
		FanOutConcurrency: 4, MetricsNamespace: metricsNamespace, LogLevel: slog.LevelInfo}
	router := handlers.New(cfg, handlers.Deps{Store: store, Sender: sender, Invoker: invoker,
		Logger: slog.New(slog.NewJSONHandler(w, nil)), Metrics: w})

	seq := 0
	invoke := func(routeKey, eventType, conn, body string) error {
		seq++
		ev := events.APIGatewayWebsocketProxyRequest{Body: body, RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: routeKey, EventType: eventType, ConnectionID: conn, RequestID: fmt.Sprintf("req-%d", seq),
			ConnectedAt: time.Now().UnixMilli(), DisconnectStatusCode: 1001,
		}}
		payload, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("lambda-%d", seq)})
		if _, err := router.Invoke(ctx, payload); err != nil {
			return err
		}
		for _, p := range invoker.Take() { // the internal "connected" events
			if _, err := router.Invoke(ctx, p); err != nil {
				return err
			}
		}
		return nil
	}
	send := func(conn, body string) error {
		var sel struct{ Action string }
		_ = json.Unmarshal([]byte(body), &sel)
		route := sel.Action
		if !slices.Contains(handlers.RouteKeys(), route) {
			route = handlers.RouteDefault
		}
		return invoke(route, "MESSAGE", conn, body)
	}

	var errs []error
	do := func(err error) { errs = append(errs, err) }
	for _, c := range []string{"A", "B", "C", "G", "F"} {
		do(invoke(handlers.RouteConnect, "CONNECT", c, ""))
	}
	do(invoke(handlers.RouteConnect, "CONNECT", "broken", "")) // the store fails: an internal error
	do(send("A", `{"action":"createroom","capacity":4}`))
	room := store.lastRoom
	for _, c := range []string{"A", "B", "G", "F"} {
		do(send(c, fmt.Sprintf(`{"action":"enterroom","roomID":%q}`, room)))
	}
	do(send("C", fmt.Sprintf(`{"action":"enterroom","roomID":%q}`, room))) // room-full
	sender.SetGone("G")
	sender.SetFailing("F")
	do(send("A", `{"action":"message","dest":"B","type":"offer","message":"{}"}`)) // relayed
	do(send("A", `{"action":"message","dest":"C","type":"offer","message":"{}"}`)) // forbidden
	do(send("B", `{"action":"leaveroom"}`))                                        // fan-out: G gone, F fails
	do(send("A", `{"action":"ping"}`))
	do(send("A", `{"action":"dance"}`))
	do(send("A", `{"action":"{\"sdp\":\"v=0\"}"}`)) // an action that is content
	do(send("A", `{"action":"createroom","capacity":0}`))
	do(invoke(handlers.RouteDisconnect, "DISCONNECT", "A", ""))
	if _, err := router.Invoke(context.Background(), []byte("not an event")); err == nil {
		do(errors.New("an unrecognised payload was accepted"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}

	o := &observed{fields: map[string]bool{}, metrics: map[string]map[string]bool{}, namespaces: map[string]bool{}}
	for _, line := range bytes.Split(bytes.TrimSpace(w.Bytes()), []byte("\n")) {
		o.lines = append(o.lines, string(line))
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("log line %s: %w", line, err)
		}
		flatten("", m, o.fields)
		var emf struct {
			AWS *struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name string }
				}
			} `json:"_aws"`
		}
		if err := json.Unmarshal(line, &emf); err != nil || emf.AWS == nil {
			continue
		}
		for _, d := range emf.AWS.CloudWatchMetrics {
			o.namespaces[d.Namespace] = true
			for _, metric := range d.Metrics {
				if o.metrics[metric.Name] == nil {
					o.metrics[metric.Name] = map[string]bool{}
				}
				for _, set := range d.Dimensions {
					o.metrics[metric.Name][joinSorted(set)] = true
				}
			}
		}
	}
	return o, nil
})

// flatten adds the keys of m to fields, nested objects as parent.child.
func flatten(prefix string, m map[string]any, fields map[string]bool) {
	for k, v := range m {
		fields[prefix+k] = true
		if inner, ok := v.(map[string]any); ok {
			flatten(prefix+k+".", inner, fields)
		}
	}
}

// joinSorted joins a dimension set's names, sorted, with commas.
func joinSorted(names []string) string {
	s := slices.Clone(names)
	slices.Sort(s)
	out := ""
	for i, n := range s {
		if i > 0 {
			out += ","
		}
		out += n
	}
	return out
}

// memStore is an in-memory handlers.Store with the store's rules (see
// package dynamo), enough for the session: it is not the store under test.
// Connection "broken" cannot be recorded.
type memStore struct {
	mu       sync.Mutex
	conns    map[string]*dynamo.Connection
	rooms    map[string]int // capacity by room ID
	lastRoom string
	n        int
}

func newMemStore() *memStore {
	return &memStore{conns: map[string]*dynamo.Connection{}, rooms: map[string]int{}}
}

var _ handlers.Store = (*memStore)(nil)

var errThrottled = errors.New("ProvisionedThroughputExceededException: rate of requests exceeds the allowed throughput")

func (s *memStore) PutConnection(_ context.Context, id string, at time.Time, _ dynamo.Grant) (dynamo.Participant, error) {
	if id == "broken" {
		return dynamo.Participant{}, fmt.Errorf("operation error DynamoDB: PutItem: %w", errThrottled)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[id] = &dynamo.Connection{ID: id, ParticipantID: "p-" + id, ConnectedAt: at}
	return dynamo.Participant{ID: "p-" + id, ResumeToken: "token-" + id}, nil
}

func (s *memStore) CreateRoom(_ context.Context, id string, capacity int) (dynamo.Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns[id] == nil {
		return dynamo.Room{}, dynamo.ErrConnectionNotFound
	}
	s.n++
	room := fmt.Sprintf("00000000-0000-4000-8000-%012d", s.n)
	s.rooms[room], s.lastRoom = capacity, room
	return dynamo.Room{ID: room, Capacity: capacity}, nil
}

func (s *memStore) Enter(_ context.Context, id, room, name, key string) (dynamo.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	switch capacity, ok := s.rooms[room]; {
	case c == nil:
		return dynamo.Member{}, dynamo.ErrConnectionNotFound
	case !ok:
		return dynamo.Member{}, dynamo.ErrRoomNotFound
	case c.RoomID != "":
		return dynamo.Member{}, dynamo.ErrAlreadyInRoom
	case len(s.members(room)) >= capacity:
		return dynamo.Member{}, dynamo.ErrRoomFull
	}
	c.RoomID, c.UserName, c.JoinedAt = room, name, time.Now()
	return dynamo.Member{RoomID: room, ParticipantID: c.ParticipantID, ConnectionID: id, UserName: name, NameKey: key, JoinedAt: c.JoinedAt}, nil
}

func (s *memStore) Leave(_ context.Context, id string) (dynamo.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	if c == nil || c.RoomID == "" {
		return dynamo.Member{}, dynamo.ErrNotInRoom
	}
	m := dynamo.Member{RoomID: c.RoomID, ParticipantID: c.ParticipantID, ConnectionID: id}
	c.RoomID = ""
	return m, nil
}

func (s *memStore) Disconnect(_ context.Context, id string) (dynamo.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	if c == nil {
		return dynamo.Member{}, nil
	}
	delete(s.conns, id)
	return dynamo.Member{RoomID: c.RoomID, ParticipantID: c.ParticipantID, ConnectionID: id}, nil
}

// Roster lists the members; the session has no stale ones.
func (s *memStore) Roster(_ context.Context, room string) (dynamo.Roster, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return dynamo.Roster{Live: s.members(room)}, nil
}

// Expel is never needed: the session has no stale members.
func (s *memStore) Expel(context.Context, dynamo.Member) (dynamo.Member, error) {
	return dynamo.Member{}, nil
}

func (s *memStore) members(room string) []dynamo.Member {
	var out []dynamo.Member
	for _, id := range slices.Sorted(maps.Keys(s.conns)) {
		if c := s.conns[id]; c.RoomID == room {
			out = append(out, dynamo.Member{RoomID: room, ParticipantID: c.ParticipantID, ConnectionID: id, UserName: c.UserName, JoinedAt: c.JoinedAt})
		}
	}
	return out
}

// Relay reads both; the session sends at no rate that would be limited.
func (s *memStore) Relay(ctx context.Context, from, to string) (dynamo.Connection, dynamo.Connection, error) {
	conns, _ := s.ConnectionsByID(ctx, from, to)
	sender, ok := conns[from]
	if !ok {
		return dynamo.Connection{}, dynamo.Connection{}, dynamo.ErrConnectionNotFound
	}
	return sender, conns[to], nil
}

// Connection, RoomWithAway, Resume, Follow, Hold and Held are never needed: the
// session has no resume (nobody goes away).
func (s *memStore) Connection(context.Context, string) (dynamo.Connection, error) {
	return dynamo.Connection{}, dynamo.ErrConnectionNotFound
}
func (s *memStore) RoomWithAway(context.Context, string) (string, error) { return "", nil }
func (s *memStore) Resume(context.Context, string, string) (dynamo.Resumed, error) {
	return dynamo.Resumed{}, dynamo.ErrSessionExpired
}

func (s *memStore) Remove(ctx context.Context, id string) (dynamo.Member, error) {
	return s.Disconnect(ctx, id)
}
func (s *memStore) Follow(context.Context, string) (dynamo.Connection, error) {
	return dynamo.Connection{}, nil
}
func (s *memStore) Hold(context.Context, string, dynamo.Held) error {
	return dynamo.ErrConnectionNotFound
}
func (s *memStore) Held(context.Context, string) ([]dynamo.Held, error) { return nil, nil }

// The push subscription methods are never needed: the stack has no VAPID
// key, so subscribe is refused before the store, and no room counts
// subscriptions.
func (s *memStore) Subscribe(context.Context, string, dynamo.PushSubscription) (dynamo.PushSubscription, error) {
	return dynamo.PushSubscription{}, dynamo.ErrConnectionNotFound
}
func (s *memStore) Unsubscribe(context.Context, string, string, string) (bool, error) {
	return false, nil
}
func (s *memStore) Subscriptions(context.Context, string) ([]dynamo.PushSubscription, error) {
	return nil, nil
}
func (s *memStore) ClaimNotification(context.Context, dynamo.PushSubscription) (bool, error) {
	return false, nil
}
func (s *memStore) DropSubscription(context.Context, string, string) (bool, error) { return false, nil }

func (s *memStore) ConnectionsByID(_ context.Context, ids ...string) (map[string]dynamo.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]dynamo.Connection{}
	for _, id := range ids {
		if c := s.conns[id]; c != nil {
			out[id] = *c
		}
	}
	return out, nil
}
