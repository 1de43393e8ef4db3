package core

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/require"
	"github.com/truora/minidyn/interpreter"
	"github.com/truora/minidyn/types"
)

// shape is a table layout the patched store must handle alike: hash key
// only or hash and range key, with or without a global secondary index
// (sparse: only items with "g" are in it) and a local one.
type shape struct {
	name       string
	rangeKey   string
	gsi, lsi   bool
	hashType   string
	rangeType  string
	rangeValue func(i int) *types.Item
}

func stringRange(i int) *types.Item { return &types.Item{S: aws.String(fmt.Sprintf("s%03d", i))} }

func numberRange(i int) *types.Item { return &types.Item{N: aws.String(fmt.Sprint(i))} }

var shapes = []shape{
	{name: "hash", hashType: "S"},
	{name: "hash+gsi", hashType: "S", gsi: true},
	{name: "hash+range", hashType: "S", rangeKey: "sk", rangeType: "S", rangeValue: stringRange},
	{name: "hash+range+gsi+lsi", hashType: "S", rangeKey: "sk", rangeType: "S", gsi: true, lsi: true, rangeValue: stringRange},
	{name: "numeric hash+range+gsi", hashType: "N", rangeKey: "sk", rangeType: "N", gsi: true, rangeValue: numberRange},
}

func (s shape) newTable(t *testing.T) *Table {
	t.Helper()
	c := require.New(t)

	table := NewTable("t-" + s.name)
	table.BillingMode = aws.String("PAY_PER_REQUEST")
	table.LangInterpreter = interpreter.Language{}
	table.AttributesDef = map[string]string{"pk": s.hashType, "g": "S", "l": "S"}

	schema := []*types.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}}
	if s.rangeKey != "" {
		table.AttributesDef[s.rangeKey] = s.rangeType
		schema = append(schema, &types.KeySchemaElement{AttributeName: s.rangeKey, KeyType: "RANGE"})
	}

	c.NoError(table.CreatePrimaryIndex(&types.CreateTableInput{KeySchema: schema}))

	if s.gsi {
		c.NoError(table.AddGlobalIndexes([]*types.GlobalSecondaryIndex{{
			IndexName:  aws.String("byG"),
			KeySchema:  []*types.KeySchemaElement{{AttributeName: "g", KeyType: "HASH"}},
			Projection: &types.Projection{ProjectionType: aws.String("ALL")},
		}}))
	}

	if s.lsi {
		c.NoError(table.AddLocalIndexes([]*types.LocalSecondaryIndex{{
			IndexName:  aws.String("byL"),
			KeySchema:  []*types.KeySchemaElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "l", KeyType: "RANGE"}},
			Projection: &types.Projection{ProjectionType: aws.String("KEYS_ONLY")},
		}}))
	}

	return table
}

func (s shape) hashValue(p int) *types.Item {
	if s.hashType == "N" {
		return &types.Item{N: aws.String(fmt.Sprint(p))}
	}

	return &types.Item{S: aws.String(fmt.Sprintf("p%d", p))}
}

// item is item i of partition p; every third item has a GSI key, every
// second an LSI key.
func (s shape) item(p, i int) map[string]*types.Item {
	it := map[string]*types.Item{
		"pk":  s.hashValue(p),
		"val": {N: aws.String(fmt.Sprint(i))},
	}
	if s.rangeKey != "" {
		it[s.rangeKey] = s.rangeValue(i)
	}

	if i%3 == 0 {
		it["g"] = &types.Item{S: aws.String(fmt.Sprintf("g%d", i%2))}
	}

	if i%2 == 0 {
		it["l"] = &types.Item{S: aws.String(fmt.Sprintf("l%03d", 100-i))}
	}

	return it
}

func (s shape) key(p, i int) map[string]*types.Item {
	k := map[string]*types.Item{"pk": s.hashValue(p)}
	if s.rangeKey != "" {
		k[s.rangeKey] = s.rangeValue(i)
	}

	return k
}

// fill puts partitions × perPartition items (one item per partition for a
// hash-only table).
func (s shape) fill(t *testing.T, table *Table, partitions, perPartition int) {
	t.Helper()

	if s.rangeKey == "" {
		perPartition = 1
	}

	for p := range partitions {
		for i := range perPartition {
			_, err := table.Put(&types.PutItemInput{TableName: aws.String(table.Name), Item: s.item(p, i)})
			require.NoError(t, err)
		}
	}
}

// view is everything a client can read from a table: every item by Scan, and
// every query of every partition, on the table and on each index, in both
// directions.
func view(t *testing.T, table *Table, partitions []*types.Item) []string {
	t.Helper()

	var out []string

	all, _, err := table.SearchData(QueryInput{Scan: true, ScanIndexForward: true})
	require.NoError(t, err)
	out = append(out, fmt.Sprintf("scan %v", render(all)))

	indexes := []string{""}
	for name := range table.Indexes {
		indexes = append(indexes, name)
	}

	slices.Sort(indexes)

	for _, name := range indexes {
		hashKey := table.KeySchema.HashKey
		if name != "" {
			hashKey = table.Indexes[name].keySchema.HashKey
		}

		values := partitions
		if hashKey == "g" {
			values = []*types.Item{{S: aws.String("g0")}, {S: aws.String("g1")}}
		}

		for _, v := range values {
			for _, forward := range []bool{true, false} {
				items, last, err := table.SearchData(QueryInput{
					Index:                     name,
					KeyConditionExpression:    "#h = :v",
					Aliases:                   map[string]string{"#h": hashKey},
					ExpressionAttributeValues: map[string]*types.Item{":v": v},
					ScanIndexForward:          forward,
				})
				require.NoError(t, err)
				out = append(out, fmt.Sprintf("query %q %s forward=%v: %v last %v", name, render([]map[string]*types.Item{{"v": v}}), forward, render(items), render([]map[string]*types.Item{last})))
			}
		}
	}

	return out
}

func render(items []map[string]*types.Item) string {
	var b strings.Builder

	for _, it := range items {
		b.WriteString("{")

		for _, k := range sortedAttrNames(it) {
			v := it[k]
			fmt.Fprintf(&b, "%s:%s%s ", k, aws.ToString(v.S), aws.ToString(v.N))
		}

		b.WriteString("}")
	}

	return b.String()
}

func sortedAttrNames(it map[string]*types.Item) []string {
	return slices.Sorted(maps.Keys(it))
}

// TestUndoLogRollback writes through an undo log — new items, overwrites
// that move an item between index partitions or out of a sparse index,
// updates, deletes — and checks that Rollback leaves the table, its
// partitions, its indexes and its TTL queue exactly as they were.
func TestUndoLogRollback(t *testing.T) {
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			c := require.New(t)
			table := s.newTable(t)
			c.NoError(table.SetTimeToLive("exp", true))
			s.fill(t, table, 4, 6)

			partitions := []*types.Item{s.hashValue(0), s.hashValue(1), s.hashValue(2), s.hashValue(3), s.hashValue(9)}
			before := view(t, table, partitions)
			beforeData := deepCopyTable(table.Data)
			beforeQueue := len(table.ttl.queue.entries)

			var undo UndoLog

			write := func(key map[string]*types.Item, do func() error) {
				k, err := table.KeySchema.GetKey(table.AttributesDef, key)
				c.NoError(err)
				undo.Record(table, k)
				c.NoError(do())
			}

			// A new item in a new partition, with a GSI key and a TTL.
			fresh := s.item(9, 3)
			fresh["exp"] = &types.Item{N: aws.String("100")}
			write(s.key(9, 3), func() error {
				_, err := table.Put(&types.PutItemInput{Item: fresh})
				return err
			})

			// An overwrite that takes an item out of the sparse GSI.
			over := s.item(0, 0)
			delete(over, "g")
			over["val"] = &types.Item{S: aws.String("overwritten")}
			write(s.key(0, 0), func() error {
				_, err := table.Put(&types.PutItemInput{Item: over})
				return err
			})

			// An update that moves an item to the other GSI partition and
			// gives it a TTL.
			write(s.key(1, 0), func() error {
				_, err := table.Update(&types.UpdateItemInput{
					Key:                       s.key(1, 0),
					UpdateExpression:          "SET g = :g, exp = :e, val = :v",
					ExpressionAttributeValues: map[string]*types.Item{":g": {S: aws.String("g1")}, ":e": {N: aws.String("50")}, ":v": {S: aws.String("updated")}},
				})
				return err
			})

			// A delete.
			write(s.key(2, 0), func() error {
				_, err := table.Delete(&types.DeleteItemInput{Key: s.key(2, 0)})
				return err
			})

			c.NotEqual(before, view(t, table, partitions))

			undo.Rollback()

			c.Equal(before, view(t, table, partitions))
			c.Equal(beforeData, table.Data)
			c.Len(table.ttl.queue.entries, beforeQueue)
			c.Empty(table.ExpireItems(time.Unix(1000, 0), 100), "the rolled back TTLs are gone")
		})
	}
}

func deepCopyTable(data map[string]map[string]*types.Item) map[string]map[string]*types.Item {
	out := make(map[string]map[string]*types.Item, len(data))
	for k, v := range data {
		out[k] = deepCopyItemMap(v)
	}

	return out
}

// TestQueryReadsOnlyItsPartition checks that a Query narrowed to its
// partition returns exactly what the same Query returns when it examines
// every item (forced with a condition that does not pin the hash key), with
// sort key conditions, filters, limits and pages, on tables of every shape.
func TestQueryReadsOnlyItsPartition(t *testing.T) {
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			c := require.New(t)
			table := s.newTable(t)
			s.fill(t, table, 5, 8)

			// Each Query pins its partition; full is the same condition
			// written so that it pins none, which examines every item.
			type query struct {
				keyCond, full, filter string
				limit                 int64
			}

			queries := []query{
				{keyCond: "#h = :v", full: "(#h = :v OR #h = :v)"},
				{keyCond: ":v = #h", full: "(:v = #h OR :v = #h)"},
				{keyCond: "(#h = :v)", full: "(#h = :v OR #h = :v)", filter: "val > :n"},
				{keyCond: "#h = :v", full: "(#h = :v OR #h = :v)", limit: 3},
				{keyCond: "#h = :v", full: "(#h = :v OR #h = :v)", limit: 1},
			}
			if s.rangeKey != "" {
				queries = append(queries,
					query{keyCond: "#h = :v AND #r > :r", full: "(#h = :v OR #h = :v) AND #r > :r"},
					query{keyCond: "#r > :r AND #h = :v", full: "#r > :r AND (#h = :v OR #h = :v)", limit: 2},
					query{keyCond: "#h = :v AND #r BETWEEN :r AND :r2", full: "(#h = :v OR #h = :v) AND #r BETWEEN :r AND :r2"},
				)
			}

			for _, q := range queries {
				for _, p := range []int{0, 3, 7} { // 7: a partition with no items
					for _, forward := range []bool{true, false} {
						in := QueryInput{
							KeyConditionExpression: q.keyCond,
							FilterExpression:       q.filter,
							Limit:                  q.limit,
							Aliases:                map[string]string{"#h": "pk"},
							ExpressionAttributeValues: map[string]*types.Item{
								":v": s.hashValue(p), ":n": {N: aws.String("2")},
							},
							ScanIndexForward: forward,
						}
						if s.rangeKey != "" {
							in.Aliases["#r"] = s.rangeKey
							in.ExpressionAttributeValues[":r"] = s.rangeValue(2)
							in.ExpressionAttributeValues[":r2"] = s.rangeValue(5)
						}

						full := in
						full.KeyConditionExpression = q.full

						_, narrowed := table.queryPartition(in, nil)
						c.Equal(s.hashType == "S", narrowed, "%s narrowed", q.keyCond)

						_, fullNarrowed := table.queryPartition(full, nil)
						c.False(fullNarrowed, "%s", q.full)

						if q.limit > 0 && q.filter != "" {
							// minidyn counts filtered items of every partition
							// against Limit when it examines every item.
							continue
						}

						got, gotLast, err := table.SearchData(in)
						c.NoError(err)
						want, wantLast, err := table.SearchData(full)
						c.NoError(err)
						c.Equal(render(want), render(got), "%+v partition %d forward %v", q, p, forward)
						c.Equal(wantLast, gotLast, "%+v partition %d forward %v", q, p, forward)
					}
				}
			}
		})
	}
}

func TestRequiredHashKeyValue(t *testing.T) {
	values := map[string]*types.Item{
		":s": {S: aws.String("room#1")},
		":n": {N: aws.String("1")},
		":b": {B: []byte{1, 2}},
	}
	aliases := map[string]string{"#pk": "pk", "#sk": "sk"}

	tests := []struct {
		expr, hashType string
		want           string
		ok             bool
	}{
		{"#pk = :s", "S", "room#1", true},
		{"pk = :s", "S", "room#1", true},
		{":s = #pk", "S", "room#1", true},
		{"#pk = :s AND begins_with(#sk, :s)", "S", "room#1", true},
		{"begins_with(#sk, :s) AND #pk = :s", "S", "room#1", true},
		{"(#pk = :s) AND (#sk > :s)", "S", "room#1", true},
		{"#pk = :b", "B", "[1 2]", true},
		{"#pk = :n", "N", "", false},       // numbers: "1" and "1.0" are one value
		{"#pk = :n", "S", "", false},       // the placeholder has the wrong type
		{"#pk = :missing", "S", "", false}, // an undeclared value
		{"#sk = :s", "S", "", false},       // not the hash key
		{"#other = :s", "S", "", false},    // an undeclared name
		{"#pk = :s OR #pk = :s", "S", "", false},
		{"NOT #pk <> :s", "S", "", false},
		{"#pk IN (:s)", "S", "", false},
		{"#pk = :s AND", "S", "", false}, // does not parse
		{"", "S", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.expr+"/"+tt.hashType, func(t *testing.T) {
			got, ok := requiredHashKeyValue(tt.expr, "pk", tt.hashType, aliases, values)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSortedSetAndLazyOrder(t *testing.T) {
	c := require.New(t)
	s := newSortedSet(strings.Compare)

	c.Empty(s.keys)

	for _, k := range []string{"b", "a", "c", "a"} {
		s.add(k)
	}

	c.Equal([]string{"a", "b", "c"}, s.keys)
	c.Equal(3, s.len())

	s.remove("b")
	s.remove("x")
	c.Equal([]string{"a", "c"}, s.keys)

	members := map[string]bool{"b": true, "a": true}
	calls := 0
	all := func(yield func(string) bool) {
		calls++

		for k := range members {
			if !yield(k) {
				return
			}
		}
	}

	var o lazyOrder[string]
	c.Equal([]string{"a", "b"}, o.keys(len(members), all, strings.Compare))
	c.Equal([]string{"a", "b"}, o.keys(len(members), all, strings.Compare))
	c.Equal(1, calls, "read again without a change: not rebuilt")

	members["0"] = true
	o.invalidate()
	c.Equal([]string{"0", "a", "b"}, o.keys(len(members), all, strings.Compare))
	c.Equal(2, calls)
}

// TestExpireItems checks DynamoDB's TTL rules: an item expires once its TTL
// attribute, a Number of epoch seconds, is less than now, unless it is more
// than five years old; other values are ignored; expired items leave the
// table and its indexes, soonest first, at most limit at a time.
func TestExpireItems(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	past := func(d time.Duration) *types.Item {
		return &types.Item{N: aws.String(fmt.Sprint(now.Add(-d).Unix()))}
	}

	tests := []struct {
		name    string
		exp     *types.Item
		expires bool
	}{
		{"a second ago", past(time.Second), true},
		{"a year ago", past(365 * 24 * time.Hour), true},
		{"fractional, just past", &types.Item{N: aws.String(fmt.Sprint(now.Unix()-1) + ".5")}, true},
		{"now", past(0), false},
		{"in an hour", past(-time.Hour), false},
		{"six years ago", past(6 * 365 * 24 * time.Hour), false},
		{"a string", &types.Item{S: aws.String("1")}, false},
		{"not a number", &types.Item{N: aws.String("soon")}, false},
		{"absent", nil, false},
	}

	for _, s := range shapes[:4] {
		t.Run(s.name, func(t *testing.T) {
			c := require.New(t)
			table := s.newTable(t)
			c.NoError(table.SetTimeToLive("exp", true))

			wantLeft := map[string]bool{}

			for i, tt := range tests {
				it := s.item(i, 0)
				it["g"] = &types.Item{S: aws.String("g0")}
				if tt.exp != nil {
					it["exp"] = tt.exp
				}

				_, err := table.Put(&types.PutItemInput{Item: it})
				c.NoError(err)

				key, err := table.KeySchema.GetKey(table.AttributesDef, it)
				c.NoError(err)

				if !tt.expires {
					wantLeft[key] = true
				}
			}

			first := table.ExpireItems(now, 1)
			c.Len(first, 1)
			c.Equal(past(365*24*time.Hour), first[0]["exp"], "the oldest first")

			rest := table.ExpireItems(now, 100)
			c.Len(rest, 2)
			c.Empty(table.ExpireItems(now, 100))

			c.Len(table.Data, len(wantLeft))

			for key := range wantLeft {
				c.Contains(table.Data, key)
			}

			if s.gsi {
				c.Equal(int64(len(wantLeft)), table.Indexes["byG"].count())
			}

			// An item given a later TTL moves in the queue; one whose TTL is
			// removed leaves it.
			soon := s.item(100, 0)
			soon["exp"] = past(-time.Minute)
			_, err := table.Put(&types.PutItemInput{Item: soon})
			c.NoError(err)
			c.Empty(table.ExpireItems(now, 100))
			c.Len(table.ExpireItems(now.Add(2*time.Minute), 100), 2, "now and the new one")

			// Disabled TTL deletes nothing.
			c.NoError(table.SetTimeToLive("exp", false))
			late := s.item(101, 0)
			late["exp"] = past(time.Hour)
			_, err = table.Put(&types.PutItemInput{Item: late})
			c.NoError(err)
			c.Empty(table.ExpireItems(now, 100))
		})
	}
}

func TestSetTimeToLive(t *testing.T) {
	c := require.New(t)
	table := shapes[0].newTable(t)

	_, enabled := table.TimeToLive()
	c.False(enabled)
	c.ErrorContains(table.SetTimeToLive("exp", false), "already disabled")
	c.ErrorContains(table.SetTimeToLive("", true), "AttributeName")
	c.NoError(table.SetTimeToLive("exp", true))
	c.ErrorContains(table.SetTimeToLive("exp", true), "already enabled")

	attr, enabled := table.TimeToLive()
	c.True(enabled)
	c.Equal("exp", attr)
}
