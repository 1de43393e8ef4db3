package testkit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// Proxy relays WebSocket messages between clients and a stack over
// loopback, one connection to the stack for each client connection, so
// that a test can hold, reorder or drop messages and cut connections the
// way a network does: without a close frame, so the stack sees an abnormal
// closure (and holds the seat for a resume).
type Proxy struct {
	// URL is the proxy's WebSocket URL, with the stack's path.
	URL string

	upstream string // the stack's ws://HOST
	srv      *httptest.Server

	mu     sync.Mutex
	conns  map[*ProxyConn]bool
	refuse bool
	filter Filter
}

// Filter decides what a proxied connection passes on: it gets each message
// (toClient: from the stack to the client) and returns the messages to
// pass on in its place (none holds or drops it), and whether to cut the
// connection once they are passed on. It runs on the connection's relay
// goroutine for that direction.
type Filter func(c *ProxyConn, toClient bool, msg []byte) (pass [][]byte, cut bool)

// ProxyConn is one client connection through a Proxy.
type ProxyConn struct {
	client, stack *websocket.Conn
	once          sync.Once
	mu            sync.Mutex // orders writes to the client from Send and the relay
	// Values is the filter's own state for this connection.
	Values sync.Map
}

// StartProxy starts a proxy in front of the stack whose WebSocket URL is
// stackURL (ws://HOST/STAGE) and stops it when the test ends.
func StartProxy(t testing.TB, stackURL string) *Proxy {
	t.Helper()
	i := strings.Index(strings.TrimPrefix(stackURL, "ws://"), "/")
	if !strings.HasPrefix(stackURL, "ws://") || i < 0 {
		t.Fatalf("proxy: %q is not ws://HOST/STAGE", stackURL)
	}
	p := &Proxy{upstream: stackURL[:len("ws://")+i], conns: map[*ProxyConn]bool{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = "ws://" + strings.TrimPrefix(p.srv.URL, "http://") + stackURL[len("ws://")+i:]
	t.Cleanup(func() {
		p.CutAll()
		p.srv.Close()
	})
	return p
}

// SetFilter sets the filter of the connections made from now on (nil
// passes everything).
func (p *Proxy) SetFilter(f Filter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.filter = f
}

// Refuse makes the proxy refuse new connections with HTTP 503 (as a
// network that is down), or accept them again.
func (p *Proxy) Refuse(refuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = refuse
}

// CutAll cuts every connection through the proxy.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	conns := make([]*ProxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.Cut()
	}
}

// Conns returns how many connections are open through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	refuse, filter := p.refuse, p.filter
	p.mu.Unlock()
	if refuse {
		http.Error(w, "the proxy refuses connections", http.StatusServiceUnavailable)
		return
	}
	header := http.Header{}
	if o := r.Header.Get("Origin"); o != "" {
		header.Set("Origin", o)
	}
	stack, resp, err := websocket.Dial(r.Context(), p.upstream+r.URL.RequestURI(), &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		status := http.StatusBadGateway
		if resp != nil {
			status = resp.StatusCode
		}
		http.Error(w, err.Error(), status)
		return
	}
	client, err := websocket.Accept(w, r, nil)
	if err != nil {
		stack.CloseNow()
		return
	}
	client.SetReadLimit(-1)
	stack.SetReadLimit(-1)
	c := &ProxyConn{client: client, stack: stack}
	p.mu.Lock()
	p.conns[c] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	if filter == nil {
		filter = func(_ *ProxyConn, _ bool, msg []byte) ([][]byte, bool) { return [][]byte{msg}, false }
	}
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.relay(ctx, stack, true, filter)
	}()
	c.relay(ctx, client, false, filter)
	<-done
}

// relay passes the messages from src on to the other side until either
// side ends; a close frame from one side is passed on as a close frame.
func (c *ProxyConn) relay(ctx context.Context, src *websocket.Conn, toClient bool, filter Filter) {
	defer c.Cut()
	for {
		typ, msg, err := src.Read(ctx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != -1 {
				dst := c.client
				if !toClient {
					dst = c.stack
				}
				_ = dst.Close(code, "")
			}
			return
		}
		pass, cut := filter(c, toClient, msg)
		for _, m := range pass {
			if err := c.write(ctx, toClient, typ, m); err != nil {
				return
			}
		}
		if cut {
			return
		}
	}
}

func (c *ProxyConn) write(ctx context.Context, toClient bool, typ websocket.MessageType, msg []byte) error {
	if !toClient {
		return c.stack.Write(ctx, typ, msg)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.client.Write(ctx, typ, msg)
}

// SendToClient writes msg to the client, as if the stack had sent it (a
// message a filter held).
func (c *ProxyConn) SendToClient(ctx context.Context, msg []byte) error {
	return c.write(ctx, true, websocket.MessageText, msg)
}

// Cut drops both sides without a close frame.
func (c *ProxyConn) Cut() {
	c.once.Do(func() {
		c.client.CloseNow()
		c.stack.CloseNow()
	})
}
