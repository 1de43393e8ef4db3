//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/slsrtc/slsrtc/client"
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

// TestTURNRelay: two Go peers (package client) that may only use relayed
// candidates (ICETransportPolicyRelay) connect through a real coturn with the
// ICE servers package turn hands them (Options.ICEServers), or fail to.
//
// They meet in a room of the local stack. When both have credentials coturn
// accepts, each gathers only relay candidates, ICE selects a relay/relay
// pair, and the data channel carries a message each way. When they have
// credentials coturn refuses (one that expired, one signed with a secret
// coturn does not have), the gathering ends with no candidate at all and
// ICE fails. During a rotation (coturn has the old and the new secret), a
// peer that was given credentials before the backend switched to the new
// secret connects with one given credentials after: both are accepted.
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
			srv := turnserver.Start(t, turnserver.Options{Secrets: tc.server})
			s := startStack(t, nil)
			alice := newRelayPeer(t, s.WebSocketURL, "", "alice", iceServers(t, srv, tc.transport, tc.alice, "alice", now.Add(tc.age)))
			bob := newRelayPeer(t, s.WebSocketURL, alice.ID(), "bob", iceServers(t, srv, tc.transport, tc.bob, "bob", now.Add(tc.age)))
			if !tc.connect {
				for _, p := range []*relayPeer{alice, bob} {
					pc := p.peerConnection(t)
					p.wait(t, "ICE to fail", func() bool { return p.failed })
					if got := localCandidates(pc); len(got) != 0 {
						t.Errorf("%s gathered %v with credentials coturn refuses", p.name, got)
					}
					// Refused, not unreachable: pion logs the Allocate's error.
					if !strings.Contains(p.log.String(), "error 401") {
						t.Errorf("%s: pion logged no 401 answer to its Allocate", p.name)
					}
				}
				return
			}
			mesh(t, alice.peer, bob.peer)
			for _, p := range []*relayPeer{alice, bob} {
				pc := p.peerConnection(t)
				p.waitFor(t, "gathering complete", func() bool { return pc.ICEGatheringState() == webrtc.ICEGatheringStateComplete })
				got := localCandidates(pc)
				if len(got) == 0 {
					t.Errorf("%s gathered no candidate", p.name)
				}
				for _, c := range got {
					if !strings.Contains(c, " typ relay") || !strings.Contains(c, " "+turnserver.Host+" ") {
						t.Errorf("%s gathered %s, want only relay candidates on %s", p.name, c, turnserver.Host)
					}
				}
				pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
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

// relayPeer is one side of TestTURNRelay: a Go peer that uses relayed
// candidates only, and pion's log.
type relayPeer struct {
	*peer
	log *testkit.LogBuffer // pion's warnings and errors
}

// newRelayPeer joins room (a new one if "") as a relay-only peer on
// loopback with the ICE servers; pion's log is printed if the test failed.
func newRelayPeer(t *testing.T, url, room, name string, servers []webrtc.ICEServer) *relayPeer {
	t.Helper()
	log := &testkit.LogBuffer{}
	se := testkit.LoopbackSettings()
	se.SetICETimeouts(iceDisconnectedTimeout, iceFailedTimeout, iceKeepalive)
	se.LoggerFactory = &logging.DefaultLoggerFactory{Writer: log, DefaultLogLevel: logging.LogLevelWarn}
	p := join(t, url, room, name, client.Options{
		ICEServers:         servers,
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
		API:                webrtc.NewAPI(webrtc.WithSettingEngine(*se)),
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s's pion log:\n%s", name, log.String())
		}
	})
	return &relayPeer{peer: p, log: log}
}

// peerConnection returns the peer connection with the other peer, once it
// exists.
func (p *relayPeer) peerConnection(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	var pc *webrtc.PeerConnection
	p.waitFor(t, "the other peer", func() bool {
		for _, q := range p.Peers() {
			pc = q.PeerConnection()
		}
		return pc != nil
	})
	return pc
}

// waitFor polls cond (peer connection state, which has no event).
func (p *relayPeer) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := timeout(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: waiting for %s: %v", p.name, what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// localCandidates returns the candidates of pc's local description.
func localCandidates(pc *webrtc.PeerConnection) []string {
	var out []string
	if d := pc.LocalDescription(); d != nil {
		for line := range strings.Lines(d.SDP) {
			if c, ok := strings.CutPrefix(strings.TrimSpace(line), "a=candidate:"); ok {
				out = append(out, c)
			}
		}
	}
	return out
}
