package budget_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// BenchmarkEmulator measures the embedded DynamoDB (minidyn) under the
// store's calls as the table grows: connections in rooms of 4, as in the
// load test (items ≈ 2.25 × connections + rooms). minidyn serialises every
// request on one mutex and snapshots every table a transaction touches by
// deep copy, and it answers a query on the RoomMate index by matching every
// item, so transactions and queries cost O(table) and bound the local
// stack's joins per second; gets do not.
//
//	go test -run '^$' -bench Emulator ./internal/budget
func BenchmarkEmulator(b *testing.B) {
	for _, conns := range []int{0, 500, 2000} {
		db := dynamotest.New(b)
		store := dynamo.New(db.Client, db.Table)
		ctx := context.Background()
		ids := fill(b, ctx, store, conns)
		a, c := ids[0], ids[1]
		room := mustRoom(b, ctx, store, a)
		for _, id := range []string{a, c} {
			if _, err := store.Enter(ctx, id, room, "", ""); err != nil {
				b.Fatal(err)
			}
		}
		ops := []struct {
			name string
			call func(i int) error
		}{
			{"GetItem", func(int) error { _, err := store.Connection(ctx, a); return err }},
			{"BatchGetItem", func(int) error { _, err := store.ConnectionsByID(ctx, a, c); return err }},
			{"Query", func(int) error { _, err := store.Roster(ctx, room); return err }},
			// C leaves and re-enters in turn, so the table keeps its size:
			// one transaction per call (a leave also reads C first).
			{"TransactWriteItems", func(i int) error {
				if i%2 == 0 {
					_, err := store.Leave(ctx, c)
					return err
				}
				_, err := store.Enter(ctx, c, room, "", "")
				return err
			}},
			// Last: it grows the table.
			{"PutItem", func(int) error {
				_, err := store.PutConnection(ctx, "put"+strconv.FormatInt(puts.Add(1), 10)+"=", time.Now(), dynamo.Grant{})
				return err
			}},
		}
		items := len(db.Items(b))
		for _, op := range ops {
			b.Run(fmt.Sprintf("connections=%d/items=%d/op=%s", conns, items, op.name), func(b *testing.B) {
				if op.name == "TransactWriteItems" { // every run starts with C in the room
					if _, err := store.Enter(ctx, c, room, "", ""); err != nil && !errors.Is(err, dynamo.ErrAlreadyInRoom) {
						b.Fatal(err)
					}
				}
				for i := range b.N {
					if err := op.call(i); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// puts numbers the connections the PutItem benchmark adds.
var puts atomic.Int64

// fill adds n connections (at least 2) in rooms of 4 and returns their IDs.
func fill(b *testing.B, ctx context.Context, store *dynamo.Store, n int) []string {
	b.Helper()
	var ids []string
	var room string
	for i := range max(n, 2) {
		id := "fill" + strconv.Itoa(i) + "="
		if _, err := store.PutConnection(ctx, id, time.Now(), dynamo.Grant{}); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
		if n == 0 {
			continue
		}
		if i%4 == 0 {
			room = mustRoom(b, ctx, store, id)
		}
		if _, err := store.Enter(ctx, id, room, "", ""); err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 {
		return ids
	}
	// The benchmark's own pair must be out of any room.
	for _, id := range []string{"benchA=", "benchC="} {
		if _, err := store.PutConnection(ctx, id, time.Now(), dynamo.Grant{}); err != nil {
			b.Fatal(err)
		}
	}
	return []string{"benchA=", "benchC="}
}

func mustRoom(b *testing.B, ctx context.Context, store *dynamo.Store, by string) string {
	b.Helper()
	r, err := store.CreateRoom(ctx, by, 4)
	if err != nil {
		b.Fatal(err)
	}
	return r.ID
}
