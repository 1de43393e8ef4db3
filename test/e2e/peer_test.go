//go:build e2e

package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/slsrtc/slsrtc/client"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// peer is a Go participant (package client) and what it has seen.
type peer struct {
	*client.Room
	name string

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every event
	peers    map[string]*client.Peer
	open     map[string]bool     // default data channel open, by participant
	left     map[string]string   // PeerLeft reason, by participant
	received map[string][]string // texts, by sender
	errs     []error
	failed   bool // ICE failed with some peer
}

// join joins room (a new one if room is "") at url as name, on loopback,
// and leaves when the test ends.
func join(t *testing.T, url, room, name string, opts client.Options) *peer {
	t.Helper()
	opts.RoomID, opts.UserName = room, name
	if opts.API == nil {
		opts.API = testkit.LoopbackAPI()
	}
	r, err := client.Join(timeout(t), url, opts)
	if err != nil {
		t.Fatalf("%s joins: %v", name, err)
	}
	t.Cleanup(func() { _ = r.Leave(timeout(t)) })
	p := &peer{Room: r, name: name, changed: make(chan struct{}), peers: map[string]*client.Peer{},
		open: map[string]bool{}, left: map[string]string{}, received: map[string][]string{}}
	go p.watch()
	return p
}

// watch records the room's events.
func (p *peer) watch() {
	for ev := range p.Events() {
		p.update(func() {
			switch ev := ev.(type) {
			case *client.PeerJoined:
				p.peers[ev.Peer.ID()] = ev.Peer
				delete(p.left, ev.Peer.ID())
				dc := ev.Peer.DataChannel()
				dc.OnClose(func() { p.update(func() { p.open[ev.Peer.ID()] = false }) })
			case *client.DataChannelOpened:
				if ev.Channel.Label() == client.DefaultChannelLabel {
					p.open[ev.Peer.ID()] = true
				}
			case *client.Message:
				p.received[ev.Peer.ID()] = append(p.received[ev.Peer.ID()], string(ev.Data))
			case *client.PeerLeft:
				p.left[ev.Peer.ID()] = ev.Reason
				p.open[ev.Peer.ID()] = false
			case *client.ICEStateChanged:
				p.failed = p.failed || ev.State == webrtc.ICEConnectionStateFailed
			case *client.ErrorEvent:
				p.errs = append(p.errs, ev.Err)
			}
		})
	}
}

func (p *peer) update(change func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change()
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait blocks until cond holds (called under the lock).
func (p *peer) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := timeout(t)
	for {
		p.mu.Lock()
		ok, changed := cond(), p.changed
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			p.mu.Lock()
			defer p.mu.Unlock()
			t.Fatalf("%s: waiting for %s: %v (channels open %v, left %v, errors %v)", p.name, what, ctx.Err(), p.open, p.left, p.errs)
		}
	}
}

// openTo returns the participants its default data channel is open with,
// sorted.
func (p *peer) openTo() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id, ok := range p.open {
		if ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// mesh waits until every peer's data channel to every other is open, then
// sends a new message from each peer to each other and waits for all of them.
func mesh(t *testing.T, peers ...*peer) {
	t.Helper()
	for _, p := range peers {
		want := others(p, peers)
		p.wait(t, fmt.Sprintf("data channels to %v", want), func() bool {
			return !slices.ContainsFunc(want, func(id string) bool { return !p.open[id] })
		})
	}
	for _, from := range peers {
		for _, to := range peers {
			if from == to {
				continue
			}
			text := fmt.Sprintf("hello %s from %s #%d", to.name, from.name, messages.Add(1))
			if err := from.SendText(timeout(t), to.ParticipantID(), text); err != nil {
				t.Fatal(err)
			}
			to.wait(t, fmt.Sprintf("%q", text), func() bool { return slices.Contains(to.received[from.ParticipantID()], text) })
		}
	}
}

// messages numbers the messages mesh sends, so each is new.
var messages atomic.Int64

// others returns the participant IDs of peers other than p, sorted.
func others(p *peer, peers []*peer) []string {
	var ids []string
	for _, q := range peers {
		if q != p {
			ids = append(ids, q.ParticipantID())
		}
	}
	slices.Sort(ids)
	return ids
}

// waitCandidates waits until p's remote candidates from q satisfy cond.
func waitCandidates(t *testing.T, p, q *peer, what string, cond func(client.CandidateStats) bool) {
	t.Helper()
	ctx := timeout(t)
	for {
		peer := p.Peer(q.ParticipantID())
		if peer != nil && cond(peer.Candidates()) {
			return
		}
		select {
		case <-ctx.Done():
			var got client.CandidateStats
			if peer != nil {
				got = peer.Candidates()
			}
			t.Fatalf("%s: waiting for %s from %s: %v (candidates %+v)", p.name, what, q.name, ctx.Err(), got)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestTwoPeers: two participants negotiate, a data channel opens on both
// sides and messages cross it both ways.
func TestTwoPeers(t *testing.T) {
	s := startStack(t, nil)
	alice := join(t, s.WebSocketURL, "", "alice", client.Options{})
	bob := join(t, s.WebSocketURL, alice.ID(), "bob", client.Options{})
	mesh(t, alice, bob)
	// Each side trickles its one loopback candidate; the channel may open
	// before it arrives (the other side learns the address from the checks).
	for _, pair := range [][2]*peer{{alice, bob}, {bob, alice}} {
		waitCandidates(t, pair[0], pair[1], "a candidate, added", func(c client.CandidateStats) bool {
			return c.Received > 0 && c.Added == c.Received
		})
	}
}

// TestFourPeerMesh: four peers join one after another; each pair
// negotiates, so 6 data channels open and every peer reaches every other.
func TestFourPeerMesh(t *testing.T) {
	s := startStack(t, nil)
	var peers []*peer
	room := ""
	for _, name := range []string{"p1", "p2", "p3", "p4"} {
		p := join(t, s.WebSocketURL, room, name, client.Options{})
		room = p.ID()
		peers = append(peers, p)
	}
	mesh(t, peers...)
	channels := 0
	for _, p := range peers {
		if got, want := p.openTo(), others(p, peers); !slices.Equal(got, want) {
			t.Errorf("%s has channels open to %v, want %v", p.name, got, want)
		}
		channels += len(p.openTo())
	}
	if channels/2 != 6 {
		t.Errorf("the mesh has %d data channels, want 6", channels/2)
	}
}

// TestCandidatesBeforeDescription: a network that reorders signals (a
// proxy holding each description to the newcomer until an ICE candidate of
// its sender has arrived) makes the newcomer receive a candidate before
// the description it belongs to: it queues it and adds it once the
// description is set.
func TestCandidatesBeforeDescription(t *testing.T) {
	s := startStack(t, nil)
	proxy := testkit.StartProxy(t, s.WebSocketURL)
	proxy.SetFilter(func(c *testkit.ProxyConn, toClient bool, msg []byte) ([][]byte, bool) {
		var f struct{ Type string }
		if !toClient || json.Unmarshal(msg, &f) != nil {
			return [][]byte{msg}, false
		}
		_, gotICE := c.Values.Load("ice")
		switch {
		case (f.Type == "offer" || f.Type == "answer") && !gotICE:
			held, _ := c.Values.LoadOrStore("held", &[][]byte{})
			*held.(*[][]byte) = append(*held.(*[][]byte), msg)
			return nil, false
		case f.Type == "ice-candidate" && !gotICE:
			c.Values.Store("ice", true)
			pass := [][]byte{msg}
			if held, ok := c.Values.Load("held"); ok {
				pass = append(pass, *held.(*[][]byte)...)
			}
			return pass, false
		}
		return [][]byte{msg}, false
	})
	alice := join(t, s.WebSocketURL, "", "alice", client.Options{})
	bob := join(t, proxy.URL, alice.ID(), "bob", client.Options{})
	mesh(t, alice, bob)
	waitCandidates(t, bob, alice, "a queued candidate, added", func(c client.CandidateStats) bool {
		return c.Queued > 0 && c.Added == c.Received
	})
}

// TestPeerLeaves: a peer that leaves and one whose signaling connection
// drops (and cannot come back: the network stays down, and the stack holds
// no seat) are each torn down by the rest, and the room stays usable for
// newcomers.
func TestPeerLeaves(t *testing.T) {
	s := startStack(t, nil)
	proxy := testkit.StartProxy(t, s.WebSocketURL)
	alice := join(t, s.WebSocketURL, "", "alice", client.Options{})
	room := alice.ID()
	bob := join(t, proxy.URL, room, "bob", client.Options{})
	carol := join(t, s.WebSocketURL, room, "carol", client.Options{})
	mesh(t, alice, bob, carol)

	if err := carol.Leave(timeout(t)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*peer{alice, bob} {
		assertLeft(t, p, carol, "left")
	}

	dave := join(t, s.WebSocketURL, room, "dave", client.Options{})
	mesh(t, alice, bob, dave)

	proxy.Refuse(true)
	proxy.CutAll()
	for _, p := range []*peer{alice, dave} {
		assertLeft(t, p, bob, "disconnected")
	}
	// bob kept its peer connections: it sees alice and dave close theirs.
	bob.wait(t, "every data channel to close", func() bool {
		return !slices.ContainsFunc([]*peer{alice, dave}, func(q *peer) bool { return bob.open[q.ParticipantID()] })
	})
	if got, want := alice.openTo(), []string{dave.ParticipantID()}; !slices.Equal(got, want) {
		t.Errorf("alice has channels open to %v, want %v", got, want)
	}
	erin := join(t, s.WebSocketURL, room, "erin", client.Options{})
	mesh(t, alice, dave, erin)
}

// assertLeft waits until p has seen gone leave for reason and closed its
// peer connection with it.
func assertLeft(t *testing.T, p, gone *peer, reason string) {
	t.Helper()
	id := gone.ParticipantID()
	p.wait(t, "the leave of "+gone.name, func() bool { return p.left[id] == reason })
	p.mu.Lock()
	q := p.peers[id]
	p.mu.Unlock()
	select {
	case <-q.Done():
	case <-timeout(t).Done():
		t.Fatalf("%s: the peer connection with %s is not closed", p.name, gone.name)
	}
	if err := p.SendText(timeout(t), id, "still there?"); err == nil {
		t.Errorf("%s can still send to %s after its leave", p.name, gone.name)
	}
}

// TestEnterUnknownRoom: the server's error frame reaches the caller as a
// *client.Error.
func TestEnterUnknownRoom(t *testing.T) {
	s := startStack(t, nil)
	_, err := client.Join(timeout(t), s.WebSocketURL, client.Options{RoomID: "00000000-0000-4000-8000-000000000000"})
	if e := (*client.Error)(nil); !errors.As(err, &e) || e.Code != client.CodeRoomNotFound || e.Action != "enterroom" {
		t.Fatalf("Join returned %v, want a room-not-found error for enterroom", err)
	}
}
