package emulator

import (
	"sync"
	"time"

	"github.com/coder/websocket"
)

// connState is where a connection is in its life.
type connState int

const (
	// stateConnecting: the $connect integration runs; @connections answers 410.
	stateConnecting connState = iota
	// stateAccepting: $connect succeeded and the handshake is being completed;
	// @connections calls wait for it.
	stateAccepting
	// stateOpen: the WebSocket is up.
	stateOpen
	// stateClosed: gone; @connections answers 410.
	stateClosed
)

// timer is the part of *time.Timer the gateway uses; tests replace the clock.
type timer interface {
	Reset(d time.Duration) bool
	Stop() bool
}

// conn is one client connection.
type conn struct {
	id          string
	sourceIP    string
	userAgent   string
	domainName  string // the Host the client connected to
	connectedAt time.Time
	ready       chan struct{} // closed when the handshake is over, either way
	readyOnce   sync.Once
	out         *outbox // messages to the client, written in order

	mu          sync.Mutex
	state       connState
	ws          *websocket.Conn
	lastActive  time.Time
	closeCode   websocket.StatusCode // set once the gateway decided to close
	closeReason string
	timers      []timer // idle and max-duration timers
}

// snapshot returns the state and the WebSocket under the lock.
func (c *conn) snapshot() (connState, *websocket.Conn, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.ws, c.closeCode != 0
}

// closeWith starts closing the connection from the gateway's side with code and
// reason, which the $disconnect event will carry. Only the first call counts; a
// connection still in its handshake closes as soon as it is accepted.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if c.closeCode != 0 || c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.closeCode, c.closeReason = code, reason
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		c.closeAfterQueued(ws, code, reason)
	}
}

// closeAfterQueued closes ws with code and reason once the messages already
// accepted for the client are written. Close waits up to 5 s for the client's close
// frame; the read loop notices.
func (c *conn) closeAfterQueued(ws *websocket.Conn, code websocket.StatusCode, reason string) {
	c.out.closeAfter(func() { _ = ws.Close(code, reason) })
}

// opened records the accepted WebSocket and starts its timers; it closes the
// connection at once if the gateway decided so during the handshake.
func (c *conn) opened(ws *websocket.Conn, timers ...timer) {
	c.mu.Lock()
	c.ws = ws
	c.state = stateOpen
	c.timers = timers
	code, reason := c.closeCode, c.closeReason
	c.mu.Unlock()
	c.readyOnce.Do(func() { close(c.ready) })
	if code != 0 {
		c.closeAfterQueued(ws, code, reason)
	}
}

// touch records client activity at t.
func (c *conn) touch(t time.Time) {
	c.mu.Lock()
	c.lastActive = t
	c.mu.Unlock()
}

// lastActiveAt returns when the client last sent a data frame.
func (c *conn) lastActiveAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastActive
}

// finish marks the connection closed, stops its timers and returns the close code
// and reason the gateway chose, if it chose one.
func (c *conn) finish() (code websocket.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = stateClosed
	for _, t := range c.timers {
		t.Stop()
	}
	c.out.stop()
	c.readyOnce.Do(func() { close(c.ready) })
	return c.closeCode, c.closeReason
}
