package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestFullJitter: every wait is within [0, min(limit, base·2^(n-1))], and
// the waits spread over that range (not all at its end).
func TestFullJitter(t *testing.T) {
	b := FullJitter(100*time.Millisecond, 2*time.Second)
	for attempt := 1; attempt <= 40; attempt++ {
		limit := min(2*time.Second, 100*time.Millisecond<<min(attempt-1, 20))
		low := 0
		for range 200 {
			d := b(attempt)
			if d < 0 || d > limit {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", attempt, d, limit)
			}
			if d < limit/2 {
				low++
			}
		}
		if low == 0 {
			t.Errorf("backoff(%d): no wait in the lower half of [0, %v] in 200 draws: not jittered", attempt, limit)
		}
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep with an ended context = %v, want context.Canceled", err)
	}
}
