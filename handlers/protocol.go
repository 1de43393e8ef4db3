package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/slsrtc/slsrtc/names"
	"github.com/slsrtc/slsrtc/push"
)

// Actions a client can send (the value of "action", which API Gateway's
// route selection expression $request.body.action turns into the routeKey).
const (
	ActionCreateRoom  = "createroom"
	ActionEnterRoom   = "enterroom"
	ActionLeaveRoom   = "leaveroom"
	ActionMessage     = "message"
	ActionPing        = "ping"
	ActionResume      = "resume"
	ActionICEServers  = "iceservers"
	ActionSubscribe   = "subscribe"
	ActionUnsubscribe = "unsubscribe"
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

// Server event types. A relayed message may not use them, in any case, so a
// client cannot forge a server event (not even for a client that compares
// types case-insensitively).
const (
	TypeConnected    = "connected"
	TypeRoomCreated  = "room-created"
	TypeEnter        = "enter"
	TypeLeave        = "leave"
	TypeRoomMembers  = "room-members"
	TypePong         = "pong"
	TypeError        = "error"
	TypeResumed      = "resumed"
	TypeICEServers   = "ice-servers"
	TypeSubscribed   = "subscribed"
	TypeUnsubscribed = "unsubscribed"
)

var reservedTypes = map[string]bool{
	TypeConnected: true, TypeRoomCreated: true, TypeEnter: true, TypeLeave: true,
	TypeRoomMembers: true, TypePong: true, TypeError: true, TypeResumed: true, TypeICEServers: true,
	TypeSubscribed: true, TypeUnsubscribed: true,
}

// Message is a decoded and validated client message. Only the fields of its
// Action are set.
type Message struct {
	Action string
	// createroom: the requested capacity, 0 when absent (range-checked by
	// the handler against the configured maximum).
	Capacity int
	// enterroom: the room (canonical lower-case UUID) and optional name,
	// as given and as compared (NameKey, unique within a room).
	RoomID   string
	UserName string
	NameKey  string
	// message: destination connection, type and opaque payload.
	Dest    string
	Type    string
	Payload string
	// resume: the resume token.
	Token string
	// subscribe (with RoomID): the PushSubscription's JSON as the page sent
	// it, checked by the handler under the configured push.Policy.
	Subscription string
	// unsubscribe (with RoomID): the subscription's endpoint.
	Endpoint string
}

// action is one entry of the action table: what a client may send as
// "action", how its fields are read, and the handler that serves it. The
// router registers one route per entry; $default serves the same entries
// (a template without that route), and the table names them in the help
// text of unknown-action.
type action struct {
	name  string
	parse func(f fields, m *Message) error
	serve func(h *server, ctx context.Context, connectionID string, m Message) error
}

// actions is THE table of client actions, in the order docs/protocol.md
// lists them.
var actions = []action{
	{ActionCreateRoom, parseCreateRoom, (*server).createRoom},
	{ActionEnterRoom, parseEnterRoom, (*server).enterRoom},
	{ActionLeaveRoom, noFields, (*server).leaveRoom},
	{ActionMessage, parseRelay, (*server).relay},
	{ActionPing, noFields, (*server).ping},
	{ActionResume, parseResume, (*server).resume},
	{ActionICEServers, noFields, (*server).iceServers},
	{ActionSubscribe, parseSubscribe, (*server).subscribe},
	{ActionUnsubscribe, parseUnsubscribe, (*server).unsubscribe},
}

// Actions returns the names of the client actions, in the table's order.
func Actions() []string {
	names := make([]string, 0, len(actions))
	for _, a := range actions {
		names = append(names, a.name)
	}
	return names
}

func lookupAction(name string) (action, bool) {
	for _, a := range actions {
		if a.name == name {
			return a, true
		}
	}
	return action{}, false
}

// ParseMessage decodes and validates a client message. Errors are *Error
// with code payload-too-large, invalid-message, unknown-action or
// forbidden (a relay that would forge a server event type). The returned
// Message carries the action even with an error, when it could be read.
//
// Field names match exactly, as API Gateway's route selection does: a
// field in another case ("Action") is an unknown field, and unknown fields
// are ignored for forward compatibility; but a message that repeats a
// field, or has two spellings of one of the protocol's fields ("action" and
// "ACTION"), is ambiguous and refused as invalid-message.
func ParseMessage(body []byte) (Message, error) {
	if len(body) > MaxMessageBytes {
		return Message{}, newError(CodePayloadTooLarge, fmt.Sprintf("the message is %d bytes; the limit is %d", len(body), MaxMessageBytes))
	}
	f, err := decodeFields(body)
	var m Message
	action, aerr := f.str("action")
	if action != nil {
		m.Action = *action
	}
	switch {
	case err != nil:
		return m, err
	case aerr != nil:
		return m, aerr
	case action == nil:
		return m, newError(CodeInvalidMessage, `the message has no "action"`)
	}
	a, ok := lookupAction(m.Action)
	if !ok {
		return m, newError(CodeUnknownAction, fmt.Sprintf("unknown action %q; use one of %s", truncate(m.Action, 64), strings.Join(Actions(), ", ")))
	}
	return m, a.parse(f, &m)
}

func noFields(fields, *Message) error { return nil }

func parseCreateRoom(f fields, m *Message) error {
	c, err := f.integer("capacity")
	if err != nil || c == nil {
		return err
	}
	m.Capacity = *c
	if m.Capacity < 1 {
		return newError(CodeInvalidMessage, `"capacity" must be at least 1`)
	}
	return nil
}

func parseEnterRoom(f fields, m *Message) error {
	var err error
	if m.RoomID, err = roomIDField(f, ActionEnterRoom); err != nil {
		return err
	}
	name, err := f.str("userName")
	if err != nil || name == nil {
		return err
	}
	if err := validateUserName(*name); err != nil {
		return err
	}
	key, err := names.Normalize(*name)
	if err != nil {
		return newError(CodeInvalidMessage, `"userName" is not allowed: `+strings.TrimPrefix(err.Error(), "name "))
	}
	m.UserName, m.NameKey = *name, key
	return nil
}

// MaxResumeTokenLength bounds a resume token.
const MaxResumeTokenLength = 256

func parseResume(f fields, m *Message) error {
	token, err := f.str("token")
	switch {
	case err != nil:
		return err
	case token == nil || *token == "":
		return newError(CodeInvalidMessage, `resume needs "token", the resumeToken of the connection to resume`)
	case len(*token) > MaxResumeTokenLength:
		return newError(CodeInvalidMessage, fmt.Sprintf(`"token" is longer than %d bytes`, MaxResumeTokenLength))
	}
	m.Token = *token
	return nil
}

// roomIDField reads the "roomID" an action needs.
func roomIDField(f fields, action string) (string, error) {
	room, err := f.str("roomID")
	if err != nil {
		return "", err
	}
	if room == nil {
		return "", newError(CodeInvalidMessage, action+` needs "roomID"`)
	}
	return parseRoomID(*room)
}

func parseSubscribe(f fields, m *Message) error {
	var err error
	if m.RoomID, err = roomIDField(f, ActionSubscribe); err != nil {
		return err
	}
	raw, ok := f["subscription"]
	if !ok || string(raw) == "null" {
		return newError(CodeInvalidMessage, `subscribe needs "subscription", the PushSubscription's JSON (subscription.toJSON())`)
	}
	if len(raw) > push.MaxSubscriptionSize {
		return newError(CodeInvalidMessage, fmt.Sprintf(`"subscription" is longer than %d bytes`, push.MaxSubscriptionSize))
	}
	m.Subscription = string(raw)
	return nil
}

func parseUnsubscribe(f fields, m *Message) error {
	var err error
	if m.RoomID, err = roomIDField(f, ActionUnsubscribe); err != nil {
		return err
	}
	endpoint, err := f.str("endpoint")
	switch {
	case err != nil:
		return err
	case endpoint == nil || *endpoint == "":
		return newError(CodeInvalidMessage, `unsubscribe needs "endpoint", the subscription's endpoint`)
	case len(*endpoint) > push.MaxEndpointLength:
		return newError(CodeInvalidMessage, fmt.Sprintf(`"endpoint" is longer than %d bytes`, push.MaxEndpointLength))
	}
	m.Endpoint = *endpoint
	return nil
}

func parseRelay(f fields, m *Message) error {
	dest, err := f.str("dest")
	if err != nil {
		return err
	}
	typ, err := f.str("type")
	if err != nil {
		return err
	}
	payload, err := f.str("message")
	if err != nil {
		return err
	}
	switch {
	case dest == nil:
		return newError(CodeInvalidMessage, `message needs "dest", the connection ID to send to`)
	case typ == nil:
		return newError(CodeInvalidMessage, `message needs "type", e.g. "offer", "answer" or "ice-candidate"`)
	case payload == nil:
		return newError(CodeInvalidMessage, `message needs "message", the payload string`)
	}
	if err := validateConnectionID(*dest); err != nil {
		return err
	}
	if err := validateType(*typ); err != nil {
		return err
	}
	m.Dest, m.Type, m.Payload = *dest, *typ, *payload
	return nil
}

// fields are the members of a client's JSON object, by exact name, each
// still encoded.
type fields map[string]json.RawMessage

// protocolFields are the member names the protocol reads, lower-cased: a
// message with two spellings of one of them is ambiguous.
var protocolFields = map[string]bool{
	"action": true, "capacity": true, "roomid": true, "username": true, "dest": true, "type": true, "message": true,
	"token": true, "subscription": true, "endpoint": true,
}

// decodeFields decodes one JSON object into its members, turning every
// failure into an invalid-message error. A repeated member, or two
// spellings of a protocol field, is an error; the members read so far are
// returned with it.
func decodeFields(body []byte) (fields, error) {
	f := fields{}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return f, invalidJSON(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return f, newError(CodeInvalidMessage, "the message must be a JSON object")
	}
	folded := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return f, invalidJSON(err)
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return f, invalidJSON(err)
		}
		if _, dup := f[name]; dup {
			return f, newError(CodeInvalidMessage, fmt.Sprintf("the message repeats %q", truncate(name, 64)))
		}
		lower := strings.ToLower(name)
		if other, dup := folded[lower]; dup && protocolFields[lower] {
			return f, newError(CodeInvalidMessage, fmt.Sprintf("the message has both %q and %q; field names are case-sensitive", truncate(other, 64), truncate(name, 64)))
		}
		folded[lower] = name
		f[name] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return f, invalidJSON(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return f, newError(CodeInvalidMessage, "the message is not valid JSON: trailing data after the JSON object")
	}
	return f, nil
}

func invalidJSON(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return newError(CodeInvalidMessage, "the message is not valid JSON: "+err.Error())
}

// str returns the string member name, nil if it is absent or null.
func (f fields) str(name string) (*string, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, newError(CodeInvalidMessage, fmt.Sprintf("%q must be a string", name))
	}
	return &s, nil
}

// integer returns the integer member name, nil if it is absent or null.
func (f fields) integer(name string) (*int, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, newError(CodeInvalidMessage, fmt.Sprintf("%q must be an integer", name))
	}
	return &n, nil
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
	if reservedTypes[strings.ToLower(s)] {
		return newError(CodeForbidden, fmt.Sprintf("%q is a server event type (in any case) and cannot be relayed", s))
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
