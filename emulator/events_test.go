package emulator

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Behaviour 2: the CONNECT event carries the handshake headers as API Gateway forwards
// them, and query string maps only when there is a query string.
func TestConnectEvent(t *testing.T) {
	tests := []struct {
		name, query, golden string
	}{
		{"without query", "", "connect_event.json"},
		{"with query", "?name=me&room=a&room=b&flag", "connect_event_query.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startStack(t, nil, nil)
			opts := &websocket.DialOptions{
				HTTPHeader:      http.Header{"Origin": {"https://app.example"}},
				CompressionMode: websocket.CompressionContextTakeover, // sends Sec-WebSocket-Extensions
			}
			c, _, err := s.tryDial(t, s.wsURL("/"+testStage+tt.query), opts)
			if err != nil {
				t.Fatal(err)
			}
			rec := s.rec.waitFor(t, "CONNECT", event(c.id, eventConnect, routeConnect))
			hasQuery := strings.Contains(string(rec.raw), "queryStringParameters")
			if hasQuery != (tt.query != "") {
				t.Errorf("queryStringParameters present = %v, want %v", hasQuery, tt.query != "")
			}
			for _, hop := range []string{"Connection", "Upgrade", "Sec-Websocket-Key"} {
				if _, ok := rec.ev.MultiValueHeaders[hop]; ok {
					t.Errorf("header %s forwarded; API Gateway does not", hop)
				}
			}
			golden(t, tt.golden, normalizeEvent(t, rec.raw, s.host))
		})
	}
}

// Behaviour 10: a MESSAGE event has messageId, body, isBase64Encoded false and no
// headers or query.
func TestMessageEvent(t *testing.T) {
	s := startStack(t, nil, nil)
	c := s.dial(t, nil)
	c.send(t, `{"action":"message","text":"hello"}`)
	rec := s.rec.waitFor(t, "MESSAGE", event(c.id, eventMessage, "message"))
	if rec.ev.Headers != nil || rec.ev.MultiValueHeaders != nil || rec.ev.QueryStringParameters != nil {
		t.Errorf("message event has headers or query: %s", rec.raw)
	}
	if !strings.Contains(string(rec.raw), `"isBase64Encoded":false`) {
		t.Errorf("message event lacks isBase64Encoded false: %s", rec.raw)
	}
	golden(t, "message_event.json", normalizeEvent(t, rec.raw, s.host))
}

// Behaviour 11 (shape): the DISCONNECT event carries the close code and reason and the
// four headers API Gateway sends.
func TestDisconnectEventShape(t *testing.T) {
	s := startStack(t, nil, nil)
	c := s.dial(t, nil)
	if err := c.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	rec := s.rec.waitFor(t, "DISCONNECT", event(c.id, eventDisconnect, routeDisconnect))
	golden(t, "disconnect_event.json", normalizeEvent(t, rec.raw, s.host))
}

// Behaviour 5: IDs in the AWS shape, requestTime in CLF, epoch-ms times, sourceIp
// without port; and each invocation carries a Lambda context and deadline.
func TestEventIdentifiers(t *testing.T) {
	t.Run("id shape", func(t *testing.T) {
		seen := map[string]bool{}
		for range 1000 {
			id := newID()
			b, err := base64.URLEncoding.DecodeString(id)
			if len(id) != 16 || !strings.HasSuffix(id, "=") || err != nil || len(b) != 11 {
				t.Fatalf("newID() = %q, want URL-safe base64 of 11 bytes, 16 characters ending in =", id)
			}
			if seen[id] {
				t.Fatalf("newID() repeated %q", id)
			}
			seen[id] = true
		}
	})
	t.Run("clf", func(t *testing.T) {
		at := time.Date(2024, time.January, 20, 20, 55, 8, 0, time.FixedZone("JST", 9*3600))
		if got, want := clfTime(at), "20/Jan/2024:11:55:08 +0000"; got != want {
			t.Errorf("clfTime = %q, want %q", got, want)
		}
	})
	t.Run("events", func(t *testing.T) {
		s := startStack(t, nil, nil)
		c := s.dial(t, nil)
		c.send(t, `{"action":"message"}`)
		msg := s.rec.waitFor(t, "MESSAGE", event(c.id, eventMessage, "message"))
		c.ws.Close(websocket.StatusNormalClosure, "")
		disc := s.rec.waitFor(t, "DISCONNECT", event(c.id, eventDisconnect, routeDisconnect))
		conn := s.rec.waitFor(t, "CONNECT", event(c.id, eventConnect, routeConnect))

		uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
		requestIDs := map[string]bool{}
		for _, rec := range []recorded{conn, msg, disc} {
			rc := rec.ev.RequestContext
			if !idShape.MatchString(rc.ConnectionID) || !idShape.MatchString(rc.RequestID) {
				t.Errorf("%s: connectionId %q requestId %q, want AWS-shaped IDs", rc.EventType, rc.ConnectionID, rc.RequestID)
			}
			if rc.ExtendedRequestID != rc.RequestID {
				t.Errorf("%s: extendedRequestId %q != requestId %q", rc.EventType, rc.ExtendedRequestID, rc.RequestID)
			}
			requestIDs[rc.RequestID] = true
			if rc.Identity.SourceIP != "127.0.0.1" {
				t.Errorf("%s: sourceIp = %q, want 127.0.0.1 without port", rc.EventType, rc.Identity.SourceIP)
			}
			if rc.Identity.UserAgent != testAgent {
				t.Errorf("%s: userAgent = %q, want %q", rc.EventType, rc.Identity.UserAgent, testAgent)
			}
			if rc.ConnectedAt != conn.ev.RequestContext.ConnectedAt || rc.RequestTimeEpoch < rc.ConnectedAt {
				t.Errorf("%s: connectedAt %d requestTimeEpoch %d, want the connection's time and later", rc.EventType, rc.ConnectedAt, rc.RequestTimeEpoch)
			}
			if got := clfTime(time.UnixMilli(rc.RequestTimeEpoch)); got != rc.RequestTime {
				t.Errorf("%s: requestTime %q does not match requestTimeEpoch (%q)", rc.EventType, rc.RequestTime, got)
			}
			if rc.APIID != testAPIID || rc.Stage != testStage || rc.DomainName != s.host || rc.MessageDirection != "IN" {
				t.Errorf("%s: apiId %q stage %q domainName %q messageDirection %q", rc.EventType, rc.APIID, rc.Stage, rc.DomainName, rc.MessageDirection)
			}
			if rec.lc == nil || !uuid.MatchString(rec.lc.AwsRequestID) {
				t.Errorf("%s: lambda context %+v, want an AwsRequestID UUID", rc.EventType, rec.lc)
			} else if want := "arn:aws:lambda:us-east-1:123456789012:function:" + testFunction; rec.lc.InvokedFunctionArn != want {
				t.Errorf("%s: InvokedFunctionArn = %q, want %q", rc.EventType, rec.lc.InvokedFunctionArn, want)
			}
			if rec.deadline.IsZero() {
				t.Errorf("%s: invocation context has no deadline", rc.EventType)
			}
		}
		if len(requestIDs) != 3 {
			t.Errorf("request IDs not distinct: %v", requestIDs)
		}
		if id, _ := msg.ev.RequestContext.MessageID.(string); !idShape.MatchString(id) || id == msg.ev.RequestContext.RequestID {
			t.Errorf("messageId = %v, want its own AWS-shaped ID", msg.ev.RequestContext.MessageID)
		}
	})
}
