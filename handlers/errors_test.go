package handlers

import (
	"errors"
	"fmt"
	"testing"

	"github.com/slsrtc/slsrtc/dynamo"
)

// TestClientError: every error maps to one code through the ordered table,
// the same code however the tree was built (review defect 2), and an error
// that wraps an internal failure stays internal whatever else it wraps
// (review defect 1).
func TestClientError(t *testing.T) {
	outage := errors.New("operation error DynamoDB: Query, https response error StatusCode: 500")
	tests := []struct {
		name         string
		err          error
		wantCode     string
		wantInternal bool
		wantMessage  string
	}{
		{"a domain error", dynamo.ErrRoomFull, CodeRoomFull, false, "the room is full"},
		{"wrapped", fmt.Errorf("enter: %w", dynamo.ErrNameTaken), CodeNameTaken, false, "that user name is taken in this room"},
		{"an *Error", newError(CodeInvalidMessage, "nope"), CodeInvalidMessage, false, "nope"},
		{"an *Error without a message", newError(CodeNotInRoom, ""), CodeNotInRoom, false, "this connection is not in a room"},
		{"unknown", outage, CodeInternal, true, "internal error; try again"},
		{"two causes", errors.Join(dynamo.ErrNameTaken, dynamo.ErrRoomFull), CodeRoomFull, false, "the room is full"},
		{"two causes, the other way round", errors.Join(dynamo.ErrRoomFull, dynamo.ErrNameTaken), CodeRoomFull, false, "the room is full"},
		{"the connection first", fmt.Errorf("%w: %w", dynamo.ErrRoomNotFound, dynamo.ErrConnectionNotFound), CodeForbidden, false,
			"this connection is not registered (it may have expired); reconnect"},
		{"an outage joined with a rejection", errors.Join(fmt.Errorf("read the room: %w", outage), fmt.Errorf("undo enter: %w", dynamo.ErrConnectionNotFound)),
			CodeInternal, true, "internal error; try again"},
		{"a rejection joined with an outage", errors.Join(dynamo.ErrNotInRoom, outage), CodeInternal, true, "internal error; try again"},
		{"contention", fmt.Errorf("%w: transact write items: %w", dynamo.ErrContention, outage), CodeInternal, true,
			"too many simultaneous changes; try again"},
		{"an internal *Error", newError(CodeInternal, ""), CodeInternal, true, "internal error; try again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 { // a map in the way would show as a changing answer
				ce, internal := clientError(tt.err)
				if ce.Code != tt.wantCode || internal != tt.wantInternal || ce.Message != tt.wantMessage {
					t.Fatalf("clientError = %q, %v, %q; want %q, %v, %q", ce.Code, internal, ce.Message, tt.wantCode, tt.wantInternal, tt.wantMessage)
				}
			}
		})
	}
}
