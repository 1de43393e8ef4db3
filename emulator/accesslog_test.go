package emulator

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/test/testkit"
)

// AccessLog receives one JSON line per WebSocket event, like a stage access log.
func TestAccessLog(t *testing.T) {
	var log testkit.LogBuffer
	s := startStack(t, nil, func(cfg *Config) {
		cfg.AccessLog = &log
		cfg.Routes = []string{"$connect", "$disconnect", "echo"} // no $default: Forbidden
	})
	c := s.dial(t, nil)
	c.assertOpen(t)
	c.send(t, `{"action":"nope"}`)
	forbiddenID := frameIDs(t, c.next(t), c.id)
	c.ws.CloseNow()
	s.rec.waitFor(t, "DISCONNECT", event(c.id, eventDisconnect, routeDisconnect))
	if err := s.gw.Shutdown(ctx(t)); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{ // requestId → eventType routeKey status
		s.rec.waitFor(t, "CONNECT", event(c.id, eventConnect, "")).ev.RequestContext.RequestID: "CONNECT $connect 200",
		s.rec.waitFor(t, "MESSAGE", event(c.id, eventMessage, "")).ev.RequestContext.RequestID: "MESSAGE echo 200",
		forbiddenID: "MESSAGE - 403",
		s.rec.waitFor(t, "DISCONNECT", event(c.id, eventDisconnect, "")).ev.RequestContext.RequestID: "DISCONNECT $disconnect 200",
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("access log has %d lines, want %d:\n%s", len(lines), len(want), log.String())
	}
	for _, line := range lines {
		var rec map[string]string
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q is not a JSON object of strings: %v", line, err)
		}
		if len(rec) != 8 || rec["connectionId"] != c.id || rec["sourceIp"] != "127.0.0.1" || rec["integrationLatency"] == "" || rec["requestTime"] == "" {
			t.Errorf("line %q lacks a field", line)
		}
		if got := rec["eventType"] + " " + rec["routeKey"] + " " + rec["status"]; got != want[rec["requestId"]] {
			t.Errorf("line %q: %q, want %q", line, got, want[rec["requestId"]])
		}
		if rec["routeKey"] == "-" && rec["integrationLatency"] != "-" {
			t.Errorf("line %q: integrationLatency of a request without integration, want -", line)
		}
	}
}
