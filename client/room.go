package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
)

// Options configure Join. The zero value creates a room and asks the stack
// for its ICE servers.
type Options struct {
	// RoomID is the room to enter; "" creates one (Room.ID tells it).
	RoomID string
	// UserName is the name others see (optional; unique in the room).
	UserName string
	// Capacity is the capacity of a room Join creates (0: the stack's
	// default).
	Capacity int
	// Token is the stack's access token, sent as the query parameter
	// "token" (docs/security.md).
	Token string

	// ICEServers, if not nil, are used for every peer connection, and the
	// stack is not asked for its own (iceservers).
	ICEServers []webrtc.ICEServer
	// ICETransportPolicy is the peer connections' policy;
	// webrtc.ICETransportPolicyRelay allows relayed (TURN) candidates only.
	ICETransportPolicy webrtc.ICETransportPolicy
	// API creates the peer connections; default webrtc.NewAPI(). Build one
	// from a webrtc.SettingEngine to choose networks, timeouts or logging.
	API *webrtc.API

	// HTTPClient and HTTPHeader are used for the WebSocket handshakes (an
	// Origin header, a proxy, a test's dialer).
	HTTPClient *http.Client
	HTTPHeader http.Header
	// Logger receives the client's diagnostics; nil discards them.
	Logger *slog.Logger
}

// Room is this client's membership of one room: the signaling connection
// (which it re-establishes and resumes when it drops), and a Peer for every
// other participant. Its methods are safe for concurrent use.
type Room struct {
	url    string
	opts   Options
	log    *slog.Logger
	api    *webrtc.API
	events *eventQueue

	ctx    context.Context // the room's life; canceled when it ends
	cancel context.CancelFunc
	in     chan func() // work for the loop goroutine
	done   chan struct{}

	iceReady chan struct{} // closed once the ICE servers are known
	iceOnce  sync.Once

	mu            sync.Mutex
	roomID        string
	participantID string
	connectionID  string
	peers         map[string]*Peer // by participant ID
	iceServers    []webrtc.ICEServer
	relay         bool
	waiters       []*waiter
	err           error // why the room ended
	leaving       bool

	smu     sync.Mutex
	sockets map[*socket]bool // open, to close at the end

	wmu    sync.Mutex // orders writes; guards out and outbox
	out    *socket    // where messages go; nil while the socket is down
	outbox [][]byte   // messages waiting for a socket

	// Owned by the loop goroutine.
	token        string
	cur          *socket // the socket the seat is on; nil while down
	pending      *socket // a socket that sent resume and awaits resumed
	proactive    bool    // pending is a resume ahead of the cut
	reconnecting bool    // a redial goroutine runs
	rejoining    bool    // entering again after session-expired
	seqs         map[string]int64
	absent       map[string]bool // the last presence frame applied about a participant was a leave
	pastIDs      map[string]bool // this client's participant IDs before a rejoin
	expiresAt    time.Time
	idle         time.Duration
	pingTimer    *time.Timer
	cutTimer     *time.Timer
	iceTimer     *time.Timer
}

// waiter is a request of Join or Leave waiting for its answer.
type waiter struct {
	action string
	match  func(*frame) bool
	ch     chan *frame // gets the answer or an error frame for action
}

// Join connects to the stack at url (ws:// or wss://, the stage's URL),
// creates a room if opts.RoomID is "", enters it, and returns once this
// client's own enter has arrived. The room's members then appear as
// PeerJoined events (see Room.Events). Returns an *Error when the stack
// refuses: CodeUnauthorized or CodeForbidden for the handshake,
// CodeRoomNotFound, CodeRoomFull, CodeNameTaken, CodeForbidden,
// CodeLimitReached, ... for the enter or the create. Call Leave when done,
// even after an error event.
func Join(ctx context.Context, url string, opts Options) (*Room, error) {
	r := &Room{
		url: url, opts: opts, log: opts.Logger, api: opts.API, events: newEventQueue(),
		in: make(chan func(), 64), done: make(chan struct{}), iceReady: make(chan struct{}),
		peers: map[string]*Peer{}, seqs: map[string]int64{}, absent: map[string]bool{}, pastIDs: map[string]bool{},
		sockets: map[*socket]bool{},
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.api == nil {
		r.api = webrtc.NewAPI()
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	dctx, cancel := context.WithTimeout(ctx, dialTimeout) // a lost connected frame must not hang Join
	s, err := dial(dctx, url, &r.opts)
	cancel()
	if err != nil {
		r.cancel()
		r.events.abandon()
		return nil, err
	}
	r.adopt(s)
	go r.loop()
	go r.read(s)
	if err := r.join(ctx); err != nil {
		_ = r.Leave(context.Background())
		return nil, err
	}
	return r, nil
}

// join asks for the ICE servers, creates the room if needed and enters it.
// The ICE servers' timer is the loop's, which already runs: they are set or
// asked for there.
func (r *Room) join(ctx context.Context) error {
	if r.opts.ICEServers != nil {
		r.do(func() { r.setICEServers(r.opts.ICEServers, false, 0) })
	} else {
		r.do(r.askICEServers)
	}
	if r.opts.RoomID == "" {
		msg := map[string]any{"action": "createroom"}
		if r.opts.Capacity > 0 {
			msg["capacity"] = r.opts.Capacity
		}
		f, err := r.request(ctx, msg, func(f *frame) bool { return f.Type == "room-created" })
		if err != nil {
			return err
		}
		r.opts.RoomID = f.Body
	}
	_, err := r.request(ctx, r.enterMessage(), r.isOwnEnter)
	return err
}

func (r *Room) enterMessage() map[string]any {
	msg := map[string]any{"action": "enterroom", "roomID": r.opts.RoomID}
	if r.opts.UserName != "" {
		msg["userName"] = r.opts.UserName
	}
	return msg
}

func (r *Room) isOwnEnter(f *frame) bool {
	return f.Type == "enter" && f.ParticipantID == r.ParticipantID()
}

// request sends msg and waits for the frame match accepts, or an error
// frame for msg's action (returned as *Error).
func (r *Room) request(ctx context.Context, msg map[string]any, match func(*frame) bool) (*frame, error) {
	w := &waiter{action: msg["action"].(string), match: match, ch: make(chan *frame, 1)}
	r.mu.Lock()
	r.waiters = append(r.waiters, w)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.waiters = slices.DeleteFunc(r.waiters, func(x *waiter) bool { return x == w })
		r.mu.Unlock()
	}()
	if err := r.send(msg); err != nil {
		return nil, err
	}
	select {
	case f := <-w.ch:
		if f.Type == "error" {
			return nil, errorFromFrame(f)
		}
		return f, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("client: waiting for the answer to %s: %w", w.action, ctx.Err())
	case <-r.done:
		return nil, r.Err()
	}
}

// answerWaiters gives f to the waiters it answers and reports whether it
// answered any.
func (r *Room) answerWaiters(f *frame) bool {
	r.mu.Lock()
	waiters := slices.Clone(r.waiters)
	r.mu.Unlock()
	answered := false
	for _, w := range waiters {
		if (f.Type == "error" && f.Action == w.action) || (f.Type != "error" && w.match(f)) {
			select {
			case w.ch <- f:
				answered = true
			default:
			}
		}
	}
	return answered
}

// ID returns the room's ID: share it with whom you want in the room.
func (r *Room) ID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.roomID != "" {
		return r.roomID
	}
	return r.opts.RoomID
}

// ParticipantID returns who this client is in the room: what other
// participants key it by. It changes only when the client enters again as
// new (Resumed.Rejoined).
func (r *Room) ParticipantID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.participantID
}

// ConnectionID returns the ID of the current signaling connection; it
// changes on every resume.
func (r *Room) ConnectionID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.connectionID
}

// Peers returns the other participants whose PeerJoined has been sent,
// sorted by participant ID.
func (r *Room) Peers() []*Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ps []*Peer
	for _, p := range r.peers {
		if p.joined.Load() {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b *Peer) int { return strings.Compare(a.id, b.id) })
	return ps
}

// Peer returns the participant with that ID, or nil.
func (r *Room) Peer(participantID string) *Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peers[participantID]
}

// ICEServers returns the ICE servers in use and whether the stack has a
// TURN server (relay).
func (r *Room) ICEServers() (servers []webrtc.ICEServer, relay bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.iceServers), r.relay
}

// Events returns the room's events, in the order they happened. The client
// never waits for the reader: events queue until read. The channel is
// closed after the room ends and its last events are read, or when Leave
// returns (events not yet read are dropped then).
func (r *Room) Events() <-chan Event { return r.events.out }

// Done is closed when the room has ended: after Leave, or when it failed
// (Err says why).
func (r *Room) Done() <-chan struct{} { return r.done }

// Err returns why the room ended: nil while it runs or after Leave.
func (r *Room) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil && r.leaving {
		return ErrLeft
	}
	return r.err
}

// Send sends data (as binary) over the default data channel of the
// participant, waiting until the channel is open (bounded by ctx).
func (r *Room) Send(ctx context.Context, participantID string, data []byte) error {
	p := r.Peer(participantID)
	if p == nil {
		return fmt.Errorf("client: no participant %s in the room", participantID)
	}
	return p.Send(ctx, data)
}

// SendText is Send with data sent as text.
func (r *Room) SendText(ctx context.Context, participantID, text string) error {
	p := r.Peer(participantID)
	if p == nil {
		return fmt.Errorf("client: no participant %s in the room", participantID)
	}
	return p.SendText(ctx, text)
}

// Broadcast sends data to every participant whose default data channel is
// open now (it waits for none) and returns the errors of the sends that
// failed.
func (r *Room) Broadcast(ctx context.Context, data []byte) error {
	var errs []error
	for _, p := range r.Peers() {
		if p.isOpen() {
			errs = append(errs, p.Send(ctx, data))
		}
	}
	return errors.Join(errs...)
}

// Leave leaves the room: it sends leaveroom and waits (bounded by ctx) for
// the stack's answer, closes the signaling connection with 1000 (a normal
// closure: the room is told at once, no seat is held for a resume) and
// every peer connection. Events not yet read are dropped and the Events
// channel is closed. Leave on a room that ended releases it.
func (r *Room) Leave(ctx context.Context) error {
	r.mu.Lock()
	if r.leaving {
		r.mu.Unlock()
		<-r.done
		return nil
	}
	r.leaving = true
	inRoom := r.roomID != ""
	r.mu.Unlock()
	var err error
	if inRoom && r.connected() {
		_, err = r.request(ctx, map[string]any{"action": "leaveroom"}, func(f *frame) bool {
			return f.Type == "leave" && f.ParticipantID == r.ParticipantID()
		})
		if errors.Is(err, ErrLeft) {
			err = nil
		}
	}
	r.stop(nil)
	r.closePeers(ctx, "left")
	r.events.abandon()
	return err
}

// connected reports whether a socket is up.
func (r *Room) connected() bool {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	return r.out != nil
}

// stop ends the room: closes every socket with 1000 and the loop.
func (r *Room) stop(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.wmu.Lock()
	r.out, r.outbox = nil, nil
	r.wmu.Unlock()
	// Close the sockets before the readers' context ends, which would cut
	// them without a close frame (and have the stack hold the seat).
	r.smu.Lock()
	var wg sync.WaitGroup
	for s := range r.sockets {
		wg.Go(func() { _ = s.ws.Close(websocket.StatusNormalClosure, "bye") })
	}
	r.smu.Unlock()
	wg.Wait()
	r.cancel()
	<-r.done
	// The loop has stopped: its timers may be read here.
	for _, t := range []*time.Timer{r.pingTimer, r.cutTimer, r.iceTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

// dropPeers forgets every peer and has each close its PeerConnection
// (PeerLeft with reason); it returns them.
func (r *Room) dropPeers(reason string) map[string]*Peer {
	r.mu.Lock()
	peers := r.peers
	r.peers = map[string]*Peer{}
	r.mu.Unlock()
	for _, p := range peers {
		p.close(reason)
	}
	return peers
}

// closePeers closes every peer connection and waits for them (bounded by
// ctx).
func (r *Room) closePeers(ctx context.Context, reason string) {
	for _, p := range r.dropPeers(reason) {
		select {
		case <-p.done:
		case <-ctx.Done():
			return
		}
	}
}

// fail ends the room because it cannot go on; called on the loop.
func (r *Room) fail(err error) {
	r.log.Error("the room ended", "error", err)
	r.emit(&ErrorEvent{Err: err})
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.events.close()
	go func() {
		r.stop(err)
		r.closePeers(context.Background(), "")
	}()
}

func (r *Room) emit(ev Event) { r.events.push(ev) }

// loop runs the room's work, one function at a time, until the room ends.
func (r *Room) loop() {
	defer close(r.done)
	for {
		select {
		case fn := <-r.in:
			fn()
		case <-r.ctx.Done():
			return
		}
	}
}

// do runs fn on the loop; never call it from the loop.
func (r *Room) do(fn func()) {
	select {
	case r.in <- fn:
	case <-r.ctx.Done():
	}
}

// read passes the frames of s to the loop until s ends.
func (r *Room) read(s *socket) {
	r.smu.Lock()
	r.sockets[s] = true
	r.smu.Unlock()
	defer func() {
		r.smu.Lock()
		delete(r.sockets, s)
		r.smu.Unlock()
	}()
	for {
		_, data, err := s.ws.Read(r.ctx)
		if err != nil {
			r.do(func() { r.socketClosed(s, err) })
			return
		}
		f := new(frame)
		if err := json.Unmarshal(data, f); err != nil {
			r.log.Warn("a frame that is not JSON", "frame", string(data))
			continue
		}
		r.do(func() { r.handle(s, f) })
	}
}

// send writes a client message, or queues it while the socket is down.
func (r *Room) send(msg any) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if len(data) > MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.out == nil {
		if len(r.outbox) >= maxOutbox {
			r.outbox = r.outbox[1:]
		}
		r.outbox = append(r.outbox, data)
		return nil
	}
	if err := r.out.write(r.ctx, data); err != nil {
		// The reader sees the socket fail and reconnects; the message goes
		// out on the next socket.
		r.log.Warn("write failed; queued for the next connection", "error", err)
		r.outbox = append(r.outbox, data)
	}
	return nil
}

// MaxMessageBytes is the largest message the client sends: API Gateway's
// limit for a WebSocket message (128 KB, in frames of at most 32 KB, which
// the socket writes it in). A larger one is refused with ErrTooLarge: the
// stack would close the connection.
const MaxMessageBytes = 128 * 1024

// ErrTooLarge is the error of a message over MaxMessageBytes, which was not
// sent.
var ErrTooLarge = errors.New("client: message over API Gateway's 128 KB limit")

// maxOutbox bounds the messages kept while the socket is down.
const maxOutbox = 1024

// sendNow writes a message only if a socket is up (a ping).
func (r *Room) sendNow(msg any) {
	if r.connected() {
		_ = r.send(msg)
	}
}

// setOut directs messages to s and sends those queued, in order; nil queues
// them from now on.
func (r *Room) setOut(s *socket) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.out = s
	for s != nil && len(r.outbox) > 0 {
		if err := s.write(r.ctx, r.outbox[0]); err != nil {
			return
		}
		r.outbox = r.outbox[1:]
	}
}

// signal relays a WebRTC signal to a participant.
func (r *Room) signal(participantID, typ string, payload any) {
	data, err := json.Marshal(payload)
	if err != nil {
		r.log.Error("encode a signal", "error", err)
		return
	}
	if err := r.send(map[string]any{"action": "message", "dest": participantID, "type": typ, "message": string(data)}); err != nil {
		r.log.Warn("a signal not sent", "participantID", participantID, "type", typ, "error", err)
		r.emit(&ErrorEvent{Err: fmt.Errorf("client: %s to %s: %w", typ, participantID, err)})
	}
}

// adopt makes s the socket of a new participant (at Join, and on a
// rejoin): its IDs, token and timers.
func (r *Room) adopt(s *socket) {
	c := s.connected
	r.mu.Lock()
	if r.participantID != "" {
		r.pastIDs[r.participantID] = true
	}
	r.participantID, r.connectionID = c.ParticipantID, c.Body
	r.mu.Unlock()
	r.token = c.ResumeToken
	r.cur = s
	r.setOut(s)
	r.schedule(s)
}

// schedule sets the keep-alive and the resume ahead of the cut for the
// socket s.
func (r *Room) schedule(s *socket) {
	c := s.connected
	r.idle = time.Duration(c.IdleTimeoutMs) * time.Millisecond
	if r.idle <= 0 {
		r.idle = 10 * time.Minute
	}
	ping := min(r.idle/2, 5*time.Minute)
	if r.pingTimer != nil {
		r.pingTimer.Stop()
	}
	r.pingTimer = time.AfterFunc(ping, func() { r.do(r.ping) })
	if r.cutTimer != nil {
		r.cutTimer.Stop()
		r.cutTimer = nil
	}
	if c.ExpiresAt > 0 {
		r.expiresAt = time.UnixMilli(c.ExpiresAt)
		life := r.expiresAt.Sub(s.at)
		margin := min(life/4, 5*time.Minute)
		r.cutTimer = time.AfterFunc(time.Until(r.expiresAt.Add(-margin)), func() { r.do(r.resumeAhead) })
	}
}

// ping keeps the connection from idling out; on the loop.
func (r *Room) ping() {
	r.sendNow(map[string]any{"action": "ping"})
	r.pingTimer = time.AfterFunc(min(r.idle/2, 5*time.Minute), func() { r.do(r.ping) })
}

// handle acts on one frame from socket s; on the loop.
func (r *Room) handle(s *socket, f *frame) {
	r.log.Debug("frame", "type", f.Type, "participantID", f.ParticipantID, "connectionID", f.ConnectionID, "seq", f.Seq, "reason", f.Reason, "code", f.Code)
	switch f.Type {
	case "enter":
		r.onEnter(f)
	case "leave":
		r.onLeave(f)
	case "room-members":
		r.onMembers(f)
	case "resumed":
		r.onResumed(s, f)
	case "offer", "answer", "ice-candidate":
		r.onSignal(f)
	case "ice-servers":
		if r.opts.ICEServers == nil {
			r.setICEServers(f.ICEServers, f.Relay, time.Duration(f.TTLSeconds)*time.Second)
		}
	case "error":
		if r.onError(s, f) {
			return
		}
	}
	if r.answerWaiters(f) || f.Type != "error" {
		return
	}
	r.emit(&ErrorEvent{Err: errorFromFrame(f)})
}

// onError handles the error frames that are the client's own business and
// reports whether f was one.
func (r *Room) onError(s *socket, f *frame) bool {
	switch {
	case f.Action == "resume" || s == r.pending && s != r.cur:
		if s != r.pending {
			return true
		}
		if f.Code == CodeSessionExpired {
			r.rejoin(s)
			return true
		}
		// Any other refusal of the resume: drop this socket and dial
		// again.
		r.log.Warn("resume refused", "code", f.Code, "message", f.Message)
		s.ws.CloseNow()
		return true
	case f.Action == "iceservers":
		// An older stack (unknown-action): proceed without ICE servers.
		r.setICEServers(nil, false, 0)
		return true
	case f.Action == "enterroom" && r.rejoining:
		r.fail(fmt.Errorf("client: enter the room again after the session expired: %w", errorFromFrame(f)))
		return true
	}
	return false
}

// stale reports whether a presence frame about participant id at seq is
// older than what the client applied about it, and records seq if not. A
// frame at the seq applied last is a repeat, except a leave after an enter:
// a stack frees an expired seat in a leave that carries the seq of the
// room it read (the enter's), and a leave that is dropped leaves a ghost.
func (r *Room) stale(id string, seq int64, leave bool) bool {
	last, ok := r.seqs[id]
	if ok && (seq < last || seq == last && (!leave || r.absent[id])) {
		return true
	}
	r.seqs[id] = seq
	r.absent[id] = leave
	return false
}

// other reports whether id is another participant (not this client, now
// or before a rejoin).
func (r *Room) other(id string) bool {
	return id != "" && id != r.ParticipantID() && !r.pastIDs[id]
}

func (r *Room) onEnter(f *frame) {
	if f.ParticipantID == r.ParticipantID() {
		r.mu.Lock()
		r.roomID = f.RoomID
		r.mu.Unlock()
		if r.rejoining {
			r.rejoining = false
			r.emit(&Resumed{Rejoined: true})
		}
		return
	}
	if !r.other(f.ParticipantID) || r.stale(f.ParticipantID, f.Seq, false) {
		return
	}
	r.addPeer(f.ParticipantID, f.ConnectionID, f.UserName, false)
}

func (r *Room) onLeave(f *frame) {
	id := f.ParticipantID
	if id == "" {
		id = r.participantAt(f.ConnectionID)
	}
	if id == r.ParticipantID() && id != "" {
		r.mu.Lock()
		leaving := r.leaving
		r.roomID = ""
		r.mu.Unlock()
		if !leaving && !r.rejoining {
			r.fail(fmt.Errorf("client: the stack took this client out of the room (reason %q)", f.Reason))
		}
		return
	}
	if !r.other(id) || r.stale(id, f.Seq, true) {
		return
	}
	r.removePeer(id, f.Reason)
}

func (r *Room) onMembers(f *frame) {
	listed := map[string]bool{}
	for _, m := range f.Members {
		if !r.other(m.ParticipantID) {
			continue
		}
		listed[m.ParticipantID] = true
		if last, ok := r.seqs[m.ParticipantID]; ok && last > f.Seq {
			continue
		}
		r.seqs[m.ParticipantID], r.absent[m.ParticipantID] = f.Seq, false
		r.addPeer(m.ParticipantID, m.ConnectionID, m.UserName, true)
	}
	r.mu.Lock()
	var gone []string
	for id := range r.peers {
		if !listed[id] && r.seqs[id] < f.Seq {
			gone = append(gone, id)
		}
	}
	r.mu.Unlock()
	for _, id := range gone {
		r.seqs[id], r.absent[id] = f.Seq, true
		r.removePeer(id, ReasonUnlisted)
	}
}

// onResumed handles a resumed frame: this client's own resume (with its
// next token), or another participant's.
func (r *Room) onResumed(s *socket, f *frame) {
	if f.ParticipantID != r.ParticipantID() {
		id := f.ParticipantID
		if !r.other(id) || r.stale(id, f.Seq, false) {
			return
		}
		p := r.Peer(id)
		if p == nil {
			r.addPeer(id, f.ConnectionID, f.UserName, false)
			return
		}
		p.setConnectionID(f.ConnectionID)
		p.tasks.push(p.restartIfDown)
		p.resumed(f.PreviousConnectionID)
		return
	}
	if f.ResumeToken != "" {
		r.token = f.ResumeToken
	}
	if s != r.pending {
		return
	}
	proactive := r.proactive
	r.pending, r.proactive = nil, false
	r.cur = s // the previous socket is closed by the stack
	r.mu.Lock()
	r.connectionID = f.ConnectionID
	r.mu.Unlock()
	r.setOut(s)
	r.schedule(s)
	r.log.Info("resumed", "connectionID", f.ConnectionID, "proactive", proactive)
	r.emit(&Resumed{Proactive: proactive})
}

// rejoin enters the room again as a new participant on s, whose resume was
// refused with session-expired.
func (r *Room) rejoin(s *socket) {
	r.log.Info("the session expired; entering the room again as new")
	r.pending, r.proactive = nil, false
	r.dropPeers(ReasonRejoined)
	r.wmu.Lock()
	r.outbox = nil // signals for the peers just closed
	r.wmu.Unlock()
	r.seqs, r.absent = map[string]int64{}, map[string]bool{}
	r.rejoining = true
	r.adopt(s)
	if r.opts.ICEServers == nil {
		r.askICEServers() // TURN credentials are the participant's
	}
	_ = r.send(r.enterMessage())
}

// socketClosed handles the end of socket s; on the loop.
func (r *Room) socketClosed(s *socket, err error) {
	r.mu.Lock()
	leaving := r.leaving
	r.mu.Unlock()
	if leaving {
		return
	}
	switch s {
	case r.pending:
		r.pending, r.proactive = nil, false
		r.log.Warn("the resuming connection closed", "error", err)
		if r.cur != nil {
			r.setOut(r.cur) // a resume ahead of the cut failed; the old socket still works
			return
		}
		r.redial(err, false)
	case r.cur:
		r.cur = nil
		r.setOut(nil)
		r.log.Warn("the signaling connection closed", "error", err)
		if r.pending == nil {
			r.redial(err, false)
		}
	}
}

// resumeAhead resumes on a new socket before the stack's cut; on the loop.
func (r *Room) resumeAhead() {
	if r.cur == nil || r.pending != nil {
		return
	}
	r.redial(nil, true)
}

// redial dials a new socket in the background, with backoff and jitter
// unless proactive, until one connects; then it sends resume on it.
func (r *Room) redial(cause error, proactive bool) {
	if r.reconnecting {
		return
	}
	r.reconnecting = true
	go func() {
		err := cause
		for attempt := 1; ; attempt++ {
			if !proactive {
				r.emit(&Reconnecting{Attempt: attempt, Err: err})
				select {
				case <-time.After(backoff(attempt)):
				case <-r.ctx.Done():
					return
				}
			}
			ctx, cancel := context.WithTimeout(r.ctx, dialTimeout)
			s, derr := dial(ctx, r.url, &r.opts)
			cancel()
			if derr == nil {
				r.do(func() { r.dialed(s, proactive) })
				return
			}
			if r.ctx.Err() != nil {
				return
			}
			r.log.Warn("reconnect failed", "attempt", attempt, "error", derr)
			if ErrorCode(derr) != "" || proactive {
				r.do(func() {
					r.reconnecting = false
					if !proactive {
						r.fail(derr)
					} else if r.cur == nil && r.pending == nil {
						r.redial(derr, false)
					}
				})
				return
			}
			err = derr
		}
	}()
}

// backoff is the wait before a reconnect attempt: exponential from
// 100 ms to 5 s, with full jitter over its upper half.
func backoff(attempt int) time.Duration {
	d := min(100*time.Millisecond<<min(attempt-1, 10), 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

// dialed sends resume on a new socket s; on the loop.
func (r *Room) dialed(s *socket, proactive bool) {
	r.reconnecting = false
	if r.pending != nil || proactive && r.cur == nil {
		// Another socket resumes already, or the old one dropped while this
		// dialed: resume on this one as a reconnect.
		proactive = false
	}
	if r.pending != nil {
		s.ws.CloseNow()
		return
	}
	r.pending, r.proactive = s, proactive
	r.setOut(nil) // hold messages until the seat is on s
	go r.read(s)
	data, _ := json.Marshal(map[string]any{"action": "resume", "token": r.token})
	if err := s.write(r.ctx, data); err != nil {
		s.ws.CloseNow() // the reader reports it
	}
}

// askICEServers asks the stack for its ICE servers; peers wait for the
// answer (ice-servers, or an error from an older stack), or askTimeout.
func (r *Room) askICEServers() {
	_ = r.send(map[string]any{"action": "iceservers"})
	if r.iceTimer != nil {
		r.iceTimer.Stop()
	}
	r.iceTimer = time.AfterFunc(askTimeout, func() {
		select {
		case <-r.iceReady:
		default:
			r.log.Warn("no answer to iceservers; peers connect without ICE servers")
			r.iceOnce.Do(func() { close(r.iceReady) })
		}
	})
}

// askTimeout bounds the wait for an answer to iceservers.
const askTimeout = 10 * time.Second

// setICEServers records the ICE servers, applies them to every peer
// connection, and asks again before they expire (ttl).
func (r *Room) setICEServers(servers []webrtc.ICEServer, relay bool, ttl time.Duration) {
	r.mu.Lock()
	changed := !reflect.DeepEqual(r.iceServers, servers)
	r.iceServers, r.relay = servers, relay
	peers := make([]*Peer, 0, len(r.peers))
	for _, p := range r.peers {
		peers = append(peers, p)
	}
	r.mu.Unlock()
	r.iceOnce.Do(func() { close(r.iceReady) })
	if changed {
		for _, p := range peers {
			p.tasks.push(p.reconfigure)
		}
	}
	if ttl > 0 {
		if r.iceTimer != nil {
			r.iceTimer.Stop()
		}
		r.iceTimer = time.AfterFunc(ttl*3/4, func() { r.do(r.askICEServers) })
	}
}

// configuration is what a peer connection is created or reconfigured with.
func (r *Room) configuration() webrtc.Configuration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return webrtc.Configuration{ICEServers: slices.Clone(r.iceServers), ICETransportPolicy: r.opts.ICETransportPolicy}
}

// participantAt returns the participant whose peer is at connectionID.
func (r *Room) participantAt(connectionID string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, p := range r.peers {
		if p.ConnectionID() == connectionID {
			return id
		}
	}
	return ""
}

// addPeer starts the peer for a participant, or updates what is known of
// it. first says the participant was in the room before this client (it
// was listed in room-members): then it makes the first offer.
func (r *Room) addPeer(id, connectionID, userName string, first bool) *Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.peers[id]; p != nil {
		p.update(connectionID, userName)
		return p
	}
	p := newPeer(r, id, r.participantID > id, first, connectionID, userName)
	r.peers[id] = p
	go p.run()
	return p
}

// removePeer closes the peer of a participant that left.
func (r *Room) removePeer(id, reason string) {
	r.mu.Lock()
	p := r.peers[id]
	delete(r.peers, id)
	r.mu.Unlock()
	if p != nil {
		p.close(reason)
	}
}

// onSignal passes a relayed offer, answer or candidate to its peer.
func (r *Room) onSignal(f *frame) {
	id := f.ParticipantID
	if id == "" {
		id = r.participantAt(f.From)
	}
	if !r.other(id) {
		return
	}
	p := r.Peer(id)
	if p == nil {
		if _, known := r.seqs[id]; known {
			return // it left; a late signal
		}
		// Its presence frame is on its way.
		p = r.addPeer(id, f.From, "", false)
	}
	switch f.Type {
	case "offer", "answer":
		var sd webrtc.SessionDescription
		if err := json.Unmarshal([]byte(f.Body), &sd); err != nil {
			r.log.Warn("an unreadable description", "from", id, "error", err)
			return
		}
		p.tasks.push(func() { p.description(sd) })
	case "ice-candidate":
		var c webrtc.ICECandidateInit
		if err := json.Unmarshal([]byte(f.Body), &c); err != nil {
			r.log.Warn("an unreadable candidate", "from", id, "error", err)
			return
		}
		p.received.Add(1)
		p.tasks.push(func() { p.candidate(c) })
	}
}
