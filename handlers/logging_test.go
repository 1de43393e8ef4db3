package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// jsonLines decodes every line of b as a JSON object.
func jsonLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("not a JSON line: %s", l)
		}
		out = append(out, m)
	}
	return out
}

// invocations returns the "invocation" lines among lines.
func invocations(lines []map[string]any) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["msg"] == "invocation" {
			out = append(out, l)
		}
	}
	return out
}

// TestLogsKeepNoContent: what clients send — SDP in a relay, user names,
// whatever they put where an action belongs — never reaches the log or the
// metrics at INFO or above; the log has sizes instead. SDP can hold the
// peers' IP addresses.
func TestLogsKeepNoContent(t *testing.T) {
	const (
		addr   = "198.51.100.77"       // in the SDP
		sessID = "4611731400430051336" // in the SDP
		name   = "Zebulon Quartermaine"
	)
	sdp := fmt.Sprintf("v=0\r\no=- %s 2 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\na=candidate:1 1 udp 2122260223 %s 54321 typ host", sessID, addr, addr, addr)
	sdpJSON, _ := json.Marshal(map[string]string{"type": "offer", "sdp": sdp})
	msg := func(dest, payload string) string {
		b, _ := json.Marshal(map[string]string{"action": "message", "dest": dest, "type": "offer", "message": payload})
		return string(b)
	}

	h := newHarness(t)
	for _, id := range []string{"A", "B", "C"} {
		h.connect(id)
	}
	room := h.createRoom("A", 0)
	h.enter("A", room, name)
	h.enter("B", room, "")
	sends := []struct {
		from, body string
		status     int
	}{
		{"A", msg("B", string(sdpJSON)), 200},                                                   // relayed
		{"A", msg("C", string(sdpJSON)), 403},                                                   // C is not in the room
		{"C", msg("A", string(sdpJSON)), 409},                                                   // C is in no room
		{"A", msg("B", strings.Repeat(string(sdpJSON), 1+128*1024/len(sdpJSON))), 413},          // too large
		{"A", `{"action":` + string(mustJSON(sdp)) + `}`, 400},                                  // SDP as the action
		{"A", `{"action":"message","dest":"B","type":"offer","message":` + sdp + `}`, 400},      // not JSON
		{"C", fmt.Sprintf(`{"action":"enterroom","roomID":%q,"userName":%q}`, room, name), 409}, // name taken
	}
	for _, s := range sends {
		if resp := h.send(s.from, s.body); resp.StatusCode != s.status {
			t.Errorf("%.60s: status %d, want %d", s.body, resp.StatusCode, s.status)
		}
	}
	if got := h.sender.Take("B"); len(got) != 1 || !strings.Contains(got[0], addr) {
		t.Fatalf("B did not get the offer: %q", got)
	}

	for _, secret := range []string{addr, sessID, name, "candidate"} {
		for _, l := range jsonLines(t, h.logs.Bytes()) {
			if l["level"] != "DEBUG" {
				if b, _ := json.Marshal(l); strings.Contains(string(b), secret) {
					t.Errorf("%q is in a %v log line: %s", secret, l["level"], b)
				}
			}
		}
		if strings.Contains(h.metrics.String(), secret) {
			t.Errorf("%q is in the metrics", secret)
		}
	}
	// Sizes instead: every message invocation says how large the body was.
	for _, l := range invocations(jsonLines(t, h.logs.Bytes())) {
		if l["eventType"] == "MESSAGE" {
			if n, _ := l["bodyBytes"].(float64); n <= 0 {
				t.Errorf("message invocation without bodyBytes: %v", l)
			}
		}
		if l["code"] == "unknown-action" && l["actionBytes"] == nil {
			t.Errorf("unknown action without its size: %v", l)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestInternalErrorLogLine: an internal failure is one ERROR line with code
// internal, the whole error and its cause chain down to the root cause, and
// an InternalErrors metric the alarm sees (without dimensions) and per route.
func TestInternalErrorLogLine(t *testing.T) {
	h := newHarness(t)
	h.invoker.Err = fmt.Errorf("invoke: %w", errBoom)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-9"})
	payload := mustJSON(h.event("$connect", "CONNECT", "A", ""))
	out, err := h.router.Invoke(ctx, payload)
	if err != nil || !strings.Contains(string(out), `"statusCode":500`) {
		t.Fatalf("Invoke = %s, %v; want a 500", out, err)
	}
	lines := invocations(jsonLines(t, h.logs.Bytes()))
	if len(lines) != 1 {
		t.Fatalf("%d invocation lines", len(lines))
	}
	l := lines[0]
	want := map[string]any{
		"level": "ERROR", "outcome": "error", "code": "internal", "connectionId": "A", "routeKey": "$connect",
		"eventType": "CONNECT", "lambdaRequestId": "lambda-req-9", "requestId": "req0001",
		"error": "queue connected event: invoke: boom",
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %v, want %v", k, l[k], v)
		}
	}
	chain, _ := json.Marshal(l["errorChain"])
	if string(chain) != `["queue connected event: invoke: boom","invoke: boom","boom"]` {
		t.Errorf("errorChain = %s", chain)
	}
	metrics := jsonLines(t, h.metrics.Bytes())
	if len(metrics) != 1 || metrics[0]["InternalErrors"] != 1.0 || metrics[0]["routeKey"] != "$connect" || metrics[0]["level"] != "INFO" {
		t.Errorf("metrics %v", metrics)
	}
	dims, _ := json.Marshal(metrics[0]["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"])
	if string(dims) != `[["routeKey"],[]]` {
		t.Errorf("InternalErrors dimensions %s", dims)
	}
}

// TestInvocationLine: every invocation's line has what the issue lists —
// level, an RFC 3339 time, msg, both request IDs, the connection, route,
// event type, outcome, duration, DynamoDB calls and fan-out — plus the
// action and room where there are ones; the first line of the process says
// coldStart.
func TestInvocationLine(t *testing.T) {
	h := newHarness(t)
	h.connect("A")
	h.connect("B")
	room := h.createRoom("A", 0)
	h.enter("A", room, "")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-7"})
	h.logs.Reset()
	h.metrics.Reset()
	ev := h.event("enterroom", "MESSAGE", "B", fmt.Sprintf(`{"action":"enterroom","roomID":%q}`, room))
	out, err := h.router.Invoke(ctx, mustJSON(ev))
	if err != nil || !strings.Contains(string(out), `"statusCode":200`) {
		t.Fatalf("Invoke = %s, %v", out, err)
	}
	lines := invocations(jsonLines(t, h.logs.Bytes()))
	if len(lines) != 1 {
		t.Fatalf("%d invocation lines:\n%s", len(lines), h.logs.String())
	}
	l := lines[0]
	if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(l["time"])); err != nil {
		t.Errorf("time %v is not RFC 3339: %v", l["time"], err)
	}
	want := map[string]any{
		"level": "INFO", "msg": "invocation", "lambdaRequestId": "lambda-req-7", "requestId": ev.RequestContext.RequestID,
		"connectionId": "B", "routeKey": "enterroom", "eventType": "MESSAGE", "action": "enterroom",
		"roomID": room, "outcome": "ok", "fanOut": 2.0, "gone": 0.0,
	}
	for k, v := range want {
		if !reflect.DeepEqual(l[k], v) {
			t.Errorf("%s = %v, want %v", k, l[k], v)
		}
	}
	for _, k := range []string{"durationMs", "dynamodbCalls", "dynamodbMs", "fanOutMs", "bodyBytes"} {
		if _, ok := l[k].(float64); !ok {
			t.Errorf("%s = %v, want a number", k, l[k])
		}
	}
	// (The harness's DynamoDB client has no telemetry middleware, so
	// dynamodbCalls is 0 here; telemetry's TestMiddleware counts calls.)
	if _, ok := l["coldStart"]; ok {
		t.Errorf("a later invocation says coldStart: %v", l)
	}
}

// TestColdStart: only the first invocation of a router says coldStart.
func TestColdStart(t *testing.T) {
	h := newHarness(t)
	h.invoke(h.event("ping", "MESSAGE", "A", `{"action":"ping"}`))
	h.invoke(h.event("ping", "MESSAGE", "A", `{"action":"ping"}`))
	lines := invocations(jsonLines(t, h.logs.Bytes()))
	if len(lines) != 2 || lines[0]["coldStart"] != true || lines[1]["coldStart"] != nil {
		t.Errorf("coldStart: %v, %v", lines[0]["coldStart"], lines[1]["coldStart"])
	}
}

// TestInternalEventLine: the internal "connected" invocation writes the same
// kind of line and metrics as an API Gateway one, its metrics under the
// routeKey "internal:connected".
func TestInternalEventLine(t *testing.T) {
	h := newHarness(t)
	h.connect("A")
	lines := invocations(jsonLines(t, h.logs.Bytes()))
	if len(lines) != 2 {
		t.Fatalf("%d invocation lines:\n%s", len(lines), h.logs.String())
	}
	l := lines[1]
	want := map[string]any{"level": "INFO", "eventType": "INTERNAL", "internalEvent": "connected", "connectionId": "A",
		"requestId": "req0001", "outcome": "ok", "connectionsCalls": nil, "dynamodbCalls": 0.0, "fanOut": 0.0}
	for k, v := range want {
		if !reflect.DeepEqual(l[k], v) {
			t.Errorf("%s = %v, want %v", k, l[k], v)
		}
	}
	metrics := jsonLines(t, h.metrics.Bytes())
	if len(metrics) != 2 || metrics[1]["routeKey"] != "internal:connected" || metrics[1]["Invocations"] != 1.0 {
		t.Errorf("metrics %v", metrics)
	}

	// A client gone before "connected" could be posted: outcome gone, not an error.
	h.sender.SetGone("B")
	ev := mustJSON(map[string]any{"slsrtcInternal": map[string]string{"kind": "connected", "connectionId": "B"}})
	if _, err := h.router.Invoke(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	lines = invocations(jsonLines(t, h.logs.Bytes()))
	if l := lines[len(lines)-1]; l["outcome"] != "gone" || l["level"] != "INFO" || l["code"] != nil {
		t.Errorf("gone line %v", l)
	}
}

// TestRejectionLine: a rejection is INFO with the code and the reason, but
// the reason of an unknown action does not quote the client's action.
func TestRejectionLine(t *testing.T) {
	h := newHarness(t)
	h.connect("A")
	h.send("A", `{"action":"createroom","capacity":0}`)
	h.send("A", `{"action":"hello there"}`)
	lines := invocations(jsonLines(t, h.logs.Bytes()))
	got := [][3]any{}
	for _, l := range lines[2:] {
		got = append(got, [3]any{l["outcome"], l["code"], l["reason"]})
	}
	want := [][3]any{
		{"rejected", "invalid-message", `"capacity" must be at least 1`},
		{"rejected", "unknown-action", "unknown action"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rejections %q, want %q", got, want)
	}
	if strings.Contains(h.logs.String(), "hello there") {
		t.Error("the unknown action is in the log")
	}
	if frames := h.sender.Take("A"); len(frames) != 2 || !strings.Contains(frames[1], `"action":"hello there"`) {
		t.Errorf("the client's error frame lost its action: %q", frames)
	}
}

// TestUnrecognisedPayloadLine: a payload that is no event is an ERROR line
// (and a Lambda error) with its size, never its content.
func TestUnrecognisedPayloadLine(t *testing.T) {
	h := newHarness(t)
	if _, err := h.router.Invoke(context.Background(), []byte("not json 192.0.2.1")); err == nil {
		t.Fatal("no error")
	}
	lines := invocations(jsonLines(t, h.logs.Bytes()))
	if len(lines) != 1 || lines[0]["level"] != "ERROR" || lines[0]["code"] != "internal" || lines[0]["payloadBytes"] != 18.0 {
		t.Errorf("lines %v", lines)
	}
	if strings.Contains(h.logs.String(), "192.0.2.1") {
		t.Error("payload content in the log")
	}
	if m := jsonLines(t, h.metrics.Bytes()); len(m) != 1 || m[0]["InternalErrors"] != 1.0 {
		t.Errorf("metrics %v", m)
	}
}
