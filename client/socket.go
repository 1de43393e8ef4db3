package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
	"github.com/slsrtc/slsrtc/internal/wsframe"
)

// Protocol limits and timings.
const (
	// readLimit bounds one server message: the protocol's 128 KB, with
	// room for the envelope.
	readLimit = 256 << 10
	// writeTimeout bounds one write to the socket; a stuck socket is
	// closed and the client reconnects.
	writeTimeout = 10 * time.Second
	// dialTimeout bounds a handshake and its connected frame (which the
	// stack gives up posting after a few seconds of throttling).
	dialTimeout = 15 * time.Second
)

// frame is any server frame; only the fields of its type are set.
type frame struct {
	Type string `json:"type"`
	Body string `json:"body"`
	From string `json:"from"`

	// connected
	ParticipantID string `json:"participantID"`
	ResumeToken   string `json:"resumeToken"`
	ExpiresAt     int64  `json:"expiresAt"`
	IdleTimeoutMs int64  `json:"idleTimeoutMs"`

	// presence, resumed
	RoomID               string   `json:"roomID"`
	ConnectionID         string   `json:"connectionID"`
	PreviousConnectionID string   `json:"previousConnectionID"`
	UserName             string   `json:"userName"`
	Reason               string   `json:"reason"`
	Seq                  int64    `json:"seq"`
	Members              []member `json:"members"`

	// error
	Code         string `json:"code"`
	Message      string `json:"message"`
	Action       string `json:"action"`
	RetryAfterMs int64  `json:"retryAfterMs"`
	Dest         string `json:"dest"`
	Count        int    `json:"count"`

	// ice-servers
	ICEServers []webrtc.ICEServer `json:"iceServers"`
	Relay      bool               `json:"relay"`
	TTLSeconds int64              `json:"ttlSeconds"`
}

type member struct {
	ConnectionID  string `json:"connectionID"`
	ParticipantID string `json:"participantID"`
	UserName      string `json:"userName"`
}

// socket is one WebSocket connection to the stack and the connected frame
// it began with.
type socket struct {
	ws        *websocket.Conn
	connected *frame
	at        time.Time // when connected arrived
}

// write sends one text message.
func (s *socket) write(ctx context.Context, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	// API Gateway closes a connection that sends a frame over 32 KB; a
	// message up to 128 KB goes in frames of 32 KB.
	return wsframe.Write(ctx, s.ws, data)
}

// dial opens a WebSocket to the stack and waits for its connected frame. A
// handshake refused with a status of handshakeCodes returns an *Error.
func dial(ctx context.Context, rawURL string, opts *Options) (*socket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("client: parse %q: %w", rawURL, err)
	}
	if opts.Token != "" {
		q := u.Query()
		q.Set("token", opts.Token)
		u.RawQuery = q.Encode()
	}
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: opts.HTTPClient, HTTPHeader: opts.HTTPHeader})
	if err != nil {
		if resp != nil {
			if code, ok := handshakeCodes[resp.StatusCode]; ok {
				return nil, &Error{Code: code, Message: fmt.Sprintf("the handshake was refused with HTTP %d", resp.StatusCode)}
			}
		}
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	ws.SetReadLimit(readLimit)
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			ws.CloseNow()
			return nil, fmt.Errorf("client: waiting for connected: %w", err)
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			continue
		}
		if f.Type == "connected" {
			if f.ParticipantID == "" {
				ws.CloseNow()
				return nil, errors.New("client: the stack sent no participant ID (it predates resume)")
			}
			return &socket{ws: ws, connected: &f, at: time.Now()}, nil
		}
	}
}
