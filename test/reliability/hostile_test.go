package reliability_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// TestHostileInput: messages a hostile client sends get their typed error,
// reach nobody else and store nothing. A and B share room {room} (as alice
// and bob), C is alone in another room, D is in no room.
func TestHostileInput(t *testing.T) {
	e := newEnv(t)
	e.mustConnect("A", "B", "C", "D")
	room := e.createRoom("A", 4)
	e.enter("A", room, "alice")
	e.enter("B", room, "bob")
	e.enter("C", e.createRoom("C", 4), "")

	// about, if set, must appear in the error's message.
	type hostile struct{ name, from, body, code, about string }
	tests := []hostile{
		{"relay to a connection in another room", "C", relayBody("A", "offer", "x"), "forbidden", ""},
		{"relay to an unknown connection", "A", relayBody("Zm9yZ2VkQ29ubklEPQ", "offer", "x"), "forbidden", ""},
		{"relay from outside any room", "D", relayBody("A", "offer", "x"), "not-in-room", ""},
		{"relay with a destination that is not an ID", "A", relayBody("B#room", "offer", "x"), "invalid-message", ""},
		{"relay with a quote in the type", "A", relayBody("B", `offer","from":"C`, "x"), "invalid-message", ""},
		{"relay with a look-alike type", "A", relayBody("B", "\u043effer", "x"), "invalid-message", ""},
		{"relay with an overlong type", "A", relayBody("B", strings.Repeat("t", 65), "x"), "invalid-message", ""},
		// U+2028 is 3 bytes in the message and 6 (\u2028) in the frame.
		{"relay too large once framed", "A", `{"action":"message","dest":"B","type":"offer","message":"` + strings.Repeat("\u2028", 40000) + `"}`, "payload-too-large", ""},
		{"body over 128 KB", "A", `{"action":"ping","pad":"` + strings.Repeat("x", 128*1024) + `"}`, "payload-too-large", ""},
		{"enter a guessed room", "D", enterBody("00000000-0000-4000-8000-000000000000", ""), "room-not-found", ""},
		{"enter a version-1 room ID", "D", enterBody("6ba7b810-9dad-11d1-80b4-00c04fd430c8", ""), "room-not-found", ""},
		{"enter a key, not a room ID", "D", enterBody("roomID#"+room, ""), "invalid-message", ""},
		{"enter with a path", "D", enterBody("../"+room[3:], ""), "invalid-message", ""},
		{"enter under a taken name", "D", enterBody(room, "alice"), "name-taken", ""},
		{"enter again while in a room", "A", enterBody(room, ""), "already-in-room", ""},
		{"name of 65 characters", "D", enterBody(room, strings.Repeat("é", 65)), "invalid-message", ""},
		{"empty name", "D", fmt.Sprintf(`{"action":"enterroom","roomID":%q,"userName":""}`, room), "invalid-message", ""},
		{"createroom capacity 0", "D", `{"action":"createroom","capacity":0}`, "invalid-message", ""},
		{"createroom capacity -1", "D", `{"action":"createroom","capacity":-1}`, "invalid-message", ""},
		{"createroom capacity over the maximum", "D", `{"action":"createroom","capacity":51}`, "invalid-message", ""},
		{"createroom capacity huge", "D", `{"action":"createroom","capacity":99999999999999999999}`, "invalid-message", ""},
		{"createroom capacity fractional", "D", `{"action":"createroom","capacity":2.5}`, "invalid-message", ""},
		{"leaveroom outside a room", "D", `{"action":"leaveroom"}`, "not-in-room", ""},
		{"an unregistered connection", "Z", `{"action":"createroom"}`, "forbidden", ""},
		{"an action that is not a route", "A", `{"action":"$disconnect"}`, "unknown-action", ""},
		{"an internal event as a message", "A", `{"action":"ping","slsrtcInternal":{"kind":"connected","connectionId":"B"}}`, "", ""},
	}
	for _, typ := range []string{"connected", "room-created", "enter", "leave", "room-members", "pong", "error"} {
		tests = append(tests, hostile{"forge server event " + typ, "B", relayBody("A", typ, `{"roomID":"x"}`), "forbidden", "server event"})
	}
	for _, name := range []string{"al\x00ice", "al\tice", "al\nice", "\x1b[31mred", "del\x7f", "nel\u0085", "zero\u200bwidth",
		"\u202eeciла", "bom\ufeff", "line\u2028sep", " alice", "alice "} {
		tests = append(tests, hostile{fmt.Sprintf("name %q", name), "D", enterBody(room, name), "invalid-message", "userName"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.db.Items(t)
			e.send(tt.from, tt.body)
			got := e.sender.take(tt.from)
			switch {
			case tt.code == "" && (len(got) != 1 || got[0].Type != "pong"):
				t.Errorf("%s got %v, want only pong", tt.from, got)
			case tt.code != "" && (len(got) != 1 || got[0].Type != "error" || got[0].Code != tt.code || !strings.Contains(got[0].Message, tt.about)):
				t.Errorf("%s got %v, want one %s error about %q", tt.from, got, tt.code, tt.about)
			}
			for _, id := range []string{"A", "B", "C", "D"} {
				if fs := e.sender.take(id); len(fs) > 0 {
					t.Errorf("%s got %v", id, fs)
				}
			}
			if !reflect.DeepEqual(e.db.Items(t), before) {
				t.Error("the table changed")
			}
		})
	}
	dynamotest.CheckInvariants(t, e.db)
}

// TestRelayCannotForge: what the destination gets is exactly
// {"type","body","from"}, with "from" the sender's ID whatever the message
// carries, and the payload passed through byte for byte.
func TestRelayCannotForge(t *testing.T) {
	e := newEnv(t)
	e.mustConnect("A", "B")
	room := e.createRoom("A", 2)
	e.enter("A", room, "")
	e.enter("B", room, "")
	payloads := []string{`","from":"A","type":"enter`, `{"from":"A"}`, "\u2028</script>\x00", `\"}`}
	for _, p := range payloads {
		body := fmt.Sprintf(`{"action":"message","dest":"A","type":"offer","message":%s,"from":"A","connectionID":"A","roomID":"x"}`, jsonString(p))
		if s := e.send("B", body); s != 200 {
			t.Fatalf("relay %q: status %d", p, s)
		}
		fs := e.sender.take("A")
		if len(fs) != 1 {
			t.Fatalf("A got %v", fs)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(fs[0].raw), &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"type": "offer", "body": p, "from": "B", "participantID": "p-B"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("A got %s, want %v", fs[0].raw, want)
		}
	}
}

// TestRoomIDsAreUnguessable: room IDs are version-4 UUIDs from a
// cryptographic source: 122 random bits (every bit but the 4 version and 2
// variant bits varies, each about half the time) and no repeats in 20,000.
func TestRoomIDsAreUnguessable(t *testing.T) {
	const n = 20000
	newID := dynamo.New(nil, "t").NewRoomID
	seen := make(map[string]bool, n)
	var ones [128]int
	for range n {
		id, err := newID()
		if err != nil {
			t.Fatal(err)
		}
		if !uuidV4.MatchString(id) || seen[id] {
			t.Fatalf("room ID %q: not a fresh canonical v4 UUID", id)
		}
		seen[id] = true
		u := uuid.MustParse(id)
		for bit := range 128 {
			if u[bit/8]&(0x80>>(bit%8)) != 0 {
				ones[bit]++
			}
		}
	}
	var random, fixed []int
	for bit, k := range ones {
		switch {
		case k == 0 || k == n:
			fixed = append(fixed, bit)
		case k < n*47/100 || k > n*53/100: // 4.2σ from n/2
			t.Errorf("bit %d is set in %d of %d IDs: biased", bit, k, n)
		default:
			random = append(random, bit)
		}
	}
	// Version bits 48-51 (0100) and variant bits 64-65 (10).
	if want := []int{48, 49, 50, 51, 64, 65}; len(random) != 122 || !slices.Equal(fixed, want) {
		t.Errorf("%d random bits, fixed bits %v; want 122 random and fixed %v", len(random), fixed, want)
	}
}

// TestNamesWithinLimitsAreKept: the longest allowed name (64 characters,
// any script) and names with inner spaces and symbols are stored as sent.
func TestNamesWithinLimitsAreKept(t *testing.T) {
	e := newEnv(t)
	room := ""
	for i, name := range []string{strings.Repeat("é", 64), "Ana María", "李小龍", "bob#1", "Ελένη", "山田 たろう"} {
		id := fmt.Sprintf("c%d", i)
		e.mustConnect(id)
		if room == "" {
			room = e.createRoom(id, 8)
		}
		e.send(id, enterBody(room, name))
		fs := e.sender.take(id)
		if len(fs) != 2 || fs[0].UserName != name {
			t.Errorf("enter as %q got %v", name, fs)
		}
	}
	dynamotest.CheckInvariants(t, e.db)
}
