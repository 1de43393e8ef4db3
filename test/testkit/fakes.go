package testkit

import (
	"context"
	"errors"
	"sync"

	"github.com/slsrtc/slsrtc/connections"
)

// Sender is a fake of the handlers' Sender (the @connections client): it
// records every frame posted to each connection, answers
// connections.ErrGone for connections marked gone and an error for those
// marked failing, and can run a hook before each post. It is safe for
// concurrent use; the zero value is not, use NewSender.
type Sender struct {
	// PostFn, if set, runs before each post is recorded; an error it returns
	// is the post's answer.
	PostFn func(ctx context.Context, connectionID string, data []byte) error

	mu       sync.Mutex
	posts    map[string][][]byte
	gone     map[string]bool
	failing  map[string]bool
	attempts map[string]int
	checks   int
	closed   []string
	views    map[string]*View
}

// ErrFailing is what a post to a connection marked failing answers: what the
// @connections client returns after its retries of a 500.
var ErrFailing = errors.New("operation error ApiGatewayManagementApi: PostToConnection: StatusCode: 500")

// NewSender returns a Sender that accepts every post.
func NewSender() *Sender {
	return &Sender{posts: map[string][][]byte{}, gone: map[string]bool{}, failing: map[string]bool{},
		attempts: map[string]int{}, views: map[string]*View{}}
}

// Post records data for connectionID.
func (s *Sender) Post(ctx context.Context, connectionID string, data []byte) error {
	if s.PostFn != nil {
		if err := s.PostFn(ctx, connectionID, data); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts[connectionID]++
	switch {
	case s.gone[connectionID]:
		return connections.ErrGone
	case s.failing[connectionID]:
		return ErrFailing
	}
	s.posts[connectionID] = append(s.posts[connectionID], append([]byte(nil), data...))
	if v := s.views[connectionID]; v != nil {
		if err := v.Apply(data); err != nil {
			panic(err) // a malformed presence frame: the test must fail loudly
		}
	}
	return nil
}

// Check answers connections.ErrGone for connections marked gone, and counts
// the checks.
func (s *Sender) Check(_ context.Context, connectionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks++
	if s.gone[connectionID] {
		return connections.ErrGone
	}
	return nil
}

// Close marks the connection gone (DeleteConnection), and records that it
// was closed; a gone one answers connections.ErrGone.
func (s *Sender) Close(_ context.Context, connectionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone[connectionID] {
		return connections.ErrGone
	}
	s.gone[connectionID] = true
	s.closed = append(s.closed, connectionID)
	return nil
}

// Closed returns the connections closed so far.
func (s *Sender) Closed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.closed...)
}

// SetGone marks connections gone: API Gateway answers 410.
func (s *Sender) SetGone(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.gone[id] = true
	}
}

// SetFailing marks connections whose posts fail (not gone).
func (s *Sender) SetFailing(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.failing[id] = true
	}
}

// Take returns and forgets the frames posted to a connection.
func (s *Sender) Take(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.posts[id] {
		out = append(out, string(p))
	}
	delete(s.posts, id)
	return out
}

// Reset drops every frame and count recorded so far.
func (s *Sender) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts = map[string][][]byte{}
	s.attempts = map[string]int{}
	s.checks = 0
}

// Attempts returns how many posts were made to a connection, gone and
// failing ones included.
func (s *Sender) Attempts(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[id]
}

// Checks returns how many checks were made, and sets the count to zero.
func (s *Sender) Checks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.checks
	s.checks = 0
	return n
}

// Watch returns id's view of room, built from every frame posted to id from
// now on (whether or not the test takes them).
func (s *Sender) Watch(id, room string) *View {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := NewView(room)
	s.views[id] = v
	return v
}

// Invoker is a fake of the handlers' Invoker (the asynchronous
// self-invoke): it records the payloads, or fails with Err. The zero value
// is ready.
type Invoker struct {
	// Err, if set, is what every invocation answers.
	Err error

	mu       sync.Mutex
	payloads [][]byte
}

// InvokeAsync records payload.
func (i *Invoker) InvokeAsync(_ context.Context, payload []byte) error {
	if i.Err != nil {
		return i.Err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.payloads = append(i.payloads, payload)
	return nil
}

// Take returns and forgets the recorded payloads.
func (i *Invoker) Take() [][]byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	p := i.payloads
	i.payloads = nil
	return p
}
