package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/telemetry"
)

// logLines decodes JSON log lines, keeping the order of each line's keys.
func logLines(t *testing.T, b []byte) (lines []map[string]any, keys [][]string) {
	t.Helper()
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %s: %v", l, err)
		}
		dec := json.NewDecoder(bytes.NewReader(l))
		var order []string
		_, _ = dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			order = append(order, k.(string))
			var skip json.RawMessage
			_ = dec.Decode(&skip)
		}
		lines, keys = append(lines, m), append(keys, order)
	}
	return lines, keys
}

// TestHandler: every line logged with a record's context carries the
// invocation's identity after time, level and msg and before its own
// attributes; a key the line sets itself is not repeated; lines without a
// record pass unchanged.
func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(telemetry.NewHandler(slog.NewJSONHandler(&buf, nil)))
	rec := &telemetry.Record{}
	rec.SetIdentity(telemetry.Identity{LambdaRequestID: "l-1", RequestID: "r-1", ConnectionID: "A=", RouteKey: "message", EventType: "MESSAGE"})
	rec.SetAction("message")
	rec.SetRoom("room-1")
	ctx := telemetry.NewContext(context.Background(), rec)

	log.WarnContext(ctx, "fan-out post failed", slog.String("to", "B="))
	log.InfoContext(ctx, "own room", slog.String("roomID", "room-2"))
	log.InfoContext(context.Background(), "no record", slog.Int("n", 1))
	log.With(slog.String("component", "x")).InfoContext(ctx, "with")

	lines, keys := logLines(t, buf.Bytes())
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	want := []string{"time", "level", "msg", "lambdaRequestId", "requestId", "connectionId", "routeKey", "eventType", "action", "roomID", "to"}
	if !reflect.DeepEqual(keys[0], want) {
		t.Errorf("keys %q, want %q", keys[0], want)
	}
	if lines[0]["connectionId"] != "A=" || lines[0]["roomID"] != "room-1" || lines[0]["lambdaRequestId"] != "l-1" {
		t.Errorf("identity: %v", lines[0])
	}
	if n := strings.Count(buf.String(), `"roomID"`); n != 3 || lines[1]["roomID"] != "room-2" {
		t.Errorf("roomID written %d times, line 2 has %v; want the line's own value once per line", n, lines[1]["roomID"])
	}
	if !reflect.DeepEqual(keys[2], []string{"time", "level", "msg", "n"}) {
		t.Errorf("line without a record: keys %q", keys[2])
	}
	if lines[3]["component"] != "x" || lines[3]["connectionId"] != "A=" {
		t.Errorf("With: %v", lines[3])
	}
}

// TestActionIsContent: an action that is not a short name is client
// content; the log keeps its size only, while Action still returns it (the
// error frame echoes it to its sender).
func TestActionIsContent(t *testing.T) {
	sdp := "v=0\r\no=- 4611731400430051336 2 IN IP4 192.0.2.55\r\ns=-"
	tests := []struct {
		action string
		want   string // "action" in the log, "" for none
		bytes  int    // "actionBytes" in the log, 0 for none
	}{
		{"enterroom", "enterroom", 0},
		{"join-room_2.v1", "join-room_2.v1", 0},
		{sdp, "", len(sdp)},
		{strings.Repeat("a", 33), "", 33},
		{`{"x":1}`, "", 7},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		log := slog.New(telemetry.NewHandler(slog.NewJSONHandler(&buf, nil)))
		rec := &telemetry.Record{}
		rec.SetAction(tt.action)
		log.InfoContext(telemetry.NewContext(context.Background(), rec), "invocation")
		lines, _ := logLines(t, buf.Bytes())
		got, _ := lines[0]["action"].(string)
		gotBytes, _ := lines[0]["actionBytes"].(float64)
		if got != tt.want || int(gotBytes) != tt.bytes {
			t.Errorf("action %q logged as action=%q actionBytes=%v, want %q and %d", tt.action, got, gotBytes, tt.want, tt.bytes)
		}
		if rec.Action() != tt.action {
			t.Errorf("Action() = %q", rec.Action())
		}
	}
}

// TestAttrs: the measurements every invocation line has, and those only
// some have.
func TestAttrs(t *testing.T) {
	keys := func(r *telemetry.Record) string {
		var k []string
		for _, a := range r.Attrs() {
			k = append(k, a.Key)
		}
		return strings.Join(k, ",")
	}
	r := &telemetry.Record{}
	if got := keys(r); got != "dynamodbCalls,dynamodbMs,fanOut,gone" {
		t.Errorf("empty record: %s", got)
	}
	r.SetBodyBytes(42)
	r.ObserveCall(telemetry.ServiceLambda, time.Millisecond)
	r.ObserveCall(telemetry.ServiceConnections, time.Millisecond)
	r.ObserveCall(telemetry.ServiceDynamoDB, 1500*time.Microsecond)
	r.AddFanOut(3, 1, 2*time.Millisecond)
	if got := keys(r); got != "bodyBytes,dynamodbCalls,dynamodbMs,connectionsCalls,connectionsMs,lambdaCalls,lambdaMs,fanOut,gone,fanOutMs" {
		t.Errorf("full record: %s", got)
	}
	for _, a := range r.Attrs() {
		if a.Key == "dynamodbMs" && a.Value.Float64() != 1.5 {
			t.Errorf("dynamodbMs = %v", a.Value)
		}
		if a.Key == "gone" && a.Value.Int64() != 1 {
			t.Errorf("gone = %v", a.Value)
		}
	}
}

var errRoot = errors.New("connection reset by peer")

// TestErrorChain: the chain lists every wrapped error's message, innermost
// last, through errors.Join, without repeating a link that adds nothing.
func TestErrorChain(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"plain", errRoot, []string{"connection reset by peer"}},
		{"wrapped twice", fmt.Errorf("record connection: %w", fmt.Errorf("put item: %w", errRoot)),
			[]string{"record connection: put item: connection reset by peer", "put item: connection reset by peer", "connection reset by peer"}},
		{"joined", fmt.Errorf("queue: %w", errors.Join(errRoot, errors.New("cleanup failed"))),
			[]string{"queue: connection reset by peer\ncleanup failed", "connection reset by peer\ncleanup failed", "connection reset by peer", "cleanup failed"}},
		{"same message", sameMessage{errRoot}, []string{"connection reset by peer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := telemetry.ErrorChain(tt.err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ErrorChain = %q, want %q", got, tt.want)
			}
		})
	}
	if telemetry.ErrorAttrs(nil) != nil {
		t.Error("ErrorAttrs(nil) is not empty")
	}
}

// sameMessage wraps an error without adding to its message.
type sameMessage struct{ err error }

func (e sameMessage) Error() string { return e.err.Error() }
func (e sameMessage) Unwrap() error { return e.err }
