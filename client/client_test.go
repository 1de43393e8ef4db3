package client_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/slsrtc/slsrtc/auth"
	"github.com/slsrtc/slsrtc/client"
	"github.com/slsrtc/slsrtc/emulator/chaos"
	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// TestJoin: Join without a room ID creates one; a second client joins it
// by ID; each sees the other join under its name, and a data-channel
// message crosses each way.
func TestJoin(t *testing.T) {
	s := startStack(t, nil, localstack.Options{})
	alice := join(t, s.WebSocketURL, "", "alice", client.Options{})
	if alice.ID() == "" || alice.ParticipantID() == "" {
		t.Fatalf("alice: room %q, participant %q", alice.ID(), alice.ParticipantID())
	}
	bob := join(t, s.WebSocketURL, alice.ID(), "bob", client.Options{})
	talk(t, alice, bob)
	p := alice.waitPeer(t, "bob")
	if p.ID() != bob.ParticipantID() {
		t.Errorf("alice's peer bob is %s, want bob's participant ID %s", p.ID(), bob.ParticipantID())
	}
	if p.Polite() == bob.waitPeer(t, "alice").Polite() {
		t.Errorf("both sides are polite=%v", p.Polite())
	}
	if got := alice.Peers(); len(got) != 1 || got[0] != p {
		t.Errorf("alice's peers are %v, want bob", got)
	}
}

// TestMesh: three clients in one room reach each other over three data
// channels.
func TestMesh(t *testing.T) {
	s := startStack(t, nil, localstack.Options{})
	a := join(t, s.WebSocketURL, "", "a", client.Options{})
	b := join(t, s.WebSocketURL, a.ID(), "b", client.Options{})
	c := join(t, s.WebSocketURL, a.ID(), "c", client.Options{})
	talk(t, a, b, c)
	for _, m := range []*member{a, b, c} {
		if n := len(m.Peers()); n != 2 {
			t.Errorf("%s has %d peers, want 2", m.name, n)
		}
		if n := m.count(isError); n != 0 {
			t.Errorf("%s got %d error events:\n%s", m.name, n, m.describe())
		}
	}
}

// TestGlare: both sides add a media transceiver to their peer connection
// at the same instant, over and over, so that both offer at once: the
// impolite side ignores the polite side's offer, the polite side gives its
// own up and answers, then offers again; every round ends with both sides
// stable and every transceiver negotiated, and the data channel carries
// messages throughout. (The first negotiation of every pair is a collision
// too: both sides offer when they learn of each other.)
func TestGlare(t *testing.T) {
	s := startStack(t, nil, localstack.Options{})
	alice := join(t, s.WebSocketURL, "", "alice", client.Options{})
	bob := join(t, s.WebSocketURL, alice.ID(), "bob", client.Options{})
	peers := []*client.Peer{alice.waitPeer(t, "bob"), bob.waitPeer(t, "alice")}
	const rounds = 5
	for range rounds {
		start := make(chan struct{})
		errs := make(chan error, 2)
		for _, p := range peers {
			go func() {
				<-start
				_, err := p.PeerConnection().AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
					webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
				errs <- err
			}()
		}
		close(start)
		for range peers {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		waitNegotiated(t, peers)
		talk(t, alice, bob)
	}
	for _, m := range []*member{alice, bob} {
		if n := m.count(isError); n != 0 {
			t.Errorf("%s got %d error events:\n%s", m.name, n, m.describe())
		}
	}
}

// waitNegotiated waits until both sides of a pair are stable with every
// transceiver negotiated.
func waitNegotiated(t *testing.T, peers []*client.Peer) {
	t.Helper()
	waitFor(t, "both sides stable with every transceiver negotiated", func() bool {
		var mlines []int
		for _, p := range peers {
			pc := p.PeerConnection()
			local := pc.CurrentLocalDescription()
			if pc.SignalingState() != webrtc.SignalingStateStable || local == nil {
				return false
			}
			n := strings.Count(local.SDP, "\nm=")
			if n != len(pc.GetTransceivers())+1 { // + the data channels' m-line
				return false
			}
			mlines = append(mlines, n)
		}
		return mlines[0] == mlines[1]
	})
}

// TestLargeDescription: a description over API Gateway's 32 KB frame (ten
// video transceivers: pion lists every codec in each) goes out in 32 KB
// frames, as API Gateway takes a message of up to 128 KB, and the
// negotiation completes; a signal over 128 KB is not sent (the stack would
// close the connection) and is an ErrorEvent.
func TestLargeDescription(t *testing.T) {
	s := startStack(t, nil, localstack.Options{})
	alice := join(t, s.WebSocketURL, "", "alice", client.Options{})
	bob := join(t, s.WebSocketURL, alice.ID(), "bob", client.Options{})
	peers := []*client.Peer{alice.waitPeer(t, "bob"), bob.waitPeer(t, "alice")}
	for range 10 {
		if _, err := peers[0].PeerConnection().AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	waitNegotiated(t, peers)
	if d := peers[0].PeerConnection().CurrentLocalDescription(); len(d.SDP) <= 32*1024 {
		t.Fatalf("the description is %d bytes, want over 32 KB for this test", len(d.SDP))
	}
	talk(t, alice, bob)
	for _, m := range []*member{alice, bob} {
		if n := m.count(isError); n != 0 {
			t.Errorf("%s got %d error events:\n%s", m.name, n, m.describe())
		}
	}

	for range 30 {
		if _, err := peers[0].PeerConnection().AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	alice.wait(t, "the offer over 128 KB refused", func(evs []client.Event) bool {
		return slices.ContainsFunc(evs, func(ev client.Event) bool {
			e, ok := ev.(*client.ErrorEvent)
			return ok && errors.Is(e.Err, client.ErrTooLarge)
		})
	})
	talk(t, alice, bob) // still connected
}

// TestJoinWithoutConnected: when the stack never gets "connected" through
// (every @connections post throttled), Join gives up after dialTimeout
// even with a context that has no deadline, instead of waiting for ever.
func TestJoinWithoutConnected(t *testing.T) {
	t.Parallel() // 15 s of waiting
	s := startStack(t, nil, localstack.Options{Chaos: chaos.Profile{Seed: 1, ConnectionsThrottle: 1}})
	start := time.Now()
	room, err := client.Join(context.Background(), s.WebSocketURL, client.Options{API: testkit.LoopbackAPI()})
	if err == nil {
		_ = room.Leave(timeout(t))
		t.Fatal("Join succeeded without a connected frame")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Join: %v, want the dial's deadline", err)
	}
	t.Logf("Join gave up after %v: %v", time.Since(start).Round(time.Second), err)
}

// waitFor polls cond (for state that has no event) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := timeout(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestErrors: what the stack refuses reaches Join's caller as a *Error
// with the protocol's code.
func TestErrors(t *testing.T) {
	s := startStack(t, nil, localstack.Options{})
	full := join(t, s.WebSocketURL, "", "only", client.Options{Capacity: 1})
	named := join(t, s.WebSocketURL, "", "taken", client.Options{})
	for _, tt := range []struct {
		name, room, user string
		code             string
	}{
		{"a full room", full.ID(), "second", client.CodeRoomFull},
		{"no such room", "00000000-0000-4000-8000-000000000000", "x", client.CodeRoomNotFound},
		{"a name in use", named.ID(), "TAKEN", client.CodeNameTaken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			room, err := client.Join(timeout(t), s.WebSocketURL, client.Options{RoomID: tt.room, UserName: tt.user})
			if err == nil {
				_ = room.Leave(timeout(t))
				t.Fatalf("Join succeeded, want %s", tt.code)
			}
			var e *client.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Action != "enterroom" {
				t.Fatalf("Join returned %v, want a %s error for enterroom", err, tt.code)
			}
		})
	}
}

// TestUnauthorized: a stack that requires a token refuses the handshake
// without one (CodeUnauthorized), and admits the holder of one.
func TestUnauthorized(t *testing.T) {
	secret := strings.Repeat("k", 32)
	s := startStack(t, map[string]string{"AUTH_SECRETS": `{"current":"` + secret + `"}`, "AUTH_AUDIENCE": "calls"}, localstack.Options{})
	_, err := client.Join(timeout(t), s.WebSocketURL, client.Options{})
	if code := client.ErrorCode(err); code != client.CodeUnauthorized {
		t.Fatalf("Join without a token returned %v, want %s", err, client.CodeUnauthorized)
	}
	token, err := auth.Mint([]byte(secret), "calls", auth.Grant{Create: true}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	alice := join(t, s.WebSocketURL, "", "alice", client.Options{Token: token})
	bob := join(t, s.WebSocketURL, alice.ID(), "bob", client.Options{Token: token})
	talk(t, alice, bob)
}

// TestPeerLeaves: a member that leaves is a PeerLeft with reason "left"
// for the others, whose peers list drops it.
func TestPeerLeaves(t *testing.T) {
	s := startStack(t, nil, localstack.Options{})
	alice := join(t, s.WebSocketURL, "", "alice", client.Options{})
	bob := join(t, s.WebSocketURL, alice.ID(), "bob", client.Options{})
	talk(t, alice, bob)
	if err := bob.Leave(timeout(t)); err != nil {
		t.Fatal(err)
	}
	alice.wait(t, "bob's leave", func(evs []client.Event) bool {
		return slices.ContainsFunc(evs, func(ev client.Event) bool {
			l, ok := ev.(*client.PeerLeft)
			return ok && l.Peer.UserName() == "bob" && l.Reason == "left"
		})
	})
	if got := alice.Peers(); len(got) != 0 {
		t.Errorf("alice still has peers %v", got)
	}
}

// TestICEServers: a stack with STUN and TURN servers hands them to the
// client ({"action":"iceservers"}, and after the enter), with TURN
// credentials for its participant; a stack without any hands none, and
// peers connect either way.
func TestICEServers(t *testing.T) {
	env := map[string]string{
		"STUN_URLS": "stun:127.0.0.1:3478", "TURN_URLS": "turn:127.0.0.1:3478?transport=udp",
		"TURN_SECRETS": `{"current":"` + strings.Repeat("t", 32) + `"}`, "TURN_TTL": "3600",
	}
	for _, tc := range []struct {
		name      string
		env       map[string]string
		urls      int
		relay     bool
		withCreds bool
	}{
		{"STUN and TURN", env, 2, true, true},
		{"none", nil, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startStack(t, tc.env, localstack.Options{})
			alice := join(t, s.WebSocketURL, "", "alice", client.Options{})
			bob := join(t, s.WebSocketURL, alice.ID(), "bob", client.Options{})
			talk(t, alice, bob)
			servers, relay := alice.ICEServers()
			urls := 0
			creds := false
			for _, srv := range servers {
				urls += len(srv.URLs)
				creds = creds || srv.Username != "" && srv.Credential != nil
			}
			if urls != tc.urls || relay != tc.relay || creds != tc.withCreds {
				t.Errorf("ICE servers %+v (relay %v), want %d URLs, relay %v, credentials %v", servers, relay, tc.urls, tc.relay, tc.withCreds)
			}
		})
	}
}
