package emulator

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Event types of requestContext.eventType.
const (
	eventConnect    = "CONNECT"
	eventMessage    = "MESSAGE"
	eventDisconnect = "DISCONNECT"
)

// requestContext returns the fields every WebSocket event carries.
func (g *Gateway) requestContext(c *conn, eventType, routeKey, requestID string, at time.Time) events.APIGatewayWebsocketProxyRequestContext {
	return events.APIGatewayWebsocketProxyRequestContext{
		RouteKey:          routeKey,
		EventType:         eventType,
		ConnectionID:      c.id,
		RequestID:         requestID,
		ExtendedRequestID: requestID,
		APIID:             g.cfg.APIID,
		Stage:             g.cfg.Stage,
		DomainName:        c.domainName,
		ConnectedAt:       c.connectedAt.UnixMilli(),
		RequestTime:       clfTime(at),
		RequestTimeEpoch:  at.UnixMilli(),
		MessageDirection:  "IN",
		Identity: events.APIGatewayRequestIdentity{
			SourceIP:  c.sourceIP,
			UserAgent: c.userAgent,
		},
	}
}

// connectEvent builds the $connect event from the handshake request: its headers as
// API Gateway forwards them, and the query string maps only when there is a query.
func (g *Gateway) connectEvent(c *conn, r *http.Request, requestID string, at time.Time) events.APIGatewayWebsocketProxyRequest {
	ev := events.APIGatewayWebsocketProxyRequest{
		RequestContext: g.requestContext(c, eventConnect, routeConnect, requestID, at),
	}
	ev.MultiValueHeaders = handshakeHeaders(r, c.sourceIP, at)
	ev.Headers = lastValues(ev.MultiValueHeaders)
	if r.URL.RawQuery != "" {
		ev.MultiValueQueryStringParameters = r.URL.Query()
		ev.QueryStringParameters = lastValues(ev.MultiValueQueryStringParameters)
	}
	return ev
}

// messageEvent builds the event of one text frame: messageId and body, no headers.
func (g *Gateway) messageEvent(c *conn, routeKey, requestID string, at time.Time, body []byte) events.APIGatewayWebsocketProxyRequest {
	rc := g.requestContext(c, eventMessage, routeKey, requestID, at)
	rc.MessageID = newID()
	return events.APIGatewayWebsocketProxyRequest{RequestContext: rc, Body: string(body)}
}

// disconnectEvent builds the $disconnect event with the close code and reason. Its
// headers are the four API Gateway sends, not the handshake's.
func (g *Gateway) disconnectEvent(c *conn, requestID string, at time.Time, code int, reason string) events.APIGatewayWebsocketProxyRequest {
	rc := g.requestContext(c, eventDisconnect, routeDisconnect, requestID, at)
	rc.DisconnectStatusCode = int64(code)
	rc.DisconnectReason = &reason
	mv := map[string][]string{
		"Host":            {c.domainName},
		"x-api-key":       {""},
		"X-Forwarded-For": {""},
		"x-restapi":       {""},
	}
	return events.APIGatewayWebsocketProxyRequest{
		RequestContext:    rc,
		Headers:           lastValues(mv),
		MultiValueHeaders: mv,
	}
}

// headerNames restores the spelling API Gateway uses for headers that Go canonicalises
// differently (Go writes "Sec-Websocket-Key").
var headerNames = map[string]string{
	"Sec-Websocket-Key":        "Sec-WebSocket-Key",
	"Sec-Websocket-Version":    "Sec-WebSocket-Version",
	"Sec-Websocket-Extensions": "Sec-WebSocket-Extensions",
	"Sec-Websocket-Protocol":   "Sec-WebSocket-Protocol",
}

// handshakeHeaders returns the handshake's headers as the $connect event carries them:
// the client's headers without the hop-by-hop Connection and Upgrade, plus Host,
// X-Amzn-Trace-Id and X-Forwarded-For/Port/Proto added by the gateway.
func handshakeHeaders(r *http.Request, sourceIP string, at time.Time) map[string][]string {
	h := map[string][]string{}
	for name, values := range r.Header {
		switch name {
		case "Connection", "Upgrade", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Amzn-Trace-Id":
			continue
		}
		if spelled, ok := headerNames[name]; ok {
			name = spelled
		}
		h[name] = append([]string(nil), values...)
	}
	h["Host"] = []string{r.Host}
	h["X-Amzn-Trace-Id"] = []string{newTraceID(at)}
	forwarded := sourceIP
	if prior := r.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		forwarded = strings.Join(prior, ", ") + ", " + sourceIP
	}
	h["X-Forwarded-For"] = []string{forwarded}
	h["X-Forwarded-Port"] = []string{localPort(r)}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	h["X-Forwarded-Proto"] = []string{proto}
	return h
}

// localPort returns the port the request arrived on.
func localPort(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			return port
		}
	}
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		return port
	}
	return "80"
}

// lastValues flattens a multi-value map the way API Gateway fills headers and
// queryStringParameters: the last value wins.
func lastValues(mv map[string][]string) map[string]string {
	m := make(map[string]string, len(mv))
	for k, v := range mv {
		if len(v) > 0 {
			m[k] = v[len(v)-1]
		}
	}
	return m
}

// responseHeader returns a header of an integration response, looking in headers and
// multiValueHeaders without regard to case.
func responseHeader(resp events.APIGatewayProxyResponse, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range resp.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return strings.Join(v, ", ")
		}
	}
	return ""
}

// Messages of the frames API Gateway sends instead of a route's response.
const (
	msgForbidden       = "Forbidden"
	msgInternalError   = "Internal server error"
	msgEndpointTimeout = "Endpoint request timed out"
)

// errorFrame returns the frame API Gateway sends when a message found no route or its
// integration failed, byte for byte: one space after "message":, none elsewhere.
func errorFrame(message, connectionID, requestID string) []byte {
	return []byte(`{"message": "` + message + `", "connectionId":"` + connectionID + `", "requestId":"` + requestID + `"}`)
}
