package telemetry_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/telemetry"
)

// emfDoc is the part of an Embedded Metric Format document CloudWatch reads.
type emfDoc struct {
	AWS struct {
		Timestamp         *int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
				Unit string `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

// validUnits are the CloudWatch units this package uses.
var validUnits = map[string]bool{"Count": true, "Milliseconds": true}

// checkEMF validates one EMF line against the specification's rules: a
// millisecond timestamp, at least one directive, every dimension and metric
// a top-level member, metric values numbers or arrays of up to 100 numbers,
// at most 30 dimensions per set and 100 metrics per directive. It returns the
// metric values by name and the dimension sets by metric.
func checkEMF(t *testing.T, line []byte) (values map[string]any, dims map[string][][]string) {
	t.Helper()
	var doc emfDoc
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatalf("EMF line %s: %v", line, err)
	}
	var top map[string]any
	_ = json.Unmarshal(line, &top)
	if doc.AWS.Timestamp == nil || *doc.AWS.Timestamp < 1e12 {
		t.Errorf("_aws.Timestamp missing or not in milliseconds: %s", line)
	}
	if len(doc.AWS.CloudWatchMetrics) == 0 {
		t.Fatalf("no CloudWatchMetrics directive: %s", line)
	}
	values, dims = map[string]any{}, map[string][][]string{}
	for _, d := range doc.AWS.CloudWatchMetrics {
		if d.Namespace == "" || len(d.Metrics) == 0 || len(d.Metrics) > 100 {
			t.Errorf("bad directive %+v", d)
		}
		for _, set := range d.Dimensions {
			if len(set) > 30 {
				t.Errorf("dimension set of %d", len(set))
			}
			for _, name := range set {
				if _, ok := top[name].(string); !ok {
					t.Errorf("dimension %q is not a top-level string member: %s", name, line)
				}
			}
		}
		for _, m := range d.Metrics {
			if !validUnits[m.Unit] {
				t.Errorf("metric %s has unit %q", m.Name, m.Unit)
			}
			switch v := top[m.Name].(type) {
			case float64:
			case []any:
				if len(v) == 0 || len(v) > 100 {
					t.Errorf("metric %s has %d values", m.Name, len(v))
				}
				for _, x := range v {
					if _, ok := x.(float64); !ok {
						t.Errorf("metric %s value %v is not a number", m.Name, x)
					}
				}
			default:
				t.Errorf("metric %s value %v is not a number or array", m.Name, top[m.Name])
			}
			values[m.Name] = top[m.Name]
			dims[m.Name] = d.Dimensions
		}
	}
	return values, dims
}

func TestWriteEMF(t *testing.T) {
	r := &telemetry.Record{}
	r.Count(telemetry.MetricInvocations, 1)
	r.Count(telemetry.MetricJoinsRejected, 1)
	r.Count(telemetry.MetricGoneCleaned, 2)
	r.Observe(telemetry.MetricDynamoDBLatency, 3.5)
	r.Observe(telemetry.MetricDynamoDBLatency, 1.25)
	r.AddFanOut(5, 2, 12*time.Millisecond)
	r.AddFanOut(0, 0, time.Millisecond) // to nobody: no sample

	var buf bytes.Buffer
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	if err := r.WriteEMF(&buf, telemetry.EMF{Namespace: "slsrtc-test", RouteKey: "enterroom", Code: "room-full", Level: "WARN", Time: now}); err != nil {
		t.Fatal(err)
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("want exactly one line, got %q", buf.String())
	}
	values, dims := checkEMF(t, buf.Bytes())
	want := map[string]any{
		"Invocations": 1.0, "JoinsRejected": 1.0, "GoneConnectionsCleaned": 2.0,
		"DynamoDBLatency": []any{3.5, 1.25}, "FanOutLatency": []any{12.0},
	}
	for name, v := range want {
		got, _ := json.Marshal(values[name])
		exp, _ := json.Marshal(v)
		if string(got) != string(exp) {
			t.Errorf("%s = %s, want %s", name, got, exp)
		}
	}
	if len(values) != len(want) {
		t.Errorf("metrics %v, want exactly %v", values, want)
	}
	wantDims := map[string]string{"Invocations": `[["routeKey"],[]]`, "JoinsRejected": `[["code"]]`, "GoneConnectionsCleaned": `[[]]`}
	for name, d := range wantDims {
		if got, _ := json.Marshal(dims[name]); string(got) != d {
			t.Errorf("%s dimensions %s, want %s", name, got, d)
		}
	}
	var doc map[string]any
	_ = json.Unmarshal(buf.Bytes(), &doc)
	if doc["routeKey"] != "enterroom" || doc["code"] != "room-full" {
		t.Errorf("dimension values: %v", doc)
	}
	// Lambda's log-level filter reads these (see MetricsLevel).
	if doc["level"] != "WARN" || doc["time"] != "2026-11-25T12:00:00.000Z" {
		t.Errorf("level %v, time %v", doc["level"], doc["time"])
	}
	if ts := doc["_aws"].(map[string]any)["Timestamp"]; ts != float64(now.UnixMilli()) {
		t.Errorf("Timestamp %v", ts)
	}
}

// TestNilRecord: telemetry is optional; a nil record ignores everything.
func TestNilRecord(t *testing.T) {
	var r *telemetry.Record
	r.Count("x", 1)
	r.Observe("y", 1)
	r.AddFanOut(1, 1, time.Second)
	r.SetRoom("r")
	var buf bytes.Buffer
	if err := r.WriteEMF(&buf, telemetry.EMF{Namespace: "ns", RouteKey: "ping", Time: time.Now()}); err != nil || buf.Len() != 0 || r.Attrs() != nil {
		t.Errorf("nil record wrote %q, %v", buf.String(), err)
	}
}

// TestWriteEMFWithoutDimensionValues: a dimension value cannot be empty, so
// without a route key or code the metrics go without those dimensions.
func TestWriteEMFWithoutDimensionValues(t *testing.T) {
	r := &telemetry.Record{}
	r.Count(telemetry.MetricInvocations, 1)
	r.Count(telemetry.MetricInternalErrors, 1)
	r.Count(telemetry.MetricRelaysDenied, 1)
	var buf bytes.Buffer
	if err := r.WriteEMF(&buf, telemetry.EMF{Namespace: "ns", Level: "INFO", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	_, dims := checkEMF(t, buf.Bytes())
	for _, name := range []string{"Invocations", "InternalErrors", "RelaysDenied"} {
		if got, _ := json.Marshal(dims[name]); string(got) != `[[]]` {
			t.Errorf("%s dimensions %s, want [[]]", name, got)
		}
	}
	if strings.Contains(buf.String(), `"routeKey"`) || strings.Contains(buf.String(), `"code"`) {
		t.Errorf("empty dimension members written: %s", buf.String())
	}
}

// TestMetricsLevel: the EMF line's level is one Lambda's filter passes at
// every ApplicationLogLevel (Lambda's order: TRACE < DEBUG < INFO < WARN <
// ERROR < FATAL), and INFO whenever INFO lines pass anyway.
func TestMetricsLevel(t *testing.T) {
	lambdaOrder := map[string]int{"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "ERROR": 4, "FATAL": 5}
	tests := []struct {
		min       slog.Level
		threshold string // the ApplicationLogLevel that min stands for
		want      string
	}{
		{slog.LevelDebug, "DEBUG", "INFO"},
		{slog.LevelInfo, "INFO", "INFO"},
		{slog.LevelWarn, "WARN", "WARN"},
		{slog.LevelError, "ERROR", "ERROR"},
		{slog.LevelError + 4, "FATAL", "FATAL"},
	}
	for _, tt := range tests {
		got := telemetry.MetricsLevel(tt.min)
		if got != tt.want {
			t.Errorf("MetricsLevel(%v) = %s, want %s", tt.min, got, tt.want)
		}
		if lambdaOrder[got] < lambdaOrder[tt.threshold] {
			t.Errorf("at %s Lambda drops a %s line", tt.threshold, got)
		}
	}
}
