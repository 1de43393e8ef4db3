//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/internal/localstack"
)

// waitTimeout bounds every wait on an event; generous, as the tests run
// under -race on two cores.
const waitTimeout = 30 * time.Second

// syncBuffer is a bytes.Buffer safe for the stack's concurrent log writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startStack starts the local stack in-process with extra handlers mounted,
// shuts it down when the test ends, and prints the function's logs if the
// test failed.
func startStack(t *testing.T, handlers map[string]http.Handler) *localstack.Stack {
	t.Helper()
	logs := &syncBuffer{}
	s, err := localstack.Start(t.Context(), localstack.Options{Template: "../template.yaml", Logs: logs, Handlers: handlers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("function logs:\n%s", logs.String())
		}
	})
	return s
}

// timeout returns a context that ends after waitTimeout or with the test.
func timeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}
