package client

import (
	"sync"

	"github.com/pion/webrtc/v4"
)

// Event is what Room.Events delivers: one of *PeerJoined, *PeerLeft,
// *PeerResumed, *DataChannelOpened, *Message, *ICEStateChanged,
// *ErrorEvent, *Reconnecting and *Resumed.
type Event interface{ event() }

// PeerJoined: another participant is in the room, and Peer's
// PeerConnection exists (negotiation is under way; DataChannelOpened
// follows when the default data channel opens).
type PeerJoined struct{ Peer *Peer }

// PeerLeft: a participant is gone and its PeerConnection closed. Reason is
// the protocol's ("left", "disconnected", "gone", "expired"), or
// ReasonUnlisted, or ReasonRejoined.
type PeerLeft struct {
	Peer   *Peer
	Reason string
}

// Reasons of a PeerLeft that the client decides rather than the server.
const (
	// ReasonUnlisted: a room-members frame no longer listed the
	// participant (its leave was missed, e.g. while the socket was down).
	ReasonUnlisted = "unlisted"
	// ReasonRejoined: this client's own session expired and it entered the
	// room again as a new participant, so every peer connection was
	// rebuilt (see Resumed.Rejoined).
	ReasonRejoined = "rejoined"
)

// PeerResumed: another participant's signaling connection dropped and a new
// one took its seat (the protocol's resumed frame): the same participant, at
// a new connection ID. Its PeerConnection is kept (ICE restarts if it had
// failed).
type PeerResumed struct {
	Peer                 *Peer
	PreviousConnectionID string
}

// DataChannelOpened: a data channel with Peer opened, the default one
// (Peer.DataChannel) or one either side created on the PeerConnection.
type DataChannelOpened struct {
	Peer    *Peer
	Channel *webrtc.DataChannel
}

// Message arrived over a data channel with Peer.
type Message struct {
	Peer    *Peer
	Channel *webrtc.DataChannel
	Data    []byte
	// IsString is whether it was sent as text.
	IsString bool
}

// ICEStateChanged: the ICE connection with Peer changed state (after
// PeerJoined). On failed, the impolite side restarts ICE.
type ICEStateChanged struct {
	Peer  *Peer
	State webrtc.ICEConnectionState
}

// ErrorEvent reports an error not returned by a call: an error frame that
// answers no request of Join or Leave (an *Error: undeliverable,
// rate-limited, forbidden, ...), a failed negotiation, a signal not sent
// (ErrTooLarge: a description over 128 KB), or why the room ended (then Room.Done is closed and Room.Err returns it).
type ErrorEvent struct{ Err error }

// Reconnecting: the signaling connection closed unexpectedly, and the
// client dials again (Attempt counts from 1) after a backoff, to resume
// its seat. Peer connections stay up meanwhile.
type Reconnecting struct {
	Attempt int
	Err     error
}

// Resumed: the client is signaling again on a new connection. Proactive is
// a resume ahead of API Gateway's 2-hour cut (no Reconnecting came first).
// Rejoined means the seat could not be resumed (session-expired: the grace
// window had passed) and the room was entered again as a new participant:
// ParticipantID changed, and every peer left (ReasonRejoined) and joins
// again.
type Resumed struct {
	Proactive bool
	Rejoined  bool
}

func (*PeerJoined) event()        {}
func (*PeerLeft) event()          {}
func (*PeerResumed) event()       {}
func (*DataChannelOpened) event() {}
func (*Message) event()           {}
func (*ICEStateChanged) event()   {}
func (*ErrorEvent) event()        {}
func (*Reconnecting) event()      {}
func (*Resumed) event()           {}

// eventQueue hands events to a channel without ever blocking the sender:
// a slow reader delays nothing but its own events.
type eventQueue struct {
	out  chan Event
	wake chan struct{}
	stop chan struct{}

	mu     sync.Mutex
	q      []Event
	closed bool // no more events will be pushed
	once   sync.Once
}

func newEventQueue() *eventQueue {
	e := &eventQueue{out: make(chan Event), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	go e.run()
	return e
}

// push queues ev, unless the queue is closed.
func (e *eventQueue) push(ev Event) {
	e.mu.Lock()
	if !e.closed {
		e.q = append(e.q, ev)
	}
	e.mu.Unlock()
	e.signal()
}

// close lets the queued events be read, then closes out.
func (e *eventQueue) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.signal()
}

// abandon drops the events not yet read and closes out.
func (e *eventQueue) abandon() {
	e.close()
	e.once.Do(func() { close(e.stop) })
}

func (e *eventQueue) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *eventQueue) run() {
	defer close(e.out)
	for {
		e.mu.Lock()
		if len(e.q) == 0 {
			closed := e.closed
			e.mu.Unlock()
			if closed {
				return
			}
			select {
			case <-e.wake:
			case <-e.stop:
				return
			}
			continue
		}
		ev := e.q[0]
		e.q[0] = nil
		e.q = e.q[1:]
		e.mu.Unlock()
		select {
		case e.out <- ev:
		case <-e.stop:
			return
		}
	}
}
