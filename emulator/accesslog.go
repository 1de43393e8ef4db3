package emulator

import (
	"encoding/json"
	"strconv"
	"time"
)

// accessRecord is one line of the access log, in the JSON format stages commonly use;
// like API Gateway's $context variables, every value is a string and "-" means none.
type accessRecord struct {
	RequestID          string `json:"requestId"`
	ConnectionID       string `json:"connectionId"`
	EventType          string `json:"eventType"`
	RouteKey           string `json:"routeKey"`
	Status             string `json:"status"`
	IntegrationLatency string `json:"integrationLatency"`
	SourceIP           string `json:"sourceIp"`
	RequestTime        string `json:"requestTime"`
}

// accessLog writes one line for a WebSocket event when Config.AccessLog is set. A
// negative latency means no integration ran.
func (g *Gateway) accessLog(c *conn, requestID, eventType, routeKey string, status int, latency time.Duration, at time.Time) {
	if g.cfg.AccessLog == nil {
		return
	}
	rec := accessRecord{
		RequestID:          requestID,
		ConnectionID:       c.id,
		EventType:          eventType,
		RouteKey:           orDash(routeKey),
		Status:             strconv.Itoa(status),
		IntegrationLatency: "-",
		SourceIP:           c.sourceIP,
		RequestTime:        clfTime(at),
	}
	if latency >= 0 {
		rec.IntegrationLatency = strconv.FormatInt(latency.Milliseconds(), 10)
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return
	}
	line = append(line, '\n')
	g.accessMu.Lock()
	defer g.accessMu.Unlock()
	if _, err := g.cfg.AccessLog.Write(line); err != nil {
		g.log.Warn("access log write failed", "err", err)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
