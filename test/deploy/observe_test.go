package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/slsrtc/slsrtc/emulator"
)

// The observability checks: the function's log settings, the saved queries
// and the alarms, each against what the code writes (observe); and the
// "Inspecting logs" of docs/observability.md, against the template.

const (
	typeLogGroup = "AWS::Logs::LogGroup"
	typeQuery    = "AWS::Logs::QueryDefinition"
	typeAlarm    = "AWS::CloudWatch::Alarm"
)

// observabilityPath is the page that shows the saved queries and names the
// metrics, under its "## Inspecting logs".
var observabilityPath = filepath.Join("..", "..", "docs", "observability.md")

// requiredQueries are the saved queries the issue asks for, by the name after
// the stack's ("<stack>/errors-by-code").
var requiredQueries = []string{"errors-by-code", "slowest-invocations", "connection-story", "room-story", "cold-starts"}

// checkLogging checks what the queries rely on: the function logs JSON into
// its own log group at a level the code understands, Lambda's system lines
// (platform.report, the cold starts) are kept, and the stage's access log is
// a JSON object sharing requestId and connectionId with the function's lines.
func checkLogging(t *template) []string {
	fn, err := t.one(typeFunction)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	lc := asMap(fn.Props["LoggingConfig"])
	if lc["LogFormat"] != "JSON" {
		problems = append(problems, fmt.Sprintf("the function's LoggingConfig.LogFormat is %v, want JSON: the queries read JSON fields, and Lambda filters levels only of JSON logs", lc["LogFormat"]))
	}
	// platform.report (with initDurationMs) is an INFO system line.
	if l := lc["SystemLogLevel"]; l != "INFO" && l != "DEBUG" {
		problems = append(problems, fmt.Sprintf("SystemLogLevel is %v; at WARN Lambda drops its platform.report lines, which the cold-starts query reads", l))
	}
	if id, ok := asMap(lc["LogGroup"])["Ref"].(string); !ok || !t.isType(id, typeLogGroup) {
		problems = append(problems, fmt.Sprintf("LoggingConfig.LogGroup is %v, want !Ref of the stack's AWS::Logs::LogGroup (the queries and retention name it)", lc["LogGroup"]))
	}
	param, ok := asMap(lc["ApplicationLogLevel"])["Ref"].(string)
	p := asMap(asMap(t.doc["Parameters"])[param])
	if !ok || p == nil {
		problems = append(problems, fmt.Sprintf("ApplicationLogLevel is %v, want !Ref of a parameter", lc["ApplicationLogLevel"]))
	} else {
		for _, v := range append(list(p["AllowedValues"]), p["Default"]) {
			env := map[string]string{"TABLE_NAME": "t", "CONNECTIONS_URL": "https://x", "AWS_LAMBDA_LOG_LEVEL": fmt.Sprint(v)}
			if err := loadConfig(func(k string) string { return env[k] }); err != nil {
				problems = append(problems, fmt.Sprintf("parameter %s allows %q, which the code rejects as AWS_LAMBDA_LOG_LEVEL: %v", param, fmt.Sprint(v), err))
			}
		}
	}

	stage, err := t.one(typeStage)
	if err != nil {
		return append(problems, err.Error())
	}
	als := asMap(stage.Props["AccessLogSettings"])
	if id, attr, ok := getAttOf(als["DestinationArn"]); !ok || attr != "Arn" || !t.isType(id, typeLogGroup) {
		problems = append(problems, fmt.Sprintf("the stage's access log goes to %v, want !GetAtt of the stack's log group", als["DestinationArn"]))
	}
	keys, err := accessLogFields(t)
	if err != nil {
		return append(problems, err.Error())
	}
	for _, k := range []string{"requestId", "connectionId", "routeKey", "eventType", "status"} {
		if !keys[k] {
			problems = append(problems, fmt.Sprintf("the access log has no %q; the function's lines have it, and the connection-story query reads both", k))
		}
	}
	return problems
}

// isType reports whether resource id exists and is of type typ.
func (t *template) isType(id, typ string) bool {
	r, ok := t.resource(id)
	return ok && r.Type == typ
}

// contextVar is an API Gateway $context variable in the access log format.
var contextVar = regexp.MustCompile(`\$context\.[A-Za-z.]+`)

// accessLogFields returns the keys of the stage's access log format, which
// must be a JSON object once its $context variables are filled in (each
// with a quoted string, as $context.error.messageString is).
func accessLogFields(t *template) (map[string]bool, error) {
	stage, err := t.one(typeStage)
	if err != nil {
		return nil, err
	}
	format, _ := asMap(stage.Props["AccessLogSettings"])["Format"].(string)
	filled := contextVar.ReplaceAllStringFunc(format, func(v string) string {
		if v == "$context.error.messageString" { // already quoted
			return `"x"`
		}
		return "x"
	})
	var m map[string]any
	if err := json.Unmarshal([]byte(filled), &m); err != nil {
		return nil, fmt.Errorf("the stage's access log format is not a JSON object: %v", err)
	}
	keys := map[string]bool{}
	flatten("", m, keys)
	return keys, nil
}

// platformFields are the fields of Lambda's platform.report system line in
// JSON format (testdata/platform-report.json, the shape of
// https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html#platform-report
// as CloudWatch holds it).
func platformFields() (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "platform-report.json"))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	fields := map[string]bool{}
	flatten("", m, fields)
	return fields, nil
}

// builtinFields are the fields CloudWatch Logs Insights gives every event.
var builtinFields = map[string]bool{"@timestamp": true, "@message": true, "@log": true, "@logStream": true, "@ingestionTime": true}

// checkQueries checks the saved queries: the ones the issue asks for exist,
// each is named after the stack, runs on the function's or the access log
// group, and reads only fields that the lines in its groups have: for the
// function's group, what the code logs (o) and Lambda's platform.report;
// for the access log group, its format's keys.
func checkQueries(t *template, o *observed) []string {
	var problems []string
	fn, err := t.one(typeFunction)
	if err != nil {
		return []string{err.Error()}
	}
	stage, err := t.one(typeStage)
	if err != nil {
		return []string{err.Error()}
	}
	platform, err := platformFields()
	if err != nil {
		return []string{err.Error()}
	}
	groups := map[string]map[string]bool{}
	if id, ok := asMap(asMap(fn.Props["LoggingConfig"])["LogGroup"])["Ref"].(string); ok {
		groups[id] = maps.Clone(o.fields)
		maps.Copy(groups[id], platform)
	}
	if id, _, ok := getAttOf(asMap(stage.Props["AccessLogSettings"])["DestinationArn"]); ok {
		if keys, err := accessLogFields(t); err == nil {
			groups[id] = keys
		}
	}

	found := map[string]bool{}
	for _, q := range t.resources(typeQuery) {
		name, err := queryName(q)
		if err != nil {
			problems = append(problems, err.Error())
		}
		found[name] = true
		fields := map[string]bool{}
		maps.Copy(fields, builtinFields)
		refs := list(q.Props["LogGroupNames"])
		if len(refs) == 0 {
			problems = append(problems, fmt.Sprintf("query %s has no LogGroupNames; it would run on whatever the console last selected", q.ID))
		}
		for _, g := range refs {
			id, _ := asMap(g)["Ref"].(string)
			if groups[id] == nil {
				problems = append(problems, fmt.Sprintf("query %s runs on %v, want !Ref of the function's or the access log group", q.ID, g))
				continue
			}
			maps.Copy(fields, groups[id])
		}
		text, _ := q.Props["QueryString"].(string)
		used, _, err := queryFields(text)
		if err != nil {
			problems = append(problems, fmt.Sprintf("query %s: %v", q.ID, err))
			continue
		}
		for _, f := range used {
			if !fields[f] {
				problems = append(problems, fmt.Sprintf("query %s reads %s, which no line in its log groups has", q.ID, f))
			}
		}
	}
	for _, name := range requiredQueries {
		if !found[name] {
			problems = append(problems, fmt.Sprintf("no saved query named <stack>/%s", name))
		}
	}
	return problems
}

// queryName returns the name of a saved query after "${AWS::StackName}/".
func queryName(q resource) (string, error) {
	sub, _ := asMap(q.Props["Name"])["Fn::Sub"].(string)
	name, ok := strings.CutPrefix(sub, "${AWS::StackName}/")
	if !ok || name == "" {
		return "", fmt.Errorf("query %s is named %v, want !Sub \"${AWS::StackName}/<name>\" so each stack's queries are a folder of their own", q.ID, q.Props["Name"])
	}
	return name, nil
}

// queryKeywords are the words of the Logs Insights language that are not
// fields: commands, and what may follow them.
var queryKeywords = map[string]bool{
	"fields": true, "filter": true, "stats": true, "sort": true, "limit": true, "display": true, "parse": true,
	"dedup": true, "unmask": true, "pattern": true, "diff": true, "filterindex": true, "source": true,
	"by": true, "as": true, "and": true, "or": true, "not": true, "in": true, "like": true, "asc": true, "desc": true,
	"true": true, "false": true, "null": true,
}

// queryFields returns the fields a Logs Insights query reads, in order of
// appearance, and the aliases it defines with "as". A field is every name
// that is not in a string, not a keyword, not a function (a name followed by
// "("), not an alias, and not a number. Regular expressions are not
// understood.
func queryFields(q string) (fields []string, aliases map[string]bool, err error) {
	type token struct{ word, next string }
	var tokens []token
	rs := []rune(q)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != c {
				if rs[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(rs) {
				return nil, nil, fmt.Errorf("unterminated string at %d", i)
			}
			i = j + 1
		case c == '/':
			return nil, nil, fmt.Errorf("regular expressions are beyond this check")
		case c == '`':
			j := i + 1
			for j < len(rs) && rs[j] != '`' {
				j++
			}
			if j >= len(rs) {
				return nil, nil, fmt.Errorf("unterminated ` at %d", i)
			}
			tokens = append(tokens, token{word: string(rs[i+1 : j])})
			i = j + 1
		case c == '@' || c == '_' || unicode.IsLetter(c):
			j := i + 1
			for j < len(rs) && (rs[j] == '_' || rs[j] == '.' || rs[j] == '@' || unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
				j++
			}
			k := j
			for k < len(rs) && unicode.IsSpace(rs[k]) {
				k++
			}
			next := ""
			if k < len(rs) {
				next = string(rs[k])
			}
			tokens = append(tokens, token{word: string(rs[i:j]), next: next})
			i = j
		default:
			i++
		}
	}
	aliases = map[string]bool{}
	for i, tk := range tokens {
		if i > 0 && strings.EqualFold(tokens[i-1].word, "as") {
			aliases[tk.word] = true
		}
	}
	seen := map[string]bool{}
	for _, tk := range tokens {
		switch {
		case queryKeywords[strings.ToLower(tk.word)], tk.next == "(", aliases[tk.word], seen[tk.word]:
			continue
		}
		seen[tk.word] = true
		fields = append(fields, tk.word)
	}
	return fields, aliases, nil
}

// webSocketMetrics are the AWS/ApiGateway metrics of WebSocket APIs, with
// their dimensions
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-logging.html).
// 4XXError, 5XXError and Latency exist for REST and HTTP APIs only.
var webSocketMetrics = map[string]bool{"ConnectCount": true, "MessageCount": true, "IntegrationError": true,
	"ClientError": true, "ExecutionError": true, "IntegrationLatency": true}

// sqsMetrics are the AWS/SQS metrics of a queue, each with the one dimension
// QueueName (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).
var sqsMetrics = map[string]bool{"ApproximateAgeOfOldestMessage": true, "ApproximateNumberOfMessagesDelayed": true,
	"ApproximateNumberOfMessagesNotVisible": true, "ApproximateNumberOfMessagesVisible": true,
	"NumberOfEmptyReceives": true, "NumberOfMessagesDeleted": true, "NumberOfMessagesReceived": true,
	"NumberOfMessagesSent": true, "SentMessageSize": true}

// requiredAlarms are the alarms the issue asks for: function errors,
// throttles, and the integration's 5xx (ours: InternalErrors; API Gateway's
// failures to call the function: ExecutionError); and one on the records of
// dropped asynchronous invocations in the OnFailure destination. By
// namespace and metric ("" stands for the function's metrics namespace).
var requiredAlarms = [][2]string{{"AWS/Lambda", "Errors"}, {"AWS/Lambda", "Throttles"}, {"AWS/ApiGateway", "ExecutionError"}, {"", "InternalErrors"},
	{"AWS/SQS", "ApproximateNumberOfMessagesVisible"}}

// checkAlarms checks that every alarm watches a metric that exists with the
// dimensions it is published with — the function's Lambda metrics, the
// stage's WebSocket API metrics, the metrics of the function's OnFailure
// destination queue, or a metric and dimension set the code writes (o) in
// the namespace the function's environment sets — that each
// notifies the alarm topic parameter when it is set, and that the required
// alarms exist.
func checkAlarms(t *template, o *observed) []string {
	fn, err := t.one(typeFunction)
	if err != nil {
		return []string{err.Error()}
	}
	api, err := t.one(typeAPI)
	if err != nil {
		return []string{err.Error()}
	}
	stage, err := t.one(typeStage)
	if err != nil {
		return []string{err.Error()}
	}
	namespaceVar := asMap(asMap(fn.Props["Environment"])["Variables"])["METRICS_NAMESPACE"]
	var problems []string
	have := map[[2]string]bool{}
	for _, a := range t.resources(typeAlarm) {
		if a.Props["Metrics"] != nil {
			problems = append(problems, fmt.Sprintf("alarm %s uses metric math, which this check cannot follow", a.ID))
			continue
		}
		metric, _ := a.Props["MetricName"].(string)
		dims := map[string]any{}
		var names []string
		for _, d := range list(a.Props["Dimensions"]) {
			name, _ := asMap(d)["Name"].(string)
			dims[name] = asMap(d)["Value"]
			names = append(names, name)
		}
		ns := a.Props["Namespace"]
		switch {
		case ns == "AWS/Lambda":
			if len(dims) != 1 || !emulator.RefersTo(dims["FunctionName"], fn.ID) {
				problems = append(problems, fmt.Sprintf("alarm %s watches AWS/Lambda %s with dimensions %v, want only FunctionName: !Ref %s", a.ID, metric, dims, fn.ID))
			}
		case ns == "AWS/ApiGateway":
			if !webSocketMetrics[metric] {
				problems = append(problems, fmt.Sprintf("alarm %s watches AWS/ApiGateway %s, which is not a metric of WebSocket APIs", a.ID, metric))
			}
			if len(dims) != 2 || !emulator.RefersTo(dims["ApiId"], api.ID) || !emulator.RefersTo(dims["Stage"], stage.ID) {
				problems = append(problems, fmt.Sprintf("alarm %s watches AWS/ApiGateway %s with dimensions %v, want ApiId: !Ref %s and Stage: !Ref %s", a.ID, metric, dims, api.ID, stage.ID))
			}
		case ns == "AWS/SQS":
			if !sqsMetrics[metric] {
				problems = append(problems, fmt.Sprintf("alarm %s watches AWS/SQS %s, which is not a metric of SQS queues", a.ID, metric))
			}
			queue, qproblems := failureQueue(t)
			if id, attr, ok := getAttOf(dims["QueueName"]); len(qproblems) > 0 || len(dims) != 1 || !ok || id != queue.ID || attr != "QueueName" {
				problems = append(problems, fmt.Sprintf("alarm %s watches AWS/SQS %s with dimensions %v, want only QueueName: !GetAtt <OnFailure destination>.QueueName", a.ID, metric, dims))
			}
		case namespaceVar != nil && fmt.Sprint(ns) == fmt.Sprint(namespaceVar):
			ns = ""
			sets, ok := o.metrics[metric]
			if !ok {
				problems = append(problems, fmt.Sprintf("alarm %s watches %s, which the code never writes (it writes %s)", a.ID, metric, strings.Join(slices.Sorted(maps.Keys(o.metrics)), ", ")))
			} else if !sets[joinSorted(names)] {
				problems = append(problems, fmt.Sprintf("alarm %s watches %s with dimensions [%s]; the code writes it with %q", a.ID, metric, joinSorted(names), slices.Sorted(maps.Keys(sets))))
			}
		default:
			problems = append(problems, fmt.Sprintf("alarm %s watches namespace %v: neither AWS/Lambda, AWS/ApiGateway, AWS/SQS nor the function's METRICS_NAMESPACE (%v)", a.ID, ns, namespaceVar))
		}
		have[[2]string{fmt.Sprint(ns), metric}] = true
		for _, actions := range []string{"AlarmActions", "OKActions"} {
			if !notifiesTopicParameter(t, a.Props[actions]) {
				problems = append(problems, fmt.Sprintf("alarm %s %s is %v, want !If [<condition>, [!Ref <topic parameter, default \"\">], !Ref AWS::NoValue]", a.ID, actions, a.Props[actions]))
			}
		}
	}
	for _, r := range requiredAlarms {
		if !have[r] {
			ns := r[0]
			if ns == "" {
				ns = "the function's namespace"
			}
			problems = append(problems, fmt.Sprintf("no alarm on %s %s", ns, r[1]))
		}
	}
	return problems
}

// notifiesTopicParameter reports whether actions is
// !If [cond, [!Ref P], !Ref AWS::NoValue] with P a parameter defaulting to "".
func notifiesTopicParameter(t *template, actions any) bool {
	args, _ := asMap(actions)["Fn::If"].([]any)
	if len(args) != 3 || asMap(args[2])["Ref"] != "AWS::NoValue" {
		return false
	}
	topics := list(args[1])
	if len(topics) != 1 {
		return false
	}
	name, _ := asMap(topics[0])["Ref"].(string)
	p := asMap(asMap(t.doc["Parameters"])[name])
	def, ok := p["Default"]
	return ok && def == ""
}

// docs/observability.md's "Inspecting logs" shows every saved query, each
// under a heading "#### `<name>`", exactly as the template holds it; and
// names every metric the code writes.
func TestObservabilityDoc(t *testing.T) {
	tpl := readTemplate(t, templatePath)
	section := docSection(t, observabilityPath, "Inspecting logs")
	shown := readmeQueries(section)
	inTemplate := map[string]string{}
	for _, q := range tpl.resources(typeQuery) {
		name, err := queryName(q)
		if err != nil {
			t.Error(err)
			continue
		}
		inTemplate[name], _ = q.Props["QueryString"].(string)
	}
	for _, name := range slices.Sorted(maps.Keys(inTemplate)) {
		got, ok := shown[name]
		switch {
		case !ok:
			t.Errorf("observability.md does not show the saved query %s (a heading \"#### `%s`\" and a code block)", name, name)
		case got != inTemplate[name]:
			t.Errorf("observability.md's query %s differs from template.yaml's QueryString:\nobservability.md:\n%s\ntemplate:\n%s", name, got, inTemplate[name])
		}
	}
	for name := range shown {
		if _, ok := inTemplate[name]; !ok {
			t.Errorf("observability.md shows a query %s that template.yaml does not save", name)
		}
	}
	o, err := observe()
	if err != nil {
		t.Fatal(err)
	}
	declared, err := declaredMetrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range slices.Sorted(maps.Keys(o.metrics)) {
		if !slices.Contains(declared, m) {
			t.Errorf("the code writes a metric %s that package telemetry does not declare", m)
		}
	}
	for _, m := range declared {
		if !strings.Contains(section, "| `"+m+"` |") {
			t.Errorf("observability.md's metric table has no row for `%s`", m)
		}
	}
}

// declaredMetrics returns the values of package telemetry's Metric*
// constants: every metric the function may write, including those the
// session of observe does not provoke.
func declaredMetrics() ([]string, error) {
	files, err := filepath.Glob(filepath.Join("..", "..", "telemetry", "*.go"))
	if err != nil {
		return nil, err
	}
	var out []string
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Metric") || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, err := strconv.Unquote(lit.Value)
						if err != nil {
							return nil, err
						}
						out = append(out, v)
					}
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("package telemetry declares no Metric* constant")
	}
	slices.Sort(out)
	return out, nil
}

// docSection returns the "## <title>" section of the Markdown file at path,
// without its heading.
func docSection(t *testing.T, path, title string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", path, "## "+title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// readmeQuery is a heading "#### `name`" and, after any prose, the first
// fenced code block.
var readmeQuery = regexp.MustCompile("(?m)^#### `([a-z0-9-]+)`\n(?s:.*?)\n```[a-z]*\n((?s:.*?))\n```")

// readmeQueries returns the queries a Markdown section shows, by name.
func readmeQueries(section string) map[string]string {
	out := map[string]string{}
	for _, m := range readmeQuery.FindAllStringSubmatch(section, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// The query parser finds fields wherever a query reads them, and nothing
// else.
func TestQueryFields(t *testing.T) {
	tests := []struct {
		query   string
		fields  string
		aliases string
	}{
		{`fields @timestamp, durationMs | sort durationMs desc | limit 5`, "@timestamp durationMs", ""},
		{`filter msg = "invocation" and ispresent(code) | stats count(*) as n by code | sort n desc`, "msg code", "n"},
		{`filter connectionId = "a b=c" or roomID like 'x' | fields record.metrics.initDurationMs`, "connectionId roomID record.metrics.initDurationMs", ""},
		{"fields `odd name`, x2", "odd name x2", ""},
		{`filter outcome in ["error", "rejected"] and not ispresent(x)`, "outcome x", ""},
	}
	for _, tt := range tests {
		fields, aliases, err := queryFields(tt.query)
		if err != nil {
			t.Errorf("%s: %v", tt.query, err)
			continue
		}
		if got := strings.Join(fields, " "); got != tt.fields {
			t.Errorf("%s: fields %q, want %q", tt.query, got, tt.fields)
		}
		if got := strings.Join(slices.Sorted(maps.Keys(aliases)), " "); got != tt.aliases {
			t.Errorf("%s: aliases %q, want %q", tt.query, got, tt.aliases)
		}
	}
	for _, bad := range []string{`filter x = "open`, `filter x like /re/`} {
		if _, _, err := queryFields(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// The session the checks read covers every kind of line and metric.
func TestObserve(t *testing.T) {
	o, err := observe()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"level", "time", "msg", "lambdaRequestId", "requestId", "connectionId", "routeKey", "eventType",
		"internalEvent", "action", "actionBytes", "roomID", "outcome", "code", "reason", "error", "errorChain", "durationMs",
		"dynamodbCalls", "fanOut", "gone", "fanOutMs", "bodyBytes", "coldStart", "to", "_aws.Timestamp"} {
		if !o.fields[f] {
			t.Errorf("no line has %s", f)
		}
	}
	for _, m := range []string{"Invocations", "InternalErrors", "RoomsCreated", "Joins", "JoinsRejected", "Relays",
		"RelaysDenied", "GoneConnectionsCleaned", "FanOutLatency"} {
		if o.metrics[m] == nil {
			t.Errorf("no metric %s", m)
		}
	}
	if !o.metrics["InternalErrors"][""] || !o.metrics["InternalErrors"]["routeKey"] || !o.metrics["JoinsRejected"]["code"] {
		t.Errorf("dimension sets %v", o.metrics)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(o.namespaces)), []string{metricsNamespace}) {
		t.Errorf("namespaces %v", o.namespaces)
	}
	if t.Failed() {
		t.Logf("lines:\n%s", strings.Join(o.lines, "\n"))
	}
}
