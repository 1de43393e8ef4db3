package telemetry

import (
	"encoding/json"
	"io"
	"sort"
	"time"
)

// Metric names written as CloudWatch Embedded Metric Format.
const (
	MetricInvocations     = "Invocations"    // every invocation, by route
	MetricInternalErrors  = "InternalErrors" // invocations that failed inside (client got "internal")
	MetricRoomsCreated    = "RoomsCreated"   //
	MetricJoins           = "Joins"          // successful enterroom
	MetricJoinsRejected   = "JoinsRejected"  // failed enterroom, by error code
	MetricRelays          = "Relays"         // messages relayed
	MetricRelaysDenied    = "RelaysDenied"   // relays refused, by error code
	MetricGoneCleaned     = "GoneConnectionsCleaned"
	MetricFanOutLatency   = "FanOutLatency"   // milliseconds per fan-out
	MetricDynamoDBLatency = "DynamoDBLatency" // milliseconds per DynamoDB call
)

// units of each metric; Count unless listed.
var units = map[string]string{
	MetricFanOutLatency:   "Milliseconds",
	MetricDynamoDBLatency: "Milliseconds",
}

// byCode lists the metrics that carry the error code as a dimension.
var byCode = map[string]bool{MetricJoinsRejected: true, MetricRelaysDenied: true}

// WriteEMF writes the record's metrics as one CloudWatch Embedded Metric
// Format line: Invocations and InternalErrors with the dimension routeKey,
// rejections with the dimension code, everything else without dimensions.
// Latencies are written as the list of samples of the invocation.
func (r *Record) WriteEMF(w io.Writer, namespace, routeKey, code string, now time.Time) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	values := make(map[string]any, len(r.counts)+len(r.samples))
	for k, v := range r.counts {
		values[k] = v
	}
	for k, v := range r.samples {
		values[k] = append([]float64(nil), v...) // EMF takes up to 100 values per metric
	}
	r.mu.Unlock()

	doc := map[string]any{"routeKey": routeKey}
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	type directive struct {
		Namespace  string     `json:"Namespace"`
		Dimensions [][]string `json:"Dimensions"`
		Metrics    []metric   `json:"Metrics"`
	}
	groups := map[string]*directive{}
	add := func(dim string, name string) {
		d := groups[dim]
		if d == nil {
			d = &directive{Namespace: namespace, Dimensions: [][]string{{}}, Metrics: []metric{}}
			if dim != "" {
				d.Dimensions = [][]string{{dim}}
			}
			groups[dim] = d
		}
		unit := units[name]
		if unit == "" {
			unit = "Count"
		}
		d.Metrics = append(d.Metrics, metric{Name: name, Unit: unit})
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		switch {
		case name == MetricInvocations || name == MetricInternalErrors:
			add("routeKey", name)
		case byCode[name] && code != "":
			add("code", name)
			doc["code"] = code
		default:
			add("", name)
		}
		doc[name] = values[name]
	}
	dims := make([]string, 0, len(groups))
	for k := range groups {
		dims = append(dims, k)
	}
	sort.Strings(dims)
	directives := make([]*directive, 0, len(groups))
	for _, k := range dims {
		directives = append(directives, groups[k])
	}
	doc["_aws"] = map[string]any{"Timestamp": now.UnixMilli(), "CloudWatchMetrics": directives}
	line, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = w.Write(append(line, '\n'))
	return err
}
