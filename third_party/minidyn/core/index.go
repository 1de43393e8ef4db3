package core

import (
	"maps"
	"strings"
	"time"

	"github.com/truora/minidyn/types"
)

type indexType string

const (
	indexTypeGlobal indexType = "global"
	indexTypeLocal  indexType = "local"
)

// indexRef is one item's entry in a secondary index: the item's index key
// (its index hash key, or hash.range) and its primary key. Entries are
// ordered by index key, then primary key.
type indexRef struct {
	key string
	pk  string
}

func compareIndexRefs(a, b indexRef) int {
	if c := strings.Compare(a.key, b.key); c != 0 {
		return c
	}

	return strings.Compare(a.pk, b.pk)
}

// indexEntry is what an index holds for one item: its index key and, for
// finding its partition, its index hash key alone.
type indexEntry struct {
	key  string
	hash string
}

type index struct {
	keySchema  keySchema
	typ        indexType
	projection *types.Projection
	Table      *Table
	// refs maps the primary key of every item in the index to its entry.
	// Items without the index key are not in it (indexes are sparse).
	refs map[string]indexEntry
	// order is every entry in index order; partitions holds them by index
	// hash key, so that a Query for one hash key reads only its own.
	order      lazyOrder[indexRef]
	partitions map[string]*sortedSet[indexRef]
	createdAt  time.Time
}

func newIndex(t *Table, typ indexType, ks keySchema) *index {
	ks.Secondary = true

	i := &index{
		keySchema: ks,
		typ:       typ,
		Table:     t,
	}
	i.Clear()

	return i
}

// Clear removes every entry from the index.
func (i *index) Clear() {
	i.refs = map[string]indexEntry{}
	i.order.invalidate()
	i.partitions = map[string]*sortedSet[indexRef]{}
}

type indexSnapshot struct {
	refs map[string]indexEntry
}

func (i *index) snapshot() indexSnapshot {
	refs := make(map[string]indexEntry, len(i.refs))
	maps.Copy(refs, i.refs)

	return indexSnapshot{refs: refs}
}

func (i *index) restore(s indexSnapshot) {
	i.Clear()

	for pk, e := range s.refs {
		i.set(pk, e)
	}
}

// entryFor returns the index entry of item; ok is false when the item lacks
// the index key and so is not in the index. An index key attribute of the
// wrong type is an error.
func (i *index) entryFor(item map[string]*types.Item) (e indexEntry, ok bool, err error) {
	key, err := i.keySchema.GetKey(i.Table.AttributesDef, item)
	if err != nil || key == "" {
		return indexEntry{}, false, err
	}

	hash, err := i.keySchema.hashValue(i.Table.AttributesDef, item)
	if err != nil {
		return indexEntry{}, false, err
	}

	return indexEntry{key: key, hash: hash}, true, nil
}

// set makes e the entry of the item with primary key pk, replacing any
// previous one.
func (i *index) set(pk string, e indexEntry) {
	i.unset(pk)

	i.refs[pk] = e
	i.order.invalidate()

	part, ok := i.partitions[e.hash]
	if !ok {
		part = newSortedSet(compareIndexRefs)
		i.partitions[e.hash] = part
	}

	part.add(indexRef{key: e.key, pk: pk})
}

// unset removes the entry of the item with primary key pk, if any.
func (i *index) unset(pk string) {
	old, ok := i.refs[pk]
	if !ok {
		return
	}

	delete(i.refs, pk)
	i.order.invalidate()

	if part, ok := i.partitions[old.hash]; ok {
		part.remove(indexRef{key: old.key, pk: pk})

		if part.len() == 0 {
			delete(i.partitions, old.hash)
		}
	}
}

// primaryKeys returns the primary keys of the index's items in index order:
// those whose index hash key is hash when narrowed, else all of them.
func (i *index) primaryKeys(hash string, narrowed bool) []string {
	var refs []indexRef

	if narrowed {
		part := i.partitions[hash]
		if part == nil {
			return nil
		}

		refs = part.keys
	} else {
		refs = i.order.keys(len(i.refs), func(yield func(indexRef) bool) {
			for pk, e := range i.refs {
				if !yield(indexRef{key: e.key, pk: pk}) {
					return
				}
			}
		}, compareIndexRefs)
	}

	pks := make([]string, len(refs))

	for n, r := range refs {
		pks[n] = r.pk
	}

	return pks
}

// ProjectItem returns the attributes visible through this index's projection (ALL, KEYS_ONLY, INCLUDE).
// For ALL or unknown types, it returns a full shallow copy of the item.
func (i *index) ProjectItem(item map[string]*types.Item) map[string]*types.Item {
	if i == nil || i.projection == nil {
		return copyItem(item)
	}

	pt := ""
	if i.projection.ProjectionType != nil {
		pt = *i.projection.ProjectionType
	}

	switch pt {
	case "", "ALL":
		return copyItem(item)
	case "KEYS_ONLY":
		return i.projectKeysOnly(item)
	case "INCLUDE":
		return i.projectInclude(item)
	default:
		return copyItem(item)
	}
}

func (i *index) projectKeysOnly(item map[string]*types.Item) map[string]*types.Item {
	out := make(map[string]*types.Item)
	maps.Copy(out, i.Table.KeySchema.getKeyItem(item))
	maps.Copy(out, i.keySchema.getKeyItem(item))

	return out
}

func (i *index) projectInclude(item map[string]*types.Item) map[string]*types.Item {
	out := i.projectKeysOnly(item)

	for _, namePtr := range i.projection.NonKeyAttributes {
		if namePtr == nil {
			continue
		}

		name := *namePtr
		if v, ok := item[name]; ok {
			out[name] = v
		}
	}

	return out
}

func (i *index) count() int64 {
	return int64(len(i.refs))
}
