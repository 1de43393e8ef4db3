// Package chaos makes the local stack behave like AWS at its worst, for
// developers testing their clients and for tests: $disconnect late or never,
// slow and throttled @connections calls, DynamoDB transaction conflicts,
// throttling and latency. A Profile says how often and how much; every random
// choice comes from its Seed, so a run can be repeated. AWS is the profile
// without faults: every kind of call only takes as long as it does on AWS
// (Latencies, log-normal from published medians and 99th percentiles), so
// that latencies measured locally are the ones users would see.
//
// The gateway (package emulator) applies the $disconnect and @connections parts of
// a Profile; DynamoDBProxy, an HTTP proxy in front of a DynamoDB endpoint,
// applies the DynamoDB part through the real SDK path, in DynamoDB's own error
// shapes, and also fails chosen calls on demand (Inject) for tests.
package chaos

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Profile is what chaos to make. The zero value makes none.
type Profile struct {
	// Seed seeds every random choice. The same seed makes the same sequence
	// of choices for each kind of event ($disconnects, @connections calls,
	// DynamoDB calls); which request meets which choice still depends on the
	// order in which concurrent requests arrive.
	Seed int64

	// DisconnectLoss is the probability that a connection's $disconnect is
	// never invoked (AWS delivers it on a best-effort basis only).
	DisconnectLoss float64
	// DisconnectDelay delays each $disconnect that is invoked by a random
	// duration in the range.
	DisconnectDelay Range

	// ConnectionsLatency delays each @connections call (POST, GET, DELETE)
	// by a random duration in the range before it is served.
	ConnectionsLatency Range
	// ConnectionsThrottle is the probability that an @connections call is
	// answered 429 LimitExceededException without being served.
	ConnectionsThrottle float64

	// DynamoDBConflict is the probability that a call on existing items
	// meets a concurrent transaction: TransactWriteItems and TransactGetItems
	// are cancelled (TransactionCanceledException, one item's reason
	// TransactionConflict), UpdateItem and DeleteItem fail with
	// TransactionConflictException. PutItem is spared (it mostly creates
	// items no transaction can hold yet), and so are reads.
	DynamoDBConflict float64
	// DynamoDBThrottle is the probability that a data-plane call is
	// throttled: ProvisionedThroughputExceededException or
	// ThrottlingException, which the SDK retries.
	DynamoDBThrottle float64
	// DynamoDBLatency delays each data-plane call by a random duration in the
	// range. Control-plane calls (CreateTable, DescribeTable, ...) never meet
	// chaos.
	DynamoDBLatency Range

	// Latencies delay each kind of call by a draw from its published (or
	// assumed) distribution, on top of the Ranges above: the AWS profile
	// sets them and no fault.
	Latencies Latencies
}

// Default returns the profile of -chaos: AWS at its worst, yet usable.
func Default(seed int64) Profile {
	return Profile{
		Seed:                seed,
		DisconnectLoss:      0.1,
		DisconnectDelay:     Range{Max: 3 * time.Second},
		ConnectionsLatency:  Range{Min: 5 * time.Millisecond, Max: 250 * time.Millisecond},
		ConnectionsThrottle: 0.05,
		DynamoDBConflict:    0.05,
		DynamoDBThrottle:    0.05,
		DynamoDBLatency:     Range{Min: 2 * time.Millisecond, Max: 50 * time.Millisecond},
	}
}

// Validate returns an error unless every probability is in [0, 1] and every
// range is sound.
func (p Profile) Validate() error {
	var errs []error
	for name, v := range map[string]float64{
		"DisconnectLoss": p.DisconnectLoss, "ConnectionsThrottle": p.ConnectionsThrottle,
		"DynamoDBConflict": p.DynamoDBConflict, "DynamoDBThrottle": p.DynamoDBThrottle,
	} {
		if v < 0 || v > 1 || v != v {
			errs = append(errs, fmt.Errorf("%s %v is not a probability in [0, 1]", name, v))
		}
	}
	if p.DynamoDBConflict+p.DynamoDBThrottle > 1 {
		errs = append(errs, fmt.Errorf("DynamoDBConflict + DynamoDBThrottle is %v, over 1", p.DynamoDBConflict+p.DynamoDBThrottle))
	}
	for name, r := range map[string]Range{
		"DisconnectDelay": p.DisconnectDelay, "ConnectionsLatency": p.ConnectionsLatency, "DynamoDBLatency": p.DynamoDBLatency,
	} {
		if r.Min < 0 || r.Max < r.Min {
			errs = append(errs, fmt.Errorf("%s %v: want 0 <= min <= max", name, r))
		}
	}
	errs = append(errs, p.Latencies.validate()...)
	return errors.Join(errs...)
}

// Gateway reports whether the profile makes any chaos in the API Gateway
// emulator ($disconnect, @connections, invocations).
func (p Profile) Gateway() bool {
	return p.DisconnectLoss > 0 || p.DisconnectDelay.Max > 0 || p.ConnectionsLatency.Max > 0 || p.ConnectionsThrottle > 0 ||
		!p.Latencies.Connections.IsZero() || !p.Latencies.Invoke.IsZero()
}

// DynamoDB reports whether the profile makes any chaos in DynamoDB.
func (p Profile) DynamoDB() bool {
	return p.DynamoDBConflict > 0 || p.DynamoDBThrottle > 0 || p.DynamoDBLatency.Max > 0 || p.Latencies.anyDynamoDB()
}

// String describes the profile in one line, for a banner.
func (p Profile) String() string {
	var parts []string
	if p.DisconnectLoss > 0 || p.DisconnectDelay.Max > 0 {
		parts = append(parts, fmt.Sprintf("$disconnect lost %s, late %v", percent(p.DisconnectLoss), p.DisconnectDelay))
	}
	if p.ConnectionsThrottle > 0 || p.ConnectionsLatency.Max > 0 {
		parts = append(parts, fmt.Sprintf("@connections 429 %s, latency %v", percent(p.ConnectionsThrottle), p.ConnectionsLatency))
	}
	if p.DynamoDBConflict > 0 || p.DynamoDBThrottle > 0 || p.DynamoDBLatency.Max > 0 {
		parts = append(parts, fmt.Sprintf("DynamoDB conflict %s, throttle %s, latency %v",
			percent(p.DynamoDBConflict), percent(p.DynamoDBThrottle), p.DynamoDBLatency))
	}
	if l := p.Latencies.String(); l != "" {
		parts = append(parts, "latencies (p50/p99) "+l)
	}
	if len(parts) == 0 {
		return fmt.Sprintf("seed %d: no faults", p.Seed)
	}
	return fmt.Sprintf("seed %d: %s", p.Seed, strings.Join(parts, "; "))
}

func percent(p float64) string { return fmt.Sprintf("%g%%", p*100) }

// Range is a range of durations, Min to Max inclusive; the zero Range is no
// delay.
type Range struct {
	Min, Max time.Duration
}

// String formats r as ParseRange reads it: "0s..3s", or "0s" for no delay.
func (r Range) String() string {
	if r == (Range{}) {
		return "0s"
	}
	return r.Min.String() + ".." + r.Max.String()
}

// ParseRange reads "MIN..MAX" (e.g. "100ms..2s"), or one duration "D" meaning
// "0..D" (no delay for "0").
func ParseRange(s string) (Range, error) {
	lo, hi, isRange := strings.Cut(s, "..")
	if !isRange {
		d, err := time.ParseDuration(s)
		if err != nil {
			return Range{}, fmt.Errorf("range %q: %w", s, err)
		}
		return Range{Max: d}, validRange(s, Range{Max: d})
	}
	from, err := time.ParseDuration(lo)
	if err != nil {
		return Range{}, fmt.Errorf("range %q: %w", s, err)
	}
	to, err := time.ParseDuration(hi)
	if err != nil {
		return Range{}, fmt.Errorf("range %q: %w", s, err)
	}
	r := Range{Min: from, Max: to}
	return r, validRange(s, r)
}

func validRange(s string, r Range) error {
	if r.Min < 0 || r.Max < r.Min {
		return fmt.Errorf("range %q: want 0 <= min <= max", s)
	}
	return nil
}

// Rand is a concurrency-safe source of the random choices of one kind of
// event, derived from a Profile's Seed and the kind's name.
type Rand struct {
	mu sync.Mutex
	r  *rand.Rand
}

// NewRand returns the source of the choices of the kind stream, under seed.
func NewRand(seed int64, stream string) *Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return &Rand{r: rand.New(rand.NewPCG(uint64(seed), h.Sum64()))}
}

// Chance reports true with probability p. It draws a number even when p is 0
// or 1, so that every decision consumes the same draws whatever the profile.
func (r *Rand) Chance(p float64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Float64() < p
}

// Duration returns a duration drawn uniformly from rg.
func (r *Rand) Duration(rg Range) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rg.Max <= rg.Min {
		return rg.Min
	}
	return rg.Min + time.Duration(r.r.Int64N(int64(rg.Max-rg.Min)+1))
}

// Float64 returns a number in [0, 1).
func (r *Rand) Float64() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Float64()
}

// IntN returns an int in [0, n).
func (r *Rand) IntN(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.IntN(n)
}

// Stats counts the chaos a profile made.
type Stats struct {
	// DroppedDisconnects are the connections whose $disconnect was never
	// invoked, in the order they closed.
	DroppedDisconnects []string
	// DelayedDisconnects counts the $disconnects invoked late.
	DelayedDisconnects int
	// ThrottledConnectionsCalls counts the @connections calls answered 429 by
	// chaos (not those of a full client buffer).
	ThrottledConnectionsCalls int
	// DynamoDBConflicts and DynamoDBThrottles count the DynamoDB calls failed.
	DynamoDBConflicts, DynamoDBThrottles int
}

// Add returns the sum of s and o.
func (s Stats) Add(o Stats) Stats {
	return Stats{
		DroppedDisconnects:        append(append([]string(nil), s.DroppedDisconnects...), o.DroppedDisconnects...),
		DelayedDisconnects:        s.DelayedDisconnects + o.DelayedDisconnects,
		ThrottledConnectionsCalls: s.ThrottledConnectionsCalls + o.ThrottledConnectionsCalls,
		DynamoDBConflicts:         s.DynamoDBConflicts + o.DynamoDBConflicts,
		DynamoDBThrottles:         s.DynamoDBThrottles + o.DynamoDBThrottles,
	}
}

// String summarises s in one line.
func (s Stats) String() string {
	return fmt.Sprintf("%d $disconnects dropped, %d late; %d @connections calls throttled; DynamoDB: %d conflicts, %d throttled",
		len(s.DroppedDisconnects), s.DelayedDisconnects, s.ThrottledConnectionsCalls, s.DynamoDBConflicts, s.DynamoDBThrottles)
}
