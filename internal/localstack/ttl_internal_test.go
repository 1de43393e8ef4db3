package localstack

import (
	"sync/atomic"
	"testing"
	"time"
)

// fakeExpirer deletes n items per call and records the times it was given.
type fakeExpirer struct {
	n     int
	calls atomic.Int64
	last  atomic.Int64 // Unix seconds of the last now
}

func (f *fakeExpirer) ExpireItems(now time.Time) int {
	f.calls.Add(1)
	f.last.Store(now.Unix())
	return f.n
}

// TestTTLSweeper checks the sweeper's life: it sweeps with the clock it was
// given until stopped, counts what it deleted, and stops once (also nil).
func TestTTLSweeper(t *testing.T) {
	db := &fakeExpirer{n: 3}
	clock := time.Unix(1_800_000_000, 0)
	s := startTTLSweeper(db, time.Millisecond, func() time.Time { return clock })
	for db.calls.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	s.Stop()
	s.Stop()
	calls := db.calls.Load()
	if got := s.Deleted(); got != 3*calls {
		t.Errorf("Deleted() = %d after %d sweeps of 3, want %d", got, calls, 3*calls)
	}
	if got := db.last.Load(); got != clock.Unix() {
		t.Errorf("swept at %d, want the given clock %d", got, clock.Unix())
	}
	time.Sleep(5 * time.Millisecond)
	if db.calls.Load() != calls {
		t.Error("swept after Stop")
	}

	var none *ttlSweeper
	none.Stop()
	if none.Deleted() != 0 {
		t.Error("a nil sweeper deleted items")
	}
}
