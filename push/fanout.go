package push

import (
	"context"
	"errors"
	"sync"
)

// Status is what became of a message to one subscription, and what the
// caller does about it.
type Status int

const (
	// Sent: the push service accepted the message.
	Sent Status = iota
	// Gone: the subscription will never work again (ErrGone): delete it.
	Gone
	// Failed: the message was not delivered (ErrRejected, ErrUnavailable,
	// or the context ended): log it, keep the subscription.
	Failed
)

// String returns "sent", "gone" or "failed".
func (s Status) String() string {
	switch s {
	case Sent:
		return "sent"
	case Gone:
		return "gone"
	}
	return "failed"
}

// StatusOf returns the Status of Send's answer err.
func StatusOf(err error) Status {
	switch {
	case err == nil:
		return Sent
	case errors.Is(err, ErrGone):
		return Gone
	}
	return Failed
}

// An Outcome is what became of the message to one subscription.
type Outcome struct {
	Status Status
	// Err is Send's error; nil when Sent.
	Err error
}

// SendAll sends m to every subscription, Concurrency at a time, and returns
// one Outcome per subscription, in their order. It returns once every send
// has ended, and no later than shortly after ctx is done: a send that has
// not started then is Failed with ErrUnavailable and ctx's error, one in
// flight is abandoned the same way.
func (s *Sender) SendAll(ctx context.Context, subs []Subscription, m Message) []Outcome {
	out := make([]Outcome, len(subs))
	limit := max(s.Concurrency, 1)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, sub := range subs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			for j := i; j < len(subs); j++ {
				out[j] = Outcome{Status: Failed, Err: &SendError{Reason: ErrUnavailable, Err: ctx.Err()}}
			}
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := s.Send(ctx, sub, m)
			out[i] = Outcome{Status: StatusOf(err), Err: err}
		})
	}
	wg.Wait()
	return out
}
