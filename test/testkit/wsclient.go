package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Client is a WebSocket client of a stack (local or deployed) that records
// every frame it receives, in order, from a reader of its own. Its methods
// return errors instead of failing a test, so that it can be used from many
// goroutines.
type Client struct {
	// ID is the connection ID the stack told it ("connected"), and
	// ParticipantID and ResumeToken the participant and resume token.
	ID, ParticipantID, ResumeToken string
	// VAPIDPublicKey is the stack's Web Push key ("connected"), if any.
	VAPIDPublicKey string

	ws  *websocket.Conn
	tcp *net.TCPConn

	mu     sync.Mutex
	cond   *sync.Cond
	frames [][]byte
	err    error // why the reader stopped
	views  map[string]*View
}

// Frame is the union of the fields of the frames a client receives.
type Frame struct {
	Type         string `json:"type"`
	Body         string `json:"body"`
	From         string `json:"from"`
	Code         string `json:"code"`
	Message      string `json:"message"`
	RoomID       string `json:"roomID"`
	ConnectionID string `json:"connectionID"`
	UserName     string `json:"userName"`
	Reason       string `json:"reason"`
	// participantID on presence, relayed and connected frames; the rest
	// on resumed and undeliverable frames.
	ParticipantID        string `json:"participantID"`
	PreviousConnectionID string `json:"previousConnectionID"`
	ResumeToken          string `json:"resumeToken"`
	Dest                 string `json:"dest"`
	Count                int    `json:"count"`
	Seq                  int64  `json:"seq"`
	VAPIDPublicKey       string `json:"vapidPublicKey"`
	Members              []struct {
		ConnectionID string `json:"connectionID"`
		UserName     string `json:"userName"`
	} `json:"members"`
	// Raw is the frame as received.
	Raw []byte `json:"-"`
}

// Dial connects to url, starts the reader and waits for the "connected"
// frame, whose body becomes ID.
func Dial(ctx context.Context, url string) (*Client, error) { return DialHeader(ctx, url, nil) }

// DialHeader is Dial with extra handshake headers (an Origin, say). A
// refused handshake's error names the HTTP status ("got 401").
func DialHeader(ctx context.Context, url string, header http.Header) (*Client, error) {
	c := &Client{views: map[string]*View{}}
	c.cond = sync.NewCond(&c.mu)
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tcp, ok := conn.(*net.TCPConn); ok {
			c.tcp = tcp
		}
		return conn, err
	}}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: transport}, HTTPHeader: header})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	ws.SetReadLimit(-1)
	c.ws = ws
	go c.read()
	f, err := c.Next(ctx, func(f Frame) bool { return f.Type == "connected" })
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	c.ID, c.ParticipantID, c.ResumeToken, c.VAPIDPublicKey = f.Body, f.ParticipantID, f.ResumeToken, f.VAPIDPublicKey
	return c, nil
}

func (c *Client) read() {
	for {
		_, data, err := c.ws.Read(context.Background())
		c.mu.Lock()
		if err != nil {
			c.err = err
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		c.frames = append(c.frames, data)
		for _, v := range c.views {
			_ = v.Apply(data) // a malformed frame shows as a wrong view
		}
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// Watch returns the client's view of room, built from the frames it
// receives from now on.
func (c *Client) Watch(room string) *View {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.views[room]; ok {
		return v
	}
	v := NewView(room)
	c.views[room] = v
	return v
}

// Send sends one text message.
func (c *Client) Send(ctx context.Context, msg string) error {
	return c.ws.Write(ctx, websocket.MessageText, []byte(msg))
}

// Next waits for a frame that match accepts, among the frames received
// since the last frame Next returned, and returns it. It fails when ctx
// ends or the connection does.
func (c *Client) Next(ctx context.Context, match func(Frame) bool) (Frame, error) {
	var f Frame
	var ferr error
	err := c.waitFor(ctx, func() bool {
		for len(c.frames) > 0 {
			raw := c.frames[0]
			c.frames = c.frames[1:]
			f = Frame{Raw: raw}
			if ferr = json.Unmarshal(raw, &f); ferr != nil {
				ferr = fmt.Errorf("frame %s: %w", raw, ferr)
				return true
			}
			if match(f) {
				return true
			}
		}
		return c.err != nil
	})
	switch {
	case err != nil:
		return Frame{}, err
	case ferr != nil:
		return f, ferr
	case f.Raw == nil || !match(f):
		return Frame{}, fmt.Errorf("connection %s ended: %w", c.ID, c.err)
	}
	return f, nil
}

// waitFor waits, holding c.mu between checks, until done reports true, and
// returns nil; or until ctx ends, and returns its error.
func (c *Client) waitFor(ctx context.Context, done func() bool) error {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for !done() {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.cond.Wait()
	}
	return nil
}

// Close closes the connection with a close frame (code 1000).
func (c *Client) Close() error { return c.ws.Close(websocket.StatusNormalClosure, "") }

// Reset drops the TCP connection with an RST, without a close frame: the
// client vanishes, as a phone that loses its network does.
func (c *Client) Reset() error {
	if c.tcp == nil {
		return errors.New("no TCP connection to reset")
	}
	if err := c.tcp.SetLinger(0); err != nil {
		return err
	}
	return c.tcp.Close()
}

// Ended reports whether the connection has ended (the stack closed it, or
// the client did).
func (c *Client) Ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// wait bounds what the test helpers below wait for: generous, because
// tests never assert how long things take.
const wait = 20 * time.Second

// Connect connects a client to a stack for a test: it fails the test if
// the connection or its "connected" frame does not come, and closes the
// connection when the test ends.
func Connect(t testing.TB, url string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.ws.CloseNow() })
	return c
}

// MustSend sends msg, failing the test if it cannot.
func (c *Client) MustSend(t testing.TB, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.Send(ctx, msg); err != nil {
		t.Fatalf("%s: send %s: %v", c.ID, msg, err)
	}
}

// Expect waits for the next frame of type typ (skipping others) and
// returns it. It fails the test on an error frame (unless typ is "error"),
// on API Gateway's own error frames, and when nothing comes.
func (c *Client) Expect(t testing.TB, typ string) Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	f, err := c.Next(ctx, func(f Frame) bool {
		return f.Type == typ || f.Type == "error" || f.Type == "" && f.Message != ""
	})
	switch {
	case err != nil:
		t.Fatalf("%s: waiting for %q: %v", c.ID, typ, err)
	case f.Type != typ:
		t.Fatalf("%s: waiting for %q got %s", c.ID, typ, f.Raw)
	}
	return f
}

// ExpectAbout waits for the next frame of type typ about connectionID
// (a presence frame), skipping others.
func (c *Client) ExpectAbout(t testing.TB, typ, connectionID string) Frame {
	t.Helper()
	for {
		if f := c.Expect(t, typ); f.ConnectionID == connectionID {
			return f
		}
	}
}

// Wait waits until the connection ends and returns why (a
// websocket.CloseError when the stack closed it with a close frame), or
// ctx's error.
func (c *Client) Wait(ctx context.Context) error {
	if err := c.waitFor(ctx, func() bool { return c.err != nil }); err != nil {
		return err
	}
	return c.err
}
