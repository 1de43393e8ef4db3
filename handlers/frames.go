package handlers

import (
	"bytes"
	"encoding/json"
)

// Frames the server sends. Field names and shapes are the sls-rtc protocol's
// (docs/protocol.md); the original front end depends on them.

type bodyFrame struct { // connected, room-created
	Type string `json:"type"`
	Body string `json:"body"`
}

// Presence frames (enter, leave, room-members) carry seq: the room's version
// at the strongly consistent read the frame was built from (docs/protocol.md,
// "Presence").

type enterFrame struct {
	Type         string `json:"type"`
	RoomID       string `json:"roomID"`
	ConnectionID string `json:"connectionID"`
	UserName     string `json:"userName,omitempty"`
	Seq          int64  `json:"seq"`
}

type leaveFrame struct {
	Type         string `json:"type"`
	RoomID       string `json:"roomID"`
	ConnectionID string `json:"connectionID"`
	Reason       string `json:"reason"`
	Seq          int64  `json:"seq"`
}

type memberEntry struct {
	ConnectionID string `json:"connectionID"`
	UserName     string `json:"userName,omitempty"`
}

type membersFrame struct {
	Type    string        `json:"type"`
	RoomID  string        `json:"roomID"`
	Members []memberEntry `json:"members"`
	Seq     int64         `json:"seq"`
}

type relayFrame struct {
	Type string `json:"type"`
	Body string `json:"body"`
	From string `json:"from"`
}

type typeFrame struct { // pong
	Type string `json:"type"`
}

type errorFrame struct {
	Type         string `json:"type"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	Action       string `json:"action,omitempty"`
	RetryAfterMs int64  `json:"retryAfterMs,omitempty"`
}

// encode marshals a frame without HTML escaping (payloads are SDP and ICE,
// not HTML) and without a trailing newline.
func encode(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Frames are structs of strings; they always encode.
		panic("handlers: encode frame: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
