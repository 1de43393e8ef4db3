package client

import (
	"errors"
	"fmt"
	"time"
)

// Error codes of the protocol (docs/protocol.md, "Errors"). Program against
// these, not against Error.Message.
const (
	CodeInvalidMessage  = "invalid-message"
	CodeUnknownAction   = "unknown-action"
	CodePayloadTooLarge = "payload-too-large"
	CodeRoomNotFound    = "room-not-found"
	CodeRoomFull        = "room-full"
	CodeAlreadyInRoom   = "already-in-room"
	CodeNotInRoom       = "not-in-room"
	CodeNameTaken       = "name-taken"
	CodeForbidden       = "forbidden"
	CodeRateLimited     = "rate-limited"
	CodeLimitReached    = "limit-reached"
	CodeSessionExpired  = "session-expired"
	CodeUndeliverable   = "undeliverable"
	CodeInternal        = "internal"
	// CodeUnauthorized is a handshake refused with HTTP 401: the stack
	// requires a token (Options.Token) and got none, or one it does not
	// accept.
	CodeUnauthorized = "unauthorized"
)

// handshakeCodes maps the HTTP status of a refused WebSocket handshake to
// the code of the *Error that Join (or a reconnect) returns. A refusal
// with any other status is retried by a reconnect.
var handshakeCodes = map[int]string{
	401: CodeUnauthorized,
	403: CodeForbidden,
}

// Error is what the server refused: an "error" frame, or a refused
// handshake (CodeUnauthorized, CodeForbidden). Test its Code with
// errors.As.
type Error struct {
	// Code is one of the Code constants.
	Code string
	// Message is for humans.
	Message string
	// Action is the client action the server refused ("enterroom"), when it
	// could read it.
	Action string
	// RetryAfter is when a rate-limited action may be tried again.
	RetryAfter time.Duration
	// Dest, Participant and Count describe an undeliverable error: the
	// destination, its participant ID and how many signals were dropped.
	Dest, Participant string
	Count             int
}

func (e *Error) Error() string {
	if e.Action != "" {
		return fmt.Sprintf("%s: %s: %s", e.Action, e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// ErrorCode returns the Code of the *Error in err's chain, or "" if there
// is none.
func ErrorCode(err error) string {
	if e := (*Error)(nil); errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrLeft is returned by a Room's methods after Leave.
var ErrLeft = errors.New("client: the room was left")

// errorFromFrame converts an "error" frame.
func errorFromFrame(f *frame) *Error {
	return &Error{
		Code: f.Code, Message: f.Message, Action: f.Action,
		RetryAfter: time.Duration(f.RetryAfterMs) * time.Millisecond,
		Dest:       f.Dest, Participant: f.ParticipantID, Count: f.Count,
	}
}
