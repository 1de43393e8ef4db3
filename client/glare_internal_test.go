package client

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/slsrtc/slsrtc/test/testkit"
)

// TestOfferOvertakesAnswer: signals are not ordered (each relay is its own
// invocation), so the polite side's answer to our offer and the offer it
// made just after can arrive the other way round. The impolite side ignores
// that offer (its own is not answered yet), and once the answer comes it
// applies and answers it, as nobody would send it again; an offer the
// polite side made before its answer (given up in the collision) is dropped
// instead.
func TestOfferOvertakesAnswer(t *testing.T) {
	for _, tt := range []struct {
		name string
		// offerFirst: the polite side offers before answering (a collision:
		// it gives that offer up), else after.
		offerFirst bool
		wantAnswer bool
	}{
		{"an offer made after the answer", false, true},
		{"an offer given up in a collision", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := testkit.LoopbackAPI()
			room := &Room{log: slog.New(slog.NewTextHandler(io.Discard, nil)), events: newEventQueue()}
			impolite := newPeer(room, "polite-participant", false, false, "conn", "")
			pc, err := api.NewPeerConnection(webrtc.Configuration{})
			if err != nil {
				t.Fatal(err)
			}
			polite, err := api.NewPeerConnection(webrtc.Configuration{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = pc.Close(); _ = polite.Close() })
			impolite.pc = pc
			addVideo := func(pc *webrtc.PeerConnection) {
				t.Helper()
				if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
					t.Fatal(err)
				}
			}

			// Our offer goes out.
			addVideo(pc)
			impolite.negotiate()
			ours := lastSignal(t, room, "offer")

			// The polite side's offer, before or after it answers ours.
			addVideo(polite)
			var theirs webrtc.SessionDescription
			if tt.offerFirst {
				if theirs, err = polite.CreateOffer(nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := polite.SetRemoteDescription(ours); err != nil {
				t.Fatal(err)
			}
			answer, err := polite.CreateAnswer(nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := polite.SetLocalDescription(answer); err != nil {
				t.Fatal(err)
			}
			if !tt.offerFirst {
				if theirs, err = polite.CreateOffer(nil); err != nil {
					t.Fatal(err)
				}
				if err := polite.SetLocalDescription(theirs); err != nil {
					t.Fatal(err)
				}
			}

			// The offer arrives first, then the answer.
			impolite.description(theirs)
			if impolite.deferred == nil {
				t.Fatal("the offer that came during our own was not kept")
			}
			impolite.description(answer)
			if impolite.deferred != nil {
				t.Error("the kept offer is still kept")
			}
			if s := pc.SignalingState(); s != webrtc.SignalingStateStable {
				t.Fatalf("signaling state %s, want stable", s)
			}
			room.wmu.Lock()
			last := room.outbox[len(room.outbox)-1]
			room.wmu.Unlock()
			var msg struct{ Type string }
			if err := json.Unmarshal(last, &msg); err != nil {
				t.Fatal(err)
			}
			if got := msg.Type == "answer"; got != tt.wantAnswer {
				t.Fatalf("last signal %q; want an answer: %v", msg.Type, tt.wantAnswer)
			}
			if tt.wantAnswer {
				if err := polite.SetRemoteDescription(lastSignal(t, room, "answer")); err != nil {
					t.Fatalf("the polite side takes the answer: %v", err)
				}
				if s := polite.SignalingState(); s != webrtc.SignalingStateStable {
					t.Errorf("the polite side is %s, want stable", s)
				}
			}
		})
	}
}

// lastSignal returns the description of the last signal the room sent,
// which must be of type typ.
func lastSignal(t *testing.T, r *Room, typ string) webrtc.SessionDescription {
	t.Helper()
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if len(r.outbox) == 0 {
		t.Fatalf("no signal sent, want %s", typ)
	}
	var msg struct{ Type, Message string }
	if err := json.Unmarshal(r.outbox[len(r.outbox)-1], &msg); err != nil {
		t.Fatal(err)
	}
	var sd webrtc.SessionDescription
	if err := json.Unmarshal([]byte(msg.Message), &sd); msg.Type != typ || err != nil {
		t.Fatalf("last signal %q (%v), want %s", msg.Type, err, typ)
	}
	return sd
}
