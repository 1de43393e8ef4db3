package deploy

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// templatePath is the template sam deploy and the local stack use.
var templatePath = filepath.Join("..", "..", "template.yaml")

// readTemplate parses the template at path.
func readTemplate(t *testing.T, path string) *template {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseTemplate(b)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return tpl
}

// The template agrees with the code on routes, environment, permissions and
// table.
func TestTemplate(t *testing.T) {
	tpl := readTemplate(t, templatePath)
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		t.Run(name, func(t *testing.T) {
			for _, p := range checks[name](templatePath, tpl) {
				t.Error(p)
			}
		})
	}
}

// Each check fails on a template that drifted from the code. Every case is
// one edit of the real template.yaml, written to a temporary copy; an edit
// that no longer applies (its old text is gone or ambiguous) fails the test,
// so the cases cannot silently stop testing anything.
func TestChecksCatchDrift(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		check    string
		want     string // part of one problem the check reports
	}{
		{
			name: "route renamed", check: "routes",
			old: "RouteKey: ping", new: "RouteKey: pong",
			want: `the router serves route "ping"`,
		},
		{
			name: "route the router lacks", check: "routes",
			old: "RouteKey: ping", new: "RouteKey: pong",
			want: `the template routes "pong"`,
		},
		{
			name: "routes changed, deployment kept", check: "routes",
			old: "RouteKey: ping", new: "RouteKey: pong",
			want: "the deployment of these routes must be named Deployment",
		},
		{
			name: "deployment misses a route", check: "routes",
			old: "      - PingRoute\n", new: "",
			want: "does not depend on route PingRoute",
		},
		{
			name: "route to another integration", check: "routes",
			old: "RouteKey: ping\n      Target: !Sub \"integrations/${Integration}\"", new: "RouteKey: ping\n      Target: integrations/abc123",
			want: "route PingRoute (ping) does not target an integration",
		},
		{
			name: "variable the code reads is missing", check: "environment",
			old: "          METRICS_NAMESPACE: !Ref MetricsNamespace\n", new: "",
			want: "the code reads METRICS_NAMESPACE, the function's environment does not set it",
		},
		{
			name: "variable the code never reads", check: "environment",
			old: "          FANOUT_CONCURRENCY: \"16\"\n", new: "          FANOUT_CONCURRENCY: \"16\"\n          FAN_OUT: \"16\"\n",
			want: "the environment sets FAN_OUT, which the code never reads",
		},
		{
			name: "variable Lambda reserves", check: "environment",
			old: "          FANOUT_CONCURRENCY: \"16\"\n", new: "          FANOUT_CONCURRENCY: \"16\"\n          AWS_REGION: eu-west-1\n",
			want: "the environment sets AWS_REGION, which Lambda reserves",
		},
		{
			name: "value the code rejects", check: "environment",
			old: "DEFAULT_ROOM_CAPACITY: \"8\"", new: "DEFAULT_ROOM_CAPACITY: \"80\"",
			want: "the code rejects the template's environment",
		},
		{
			name: "action the code calls is not allowed", check: "dynamodb policy",
			old: "                  - dynamodb:BatchGetItem\n", new: "",
			want: "dynamo.Client.BatchGetItem needs dynamodb:BatchGetItem, the role does not allow it",
		},
		{
			name: "transaction action is not allowed", check: "dynamodb policy",
			old: "                  - dynamodb:ConditionCheckItem\n", new: "",
			want: "dynamo.Client.TransactWriteItems needs dynamodb:ConditionCheckItem, the role does not allow it",
		},
		{
			name: "action the code never calls", check: "dynamodb policy",
			old: "                  - dynamodb:GetItem\n", new: "                  - dynamodb:GetItem\n                  - dynamodb:Scan\n",
			want: "the role allows dynamodb:Scan, which the code never calls",
		},
		{
			name: "wildcard action", check: "dynamodb policy",
			old: "                  - dynamodb:GetItem\n", new: "                  - dynamodb:Get*\n",
			want: `allows "dynamodb:Get*"`,
		},
		{
			name: "items on every table", check: "dynamodb policy",
			old: "                Resource: !GetAtt Table.Arn\n", new: "                Resource: \"*\"\n",
			want: "dynamodb:PutItem is allowed on *",
		},
		{
			name: "query on an index", check: "dynamodb policy",
			old: "                  - dynamodb:Query\n", new: "",
			want: "dynamo.Client.Query needs dynamodb:Query, the role does not allow it",
		},
		{
			name: "managed policy", check: "dynamodb policy",
			old: "Action: sts:AssumeRole\n      Policies:", new: "Action: sts:AssumeRole\n      ManagedPolicyArns: [arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess]\n      Policies:",
			want: "role SignalingFunctionRole has managed policies",
		},
		{
			name: "self-invoke on every function", check: "other grants",
			old: "            Resource: !GetAtt SignalingFunction.Arn\n", new: "            Resource: \"*\"\n",
			want: "allows lambda:InvokeFunction on *",
		},
		{
			name: "no self-invoke", check: "other grants",
			old: "            Action: lambda:InvokeFunction\n            Resource: !GetAtt SignalingFunction.Arn\n", new: "            Action: lambda:GetFunction\n            Resource: !GetAtt SignalingFunction.Arn\n",
			want: "the role does not allow lambda:InvokeFunction",
		},
		{
			name: "connections of every API", check: "other grants",
			old: "${WebSocketApi}/${StageName}/GET/@connections/*", new: "*/GET/@connections/*",
			want: "allows execute-api:ManageConnections on",
		},
		{
			name: "connections with every verb", check: "other grants",
			old: "${StageName}/GET/@connections/*", new: "${StageName}/*/@connections/*",
			want: "want only arn:aws:execute-api:us-east-1:123456789012:websocketapi/slsrtc/{DELETE,GET,POST}/@connections/*",
		},
		{
			name: "connections verb the code calls is not allowed", check: "other grants",
			old: "                  - !Sub \"arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${StageName}/GET/@connections/*\"\n", new: "",
			want: "handlers.Sender.Check needs GET on @connections, the role does not allow it",
		},
		{
			name: "connections verb the code never calls", check: "other grants",
			old: "${StageName}/GET/@connections/*\"\n", new: "${StageName}/GET/@connections/*\"\n                  - !Sub \"arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${StageName}/PATCH/@connections/*\"\n",
			want: "PATCH",
		},
		{
			name: "no reserved concurrency", check: "concurrency",
			old: "      ReservedConcurrentExecutions: !If [ReserveConcurrency, !Ref ReservedConcurrency, !Ref AWS::NoValue]\n", new: "",
			want: "has no ReservedConcurrentExecutions",
		},
		{
			name: "reserved concurrency fixed in the template", check: "concurrency",
			old: "ReservedConcurrentExecutions: !If [ReserveConcurrency, !Ref ReservedConcurrency, !Ref AWS::NoValue]", new: "ReservedConcurrentExecutions: 100",
			want: "ReservedConcurrentExecutions is 100, want !Ref of a parameter",
		},
		{
			name: "reserved concurrency on another condition", check: "concurrency",
			old: "!If [ReserveConcurrency, !Ref ReservedConcurrency,", new: "!If [NotifyAlarms, !Ref ReservedConcurrency,",
			want: "condition NotifyAlarms is",
		},
		{
			name: "no reservation by default", check: "concurrency",
			old: "    Default: \"100\"\n    AllowedPattern: \"^$|^[1-9][0-9]{0,4}$\"", new: "    Default: \"\"\n    AllowedPattern: \"^$|^[1-9][0-9]{0,4}$\"",
			want: "parameter ReservedConcurrency defaults to \"\"",
		},
		{
			name: "reserved concurrency of 0 allowed", check: "concurrency",
			old: "AllowedPattern: \"^$|^[1-9][0-9]{0,4}$\"", new: "AllowedPattern: \"^$|^[0-9]{1,5}$\"",
			want: "parameter ReservedConcurrency allows 0",
		},
		{
			name: "no failure destination", check: "async failures",
			old: "        DestinationConfig:\n          OnFailure:\n            Type: SQS\n            Destination: !GetAtt AsyncFailureQueue.Arn\n", new: "",
			want: "has no OnFailure destination",
		},
		{
			name: "failure destination outside the template", check: "async failures",
			old: "            Destination: !GetAtt AsyncFailureQueue.Arn", new: "            Destination: arn:aws:sqs:us-east-1:123456789012:other",
			want: "want Type SQS and !GetAtt <queue>.Arn",
		},
		{
			name: "failure queue not encrypted", check: "async failures",
			old: "      SqsManagedSseEnabled: true\n", new: "",
			want: "queue AsyncFailureQueue is not encrypted",
		},
		{
			name: "dead-letter queue as well", check: "async failures",
			old: "      EventInvokeConfig:\n", new: "      DeadLetterQueue:\n        Type: SQS\n        TargetArn: !GetAtt AsyncFailureQueue.Arn\n      EventInvokeConfig:\n",
			want: "has a DeadLetterQueue besides its OnFailure destination",
		},
		{
			name: "send to every queue", check: "other grants",
			old: "                Action: sqs:SendMessage\n                Resource: !GetAtt AsyncFailureQueue.Arn\n", new: "                Action: sqs:SendMessage\n                Resource: \"*\"\n",
			want: "allows sqs:SendMessage on *; want only the function's OnFailure destination",
		},
		{
			name: "no grant on the failure queue", check: "other grants",
			old: "                Action: sqs:SendMessage\n", new: "                Action: sqs:GetQueueUrl\n",
			want: "the role does not allow sqs:SendMessage",
		},
		{
			name: "alarm on another queue", check: "alarms",
			old: "          Value: !GetAtt AsyncFailureQueue.QueueName", new: "          Value: other",
			want: "alarm AsyncFailuresAlarm watches AWS/SQS ApproximateNumberOfMessagesVisible with dimensions",
		},
		{
			name: "no alarm on dropped invocations", check: "alarms",
			old: "MetricName: ApproximateNumberOfMessagesVisible", new: "MetricName: NumberOfMessagesDeleted",
			want: "no alarm on AWS/SQS ApproximateNumberOfMessagesVisible",
		},
		{
			name: "table key fixed in the template", check: "customer managed keys",
			old: "KMSMasterKeyId: !If [UseTableKey, !Ref TableKmsKeyArn, !Ref AWS::NoValue]", new: "KMSMasterKeyId: alias/mine",
			want: "table Table: SSESpecification.KMSMasterKeyId is alias/mine, want !If",
		},
		{
			name: "table key always set", check: "customer managed keys",
			old: "KMSMasterKeyId: !If [UseTableKey, !Ref TableKmsKeyArn, !Ref AWS::NoValue]", new: "KMSMasterKeyId: !Ref TableKmsKeyArn",
			want: "table Table: SSESpecification.KMSMasterKeyId is map[Ref:TableKmsKeyArn], want !If",
		},
		{
			name: "a customer managed table key by default", check: "customer managed keys",
			old: "  TableKmsKeyArn:\n    Type: String\n    Default: \"\"\n", new: "  TableKmsKeyArn:\n    Type: String\n    Default: arn:aws:kms:us-east-1:123456789012:key/abc\n",
			want: "parameter TableKmsKeyArn defaults to arn:aws:kms:us-east-1:123456789012:key/abc",
		},
		{
			name: "log group without the key parameter", check: "customer managed keys",
			old: "signaling\"\n      RetentionInDays: !Ref LogRetentionInDays\n      KmsKeyId: !If [UseLogsKey, !Ref LogsKmsKeyArn, !Ref AWS::NoValue]\n", new: "signaling\"\n      RetentionInDays: !Ref LogRetentionInDays\n",
			want: "log group FunctionLogGroup: KmsKeyId is <nil>, want !If",
		},
		{
			name: "log key on the wrong condition", check: "customer managed keys",
			old: "  UseLogsKey: !Not [!Equals [!Ref LogsKmsKeyArn, \"\"]]", new: "  UseLogsKey: !Not [!Equals [!Ref TableKmsKeyArn, \"\"]]",
			want: "log group AccessLogGroup: KmsKeyId: condition UseLogsKey is",
		},
		{
			name: "an index the code does not read", check: "table",
			old: "      KeySchema:\n        - AttributeName: pk\n          KeyType: HASH\n        - AttributeName: sk\n          KeyType: RANGE\n",
			new: "      KeySchema:\n        - AttributeName: pk\n          KeyType: HASH\n        - AttributeName: sk\n          KeyType: RANGE\n" +
				"      GlobalSecondaryIndexes:\n        - IndexName: RoomMate\n          KeySchema:\n            - AttributeName: sk\n              KeyType: HASH\n          Projection:\n            ProjectionType: KEYS_ONLY\n",
			want: "GlobalSecondaryIndexes is [RoomMate]",
		},
		{
			name: "no sort key", check: "table",
			old: "        - AttributeName: sk\n          KeyType: RANGE\n", new: "",
			want: "KeySchema is [pk:HASH]",
		},
		{
			name: "key renamed", check: "table",
			old: "      KeySchema:\n        - AttributeName: pk\n", new: "      KeySchema:\n        - AttributeName: id\n",
			want: "KeySchema is [id:HASH sk:RANGE]",
		},
		{
			name: "TTL on another attribute", check: "table",
			old: "AttributeName: expiresAt\n        Enabled: true", new: "AttributeName: expiredAt\n        Enabled: true",
			want: "want enabled on expiresAt",
		},
		{
			name: "no point-in-time recovery", check: "table",
			old: "PointInTimeRecoveryEnabled: true", new: "PointInTimeRecoveryEnabled: false",
			want: "point-in-time recovery is not enabled",
		},
		{
			name: "no deletion policy", check: "table",
			old: "  Table:\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: Delete\n", new: "  Table:\n    Type: AWS::DynamoDB::Table\n",
			want: "no DeletionPolicy",
		},
		{
			name: "text logs", check: "logging",
			old: "LogFormat: JSON", new: "LogFormat: Text",
			want: "LogFormat is Text, want JSON",
		},
		{
			name: "system logs at WARN", check: "logging",
			old: "SystemLogLevel: INFO", new: "SystemLogLevel: WARN",
			want: "SystemLogLevel is WARN",
		},
		{
			name: "log level the code rejects", check: "logging",
			old: "AllowedValues: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]", new: "AllowedValues: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL, VERBOSE]",
			want: `allows "VERBOSE", which the code rejects`,
		},
		{
			name: "access log without the connection", check: "logging",
			old: `"connectionId":"$context.connectionId",`, new: "",
			want: `the access log has no "connectionId"`,
		},
		{
			name: "query reads a field the code does not log", check: "queries",
			old: `| filter roomID = "PASTE-ROOM-ID"`, new: `| filter roomId = "PASTE-ROOM-ID"`,
			want: "query RoomStoryQuery reads roomId, which no line in its log groups has",
		},
		{
			name: "query misses the log group of its fields", check: "queries",
			old: "LogGroupNames: [!Ref FunctionLogGroup, !Ref AccessLogGroup]", new: "LogGroupNames: [!Ref FunctionLogGroup]",
			want: "query ConnectionStoryQuery reads integrationStatus",
		},
		{
			name: "cold starts from the wrong record", check: "queries",
			old: "ispresent(record.metrics.initDurationMs)", new: "ispresent(record.initDurationMs)",
			want: "reads record.initDurationMs",
		},
		{
			name: "query not named after the stack", check: "queries",
			old: `Name: !Sub "${AWS::StackName}/room-story"`, new: "Name: room-story",
			want: "no saved query named <stack>/room-story",
		},
		{
			name: "alarm on a metric the code does not write", check: "alarms",
			old: "MetricName: InternalErrors", new: "MetricName: InternalError",
			want: "alarm InternalErrorsAlarm watches InternalError, which the code never writes",
		},
		{
			name: "alarm on a dimension set the code does not write", check: "alarms",
			old: "      MetricName: InternalErrors\n", new: "      MetricName: InternalErrors\n      Dimensions:\n        - Name: code\n          Value: internal\n",
			want: "alarm InternalErrorsAlarm watches InternalErrors with dimensions [code]",
		},
		{
			name: "alarm on a REST API metric", check: "alarms",
			old: "MetricName: ExecutionError", new: "MetricName: 5XXError",
			want: "not a metric of WebSocket APIs",
		},
		{
			name: "no alarm on throttles", check: "alarms",
			old: "MetricName: Throttles", new: "MetricName: Duration",
			want: "no alarm on AWS/Lambda Throttles",
		},
		{
			name: "alarms always notify", check: "alarms",
			old: "    Default: \"\"\n    AllowedPattern: \"^$|^arn:aws[a-z-]*:sns", new: "    Default: arn:aws:sns:us-east-1:123456789012:ops\n    AllowedPattern: \"^$|^arn:aws[a-z-]*:sns",
			want: "alarm ApiExecutionErrorsAlarm AlarmActions is",
		},
		{
			name: "parameter default changed", check: "documented",
			old: "  EntersPerMinute:\n    Type: Number\n    Default: 30\n", new: "  EntersPerMinute:\n    Type: Number\n    Default: 60\n",
			want: "docs/deploy.md gives the parameter EntersPerMinute the default `30`, the template `60`",
		},
		{
			name: "parameter added", check: "documented",
			old: "Parameters:\n", new: "Parameters:\n  Undocumented:\n    Type: String\n",
			want: "docs/deploy.md does not document the parameter Undocumented",
		},
		{
			name: "parameter removed", check: "documented",
			old: "  AuthAudience:\n    Type: String\n    Default: slsrtc\n", new: "",
			want: "docs/deploy.md documents a parameter AuthAudience the template does not have",
		},
		{
			name: "environment variable added", check: "documented",
			old: "          ENTERS_PER_MINUTE: !Ref EntersPerMinute\n", new: "          ENTERS_PER_MINUTE: !Ref EntersPerMinute\n          UNDOCUMENTED: x\n",
			want: "docs/deploy.md does not document the environment variable UNDOCUMENTED",
		},
		{
			name: "alarm on another function", check: "alarms",
			old:  "      MetricName: Errors\n      Dimensions:\n        - Name: FunctionName\n          Value: !Ref SignalingFunction\n",
			new:  "      MetricName: Errors\n      Dimensions:\n        - Name: FunctionName\n          Value: other\n",
			want: "alarm FunctionErrorsAlarm watches AWS/Lambda Errors with dimensions",
		},
	}
	src, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := strings.Count(string(src), tt.old); n != 1 {
				t.Fatalf("template.yaml has %d copies of the text this case edits, want 1; update the case:\n%s", n, tt.old)
			}
			path := filepath.Join(t.TempDir(), "template.yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(string(src), tt.old, tt.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			problems := checks[tt.check](path, readTemplate(t, path))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("check %q reported %q, want a problem containing %q", tt.check, problems, tt.want)
			}
		})
	}
}

// A transaction needs the per-item actions; every other call its own name.
func TestActionsOf(t *testing.T) {
	type client interface {
		GetItem(context.Context)
		TransactWriteItems(context.Context)
		TransactGetItems(context.Context)
	}
	got := actionsOf(reflect.TypeFor[client]())
	want := map[string]string{
		"GetItem":            "TransactGetItems",
		"PutItem":            "TransactWriteItems",
		"UpdateItem":         "TransactWriteItems",
		"DeleteItem":         "TransactWriteItems",
		"ConditionCheckItem": "TransactWriteItems",
	}
	// GetItem is needed by both; either method may be named.
	if got["GetItem"] == "GetItem" {
		want["GetItem"] = "GetItem"
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("actionsOf = %v, want %v", got, want)
	}
}

// Each method of the @connections sender needs its own verb, and a method
// whose verb is unknown is an error, not a guess.
func TestVerbsOf(t *testing.T) {
	type postCheck interface {
		Post()
		Check()
	}
	type postCheckClose interface {
		Post()
		Check()
		Close()
	}
	type withKick interface {
		Post()
		Kick()
	}
	tests := []struct {
		name    string
		sender  reflect.Type
		want    map[string]string
		wantErr string
	}{
		{"post and check", reflect.TypeFor[postCheck](), map[string]string{"POST": "Post", "GET": "Check"}, ""},
		{"close too", reflect.TypeFor[postCheckClose](), map[string]string{"POST": "Post", "GET": "Check", "DELETE": "Close"}, ""},
		{"unknown method", reflect.TypeFor[withKick](), map[string]string{"POST": "Post"}, "[Kick]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := verbsOf(tt.sender)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("verbsOf = %v, want %v", got, tt.want)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("verbsOf: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("verbsOf error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

// The OnFailure destination holds only what Lambda drops of asynchronous
// invocations: a self-invoke of another type would bypass it.
func TestAsyncFailuresNeedAnAsyncSelfInvoke(t *testing.T) {
	tpl := readTemplate(t, templatePath)
	tests := []struct {
		invocationType string
		want           string // part of a problem; "" for none
	}{
		{"Event", ""},
		{"RequestResponse", `uses InvocationType "RequestResponse"`},
		{"DryRun", `uses InvocationType "DryRun"`},
	}
	for _, tt := range tests {
		t.Run(tt.invocationType, func(t *testing.T) {
			problems := checkAsyncFailures(tpl, tt.invocationType)
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Errorf("checkAsyncFailures = %q, want none", problems)
			case tt.want != "" && !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }):
				t.Errorf("checkAsyncFailures = %q, want a problem containing %q", problems, tt.want)
			}
		})
	}
}

// Every check objects to a template written without them (testdata/naive.yaml).
func TestNaiveTemplate(t *testing.T) {
	path := filepath.Join("testdata", "naive.yaml")
	tpl := readTemplate(t, path)
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		t.Run(name, func(t *testing.T) {
			problems := checks[name](path, tpl)
			if len(problems) == 0 {
				t.Errorf("check %q found nothing wrong with %s", name, path)
			}
			for _, p := range problems {
				t.Log(p)
			}
		})
	}
}
