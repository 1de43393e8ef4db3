package localstack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/coder/websocket"

	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/stacktest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// wait bounds every wait for something to happen. Tests never assert how
// long things take; they wait for events with this generous limit.
const wait = 20 * time.Second

// accessLine is one line of the stage's access log (emulator.Config.AccessLog).
type accessLine struct {
	RequestID    string `json:"requestId"`
	ConnectionID string `json:"connectionId"`
	EventType    string `json:"eventType"`
	RouteKey     string `json:"routeKey"`
	Status       string `json:"status"`
}

// accessLog collects the access log. The emulator writes a line once an
// event's integration has returned, so a line for a message means every
// frame its invocation posted has been written to the clients.
type accessLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []accessLine
	bad     []string
	changed chan struct{}
}

func newAccessLog() *accessLog { return &accessLog{changed: make(chan struct{})} }

func (l *accessLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		var line accessLine
		if err := json.Unmarshal(l.partial[:i], &line); err != nil {
			l.bad = append(l.bad, string(l.partial[:i]))
		} else {
			l.lines = append(l.lines, line)
		}
		l.partial = l.partial[i+1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// waitFor waits until find, given every line so far, reports a match.
func (l *accessLog) waitFor(t *testing.T, what string, find func([]accessLine) (accessLine, bool)) accessLine {
	t.Helper()
	deadline := time.After(wait)
	for {
		l.mu.Lock()
		if len(l.bad) > 0 {
			l.mu.Unlock()
			t.Fatalf("undecodable access log lines: %q", l.bad)
		}
		line, ok := find(l.lines)
		changed := l.changed
		l.mu.Unlock()
		if ok {
			return line
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no access log line %s within %v", what, wait)
		}
	}
}

// nthMessage finds the n-th (1-based) MESSAGE line of a connection.
func nthMessage(connectionID string, n int) func([]accessLine) (accessLine, bool) {
	return func(lines []accessLine) (accessLine, bool) {
		for _, l := range lines {
			if l.ConnectionID == connectionID && l.EventType == "MESSAGE" {
				if n--; n == 0 {
					return l, true
				}
			}
		}
		return accessLine{}, false
	}
}

// disconnectOf finds the DISCONNECT line of a connection.
func disconnectOf(connectionID string) func([]accessLine) (accessLine, bool) {
	return func(lines []accessLine) (accessLine, bool) {
		for _, l := range lines {
			if l.ConnectionID == connectionID && l.EventType == "DISCONNECT" {
				return l, true
			}
		}
		return accessLine{}, false
	}
}

// testStack is a local stack started for one test, with its access log, the
// function's logs (printed if the test fails) and a view of its table.
type testStack struct {
	*localstack.Stack
	access *accessLog
	db     *dynamotest.DB
	logs   *testkit.LogBuffer
}

// newStack starts a stack on a free port with the function's default
// settings, whatever the environment says; opts may change its options.
func newStack(t *testing.T, opts ...func(*localstack.Options)) *testStack {
	t.Helper()
	access := newAccessLog()
	o := localstack.Options{
		Template: "../../template.yaml", AccessLog: access,
		Getenv: func(string) string { return "" },
	}
	for _, f := range opts {
		f(&o)
	}
	s, logs := stacktest.Start(t, o)
	db := &dynamotest.DB{URL: s.DynamoDBURL, Client: dynamotest.NewClient(s.DynamoDBURL), Table: s.Table}
	return &testStack{Stack: s, access: access, db: db, logs: logs}
}

// items returns the table's items, decoded, without the counters of the
// connections' rates (dynamotest.IsRateCounter): a refused message is still
// counted against its sender, and stores nothing else.
func (s *testStack) items(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for pk, item := range s.db.Items(t) {
		var m map[string]any
		if err := attributevalue.UnmarshalMap(item, &m); err != nil {
			t.Fatalf("decode item %s: %v", pk, err)
		}
		maps.DeleteFunc(m, func(name string, _ any) bool { return dynamotest.IsRateCounter(name) })
		out[pk] = m
	}
	return out
}

// peer is a WebSocket client of a session, named A, B, ...
type peer struct {
	name string
	id   string
	// participant and token are what "connected" issued.
	participant, token string
	ws                 *websocket.Conn
	tcp                *net.TCPConn // the socket under ws, to reset it
	sent               int          // messages sent, i.e. MESSAGE events caused
	// closed is set once the peer closed or the stack closed it.
	closed bool
}

// dialPeer connects to the stack, keeping hold of the TCP connection, and
// reads the first frame, which must be "connected". It returns the peer and
// that frame.
func dialPeer(t *testing.T, s *testStack, name string) (*peer, []byte) {
	t.Helper()
	p, frame, err := tryDialPeer(t, s, name)
	if err != nil {
		t.Fatal(err)
	}
	return p, frame
}

// tryDialPeer is dialPeer for any goroutine: it returns what went wrong.
func tryDialPeer(t *testing.T, s *testStack, name string) (*peer, []byte, error) {
	p := &peer{name: name}
	var dialer net.Dialer
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if tcp, ok := c.(*net.TCPConn); ok {
			p.tcp = tcp // before Dial returns
		}
		return c, err
	}}
	t.Cleanup(transport.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.WebSocketURL, &websocket.DialOptions{HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: dial: %w", name, err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	ws.SetReadLimit(1 << 20) // more than 128 KB, to see whatever the stack sends
	p.ws = ws
	_, data, err := ws.Read(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: read the first frame: %w", name, err)
	}
	var f struct {
		Type, Body, ParticipantID, ResumeToken string
		ExpiresAt, IdleTimeoutMs               int64
	}
	if err := json.Unmarshal(data, &f); err != nil || f.Type != "connected" || f.Body == "" || f.ParticipantID == "" || f.ResumeToken == "" {
		return nil, nil, fmt.Errorf("%s: first frame is %s, want {\"type\":\"connected\",\"body\":<connection ID>,\"participantID\":…,\"resumeToken\":…}", name, data)
	}
	if d, max := time.Until(time.UnixMilli(f.ExpiresAt)), s.Config.MaxConnectionDuration; d < max-time.Minute || d > max || f.IdleTimeoutMs != s.Config.IdleTimeout.Milliseconds() {
		return nil, nil, fmt.Errorf("%s: connected says it expires in %v and idles out after %dms; the stack closes connections after %v, idle %v",
			name, d, f.IdleTimeoutMs, max, s.Config.IdleTimeout)
	}
	p.id, p.participant, p.token = f.Body, f.ParticipantID, f.ResumeToken
	return p, data, nil
}

// step is one thing a peer does in a session.
type step struct {
	who  string
	kind stepKind
	// msg is what a send sends; placeholders (<A>, <room1>) are replaced by
	// the IDs they stand for. label, if set, is shown instead in the
	// transcript.
	msg, label string
}

type stepKind int

const (
	stepConnect stepKind = iota
	stepSend
	stepClose // close handshake, 1000
	stepDrop  // ws.CloseNow: the socket closes without a close frame
	stepReset // TCP reset (SO_LINGER 0)
)

func connect(who string) step       { return step{who: who, kind: stepConnect} }
func send(who, msg string) step     { return step{who: who, kind: stepSend, msg: msg} }
func closeNormally(who string) step { return step{who: who, kind: stepClose} }
func drop(who string) step          { return step{who: who, kind: stepDrop} }
func reset(who string) step         { return step{who: who, kind: stepReset} }
func sendLabeled(who, msg, label string) step {
	return step{who: who, kind: stepSend, msg: msg, label: label}
}

// session runs steps against a stack and writes a transcript: every frame
// each peer received because of each step, with connection and room IDs
// replaced by placeholders. After each step it waits until the stack has
// finished the step (the access log) and then syncs every open peer: a
// message whose answer comes after everything the step sent it. So the
// transcript holds exactly what each peer received, nothing missing, nothing
// extra.
type session struct {
	t     *testing.T
	s     *testStack
	peers map[string]*peer
	real  map[string]string // placeholder → ID
	alias map[string]string // ID → placeholder
	rooms int
	syncs int
	out   strings.Builder
	// before is the table before the last send.
	before map[string]map[string]any
}

func newSession(t *testing.T, s *testStack) *session {
	return &session{t: t, s: s, peers: map[string]*peer{}, real: map[string]string{}, alias: map[string]string{}}
}

func (ss *session) name(id, placeholder string) {
	ss.real[placeholder] = id
	ss.alias[id] = placeholder
}

// run runs one step and appends it, with what every peer received because
// of it, to the transcript; then it checks the table's invariants.
func (ss *session) run(st step) {
	t := ss.t
	t.Helper()
	p := ss.peers[st.who]
	switch {
	case st.kind == stepConnect && p != nil:
		t.Fatalf("%s connects twice", st.who)
	case st.kind != stepConnect && p == nil:
		t.Fatalf("step for unknown peer %s", st.who)
	}
	received := map[string][]string{}
	switch st.kind {
	case stepConnect:
		ss.connect(st.who, received)
	case stepSend:
		ss.send(p, st, received)
	default:
		ss.leave(p, st.kind)
	}
	ss.sync(received)
	if st.kind == stepSend && isError(received[st.who]) {
		ss.checkUnchanged(st)
	}
	for _, name := range ss.names() {
		for _, f := range received[name] {
			fmt.Fprintf(&ss.out, "  %s < %s\n", name, f)
		}
	}
	dynamotest.CheckInvariants(t, ss.s.db)
}

// connect dials a new peer; its first frame is "connected".
func (ss *session) connect(who string, received map[string][]string) {
	p, frame := dialPeer(ss.t, ss.s, who)
	ss.peers[who] = p
	ss.name(p.id, "<"+who+">")
	ss.name(p.participant, "<participant "+who+">")
	ss.name(p.token, "<resume token "+who+">")
	fmt.Fprintf(&ss.out, "%s connects\n", who)
	received[who] = []string{ss.normalise(frame)}
}

// send sends a message and waits until the stack has handled it: its
// MESSAGE line in the access log, or the DISCONNECT line if the stack
// closed the connection instead. It remembers the table as it was before.
func (ss *session) send(p *peer, st step, received map[string][]string) {
	t := ss.t
	t.Helper()
	shown := st.label
	if shown == "" {
		shown = st.msg
	}
	fmt.Fprintf(&ss.out, "%s sends %s\n", p.name, shown)
	ss.before = ss.s.items(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	err := writeFramed(ctx, p.ws, []byte(ss.expand(st.msg)))
	cancel()
	if err != nil {
		t.Fatalf("%s: send: %v", p.name, err)
	}
	n := p.sent + 1
	line := ss.s.access.waitFor(t, fmt.Sprintf("for message %d of %s", n, p.name), func(lines []accessLine) (accessLine, bool) {
		if l, ok := nthMessage(p.id, n)(lines); ok {
			return l, true
		}
		return disconnectOf(p.id)(lines)
	})
	ss.logEvent(line)
	if line.EventType == "DISCONNECT" {
		received[p.name] = append(received[p.name], ss.readClose(p))
		return
	}
	p.sent = n
}

// writeFramed sends a message in frames of at most 32 KB, API Gateway's frame
// limit, as a client must for a larger message (a browser cannot: it sends
// every message as one frame).
func writeFramed(ctx context.Context, ws *websocket.Conn, msg []byte) error {
	const maxFrame = 32 * 1024
	if len(msg) <= maxFrame {
		return ws.Write(ctx, websocket.MessageText, msg)
	}
	w, err := ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	for len(msg) > 0 {
		n := min(len(msg), maxFrame)
		if _, err := w.Write(msg[:n]); err != nil { // one frame per Write
			return err
		}
		msg = msg[n:]
	}
	return w.Close()
}

// leave ends a peer's connection the way kind says and waits for its
// $disconnect to finish.
func (ss *session) leave(p *peer, kind stepKind) {
	t := ss.t
	t.Helper()
	switch kind {
	case stepClose:
		fmt.Fprintf(&ss.out, "%s closes (1000)\n", p.name)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		go func() { // Close waits for the stack's close frame, which only a reader sees.
			defer cancel()
			_, _, _ = p.ws.Read(ctx)
		}()
		if err := p.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("%s: close: %v", p.name, err)
		}
	case stepDrop:
		fmt.Fprintf(&ss.out, "%s drops the connection\n", p.name)
		p.ws.CloseNow()
	case stepReset:
		fmt.Fprintf(&ss.out, "%s resets the TCP connection\n", p.name)
		if err := p.tcp.SetLinger(0); err != nil {
			t.Fatalf("%s: SetLinger: %v", p.name, err)
		}
		p.tcp.Close()
		p.ws.CloseNow()
	}
	p.closed = true
	ss.logEvent(ss.s.access.waitFor(t, "for the $disconnect of "+p.name, disconnectOf(p.id)))
}

// logEvent writes the route and status the access log shows for a step.
func (ss *session) logEvent(l accessLine) {
	fmt.Fprintf(&ss.out, "  %s %s → %s\n", strings.ToLower(l.EventType), l.RouteKey, l.Status)
}

// checkUnchanged fails unless the table is as it was before the step: a
// message answered with an error stores nothing.
func (ss *session) checkUnchanged(st step) {
	ss.t.Helper()
	if after := ss.s.items(ss.t); !reflect.DeepEqual(after, ss.before) {
		ss.t.Errorf("%s: answered with an error, but the table changed:\nbefore %v\nafter  %v", st.who, ss.before, after)
	}
}

// sync collects, for every open peer, the frames that arrived before the
// answer to a sync message sent now. Only the stack's error frame for an
// unknown action names that action, so the answer is unmistakable.
func (ss *session) sync(received map[string][]string) {
	t := ss.t
	t.Helper()
	for _, name := range ss.names() {
		p := ss.peers[name]
		if p.closed {
			continue
		}
		ss.syncs++
		action := fmt.Sprintf("sync-%d", ss.syncs)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err := p.ws.Write(ctx, websocket.MessageText, []byte(`{"action":"`+action+`"}`))
		cancel()
		if err != nil {
			// The stack may have closed it; what it read says why.
			received[name] = append(received[name], ss.readClose(p))
			continue
		}
		p.sent++
		for {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			_, data, err := p.ws.Read(ctx)
			cancel()
			if err != nil {
				received[name] = append(received[name], ss.closeLine(p, err))
				break
			}
			var f struct{ Type, Code, Action string }
			if json.Unmarshal(data, &f) == nil && f.Type == "error" && f.Code == "unknown-action" && f.Action == action {
				break
			}
			received[name] = append(received[name], ss.normalise(data))
		}
		if !p.closed {
			ss.s.access.waitFor(t, "for "+action+" of "+name, nthMessage(p.id, p.sent))
		}
	}
}

// readClose reads from a peer the stack is closing and describes the close.
func (ss *session) readClose(p *peer) string {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		_, data, err := p.ws.Read(ctx)
		if err != nil {
			return ss.closeLine(p, err)
		}
		ss.t.Errorf("%s: frame while waiting for the close: %s", p.name, data)
	}
}

func (ss *session) closeLine(p *peer, err error) string {
	p.closed = true
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("(closed by the stack: %d %q)", int(ce.Code), ce.Reason)
	}
	ss.t.Fatalf("%s: read: %v", p.name, err)
	return ""
}

func (ss *session) names() []string {
	names := make([]string, 0, len(ss.peers))
	for n := range ss.peers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// expand replaces placeholders in a message by the IDs they stand for.
func (ss *session) expand(msg string) string {
	for placeholder, id := range ss.real {
		msg = strings.ReplaceAll(msg, placeholder, id)
	}
	return msg
}

// membersFrame is room-members in the protocol's field order.
type membersFrame struct {
	Type    string `json:"type"`
	RoomID  string `json:"roomID"`
	Members []struct {
		ConnectionID  string `json:"connectionID"`
		ParticipantID string `json:"participantID,omitempty"`
		UserName      string `json:"userName,omitempty"`
	} `json:"members"`
	Seq int64 `json:"seq"`
}

// encodeFrame encodes like the stack: no HTML escaping, no newline.
func encodeFrame(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// normalise turns a frame into its transcript form: IDs replaced by
// placeholders (a new room gets the next <roomN>), the members of
// room-members sorted by placeholder (members who joined in the same
// millisecond have no fixed order), and frames over 512 bytes summarised by
// length, hash and start.
func (ss *session) normalise(frame []byte) string {
	t := ss.t
	t.Helper()
	var f struct{ Type, Body string }
	if err := json.Unmarshal(frame, &f); err != nil {
		t.Errorf("frame is not JSON: %q", frame)
		return string(frame)
	}
	if _, known := ss.alias[f.Body]; f.Type == "room-created" && !known {
		ss.rooms++
		ss.name(f.Body, fmt.Sprintf("<room%d>", ss.rooms))
	}
	s := string(frame)
	if f.Type == "connected" { // its time was checked by tryDialPeer
		s = expiresAt.ReplaceAllString(s, `"expiresAt":<connected + max duration>`)
	}
	if f.Type == "room-members" {
		var m membersFrame
		if err := json.Unmarshal(frame, &m); err != nil {
			t.Fatalf("room-members %s: %v", frame, err)
		}
		if again := encodeFrame(t, m); again != s {
			t.Errorf("room-members frame %s is not in the protocol's shape %s", s, again)
		}
		sort.SliceStable(m.Members, func(i, j int) bool {
			return ss.alias[m.Members[i].ConnectionID] < ss.alias[m.Members[j].ConnectionID]
		})
		s = encodeFrame(t, m)
	}
	for id, placeholder := range ss.alias {
		s = strings.ReplaceAll(s, id, placeholder)
	}
	if len(s) > 512 {
		sum := sha256.Sum256([]byte(s))
		s = fmt.Sprintf("[%d bytes, sha256 %x] %s…", len(s), sum[:8], s[:64])
	}
	return s
}

// expiresAt is the time "connected" says the connection will be closed.
var expiresAt = regexp.MustCompile(`"expiresAt":[0-9]+`)

// isError reports whether any of the frames is an error frame.
func isError(frames []string) bool {
	for _, f := range frames {
		if strings.HasPrefix(f, `{"type":"error"`) {
			return true
		}
	}
	return false
}

// checkGolden compares the transcript with testdata/<name>.golden, or
// rewrites that file with -update.
func (ss *session) checkGolden(name string) {
	ss.t.Helper()
	testkit.Golden(ss.t, filepath.Join("testdata", name+".golden"), []byte(ss.out.String()))
}
