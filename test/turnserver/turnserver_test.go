//go:build e2e

package turnserver

import (
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	slsturn "github.com/slsrtc/slsrtc/turn"
)

var (
	oldSecret     = []byte("old-secret-0123456789abcdefghijklmnopqrstuv")
	newSecret     = []byte("new-secret-0123456789abcdefghijklmnopqrstuv")
	unknownSecret = []byte("unknown-secret-0123456789abcdefghijklmnopqr")
)

// credentials returns what package turn hands participant at now when it
// signs with secret.
func credentials(t *testing.T, s *Server, secret []byte, participant string, now time.Time) (username, password string) {
	t.Helper()
	u, err := slsturn.ParseURL(s.TURNURL("udp"))
	if err != nil {
		t.Fatal(err)
	}
	c := slsturn.Config{TURN: []slsturn.URL{u}, TTL: slsturn.MinTTL, Secrets: [][]byte{secret}}
	servers, _, err := c.ICEServers(participant, now)
	if err != nil {
		t.Fatal(err)
	}
	return servers[0].Username, servers[0].Credential
}

// allocate asks s for a UDP relay with the credentials over a pion/turn
// client, and returns the relayed address or the error.
func allocate(t *testing.T, s *Server, username, password string) (net.Addr, error) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(Host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: s.Addr(), TURNServerAddr: s.Addr(),
		Username: username, Password: password, Conn: conn,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		return nil, err
	}
	defer relay.Close()
	return relay.LocalAddr(), nil
}

// TestCredentials: coturn, configured as Start does, accepts what package
// turn signs with any of its secrets (two during a rotation) and refuses a
// credential signed with a secret it does not have or one that has expired.
func TestCredentials(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name    string
		secrets [][]byte // the server's
		signer  []byte
		now     time.Time
		ok      bool
	}{
		{"one secret", [][]byte{newSecret}, newSecret, now, true},
		{"rotation: signed with the new secret", [][]byte{newSecret, oldSecret}, newSecret, now, true},
		{"rotation: signed with the old secret", [][]byte{newSecret, oldSecret}, oldSecret, now, true},
		{"rotation, old first: signed with the new secret", [][]byte{oldSecret, newSecret}, newSecret, now, true},
		{"a secret the server does not have", [][]byte{newSecret, oldSecret}, unknownSecret, now, false},
		{"expired", [][]byte{newSecret}, newSecret, now.Add(-2 * slsturn.MinTTL), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, Options{Secrets: tc.secrets})
			user, pass := credentials(t, s, tc.signer, "L0SM9cOFvHcCIhw=", tc.now)
			relay, err := allocate(t, s, user, pass)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("allocate as %s: %v", user, err)
			case !tc.ok && err == nil:
				t.Fatalf("allocate as %s: got relay %v, want a refusal", user, relay)
			case tc.ok:
				if host, _, _ := net.SplitHostPort(relay.String()); host != Host {
					t.Errorf("relayed address %v, want one on %s", relay, Host)
				}
			}
		})
	}
}

// TestSecretCharacters: package turn refuses exactly the secrets that do
// not reach coturn intact through its configuration file. Every printable
// ASCII character (what Secrets Manager's GenerateSecretString draws from)
// does, # and = and quotes and white space inside included; white space at
// either end does not (coturn trims it), so credentials signed with such a
// secret would be refused.
func TestSecretCharacters(t *testing.T) {
	var printable strings.Builder
	for c := byte('!'); c <= '~'; c++ {
		printable.WriteByte(c)
	}
	const base = "0123456789abcdefghijklmnopqrstuvwxyz"
	for _, tc := range []struct {
		name, secret string
	}{
		{"every printable character", printable.String()},
		{"a space, a tab and # inside", "a # not\ta comment " + base},
		{"spaces before", "  " + base},
		{"spaces after", base + "  "},
		{"a tab after", base + "\t"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			secretString, _ := json.Marshal(map[string]string{"current": tc.secret})
			_, parseErr := slsturn.ParseConfig(slsturn.Settings{TURNURLs: "turn:" + Host, Secrets: string(secretString)})
			s := Start(t, Options{Secrets: [][]byte{[]byte(tc.secret)}})
			user, pass := credentials(t, s, []byte(tc.secret), "participant", time.Now())
			_, allocErr := allocate(t, s, user, pass)
			if (parseErr == nil) != (allocErr == nil) {
				t.Errorf("secret %q: turn.ParseConfig: %v; coturn: %v", tc.secret, parseErr, allocErr)
			}
		})
	}
}

// TestParallel: servers started at once get ports of their own and each
// answers with its own realm.
func TestParallel(t *testing.T) {
	const n = 4
	servers := make([]*Server, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { servers[i] = Start(t, Options{Secrets: [][]byte{newSecret}}) })
	}
	wg.Wait()
	ports := map[int]bool{}
	for _, s := range servers {
		if s == nil {
			t.FailNow() // Start has said why
		}
		if ports[s.Port] {
			t.Errorf("port %d given twice", s.Port)
		}
		ports[s.Port] = true
		if err := s.probeOnce("udp", s.Realm); err != nil {
			t.Errorf("server on %d: %v", s.Port, err)
		}
	}
}

// TestPortTaken: when another process holds the port, start reports
// errPortTaken (from coturn's "Cannot bind" or from the other process's
// answer) instead of waiting for readiness, so that Start tries another.
func TestPortTaken(t *testing.T) {
	for _, network := range []string{"udp4", "tcp4"} {
		t.Run(network, func(t *testing.T) {
			var addr net.Addr
			if network == "udp4" {
				pc, err := net.ListenPacket(network, net.JoinHostPort(Host, "0"))
				if err != nil {
					t.Fatal(err)
				}
				defer pc.Close()
				addr = pc.LocalAddr()
			} else {
				l, err := net.Listen(network, net.JoinHostPort(Host, "0"))
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				addr = l.Addr()
			}
			_, port, _ := net.SplitHostPort(addr.String())
			s := &Server{Realm: "taken.test"}
			s.Port, _ = strconv.Atoi(port)
			err := s.start(t, Binary(t), t.TempDir(), Options{Secrets: [][]byte{newSecret}, Realm: s.Realm})
			if !errors.Is(err, errPortTaken) {
				t.Fatalf("start on a port %s holds: %v, want errPortTaken", network, err)
			}
		})
	}
}

// openAllocation allocates a UDP relay on s with the credentials and keeps
// it until the test ends.
func openAllocation(t *testing.T, s *Server, username, password string) net.PacketConn {
	t.Helper()
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(Host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: s.Addr(), TURNServerAddr: s.Addr(),
		Username: username, Password: password, Conn: conn,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate as %s: %v", username, err)
	}
	t.Cleanup(func() { relay.Close() })
	return relay
}

// relays checks that relay still carries data: it sends to a new peer,
// which needs a new permission (an authenticated request), and the peer
// must receive it.
func relays(t *testing.T, relay net.PacketConn, text string) {
	t.Helper()
	peer, err := net.ListenPacket("udp4", net.JoinHostPort(Host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := relay.WriteTo([]byte(text), peer.LocalAddr()); err != nil {
		t.Fatalf("relay %v: send %q: %v", relay.LocalAddr(), text, err)
	}
	_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 100)
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != text || from.String() != relay.LocalAddr().String() {
		t.Fatalf("peer got %q from %v (%v), want %q from the relay %v", buf[:n], from, err, text, relay.LocalAddr())
	}
}

// TestRotationWithoutRestart: with the secrets in coturn's database
// (turn_secret), the rotation of docs/turn.md happens while coturn runs,
// and an allocation made before it relays throughout: the new secret is
// accepted once added, both while both are there, and once the old one is
// removed, new allocations with credentials it signed are refused.
func TestRotationWithoutRestart(t *testing.T) {
	s := Start(t, Options{Secrets: [][]byte{oldSecret}, SecretsInDB: true})
	check := func(step string, secret []byte, ok bool) {
		t.Helper()
		user, pass := credentials(t, s, secret, "participant", time.Now())
		_, err := allocate(t, s, user, pass)
		if ok != (err == nil) {
			t.Errorf("%s: allocate with credentials signed with the %s secret: %v, want accepted: %v", step, name(secret), err, ok)
		}
	}
	check("before", oldSecret, true)
	check("before", newSecret, false)
	user, pass := credentials(t, s, oldSecret, "in-a-call", time.Now())
	call := openAllocation(t, s, user, pass)

	s.AddSecret(t, newSecret)
	check("new secret added", oldSecret, true)
	check("new secret added", newSecret, true)
	relays(t, call, "while both secrets are there")

	s.RemoveSecret(t, oldSecret)
	check("old secret removed", oldSecret, false)
	check("old secret removed", newSecret, true)
	relays(t, call, "after the secret it was signed with is gone")
}

func name(secret []byte) string {
	switch string(secret) {
	case string(oldSecret):
		return "old"
	case string(newSecret):
		return "new"
	}
	return "unknown"
}
