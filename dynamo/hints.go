package dynamo

import "sync"

// maxHints bounds the senders a hints remembers; past it, it forgets them
// all (it is only a hint).
const maxHints = 10000

// hints remembers, in one Lambda instance, something it learnt about each
// of the senders it served, to save a call the next time it serves them. It
// is a hint, never the decision: a sender it does not know (another
// instance served it) costs what it would without it. The Store keeps two:
//
//   - refused: the window each sender's messages were refused in. Their
//     next message in that window skips the charge, which would fail, and
//     only counts the refusal: one UpdateItem instead of two, so a flood
//     costs half the writes it would; the count in the table is what
//     refuses and what tells abuse.
//   - stale: the message counters of older windows seen on each sender's
//     item (staleMsgCounters), which its next charge removes.
type hints[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

// set remembers v for from.
func (h *hints[V]) set(from string, v V) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= maxHints {
		h.m = map[string]V{}
	}
	h.m[from] = v
}

// forget forgets from.
func (h *hints[V]) forget(from string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, from)
}

// get returns what is remembered for from.
func (h *hints[V]) get(from string) (V, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[from]
	return v, ok
}
