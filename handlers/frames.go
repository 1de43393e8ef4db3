package handlers

import (
	"bytes"
	"encoding/json"

	"github.com/slsrtc/slsrtc/turn"
)

// Frames the server sends. Field names and shapes are the sls-rtc protocol's
// (docs/protocol.md); the original front end depends on them.

type bodyFrame struct { // room-created
	Type string `json:"type"`
	Body string `json:"body"`
}

// connectedFrame tells a new connection its ID (body, as the seed protocol
// has it), the participant it is, the token that resumes it from another
// connection, and when API Gateway will close it: at expiresAt (epoch
// milliseconds), or after idleTimeoutMs without a message.
type connectedFrame struct {
	Type          string `json:"type"`
	Body          string `json:"body"`
	ParticipantID string `json:"participantID,omitempty"`
	ResumeToken   string `json:"resumeToken,omitempty"`
	ExpiresAt     int64  `json:"expiresAt,omitempty"`
	IdleTimeoutMs int64  `json:"idleTimeoutMs,omitempty"`
	// VAPIDPublicKey is the page's applicationServerKey for Web Push, on a
	// stack that sends notifications.
	VAPIDPublicKey string `json:"vapidPublicKey,omitempty"`
}

// Presence frames (enter, leave, room-members) carry seq: the room's version
// at the strongly consistent read the frame was built from (docs/protocol.md,
// "Presence").

type enterFrame struct {
	Type          string `json:"type"`
	RoomID        string `json:"roomID"`
	ConnectionID  string `json:"connectionID"`
	ParticipantID string `json:"participantID,omitempty"`
	UserName      string `json:"userName,omitempty"`
	Seq           int64  `json:"seq"`
}

type leaveFrame struct {
	Type          string `json:"type"`
	RoomID        string `json:"roomID"`
	ConnectionID  string `json:"connectionID"`
	ParticipantID string `json:"participantID,omitempty"`
	Reason        string `json:"reason"`
	Seq           int64  `json:"seq"`
}

type memberEntry struct {
	ConnectionID  string `json:"connectionID"`
	ParticipantID string `json:"participantID,omitempty"`
	UserName      string `json:"userName,omitempty"`
}

type membersFrame struct {
	Type    string        `json:"type"`
	RoomID  string        `json:"roomID"`
	Members []memberEntry `json:"members"`
	Seq     int64         `json:"seq"`
}

// resumedFrame tells a room that a participant continues on a new
// connection (instead of a leave and an enter), and the resumer itself,
// with its next resume token.
type resumedFrame struct {
	Type                 string `json:"type"`
	RoomID               string `json:"roomID"`
	ConnectionID         string `json:"connectionID"`
	PreviousConnectionID string `json:"previousConnectionID"`
	ParticipantID        string `json:"participantID"`
	UserName             string `json:"userName,omitempty"`
	ResumeToken          string `json:"resumeToken,omitempty"`
	Seq                  int64  `json:"seq"`
}

// iceServersFrame gives a client the iceServers of its RTCConfiguration:
// STUN, and TURN with credentials valid for ttlSeconds (relay says whether
// there is a TURN server at all: without one, a peer behind a NAT that
// allows no direct path cannot connect).
type iceServersFrame struct {
	Type       string           `json:"type"`
	ICEServers []turn.ICEServer `json:"iceServers"`
	Relay      bool             `json:"relay"`
	TTLSeconds int64            `json:"ttlSeconds,omitempty"`
}

// relayFrame is a relayed message: from is the sender's connection;
// withParticipant adds "participantID", the sender's participant.
type relayFrame struct {
	Type string `json:"type"`
	Body string `json:"body"`
	From string `json:"from"`
}

// participantFieldBytes is what withParticipant adds to a relayed frame at
// most: `,"participantID":"` and a UUID's 36 characters and `"`.
const participantFieldBytes = len(`,"participantID":""`) + 36

// withParticipant adds "participantID" to an encoded relay frame (which
// ends with its closing brace), once the sender's participant is known:
// the payload is encoded once, before the store is asked, to refuse an
// oversized one without a call. id is a UUID, which needs no escaping.
func withParticipant(frame []byte, id string) []byte {
	if id == "" {
		return frame
	}
	out := make([]byte, 0, len(frame)+participantFieldBytes)
	out = append(out, frame[:len(frame)-1]...)
	out = append(out, `,"participantID":"`...)
	out = append(out, id...)
	return append(out, `"}`...)
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
	// undeliverable: the destination and how many signals were dropped.
	Dest          string `json:"dest,omitempty"`
	ParticipantID string `json:"participantID,omitempty"`
	Count         int    `json:"count,omitempty"`
	// subscribe refused as invalid-message: the push.Invalid code.
	Reason string `json:"reason,omitempty"`
}

// subscribedFrame confirms a subscribe: the room followed, until when
// (epoch milliseconds; a subscribe or a notification renews it).
type subscribedFrame struct {
	Type      string `json:"type"`
	RoomID    string `json:"roomID"`
	ExpiresAt int64  `json:"expiresAt"`
}

// unsubscribedFrame confirms an unsubscribe; removed is false when there
// was no such subscription.
type unsubscribedFrame struct {
	Type    string `json:"type"`
	RoomID  string `json:"roomID"`
	Removed bool   `json:"removed"`
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
