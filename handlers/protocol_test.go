package handlers_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slsrtc/slsrtc/handlers"
)

func TestParseMessage(t *testing.T) {
	room := "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
	tests := []struct {
		name     string
		body     string
		want     handlers.Message
		wantCode string
	}{
		{name: "createroom", body: `{"action":"createroom"}`, want: handlers.Message{Action: "createroom"}},
		{name: "createroom with capacity", body: `{"action":"createroom","capacity":4}`, want: handlers.Message{Action: "createroom", Capacity: 4}},
		{name: "capacity negative", body: `{"action":"createroom","capacity":-1}`, wantCode: "invalid-message"},
		{name: "capacity fractional", body: `{"action":"createroom","capacity":2.5}`, wantCode: "invalid-message"},
		{name: "capacity huge", body: `{"action":"createroom","capacity":1e30}`, wantCode: "invalid-message"},
		{name: "enterroom", body: `{"action":"enterroom","roomID":"` + room + `"}`, want: handlers.Message{Action: "enterroom", RoomID: room}},
		{name: "enterroom upper case ID", body: `{"action":"enterroom","roomID":"` + strings.ToUpper(room) + `"}`, want: handlers.Message{Action: "enterroom", RoomID: room}},
		{name: "enterroom URN form refused", body: `{"action":"enterroom","roomID":"urn:uuid:` + room + `"}`, wantCode: "invalid-message"},
		{name: "enterroom with name", body: `{"action":"enterroom","roomID":"` + room + `","userName":"Zoë Müller"}`, want: handlers.Message{Action: "enterroom", RoomID: room, UserName: "Zoë Müller", NameKey: "zoë müller"}},
		{name: "names compare folded", body: `{"action":"enterroom","roomID":"` + room + `","userName":"ALICE"}`, want: handlers.Message{Action: "enterroom", RoomID: room, UserName: "ALICE", NameKey: "alice"}},
		{name: "name with an emoji", body: `{"action":"enterroom","roomID":"` + room + `","userName":"Zoë 🚀"}`, wantCode: "invalid-message"},
		{name: "name mixing scripts", body: `{"action":"enterroom","roomID":"` + room + `","userName":"Аlice"}`, wantCode: "invalid-message"},
		{name: "name empty", body: `{"action":"enterroom","roomID":"` + room + `","userName":""}`, wantCode: "invalid-message"},
		{name: "name 64 characters", body: `{"action":"enterroom","roomID":"` + room + `","userName":"` + strings.Repeat("é", 64) + `"}`, want: handlers.Message{Action: "enterroom", RoomID: room, UserName: strings.Repeat("é", 64), NameKey: strings.Repeat("é", 64)}},
		{name: "name 65 characters", body: `{"action":"enterroom","roomID":"` + room + `","userName":"` + strings.Repeat("a", 65) + `"}`, wantCode: "invalid-message"},
		{name: "name with newline", body: `{"action":"enterroom","roomID":"` + room + `","userName":"a\nb"}`, wantCode: "invalid-message"},
		{name: "name with leading space", body: `{"action":"enterroom","roomID":"` + room + `","userName":" a"}`, wantCode: "invalid-message"},
		{name: "name with bidi override", body: `{"action":"enterroom","roomID":"` + room + `","userName":"a\u202eb"}`, wantCode: "invalid-message"},
		{name: "name not a string", body: `{"action":"enterroom","roomID":"` + room + `","userName":5}`, wantCode: "invalid-message"},
		{name: "relay", body: `{"action":"message","dest":"L0SM9cOFvHcCIhw=","type":"ice-candidate","message":"{}"}`,
			want: handlers.Message{Action: "message", Dest: "L0SM9cOFvHcCIhw=", Type: "ice-candidate", Payload: "{}"}},
		{name: "relay empty payload", body: `{"action":"message","dest":"L0SM9cOFvHcCIhw=","type":"bye","message":""}`,
			want: handlers.Message{Action: "message", Dest: "L0SM9cOFvHcCIhw=", Type: "bye"}},
		{name: "relay server type", body: `{"action":"message","dest":"x","type":"connected","message":""}`, wantCode: "forbidden"},
		{name: "relay error type", body: `{"action":"message","dest":"x","type":"error","message":""}`, wantCode: "forbidden"},
		{name: "relay type with spaces", body: `{"action":"message","dest":"x","type":"o ffer","message":""}`, wantCode: "invalid-message"},
		{name: "relay dest with slash-dot", body: `{"action":"message","dest":"../x","type":"offer","message":""}`, wantCode: "invalid-message"},
		{name: "relay dest empty", body: `{"action":"message","dest":"","type":"offer","message":""}`, wantCode: "invalid-message"},
		{name: "relay missing dest", body: `{"action":"message","type":"offer","message":""}`, wantCode: "invalid-message"},
		{name: "unknown fields are ignored", body: `{"action":"ping","from":"someone","v":2}`, want: handlers.Message{Action: "ping"}},
		{name: "leaveroom", body: `{"action":"leaveroom"}`, want: handlers.Message{Action: "leaveroom"}},
		{name: "unknown action", body: `{"action":"sendmessage"}`, want: handlers.Message{Action: "sendmessage"}, wantCode: "unknown-action"},
		{name: "action null", body: `{"action":null}`, wantCode: "invalid-message"},
		{name: "trailing garbage", body: `{"action":"ping"} {}`, wantCode: "invalid-message"},
		{name: "empty body", body: ``, wantCode: "invalid-message"},
		{name: "too large", body: `{"action":"ping","x":"` + strings.Repeat("a", handlers.MaxMessageBytes) + `"}`, wantCode: "payload-too-large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := handlers.ParseMessage([]byte(tt.body))
			code := ""
			var ce *handlers.Error
			if errors.As(err, &ce) {
				code = ce.Code
			} else if err != nil {
				t.Fatalf("error %v is not an *Error", err)
			}
			if code != tt.wantCode {
				t.Errorf("code = %q (%v), want %q", code, err, tt.wantCode)
			}
			if tt.wantCode == "" && got != tt.want {
				t.Errorf("ParseMessage = %+v, want %+v", got, tt.want)
			}
			if tt.wantCode != "" && ce.Message == "" {
				t.Error("error without a message for the client")
			}
		})
	}
}

var knownCodes = map[string]bool{
	"invalid-message": true, "unknown-action": true, "payload-too-large": true, "forbidden": true,
}

// FuzzParseMessage: any body either parses into a message of a known action
// with valid fields, or is refused with a typed error and a message.
// Seeds: real messages of the protocol (and testdata/fuzz/FuzzParseMessage).
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`{"action":"createroom"}`,
		`{"action":"createroom","capacity":8}`,
		`{"action":"enterroom","roomID":"3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b","userName":"alice"}`,
		`{"action":"leaveroom"}`,
		`{"action":"ping"}`,
		`{"action":"message","dest":"L0SM9cOFvHcCIhw=","type":"offer","message":"{\"type\":\"offer\",\"sdp\":\"v=0\\r\\no=- 4611731400430051336 2 IN IP4 127.0.0.1\\r\\n\"}"}`,
		`{"action":"message","dest":"L0SM9cOFvHcCIhw=","type":"ice-candidate","message":"{\"candidate\":\"candidate:1 1 udp 2122260223 192.168.1.2 54400 typ host\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}"}`,
		`{"action":"message","dest":"x","type":"enter","message":""}`,
		`{"action":5}`, `[]`, `null`, `"ping"`, `{"action":"enterroom","roomID":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := handlers.ParseMessage(body)
		if err != nil {
			var ce *handlers.Error
			if !errors.As(err, &ce) || !knownCodes[ce.Code] || ce.Message == "" {
				t.Fatalf("ParseMessage(%q) error %#v is not a typed client error", body, err)
			}
			return
		}
		switch m.Action {
		case "createroom":
			if m.Capacity < 0 {
				t.Fatalf("negative capacity from %q", body)
			}
		case "enterroom":
			if len(m.RoomID) != 36 || strings.ToLower(m.RoomID) != m.RoomID {
				t.Fatalf("room ID %q not canonical from %q", m.RoomID, body)
			}
			if m.UserName != "" && (!utf8.ValidString(m.UserName) || utf8.RuneCountInString(m.UserName) > handlers.MaxUserNameRunes) {
				t.Fatalf("bad user name %q from %q", m.UserName, body)
			}
		case "message":
			if m.Dest == "" || m.Type == "" || m.Type == "connected" || m.Type == "enter" || m.Type == "leave" {
				t.Fatalf("bad relay %+v from %q", m, body)
			}
		case "leaveroom", "ping":
		default:
			t.Fatalf("action %q accepted from %q", m.Action, body)
		}
	})
}
