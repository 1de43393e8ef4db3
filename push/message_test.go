package push_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slsrtc/slsrtc/push"
	"github.com/slsrtc/slsrtc/test/pushservice"
)

func TestRoomEntered(t *testing.T) {
	m, err := push.RoomEntered(room, "alice", "https://app.example.com/?room="+room)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"room-entered","roomID":"` + room + `","userName":"alice","url":"https://app.example.com/?room=` + room + `"}`
	if string(m.Payload) != want || m.Topic != room {
		t.Errorf("RoomEntered = %s, topic %q; want %s, %q", m.Payload, m.Topic, want, room)
	}
	m, err = push.RoomEntered(room, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"room-entered","roomID":"` + room + `"}`; string(m.Payload) != want {
		t.Errorf("RoomEntered without name and URL = %s, want %s", m.Payload, want)
	}
}

func TestRoomEnteredCutsNames(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"64 characters are kept", strings.Repeat("é", 64), strings.Repeat("é", 64)},
		{"65 are cut to 63 and an ellipsis", strings.Repeat("a", 65), strings.Repeat("a", 63) + "…"},
		{"a long name", strings.Repeat("名", 10000), strings.Repeat("名", 63) + "…"},
		{"invalid UTF-8 is replaced", "a\xffb", "a\uFFFDb"},
		{"HTML is not escaped", "<b>&", "<b>&"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := push.RoomEntered(room, tc.in, "")
			if err != nil {
				t.Fatal(err)
			}
			want := `{"type":"room-entered","roomID":"` + room + `","userName":"` + tc.want + `"}`
			if string(m.Payload) != want {
				t.Errorf("payload %s, want %s", m.Payload, want)
			}
			if n := utf8.RuneCountInString(tc.want); n > push.MaxUserNameRunes {
				t.Errorf("want has %d characters", n)
			}
		})
	}
}

func TestRoomEnteredRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, room, url string
	}{
		{"no room", "", ""},
		{"a long room ID", strings.Repeat("r", push.MaxRoomIDLength+1), ""},
		{"a room ID with a space", "a b", ""},
		{"a room ID with a quote", "a\"b\u00e9", ""},
		{"a long URL", room, "https://app.example.com/" + strings.Repeat("u", push.MaxURLLength)},
		{"a relative URL", room, "/?room=" + room},
		{"a javascript URL", room, "javascript:alert(1)"},
		{"a URL with user information", room, "https://user@app.example.com/"},
		{"a URL with a space", room, "https://app.example.com/a b"},
		{"a URL with non-ASCII", room, "https://app.example.com/é"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := push.RoomEntered(tc.room, "alice", tc.url); !errors.Is(err, push.ErrMessage) {
				t.Errorf("RoomEntered = %s, %v; want ErrMessage", m.Payload, err)
			}
		})
	}
}

// TestRoomEnteredWorstCase builds the longest payload RoomEntered can make,
// every byte escaped, and sends it: it fits, and arrives whole.
func TestRoomEnteredWorstCase(t *testing.T) {
	roomID := strings.Repeat(`"`, push.MaxRoomIDLength)
	prefix := "https://h.example/"
	url := prefix + strings.Repeat(`\`, push.MaxURLLength-len(prefix))
	name := strings.Repeat("\u2028", push.MaxUserNameRunes) // escaped as \u2028, 6 bytes
	m, err := push.RoomEntered(roomID, name, url)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Payload) > push.MaxPayloadSize || len(m.Payload) < 2700 {
		t.Fatalf("the worst payload is %d bytes, MaxPayloadSize %d", len(m.Payload), push.MaxPayloadSize)
	}
	t.Logf("worst payload: %d bytes of %d", len(m.Payload), push.MaxPayloadSize)
	svc := pushservice.New(t)
	s, _, _ := newSender(t, svc)
	browser, sub := subscribe(t, svc)
	if err := s.Send(t.Context(), sub, m); err != nil {
		t.Fatal(err)
	}
	if got := svc.Messages(browser.ID); len(got) != 1 || string(got[0].Payload) != string(m.Payload) {
		t.Error("the worst payload did not arrive whole")
	}
}
