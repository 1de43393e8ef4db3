package localstack_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestShutdownClosesSpareConnections holds open TCP connections that never
// send a request — what an HTTP client's pool leaves behind when two
// requests race for a new connection — to the API and to the embedded
// DynamoDB. http.Server.Shutdown would wait 5 s for each server; the stack
// closes them and returns within a deadline shorter than that.
func TestShutdownClosesSpareConnections(t *testing.T) {
	s := newStack(t)
	for _, endpoint := range []string{s.HTTPURL, s.DynamoDBURL} {
		u, err := url.Parse(endpoint)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Once a later connection is served, the spare has been accepted:
		// a server accepts in order.
		resp, err := http.Get(endpoint)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("shutdown outlived its deadline: it waited for the spare connections")
	}
}
