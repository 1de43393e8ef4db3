package client

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// DefaultChannelLabel is the label of the data channel every pair of peers
// has from the start: negotiated (both sides create it, with ID 0; no
// in-band announcement), so neither side needs to be the one that opens
// it. Room.Send and Peer.Send use it.
const (
	DefaultChannelLabel = "slsrtc"
	defaultChannelID    = 0
)

// Peer is another participant of the room and this client's
// PeerConnection with it. Negotiation is the W3C's "perfect negotiation":
// every change of the PeerConnection (a data channel, a track) is offered
// by whichever side made it, and when both offer at once the impolite side
// (the one whose participant ID sorts first) ignores the other's offer while
// the polite side (the larger participant ID, as slsrtc.js has it) gives
// its own up and answers. A newcomer lets the members who were there first
// offer (offering itself only if none did within offerWait), as slsrtc.js
// does: Chromium's ICE gathering can stall after the rollback a collision
// on the very first negotiation makes. ICE candidates trickle and
// are queued until their description is set; when ICE fails, the impolite
// side restarts it.
//
// pion cannot roll a local offer back (v4.2: have-local-offer does not go
// back to stable), so the polite side sends its offers without setting
// them: it sets its offer only when the answer comes, and giving it up is
// forgetting it. (Its candidates are gathered from then on.) The other
// side cannot tell the difference.
type Peer struct {
	room   *Room
	id     string
	polite bool

	mu           sync.Mutex
	userName     string
	connectionID string
	pc           *webrtc.PeerConnection
	dc           *webrtc.DataChannel
	reason       string                // why it left
	early        []*webrtc.DataChannel // opened before PeerJoined was sent
	earlyResume  *PeerResumed          // resumed before PeerJoined was sent

	opened       chan struct{} // closed when the default data channel opens; guarded by mu
	openedClosed bool

	tasks    *taskQueue
	gone     chan struct{} // closed when it is to close
	goneOnce sync.Once
	done     chan struct{} // closed when its PeerConnection is closed
	joined   atomic.Bool   // PeerJoined was sent

	received, queued, added atomic.Int64

	// Owned by the worker goroutine.
	pending     []webrtc.ICECandidateInit  // to add once a remote description is set
	proposed    *webrtc.SessionDescription // the polite side's offer, sent but not set
	ignoreOffer bool
	// deferred is the newest offer the impolite side ignored in a
	// collision, applied once its own offer is answered unless that answer
	// is newer (see description).
	deferred   *webrtc.SessionDescription
	restartICE bool
	// awaitOffer: this client is the newcomer and the peer was in the room
	// first, so the peer offers (the seed's convention, and slsrtc.js's);
	// this side offers only if no offer came within offerWait.
	awaitOffer bool
	remoteID   uint64 // o= session ID and version of the last remote description applied
	remoteVer  uint64
}

// offerWait is how long a newcomer waits for an earlier member's first
// offer before offering itself (slsrtc.js's OFFER_WAIT_MS).
const offerWait = 3 * time.Second

func newPeer(r *Room, id string, polite, awaitOffer bool, connectionID, userName string) *Peer {
	return &Peer{
		room: r, id: id, polite: polite, awaitOffer: awaitOffer, connectionID: connectionID, userName: userName,
		tasks: newTaskQueue(), opened: make(chan struct{}), gone: make(chan struct{}), done: make(chan struct{}),
	}
}

// ID returns the participant ID, which stays the same across its resumes.
func (p *Peer) ID() string { return p.id }

// UserName returns the name it entered with ("" for none, or not known
// yet).
func (p *Peer) UserName() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.userName
}

// ConnectionID returns its current signaling connection.
func (p *Peer) ConnectionID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connectionID
}

// Polite reports whether this side is the polite one of the pair.
func (p *Peer) Polite() bool { return p.polite }

// PeerConnection returns the peer connection with it (nil before
// PeerJoined). Add tracks and data channels to it freely: negotiation
// follows. Do not call its offer/answer methods yourself.
func (p *Peer) PeerConnection() *webrtc.PeerConnection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc
}

// DataChannel returns the default data channel (DefaultChannelLabel), nil
// before PeerJoined.
func (p *Peer) DataChannel() *webrtc.DataChannel {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dc
}

// Done is closed once it has left and its PeerConnection is closed.
func (p *Peer) Done() <-chan struct{} { return p.done }

// CandidateStats count the remote ICE candidates of a peer.
type CandidateStats struct {
	// Received arrived from the peer.
	Received int64
	// Queued arrived before their description was set, and waited.
	Queued int64
	// Added were given to the PeerConnection.
	Added int64
}

// Candidates returns how many remote candidates it received, queued and
// added.
func (p *Peer) Candidates() CandidateStats {
	return CandidateStats{Received: p.received.Load(), Queued: p.queued.Load(), Added: p.added.Load()}
}

// Send sends data (as binary) over the default data channel, waiting until
// it is open (bounded by ctx).
func (p *Peer) Send(ctx context.Context, data []byte) error {
	dc, err := p.waitOpen(ctx)
	if err != nil {
		return err
	}
	return dc.Send(data)
}

// SendText sends text over the default data channel, waiting until it is
// open (bounded by ctx).
func (p *Peer) SendText(ctx context.Context, text string) error {
	dc, err := p.waitOpen(ctx)
	if err != nil {
		return err
	}
	return dc.SendText(text)
}

func (p *Peer) openedChan() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opened
}

func (p *Peer) waitOpen(ctx context.Context) (*webrtc.DataChannel, error) {
	select {
	case <-p.openedChan():
	case <-p.gone:
		return nil, fmt.Errorf("client: participant %s left", p.id)
	case <-ctx.Done():
		return nil, fmt.Errorf("client: waiting for the data channel with %s to open: %w", p.id, ctx.Err())
	}
	select {
	case <-p.gone:
		return nil, fmt.Errorf("client: participant %s left", p.id)
	default:
	}
	return p.DataChannel(), nil
}

func (p *Peer) isOpen() bool {
	select {
	case <-p.gone:
		return false
	case <-p.openedChan():
		return true
	default:
		return false
	}
}

func (p *Peer) update(connectionID, userName string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if connectionID != "" {
		p.connectionID = connectionID
	}
	if userName != "" {
		p.userName = userName
	}
}

func (p *Peer) setConnectionID(id string) { p.update(id, "") }

// close makes the worker close the PeerConnection and send PeerLeft.
func (p *Peer) close(reason string) {
	p.goneOnce.Do(func() {
		p.mu.Lock()
		p.reason = reason
		p.mu.Unlock()
		close(p.gone)
	})
}

// run is the peer's worker: it creates the PeerConnection once the ICE
// servers are known, then runs the negotiation tasks one at a time until
// the peer leaves.
func (p *Peer) run() {
	defer close(p.done)
	select {
	case <-p.room.iceReady:
	case <-p.gone:
		return
	}
	if err := p.start(); err != nil {
		p.room.emit(&ErrorEvent{Err: fmt.Errorf("client: peer connection with %s: %w", p.id, err)})
		return
	}
	for {
		task, ok := p.tasks.next(p.gone)
		if !ok {
			break
		}
		task()
		p.checkJoined()
	}
	if err := p.PeerConnection().Close(); err != nil {
		p.room.log.Warn("close a peer connection", "participantID", p.id, "error", err)
	}
	if p.joined.Load() {
		p.mu.Lock()
		reason := p.reason
		p.mu.Unlock()
		p.room.emit(&PeerLeft{Peer: p, Reason: reason})
	}
}

// checkJoined sends PeerJoined once the first negotiation is done.
func (p *Peer) checkJoined() {
	pc := p.PeerConnection()
	if p.joined.Load() || pc.SignalingState() != webrtc.SignalingStateStable || pc.CurrentRemoteDescription() == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.joined.Store(true)
	p.room.emit(&PeerJoined{Peer: p})
	for _, dc := range p.early {
		p.room.emit(&DataChannelOpened{Peer: p, Channel: dc})
	}
	if p.earlyResume != nil {
		p.room.emit(p.earlyResume)
	}
	p.early, p.earlyResume = nil, nil
}

// resumed reports that the participant resumed on a new connection, after
// PeerJoined.
func (p *Peer) resumed(previousConnectionID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := &PeerResumed{Peer: p, PreviousConnectionID: previousConnectionID}
	if !p.joined.Load() {
		p.earlyResume = ev
		return
	}
	p.room.emit(ev)
}

// start creates the PeerConnection and its default data channel.
func (p *Peer) start() error {
	pc, err := p.room.api.NewPeerConnection(p.room.configuration())
	if err != nil {
		return err
	}
	current := func() bool { return p.PeerConnection() == pc }
	pc.OnNegotiationNeeded(func() {
		p.tasks.push(func() {
			if current() {
				p.negotiate()
			}
		})
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil && current() {
			p.room.signal(p.id, "ice-candidate", c.ToJSON())
		}
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		p.room.log.Debug("ICE", "participantID", p.id, "state", s.String())
		if p.joined.Load() {
			p.room.emit(&ICEStateChanged{Peer: p, State: s})
		}
		if s == webrtc.ICEConnectionStateFailed && !p.polite {
			p.tasks.push(func() {
				if current() {
					p.restart()
				}
			})
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { p.watch(dc, false) })
	p.mu.Lock()
	p.pc = pc
	p.mu.Unlock()
	negotiated, id := true, uint16(defaultChannelID)
	dc, err := pc.CreateDataChannel(DefaultChannelLabel, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
	if err != nil {
		return fmt.Errorf("create the default data channel: %w", err)
	}
	p.mu.Lock()
	p.dc = dc
	if p.openedClosed {
		p.opened, p.openedClosed = make(chan struct{}), false
	}
	p.mu.Unlock()
	p.watch(dc, true)
	return nil
}

// watch reports dc's opening and its messages as events.
func (p *Peer) watch(dc *webrtc.DataChannel, isDefault bool) {
	dc.OnOpen(func() {
		if isDefault {
			p.mu.Lock()
			if p.dc == dc && !p.openedClosed {
				close(p.opened)
				p.openedClosed = true
			}
			p.mu.Unlock()
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.joined.Load() {
			p.early = append(p.early, dc) // reported after PeerJoined
			return
		}
		p.room.emit(&DataChannelOpened{Peer: p, Channel: dc})
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		p.room.emit(&Message{Peer: p, Channel: dc, Data: m.Data, IsString: m.IsString})
	})
}

// negotiate sends an offer when the PeerConnection needs one (or ICE is to
// restart), unless an offer is out already. The impolite side sets it at
// once; the polite side only proposes it (see Peer).
func (p *Peer) negotiate() {
	pc := p.PeerConnection()
	if pc.SignalingState() != webrtc.SignalingStateStable || p.proposed != nil {
		return // the answer brings it back to stable, and pion asks again
	}
	if p.awaitOffer {
		p.awaitOffer = false
		time.AfterFunc(offerWait, func() {
			p.tasks.push(func() {
				if p.PeerConnection() == pc && pc.RemoteDescription() == nil {
					p.negotiate() // no offer came: offer ourselves
				}
			})
		})
		return
	}
	var opts *webrtc.OfferOptions
	if p.restartICE {
		opts = &webrtc.OfferOptions{ICERestart: true}
	}
	offer, err := pc.CreateOffer(opts)
	if err != nil {
		p.fail("create an offer", err)
		return
	}
	p.restartICE = false
	if p.polite {
		p.proposed = &offer
		p.room.signal(p.id, "offer", offer)
		return
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		p.fail("set the local offer", err)
		return
	}
	p.room.signal(p.id, "offer", pc.LocalDescription())
}

// description applies a remote offer or answer, the perfect negotiation
// way, and answers an offer.
func (p *Peer) description(sd webrtc.SessionDescription) {
	pc := p.PeerConnection()
	if p.outdated(sd) {
		p.room.log.Debug("an outdated description", "participantID", p.id, "type", sd.Type.String())
		return
	}
	state := pc.SignalingState()
	switch sd.Type {
	case webrtc.SDPTypeOffer:
		collision := state != webrtc.SignalingStateStable || p.proposed != nil
		p.ignoreOffer = !p.polite && collision
		if p.ignoreOffer {
			p.room.log.Debug("offer collision: ignoring the polite side's offer", "participantID", p.id)
			if p.deferred == nil || newer(sd, *p.deferred) {
				p.deferred = &sd
			}
			return
		}
		p.proposed = nil // the polite side gives its offer up
	case webrtc.SDPTypeAnswer:
		if p.polite {
			if p.proposed == nil {
				p.room.log.Debug("an answer to no offer", "participantID", p.id)
				return
			}
			offer := *p.proposed
			p.proposed = nil
			if err := pc.SetLocalDescription(offer); err != nil {
				p.fail("set the local offer", err)
				return
			}
		} else if state != webrtc.SignalingStateHaveLocalOffer {
			p.room.log.Debug("an answer to no offer", "participantID", p.id, "state", state.String())
			return
		}
	default:
		return
	}
	if err := pc.SetRemoteDescription(sd); err != nil {
		p.fail("set the remote "+sd.Type.String(), err)
		return
	}
	p.remoteID, p.remoteVer, _ = sdpOrigin(sd.SDP)
	p.flush()
	if sd.Type == webrtc.SDPTypeOffer {
		answer, err := pc.CreateAnswer(nil)
		if err != nil {
			p.fail("create an answer", err)
			return
		}
		if err := pc.SetLocalDescription(answer); err != nil {
			p.fail("set the local answer", err)
			return
		}
		p.room.signal(p.id, "answer", pc.LocalDescription())
	}
	if d := p.deferred; d != nil && sd.Type == webrtc.SDPTypeAnswer {
		// Our offer is answered. An offer we ignored meanwhile is dropped
		// as outdated if the polite side made it before this answer (it
		// gave it up); if it made it after (it answered, then offered,
		// and the offer overtook the answer: signals are not ordered), it
		// is waiting for our answer, and nobody would send it again.
		p.deferred = nil
		p.description(*d)
	}
	if p.restartICE {
		p.tasks.push(p.negotiate)
	}
}

// newer reports whether a was made after b by the same PeerConnection (the
// o= line's session version), or b's origin cannot be told.
func newer(a, b webrtc.SessionDescription) bool {
	aID, aVer, aOK := sdpOrigin(a.SDP)
	bID, bVer, bOK := sdpOrigin(b.SDP)
	return !aOK || !bOK || aID != bID || aVer > bVer
}

// outdated reports whether sd is older than the remote description applied
// last: signals are not ordered (each is its own invocation), so an offer
// the other side rolled back may arrive after the answer it sent instead.
// Descriptions of one PeerConnection share the o= line's session ID and
// increase its version.
func (p *Peer) outdated(sd webrtc.SessionDescription) bool {
	id, ver, ok := sdpOrigin(sd.SDP)
	return ok && p.remoteID != 0 && id == p.remoteID && ver < p.remoteVer
}

// sdpOrigin returns the session ID and version of an SDP's o= line.
func sdpOrigin(sdp string) (id, version uint64, ok bool) {
	for line := range strings.Lines(sdp) {
		rest, found := strings.CutPrefix(line, "o=")
		if !found {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 3 {
			return 0, 0, false
		}
		id, err1 := strconv.ParseUint(f[1], 10, 64)
		version, err2 := strconv.ParseUint(f[2], 10, 64)
		return id, version, err1 == nil && err2 == nil
	}
	return 0, 0, false
}

// candidate adds a remote candidate, or queues it until a remote
// description is set.
func (p *Peer) candidate(c webrtc.ICECandidateInit) {
	if c.Candidate == "" {
		return // end of candidates
	}
	pc := p.PeerConnection()
	if d := pc.RemoteDescription(); d == nil || !ufragMatches(d.SDP, c.Candidate) {
		// Before its description: signals are not kept in order (each
		// relay is its own invocation, and signals held for a resume come
		// in the order they reached the stack), so a candidate of an ICE
		// restart can come before the offer that restarts.
		p.queued.Add(1)
		p.pending = append(p.pending, c)
		if len(p.pending) > maxPendingCandidates {
			p.pending = p.pending[len(p.pending)-maxPendingCandidates:] // an old generation's, never to match
		}
		return
	}
	p.add(pc, c)
}

// maxPendingCandidates bounds the candidates kept for a description that
// has not come.
const maxPendingCandidates = 100

// ufragMatches reports whether a candidate (with its ufrag extension, as
// pion and Chromium write it) belongs to the ICE credentials of sdp; one
// without a ufrag matches any.
func ufragMatches(sdp, candidate string) bool {
	fields := strings.Fields(candidate)
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "ufrag" {
			return strings.Contains(sdp, "a=ice-ufrag:"+fields[i+1]+"\r\n") || strings.Contains(sdp, "a=ice-ufrag:"+fields[i+1]+"\n")
		}
	}
	return true
}

// flush adds the queued candidates that belong to the remote description;
// the others stay queued.
func (p *Peer) flush() {
	pc := p.PeerConnection()
	d := pc.RemoteDescription()
	pending := p.pending
	p.pending = nil
	for _, c := range pending {
		if d != nil && ufragMatches(d.SDP, c.Candidate) {
			p.add(pc, c)
		} else {
			p.pending = append(p.pending, c)
		}
	}
}

func (p *Peer) add(pc *webrtc.PeerConnection, c webrtc.ICECandidateInit) {
	if err := pc.AddICECandidate(c); err != nil {
		if !p.ignoreOffer {
			p.room.log.Warn("add a remote candidate", "participantID", p.id, "candidate", c.Candidate, "error", err)
		}
		return
	}
	p.added.Add(1)
}

// RestartICE restarts ICE: the next offer gathers new candidates, as after
// a change of network. (ICE also restarts by itself when it fails.)
func (p *Peer) RestartICE() { p.tasks.push(p.restart) }

// restart restarts ICE with the next offer.
func (p *Peer) restart() {
	p.room.log.Info("ICE failed; restarting it", "participantID", p.id)
	p.restartICE = true
	p.negotiate()
}

// restartIfDown restarts ICE, on the impolite side, if the connection is
// not up (after the other side resumed its signaling connection).
func (p *Peer) restartIfDown() {
	if p.polite {
		return // the impolite side restarts
	}
	switch p.PeerConnection().ICEConnectionState() {
	case webrtc.ICEConnectionStateFailed, webrtc.ICEConnectionStateDisconnected:
		p.restart()
	}
}

// reconfigure applies the room's new ICE servers.
func (p *Peer) reconfigure() {
	if err := p.PeerConnection().SetConfiguration(p.room.configuration()); err != nil {
		p.room.log.Warn("apply new ICE servers", "participantID", p.id, "error", err)
	}
}

// fail reports a negotiation step that failed.
func (p *Peer) fail(step string, err error) {
	p.room.log.Warn("negotiation failed", "participantID", p.id, "step", step, "error", err)
	p.room.emit(&ErrorEvent{Err: fmt.Errorf("client: %s with %s: %w", step, p.id, err)})
}

// taskQueue is an unbounded FIFO of functions for a peer's worker.
type taskQueue struct {
	mu   sync.Mutex
	q    []func()
	wake chan struct{}
}

func newTaskQueue() *taskQueue { return &taskQueue{wake: make(chan struct{}, 1)} }

func (t *taskQueue) push(fn func()) {
	t.mu.Lock()
	t.q = append(t.q, fn)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// next returns the next task, waiting for one; false once stop is closed.
func (t *taskQueue) next(stop <-chan struct{}) (func(), bool) {
	for {
		select {
		case <-stop:
			return nil, false
		default:
		}
		t.mu.Lock()
		if len(t.q) > 0 {
			fn := t.q[0]
			t.q[0] = nil
			t.q = t.q[1:]
			t.mu.Unlock()
			return fn, true
		}
		t.mu.Unlock()
		select {
		case <-t.wake:
		case <-stop:
			return nil, false
		}
	}
}
