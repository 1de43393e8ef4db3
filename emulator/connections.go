package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/coder/websocket"
)

// serveConnection answers the @connections management API for one connection:
// POST sends a frame, GET describes the connection, DELETE closes it. A connection
// that does not exist, has closed, or whose $connect has not returned yet is Gone.
func (g *Gateway) serveConnection(w http.ResponseWriter, r *http.Request, id string) {
	switch r.Method {
	case http.MethodPost:
		g.postToConnection(w, r, id)
	case http.MethodGet:
		g.getConnection(w, r, id)
	case http.MethodDelete:
		g.deleteConnection(w, r, id)
	default:
		writeAWSError(w, codeForbidden, "Forbidden")
	}
}

// openConn returns the open connection with that ID and its WebSocket, waiting for a
// handshake whose $connect has already succeeded. It answers 410 and returns nil
// otherwise.
func (g *Gateway) openConn(w http.ResponseWriter, r *http.Request, id string) (*conn, *websocket.Conn) {
	c := g.lookup(id)
	if c == nil {
		writeAWSError(w, codeGone, "connection "+id+" is gone")
		return nil, nil
	}
	if state, _, _ := c.snapshot(); state == stateConnecting {
		writeAWSError(w, codeGone, "connection "+id+" is not connected yet: its $connect has not returned")
		return nil, nil
	}
	select {
	case <-c.ready:
	case <-r.Context().Done():
		return nil, nil
	}
	state, ws, closing := c.snapshot()
	if state != stateOpen || closing {
		writeAWSError(w, codeGone, "connection "+id+" is gone")
		return nil, nil
	}
	return c, ws
}

// postToConnection queues the request body for the client as one text message,
// after those already queued (see outbox): 200 once queued, 429
// LimitExceededException when the client's buffer is full, 410 when it is gone.
func (g *Gateway) postToConnection(w http.ResponseWriter, r *http.Request, id string) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxMessageBytes+1))
	if err != nil {
		writeAWSError(w, codeBadRequest, "could not read the request body")
		return
	}
	if len(data) > maxMessageBytes {
		writeAWSError(w, codePayloadTooLarge, "Request payload size exceeds 131072 bytes")
		return
	}
	c, _ := g.openConn(w, r, id)
	if c == nil {
		return
	}
	switch err := c.out.push(data); {
	case errors.Is(err, errOutboxFull):
		g.log.Info("PostToConnection: the client side buffer is full", "connectionId", id, "bytes", len(data))
		writeAWSError(w, codeLimitExceeded, "The WebSocket client side buffer of connection "+id+" is full")
	case err != nil:
		writeAWSError(w, codeGone, "connection "+id+" is gone")
	default:
		w.WriteHeader(http.StatusOK) // queued: written in order unless the connection dies
	}
}

// connectionInfo is the body of GetConnection.
type connectionInfo struct {
	ConnectedAt  string             `json:"connectedAt"`
	Identity     connectionIdentity `json:"identity"`
	LastActiveAt string             `json:"lastActiveAt"`
}

type connectionIdentity struct {
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// getConnection describes the connection.
func (g *Gateway) getConnection(w http.ResponseWriter, r *http.Request, id string) {
	c, _ := g.openConn(w, r, id)
	if c == nil {
		return
	}
	body, _ := json.Marshal(connectionInfo{
		ConnectedAt:  isoTime(c.connectedAt),
		Identity:     connectionIdentity{SourceIP: c.sourceIP, UserAgent: c.userAgent},
		LastActiveAt: isoTime(c.lastActiveAt()),
	})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// deleteConnection closes the connection; its $disconnect follows.
func (g *Gateway) deleteConnection(w http.ResponseWriter, r *http.Request, id string) {
	c, _ := g.openConn(w, r, id)
	if c == nil {
		return
	}
	// What API Gateway reports for a DeleteConnection in the $disconnect event.
	c.closeWith(websocket.StatusNormalClosure, "Connection Closed Normally")
	g.forget(c)
	w.WriteHeader(http.StatusNoContent)
}
