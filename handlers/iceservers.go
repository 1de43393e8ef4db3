package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/slsrtc/slsrtc/turn"
)

// iceServers serves iceservers: the STUN and TURN servers of the stack,
// with TURN credentials for the caller's participant (see
// turn.Config.ICEServers). One read of the connection (its participant),
// none when the stack has no TURN server.
func (h *server) iceServers(ctx context.Context, connectionID string, _ Message) error {
	participant := connectionID
	if h.cfg.ICE.HasTURN() {
		c, err := h.store.Connection(ctx, connectionID)
		if err != nil {
			return err
		}
		participant = c.ParticipantID
	}
	f, err := h.iceServersFrame(participant)
	if err != nil {
		return err
	}
	return h.reply(ctx, connectionID, f)
}

// iceServersFrame builds the ice-servers frame for a participant, now.
func (h *server) iceServersFrame(participantID string) (iceServersFrame, error) {
	servers, ttl, err := h.cfg.ICE.ICEServers(participantID, time.Now())
	if err != nil {
		return iceServersFrame{}, fmt.Errorf("ICE servers: %w", err)
	}
	return iceServersFrame{Type: TypeICEServers, ICEServers: servers, Relay: h.cfg.ICE.HasTURN(),
		TTLSeconds: int64(ttl / time.Second)}, nil
}

// hasICEServers reports whether the stack hands out any STUN or TURN
// server: only then does an enter send the newcomer its ice-servers frame.
func hasICEServers(c turn.Config) bool { return len(c.STUN) > 0 || len(c.TURN) > 0 }
