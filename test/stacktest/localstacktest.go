// Package stacktest starts the local stack for a test, as
// net/http/httptest starts a server: on a free port, shut down when the test
// ends, with the function's logs printed if the test failed.
package stacktest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// shutdownTimeout bounds the shutdown at the end of a test.
const shutdownTimeout = 10 * time.Second

// logTail is how much of the function's logs a failed test prints.
const logTail = 8 << 10

// Start starts a stack with opts and returns it with the buffer that
// collects the function's log lines (opts.Logs is replaced by it). The stack
// is shut down when the test ends; a failed shutdown fails the test.
//
// Unless opts.Getenv sets RESUME_GRACE_SECONDS, the stack has no resume (0):
// a member whose connection closes leaves at once, as the seed's protocol
// has it, so that a test of anything else does not wait for a window to
// pass. A test of resume sets it.
func Start(t testing.TB, opts localstack.Options) (*localstack.Stack, *testkit.LogBuffer) {
	t.Helper()
	logs := &testkit.LogBuffer{}
	opts.Logs = logs
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	opts.Getenv = func(name string) string {
		if v := getenv(name); v != "" || name != "RESUME_GRACE_SECONDS" {
			return v
		}
		return "0"
	}
	s, err := localstack.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("function logs (last %d KB):\n%s", logTail>>10, logs.Tail(logTail))
		}
	})
	return s, logs
}
