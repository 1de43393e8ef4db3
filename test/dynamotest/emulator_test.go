package dynamotest_test

// Tests of the embedded DynamoDB itself (minidyn, patched in
// third_party/minidyn: transactions roll back only the items they touched,
// a Query reads only its partition, TTL), through the real SDK client as the
// store uses it. They hold for any table layout, not only the signaling
// table's: hash key alone or hash and range key, with or without a global
// secondary index.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/slsrtc/slsrtc/test/dynamotest"
)

// layout is a table layout.
type layout struct {
	name     string
	rangeKey bool // sort key "sk" besides the hash key "pk"
	gsi      bool // index "byG" on "g" (sparse: items without g are not in it)
}

var layouts = []layout{
	{name: "hash"},
	{name: "hash+gsi", gsi: true},
	{name: "hash+range", rangeKey: true},
	{name: "hash+range+gsi", rangeKey: true, gsi: true},
}

// table is a table of one layout in an emulator.
type table struct {
	layout
	name   string
	client *dynamodb.Client
}

func newTable(ctx context.Context, t *testing.T, db *dynamotest.DB, l layout) *table {
	t.Helper()
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String("emu-" + l.name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}
	if l.rangeKey {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS})
		in.KeySchema = append(in.KeySchema, types.KeySchemaElement{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange})
	}
	if l.gsi {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String("g"), AttributeType: types.ScalarAttributeTypeS})
		in.GlobalSecondaryIndexes = []types.GlobalSecondaryIndex{{
			IndexName:  aws.String("byG"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("g"), KeyType: types.KeyTypeHash}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}}
	}
	if _, err := db.Client.CreateTable(ctx, in); err != nil {
		t.Fatal(err)
	}
	return &table{layout: l, name: *in.TableName, client: db.Client}
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func num(v int) types.AttributeValue    { return &types.AttributeValueMemberN{Value: strconv.Itoa(v)} }

// key is the key of item sk of partition p: (pk p, sk sk), or pk "p/sk"
// without a range key.
func (tb *table) key(p, sk string) map[string]types.AttributeValue {
	if tb.rangeKey {
		return map[string]types.AttributeValue{"pk": str(p), "sk": str(sk)}
	}
	return map[string]types.AttributeValue{"pk": str(p + "/" + sk)}
}

// item is that key with attrs.
func (tb *table) item(p, sk string, attrs map[string]types.AttributeValue) map[string]types.AttributeValue {
	item := tb.key(p, sk)
	maps.Copy(item, attrs)
	return item
}

func (tb *table) put(ctx context.Context, t *testing.T, item map[string]types.AttributeValue) {
	t.Helper()
	if _, err := tb.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tb.name), Item: item}); err != nil {
		t.Fatal(err)
	}
}

// state is everything a client reads from the table, rendered: one Scan,
// a Query of each partition of parts (with a range key), a Query of each
// index partition of gs (with the index). Each is one request, which the
// emulator answers at one point in time.
func (tb *table) state(ctx context.Context, t *testing.T, parts, gs []string) []string {
	t.Helper()
	scan, err := tb.client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(tb.name)})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"scan " + render(t, scan.Items)}
	if tb.rangeKey {
		for _, p := range parts {
			q, err := tb.client.Query(ctx, &dynamodb.QueryInput{
				TableName: aws.String(tb.name), KeyConditionExpression: aws.String("pk = :p"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(p)}, ConsistentRead: aws.Bool(true),
			})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, "query "+p+" "+render(t, q.Items))
		}
	}
	if tb.gsi {
		for _, g := range gs {
			q, err := tb.client.Query(ctx, &dynamodb.QueryInput{
				TableName: aws.String(tb.name), IndexName: aws.String("byG"), KeyConditionExpression: aws.String("g = :g"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":g": str(g)},
			})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, "index "+g+" "+render(t, q.Items))
		}
	}
	return out
}

func render(t *testing.T, items []map[string]types.AttributeValue) string {
	t.Helper()
	var out []map[string]any
	if err := attributevalue.UnmarshalListOfMaps(items, &out); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(out) // fmt prints maps with sorted keys
}

func reasons(err error) []string {
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return nil
	}
	var codes []string
	for _, r := range canceled.CancellationReasons {
		codes = append(codes, aws.ToString(r.Code))
	}
	return codes
}

// TestTransactionAtomicity runs one transaction of five operations (a put of
// a new item, an update that moves an item to another index partition, a
// delete, an overwrite that takes an item out of the sparse index, a
// condition check) with the condition of operation n failing, for each n:
// the transaction is cancelled with ConditionalCheckFailed for operation n
// and None for the others, in request order, and every item, table
// partition and index partition is as it was — the writes of operations
// before n included. Without a failure, every write is applied.
func TestTransactionAtomicity(t *testing.T) {
	ctx := context.Background()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			for fail := -1; fail < 5; fail++ {
				t.Run(fmt.Sprintf("failing=%d", fail), func(t *testing.T) {
					db := dynamotest.New(t)
					tb := newTable(ctx, t, db, l)
					tb.put(ctx, t, tb.item("room#1", "a", map[string]types.AttributeValue{"g": str("G1"), "n": num(1)}))
					tb.put(ctx, t, tb.item("room#1", "b", map[string]types.AttributeValue{"g": str("G1")}))
					tb.put(ctx, t, tb.item("room#2", "c", map[string]types.AttributeValue{"g": str("G2"), "n": num(3)}))
					tb.put(ctx, t, tb.item("room#2", "d", nil))
					parts, gs := []string{"room#1", "room#2"}, []string{"G1", "G2"}
					before := tb.state(ctx, t, parts, gs)

					cond := func(n int) *string {
						if n == fail {
							return aws.String("attribute_not_exists(pk)")
						}
						return aws.String("attribute_exists(pk)")
					}
					newCond := aws.String("attribute_not_exists(pk)")
					if fail == 0 {
						newCond = aws.String("attribute_exists(pk)")
					}
					name := aws.String(tb.name)
					_, err := tb.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
						{Put: &types.Put{TableName: name, ConditionExpression: newCond,
							Item: tb.item("room#1", "e", map[string]types.AttributeValue{"g": str("G2")})}},
						{Update: &types.Update{TableName: name, Key: tb.key("room#1", "a"), ConditionExpression: cond(1),
							UpdateExpression:          aws.String("SET g = :g, n = n + :one"),
							ExpressionAttributeValues: map[string]types.AttributeValue{":g": str("G2"), ":one": num(1)}}},
						{Delete: &types.Delete{TableName: name, Key: tb.key("room#1", "b"), ConditionExpression: cond(2)}},
						{Put: &types.Put{TableName: name, ConditionExpression: cond(3),
							Item: tb.item("room#2", "c", map[string]types.AttributeValue{"n": num(4)})}},
						{ConditionCheck: &types.ConditionCheck{TableName: name, Key: tb.key("room#2", "d"), ConditionExpression: cond(4)}},
					}})

					after := tb.state(ctx, t, parts, gs)
					if fail < 0 {
						if err != nil {
							t.Fatalf("transaction: %v", err)
						}
						checkApplied(ctx, t, tb, before, after)
						return
					}
					want := []string{"None", "None", "None", "None", "None"}
					want[fail] = "ConditionalCheckFailed"
					if got := reasons(err); !slices.Equal(got, want) {
						t.Fatalf("cancellation reasons %v (%v), want %v", got, err, want)
					}
					if !slices.Equal(after, before) {
						t.Errorf("state after the cancelled transaction:\n%s\nwant:\n%s", after, before)
					}
				})
			}
		})
	}
}

// checkApplied checks the committed transaction of TestTransactionAtomicity.
func checkApplied(ctx context.Context, t *testing.T, tb *table, before, after []string) {
	t.Helper()
	if slices.Equal(after, before) {
		t.Fatal("the committed transaction changed nothing")
	}
	get := func(p, sk string) map[string]any {
		out, err := tb.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tb.name), Key: tb.key(p, sk), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := attributevalue.UnmarshalMap(out.Item, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if e := get("room#1", "e"); e["g"] != "G2" {
		t.Errorf("new item e = %v", e)
	}
	if a := get("room#1", "a"); a["g"] != "G2" || a["n"] != 2.0 {
		t.Errorf("updated item a = %v", a)
	}
	if b := get("room#1", "b"); len(b) != 0 {
		t.Errorf("deleted item b = %v", b)
	}
	if c := get("room#2", "c"); c["g"] != nil || c["n"] != 4.0 {
		t.Errorf("overwritten item c = %v", c)
	}
	if tb.gsi {
		// Index partitions: G1 lost a and b, G2 lost c and gained a and e.
		g1, g2 := after[len(after)-2], after[len(after)-1]
		if g1 != "index G1 []" || len(g2) == 0 {
			t.Errorf("index after the transaction: %s; %s", g1, g2)
		}
	}
}

// TestTransactionsSerialisable runs transfers between accounts from several
// clients at once, a third of them doomed by a condition check that fails
// after their writes, while other clients read every account at once (Scan,
// Query of the partition, Query of the index): no read ever sees a transfer
// half done — the total never changes and no balance goes negative — and at
// the end the ledger counts exactly the transfers that committed.
func TestTransactionsSerialisable(t *testing.T) {
	const (
		accounts = 6
		balance  = 100
		writers  = 4
		perWrite = 25
	)
	ctx := context.Background()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			db := dynamotest.New(t)
			tb := newTable(ctx, t, db, l)
			for a := range accounts {
				tb.put(ctx, t, tb.item("bank", fmt.Sprint("acct", a), map[string]types.AttributeValue{"g": str("acct"), "bal": num(balance)}))
			}
			tb.put(ctx, t, tb.item("bank", "ledger", map[string]types.AttributeValue{"n": num(0)}))
			tb.put(ctx, t, tb.item("gate", "open", nil))

			var committed sync.Map // writer → count
			var wg sync.WaitGroup
			done := make(chan struct{})
			for w := range writers {
				wg.Go(func() {
					n := 0
					for i := range perWrite {
						from, to, x := (w+i)%accounts, (w+2*i+1)%accounts, 1+i%7
						if from == to {
							to = (to + 1) % accounts
						}
						gate := "attribute_exists(pk)"
						if i%3 == 2 {
							gate = "attribute_not_exists(pk)" // doomed, after its writes
						}
						name := aws.String(tb.name)
						_, err := tb.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
							{Update: &types.Update{TableName: name, Key: tb.key("bank", fmt.Sprint("acct", from)),
								UpdateExpression: aws.String("SET bal = bal - :x"), ConditionExpression: aws.String("bal >= :x"),
								ExpressionAttributeValues: map[string]types.AttributeValue{":x": num(x)}}},
							{Update: &types.Update{TableName: name, Key: tb.key("bank", fmt.Sprint("acct", to)),
								UpdateExpression: aws.String("SET bal = bal + :x"), ExpressionAttributeValues: map[string]types.AttributeValue{":x": num(x)}}},
							{Update: &types.Update{TableName: name, Key: tb.key("bank", "ledger"),
								UpdateExpression: aws.String("SET n = n + :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)}}},
							{ConditionCheck: &types.ConditionCheck{TableName: name, Key: tb.key("gate", "open"), ConditionExpression: aws.String(gate)}},
						}})
						switch {
						case err == nil:
							n++
						case reasons(err) == nil:
							t.Errorf("transfer: %v", err)
						}
					}
					committed.Store(w, n)
				})
			}
			var readers sync.WaitGroup
			reads := make([]int, 3)
			for r := range 3 {
				readers.Go(func() {
					for {
						select {
						case <-done:
							return
						default:
						}
						checkBank(ctx, t, tb, r, accounts*balance)
						reads[r]++
					}
				})
			}
			wg.Wait()
			close(done)
			readers.Wait()

			total := 0
			committed.Range(func(_, v any) bool { total += v.(int); return true })
			if total == 0 || total == writers*perWrite {
				t.Errorf("%d of %d transfers committed; want some but not all", total, writers*perWrite)
			}
			if n := ledger(ctx, t, tb); n != total {
				t.Errorf("ledger counts %d transfers, %d committed", n, total)
			}
			checkBank(ctx, t, tb, 0, accounts*balance)
			t.Logf("%d transfers committed; reads %v", total, reads)
		})
	}
}

// checkBank reads every account at once — with a Scan, a Query of the
// partition or a Query of the index, by reader — and checks the total and
// that no balance is negative.
func checkBank(ctx context.Context, t *testing.T, tb *table, reader, want int) {
	var items []map[string]types.AttributeValue
	switch {
	case reader == 1 && tb.rangeKey:
		out, err := tb.client.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(tb.name),
			KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: map[string]types.AttributeValue{":p": str("bank")},
			ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Error(err)
			return
		}
		items = out.Items
	case reader == 2 && tb.gsi:
		out, err := tb.client.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(tb.name), IndexName: aws.String("byG"),
			KeyConditionExpression: aws.String("g = :g"), ExpressionAttributeValues: map[string]types.AttributeValue{":g": str("acct")}})
		if err != nil {
			t.Error(err)
			return
		}
		items = out.Items
	default:
		out, err := tb.client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(tb.name)})
		if err != nil {
			t.Error(err)
			return
		}
		items = out.Items
	}
	sum, seen := 0, 0
	for _, item := range items {
		var a struct {
			Bal *int `dynamodbav:"bal"`
		}
		if err := attributevalue.UnmarshalMap(item, &a); err != nil {
			t.Error(err)
			return
		}
		if a.Bal == nil {
			continue
		}
		if *a.Bal < 0 {
			t.Errorf("reader %d saw a negative balance %d", reader, *a.Bal)
		}
		sum += *a.Bal
		seen++
	}
	if sum != want {
		t.Errorf("reader %d saw a total of %d over %d accounts, want %d", reader, sum, seen, want)
	}
}

func ledger(ctx context.Context, t *testing.T, tb *table) int {
	t.Helper()
	out, err := tb.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tb.name), Key: tb.key("bank", "ledger"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		N int `dynamodbav:"n"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &l); err != nil {
		t.Fatal(err)
	}
	return l.N
}

// TestTimeToLive enables TTL through the API, then expires items: those
// whose TTL attribute has passed leave the table and its index, the others
// stay, and transactions running meanwhile see an expiring item either
// present (and commit) or gone (and are cancelled), never anything between.
func TestTimeToLive(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			db := dynamotest.New(t)
			tb := newTable(ctx, t, db, l)
			if _, err := tb.client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
				TableName:               aws.String(tb.name),
				TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("expiresAt"), Enabled: aws.Bool(true)},
			}); err != nil {
				t.Fatal(err)
			}
			desc, err := tb.client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(tb.name)})
			if err != nil {
				t.Fatal(err)
			}
			if d := desc.TimeToLiveDescription; d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "expiresAt" {
				t.Fatalf("DescribeTimeToLive: %s %q", d.TimeToLiveStatus, aws.ToString(d.AttributeName))
			}

			exp := func(d time.Duration) types.AttributeValue { return num(int(now.Add(d).Unix())) }
			tb.put(ctx, t, tb.item("room#1", "gone", map[string]types.AttributeValue{"g": str("G"), "expiresAt": exp(-time.Minute)}))
			tb.put(ctx, t, tb.item("room#1", "live", map[string]types.AttributeValue{"g": str("G"), "expiresAt": exp(time.Hour)}))
			tb.put(ctx, t, tb.item("room#1", "forever", map[string]types.AttributeValue{"g": str("G")}))
			tb.put(ctx, t, tb.item("room#2", "watched", map[string]types.AttributeValue{"expiresAt": exp(-time.Second)}))

			// Transactions that need "watched" race the expiry.
			var wg sync.WaitGroup
			results := make([]error, 20)
			for i := range results {
				wg.Go(func() {
					_, results[i] = tb.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
						{ConditionCheck: &types.ConditionCheck{TableName: aws.String(tb.name), Key: tb.key("room#2", "watched"), ConditionExpression: aws.String("attribute_exists(pk)")}},
						{Put: &types.Put{TableName: aws.String(tb.name), Item: tb.item("room#3", fmt.Sprint("w", i), nil)}},
					}})
				})
			}
			expired := db.Server.ExpireItems(now)
			wg.Wait()
			if expired != 2 {
				t.Errorf("ExpireItems deleted %d items, want 2", expired)
			}
			for i, err := range results {
				out, gerr := tb.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tb.name), Key: tb.key("room#3", fmt.Sprint("w", i))})
				if gerr != nil {
					t.Fatal(gerr)
				}
				switch written := len(out.Item) > 0; {
				case err == nil && !written:
					t.Errorf("transaction %d committed without its write", i)
				case err != nil && written:
					t.Errorf("transaction %d cancelled (%v) with its write applied", i, err)
				case err != nil && !slices.Equal(reasons(err), []string{"ConditionalCheckFailed", "None"}):
					t.Errorf("transaction %d: %v", i, err)
				}
			}

			got := tb.state(ctx, t, []string{"room#1"}, []string{"G"})
			for _, s := range got {
				if strings.Contains(s, "gone") || strings.Contains(s, "watched") {
					t.Errorf("an expired item is still read: %s", s)
				}
				if !strings.Contains(s, "live") || !strings.Contains(s, "forever") {
					t.Errorf("a live item is missing: %s", s)
				}
			}
			if n := db.Server.ExpireItems(now.Add(2 * time.Hour)); n != 1 {
				t.Errorf("two hours later ExpireItems deleted %d items, want 1 (live)", n)
			}
		})
	}
}

// REMOVE takes attributes off an item, beside SET in the same expression,
// in an UpdateItem and in a transaction's Update, and the item reads back
// without them (minidyn kept them: PATCHES.md item 10).
func TestUpdateRemove(t *testing.T) {
	ctx := context.Background()
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			db := dynamotest.New(t)
			tb := newTable(ctx, t, db, l)
			attrs := map[string]types.AttributeValue{"n": num(1), "a": str("a"), "b": str("b"), "c": str("c")}
			if l.gsi {
				attrs["g"] = str("G")
			}
			tb.put(ctx, t, tb.item("p", "s", attrs))
			update := func(expr string) *types.Update {
				return &types.Update{
					TableName: aws.String(tb.name), Key: tb.key("p", "s"), UpdateExpression: aws.String(expr),
					ConditionExpression:       aws.String("attribute_exists(#a)"),
					ExpressionAttributeNames:  map[string]string{"#a": "a"},
					ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
				}
			}
			u := update("SET n = n + :one REMOVE #a, b")
			if _, err := tb.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
				ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues}); err != nil {
				t.Fatal(err)
			}
			tb.put(ctx, t, tb.item("p", "t", attrs))
			u = update("SET n = n + :one REMOVE #a, b")
			u.Key = tb.key("p", "t")
			if _, err := tb.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: u}}}); err != nil {
				t.Fatal(err)
			}
			for _, sk := range []string{"s", "t"} {
				out, err := tb.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tb.name), Key: tb.key("p", sk), ConsistentRead: aws.Bool(true)})
				if err != nil {
					t.Fatal(err)
				}
				got := slices.Sorted(maps.Keys(out.Item))
				want := []string{"c", "n", "pk"}
				if l.gsi {
					want = []string{"c", "g", "n", "pk"}
				}
				if l.rangeKey {
					want = append(want, "sk")
					slices.Sort(want)
				}
				if !slices.Equal(got, want) {
					t.Errorf("item %s has %v after SET and REMOVE, want %v", sk, got, want)
				}
				if n, _ := out.Item["n"].(*types.AttributeValueMemberN); n == nil || n.Value != "2" {
					t.Errorf("item %s: n = %v, want 2", sk, out.Item["n"])
				}
			}
		})
	}
}
