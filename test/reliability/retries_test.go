package reliability_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// backoffLog wraps the store's production backoff and records each wait.
type backoffLog struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (b *backoffLog) install(s *dynamo.Store) {
	next := s.Backoff
	s.Backoff = func(attempt int) time.Duration {
		d := next(attempt)
		b.mu.Lock()
		b.waits = append(b.waits, d)
		b.mu.Unlock()
		return d
	}
}

// TestTransactionConflictsRetried: a transaction cancelled for
// TransactionConflict or ThrottlingError, or refused with
// TransactionConflictException, is sent again after a jittered backoff
// (the store's, 10 ms doubling to at most 250 ms) until it succeeds; after
// MaxAttempts (6) sends the client gets ErrContention.
func TestTransactionConflictsRetried(t *testing.T) {
	for _, f := range []dynamotest.Failure{dynamotest.ConflictCanceled, dynamotest.ThrottlingCanceled, dynamotest.TransactionConflict} {
		for _, times := range []int{3, 6} {
			t.Run(f.Name+"/"+map[int]string{3: "three times", 6: "budget exhausted"}[times], func(t *testing.T) {
				t.Parallel()
				waits := &backoffLog{}
				e := newEnv(t, withFaults, withStore(waits.install))
				e.mustConnect("A", "B")
				room := e.createRoom("A", 2)
				e.faults.Clear()
				e.faults.Inject(dynamotest.Fault{Op: "TransactWriteItems", Times: times, Failure: f})
				_, err := e.store.Enter(context.Background(), "B", room, "bob", "bob")

				// One read of the connection, then the transaction's sends.
				calls := len(e.faults.Calls()) - 1
				if times < e.store.MaxAttempts {
					if err != nil || calls != times+1 {
						t.Errorf("Enter after %d failures: %v in %d sends, want success in %d", times, err, calls, times+1)
					}
				} else if !errors.Is(err, dynamo.ErrContention) || calls != e.store.MaxAttempts {
					t.Errorf("Enter = %v in %d sends, want ErrContention after %d", err, calls, e.store.MaxAttempts)
				}
				if len(waits.waits) != min(times, e.store.MaxAttempts-1) {
					t.Errorf("backed off %d times: %v", len(waits.waits), waits.waits)
				}
				for i, d := range waits.waits {
					if limit := min(250*time.Millisecond, 10*time.Millisecond<<i); d < 0 || d > limit {
						t.Errorf("wait %d = %v, outside [0, %v]", i+1, d, limit)
					}
				}
				dynamotest.CheckInvariants(t, e.db)
			})
		}
	}
}

// TestJitteredBackoff: the store's backoff is full jitter (spread over
// [0, cap]) and capped at 250 ms however many attempts.
func TestJitteredBackoff(t *testing.T) {
	b := dynamo.New(nil, "t").Backoff
	for _, attempt := range []int{1, 3, 6, 40} {
		limit := min(250*time.Millisecond, 10*time.Millisecond<<(min(attempt, 20)-1))
		lo, hi := limit, time.Duration(0)
		for range 2000 {
			d := b(attempt)
			if d < 0 || d > limit {
				t.Fatalf("attempt %d waited %v, outside [0, %v]", attempt, d, limit)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// 2000 uniform draws land in the bottom and top tenth (p ≈ 1e-91 not to).
		if lo > limit/10 || hi < limit*9/10 {
			t.Errorf("attempt %d: waits only in [%v, %v] of [0, %v]: not jittered", attempt, lo, hi, limit)
		}
	}
}

// TestSDKRetriesThrottling: DynamoDB's throttling answer
// (ProvisionedThroughputExceededException) is retried by the SDK client the
// Lambda builds (standard retryer, 4 attempts, throttling backoff); after 4
// throttled attempts the error reaches the caller. Plain reads and writes
// go through it (GetItem here; the fault suite throttles every call).
func TestSDKRetriesThrottling(t *testing.T) {
	for _, times := range []int{sdkAttempts - 1, sdkAttempts} {
		t.Run(map[int]string{3: "three throttled", 4: "all attempts throttled"}[times], func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, withFaults)
			e.mustConnect("A")
			e.faults.Clear()
			e.faults.Inject(dynamotest.Fault{Op: "GetItem", Times: times, Failure: dynamotest.Throttled})
			_, err := e.store.Connection(context.Background(), "A")
			calls := len(e.faults.Calls())
			var throttled *types.ProvisionedThroughputExceededException
			switch {
			case times < sdkAttempts && (err != nil || calls != times+1):
				t.Errorf("Connection = %v in %d calls, want success in %d", err, calls, times+1)
			case times == sdkAttempts && (!errors.As(err, &throttled) || calls != sdkAttempts):
				t.Errorf("Connection = %v in %d calls, want ProvisionedThroughputExceededException after %d", err, calls, sdkAttempts)
			}
		})
	}
}
