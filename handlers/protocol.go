package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Actions a client can send (the value of "action", which API Gateway's
// route selection expression $request.body.action turns into the routeKey).
const (
	ActionCreateRoom = "createroom"
	ActionEnterRoom  = "enterroom"
	ActionLeaveRoom  = "leaveroom"
	ActionMessage    = "message"
	ActionPing       = "ping"
)

// Limits of the protocol.
const (
	// MaxMessageBytes is API Gateway's limit for one WebSocket message, in
	// both directions.
	MaxMessageBytes = 128 * 1024
	// MaxUserNameRunes bounds a user name.
	MaxUserNameRunes = 64
	// MaxTypeLength bounds the type of a relayed message.
	MaxTypeLength = 64
	// MaxConnectionIDLength bounds a destination connection ID.
	MaxConnectionIDLength = 128
)

// Server event types. A relayed message may not use them, so a client
// cannot forge a server event.
const (
	TypeConnected   = "connected"
	TypeRoomCreated = "room-created"
	TypeEnter       = "enter"
	TypeLeave       = "leave"
	TypeRoomMembers = "room-members"
	TypePong        = "pong"
	TypeError       = "error"
)

var reservedTypes = map[string]bool{
	TypeConnected: true, TypeRoomCreated: true, TypeEnter: true, TypeLeave: true,
	TypeRoomMembers: true, TypePong: true, TypeError: true,
}

// Message is a decoded and validated client message. Only the fields of its
// Action are set.
type Message struct {
	Action string
	// createroom: the requested capacity, 0 when absent (range-checked by
	// the handler against the configured maximum).
	Capacity int
	// enterroom: the room (canonical lower-case UUID) and optional name.
	RoomID   string
	UserName string
	// message: destination connection, type and opaque payload.
	Dest    string
	Type    string
	Payload string
}

// wireMessage is the JSON a client sends. Pointers tell absent from empty.
type wireMessage struct {
	Action   *string `json:"action"`
	Capacity *int    `json:"capacity"`
	RoomID   *string `json:"roomID"`
	UserName *string `json:"userName"`
	Dest     *string `json:"dest"`
	Type     *string `json:"type"`
	Message  *string `json:"message"`
}

// ParseMessage decodes and validates a client message. Errors are *Error
// with code payload-too-large, invalid-message, unknown-action or
// forbidden (a relay that would forge a server event type). The returned
// Message carries the action even with an error, when it could be read.
// Unknown fields are ignored, for forward compatibility.
func ParseMessage(body []byte) (Message, error) {
	if len(body) > MaxMessageBytes {
		return Message{}, newError(CodePayloadTooLarge, fmt.Sprintf("the message is %d bytes; the limit is %d", len(body), MaxMessageBytes))
	}
	var w wireMessage
	if err := decodeStrict(body, &w); err != nil {
		m := Message{}
		if w.Action != nil {
			m.Action = *w.Action
		}
		return m, err
	}
	if w.Action == nil {
		return Message{}, newError(CodeInvalidMessage, `the message has no "action"`)
	}
	m := Message{Action: *w.Action}
	switch m.Action {
	case ActionCreateRoom:
		if w.Capacity != nil {
			m.Capacity = *w.Capacity
			if m.Capacity < 1 {
				return m, newError(CodeInvalidMessage, `"capacity" must be at least 1`)
			}
		}
	case ActionEnterRoom:
		if w.RoomID == nil {
			return m, newError(CodeInvalidMessage, `enterroom needs "roomID"`)
		}
		id, err := parseRoomID(*w.RoomID)
		if err != nil {
			return m, err
		}
		m.RoomID = id
		if w.UserName != nil {
			if err := validateUserName(*w.UserName); err != nil {
				return m, err
			}
			m.UserName = *w.UserName
		}
	case ActionMessage:
		switch {
		case w.Dest == nil:
			return m, newError(CodeInvalidMessage, `message needs "dest", the connection ID to send to`)
		case w.Type == nil:
			return m, newError(CodeInvalidMessage, `message needs "type", e.g. "offer", "answer" or "ice-candidate"`)
		case w.Message == nil:
			return m, newError(CodeInvalidMessage, `message needs "message", the payload string`)
		}
		if err := validateConnectionID(*w.Dest); err != nil {
			return m, err
		}
		if err := validateType(*w.Type); err != nil {
			return m, err
		}
		m.Dest, m.Type, m.Payload = *w.Dest, *w.Type, *w.Message
	case ActionLeaveRoom, ActionPing:
	default:
		return m, newError(CodeUnknownAction, fmt.Sprintf("unknown action %q; use one of createroom, enterroom, leaveroom, message, ping", truncate(m.Action, 64)))
	}
	return m, nil
}

// decodeStrict decodes one JSON object into w, turning every failure into an
// invalid-message error that names the field.
func decodeStrict(body []byte, w *wireMessage) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	err := dec.Decode(w)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON object")
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return newError(CodeInvalidMessage, "the message must be a JSON object")
		}
		want := "a string"
		if typeErr.Field == "capacity" {
			want = "an integer"
		}
		return newError(CodeInvalidMessage, fmt.Sprintf("%q must be %s", typeErr.Field, want))
	}
	return newError(CodeInvalidMessage, "the message is not valid JSON: "+err.Error())
}

// parseRoomID accepts a room ID as createroom returns it (a UUID, in any
// case) and returns its canonical form.
func parseRoomID(s string) (string, error) {
	id, err := uuid.Parse(s)
	if len(s) != 36 || err != nil {
		return "", newError(CodeInvalidMessage, `"roomID" must be a room ID as returned by createroom`)
	}
	return id.String(), nil
}

func validateUserName(s string) error {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		return newError(CodeInvalidMessage, `"userName" must be valid UTF-8`)
	case n < 1 || n > MaxUserNameRunes:
		return newError(CodeInvalidMessage, fmt.Sprintf(`"userName" must be 1 to %d characters`, MaxUserNameRunes))
	case strings.TrimSpace(s) != s:
		return newError(CodeInvalidMessage, `"userName" must not start or end with spaces`)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return newError(CodeInvalidMessage, `"userName" must contain printable characters only`)
		}
	}
	return nil
}

func validateConnectionID(s string) error {
	if len(s) < 1 || len(s) > MaxConnectionIDLength {
		return newError(CodeInvalidMessage, `"dest" must be a connection ID`)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=+/", r)) {
			return newError(CodeInvalidMessage, `"dest" must be a connection ID`)
		}
	}
	return nil
}

func validateType(s string) error {
	if len(s) < 1 || len(s) > MaxTypeLength {
		return newError(CodeInvalidMessage, fmt.Sprintf(`"type" must be 1 to %d characters`, MaxTypeLength))
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return newError(CodeInvalidMessage, `"type" may contain letters, digits, '-', '_' and '.' only`)
		}
	}
	if reservedTypes[s] {
		return newError(CodeForbidden, fmt.Sprintf("%q is a server event type and cannot be relayed", s))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
