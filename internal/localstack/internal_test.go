package localstack_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/truora/minidyn/server"

	"github.com/slsrtc/slsrtc/internal/localstack"
)

// TestInternalError makes DynamoDB fail every transaction (HTTP 500, which
// the SDK retries and then gives up on): createroom is answered with the
// internal error code and a safe message, the function logs the cause in
// full at ERROR, nothing is stored, and once DynamoDB recovers the same
// connection creates a room.
func TestInternalError(t *testing.T) {
	var failing atomic.Bool
	db := server.NewServer()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected failure"}`))
			return
		}
		db.ServeHTTP(w, r)
	}))
	defer hs.Close()
	s := newStack(t, func(o *localstack.Options) { o.DynamoDBEndpoint = hs.URL })

	ss := newSession(t, s)
	ss.run(connect("A"))
	failing.Store(true)
	ss.run(send("A", `{"action":"createroom"}`))
	failing.Store(false)
	ss.run(send("A", `{"action":"createroom"}`))
	ss.checkGolden("protocol/internal")

	var logged bool
	for line := range strings.Lines(s.logs.String()) {
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, `"code":"internal"`) &&
			strings.Contains(line, "injected failure") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no ERROR log line with code internal and the cause; logs:\n%s", s.logs.String())
	}
}
