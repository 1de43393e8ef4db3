// Package prettylog renders the function's JSON log lines and Embedded
// Metric Format lines for humans: the local stack's -pretty flag. CloudWatch
// holds the JSON; this is only a view of it.
package prettylog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Writer turns complete JSON lines written to it into one readable line
// each, written to the underlying writer; anything that is not a JSON object
// passes through unchanged. It is safe for concurrent use.
type Writer struct {
	mu      sync.Mutex
	out     io.Writer
	partial []byte
}

// NewWriter returns a Writer that writes to out.
func NewWriter(out io.Writer) *Writer { return &Writer{out: out} }

// Write buffers p and renders every complete line in it.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := w.partial[:i]
		rendered := Render(line)
		w.partial = w.partial[i+1:]
		if _, err := io.WriteString(w.out, rendered+"\n"); err != nil {
			return len(p), err
		}
	}
}

// leading keys are shown in this order, without their names where obvious.
var skip = map[string]bool{
	"time": true, "level": true, "msg": true, "routeKey": true, "connectionId": true, "roomID": true,
	"outcome": true, "code": true, "durationMs": true, "requestId": true, "lambdaRequestId": true, "eventType": true,
}

// Render renders one line.
func Render(line []byte) string {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return string(line)
	}
	if aws, ok := m["_aws"].(map[string]any); ok {
		return renderEMF(m, aws)
	}
	var b strings.Builder
	b.WriteString(clock(m["time"]))
	fmt.Fprintf(&b, " %-5s", str(m["level"]))
	if m["msg"] == "invocation" {
		what := str(m["routeKey"])
		if what == "" {
			what = "(" + strings.ToLower(str(m["internalEvent"])) + ")"
		}
		fmt.Fprintf(&b, " %-12s conn=%s", what, str(m["connectionId"]))
		if r := str(m["roomID"]); r != "" {
			fmt.Fprintf(&b, " room=%s", short(r))
		}
		outcome := str(m["outcome"])
		if c := str(m["code"]); c != "" {
			outcome += ":" + c
		}
		fmt.Fprintf(&b, " %s %sms", outcome, str(m["durationMs"]))
	} else {
		b.WriteString(" " + str(m["msg"]))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !skip[k] && k != "internalEvent" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := str(m[k])
		if strings.ContainsAny(v, " \n\t") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	return b.String()
}

func renderEMF(m, aws map[string]any) string {
	var b strings.Builder
	if ts, ok := aws["Timestamp"].(json.Number); ok {
		if ms, err := ts.Int64(); err == nil {
			b.WriteString(time.UnixMilli(ms).UTC().Format("15:04:05.000"))
		}
	}
	b.WriteString(" METRIC")
	var names []string
	if directives, ok := aws["CloudWatchMetrics"].([]any); ok {
		for _, d := range directives {
			dm, _ := d.(map[string]any)
			metrics, _ := dm["Metrics"].([]any)
			for _, x := range metrics {
				if xm, ok := x.(map[string]any); ok {
					names = append(names, str(xm["Name"]))
				}
			}
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, " %s=%s", n, str(m[n]))
	}
	return b.String()
}

func clock(v any) string {
	t, err := time.Parse(time.RFC3339Nano, str(v))
	if err != nil {
		return str(v)
	}
	return t.UTC().Format("15:04:05.000")
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}
