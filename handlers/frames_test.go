package handlers

import (
	"path/filepath"
	"testing"

	"github.com/slsrtc/slsrtc/internal/testkit"
)

// TestFrames pins the exact bytes of every frame the server sends against
// golden files in testdata/frames: these are the sls-rtc wire format the
// front end parses. Run go test -update to rewrite them after a deliberate
// change (and update docs/protocol.md).
func TestFrames(t *testing.T) {
	room := "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
	tests := []struct {
		name  string
		frame any
	}{
		{"connected", bodyFrame{Type: TypeConnected, Body: "L0SM9cOFvHcCIhw="}},
		{"room-created", bodyFrame{Type: TypeRoomCreated, Body: room}},
		{"enter", enterFrame{Type: TypeEnter, RoomID: room, ConnectionID: "L0SM9cOFvHcCIhw=", Seq: 3}},
		{"enter-with-name", enterFrame{Type: TypeEnter, RoomID: room, ConnectionID: "L0SM9cOFvHcCIhw=", UserName: "alice <3", Seq: 3}},
		{"room-members", membersFrame{Type: TypeRoomMembers, RoomID: room, Members: []memberEntry{
			{ConnectionID: "L0SM9cOFvHcCIhw=", UserName: "alice"}, {ConnectionID: "R1kmxc2VNjMCFIA="}}, Seq: 4}},
		{"leave", leaveFrame{Type: TypeLeave, RoomID: room, ConnectionID: "L0SM9cOFvHcCIhw=", Reason: ReasonLeft, Seq: 5}},
		{"leave-disconnected", leaveFrame{Type: TypeLeave, RoomID: room, ConnectionID: "R1kmxc2VNjMCFIA=", Reason: ReasonDisconnected, Seq: 6}},
		{"relay-offer", relayFrame{Type: "offer", Body: `{"type":"offer","sdp":"v=0\r\n"}`, From: "R1kmxc2VNjMCFIA="}},
		{"pong", typeFrame{Type: TypePong}},
		{"error", errorFrame{Type: TypeError, Code: CodeRoomFull, Message: "the room is full", Action: ActionEnterRoom}},
		{"error-without-action", errorFrame{Type: TypeError, Code: CodeInvalidMessage, Message: "the message is not valid JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encode(tt.frame)
			testkit.Golden(t, filepath.Join("testdata", "frames", tt.name+".json"), append(got, '\n'))
		})
	}
}
