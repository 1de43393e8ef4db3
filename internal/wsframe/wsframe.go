// Package wsframe writes WebSocket messages the way API Gateway's WebSocket
// APIs take and send them: in frames of at most 32 KB. The emulated gateway
// sends its clients' messages with it, and the Go client its own.
package wsframe

import (
	"context"

	"github.com/coder/websocket"
)

// MaxBytes is API Gateway's WebSocket frame quota: 32 KB of payload. A
// client frame over it closes the connection with 1009 ("Frame too big"); a
// message of up to 128 KB goes in frames of at most this size.
const MaxBytes = 32 * 1024

// Write writes one text message: one frame if it fits in MaxBytes, else
// frames of MaxBytes and an empty final one (each Write of the message's
// writer is one frame, ws having negotiated no compression).
func Write(ctx context.Context, ws *websocket.Conn, data []byte) error {
	if len(data) <= MaxBytes {
		return ws.Write(ctx, websocket.MessageText, data)
	}
	w, err := ws.Writer(ctx, websocket.MessageText)
	if err != nil {
		return err
	}
	for len(data) > 0 {
		n := min(len(data), MaxBytes)
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return w.Close()
}
