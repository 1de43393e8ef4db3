//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/stacktest"
)

// waitTimeout bounds every wait on an event; generous, as the tests run
// under -race on two cores.
const waitTimeout = 30 * time.Second

// startStack starts the local stack in-process with extra handlers mounted,
// shuts it down when the test ends, and prints the function's logs if the
// test failed.
func startStack(t *testing.T, handlers map[string]http.Handler) *localstack.Stack {
	t.Helper()
	s, _ := stacktest.Start(t, localstack.Options{Template: "../../template.yaml", Handlers: handlers})
	return s
}

// timeout returns a context that ends after waitTimeout or with the test.
func timeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}
