// Package retry holds what every retry loop of the function and the local
// stack shares: a full-jitter exponential backoff and a sleep that ends
// with its context.
package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// FullJitter returns a full-jitter exponential backoff: for attempt n
// (1-based), a random wait in [0, min(limit, base·2^(n-1))] (AWS
// Architecture Blog, "Exponential Backoff And Jitter").
func FullJitter(base, limit time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := limit
		if attempt >= 1 && attempt < 32 && base<<(attempt-1) > 0 && base<<(attempt-1) < limit {
			d = base << (attempt - 1)
		}
		return rand.N(d + 1)
	}
}

// Sleep waits d, or until ctx ends (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
