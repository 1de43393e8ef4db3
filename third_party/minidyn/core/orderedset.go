package core

import "slices"

// orderedSet is a set that hands out its members in sorted order. Adding and
// removing a member is O(1); the sorted view is rebuilt, in O(n log n), only
// when it is asked for after a change. Tables and indexes use it for the
// order of their keys: writes are frequent, while reads of a whole table in
// order (Scan, or a Query that cannot be narrowed to a partition) are rare,
// and each partition read by a Query is small.
type orderedSet[K comparable] struct {
	members map[K]struct{}
	sorted  []K // valid while fresh
	fresh   bool
	cmp     func(a, b K) int
}

func newOrderedSet[K comparable](cmp func(a, b K) int) *orderedSet[K] {
	return &orderedSet[K]{members: map[K]struct{}{}, cmp: cmp, fresh: true}
}

func (s *orderedSet[K]) add(k K) {
	if _, ok := s.members[k]; ok {
		return
	}

	s.members[k] = struct{}{}
	s.fresh = false
}

func (s *orderedSet[K]) remove(k K) {
	if _, ok := s.members[k]; !ok {
		return
	}

	delete(s.members, k)
	s.fresh = false
}

func (s *orderedSet[K]) len() int { return len(s.members) }

// keys returns the members in ascending order. The slice is shared until the
// next change: callers must not modify it.
func (s *orderedSet[K]) keys() []K {
	if s.fresh {
		return s.sorted
	}

	sorted := make([]K, 0, len(s.members))
	for k := range s.members {
		sorted = append(sorted, k)
	}

	slices.SortFunc(sorted, s.cmp)

	s.sorted, s.fresh = sorted, true

	return sorted
}
