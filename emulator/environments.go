package emulator

import "sync"

// environments are the function's execution environments: goroutines that
// each run one invocation at a time and then wait for the next, as Lambda's
// do. An invocation takes the environment that finished last (warm: its
// stack has already grown to what the handler needs, so the invocation does
// not pay for growing it again through the SDK's deep middleware chain) or,
// when none is idle, starts a new one (Lambda scaling out). At most
// maxIdleEnvironments wait; the rest end, as Lambda retires environments
// it no longer needs.
type environments struct {
	mu     sync.Mutex
	idle   []chan func()
	closed bool
}

// maxIdleEnvironments bounds the environments kept waiting after a burst.
const maxIdleEnvironments = 256

// run runs f in an idle environment, or in a new one.
func (e *environments) run(f func()) {
	e.mu.Lock()
	if n := len(e.idle); n > 0 {
		work := e.idle[n-1]
		e.idle = e.idle[:n-1]
		e.mu.Unlock()
		work <- f // buffered: the environment is waiting for it
		return
	}
	e.mu.Unlock()
	work := make(chan func(), 1)
	work <- f
	go e.serve(work)
}

// serve is one environment: it runs what it is given until it is not kept.
func (e *environments) serve(work chan func()) {
	for f := range work {
		f()
		if !e.park(work) {
			return
		}
	}
}

// park makes an environment that has finished idle, or reports that it
// should end.
func (e *environments) park(work chan func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || len(e.idle) >= maxIdleEnvironments {
		return false
	}
	e.idle = append(e.idle, work)
	return true
}

// close ends the idle environments; those running end when they finish, and
// a later run starts one that ends after its invocation.
func (e *environments) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	for _, work := range e.idle {
		close(work)
	}
	e.idle = nil
}
