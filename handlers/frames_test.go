package handlers

import (
	"path/filepath"
	"testing"

	"github.com/slsrtc/slsrtc/test/testkit"
	"github.com/slsrtc/slsrtc/turn"
)

// TestFrames pins the exact bytes of every frame the server sends against
// golden files in testdata/frames: these are the sls-rtc wire format the
// front end parses. Run go test -update to rewrite them after a deliberate
// change (and update docs/protocol.md).
func TestFrames(t *testing.T) {
	room := "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
	const (
		alice = "6f1e0b9a-2c4d-4e8f-9a0b-7c2d3e4f5a61" // the participant of L0SM9cOFvHcCIhw=
		bob   = "0b7d2c4e-8f1a-4c3b-9d5e-6a7b8c9d0e1f" // of R1kmxc2VNjMCFIA=
	)
	tests := []struct {
		name  string
		frame any
	}{
		{"connected", connectedFrame{Type: TypeConnected, Body: "L0SM9cOFvHcCIhw=", ParticipantID: alice,
			ResumeToken: "TDBTTTljT0ZjSGhDSWh3PQ.3q2-7wAAAAB5bW9yZS1yYW5kb20tYnl0ZXMtaGVyZS0", ExpiresAt: 1796035200000, IdleTimeoutMs: 600000}},
		{"room-created", bodyFrame{Type: TypeRoomCreated, Body: room}},
		{"enter", enterFrame{Type: TypeEnter, RoomID: room, ConnectionID: "L0SM9cOFvHcCIhw=", ParticipantID: alice, Seq: 3}},
		{"enter-with-name", enterFrame{Type: TypeEnter, RoomID: room, ConnectionID: "L0SM9cOFvHcCIhw=", ParticipantID: alice, UserName: "alice <3", Seq: 3}},
		{"room-members", membersFrame{Type: TypeRoomMembers, RoomID: room, Members: []memberEntry{
			{ConnectionID: "L0SM9cOFvHcCIhw=", ParticipantID: alice, UserName: "alice"}, {ConnectionID: "R1kmxc2VNjMCFIA=", ParticipantID: bob}}, Seq: 4}},
		{"leave", leaveFrame{Type: TypeLeave, RoomID: room, ConnectionID: "L0SM9cOFvHcCIhw=", ParticipantID: alice, Reason: ReasonLeft, Seq: 5}},
		{"leave-disconnected", leaveFrame{Type: TypeLeave, RoomID: room, ConnectionID: "R1kmxc2VNjMCFIA=", ParticipantID: bob, Reason: ReasonDisconnected, Seq: 6}},
		{"relay-offer", rawFrame(withParticipant(encode(relayFrame{Type: "offer", Body: `{"type":"offer","sdp":"v=0\r\n"}`, From: "R1kmxc2VNjMCFIA="}), bob))},
		{"pong", typeFrame{Type: TypePong}},
		{"error", errorFrame{Type: TypeError, Code: CodeRoomFull, Message: "the room is full", Action: ActionEnterRoom}},
		{"error-without-action", errorFrame{Type: TypeError, Code: CodeInvalidMessage, Message: "the message is not valid JSON"}},
		{"error-undeliverable", errorFrame{Type: TypeError, Code: CodeUndeliverable, Message: "2 signals were not delivered: their destination did not come back in time",
			Action: ActionMessage, Dest: "R1kmxc2VNjMCFIA=", ParticipantID: bob, Count: 2}},
		{"resumed", resumedFrame{Type: TypeResumed, RoomID: room, ConnectionID: "Jx3pQm0aYHcCE5w=", PreviousConnectionID: "R1kmxc2VNjMCFIA=",
			ParticipantID: bob, UserName: "bob", Seq: 7}},
		{"resumed-self", resumedFrame{Type: TypeResumed, RoomID: room, ConnectionID: "Jx3pQm0aYHcCE5w=", PreviousConnectionID: "R1kmxc2VNjMCFIA=",
			ParticipantID: bob, ResumeToken: "SngzcFFtMGFZSGNDRTV3PQ.q7Wm2Xc9Lr4Tb8Nv1Ks6Yd3Hf0Gj5Pa2Ze7Uo4Ii9Ew", Seq: 7}},
		{"ice-servers", iceServersFrame{Type: TypeICEServers, ICEServers: []turn.ICEServer{
			{URLs: []string{"stun:turn.example.com:3478"}},
			{URLs: []string{"turn:turn.example.com:3478?transport=udp"}, Username: "1796074800:" + bob, Credential: "qQCCc9U3+Fp/0x4pJqDshbGW8vc="}},
			Relay: true, TTLSeconds: 3600}},
		{"ice-servers-none", iceServersFrame{Type: TypeICEServers, ICEServers: []turn.ICEServer{}}},
		{"connected-push", connectedFrame{Type: TypeConnected, Body: "L0SM9cOFvHcCIhw=", ParticipantID: alice,
			ResumeToken: "TDBTTTljT0ZjSGhDSWh3PQ.3q2-7wAAAAB5bW9yZS1yYW5kb20tYnl0ZXMtaGVyZS0", ExpiresAt: 1796035200000, IdleTimeoutMs: 600000,
			VAPIDPublicKey: "BHC8eW6ms-87kk7-zCaCPBRCwrhj2l5vLBCUom_7cWFGFi-29VO1pcqIt3aGomhkkpUy9mV-RrjWebjWCY7v_bo"}},
		{"subscribed", subscribedFrame{Type: TypeSubscribed, RoomID: room, ExpiresAt: 1796121600000}},
		{"unsubscribed", unsubscribedFrame{Type: TypeUnsubscribed, RoomID: room, Removed: true}},
		{"error-subscription", errorFrame{Type: TypeError, Code: CodeInvalidMessage, Action: ActionSubscribe,
			Message: `"subscription" is not accepted: push: endpoint host is not a known push service`, Reason: "endpoint-host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.frame.(rawFrame)
			if !ok {
				got = encode(tt.frame)
			}
			testkit.Golden(t, filepath.Join("testdata", "frames", tt.name+".json"), append(got, '\n'))
		})
	}
}

// rawFrame is a frame already encoded.
type rawFrame []byte
