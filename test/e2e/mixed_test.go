//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/slsrtc/slsrtc/client"
	"github.com/slsrtc/slsrtc/internal/localstack"
)

// TestBrowserAndGoClient: a page on slsrtc.js in Chromium and a Go program
// on package client, in one room, agree on the conventions between peers
// (who is polite, the negotiated "slsrtc" channel, the signal types) and
// exchange data-channel messages both ways.
func TestBrowserAndGoClient(t *testing.T) {
	s := jsStack(t, localstack.Options{})
	alice := jsTabs(t, s, "alice")[0]
	alice.mustJoin(t, s.WebSocketURL, map[string]any{"userName": "alice"})

	// Chromium's host candidates are the machine's addresses (mDNS names
	// are off in browserTabs): the Go peer gathers on them too, not on
	// loopback alone as the Go-only tests do.
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.To4() != nil })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	ctx := timeout(t)
	bob, err := client.Join(ctx, s.WebSocketURL, client.Options{RoomID: alice.roomID, UserName: "bob",
		API: webrtc.NewAPI(webrtc.WithSettingEngine(se))})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Leave(ctx)

	do(t, "alice's channel to bob opens", alice.ctx, waitFor(fmt.Sprintf(`t.open().includes(%q)`, bob.ParticipantID())))
	do(t, "alice sends to bob", alice.ctx,
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`t.room.send(%q, "hello from the browser")`, bob.ParticipantID())))
	for got := false; !got; {
		select {
		case ev := <-bob.Events():
			if m, ok := ev.(*client.Message); ok {
				if m.Peer.ID() != alice.participantID || string(m.Data) != "hello from the browser" {
					t.Fatalf("bob got %q from %s, want alice's message", m.Data, m.Peer.ID())
				}
				got = true
			}
		case <-ctx.Done():
			t.Fatal("bob never got alice's message")
		}
	}
	if err := bob.SendText(ctx, alice.participantID, "hello from Go"); err != nil {
		t.Fatal(err)
	}
	do(t, "alice receives bob's message", alice.ctx,
		waitFor(fmt.Sprintf(`t.got("message", {peer: %q, data: "hello from Go"})`, bob.ParticipantID())))
	noErrors(t, alice)
}
