package handlers

import (
	"errors"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/gateway"
)

// Error codes the client can receive in {"type":"error","code":...}.
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
	CodeInternal        = "internal"
)

// errorCodes is THE table from an error code to what the client receives:
// the integration's HTTP status (what API Gateway's access log shows, and
// what rejects a $connect), the message used when the handler gives none, and
// the domain errors that map to the code, each with the message it gets.
var errorCodes = map[string]struct {
	status  int
	message string
	causes  []cause
}{
	CodeInvalidMessage:  {400, "the message is not valid", nil},
	CodeUnknownAction:   {400, "unknown action", nil},
	CodePayloadTooLarge: {413, "the message is larger than 128 KB", []cause{{gateway.ErrPayloadTooLarge, ""}}},
	CodeRoomNotFound:    {404, "no such room (it may have expired)", []cause{{dynamo.ErrRoomNotFound, ""}}},
	CodeRoomFull:        {409, "the room is full", []cause{{dynamo.ErrRoomFull, ""}}},
	CodeAlreadyInRoom:   {409, "this connection is already in a room; leave it first", []cause{{dynamo.ErrAlreadyInRoom, ""}}},
	CodeNotInRoom:       {409, "this connection is not in a room", []cause{{dynamo.ErrNotInRoom, ""}}},
	CodeNameTaken:       {409, "that user name is taken in this room", []cause{{dynamo.ErrNameTaken, ""}}},
	CodeForbidden: {403, "not allowed", []cause{
		{dynamo.ErrConnectionNotFound, "this connection is not registered (it may have expired); reconnect"},
	}},
	CodeInternal: {500, "internal error; try again", []cause{
		{dynamo.ErrContention, "too many simultaneous changes; try again"},
	}},
}

// cause is a domain error and the client message it gets ("" for the
// code's default).
type cause struct {
	err     error
	message string
}

// Error is an error the client is told about: a code from errorCodes and a
// human message. Err, if set, is the cause (logged, never sent).
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// newError returns an *Error with code and message.
func newError(code, message string) *Error { return &Error{Code: code, Message: message} }

// clientError classifies err: the *Error it is or maps to through
// errorCodes, and whether it is internal (then the client sees only the
// generic message and the cause is logged).
func clientError(err error) (e *Error, internal bool) {
	var ce *Error
	if errors.As(err, &ce) {
		if ce.Message == "" {
			ce.Message = errorCodes[ce.Code].message
		}
		return ce, ce.Code == CodeInternal
	}
	for code, spec := range errorCodes {
		for _, c := range spec.causes {
			if errors.Is(err, c.err) {
				msg := c.message
				if msg == "" {
					msg = spec.message
				}
				return &Error{Code: code, Message: msg, Err: err}, code == CodeInternal
			}
		}
	}
	return &Error{Code: CodeInternal, Message: errorCodes[CodeInternal].message, Err: err}, true
}

// statusOf returns the HTTP status of an error code.
func statusOf(code string) int {
	if spec, ok := errorCodes[code]; ok {
		return spec.status
	}
	return 500
}
