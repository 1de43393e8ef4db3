package coldstart_test

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// buildBootstrap returns the bootstrap to run: SLSRTC_BOOTSTRAP if set,
// else the module's main package built for this machine with the flags the
// deployment uses (Makefile/template: -tags lambda.norpc -trimpath -ldflags
// "-s -w", CGO off).
func buildBootstrap(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SLSRTC_BOOTSTRAP"); p != "" {
		return p
	}
	if runtime.GOOS != "linux" {
		t.Skip("the bootstrap is a Linux program")
	}
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, "github.com/slsrtc/slsrtc")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, b)
	}
	return out
}

// proxyTrap is an HTTP proxy that refuses everything and remembers what was
// asked of it. Set as HTTPS_PROXY and HTTP_PROXY, it sees every connection
// the bootstrap tries to open outside loopback (Go never proxies loopback).
type proxyTrap struct {
	ln net.Listener
	mu sync.Mutex
	// requests are the first lines received, e.g. "CONNECT
	// dynamodb.us-east-1.amazonaws.com:443 HTTP/1.1".
	requests []string
}

func newProxyTrap(t testing.TB) *proxyTrap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxyTrap{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				p.mu.Lock()
				p.requests = append(p.requests, strings.TrimSpace(line))
				p.mu.Unlock()
				_, _ = c.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *proxyTrap) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// startBootstrap starts the bootstrap against api, with the environment
// Lambda gives a function (fake credentials) and every connection outside
// loopback sent to proxy. It returns when the process has started; the
// process is killed when the test ends.
func startBootstrap(t testing.TB, bootstrap string, api *runtimeAPI, proxy *proxyTrap) *exec.Cmd {
	t.Helper()
	var cmd *exec.Cmd
	if runner := os.Getenv("SLSRTC_BOOTSTRAP_EXEC"); runner != "" {
		cmd = exec.Command(runner, bootstrap)
	} else {
		cmd = exec.Command(bootstrap)
	}
	proxyURL := "http://" + proxy.ln.Addr().String()
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"HOME=" + t.TempDir(),
		"AWS_LAMBDA_RUNTIME_API=" + api.addr(),
		"AWS_LAMBDA_FUNCTION_NAME=slsrtc",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDCOLDSTART",
		"AWS_SECRET_ACCESS_KEY=secret",
		"AWS_SESSION_TOKEN=token",
		"TABLE_NAME=slsrtc",
		"CONNECTIONS_URL=" + api.server.URL + "/stage",
		"HTTPS_PROXY=" + proxyURL,
		"HTTP_PROXY=" + proxyURL,
		// Without resume a ping needs no AWS service; with it, a ping
		// also sweeps the caller's room (two reads of DynamoDB).
		"RESUME_GRACE_SECONDS=0",
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start bootstrap: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// event returns the JSON of an API Gateway WebSocket event.
func event(t testing.TB, routeKey, eventType, body string) []byte {
	t.Helper()
	b, err := json.Marshal(events.APIGatewayWebsocketProxyRequest{
		Body: body,
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey: routeKey, EventType: eventType, ConnectionID: "coldConn=", RequestID: "cold",
			ConnectedAt: time.Now().UnixMilli(), Stage: "stage",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// statusOf decodes the statusCode of a function response.
func statusOf(t testing.TB, r runtimeResponse) int {
	t.Helper()
	if !strings.HasSuffix(r.path, "/response") {
		t.Fatalf("bootstrap answered %s: %s", r.path, r.body)
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal([]byte(r.body), &resp); err != nil {
		t.Fatalf("response %q: %v", r.body, err)
	}
	return resp.StatusCode
}

// TestBootstrapInitMakesNoNetworkCall runs the bootstrap the way Lambda
// does: init must reach the Runtime API without opening any connection
// (clients are built, nothing is fetched), and a first event that needs no
// AWS service — a ping, answered through @connections on loopback — is
// handled without one either. A $connect then writes to DynamoDB, which is
// not on loopback: the trap must see that call, which shows it would have
// seen any earlier one.
func TestBootstrapInitMakesNoNetworkCall(t *testing.T) {
	api := newRuntimeAPI(t)
	proxy := newProxyTrap(t)
	startBootstrap(t, buildBootstrap(t), api, proxy)

	api.events <- event(t, "ping", "MESSAGE", `{"action":"ping"}`)
	if status := statusOf(t, api.next(t, 60*time.Second)); status != 200 {
		t.Fatalf("ping answered %d", status)
	}
	api.mu.Lock()
	pong := api.posts["coldConn="]
	api.mu.Unlock()
	if len(pong) != 1 || !strings.Contains(pong[0], `"pong"`) {
		t.Errorf("@connections got %q, want one pong", pong)
	}
	if seen := proxy.seen(); len(seen) != 0 {
		t.Fatalf("init and a ping opened connections outside loopback: %q", seen)
	}

	api.events <- event(t, "$connect", "CONNECT", "")
	if status := statusOf(t, api.next(t, 60*time.Second)); status != 500 {
		t.Errorf("$connect with DynamoDB unreachable answered %d, want 500", status)
	}
	seen := proxy.seen()
	if len(seen) == 0 || !strings.Contains(seen[0], "dynamodb.us-east-1.amazonaws.com:443") {
		t.Errorf("the trap saw %q, want the DynamoDB call of $connect", seen)
	}
}

// BenchmarkColdStart starts the bootstrap b.N times and reports the time
// from process start to the Runtime API's first /next (init-ms: the Go
// runtime, configuration and SDK clients) and to the response of its first
// event, a ping answered through @connections (first-event-ms).
func BenchmarkColdStart(b *testing.B) {
	bootstrap := buildBootstrap(b)
	ping := event(b, "ping", "MESSAGE", `{"action":"ping"}`)
	var initTotal, firstTotal time.Duration
	b.ResetTimer()
	for range b.N {
		api := newRuntimeAPI(b)
		proxy := newProxyTrap(b)
		api.events <- ping
		start := time.Now()
		cmd := startBootstrap(b, bootstrap, api, proxy)
		r := api.next(b, 60*time.Second)
		if statusOf(b, r) != 200 {
			b.Fatalf("ping answered %s", r.body)
		}
		api.mu.Lock()
		initTotal += api.firstNext.Sub(start)
		api.mu.Unlock()
		firstTotal += r.at.Sub(start)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	if fi, err := os.Stat(bootstrap); err == nil {
		b.ReportMetric(float64(fi.Size())/1e6, "MB")
	}
	b.ReportMetric(float64(initTotal.Microseconds())/1000/float64(b.N), "init-ms")
	b.ReportMetric(float64(firstTotal.Microseconds())/1000/float64(b.N), "first-event-ms")
}
