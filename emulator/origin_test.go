package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Issue 19 item 5: a web page of another origin cannot reach @connections or Lambda
// Invoke (it could forge events into a running stack); programs, which send no
// Origin, and pages of the stack's own origin can. A refused request posts, deletes
// and invokes nothing.
func TestCrossOriginRefused(t *testing.T) {
	s := startStack(t, nil, nil)
	c := s.dial(t, nil)
	own := "http://" + s.host
	port := s.host[strings.LastIndex(s.host, ":")+1:]
	connPath := "/" + testStage + "/@connections/" + c.id
	invokePath := invokePrefix + testFunction + "/invocations"
	const forged = `{"requestContext":{"eventType":"MESSAGE","routeKey":"message","connectionId":"forged"},"body":"forged"}`

	tests := []struct {
		name    string
		headers map[string]string
		allowed bool
	}{
		{"no origin (SDKs, CLI, curl)", nil, true},
		{"own origin", map[string]string{"Origin": own, "Sec-Fetch-Site": "same-origin"}, true},
		{"own origin as localhost", map[string]string{"Origin": "http://localhost:" + port}, true},
		{"typed in the address bar", map[string]string{"Sec-Fetch-Site": "none"}, true},
		{"another site", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, false},
		{"another site, Origin only", map[string]string{"Origin": "https://evil.example"}, false},
		{"another port of localhost", map[string]string{"Origin": "http://localhost:5173", "Sec-Fetch-Site": "same-site"}, false},
		{"DNS rebinding", map[string]string{"Origin": "http://rebind.example:" + port}, false},
		{"sandboxed frame or file", map[string]string{"Origin": "null"}, false},
		{"no-cors request, no Origin", map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
	}
	parent := t // the replacement clients must outlive the subtest that dials them
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			endpoints := []struct {
				method, path, body, wantType string
				wantStatus                   int
			}{
				{http.MethodPost, connPath, "posted " + tt.name, codeForbidden, http.StatusOK},
				{http.MethodGet, connPath, "", codeForbidden, http.StatusOK},
				{http.MethodPost, invokePath, forged, codeAccessDenied, http.StatusOK},
			}
			for _, e := range endpoints {
				status, header, body := s.request(t, e.method, e.path, e.body, tt.headers)
				switch {
				case tt.allowed && status != e.wantStatus:
					t.Errorf("%s %s = %d %s, want %d", e.method, e.path, status, body, e.wantStatus)
				case !tt.allowed && (status != http.StatusForbidden || header.Get("X-Amzn-ErrorType") != e.wantType):
					t.Errorf("%s %s = %d %s %s, want 403 %s", e.method, e.path, status, header.Get("X-Amzn-ErrorType"), body, e.wantType)
				}
			}
			if tt.allowed {
				if got, want := c.next(t), "posted "+tt.name; got != want {
					t.Errorf("frame %q, want %q", got, want)
				}
			}
			if status, _, _ := s.request(t, http.MethodDelete, connPath, "", tt.headers); !tt.allowed && status != http.StatusForbidden {
				t.Errorf("DELETE = %d, want 403", status)
			} else if tt.allowed {
				c = s.dial(parent, nil) // it was deleted
				connPath = "/" + testStage + "/@connections/" + c.id
			}
			c.assertOpenByPost(t, s) // nothing refused was delivered before the probe
		})
	}
	// The real SDK clients send no Origin: they work.
	c.assertOpenByPost(t, s)
	if _, err := s.lambdaClient().Invoke(ctx(t), &lambdasvc.InvokeInput{
		FunctionName: aws.String(testFunction), InvocationType: lambdatypes.InvocationTypeEvent, Payload: []byte(`{"sdk":true}`),
	}); err != nil {
		t.Errorf("Invoke with the SDK: %v", err)
	}
	if err := s.gw.Shutdown(ctx(t)); err != nil { // waits for the Event invocations
		t.Fatal(err)
	}
	allowed := 0
	for _, tt := range tests {
		if tt.allowed {
			allowed++
		}
	}
	forgedRuns := s.rec.count(func(r recorded) bool { return r.ev.Body == "forged" })
	if forgedRuns != allowed {
		t.Errorf("the forged event ran %d times, want %d (once per allowed case)", forgedRuns, allowed)
	}
	if n := s.rec.count(func(r recorded) bool { var v struct{ SDK bool }; _ = json.Unmarshal(r.raw, &v); return v.SDK }); n != 1 {
		t.Errorf("the SDK's invocation ran %d times, want 1", n)
	}
}
