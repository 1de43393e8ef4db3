//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/slsrtc/slsrtc/test/testkit"
	"github.com/slsrtc/slsrtc/test/turnserver"
	"github.com/slsrtc/slsrtc/turn"
)

// The TURN tests' secrets: a rotation replaces oldSecret with newSecret.
var (
	oldSecret     = []byte("old-turn-secret-0123456789abcdefghijklmnop")
	newSecret     = []byte("new-turn-secret-0123456789abcdefghijklmnop")
	unknownSecret = []byte("unknown-turn-secret-0123456789abcdefghijkl")
)

// turnTTL is the credentials' TTL in the TURN tests.
const turnTTL = 10 * time.Minute

// ICE timeouts of the TURN tests' peers: a peer that has no candidate to
// check is failed after disconnected+failed in the checking state, instead
// of pion's default 30 s. The keepalive keeps a working pair well inside
// them, on two cores under -race.
const (
	iceDisconnectedTimeout = 3 * time.Second
	iceFailedTimeout       = 4 * time.Second
	iceKeepalive           = 500 * time.Millisecond
)

// TestTURNRelay: two pion peers that may only use relayed candidates
// (ICETransportPolicyRelay) connect through a real coturn with the ICE
// servers package turn hands them, or fail to.
//
// Each side exchanges its complete SDP with the other in-process (no
// signaling server). When both have credentials coturn accepts, each gathers
// only relay candidates, ICE selects a relay/relay pair, and a data channel
// carries a message each way. When they have credentials coturn refuses (one
// that expired, one signed with a secret coturn does not have), the
// gathering ends with no candidate at all and ICE fails. During a rotation
// (coturn has the old and the new secret), a peer that was given credentials
// before the backend switched to the new secret connects with one given
// credentials after: both are accepted.
func TestTURNRelay(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		// server: coturn's static-auth-secrets.
		server [][]byte
		// alice, bob: the backend's secrets (current first) when it gave
		// each peer its ICE servers, at now+age.
		alice, bob [][]byte
		age        time.Duration
		// transport of the TURN URL.
		transport string
		connect   bool
	}{
		{name: "valid credentials", server: [][]byte{newSecret},
			alice: [][]byte{newSecret}, bob: [][]byte{newSecret}, transport: "udp", connect: true},
		{name: "valid credentials, TURN over TCP", server: [][]byte{newSecret},
			alice: [][]byte{newSecret}, bob: [][]byte{newSecret}, transport: "tcp", connect: true},
		{name: "rotation: one signed with the old secret, one with the new", server: [][]byte{newSecret, oldSecret},
			alice: [][]byte{oldSecret}, bob: [][]byte{newSecret, oldSecret}, transport: "udp", connect: true},
		{name: "expired credentials", server: [][]byte{newSecret},
			alice: [][]byte{newSecret}, bob: [][]byte{newSecret}, age: -2 * turnTTL, transport: "udp"},
		{name: "a secret coturn does not have", server: [][]byte{newSecret, oldSecret},
			alice: [][]byte{unknownSecret}, bob: [][]byte{unknownSecret}, transport: "udp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := timeout(t)
			srv := turnserver.Start(t, turnserver.Options{Secrets: tc.server})
			alice := newRelayPeer(t, "alice", iceServers(t, srv, tc.transport, tc.alice, "alice", now.Add(tc.age)))
			bob := newRelayPeer(t, "bob", iceServers(t, srv, tc.transport, tc.bob, "bob", now.Add(tc.age)))
			if err := exchangeSDP(ctx, alice, bob); err != nil {
				t.Fatal(err)
			}
			if !tc.connect {
				for _, p := range []*relayPeer{alice, bob} {
					if got := p.gatheredCandidates(); len(got) != 0 {
						t.Errorf("%s gathered %v with credentials coturn refuses", p.name, got)
					}
					// Refused, not unreachable: pion logs the Allocate's error.
					if !strings.Contains(p.log.String(), "error 401") {
						t.Errorf("%s: pion logged no 401 answer to its Allocate", p.name)
					}
					if err := p.waitICE(ctx, webrtc.ICEConnectionStateFailed); err != nil {
						t.Error(err)
					}
				}
				return
			}
			for _, p := range []*relayPeer{alice, bob} {
				got := p.gatheredCandidates()
				if len(got) == 0 {
					t.Errorf("%s gathered no candidate", p.name)
				}
				for _, c := range got {
					if c.Typ != webrtc.ICECandidateTypeRelay || c.Address != turnserver.Host {
						t.Errorf("%s gathered %s, want only relay candidates on %s", p.name, c, turnserver.Host)
					}
				}
			}
			talk(ctx, t, alice, bob)
			for _, p := range []*relayPeer{alice, bob} {
				pair, err := p.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
				if err != nil || pair == nil {
					t.Fatalf("%s: no selected candidate pair (%v)", p.name, err)
				}
				if pair.Local.Typ != webrtc.ICECandidateTypeRelay || pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
					t.Errorf("%s selected %s -> %s, want relay/relay", p.name, pair.Local, pair.Remote)
				}
			}
		})
	}
}

// iceServers returns what the backend, holding secrets, hands participant
// at now for srv, as a client reads it: the JSON of package turn's list
// unmarshalled into pion's configuration.
func iceServers(t *testing.T, srv *turnserver.Server, transport string, secrets [][]byte, participant string, now time.Time) []webrtc.ICEServer {
	t.Helper()
	stunURL, err := turn.ParseURL(srv.STUNURL())
	if err != nil {
		t.Fatal(err)
	}
	turnURL, err := turn.ParseURL(srv.TURNURL(transport))
	if err != nil {
		t.Fatal(err)
	}
	c := turn.Config{STUN: []turn.URL{stunURL}, TURN: []turn.URL{turnURL}, TTL: turnTTL, Secrets: secrets}
	servers, _, err := c.ICEServers(participant, now)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(servers)
	if err != nil {
		t.Fatal(err)
	}
	var out []webrtc.ICEServer
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("pion cannot read %s: %v", data, err)
	}
	return out
}

// relayPeer is one side of TestTURNRelay: a peer connection that uses
// relayed candidates only, and what happened to it.
type relayPeer struct {
	name string
	pc   *webrtc.PeerConnection

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every change
	candidates []webrtc.ICECandidate
	gathered   bool
	ice        webrtc.ICEConnectionState
	dc         *webrtc.DataChannel // once open
	received   []string

	log *testkit.LogBuffer // pion's warnings and errors
}

// newRelayPeer creates a relay-only peer connection on loopback with the
// ICE servers; it is closed when the test ends, and pion's log is printed
// if the test failed.
func newRelayPeer(t *testing.T, name string, servers []webrtc.ICEServer) *relayPeer {
	t.Helper()
	log := &testkit.LogBuffer{}
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(iceDisconnectedTimeout, iceFailedTimeout, iceKeepalive)
	se.LoggerFactory = &logging.DefaultLoggerFactory{Writer: log, DefaultLogLevel: logging.LogLevelWarn}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         servers,
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
	if err != nil {
		t.Fatalf("%s: new peer connection: %v", name, err)
	}
	p := &relayPeer{name: name, pc: pc, changed: make(chan struct{}), log: log}
	t.Cleanup(func() {
		if err := pc.Close(); err != nil {
			t.Errorf("%s: close: %v", name, err)
		}
		if t.Failed() {
			t.Logf("%s's pion log:\n%s", name, log.String())
		}
	})
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		p.update(func() {
			if c == nil {
				p.gathered = true
			} else {
				p.candidates = append(p.candidates, *c)
			}
		})
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) { p.update(func() { p.ice = s }) })
	pc.OnDataChannel(p.watch)
	return p
}

// watch records when dc opens and what arrives on it.
func (p *relayPeer) watch(dc *webrtc.DataChannel) {
	dc.OnOpen(func() { p.update(func() { p.dc = dc }) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) {
		p.update(func() { p.received = append(p.received, string(m.Data)) })
	})
}

// update changes the state under the lock and wakes every waiter.
func (p *relayPeer) update(change func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change()
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait blocks until cond holds (called under the lock) or ctx ends.
func (p *relayPeer) wait(ctx context.Context, what string, cond func() bool) error {
	for {
		p.mu.Lock()
		ok, changed := cond(), p.changed
		ice, n := p.ice, len(p.candidates)
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %s: %w (ICE %s, %d candidates)", p.name, what, ctx.Err(), ice, n)
		}
	}
}

// waitICE waits until the ICE connection state is want.
func (p *relayPeer) waitICE(ctx context.Context, want webrtc.ICEConnectionState) error {
	return p.wait(ctx, "ICE "+want.String(), func() bool { return p.ice == want })
}

// gatheredCandidates returns the local candidates gathered so far.
func (p *relayPeer) gatheredCandidates() []webrtc.ICECandidate {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]webrtc.ICECandidate(nil), p.candidates...)
}

// setLocal sets desc as the local description and returns it, with every
// candidate, once gathering is complete.
func (p *relayPeer) setLocal(ctx context.Context, desc webrtc.SessionDescription) (webrtc.SessionDescription, error) {
	if err := p.pc.SetLocalDescription(desc); err != nil {
		return webrtc.SessionDescription{}, fmt.Errorf("%s: set local description: %w", p.name, err)
	}
	if err := p.wait(ctx, "ICE gathering", func() bool { return p.gathered }); err != nil {
		return webrtc.SessionDescription{}, err
	}
	return *p.pc.LocalDescription(), nil
}

// exchangeSDP has offerer open a data channel and offer it to answerer, and
// answerer answer, each description with all its candidates.
func exchangeSDP(ctx context.Context, offerer, answerer *relayPeer) error {
	dc, err := offerer.pc.CreateDataChannel("chat", nil)
	if err != nil {
		return err
	}
	offerer.watch(dc)
	offer, err := offerer.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if offer, err = offerer.setLocal(ctx, offer); err != nil {
		return err
	}
	if err := answerer.pc.SetRemoteDescription(offer); err != nil {
		return fmt.Errorf("%s: set offer: %w", answerer.name, err)
	}
	answer, err := answerer.pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if answer, err = answerer.setLocal(ctx, answer); err != nil {
		return err
	}
	if err := offerer.pc.SetRemoteDescription(answer); err != nil {
		return fmt.Errorf("%s: set answer: %w", offerer.name, err)
	}
	return nil
}

// talk waits until the data channel is open on both sides, sends a message
// each way and waits for both to arrive.
func talk(ctx context.Context, t *testing.T, a, b *relayPeer) {
	t.Helper()
	for _, p := range []*relayPeer{a, b} {
		if err := p.wait(ctx, "the data channel to open", func() bool { return p.dc != nil }); err != nil {
			t.Fatal(err)
		}
	}
	for _, pair := range [][2]*relayPeer{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		text := fmt.Sprintf("hello %s from %s, relayed", to.name, from.name)
		from.mu.Lock()
		dc := from.dc
		from.mu.Unlock()
		if err := dc.SendText(text); err != nil {
			t.Fatalf("%s: send: %v", from.name, err)
		}
		if err := to.wait(ctx, fmt.Sprintf("%q", text), func() bool {
			for _, got := range to.received {
				if got == text {
					return true
				}
			}
			return false
		}); err != nil {
			t.Fatal(err)
		}
	}
}
