package handlers_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/turn"
)

// iceFrame is a decoded ice-servers frame.
type iceFrame struct {
	Type       string
	ICEServers []turn.ICEServer
	Relay      bool
	TTLSeconds int64
}

func decodeICE(t *testing.T, frame string) iceFrame {
	t.Helper()
	var f iceFrame
	if err := json.Unmarshal([]byte(frame), &f); err != nil || f.Type != "ice-servers" {
		t.Fatalf("%s is not an ice-servers frame", frame)
	}
	return f
}

// TestICEServers: iceservers answers with the stack's STUN and TURN servers
// and TURN credentials in coturn's REST form for the caller's participant;
// an enter brings the newcomer the same frame after its room-members; a
// stack without servers says so and sends nothing on enter.
func TestICEServers(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	ice, err := turn.ParseConfig(turn.Settings{STUNURLs: "stun:turn.example.com:3478",
		TURNURLs: "turn:turn.example.com:3478?transport=udp,turns:turn.example.com:443?transport=tcp", TTL: "300",
		Secrets: `{"current":"` + secret + `"}`})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, withConfig(func(c *handlers.Config) { c.ICE = ice }))
	h.connect("A")
	before := time.Now().Unix()
	if resp := h.send("A", `{"action":"iceservers"}`); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := h.sender.Take("A")
	if len(got) != 1 {
		t.Fatalf("A got %q, want one ice-servers frame", got)
	}
	f := decodeICE(t, got[0])
	if !f.Relay || f.TTLSeconds != 300 || len(f.ICEServers) != 2 || strings.Join(f.ICEServers[0].URLs, ",") != "stun:turn.example.com:3478" ||
		len(f.ICEServers[1].URLs) != 2 {
		t.Fatalf("frame %s: want STUN, then both TURN URLs, relay, 300 s", got[0])
	}
	expiry, participant, _ := strings.Cut(f.ICEServers[1].Username, ":")
	if n, err := strconv.ParseInt(expiry, 10, 64); err != nil || n < before+300 || n > time.Now().Unix()+300 || participant != "p-A" {
		t.Errorf("username %q: want <now+300>:p-A", f.ICEServers[1].Username)
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(f.ICEServers[1].Username))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); f.ICEServers[1].Credential != want {
		t.Errorf("credential %q, want %q (what coturn computes)", f.ICEServers[1].Credential, want)
	}

	room := h.createRoom("A", 0)
	h.send("A", `{"action":"enterroom","roomID":"`+room+`"}`)
	got = h.sender.Take("A")
	if len(got) != 3 || !strings.Contains(got[1], `"type":"room-members"`) {
		t.Fatalf("A got %q after entering, want enter, room-members, ice-servers", got)
	}
	if f := decodeICE(t, got[2]); !f.Relay || len(f.ICEServers) != 2 {
		t.Errorf("the newcomer's ice-servers frame %s", got[2])
	}

	none := newHarness(t)
	none.connect("A")
	none.send("A", `{"action":"iceservers"}`)
	if got, want := none.sender.Take("A"), []string{`{"type":"ice-servers","iceServers":[],"relay":false}`}; !equal(got, want) {
		t.Errorf("without servers A got %q, want %q", got, want)
	}
	room = none.createRoom("A", 0)
	none.send("A", `{"action":"enterroom","roomID":"`+room+`"}`)
	if got := none.sender.Take("A"); len(got) != 2 {
		t.Errorf("without servers the newcomer got %q, want only enter and room-members", got)
	}
}
