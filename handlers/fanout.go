package handlers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/slsrtc/slsrtc/connections"
	"github.com/slsrtc/slsrtc/telemetry"
)

// post is what one connection receives in a fan-out: frames, in order.
type post struct {
	to     string
	frames [][]byte
}

// fanOut sends the posts in parallel, at most cfg.FanOutConcurrency at a
// time; the frames of one post go in order, and a failure stops the rest of
// that post. It returns the recipients that were gone (410) and those whose
// post failed otherwise (after the client's retries; logged). A failure
// does not stop the other posts.
func (h *server) fanOut(ctx context.Context, posts []post) (gone, failed []string) {
	if len(posts) == 0 {
		return nil, nil
	}
	start := time.Now()
	outcome := make([]error, len(posts))
	h.parallel(len(posts), func(i int) {
		p := posts[i]
		for _, f := range p.frames {
			if err := h.sender.Post(ctx, p.to, f); err != nil {
				outcome[i] = err
				if !errors.Is(err, connections.ErrGone) {
					h.log.WarnContext(ctx, "fan-out post failed", slog.String("to", p.to), slog.String("error", err.Error()))
				}
				return
			}
		}
	})
	for i, err := range outcome {
		switch {
		case errors.Is(err, connections.ErrGone):
			gone = append(gone, posts[i].to)
		case err != nil:
			failed = append(failed, posts[i].to)
		}
	}
	telemetry.FromContext(ctx).AddFanOut(len(posts), len(gone), time.Since(start))
	return gone, failed
}

// parallel runs f(0) ... f(n-1), at most cfg.FanOutConcurrency at a time,
// and returns when all have.
func (h *server) parallel(n int, f func(i int)) {
	sem := make(chan struct{}, h.cfg.FanOutConcurrency)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}
