package telemetry

import (
	"encoding/json"
	"io"
	"log/slog"
	"sort"
	"time"
)

// rfc3339Millis is the "time" of an EMF line: RFC 3339 in UTC with
// milliseconds, as Lambda's log-level filter requires.
const rfc3339Millis = "2006-01-02T15:04:05.000Z07:00"

// Metric names written as CloudWatch Embedded Metric Format.
const (
	MetricInvocations    = "Invocations"            // every invocation, by route
	MetricInternalErrors = "InternalErrors"         // invocations that failed inside (client got "internal")
	MetricRoomsCreated   = "RoomsCreated"           //
	MetricJoins          = "Joins"                  // successful enterroom
	MetricJoinsRejected  = "JoinsRejected"          // failed enterroom, by error code
	MetricRelays         = "Relays"                 // messages relayed
	MetricRelaysDenied   = "RelaysDenied"           // relays refused, by error code
	MetricGoneCleaned    = "GoneConnectionsCleaned" // members found gone (410) or stale and removed
	// MetricPresenceCorrections counts presence frames sent because a
	// re-read of the room differed from what a fan-out had told (the fence).
	MetricPresenceCorrections = "PresenceCorrections"
	// MetricConnectionsClosed counts connections closed for sending past
	// their rate.
	MetricConnectionsClosed = "ConnectionsClosed"
	// MetricParticipantsAway counts members whose connection closed and
	// whose seat is held for a resume; MetricResumes, the resumes that
	// took a seat over.
	MetricParticipantsAway = "ParticipantsAway"
	MetricResumes          = "Resumes"
	// MetricSignalsHeld counts signals kept for an away participant;
	// MetricSignalsUndeliverable, those dropped (its window passed, or it
	// had as many held as it may) and reported to their sender.
	MetricSignalsHeld          = "SignalsHeld"
	MetricSignalsUndeliverable = "SignalsUndeliverable"
	// Web Push (docs/push.md): subscribes stored; notifications the push
	// service accepted; not sent because the subscription was notified
	// within the minute; not delivered (refused, or the push service
	// unavailable until the deadline); subscriptions removed because their
	// push service said they are gone (404, 410) or they expired.
	MetricPushSubscribes  = "PushSubscribes"
	MetricPushSent        = "PushSent"
	MetricPushThrottled   = "PushThrottled"
	MetricPushFailed      = "PushFailed"
	MetricPushRemoved     = "PushSubscriptionsRemoved"
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

// EMF says how WriteEMF writes a record's metrics.
type EMF struct {
	Namespace string // the CloudWatch namespace
	RouteKey  string // the routeKey dimension of Invocations and InternalErrors
	Code      string // the code dimension of JoinsRejected and RelaysDenied
	// Level is the line's "level" member: MetricsLevel of the function's
	// log level, so that Lambda's log-level filter never drops the line.
	Level string
	Time  time.Time // the metrics' timestamp, and the line's "time"
}

// MetricsLevel returns the level an EMF line must carry to pass Lambda's
// log-level filter (the function's ApplicationLogLevel) when the function
// logs at min: INFO, or min's Lambda name when min is above INFO (WARN,
// ERROR, or FATAL for anything above ERROR).
//
// Lambda treats a JSON line without a valid "level" (or without a valid RFC
// 3339 time) as INFO, and drops INFO lines when ApplicationLogLevel is WARN
// or above: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
// ("If the "level" value field is invalid or missing, Lambda will assign
// the log output the level INFO"). The metrics, and the alarm on
// InternalErrors, must not vanish when someone quiets the logs, so the EMF
// line carries a level the filter passes; EMF allows members besides the
// metrics and dimensions.
func MetricsLevel(min slog.Level) string {
	switch {
	case min > slog.LevelError:
		return "FATAL"
	case min > slog.LevelWarn:
		return "ERROR"
	case min > slog.LevelInfo:
		return "WARN"
	}
	return "INFO"
}

// WriteEMF writes the record's metrics as one CloudWatch Embedded Metric
// Format line: Invocations and InternalErrors with the dimension routeKey and
// also without dimensions (the totals alarms watch), rejections with the
// dimension code, everything else without dimensions. (A dimension value
// cannot be empty: without RouteKey or Code, those metrics are written
// without that dimension.) Latencies are
// written as the list of samples of the invocation. The line also has
// "level" and "time" for Lambda's log-level filter (see MetricsLevel).
func (r *Record) WriteEMF(w io.Writer, e EMF) error {
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

	doc := map[string]any{"level": e.Level, "time": e.Time.UTC().Format(rfc3339Millis)}
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
			d = &directive{Namespace: e.Namespace, Dimensions: [][]string{{}}, Metrics: []metric{}}
			if dim != "" {
				d.Dimensions = [][]string{{dim}}
			}
			if dim == "routeKey" {
				d.Dimensions = append(d.Dimensions, []string{})
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
		case (name == MetricInvocations || name == MetricInternalErrors) && e.RouteKey != "":
			add("routeKey", name)
			doc["routeKey"] = e.RouteKey
		case byCode[name] && e.Code != "":
			add("code", name)
			doc["code"] = e.Code
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
	doc["_aws"] = map[string]any{"Timestamp": e.Time.UnixMilli(), "CloudWatchMetrics": directives}
	line, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = w.Write(append(line, '\n'))
	return err
}
