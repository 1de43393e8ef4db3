package emulator

import (
	"sync"
	"testing"
	"time"
)

// TestEnvironments: an invocation runs in the environment that finished
// last when one is idle, in a new one when all are busy; at most
// maxIdleEnvironments wait, and close ends the idle ones.
func TestEnvironments(t *testing.T) {
	var e environments
	ran := make(chan struct{})
	e.run(func() { ran <- struct{}{} })
	<-ran
	waitIdle(t, &e, 1)

	// Busy environments: each of these runs blocks until released, so each
	// needs one of its own.
	release := make(chan struct{})
	var started sync.WaitGroup
	const busy = maxIdleEnvironments + 10
	started.Add(busy)
	for range busy {
		e.run(func() {
			started.Done()
			<-release
		})
	}
	started.Wait() // would block for ever if a run waited for a busy environment
	e.mu.Lock()
	if n := len(e.idle); n != 0 {
		t.Errorf("%d idle while all are busy, want 0", n)
	}
	e.mu.Unlock()
	close(release)
	waitIdle(t, &e, maxIdleEnvironments) // the rest ended

	// The environment that finished last runs the next invocation.
	e.mu.Lock()
	last := e.idle[len(e.idle)-1]
	e.mu.Unlock()
	e.run(func() { ran <- struct{}{} })
	<-ran
	waitIdle(t, &e, maxIdleEnvironments)
	e.mu.Lock()
	if e.idle[len(e.idle)-1] != last {
		t.Error("the invocation did not run in the environment that finished last")
	}
	e.mu.Unlock()

	e.close()
	waitIdle(t, &e, 0)
	e.run(func() { ran <- struct{}{} }) // after close: a new one, which then ends
	<-ran
	waitIdle(t, &e, 0)
}

// waitIdle waits until n environments are idle.
func waitIdle(t *testing.T, e *environments, n int) {
	t.Helper()
	for range 20000 { // 20 s at most
		e.mu.Lock()
		got := len(e.idle)
		e.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t.Fatalf("%d idle environments, want %d", len(e.idle), n)
}
