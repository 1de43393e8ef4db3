package client_test

import (
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/client"
	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// signalType returns the type of a signal message a client sends
// ({"action":"message","type":...}) or receives ({"type":...}).
func signalType(msg []byte, toClient bool) string {
	var m struct{ Action, Type string }
	if json.Unmarshal(msg, &m) != nil || !toClient && m.Action != "message" {
		return ""
	}
	return m.Type
}

// isResumed accepts a Resumed with the given flags.
func isResumed(proactive, rejoined bool) func(client.Event) bool {
	return func(ev client.Event) bool {
		r, ok := ev.(*client.Resumed)
		return ok && r.Proactive == proactive && r.Rejoined == rejoined
	}
}

func has(cond func(client.Event) bool) func([]client.Event) bool {
	return func(evs []client.Event) bool { return slices.ContainsFunc(evs, cond) }
}

// TestResumeMidNegotiation: bob's signaling connection is cut right after
// his first offer or answer is relayed, in the middle of the negotiation.
// He reconnects and resumes his seat; alice sees him resume, not leave; the
// signals she sent meanwhile were held for him and the negotiation
// completes. Then, while bob is cut off again, alice restarts ICE: her
// offer and new candidates are held, delivered when he resumes, and the
// data channel keeps working.
func TestResumeMidNegotiation(t *testing.T) {
	s := startStack(t, map[string]string{"RESUME_GRACE_SECONDS": "30"}, localstack.Options{})
	proxy := testkit.StartProxy(t, s.WebSocketURL)
	var cuts, heldSignals atomic.Int64
	proxy.SetFilter(func(c *testkit.ProxyConn, toClient bool, msg []byte) ([][]byte, bool) {
		typ := signalType(msg, toClient)
		if _, cut := c.Values.Load("cut"); cut || typ == "" {
			return [][]byte{msg}, false
		}
		if toClient {
			if cuts.Load() > 0 {
				heldSignals.Add(1) // a signal on a connection made after a cut
			}
			return [][]byte{msg}, false
		}
		if (typ == "offer" || typ == "answer") && cuts.Load() == 0 {
			c.Values.Store("cut", true)
			cuts.Add(1)
			return [][]byte{msg}, true
		}
		return [][]byte{msg}, false
	})
	// alice's own proxy counts the offers she sends.
	aliceProxy := testkit.StartProxy(t, s.WebSocketURL)
	var aliceOffers atomic.Int64
	aliceProxy.SetFilter(func(_ *testkit.ProxyConn, toClient bool, msg []byte) ([][]byte, bool) {
		if !toClient && signalType(msg, false) == "offer" {
			aliceOffers.Add(1)
		}
		return [][]byte{msg}, false
	})
	alice := join(t, aliceProxy.URL, "", "alice", client.Options{})
	bob := join(t, proxy.URL, alice.ID(), "bob", client.Options{})

	bob.wait(t, "a resume", has(isResumed(false, false)))
	talk(t, alice, bob)
	alice.wait(t, "bob's resume", has(func(ev client.Event) bool {
		r, ok := ev.(*client.PeerResumed)
		return ok && r.Peer.ID() == bob.ParticipantID()
	}))
	if n := alice.count(isLeft); n != 0 {
		t.Errorf("alice saw %d PeerLeft:\n%s", n, alice.describe())
	}
	if n := bob.count(func(ev client.Event) bool { _, ok := ev.(*client.Reconnecting); return ok }); n == 0 {
		t.Errorf("bob never reported reconnecting")
	}

	// Cut off again, with the network down until alice's ICE restart
	// offer has gone out.
	proxy.Refuse(true)
	proxy.CutAll()
	ab := alice.waitPeer(t, "bob")
	before := bob.waitPeer(t, "alice").Candidates().Received
	held, offers := heldSignals.Load(), aliceOffers.Load()
	ab.RestartICE()
	waitFor(t, "alice's restart offer", func() bool { return aliceOffers.Load() > offers })
	proxy.Refuse(false)
	bob.wait(t, "a second resume", func(evs []client.Event) bool {
		n := 0
		for _, ev := range evs {
			if isResumed(false, false)(ev) {
				n++
			}
		}
		return n >= 2
	})
	talk(t, alice, bob)
	if heldSignals.Load() == held {
		t.Errorf("no signal reached bob after his second resume")
	}
	// The restart trickles new candidates.
	waitFor(t, "alice's new candidates at bob", func() bool {
		return bob.waitPeer(t, "alice").Candidates().Received > before
	})
	for _, m := range []*member{alice, bob} {
		if n := m.count(isLeft); n != 0 {
			t.Errorf("%s saw %d PeerLeft:\n%s", m.name, n, m.describe())
		}
	}
}

// TestResumeAfterWindow: bob's connection is cut and he cannot reconnect
// until his grace window has passed. His resume is refused
// (session-expired), so he enters the room again as a new participant:
// alice sees the old bob leave ("expired") and the new one join, and they
// talk.
func TestResumeAfterWindow(t *testing.T) {
	const grace = 2 * time.Second
	s := startStack(t, map[string]string{"RESUME_GRACE_SECONDS": "2"}, localstack.Options{})
	proxy := testkit.StartProxy(t, s.WebSocketURL)
	alice := join(t, s.WebSocketURL, "", "alice", client.Options{})
	bob := join(t, proxy.URL, alice.ID(), "bob", client.Options{})
	talk(t, alice, bob)
	old := bob.ParticipantID()

	proxy.Refuse(true)
	proxy.CutAll()
	time.Sleep(grace + time.Second) // let the window pass (not an assertion of timing)
	proxy.Refuse(false)

	bob.wait(t, "entering again as new", has(isResumed(false, true)))
	if bob.ParticipantID() == old {
		t.Errorf("bob kept his participant ID %s after entering again", old)
	}
	alice.wait(t, "the old bob's leave", has(func(ev client.Event) bool {
		l, ok := ev.(*client.PeerLeft)
		return ok && l.Peer.ID() == old && l.Reason == "expired"
	}))
	bob.wait(t, "his old peer closed", has(func(ev client.Event) bool {
		l, ok := ev.(*client.PeerLeft)
		return ok && l.Reason == client.ReasonRejoined
	}))
	alice.wait(t, "the new bob", has(func(ev client.Event) bool {
		j, ok := ev.(*client.PeerJoined)
		return ok && j.Peer.ID() == bob.ParticipantID()
	}))
	talk(t, alice, bob)
}

// TestResumeAheadOfCut: with API Gateway's 2-hour limit shortened to a few
// seconds, both clients resume on a new connection ahead of each cut
// (expiresAt), again and again, and the call goes on: nobody leaves, and
// messages cross after two cuts.
func TestResumeAheadOfCut(t *testing.T) {
	s := startStack(t, map[string]string{"RESUME_GRACE_SECONDS": "30"}, localstack.Options{MaxDuration: 4 * time.Second})
	alice := join(t, s.WebSocketURL, "", "alice", client.Options{})
	bob := join(t, s.WebSocketURL, alice.ID(), "bob", client.Options{})
	talk(t, alice, bob)
	for _, m := range []*member{alice, bob} {
		m.wait(t, "two resumes ahead of the cut", func(evs []client.Event) bool {
			n := 0
			for _, ev := range evs {
				if isResumed(true, false)(ev) {
					n++
				}
			}
			return n >= 2
		})
	}
	talk(t, alice, bob)
	for _, m := range []*member{alice, bob} {
		if n := m.count(isLeft); n != 0 {
			t.Errorf("%s saw %d PeerLeft:\n%s", m.name, n, m.describe())
		}
		if n := m.count(isResumed(false, true)); n != 0 {
			t.Errorf("%s had to enter again:\n%s", m.name, m.describe())
		}
	}
}
