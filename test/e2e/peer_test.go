//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/slsrtc/slsrtc/internal/localstack"
)

// join connects a peer named name and enters room, returning once its own
// "enter" has arrived. The peer is closed when the test ends.
func join(t *testing.T, s *localstack.Stack, room, name string, opts PeerOptions) *Peer {
	t.Helper()
	opts.Name = name
	p, err := Connect(timeout(t), s.WebSocketURL, opts)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(p.Close)
	if err := p.Enter(timeout(t), room); err != nil {
		t.Fatalf("%s enters: %v", name, err)
	}
	return p
}

// newRoom creates a room from a throwaway connection.
func newRoom(t *testing.T, s *localstack.Stack) string {
	t.Helper()
	p, err := Connect(timeout(t), s.WebSocketURL, PeerOptions{Name: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	room, err := p.CreateRoom(timeout(t))
	if err != nil {
		t.Fatal(err)
	}
	return room
}

// mesh waits until every peer's data channel to every other is open, then
// sends a new message from each peer to each other and waits for all of them.
func mesh(t *testing.T, peers ...*Peer) {
	t.Helper()
	for _, p := range peers {
		if err := p.WaitOpen(timeout(t), others(p, peers)...); err != nil {
			t.Fatal(err)
		}
	}
	type route struct{ from, to *Peer }
	texts := map[route]string{}
	for _, from := range peers {
		for _, to := range peers {
			if from == to {
				continue
			}
			text := fmt.Sprintf("hello %s from %s #%d", to.Name, from.Name, messages.Add(1))
			texts[route{from, to}] = text
			if err := from.Send(to.ID, text); err != nil {
				t.Fatal(err)
			}
		}
	}
	for r, text := range texts {
		if err := r.to.WaitMessage(timeout(t), r.from.ID, text); err != nil {
			t.Fatal(err)
		}
	}
}

// messages numbers the messages mesh sends, so each is new.
var messages atomic.Int64

// others returns the connection IDs of peers other than p.
func others(p *Peer, peers []*Peer) []string {
	var ids []string
	for _, q := range peers {
		if q != p {
			ids = append(ids, q.ID)
		}
	}
	return ids
}

// TestTwoPeers: the member offers to the newcomer, a data channel opens on
// both sides and messages cross it both ways.
func TestTwoPeers(t *testing.T) {
	s := startStack(t, nil)
	room := newRoom(t, s)
	alice := join(t, s, room, "alice", PeerOptions{})
	bob := join(t, s, room, "bob", PeerOptions{})
	mesh(t, alice, bob)
	// Each side trickles its one loopback candidate; the channel may open
	// before it arrives (the other side learns the address from the checks).
	for _, p := range []*Peer{alice, bob} {
		if err := p.WaitCandidates(timeout(t), "a candidate, added", func(c CandidateStats) bool {
			return c.Received > 0 && c.Added == c.Received
		}); err != nil {
			t.Error(err)
		}
	}
}

// TestFourPeerMesh: four peers join one after another; every member offers
// to each newcomer, so 6 data channels open and every peer reaches every
// other.
func TestFourPeerMesh(t *testing.T) {
	s := startStack(t, nil)
	room := newRoom(t, s)
	var peers []*Peer
	for _, name := range []string{"p1", "p2", "p3", "p4"} {
		peers = append(peers, join(t, s, room, name, PeerOptions{}))
	}
	mesh(t, peers...)
	channels := 0
	for _, p := range peers {
		if got, want := p.Open(), others(p, peers); !slices.Equal(got, sorted(want)) {
			t.Errorf("%s has channels open to %v, want %v", p.Name, got, want)
		}
		channels += len(p.Open())
	}
	if channels/2 != 6 {
		t.Errorf("the mesh has %d data channels, want 6", channels/2)
	}
}

func sorted(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// TestCandidatesBeforeOffer: the newcomer receives a candidate before the
// offer it belongs to, queues it, and adds it once the offer is set.
func TestCandidatesBeforeOffer(t *testing.T) {
	s := startStack(t, nil)
	room := newRoom(t, s)
	alice := join(t, s, room, "alice", PeerOptions{})
	bob := join(t, s, room, "bob", PeerOptions{DeferOffers: true})
	mesh(t, alice, bob)
	if err := bob.WaitCandidates(timeout(t), "a queued candidate, added", func(c CandidateStats) bool {
		return c.Queued > 0 && c.Added == c.Received
	}); err != nil {
		t.Error(err)
	}
}

// TestPeerLeaves: a peer that sends leaveroom and one whose signaling
// connection drops are each torn down by the rest, and the room stays usable
// for a newcomer.
func TestPeerLeaves(t *testing.T) {
	s := startStack(t, nil)
	room := newRoom(t, s)
	alice := join(t, s, room, "alice", PeerOptions{})
	bob := join(t, s, room, "bob", PeerOptions{})
	carol := join(t, s, room, "carol", PeerOptions{})
	mesh(t, alice, bob, carol)

	if err := carol.Leave(timeout(t)); err != nil {
		t.Fatal(err)
	}
	if open := carol.Open(); len(open) != 0 {
		t.Errorf("carol left but has channels open to %v", open)
	}
	for _, p := range []*Peer{alice, bob} {
		assertClosed(t, p, carol)
	}

	dave := join(t, s, room, "dave", PeerOptions{})
	mesh(t, alice, bob, dave)

	bob.DropSignaling()
	for _, p := range []*Peer{alice, dave} {
		assertClosed(t, p, bob)
	}
	// bob kept its peer connections: it sees alice and dave close theirs.
	if err := bob.WaitAllClosed(timeout(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := alice.Open(), []string{dave.ID}; !slices.Equal(got, want) {
		t.Errorf("alice has channels open to %v, want %v", got, want)
	}
	erin := join(t, s, room, "erin", PeerOptions{})
	mesh(t, alice, dave, erin)
}

// TestEnterUnknownRoom: the server's error frame reaches the caller as an
// *Error.
func TestEnterUnknownRoom(t *testing.T) {
	s := startStack(t, nil)
	p, err := Connect(timeout(t), s.WebSocketURL, PeerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Enter(timeout(t), "00000000-0000-4000-8000-000000000000")
	if e := (*Error)(nil); !errors.As(err, &e) || e.Code != "room-not-found" || e.Action != "enterroom" {
		t.Fatalf("Enter returned %v, want a room-not-found error for enterroom", err)
	}
}

// assertClosed waits until p has seen gone leave and closed its peer
// connection with it.
func assertClosed(t *testing.T, p, gone *Peer) {
	t.Helper()
	if err := p.WaitClosed(timeout(t), gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := p.Send(gone.ID, "still there?"); err == nil {
		t.Errorf("%s can still send to %s after leave", p.Name, gone.Name)
	}
}
