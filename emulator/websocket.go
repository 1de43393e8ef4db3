package emulator

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/slsrtc/slsrtc/internal/wsframe"
)

// serveWebSocket runs one connection: the $connect integration while the handshake
// waits, then the read loop, then $disconnect.
func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if msg := checkUpgrade(r); msg != "" {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, msg, http.StatusUpgradeRequired)
		return
	}
	now := time.Now()
	c := &conn{
		id:          newID(),
		sourceIP:    hostOnly(r.RemoteAddr),
		userAgent:   r.UserAgent(),
		domainName:  r.Host,
		connectedAt: now,
		lastActive:  now,
		ready:       make(chan struct{}),
		out:         newOutbox(g.cfg.SendBuffer),
	}
	if !g.register(c) {
		http.Error(w, "Going away", http.StatusServiceUnavailable)
		return
	}

	var subprotocol string
	if g.routes[routeConnect] {
		requestID := newID()
		in := g.integrate(g.connectEvent(c, r, requestID, now))
		status := in.status()
		if in.failure == "" && !in.malformed && in.resp.StatusCode == 0 || status < 200 || status > 599 {
			status = http.StatusBadGateway // no statusCode, or not one HTTP can answer
		}
		accepted := status >= 200 && status < 300
		g.accessLog(c, requestID, eventConnect, routeConnect, status, in.latency, now)
		if !accepted {
			g.log.Info("$connect refused the connection", "connectionId", c.id, "status", status)
			g.forget(c)
			c.finish()
			g.inflight.done()
			w.WriteHeader(status)
			return
		}
		subprotocol = responseHeader(in.resp, "Sec-WebSocket-Protocol")
	} else {
		g.accessLog(c, newID(), eventConnect, routeConnect, http.StatusOK, -1, now)
	}

	c.mu.Lock()
	c.state = stateAccepting
	c.mu.Unlock()
	if subprotocol != "" {
		// Echo what $connect returned; Accept keeps a header it did not negotiate.
		w.Header().Set("Sec-WebSocket-Protocol", subprotocol)
	}
	tooBig := func() { c.closeWith(websocket.StatusMessageTooBig, frameTooBigReason) }
	ws, err := websocket.Accept(guardFrames(w, tooBig), r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		g.log.Warn("websocket handshake failed after $connect", "connectionId", c.id, "err", err)
		g.disconnect(c, websocket.StatusAbnormalClosure, "")
		return
	}
	ws.SetReadLimit(maxMessageBytes)
	idle := g.afterFunc(g.cfg.IdleTimeout, func() { c.closeWith(websocket.StatusGoingAway, "Going away") })
	maxDuration := g.afterFunc(g.cfg.MaxDuration, func() { c.closeWith(websocket.StatusGoingAway, "Going away") })
	g.inflight.add()
	go func() {
		defer g.inflight.done()
		c.out.run(func(ctx context.Context, data []byte) error { return wsframe.Write(ctx, ws, data) })
	}()
	c.opened(ws, idle, maxDuration)
	g.readLoop(c, ws, idle)
}

// checkUpgrade returns why r is not a WebSocket handshake, or "".
func checkUpgrade(r *http.Request) string {
	switch {
	case r.Method != http.MethodGet:
		return "WebSocket handshake must be a GET"
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return "Connection header must contain Upgrade"
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return "Upgrade header must be websocket"
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		return "Sec-WebSocket-Version must be 13"
	case r.Header.Get("Sec-WebSocket-Key") == "":
		return "Sec-WebSocket-Key is missing"
	}
	return ""
}

// headerHasToken reports whether a comma-separated header contains token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// hostOnly strips the port from a host:port address.
func hostOnly(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// readLoop reads frames until the connection ends, starting one invocation per text
// message, then runs $disconnect. Every way a connection ends passes here, so
// $disconnect runs exactly once.
func (g *Gateway) readLoop(c *conn, ws *websocket.Conn, idle timer) {
	var err error
	for {
		var typ websocket.MessageType
		var rd io.Reader
		typ, rd, err = ws.Reader(context.Background())
		if err != nil {
			break
		}
		if typ == websocket.MessageBinary {
			c.closeWith(websocket.StatusUnsupportedData, "Binary frames are not supported")
			break
		}
		var body []byte
		body, err = io.ReadAll(rd) // the read limit closes with 1009 past 128 KB
		if err != nil {
			break
		}
		if _, _, closing := c.snapshot(); closing {
			continue // the gateway is closing this connection: late frames are dropped
		}
		at := time.Now()
		c.touch(at)
		idle.Reset(g.cfg.IdleTimeout)
		g.inflight.add()
		g.busy.add()
		go func() {
			defer g.inflight.done()
			defer g.busy.done()
			g.handleMessage(c, body, at)
		}()
	}

	if errors.Is(err, websocket.ErrMessageTooBig) {
		// The read limit has sent the 1009 close frame; finish the handshake politely.
		c.closeWith(websocket.StatusMessageTooBig, "Message too big")
	}
	code, reason := websocket.StatusAbnormalClosure, "" // no close frame: the client vanished
	if ce := (websocket.CloseError{}); errors.As(err, &ce) {
		code, reason = ce.Code, ce.Reason
	}
	g.disconnect(c, code, reason)
}

// disconnect ends a connection: it leaves the table, and $disconnect runs with the
// code and reason the gateway chose or, when the client ended it, the client's
// (unless chaos drops or delays it).
func (g *Gateway) disconnect(c *conn, code websocket.StatusCode, reason string) {
	g.busy.add() // before forget: once Connections drops, WaitQuiet waits for this
	defer g.busy.done()
	g.forget(c)
	if chosen, why := c.finish(); chosen != 0 {
		code, reason = chosen, why
	} else if _, ws, _ := c.snapshot(); ws != nil {
		_ = ws.CloseNow() // the client closed or vanished: release the socket
	}
	defer g.inflight.done()
	if !g.routes[routeDisconnect] || !g.chaos.disconnect(g, c) {
		return
	}
	requestID := newID()
	at := time.Now()
	in := g.integrate(g.disconnectEvent(c, requestID, at, int(code), reason))
	g.accessLog(c, requestID, eventDisconnect, routeDisconnect, in.status(), in.latency, at)
}

// handleMessage selects the route of one message, invokes it and answers the client
// the way API Gateway does.
func (g *Gateway) handleMessage(c *conn, body []byte, at time.Time) {
	requestID := newID()
	route := g.selector.selectRoute(body)
	if route == "" {
		g.accessLog(c, requestID, eventMessage, "", http.StatusForbidden, -1, at)
		g.send(c, errorFrame(msgForbidden, c.id, requestID))
		return
	}
	in := g.integrate(g.messageEvent(c, route, requestID, at, body))
	g.accessLog(c, requestID, eventMessage, route, in.status(), in.latency, at)
	twoWay := g.cfg.RouteResponses[route]
	switch {
	case in.failure != "":
		g.send(c, errorFrame(in.failure, c.id, requestID))
	case in.malformed && twoWay:
		g.send(c, errorFrame(msgInternalError, c.id, requestID))
	case twoWay && in.resp.Body != "":
		g.send(c, []byte(in.resp.Body))
	case in.resp.Body != "":
		g.log.Debug("response body dropped: the route has no route response", "route", route, "connectionId", c.id)
	}
}

// send queues one message for a client, after those already queued; a full buffer
// drops it, as nothing could answer 429 to the gateway itself.
func (g *Gateway) send(c *conn, data []byte) {
	if err := c.out.push(data); err != nil {
		g.log.Warn("message to client dropped", "connectionId", c.id, "bytes", len(data), "err", err)
	}
}
