package localstack

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTTLSweepInterval is how often the embedded DynamoDB deletes the
// items whose TTL has passed. DynamoDB itself deletes them within days; the
// local stack is quicker so that a stack left running keeps only live items
// (a sweep with nothing expired costs next to nothing).
const DefaultTTLSweepInterval = 5 * time.Second

// expirer is the part of the embedded DynamoDB (minidyn's server, patched in
// third_party/minidyn) the sweeper uses: it deletes every item of a table
// with TTL enabled whose TTL attribute is before now, each as an ordinary
// delete under the emulator's lock, never inside a transaction.
type expirer interface {
	ExpireItems(now time.Time) int
}

// ttlSweeper calls ExpireItems every interval, in the background, as
// DynamoDB's TTL process deletes expired items: lazily, as ordinary deletes,
// without the application's involvement.
type ttlSweeper struct {
	deleted atomic.Int64
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// startTTLSweeper starts sweeping db every interval with the time from now.
func startTTLSweeper(db expirer, interval time.Duration, now func() time.Time) *ttlSweeper {
	s := &ttlSweeper{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.deleted.Add(int64(db.ExpireItems(now())))
			}
		}
	}()
	return s
}

// Stop stops the sweeper and waits for a sweep in progress; calling it more
// than once, or on a nil sweeper, is harmless.
func (s *ttlSweeper) Stop() {
	if s == nil {
		return
	}
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// Deleted returns how many items the sweeper has deleted.
func (s *ttlSweeper) Deleted() int64 {
	if s == nil {
		return 0
	}
	return s.deleted.Load()
}
