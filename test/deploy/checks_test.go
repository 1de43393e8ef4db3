package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/emulator"
	"github.com/slsrtc/slsrtc/push"
)

// A check reads the template (at path, and parsed) and returns what is wrong
// with it, one sentence per problem.
type check func(path string, t *template) []string

// checks are every check of the template against the code, by name.
var checks = map[string]check{
	"routes": func(path string, t *template) []string {
		return checkRoutes(path, t, routeKeys())
	},
	"environment": func(_ string, t *template) []string {
		return checkEnvironment(t, loadConfig)
	},
	"dynamodb policy": func(_ string, t *template) []string {
		return checkDynamoPolicy(t, dynamoActions())
	},
	"other grants": func(_ string, t *template) []string {
		verbs, err := connectionsVerbs()
		if err != nil {
			return []string{err.Error()}
		}
		return checkOtherGrants(t, verbs)
	},
	"concurrency": func(_ string, t *template) []string {
		return checkConcurrency(t)
	},
	"customer managed keys": func(_ string, t *template) []string {
		return checkKeys(t)
	},
	"async failures": func(_ string, t *template) []string {
		typ, err := selfInvocationType()
		if err != nil {
			return []string{err.Error()}
		}
		return checkAsyncFailures(t, typ)
	},
	"table": func(_ string, t *template) []string {
		return checkTable(t, dynamo.TableDefinition("table"), dynamo.TTLAttribute)
	},
	"logging": func(_ string, t *template) []string {
		return checkLogging(t)
	},
	"queries": func(_ string, t *template) []string {
		o, err := observe()
		if err != nil {
			return []string{err.Error()}
		}
		return checkQueries(t, o)
	},
	"documented": func(_ string, t *template) []string {
		doc, err := readDeployDoc()
		if err != nil {
			return []string{err.Error()}
		}
		return checkDocumented(t, doc)
	},
	"alarms": func(_ string, t *template) []string {
		o, err := observe()
		if err != nil {
			return []string{err.Error()}
		}
		return checkAlarms(t, o)
	},
}

// Resource types the checks look at.
const (
	typeFunction   = "AWS::Serverless::Function"
	typeAPI        = "AWS::ApiGatewayV2::Api"
	typeRoute      = "AWS::ApiGatewayV2::Route"
	typeDeployment = "AWS::ApiGatewayV2::Deployment"
	typeStage      = "AWS::ApiGatewayV2::Stage"
	typeIntegr     = "AWS::ApiGatewayV2::Integration"
	typeTable      = "AWS::DynamoDB::Table"
	typeRole       = "AWS::IAM::Role"
	typeQueue      = "AWS::SQS::Queue"
)

// checkRoutes checks that the routes the local stack reads from the template
// (emulator.ReadTemplate) are the router's, that every route targets an
// integration that invokes the function, and that the deployment depends on
// every route (a deployment snapshots the routes that exist when it is made)
// and is named for the routes, so that changing them makes a new one.
func checkRoutes(path string, t *template, want []string) []string {
	var problems []string
	lt, err := emulator.ReadTemplate(path)
	if err != nil {
		return []string{err.Error()}
	}
	got := sorted(lt.Routes)
	want = sorted(want)
	for _, k := range want {
		if !slices.Contains(got, k) {
			problems = append(problems, fmt.Sprintf("the router serves route %q, the template has no such route", k))
		}
	}
	for _, k := range got {
		if !slices.Contains(want, k) {
			problems = append(problems, fmt.Sprintf("the template routes %q, the router has no such route", k))
		}
	}

	fn, err := t.one(typeFunction)
	if err != nil {
		return append(problems, err.Error())
	}
	deployment, err := t.one(typeDeployment)
	if err != nil {
		return append(problems, err.Error())
	}
	if wantID := deploymentID(got); deployment.ID != wantID {
		problems = append(problems, fmt.Sprintf("the deployment of these routes must be named %s, not %s: CloudFormation makes a new deployment (a new snapshot of the routes) only when its logical ID changes", wantID, deployment.ID))
	}
	dependsOn := stringList(deployment.Attrs["DependsOn"])
	for _, r := range t.resources(typeRoute) {
		key, _ := r.Props["RouteKey"].(string)
		if !slices.Contains(dependsOn, r.ID) {
			problems = append(problems, fmt.Sprintf("deployment %s does not depend on route %s (%s)", deployment.ID, r.ID, key))
		}
		target, _ := asMap(r.Props["Target"])["Fn::Sub"].(string)
		integrationID, ok := strings.CutPrefix(target, "integrations/${")
		integrationID = strings.TrimSuffix(integrationID, "}")
		integration, found := t.resource(integrationID)
		if !ok || !found || integration.Type != typeIntegr {
			problems = append(problems, fmt.Sprintf("route %s (%s) does not target an integration of this template: Target %v", r.ID, key, r.Props["Target"]))
			continue
		}
		uri, _ := asMap(integration.Props["IntegrationUri"])["Fn::Sub"].(string)
		if integration.Props["IntegrationType"] != "AWS_PROXY" || !strings.Contains(uri, "${"+fn.ID+".Arn}") {
			problems = append(problems, fmt.Sprintf("route %s (%s): integration %s is not an AWS_PROXY integration of %s", r.ID, key, integrationID, fn.ID))
		}
	}
	return problems
}

// deploymentID returns the logical ID the template's deployment must have for
// these route keys: "Deployment" and the first 8 hex digits, upper case, of
// the SHA-256 of the sorted keys joined by newlines.
func deploymentID(routeKeys []string) string {
	sum := sha256.Sum256([]byte(strings.Join(sorted(routeKeys), "\n")))
	return "Deployment" + strings.ToUpper(hex.EncodeToString(sum[:4]))
}

// lambdaEnv are the variables Lambda sets itself (reserved: a function may
// not set them), with stand-in values.
var lambdaEnv = map[string]string{
	"AWS_REGION":                      "us-east-1",
	"AWS_DEFAULT_REGION":              "us-east-1",
	"AWS_LAMBDA_FUNCTION_NAME":        "slsrtc-SignalingFunction-abc",
	"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
	"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/slsrtc/signaling",
	"AWS_LAMBDA_LOG_STREAM_NAME":      "2026/01/01/[$LATEST]abc",
	"AWS_LAMBDA_LOG_FORMAT":           "JSON",
	"AWS_LAMBDA_LOG_LEVEL":            "INFO",
	"AWS_LAMBDA_RUNTIME_API":          "127.0.0.1:9001",
	"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
	"AWS_EXECUTION_ENV":               "AWS_Lambda_provided.al2023",
	"AWS_ACCESS_KEY_ID":               "AKIDEXAMPLE",
	"AWS_SECRET_ACCESS_KEY":           "secret",
	"AWS_SESSION_TOKEN":               "token",
	"_HANDLER":                        "bootstrap",
	"LAMBDA_TASK_ROOT":                "/var/task",
	"LAMBDA_RUNTIME_DIR":              "/var/runtime",
	"TZ":                              ":UTC",
}

// checkEnvironment runs loadConfig on the function's environment as
// CloudFormation would set it (parameters at their defaults) plus what Lambda
// sets, and checks that every variable it reads is set by one of the two,
// that the template sets no variable it never reads and none Lambda reserves,
// and that it accepts the values.
// secretStandIn stands in for a Secrets Manager dynamic reference in the
// function's environment: a SecretString of the shape the docs ask for.
var secretStandIn = `{"current":"` + strings.Repeat("x", 32) + `"}`

// vapidStandIn is the VAPID secret's stand-in: a key pair (cmd/vapid's
// output).
var vapidStandIn = func() string {
	v, err := push.NewVAPID("mailto:ops@example.com")
	if err != nil {
		panic(err)
	}
	return v.Secret()
}()

func checkEnvironment(t *template, loadConfig func(getenv func(string) string) error) []string {
	fn, err := t.one(typeFunction)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	set := map[string]string{}
	for name, v := range asMap(asMap(fn.Props["Environment"])["Variables"]) {
		if _, ok := lambdaEnv[name]; ok {
			problems = append(problems, fmt.Sprintf("the environment sets %s, which Lambda reserves", name))
			continue
		}
		s, err := t.resolve(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("environment variable %s: %v", name, err))
		}
		if strings.HasPrefix(s, "{{resolve:secretsmanager:") {
			s = secretStandIn // known only at deploy time: a value of the documented shape
			if name == "VAPID_SECRET" {
				s = vapidStandIn
			}
		}
		set[name] = s
	}
	if set["TURN_SECRETS"] == secretStandIn && set["TURN_URLS"] == "" {
		// The template's Rules deploy the TURN secret only with the TURN
		// URLs: check them together.
		set["TURN_URLS"] = "turn:turn.example.com:3478?transport=udp"
	}
	fromLambda := maps.Clone(lambdaEnv)
	if level, ok := asMap(fn.Props["LoggingConfig"])["ApplicationLogLevel"]; ok {
		if s, err := t.resolve(level); err == nil {
			fromLambda["AWS_LAMBDA_LOG_LEVEL"] = s
		}
	}

	read := map[string]bool{}
	err = loadConfig(func(name string) string {
		read[name] = true
		if v, ok := set[name]; ok {
			return v
		}
		return fromLambda[name]
	})
	for _, name := range slices.Sorted(maps.Keys(read)) {
		if _, ok := set[name]; !ok && fromLambda[name] == "" {
			problems = append(problems, fmt.Sprintf("the code reads %s, the function's environment does not set it", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(set)) {
		if !read[name] {
			problems = append(problems, fmt.Sprintf("the environment sets %s, which the code never reads", name))
		}
	}
	if err != nil {
		problems = append(problems, fmt.Sprintf("the code rejects the template's environment: %v", err))
	}
	return problems
}

// statement is one Allow statement of a policy attached to the function's
// role, and where it is.
type statement struct {
	where     string
	actions   []string
	resources []any
}

// roleStatements returns the Allow statements of every policy attached to
// the function's role: the role's inline policies, and the AWS::IAM::Policy
// and AWS::IAM::RolePolicy resources that name the role. Anything the check
// cannot see into (managed policies, SAM policy templates, NotAction) is a
// problem.
func roleStatements(t *template) ([]statement, []string) {
	fn, err := t.one(typeFunction)
	if err != nil {
		return nil, []string{err.Error()}
	}
	roleID, attr, ok := getAttOf(fn.Props["Role"])
	role, found := t.resource(roleID)
	if !ok || attr != "Arn" || !found || role.Type != typeRole {
		return nil, []string{fmt.Sprintf("function %s: Role is not !GetAtt of an %s of this template, so its permissions cannot be checked", fn.ID, typeRole)}
	}
	var problems []string
	if fn.Props["Policies"] != nil {
		problems = append(problems, fmt.Sprintf("function %s has Policies besides its Role; put every grant in the role", fn.ID))
	}
	if role.Props["ManagedPolicyArns"] != nil {
		problems = append(problems, fmt.Sprintf("role %s has managed policies, whose grants cannot be checked", role.ID))
	}

	type doc struct {
		where string
		doc   any
	}
	var docs []doc
	for _, p := range list(role.Props["Policies"]) {
		docs = append(docs, doc{fmt.Sprintf("role %s policy %v", role.ID, asMap(p)["PolicyName"]), asMap(p)["PolicyDocument"]})
	}
	for _, typ := range []string{"AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, r := range t.resources(typ) {
			attached := emulator.RefersTo(r.Props["RoleName"], role.ID)
			for _, x := range list(r.Props["Roles"]) {
				attached = attached || emulator.RefersTo(x, role.ID)
			}
			if attached {
				docs = append(docs, doc{r.ID, r.Props["PolicyDocument"]})
			}
		}
	}
	var out []statement
	for _, d := range docs {
		for _, s := range list(asMap(d.doc)["Statement"]) {
			s := asMap(s)
			if s["NotAction"] != nil || s["NotResource"] != nil {
				problems = append(problems, fmt.Sprintf("%s: NotAction/NotResource cannot be checked", d.where))
				continue
			}
			if s["Effect"] != "Allow" {
				continue
			}
			out = append(out, statement{where: d.where, actions: stringList(s["Action"]), resources: list(s["Resource"])})
		}
	}
	return out, problems
}

// checkDynamoPolicy checks that the role allows exactly the DynamoDB actions
// the code needs (need maps each action to the dynamo.Client method that needs
// it), each by name, on the table only, and Query on the index only.
func checkDynamoPolicy(t *template, need map[string]string) []string {
	statements, problems := roleStatements(t)
	table, err := t.one(typeTable)
	if err != nil {
		return append(problems, err.Error())
	}
	tableARN := map[string]any{"Fn::GetAtt": []any{table.ID, "Arn"}}

	allowed := map[string][]any{} // action without prefix → resources
	for _, s := range statements {
		for _, a := range s.actions {
			service, name, _ := strings.Cut(a, ":")
			if a == "*" || (strings.EqualFold(service, "dynamodb") && strings.ContainsAny(name, "*?")) {
				problems = append(problems, fmt.Sprintf("%s allows %q; name each DynamoDB action the code calls", s.where, a))
				continue
			}
			if !strings.EqualFold(service, "dynamodb") {
				continue
			}
			allowed[name] = append(allowed[name], s.resources...)
		}
	}
	for _, a := range slices.Sorted(maps.Keys(need)) {
		if _, ok := allowed[a]; !ok {
			problems = append(problems, fmt.Sprintf("dynamo.Client.%s needs dynamodb:%s, the role does not allow it", need[a], a))
		}
	}
	for _, a := range slices.Sorted(maps.Keys(allowed)) {
		if _, ok := need[a]; !ok {
			problems = append(problems, fmt.Sprintf("the role allows dynamodb:%s, which the code never calls", a))
			continue
		}
		want := []any{tableARN} // the table has no index: every call is on the table
		for _, r := range allowed[a] {
			if !slices.ContainsFunc(want, func(w any) bool { return fmt.Sprint(w) == fmt.Sprint(r) }) {
				problems = append(problems, fmt.Sprintf("dynamodb:%s is allowed on %v; want only %v", a, r, want))
			}
		}
	}
	return problems
}

// knownActions are the only actions the role may allow besides DynamoDB's,
// and why the code needs them.
var knownActions = map[string]string{
	"logs:CreateLogStream":          "Lambda writes the function's log",
	"logs:PutLogEvents":             "Lambda writes the function's log",
	"execute-api:ManageConnections": "the @connections calls of handlers.Sender",
	"lambda:InvokeFunction":         "the asynchronous self-invoke that sends connected",
	"sqs:SendMessage":               "Lambda records a dropped asynchronous invocation in the OnFailure destination",
}

// checkOtherGrants checks the role's grants besides DynamoDB: nothing beyond
// knownActions, @connections only on this API's stage and with exactly the
// verbs the code calls (verbs maps each to the handlers.Sender method that
// needs it), the self-invoke only on the function itself, and SendMessage
// only on the function's OnFailure destination.
func checkOtherGrants(t *template, verbs map[string]string) []string {
	statements, problems := roleStatements(t)
	fn, err := t.one(typeFunction)
	if err != nil {
		return append(problems, err.Error())
	}
	api, err := t.one(typeAPI)
	if err != nil {
		return append(problems, err.Error())
	}
	stage, err := t.one(typeStage)
	if err != nil {
		return append(problems, err.Error())
	}
	apiID, _ := t.resolve(map[string]any{"Ref": api.ID})
	stageName, err := t.resolve(stage.Props["StageName"])
	if err != nil {
		return append(problems, fmt.Sprintf("stage %s: %v", stage.ID, err))
	}
	connectionsARN := "arn:aws:execute-api:us-east-1:123456789012:" + apiID + "/" + stageName + "/"

	granted := map[string]bool{}
	grantedVerbs := map[string]bool{}
	for _, s := range statements {
		for _, a := range s.actions {
			service, _, _ := strings.Cut(a, ":")
			if strings.EqualFold(service, "dynamodb") {
				continue // checkDynamoPolicy
			}
			if _, ok := knownActions[a]; !ok {
				problems = append(problems, fmt.Sprintf("%s allows %s, which the code does not need", s.where, a))
				continue
			}
			granted[a] = true
			for _, r := range s.resources {
				switch a {
				case "execute-api:ManageConnections":
					arn, err := t.resolve(r)
					rest, onStage := strings.CutPrefix(arn, connectionsARN)
					verb, onConnections := strings.CutSuffix(rest, "/@connections/*")
					if err != nil || !onStage || !onConnections || !isVerb(verb) {
						problems = append(problems, fmt.Sprintf("%s allows %s on %v; want only %s{%s}/@connections/*", s.where, a, r, connectionsARN, strings.Join(slices.Sorted(maps.Keys(verbs)), ",")))
						continue
					}
					grantedVerbs[verb] = true
				case "lambda:InvokeFunction":
					if id, attr, ok := getAttOf(r); !ok || id != fn.ID || attr != "Arn" {
						problems = append(problems, fmt.Sprintf("%s allows %s on %v; want only the function itself (!GetAtt %s.Arn)", s.where, a, r, fn.ID))
					}
				case "sqs:SendMessage":
					queue, qproblems := failureQueue(t)
					if id, attr, ok := getAttOf(r); len(qproblems) > 0 || !ok || id != queue.ID || attr != "Arn" {
						problems = append(problems, fmt.Sprintf("%s allows %s on %v; want only the function's OnFailure destination (!GetAtt %s.Arn)", s.where, a, r, queue.ID))
					}
				}
			}
		}
	}
	for _, a := range slices.Sorted(maps.Keys(knownActions)) {
		if !granted[a] {
			problems = append(problems, fmt.Sprintf("the role does not allow %s (%s)", a, knownActions[a]))
		}
	}
	for _, v := range slices.Sorted(maps.Keys(verbs)) {
		if !grantedVerbs[v] {
			problems = append(problems, fmt.Sprintf("handlers.Sender.%s needs %s on @connections, the role does not allow it", verbs[v], v))
		}
	}
	for _, v := range slices.Sorted(maps.Keys(grantedVerbs)) {
		if _, ok := verbs[v]; !ok {
			problems = append(problems, fmt.Sprintf("the role allows %s on @connections, which the code never calls (no method of handlers.Sender needs it)", v))
		}
	}
	return problems
}

// isVerb reports whether s is one HTTP verb, upper case: no wildcard, no
// path.
func isVerb(s string) bool {
	return s != "" && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

// checkConcurrency checks that the function's reserved concurrency is a
// template parameter that reaches the function: ReservedConcurrentExecutions
// is !Ref P, or !If [C, !Ref P, !Ref AWS::NoValue] with C the condition
// that P is not empty (no reservation, for accounts too small to reserve
// any); that P defaults to a reservation (a whole number of at least 1);
// and that P does not allow 0, which would throttle every invocation.
func checkConcurrency(t *template) []string {
	fn, err := t.one(typeFunction)
	if err != nil {
		return []string{err.Error()}
	}
	v, ok := fn.Props["ReservedConcurrentExecutions"]
	if !ok {
		return []string{fmt.Sprintf("function %s has no ReservedConcurrentExecutions: nothing caps how many invocations run (and bill) at once", fn.ID)}
	}
	param, _, problem := paramRef(t, v)
	if param == "" {
		return []string{fmt.Sprintf("function %s: ReservedConcurrentExecutions is %v, %s", fn.ID, v, problem)}
	}
	var problems []string
	if problem != "" {
		problems = append(problems, fmt.Sprintf("function %s: ReservedConcurrentExecutions: %s", fn.ID, problem))
	}
	p := asMap(asMap(t.doc["Parameters"])[param])
	def := fmt.Sprint(p["Default"])
	if n, err := strconv.Atoi(def); err != nil || n < 1 {
		problems = append(problems, fmt.Sprintf("parameter %s defaults to %q, want a reservation of at least 1", param, def))
	}
	allowsZero := false
	if pattern, ok := p["AllowedPattern"].(string); ok {
		re, err := regexp.Compile(pattern)
		if err != nil {
			problems = append(problems, fmt.Sprintf("parameter %s: AllowedPattern: %v", param, err))
		} else {
			allowsZero = re.MatchString("0")
		}
	} else {
		min, err := strconv.Atoi(fmt.Sprint(p["MinValue"]))
		allowsZero = err != nil || min < 1
	}
	if allowsZero {
		problems = append(problems, fmt.Sprintf("parameter %s allows 0, which stops the function (every invocation throttled); want an AllowedPattern or MinValue that refuses it", param))
	}
	return problems
}

// failureQueue returns the queue of this template that is the OnFailure
// destination of the function's asynchronous invocations
// (EventInvokeConfig.DestinationConfig.OnFailure, Type SQS, Destination
// !GetAtt <queue>.Arn), or what is wrong.
func failureQueue(t *template) (resource, []string) {
	fn, err := t.one(typeFunction)
	if err != nil {
		return resource{}, []string{err.Error()}
	}
	onFailure := asMap(asMap(asMap(fn.Props["EventInvokeConfig"])["DestinationConfig"])["OnFailure"])
	if onFailure == nil {
		return resource{}, []string{fmt.Sprintf("function %s has no OnFailure destination (EventInvokeConfig.DestinationConfig.OnFailure): what Lambda drops of its asynchronous invocations leaves no trace", fn.ID)}
	}
	id, attr, ok := getAttOf(onFailure["Destination"])
	queue, found := t.resource(id)
	if onFailure["Type"] != "SQS" || !ok || attr != "Arn" || !found || queue.Type != typeQueue {
		return resource{}, []string{fmt.Sprintf("function %s: the OnFailure destination is %v %v, want Type SQS and !GetAtt <queue>.Arn of an %s of this template", fn.ID, onFailure["Type"], onFailure["Destination"], typeQueue)}
	}
	return queue, nil
}

// checkAsyncFailures checks that what Lambda drops of the function's
// self-invoke is kept: the code invokes itself asynchronously
// (invocationType, from selfinvoke.Invoker, is "Event"), so the function's
// EventInvokeConfig applies to it; its OnFailure destination is an
// encrypted queue of this template (the role's grant on it and the alarm on
// it are checked with the other grants and alarms); and no dead-letter
// queue as well, which would be a second, poorer copy with a grant of its
// own.
func checkAsyncFailures(t *template, invocationType string) []string {
	var problems []string
	if invocationType != "Event" {
		problems = append(problems, fmt.Sprintf("the self-invoke (selfinvoke.Invoker) uses InvocationType %q; EventInvokeConfig and its OnFailure destination apply to asynchronous (Event) invocations only", invocationType))
	}
	fn, err := t.one(typeFunction)
	if err != nil {
		return append(problems, err.Error())
	}
	if fn.Props["DeadLetterQueue"] != nil {
		problems = append(problems, fmt.Sprintf("function %s has a DeadLetterQueue besides its OnFailure destination", fn.ID))
	}
	queue, qproblems := failureQueue(t)
	if len(qproblems) > 0 {
		return append(problems, qproblems...)
	}
	if queue.Props["SqsManagedSseEnabled"] != true && queue.Props["KmsMasterKeyId"] == nil {
		problems = append(problems, fmt.Sprintf("queue %s is not encrypted: want SqsManagedSseEnabled: true or a KmsMasterKeyId", queue.ID))
	}
	return problems
}

// paramRef returns the parameter v sets a property to: v is !Ref P, or
// !If [C, !Ref P, !Ref AWS::NoValue] with C the condition that P is not
// empty, which leaves the property out when P is empty (conditional says
// which). param is "" when v is neither; problem says what is wrong.
func paramRef(t *template, v any) (param string, conditional bool, problem string) {
	var cond string
	if args, _ := asMap(v)["Fn::If"].([]any); len(args) == 3 && asMap(args[2])["Ref"] == "AWS::NoValue" {
		cond, _ = args[0].(string)
		conditional = true
		v = args[1]
	}
	name, _ := asMap(v)["Ref"].(string)
	if _, ok := asMap(t.doc["Parameters"])[name].(map[string]any); !ok {
		return "", conditional, "want !Ref of a parameter, or !If [<condition>, !Ref <parameter>, !Ref AWS::NoValue]"
	}
	if conditional {
		want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": name}, ""}}}}
		if got := asMap(t.doc["Conditions"])[cond]; fmt.Sprint(got) != fmt.Sprint(want) {
			return name, conditional, fmt.Sprintf("condition %s is %v, want !Not [!Equals [!Ref %s, \"\"]]: set the property exactly when the parameter is", cond, got, name)
		}
	}
	return name, conditional, ""
}

// checkKeys checks that the table and every log group take an optional
// customer managed KMS key from a parameter: KMSMasterKeyId or KmsKeyId is
// !If [<the parameter is set>, !Ref <parameter>, !Ref AWS::NoValue], and the
// parameter defaults to "", the AWS managed encryption. The role has no KMS
// permission (checkOtherGrants): the key policy, documented in docs/deploy.md,
// lets DynamoDB and CloudWatch Logs use the key.
func checkKeys(t *template) []string {
	var problems []string
	optionalKey := func(where string, v any) {
		param, conditional, problem := paramRef(t, v)
		switch {
		case param == "" || !conditional:
			problems = append(problems, fmt.Sprintf("%s is %v, want !If [<condition>, !Ref <key parameter>, !Ref AWS::NoValue]: a customer managed key when the parameter is set, AWS managed encryption when it is empty", where, v))
		case problem != "":
			problems = append(problems, fmt.Sprintf("%s: %s", where, problem))
		default:
			if def := asMap(asMap(t.doc["Parameters"])[param])["Default"]; def != "" {
				problems = append(problems, fmt.Sprintf("%s: parameter %s defaults to %v, want \"\" (AWS managed encryption unless a key is given)", where, param, def))
			}
		}
	}
	table, err := t.one(typeTable)
	if err != nil {
		problems = append(problems, err.Error())
	} else {
		optionalKey(fmt.Sprintf("table %s: SSESpecification.KMSMasterKeyId", table.ID), asMap(table.Props["SSESpecification"])["KMSMasterKeyId"])
	}
	for _, g := range t.resources(typeLogGroup) {
		optionalKey(fmt.Sprintf("log group %s: KmsKeyId", g.ID), g.Props["KmsKeyId"])
	}
	return problems
}

// checkTable checks the table against the definition the store and the local
// stack use: billing mode, attributes, key, indexes with their projections,
// the TTL attribute; and that it keeps data safe: point-in-time recovery,
// encryption, and a deletion policy chosen on purpose.
func checkTable(t *template, def *dynamodb.CreateTableInput, ttlAttribute string) []string {
	table, err := t.one(typeTable)
	if err != nil {
		return []string{err.Error()}
	}
	p := table.Props
	var problems []string
	differ := func(what string, got, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			problems = append(problems, fmt.Sprintf("table %s: %s is %v, dynamo.TableDefinition says %v", table.ID, what, got, want))
		}
	}
	differ("BillingMode", p["BillingMode"], def.BillingMode)

	var gotAttrs, wantAttrs []string
	for _, a := range list(p["AttributeDefinitions"]) {
		gotAttrs = append(gotAttrs, fmt.Sprintf("%v:%v", asMap(a)["AttributeName"], asMap(a)["AttributeType"]))
	}
	for _, a := range def.AttributeDefinitions {
		wantAttrs = append(wantAttrs, fmt.Sprintf("%s:%s", *a.AttributeName, a.AttributeType))
	}
	differ("AttributeDefinitions", sorted(gotAttrs), sorted(wantAttrs))

	keySchema := func(v any) []string {
		var out []string
		for _, k := range list(v) {
			out = append(out, fmt.Sprintf("%v:%v", asMap(k)["AttributeName"], asMap(k)["KeyType"]))
		}
		return out
	}
	var wantKey []string
	for _, k := range def.KeySchema {
		wantKey = append(wantKey, fmt.Sprintf("%s:%s", *k.AttributeName, k.KeyType))
	}
	differ("KeySchema", keySchema(p["KeySchema"]), wantKey)

	gotIndexes := map[string]map[string]any{}
	for _, g := range list(p["GlobalSecondaryIndexes"]) {
		name, _ := asMap(g)["IndexName"].(string)
		gotIndexes[name] = asMap(g)
	}
	var wantNames []string
	for _, w := range def.GlobalSecondaryIndexes {
		name := *w.IndexName
		wantNames = append(wantNames, name)
		g, ok := gotIndexes[name]
		if !ok {
			continue
		}
		var wk []string
		for _, k := range w.KeySchema {
			wk = append(wk, fmt.Sprintf("%s:%s", *k.AttributeName, k.KeyType))
		}
		differ("index "+name+" KeySchema", keySchema(g["KeySchema"]), wk)
		proj := asMap(g["Projection"])
		differ("index "+name+" ProjectionType", proj["ProjectionType"], w.Projection.ProjectionType)
		differ("index "+name+" NonKeyAttributes", sorted(stringList(proj["NonKeyAttributes"])), sorted(w.Projection.NonKeyAttributes))
	}
	differ("GlobalSecondaryIndexes", slices.Sorted(maps.Keys(gotIndexes)), sorted(wantNames))

	ttl := asMap(p["TimeToLiveSpecification"])
	if ttl["AttributeName"] != ttlAttribute || ttl["Enabled"] != true {
		problems = append(problems, fmt.Sprintf("table %s: TTL is %v, want enabled on %s (dynamo.TTLAttribute)", table.ID, ttl, ttlAttribute))
	}
	if asMap(p["PointInTimeRecoverySpecification"])["PointInTimeRecoveryEnabled"] != true {
		problems = append(problems, fmt.Sprintf("table %s: point-in-time recovery is not enabled", table.ID))
	}
	if asMap(p["SSESpecification"])["SSEEnabled"] != true {
		problems = append(problems, fmt.Sprintf("table %s: SSESpecification.SSEEnabled is not true", table.ID))
	}
	for _, policy := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if table.Attrs[policy] == nil {
			problems = append(problems, fmt.Sprintf("table %s: no %s; choose one on purpose", table.ID, policy))
		}
	}
	return problems
}
