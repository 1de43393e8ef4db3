// Package client is a Go client of slsrtc, for programs, bots and devices
// that take part in a call: it joins a room over the signaling WebSocket
// and keeps a pion/webrtc PeerConnection, with a data channel, with every
// other participant.
//
//	room, err := client.Join(ctx, "wss://abc.execute-api.eu-west-1.amazonaws.com/prod", client.Options{UserName: "bot"})
//	...
//	for ev := range room.Events() {
//		switch ev := ev.(type) {
//		case *client.PeerJoined:
//			go room.SendText(ctx, ev.Peer.ID(), "hello")
//		case *client.Message:
//			fmt.Printf("%s: %s\n", ev.Peer.UserName(), ev.Data)
//		}
//	}
//
// # Events
//
// Everything that happens in the room arrives on one channel,
// Room.Events, in order: PeerJoined, PeerLeft, PeerResumed,
// DataChannelOpened, Message, ErrorEvent, Reconnecting and Resumed. The
// client never blocks on a slow reader (events queue), and the channel is
// closed when the room ends.
//
// # What the client does for you
//
// It follows docs/protocol.md, and behaves as the browser module
// (slsrtc.js) does, so that Go and browser participants meet in one room:
//
//   - Peers are keyed by participant ID, and signals are addressed to it
//     (the stack routes them to the participant's current connection).
//   - Negotiation is the W3C's "perfect negotiation": either side may offer
//     at any time; the polite side of a pair is the one whose participant
//     ID is larger (Go string order), as in slsrtc.js. Signals are not
//     ordered (each relay is its own invocation), so descriptions older
//     than the last one applied are dropped, and an offer that overtook
//     the answer to ours is applied once that answer comes. Candidates
//     trickle and wait for their description. ICE restarts when it fails.
//     Every pair has a negotiated data channel labeled DefaultChannelLabel
//     with ID 0.
//   - Messages go out in frames of at most 32 KB (API Gateway closes a
//     connection that sends a larger frame) and up to 128 KB, its message
//     limit; a description of many tracks can be larger than one frame.
//   - ICE servers (with TURN credentials) come from the stack
//     ({"action":"iceservers"}), unless Options.ICEServers sets them, and
//     are refreshed before their TTL passes.
//   - Presence frames older than what was applied about a participant (by
//     their seq) are dropped.
//   - The signaling connection survives: when it drops, the client dials
//     again with backoff and jitter and resumes its seat with the resume
//     token, so the room sees PeerResumed instead of a leave; if the grace
//     window has passed (session-expired), it enters the room again as a
//     new participant (Resumed.Rejoined). It resumes on a new connection
//     ahead of API Gateway's 2-hour cut (expiresAt), and pings within the
//     idle timeout.
//
// Leave sends leaveroom and closes the socket with a normal closure, which
// the room is told of at once; any other end of the socket holds the seat
// for a resume.
package client
