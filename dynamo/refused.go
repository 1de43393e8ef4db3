package dynamo

import "sync"

// maxRefusedSenders bounds the senders a refusedSenders remembers; past it,
// it forgets them all (it is only a hint).
const maxRefusedSenders = 10000

// refusedSenders remembers, in one Lambda instance, the senders whose
// messages it refused in their current message window. Their next message
// in that window skips the charge, which would fail, and only counts the
// refusal: one UpdateItem instead of two, so a flood costs half the writes
// it would. It is a hint, never the decision: a sender it does not know
// (another instance refused it) is charged as usual, and the count in the
// table is what refuses and what tells abuse.
type refusedSenders struct {
	mu sync.Mutex
	m  map[string]int64 // the window each sender was refused in
}

// add remembers that from was refused in window.
func (r *refusedSenders) add(from string, window int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil || len(r.m) >= maxRefusedSenders {
		r.m = map[string]int64{}
	}
	r.m[from] = window
}

// has reports whether from was refused in window.
func (r *refusedSenders) has(from string, window int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.m[from]
	return ok && w == window
}
