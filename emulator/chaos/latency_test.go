package chaos

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// DynamoDBLatency delays every data-plane call by a duration in its range, and no
// control-plane call.
func TestDynamoDBLatency(t *testing.T) {
	db := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{}`)) }))
	defer db.Close()
	p, err := NewDynamoDBProxy(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	rg := Range{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}
	p.SetProfile(Profile{Seed: 5, DynamoDBLatency: rg})
	var slept []time.Duration
	p.sleep = func(d time.Duration) { slept = append(slept, d) } // ServeHTTP is called from this goroutine
	call := func(op string) int {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
		r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		return w.Code
	}
	for _, op := range []string{"GetItem", "Query", "TransactWriteItems", "DescribeTable", "CreateTable"} {
		if code := call(op); code != 200 {
			t.Errorf("%s: %d", op, code)
		}
	}
	if len(slept) != 3 {
		t.Fatalf("slept %v, want 3 delays (the data-plane calls only)", slept)
	}
	for _, d := range slept {
		if d < rg.Min || d > rg.Max {
			t.Errorf("delay %v outside %v", d, rg)
		}
	}
}

// Latencies delay each DynamoDB call by its kind's distribution (a draw;
// here P99 = P50, so the draw is the median), on top of DynamoDBLatency, and
// never a control-plane call.
func TestDynamoDBLatencies(t *testing.T) {
	db := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{}`)) }))
	defer db.Close()
	p, err := NewDynamoDBProxy(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	fixed := func(ms int) Latency {
		return Latency{P50: time.Duration(ms) * time.Millisecond, P99: time.Duration(ms) * time.Millisecond}
	}
	p.SetProfile(Profile{Seed: 5, DynamoDBLatency: Range{Min: time.Millisecond, Max: time.Millisecond},
		Latencies: Latencies{DynamoDBRead: fixed(3), DynamoDBWrite: fixed(7), DynamoDBTransaction: fixed(25)}})
	var slept []time.Duration
	p.sleep = func(d time.Duration) { slept = append(slept, d) }
	for _, op := range []string{"GetItem", "Query", "PutItem", "UpdateItem", "TransactWriteItems", "DescribeTable"} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
		r.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		p.ServeHTTP(httptest.NewRecorder(), r)
	}
	want := []time.Duration{4 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond, 8 * time.Millisecond, 26 * time.Millisecond}
	if !slices.Equal(slept, want) {
		t.Errorf("slept %v, want %v", slept, want)
	}
}
