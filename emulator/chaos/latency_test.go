package chaos

import (
	"net/http"
	"net/http/httptest"
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
