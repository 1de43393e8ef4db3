package emulator

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/truora/minidyn/server"
)

// StartDynamoDB serves an in-memory DynamoDB (minidyn's JSON API server) on addr, ""
// meaning 127.0.0.1 on a free port. It returns the endpoint URL for the SDK's
// BaseEndpoint and a stop func that closes the server, cutting requests in progress;
// calling stop more than once is harmless. minidyn has no streams or ListTables, and
// deletes expired items only when its ExpireItems is called (see ServeDynamoDB).
func StartDynamoDB(addr string) (url string, stop func(), err error) {
	return ServeDynamoDB(addr, server.NewServer())
}

// ServeDynamoDB is StartDynamoDB with the emulator given, so that its caller
// can also reach it directly (the local stack runs its TTL sweeps).
func ServeDynamoDB(addr string, db http.Handler) (url string, stop func(), err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("start dynamodb: %w", err)
	}
	srv := &http.Server{Handler: db, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // http.ErrServerClosed once stopped
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			// Close, not Shutdown: Shutdown waits 5 s for a connection that
			// never sent a request, and the SDK client's pool leaves such
			// spares behind when two requests race for a new connection.
			// Whoever calls stop is done with the table.
			_ = srv.Close()
			<-served
		})
	}
	return "http://" + ln.Addr().String(), stop, nil
}
