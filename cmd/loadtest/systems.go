package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
)

// system is a signaling server the load test drives: how a client joins it,
// how it asks for a relay and how a relayed frame looks.
type system interface {
	name() string
	// join connects client i, a member of group g, and returns once it can
	// send and receive relays.
	join(ctx context.Context, d *driver, c *client, i int, g *group) error
	// relayFrame is what a client sends to relay payload to dst.
	relayFrame(dst, payload string) []byte
	// relayed returns the payload of a relayed frame, ok false for any other
	// frame.
	relayed(f *frame) (payload string, ok bool)
	// heartbeat is what a client sends now and then to stay connected (nil:
	// nothing).
	heartbeat() []byte
}

// frame is any frame either server sends, decoded loosely.
type frame struct {
	Type    string          `json:"type"`
	Body    string          `json:"body"`    // slsrtc: connected, room-created, relays
	Payload json.RawMessage `json:"payload"` // PeerJS: relays, errors
	Code    string          `json:"code"`    // slsrtc errors
	Message string          `json:"message"`
	Retry   int64           `json:"retryAfterMs"` // slsrtc rate-limited errors
}

// group is a room of clients: its members join it and relay to each other.
type group struct {
	ready  chan struct{} // closed once the room exists or will not (slsrtc)
	once   sync.Once
	roomID string // set before ready is closed; "" if creating it failed
	mu     sync.Mutex
	ids    []string // members that joined, in join order
}

func newGroup() *group { return &group{ready: make(chan struct{})} }

// open publishes the room ID ("" when it could not be created) to the
// members waiting for it; only the first call counts.
func (g *group) open(roomID string) {
	g.once.Do(func() {
		g.roomID = roomID
		close(g.ready)
	})
}

func (g *group) add(id string) {
	g.mu.Lock()
	g.ids = append(g.ids, id)
	g.mu.Unlock()
}

// slsrtc speaks the sls-rtc protocol to the local stack (or any deployment):
// the first member of each group creates the room, then every member enters
// it; a relay is {"action":"message"} and arrives as {"type":"offer"}.
type slsrtc struct{ roomSize int }

func (slsrtc) name() string { return "slsrtc" }

func (s slsrtc) join(ctx context.Context, d *driver, c *client, i int, g *group) error {
	if i%s.roomSize == 0 {
		// Whatever happens, the members must not wait for a room that will
		// not come.
		defer g.open("")
	}
	if err := c.dial(ctx, d, d.url); err != nil {
		return err
	}
	f, err := c.expect(ctx, "connected")
	if err != nil {
		return err
	}
	c.id = f.Body
	if i%s.roomSize == 0 {
		if err := c.write(ctx, []byte(`{"action":"createroom","capacity":`+strconv.Itoa(s.roomSize)+`}`)); err != nil {
			return err
		}
		f, err := c.expect(ctx, "room-created")
		if err != nil {
			return err
		}
		g.open(f.Body)
	}
	select {
	case <-g.ready:
	case <-ctx.Done():
		return fmt.Errorf("wait for the room: %w", ctx.Err())
	}
	if g.roomID == "" {
		return errors.New("the room was not created")
	}
	if err := c.write(ctx, []byte(`{"action":"enterroom","roomID":"`+g.roomID+`"}`)); err != nil {
		return err
	}
	if _, err := c.expect(ctx, "room-members"); err != nil {
		return err
	}
	g.add(c.id)
	return nil
}

func (slsrtc) relayFrame(dst, payload string) []byte { return slsrtcRelay(dst, "offer", payload) }

// slsrtcRelay is a message action relaying payload to dst as type typ.
func slsrtcRelay(dst, typ, payload string) []byte {
	b, _ := json.Marshal(struct {
		Action  string `json:"action"`
		Dest    string `json:"dest"`
		Type    string `json:"type"`
		Message string `json:"message"`
	}{"message", dst, typ, payload})
	return b
}

func (slsrtc) relayed(f *frame) (string, bool) {
	return f.Body, f.Type == "offer"
}

// heartbeat: API Gateway closes a connection only after 10 idle minutes,
// longer than a run.
func (slsrtc) heartbeat() []byte { return nil }

// peerJS speaks PeerJS server's protocol: a client connects with its own ID
// and is ready on {"type":"OPEN"}; a relay is {"type":"OFFER","dst":…} and
// arrives with "src" added. PeerJS has no rooms: the groups only pick who
// relays to whom, as in the slsrtc run.
type peerJS struct{ run string }

func newPeerJS() peerJS {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return peerJS{run: hex.EncodeToString(b[:])}
}

func (peerJS) name() string { return "peerjs" }

func (p peerJS) join(ctx context.Context, d *driver, c *client, i int, g *group) error {
	c.id = fmt.Sprintf("lt-%s-%d", p.run, i)
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	q := url.Values{"key": {"peerjs"}, "id": {c.id}, "token": {hex.EncodeToString(tok[:])}}
	if err := c.dial(ctx, d, d.url+"?"+q.Encode()); err != nil {
		return err
	}
	if _, err := c.expect(ctx, "OPEN"); err != nil {
		return err
	}
	g.add(c.id)
	return nil
}

func (peerJS) relayFrame(dst, payload string) []byte {
	b, _ := json.Marshal(struct {
		Type    string `json:"type"`
		Dst     string `json:"dst"`
		Payload string `json:"payload"`
	}{"OFFER", dst, payload})
	return b
}

// heartbeat keeps the server from dropping the client (alive_timeout, 60 s
// by default); the PeerJS client library sends one every 5 s.
func (peerJS) heartbeat() []byte { return []byte(`{"type":"HEARTBEAT"}`) }

func (peerJS) relayed(f *frame) (string, bool) {
	if f.Type != "OFFER" {
		return "", false
	}
	var s string
	if err := json.Unmarshal(f.Payload, &s); err != nil {
		return "", false
	}
	return s, true
}
