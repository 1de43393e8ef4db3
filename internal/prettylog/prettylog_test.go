package prettylog

import (
	"bytes"
	"testing"
)

func TestRender(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"invocation",
			`{"time":"2026-11-25T14:45:22.08293985Z","level":"INFO","msg":"invocation","lambdaRequestId":"x","requestId":"r","connectionId":"L0SM9cOFvHcCIhw=","routeKey":"enterroom","eventType":"MESSAGE","action":"enterroom","roomID":"3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b","outcome":"ok","dynamodbCalls":2,"fanOut":3,"durationMs":4.25}`,
			`14:45:22.082 INFO  enterroom    conn=L0SM9cOFvHcCIhw= room=3f1c2a9e ok 4.25ms action=enterroom dynamodbCalls=2 fanOut=3`},
		{"rejected",
			`{"time":"2026-11-25T14:45:22Z","level":"INFO","msg":"invocation","connectionId":"A","routeKey":"enterroom","outcome":"rejected","code":"room-full","reason":"the room is full","durationMs":1}`,
			`14:45:22.000 INFO  enterroom    conn=A rejected:room-full 1ms reason="the room is full"`},
		{"internal event",
			`{"time":"2026-11-25T14:45:22Z","level":"INFO","msg":"invocation","connectionId":"A","eventType":"INTERNAL","internalEvent":"connected","outcome":"ok","durationMs":0.5}`,
			`14:45:22.000 INFO  (connected)  conn=A ok 0.5ms`},
		{"other message", `{"time":"2026-11-25T14:45:22Z","level":"WARN","msg":"fan-out post failed","to":"B","error":"boom"}`,
			`14:45:22.000 WARN  fan-out post failed error=boom to=B`},
		{"emf",
			`{"_aws":{"Timestamp":1795617922000,"CloudWatchMetrics":[{"Namespace":"slsrtc","Dimensions":[["routeKey"]],"Metrics":[{"Name":"Invocations","Unit":"Count"}]},{"Namespace":"slsrtc","Dimensions":[[]],"Metrics":[{"Name":"DynamoDBLatency","Unit":"Milliseconds"}]}]},"routeKey":"ping","Invocations":1,"DynamoDBLatency":[1.5,2]}`,
			`14:45:22.000 METRIC DynamoDBLatency=[1.5,2] Invocations=1`},
		{"not JSON", `panic: something`, `panic: something`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Render([]byte(tt.in)); got != tt.want {
				t.Errorf("Render =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

func TestWriterSplitsLines(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	w.Write([]byte(`{"time":"2026-11-25T14:45:22Z","level":"INFO","msg":"a"}` + "\n" + `{"time":"2026-11-25T14:45:22Z",`))
	w.Write([]byte(`"level":"INFO","msg":"b"}` + "\n"))
	if got, want := out.String(), "14:45:22.000 INFO  a\n14:45:22.000 INFO  b\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
