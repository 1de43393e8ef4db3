package localstack_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/stacktest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// BenchmarkStackRelay relays one signal at a time through the local stack in
// this process, from a real WebSocket client to its room mate: frame in,
// the emulated API Gateway's event, the function (its rate update and read
// in DynamoDB, its post to @connections), frame out. ns/op is a relay's
// latency on an idle stack; cpu-ns/op (the process's CPU time: every
// goroutine, the collector's included) and allocs/op are what it costs
// both ends, which other work on a shared machine changes less. Each is
// measured with the function's SDK calls served in process (the default)
// and over loopback TCP (SDKOverTCP). docs/performance.md has the numbers.
//
//	go test -run '^$' -bench StackRelay -benchmem ./internal/localstack
func BenchmarkStackRelay(b *testing.B) {
	for _, bm := range []struct {
		name string
		tcp  bool
	}{{"in-process", false}, {"tcp", true}} {
		b.Run(bm.name, func(b *testing.B) {
			s, _ := stacktest.Start(b, localstack.Options{
				Template:   "../../template.yaml",
				SDKOverTCP: bm.tcp,
				// The benchmark sends faster than a client may: no rate limit.
				Getenv: func(name string) string {
					if name == "MESSAGES_PER_SECOND" {
						return "100000"
					}
					return ""
				},
			})
			a := testkit.Connect(b, s.WebSocketURL)
			a.MustSend(b, `{"action":"createroom"}`)
			room := a.Expect(b, "room-created").Body
			a.MustSend(b, `{"action":"enterroom","roomID":"`+room+`"}`)
			a.Expect(b, "room-members")
			c := testkit.Connect(b, s.WebSocketURL)
			c.MustSend(b, `{"action":"enterroom","roomID":"`+room+`"}`)
			c.Expect(b, "room-members")
			a.Expect(b, "enter")

			relay := `{"action":"message","dest":"` + c.ID + `","type":"candidate","message":"{\"candidate\":\"candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host\"}"}`
			isCandidate := func(f testkit.Frame) bool { return f.Type == "candidate" || f.Type == "error" }
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU(b)
			for range b.N {
				if err := a.Send(ctx, relay); err != nil {
					b.Fatal(err)
				}
				f, err := c.Next(ctx, isCandidate)
				if err != nil {
					b.Fatal(err)
				}
				if f.Type != "candidate" {
					b.Fatalf("relay: %s", f.Raw)
				}
			}
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU returns the CPU time this process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
