package core

import (
	"iter"
	"slices"
)

// sortedSet is a set kept as a sorted slice: the keys of one partition.
// Adding or removing a member costs a binary search and a move of the members
// after it, which is next to nothing for the small partitions tables usually
// have, and it takes far less memory than a map per partition.
type sortedSet[K any] struct {
	keys []K
	cmp  func(a, b K) int
}

func newSortedSet[K any](cmp func(a, b K) int) *sortedSet[K] {
	return &sortedSet[K]{cmp: cmp}
}

func (s *sortedSet[K]) add(k K) {
	i, found := slices.BinarySearchFunc(s.keys, k, s.cmp)
	if !found {
		s.keys = slices.Insert(s.keys, i, k)
	}
}

func (s *sortedSet[K]) remove(k K) {
	if i, found := slices.BinarySearchFunc(s.keys, k, s.cmp); found {
		s.keys = slices.Delete(s.keys, i, i+1)
	}
}

func (s *sortedSet[K]) len() int { return len(s.keys) }

// lazyOrder is the sorted order of a set kept elsewhere (a table's items, an
// index's entries). Writes only mark it stale, in O(1); it is rebuilt, in
// O(n log n), when it is read after a change. Whole tables are read in order
// rarely (Scan, or a Query that cannot be narrowed to a partition), while
// writes are frequent: before, every insert re-sorted every key.
type lazyOrder[K any] struct {
	sorted []K
	fresh  bool
}

func (o *lazyOrder[K]) invalidate() {
	o.sorted, o.fresh = nil, false
}

// keys returns the n members of members in the order of cmp. The slice is
// shared until the next change: callers must not modify it.
func (o *lazyOrder[K]) keys(n int, members iter.Seq[K], cmp func(a, b K) int) []K {
	if !o.fresh {
		sorted := make([]K, 0, n)
		for k := range members {
			sorted = append(sorted, k)
		}

		slices.SortFunc(sorted, cmp)
		o.sorted, o.fresh = sorted, true
	}

	return o.sorted
}
