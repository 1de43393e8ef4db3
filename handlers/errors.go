package handlers

import (
	"fmt"
	"time"

	"github.com/slsrtc/slsrtc/connections"
	"github.com/slsrtc/slsrtc/dynamo"
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
	CodeRateLimited     = "rate-limited"
	CodeLimitReached    = "limit-reached"
	CodeUnauthorized    = "unauthorized"
	CodeSessionExpired  = "session-expired"
	CodeUndeliverable   = "undeliverable"
	CodePushDisabled    = "push-disabled"
	CodeInternal        = "internal"
)

// errorCodes is THE table from an error code to what the client receives:
// the integration's HTTP status (what API Gateway's access log shows, and
// what rejects a $connect), the message used when the handler gives none, and
// the domain errors that map to the code, each with the message it gets.
// It is ordered, the way dynamo.Store.Enter checks its conditions (the
// connection, then the room, then the name): an error that wraps causes of
// two codes gets the code that comes first (see clientError).
var errorCodes = []errorCode{
	{CodeInternal, 500, "internal error; try again", []cause{
		{dynamo.ErrContention, "too many simultaneous changes; try again"},
	}},
	{CodePayloadTooLarge, 413, "the message is larger than 128 KB", []cause{{connections.ErrPayloadTooLarge, ""}}},
	{CodeInvalidMessage, 400, "the message is not valid", []cause{
		{dynamo.ErrBadResumeToken, `"token" is not a resume token`},
		{dynamo.ErrSubscriptionExpired, "the push subscription has expired (its expirationTime has passed); subscribe again"},
	}},
	{CodeUnknownAction, 400, "unknown action", nil},
	{CodeUnauthorized, 401, "a valid token is required", nil},
	{CodeForbidden, 403, "not allowed", []cause{
		{dynamo.ErrConnectionNotFound, "this connection is not registered (it may have expired); reconnect"},
		{dynamo.ErrCreateNotAllowed, "your token does not allow creating rooms"},
		{dynamo.ErrRoomNotAllowed, "your token does not allow entering this room"},
		{dynamo.ErrNotMember, "only a member of the room may follow it: enter it, then subscribe"},
	}},
	{CodeSessionExpired, 410, "the session cannot be resumed: it expired, was resumed already, or the token is not valid; connect as new", []cause{
		{dynamo.ErrSessionExpired, ""},
	}},
	{CodeUndeliverable, 410, "the destination did not come back in time; the signal was not delivered", nil},
	{CodeRateLimited, 429, "too many requests; slow down", nil},
	{CodeLimitReached, 403, "this connection has created as many rooms as it may", []cause{
		{dynamo.ErrRoomLimit, ""},
		{dynamo.ErrRoomSubscriptions, "this room has as many push subscriptions as it may"},
		{dynamo.ErrSubscribeLimit, "this connection has subscribed as many times as it may"},
	}},
	{CodePushDisabled, 501, "push notifications are off on this stack (no VAPID key is configured)", nil},
	{CodeAlreadyInRoom, 409, "this connection is already in a room; leave it first", []cause{{dynamo.ErrAlreadyInRoom, ""}}},
	{CodeNotInRoom, 409, "this connection is not in a room", []cause{{dynamo.ErrNotInRoom, ""}}},
	{CodeRoomNotFound, 404, "no such room (it may have expired)", []cause{{dynamo.ErrRoomNotFound, ""}}},
	{CodeRoomFull, 409, "the room is full", []cause{{dynamo.ErrRoomFull, ""}}},
	{CodeNameTaken, 409, "that user name is taken in this room", []cause{{dynamo.ErrNameTaken, ""}}},
}

// errorCode is one row of errorCodes.
type errorCode struct {
	code    string
	status  int
	message string
	causes  []cause
}

// codeSpec returns the row of code; an unknown code gets internal's.
func codeSpec(code string) errorCode {
	for _, c := range errorCodes {
		if c.code == code {
			return c
		}
	}
	return errorCodes[0]
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
	// RetryAfter, for rate-limited, is when the client may try again.
	RetryAfter time.Duration
	// Undelivered, for undeliverable, is who the signals were for and how
	// many were dropped.
	Undelivered *Undelivered
	// Reason, for a subscribe refused as invalid-message, is why the
	// subscription was refused: a push.Invalid code ("endpoint-host").
	Reason string
	Err    error
	// sent is set when the handler has sent the frame itself.
	sent bool
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Undelivered names the participant that signals were not delivered to:
// its connection (as the sender named it), its participant, and how many.
type Undelivered struct {
	Dest, ParticipantID string
	Count               int
}

// newError returns an *Error with code and message.
func newError(code, message string) *Error { return &Error{Code: code, Message: message} }

// clientError classifies err: the *Error it is or maps to through
// errorCodes, and whether it is internal (then the client sees only the
// generic message and the cause is logged in full).
//
// It walks err's whole tree (errors wrapped with %w, and every branch of
// errors.Join). An error that wraps an internal failure — anything that is
// neither an *Error nor a cause in the table — is internal, whatever else
// it wraps: a failed read joined with an undo that found the client gone
// is an outage, not a rejection. Otherwise the first code in the table's
// order that the tree holds wins, so the result never depends on how the
// tree was built.
func clientError(err error) (e *Error, internal bool) {
	found := map[string]*Error{}
	if !classify(err, err, found) {
		if ce, ok := found[CodeInternal]; ok {
			return ce, true // a known internal cause says more than the generic message
		}
		return &Error{Code: CodeInternal, Message: codeSpec(CodeInternal).message, Err: err}, true
	}
	for _, spec := range errorCodes {
		if ce, ok := found[spec.code]; ok {
			return ce, false
		}
	}
	return &Error{Code: CodeInternal, Message: codeSpec(CodeInternal).message, Err: err}, true
}

// classify records in found the client error of every branch of e (the
// tree of root) and reports whether every branch ends in a rejection: an
// *Error, or a cause of errorCodes, whose code is not internal. A branch
// that ends anywhere else is an internal failure.
func classify(root, e error, found map[string]*Error) bool {
	switch te := e.(type) {
	case *dynamo.RateLimitedError:
		e = &Error{Code: CodeRateLimited, Message: "too many " + te.What + "; retry after " + te.RetryAfter.Round(time.Millisecond).String(),
			RetryAfter: te.RetryAfter, Err: root}
	case *dynamo.NamePinnedError:
		e = &Error{Code: CodeForbidden, Message: fmt.Sprintf("your token allows only the user name %q", te.Name), Err: root}
	case *dynamo.SessionExpiredError:
		e = &Error{Code: CodeSessionExpired, Message: codeSpec(CodeSessionExpired).message, Err: root}
	}
	if ce, ok := e.(*Error); ok {
		if ce.Message == "" {
			ce.Message = codeSpec(ce.Code).message
		}
		if _, seen := found[ce.Code]; !seen {
			found[ce.Code] = ce
		}
		return ce.Code != CodeInternal
	}
	for _, spec := range errorCodes {
		for _, c := range spec.causes {
			if e == c.err {
				if _, seen := found[spec.code]; !seen {
					msg := c.message
					if msg == "" {
						msg = spec.message
					}
					found[spec.code] = &Error{Code: spec.code, Message: msg, Err: root}
				}
				return spec.code != CodeInternal
			}
		}
	}
	switch u := e.(type) {
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			return classify(root, inner, found)
		}
	case interface{ Unwrap() []error }:
		ok := true
		for _, inner := range u.Unwrap() {
			ok = classify(root, inner, found) && ok
		}
		return ok
	}
	return false
}

// statusOf returns the HTTP status of an error code.
func statusOf(code string) int { return codeSpec(code).status }
