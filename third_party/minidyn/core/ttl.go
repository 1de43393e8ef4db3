package core

import (
	"container/heap"
	"math"
	"strconv"
	"time"

	"github.com/truora/minidyn/types"
)

// ttlHorizon is how far in the past an expiration time may be for DynamoDB's
// TTL to act on it: items whose TTL attribute is more than five years old are
// never deleted.
const ttlHorizon = 5 * 365 * 24 * time.Hour

// timeToLive is a table's TTL: the attribute named by UpdateTimeToLive and a
// queue of the items that have it, soonest expiration first. A nil
// *timeToLive is TTL disabled; its methods then do nothing.
type timeToLive struct {
	attribute string
	queue     expiryQueue
}

// track (re)queues the item stored under key by its TTL attribute: a
// top-level Number of epoch seconds. An item without one leaves the queue.
func (ttl *timeToLive) track(key string, item map[string]*types.Item) {
	if ttl == nil {
		return
	}

	at, ok := expiresAt(item, ttl.attribute)
	if !ok {
		ttl.untrack(key)

		return
	}

	if i, queued := ttl.queue.pos[key]; queued {
		ttl.queue.entries[i].at = at
		heap.Fix(&ttl.queue, i)

		return
	}

	heap.Push(&ttl.queue, expiryEntry{key: key, at: at})
}

func (ttl *timeToLive) untrack(key string) {
	if ttl == nil {
		return
	}

	if i, queued := ttl.queue.pos[key]; queued {
		heap.Remove(&ttl.queue, i)
	}
}

// reset queues every item of data afresh.
func (ttl *timeToLive) reset(data map[string]map[string]*types.Item) {
	if ttl == nil {
		return
	}

	ttl.queue = expiryQueue{pos: map[string]int{}}

	for key, item := range data {
		if at, ok := expiresAt(item, ttl.attribute); ok {
			ttl.queue.entries = append(ttl.queue.entries, expiryEntry{key: key, at: at})
			ttl.queue.pos[key] = len(ttl.queue.entries) - 1
		}
	}

	heap.Init(&ttl.queue)
}

func expiresAt(item map[string]*types.Item, attribute string) (float64, bool) {
	v, ok := item[attribute]
	if !ok || v == nil || v.N == nil {
		return 0, false
	}

	at, err := strconv.ParseFloat(*v.N, 64)
	if err != nil || math.IsNaN(at) {
		return 0, false
	}

	return at, true
}

// SetTimeToLive enables TTL on attribute, or disables it, as UpdateTimeToLive
// does. Enabling TTL that is enabled, or disabling it when it is not, is a
// ValidationException, as in DynamoDB; unlike DynamoDB, the change takes
// effect at once and may be changed again right away.
func (t *Table) SetTimeToLive(attribute string, enabled bool) error {
	switch {
	case enabled && t.ttl != nil:
		return types.NewError("ValidationException", "TimeToLive is already enabled", nil)
	case !enabled && t.ttl == nil:
		return types.NewError("ValidationException", "TimeToLive is already disabled", nil)
	case enabled && attribute == "":
		return types.NewError("ValidationException", "TimeToLiveSpecification.AttributeName must not be empty", nil)
	case !enabled:
		t.ttl = nil

		return nil
	}

	t.ttl = &timeToLive{attribute: attribute}
	t.ttl.reset(t.Data)

	return nil
}

// TimeToLive returns the TTL attribute and whether TTL is enabled.
func (t *Table) TimeToLive() (attribute string, enabled bool) {
	if t.ttl == nil {
		return "", false
	}

	return t.ttl.attribute, true
}

// ExpireItems deletes up to limit items whose TTL has passed at now, soonest
// expiration first, as DynamoDB's TTL does: an item expires once its TTL
// attribute, a top-level Number of epoch seconds, is less than now, and not
// if it is more than five years in the past; any other value is ignored. Each
// deletion is an ordinary delete (indexes included). It returns the deleted
// items. With TTL disabled it does nothing.
func (t *Table) ExpireItems(now time.Time, limit int) []map[string]*types.Item {
	if t.ttl == nil {
		return nil
	}

	nowSecs := float64(now.UnixNano()) / 1e9
	horizon := float64(now.Add(-ttlHorizon).UnixNano()) / 1e9

	var deleted []map[string]*types.Item

	for len(deleted) < limit && t.ttl.queue.Len() > 0 {
		next := t.ttl.queue.entries[0]
		if next.at >= nowSecs {
			break
		}

		if next.at < horizon {
			// Too old for TTL: never deleted, unless written again.
			t.ttl.untrack(next.key)

			continue
		}

		item, ok := t.Data[next.key]
		if !ok {
			t.ttl.untrack(next.key) // cannot happen: writes keep the queue in step

			continue
		}

		deleted = append(deleted, item)
		t.removeItem(next.key)
	}

	return deleted
}

type expiryEntry struct {
	key string
	at  float64 // epoch seconds
}

// expiryQueue is a min-heap of expiry entries by time, with the position of
// each key so that a rewritten or deleted item moves or leaves in O(log n).
type expiryQueue struct {
	entries []expiryEntry
	pos     map[string]int
}

func (q expiryQueue) Len() int { return len(q.entries) }

func (q expiryQueue) Less(i, j int) bool {
	if q.entries[i].at != q.entries[j].at {
		return q.entries[i].at < q.entries[j].at
	}

	return q.entries[i].key < q.entries[j].key
}

func (q expiryQueue) Swap(i, j int) {
	q.entries[i], q.entries[j] = q.entries[j], q.entries[i]
	q.pos[q.entries[i].key] = i
	q.pos[q.entries[j].key] = j
}

func (q *expiryQueue) Push(x any) {
	e := x.(expiryEntry) //nolint:forcetypeassert // heap.Push passes what we push
	q.pos[e.key] = len(q.entries)
	q.entries = append(q.entries, e)
}

func (q *expiryQueue) Pop() any {
	last := q.entries[len(q.entries)-1]
	q.entries = q.entries[:len(q.entries)-1]
	delete(q.pos, last.key)

	return last
}
