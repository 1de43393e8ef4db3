package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// Peer is a WebRTC client of the signaling protocol that follows the seed
// front end's flow: a member that sees "enter" for another connection creates
// a peer connection with a data channel and sends it an "offer" (message =
// JSON of the SDP); the newcomer answers to "from"; ICE candidates trickle as
// "ice-candidate" and are queued until the remote description is set; "leave"
// closes that peer connection, and the peer's own "leave" closes all of them.
//
// It gathers host candidates on loopback only and uses no STUN server, so it
// works offline.
type Peer struct {
	// ID is the connection ID the server gave it.
	ID string
	// Name is the user name it enters rooms with ("" for none).
	Name string

	ws       *websocket.Conn
	api      *webrtc.API
	opts     PeerOptions
	cancel   context.CancelFunc
	done     chan struct{} // closed when the reader has stopped
	stopping atomic.Bool   // the WebSocket is being closed on purpose

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every state change
	state   peerState
	remotes map[string]*remote // by connection ID
}

// PeerOptions tune a Peer for a test.
type PeerOptions struct {
	// Name is the user name sent with enterroom.
	Name string
	// DeferOffers holds each offer until an ICE candidate from its sender has
	// arrived, as a network that reorders signals would, so the candidate
	// must be queued until the remote description is set.
	DeferOffers bool
}

// peerState is what tests wait on; guarded by Peer.mu.
type peerState struct {
	roomCreated string
	roomID      string // the room it is in, after its own enter
	left        bool   // its own leave arrived
	open        map[string]bool
	closed      map[string]error    // what Close returned, by remote ID
	leaves      map[string]bool     // leave seen, by connection ID
	received    map[string][]string // data channel texts, by sender
	errs        []frame
	readErr     error // the signaling connection failed
	candidates  CandidateStats
}

// CandidateStats count the remote ICE candidates a peer handled.
type CandidateStats struct {
	// Received is every ice-candidate signal that arrived.
	Received int
	// Queued arrived before the remote description and waited for it.
	Queued int
	// Added were passed to AddICECandidate.
	Added int
}

// remote is one other member: its peer connection and the candidates that
// arrived before the remote description. dc is guarded by Peer.mu; the other
// fields belong to the reader goroutine.
type remote struct {
	pc      *webrtc.PeerConnection
	dc      *webrtc.DataChannel
	pending []webrtc.ICECandidateInit
	offer   *frame // an offer held back by DeferOffers
	gotICE  bool
}

// frame is any server frame; only the fields of its type are set.
type frame struct {
	Type         string `json:"type"`
	Body         string `json:"body"`
	From         string `json:"from"`
	RoomID       string `json:"roomID"`
	ConnectionID string `json:"connectionID"`
	UserName     string `json:"userName"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	Action       string `json:"action"`
}

// Error is an "error" frame the server sent.
type Error struct {
	Code, Message, Action string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%s): %s", e.Code, e.Action, e.Message) }

// loopbackAPI returns a pion API that gathers UDP4 host candidates on
// loopback only, without mDNS.
func loopbackAPI() *webrtc.API {
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithSettingEngine(se))
}

// Connect dials the WebSocket API at url and returns once the server has
// sent "connected". Close releases the peer.
func Connect(ctx context.Context, url string, opts PeerOptions) (*Peer, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	ws.SetReadLimit(-1)
	var f frame
	if err := readFrame(ctx, ws, &f); err != nil {
		ws.CloseNow()
		return nil, err
	}
	if f.Type != "connected" || f.Body == "" {
		ws.CloseNow()
		return nil, fmt.Errorf("first frame is %+v, want connected", f)
	}
	life, cancel := context.WithCancel(context.Background())
	p := &Peer{
		ID: f.Body, Name: opts.Name, ws: ws, api: loopbackAPI(), opts: opts, cancel: cancel,
		done: make(chan struct{}), changed: make(chan struct{}), remotes: map[string]*remote{},
		state: peerState{
			open: map[string]bool{}, closed: map[string]error{},
			leaves: map[string]bool{}, received: map[string][]string{},
		},
	}
	go p.read(life)
	return p, nil
}

func readFrame(ctx context.Context, ws *websocket.Conn, f *frame) error {
	_, data, err := ws.Read(ctx)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if err := json.Unmarshal(data, f); err != nil {
		return fmt.Errorf("frame %s: %w", data, err)
	}
	return nil
}

// Close closes the WebSocket (the server then tells the room "leave") and
// every peer connection, and waits for the reader to stop.
func (p *Peer) Close() {
	p.stopping.Store(true)
	p.ws.Close(websocket.StatusNormalClosure, "bye")
	p.cancel()
	<-p.done
	p.closeAll()
}

// DropSignaling closes the WebSocket abruptly but keeps the peer
// connections, as when a tab loses its signaling connection.
func (p *Peer) DropSignaling() {
	p.stopping.Store(true)
	p.ws.CloseNow()
	p.cancel()
	<-p.done
}

// CreateRoom sends createroom and returns the new room's ID, or the server's
// *Error.
func (p *Peer) CreateRoom(ctx context.Context) (string, error) {
	var id string
	err := p.request(ctx, map[string]any{"action": "createroom"}, "room-created", func(s *peerState) bool {
		id = s.roomCreated
		return id != ""
	})
	return id, err
}

// Enter sends enterroom and returns once its own "enter" has arrived, or
// the server's *Error.
func (p *Peer) Enter(ctx context.Context, roomID string) error {
	msg := map[string]any{"action": "enterroom", "roomID": roomID}
	if p.Name != "" {
		msg["userName"] = p.Name
	}
	return p.request(ctx, msg, "own enter", func(s *peerState) bool { return s.roomID == roomID })
}

// Leave sends leaveroom and returns once its own "leave" has arrived (and
// every peer connection is closed), or the server's *Error.
func (p *Peer) Leave(ctx context.Context) error {
	return p.request(ctx, map[string]any{"action": "leaveroom"}, "own leave", func(s *peerState) bool { return s.left })
}

// request sends msg and waits until cond holds or an "error" frame answers
// msg's action.
func (p *Peer) request(ctx context.Context, msg map[string]any, what string, cond func(*peerState) bool) error {
	p.mu.Lock()
	seen := len(p.state.errs)
	p.mu.Unlock()
	if err := p.send(ctx, msg); err != nil {
		return err
	}
	var serverErr *Error
	err := p.wait(ctx, what, func(s *peerState) bool {
		for _, f := range s.errs[seen:] {
			if f.Action == msg["action"] {
				serverErr = &Error{Code: f.Code, Message: f.Message, Action: f.Action}
				return true
			}
		}
		return cond(s)
	})
	if err == nil && serverErr != nil {
		return serverErr
	}
	return err
}

// WaitOpen waits until the data channel with each of ids is open.
func (p *Peer) WaitOpen(ctx context.Context, ids ...string) error {
	return p.wait(ctx, "data channels to "+strings.Join(ids, ","), func(s *peerState) bool {
		for _, id := range ids {
			if !s.open[id] {
				return false
			}
		}
		return true
	})
}

// Open returns the IDs of the peers its data channel is open with, sorted.
func (p *Peer) Open() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id, ok := range p.state.open {
		if ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Send sends text over the data channel with the peer whose connection ID is
// to.
func (p *Peer) Send(to, text string) error {
	p.mu.Lock()
	var dc *webrtc.DataChannel
	if r := p.remotes[to]; r != nil {
		dc = r.dc
	}
	p.mu.Unlock()
	if dc == nil || dc.ReadyState() != webrtc.DataChannelStateOpen {
		return fmt.Errorf("peer %s: no open data channel to %s", p.Name, to)
	}
	return dc.SendText(text)
}

// WaitMessage waits until text has arrived over the data channel from the
// peer whose connection ID is from.
func (p *Peer) WaitMessage(ctx context.Context, from, text string) error {
	return p.wait(ctx, fmt.Sprintf("%q from %s", text, from), func(s *peerState) bool {
		for _, got := range s.received[from] {
			if got == text {
				return true
			}
		}
		return false
	})
}

// WaitClosed waits until "leave" for id has arrived and the peer connection
// with it is closed, and returns what closing it returned.
func (p *Peer) WaitClosed(ctx context.Context, id string) error {
	var closeErr error
	err := p.wait(ctx, "leave of "+id, func(s *peerState) bool {
		var ok bool
		closeErr, ok = s.closed[id]
		return s.leaves[id] && ok
	})
	if err != nil {
		return err
	}
	if closeErr != nil {
		return fmt.Errorf("peer %s: close the peer connection with %s: %w", p.Name, id, closeErr)
	}
	return nil
}

// WaitAllClosed waits until none of its data channels is open.
func (p *Peer) WaitAllClosed(ctx context.Context) error {
	return p.wait(ctx, "every data channel to close", func(s *peerState) bool {
		for _, open := range s.open {
			if open {
				return false
			}
		}
		return true
	})
}

// WaitCandidates waits until the counts of remote ICE candidates it handled
// satisfy cond.
func (p *Peer) WaitCandidates(ctx context.Context, what string, cond func(CandidateStats) bool) error {
	return p.wait(ctx, what, func(s *peerState) bool { return cond(s.candidates) })
}

// wait blocks until cond holds on the state, the signaling connection
// fails, or ctx ends.
func (p *Peer) wait(ctx context.Context, what string, cond func(*peerState) bool) error {
	for {
		p.mu.Lock()
		ok := cond(&p.state)
		readErr, changed := p.state.readErr, p.changed
		p.mu.Unlock()
		switch {
		case ok:
			return nil
		case readErr != nil:
			return fmt.Errorf("peer %s: waiting for %s: %w", p.Name, what, readErr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			p.mu.Lock()
			candidates := p.state.candidates
			p.mu.Unlock()
			return fmt.Errorf("peer %s (%s): waiting for %s: %w (channels open to %v, candidates %+v)",
				p.Name, p.ID, what, ctx.Err(), p.Open(), candidates)
		}
	}
}

// update changes the state under the lock and wakes every waiter.
func (p *Peer) update(change func(*peerState)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change(&p.state)
	close(p.changed)
	p.changed = make(chan struct{})
}

// send writes one client message.
func (p *Peer) send(ctx context.Context, msg map[string]any) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if err := p.ws.Write(ctx, websocket.MessageText, data); err != nil {
		return fmt.Errorf("peer %s: send %s: %w", p.Name, msg["action"], err)
	}
	return nil
}

// signal relays a WebRTC signal to dest: {"action":"message","dest","type","message"}.
func (p *Peer) signal(ctx context.Context, dest, typ string, payload any) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	return p.send(ctx, map[string]any{"action": "message", "dest": dest, "type": typ, "message": string(data)})
}

// read handles server frames one at a time until the connection ends.
func (p *Peer) read(ctx context.Context) {
	defer close(p.done)
	for {
		var f frame
		if err := readFrame(ctx, p.ws, &f); err != nil {
			if !p.stopping.Load() {
				p.update(func(s *peerState) { s.readErr = err })
			}
			return
		}
		if err := p.handle(ctx, f); err != nil {
			p.update(func(s *peerState) { s.readErr = fmt.Errorf("handle %s from %s: %w", f.Type, f.From, err) })
			return
		}
	}
}

// handle acts on one frame, the way the seed front end does.
func (p *Peer) handle(ctx context.Context, f frame) error {
	switch f.Type {
	case "room-created":
		p.update(func(s *peerState) { s.roomCreated = f.Body })
	case "enter":
		if f.ConnectionID == p.ID {
			p.update(func(s *peerState) { s.roomID, s.left = f.RoomID, false })
			return nil
		}
		p.update(func(s *peerState) { delete(s.leaves, f.ConnectionID) })
		return p.offer(ctx, f.ConnectionID)
	case "offer":
		r := p.remote(f.From)
		if p.opts.DeferOffers && !r.gotICE {
			r.offer = &f
			return nil
		}
		return p.answer(ctx, f.From, f.Body)
	case "answer":
		r := p.remote(f.From)
		if r.pc == nil {
			return fmt.Errorf("answer from %s, to whom no offer was sent", f.From)
		}
		var sd webrtc.SessionDescription
		if err := json.Unmarshal([]byte(f.Body), &sd); err != nil {
			return fmt.Errorf("answer: %w", err)
		}
		if err := r.pc.SetRemoteDescription(sd); err != nil {
			return fmt.Errorf("set answer: %w", err)
		}
		return p.flush(f.From)
	case "ice-candidate":
		return p.candidate(ctx, f.From, f.Body)
	case "leave":
		p.update(func(s *peerState) { s.leaves[f.ConnectionID] = true })
		if f.ConnectionID != p.ID {
			p.closeRemote(f.ConnectionID)
			return nil
		}
		p.closeAll()
		p.update(func(s *peerState) { s.roomID, s.left = "", true })
	case "error":
		p.update(func(s *peerState) { s.errs = append(s.errs, f) })
	}
	return nil
}

// remote returns the entry for id, creating it.
func (p *Peer) remote(id string) *remote {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.remotes[id]
	if !ok {
		r = &remote{}
		p.remotes[id] = r
	}
	return r
}

// offer opens a peer connection with a newcomer: a data channel, an offer,
// and candidates trickling after it.
func (p *Peer) offer(ctx context.Context, id string) error {
	pc, err := p.newPeerConnection(ctx, id)
	if err != nil {
		return err
	}
	dc, err := pc.CreateDataChannel("chat", nil)
	if err != nil {
		return fmt.Errorf("create data channel: %w", err)
	}
	p.watchDataChannel(id, dc)
	sd, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	if err := pc.SetLocalDescription(sd); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	return p.signal(ctx, id, "offer", pc.LocalDescription())
}

// answer answers an offer from id and adds the candidates queued for it.
func (p *Peer) answer(ctx context.Context, id, body string) error {
	var sd webrtc.SessionDescription
	if err := json.Unmarshal([]byte(body), &sd); err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	pc, err := p.newPeerConnection(ctx, id)
	if err != nil {
		return err
	}
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { p.watchDataChannel(id, dc) })
	if err := pc.SetRemoteDescription(sd); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	if err := p.flush(id); err != nil {
		return err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return fmt.Errorf("set answer: %w", err)
	}
	return p.signal(ctx, id, "answer", pc.LocalDescription())
}

// candidate adds a remote candidate, or queues it until the remote
// description is set.
func (p *Peer) candidate(ctx context.Context, id, body string) error {
	var c webrtc.ICECandidateInit
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		return fmt.Errorf("ice-candidate: %w", err)
	}
	r := p.remote(id)
	r.gotICE = true
	ready := r.pc != nil && r.pc.RemoteDescription() != nil
	p.update(func(s *peerState) {
		s.candidates.Received++
		if !ready {
			s.candidates.Queued++
		}
	})
	if !ready {
		r.pending = append(r.pending, c)
		if held := r.offer; held != nil {
			r.offer = nil
			return p.answer(ctx, id, held.Body)
		}
		return nil
	}
	return p.addCandidates(r.pc, c)
}

// flush adds the candidates queued for id now that its remote description is
// set.
func (p *Peer) flush(id string) error {
	r := p.remote(id)
	pending := r.pending
	r.pending = nil
	return p.addCandidates(r.pc, pending...)
}

func (p *Peer) addCandidates(pc *webrtc.PeerConnection, cs ...webrtc.ICECandidateInit) error {
	for _, c := range cs {
		if err := pc.AddICECandidate(c); err != nil {
			return fmt.Errorf("add candidate %q: %w", c.Candidate, err)
		}
		p.update(func(s *peerState) { s.candidates.Added++ })
	}
	return nil
}

// newPeerConnection creates the peer connection with id, which trickles its
// candidates to id.
func (p *Peer) newPeerConnection(ctx context.Context, id string) (*webrtc.PeerConnection, error) {
	r := p.remote(id)
	if r.pc != nil {
		return nil, fmt.Errorf("a peer connection with %s exists already", id)
	}
	pc, err := p.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return // gathering complete
		}
		// A failed send means the signaling connection is gone; the
		// reader reports that.
		_ = p.signal(ctx, id, "ice-candidate", c.ToJSON())
	})
	p.mu.Lock()
	r.pc = pc
	p.mu.Unlock()
	return pc, nil
}

// watchDataChannel records when dc opens, what arrives on it, and when it
// closes.
func (p *Peer) watchDataChannel(id string, dc *webrtc.DataChannel) {
	p.mu.Lock()
	if r := p.remotes[id]; r != nil { // nil once a leave has closed it
		r.dc = dc
	}
	p.mu.Unlock()
	dc.OnOpen(func() { p.update(func(s *peerState) { s.open[id] = true }) })
	dc.OnClose(func() { p.update(func(s *peerState) { s.open[id] = false }) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		p.update(func(s *peerState) { s.received[id] = append(s.received[id], string(m.Data)) })
	})
}

// closeAll closes every peer connection.
func (p *Peer) closeAll() {
	p.mu.Lock()
	ids := make([]string, 0, len(p.remotes))
	for id := range p.remotes {
		ids = append(ids, id)
	}
	p.mu.Unlock()
	for _, id := range ids {
		p.closeRemote(id)
	}
}

// closeRemote closes the peer connection with id and forgets it.
func (p *Peer) closeRemote(id string) {
	p.mu.Lock()
	r := p.remotes[id]
	delete(p.remotes, id)
	p.mu.Unlock()
	if r == nil || r.pc == nil {
		return
	}
	err := r.pc.Close()
	p.update(func(s *peerState) {
		s.open[id] = false
		s.closed[id] = err
	})
}
