package client_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/client"
	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/stacktest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// waitTimeout bounds every wait on an event: generous, as the tests run
// under -race on two cores, and never an assertion of how long things take.
const waitTimeout = 30 * time.Second

// startStack starts a local stack in-process with the function's settings
// env (RESUME_GRACE_SECONDS is 0 unless env sets it) and opts.
func startStack(t *testing.T, env map[string]string, opts localstack.Options) *localstack.Stack {
	t.Helper()
	opts.Template = "../template.yaml"
	opts.Getenv = func(k string) string { return env[k] }
	s, _ := stacktest.Start(t, opts)
	return s
}

// timeout returns a context that ends after waitTimeout or with the test.
func timeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// member is a room joined for a test, with every event it received.
type member struct {
	*client.Room
	name string
	rec  *recorder
}

// join joins url's room (a new one if roomID is "") as name, on loopback;
// it leaves when the test ends.
func join(t *testing.T, url, roomID, name string, opts client.Options) *member {
	t.Helper()
	opts.RoomID, opts.UserName = roomID, name
	if opts.API == nil {
		opts.API = testkit.LoopbackAPI()
	}
	room, err := client.Join(timeout(t), url, opts)
	if err != nil {
		t.Fatalf("%s joins: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := room.Leave(ctx); err != nil {
			t.Errorf("%s leaves: %v", name, err)
		}
	})
	return &member{Room: room, name: name, rec: record(room)}
}

// recorder keeps every event of a room, for tests to wait on.
type recorder struct {
	mu      sync.Mutex
	changed chan struct{}
	events  []client.Event
	ended   bool
}

func record(room *client.Room) *recorder {
	r := &recorder{changed: make(chan struct{})}
	go func() {
		for ev := range room.Events() {
			r.update(func() { r.events = append(r.events, ev) })
		}
		r.update(func() { r.ended = true })
	}()
	return r
}

func (r *recorder) update(change func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change()
	close(r.changed)
	r.changed = make(chan struct{})
}

// wait waits until cond holds on the events so far.
func (m *member) wait(t *testing.T, what string, cond func([]client.Event) bool) {
	t.Helper()
	ctx := timeout(t)
	for {
		m.rec.mu.Lock()
		ok, ended, changed := cond(m.rec.events), m.rec.ended, m.rec.changed
		m.rec.mu.Unlock()
		if ok {
			return
		}
		if ended {
			t.Fatalf("%s: waiting for %s: the room ended (%v); events:\n%s", m.name, what, m.Err(), m.describe())
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("%s: waiting for %s: %v; events:\n%s", m.name, what, ctx.Err(), m.describe())
		}
	}
}

// count returns how many events cond accepts.
func (m *member) count(cond func(client.Event) bool) int {
	m.rec.mu.Lock()
	defer m.rec.mu.Unlock()
	n := 0
	for _, ev := range m.rec.events {
		if cond(ev) {
			n++
		}
	}
	return n
}

// describe lists the events, for a failure message.
func (m *member) describe() string {
	m.rec.mu.Lock()
	defer m.rec.mu.Unlock()
	var b strings.Builder
	for _, ev := range m.rec.events {
		fmt.Fprintf(&b, "  %s\n", describeEvent(ev))
	}
	return b.String()
}

func describeEvent(ev client.Event) string {
	switch ev := ev.(type) {
	case *client.PeerJoined:
		return fmt.Sprintf("PeerJoined %s (%s)", ev.Peer.UserName(), ev.Peer.ID())
	case *client.PeerLeft:
		return fmt.Sprintf("PeerLeft %s (%s) %s", ev.Peer.UserName(), ev.Peer.ID(), ev.Reason)
	case *client.PeerResumed:
		return fmt.Sprintf("PeerResumed %s", ev.Peer.UserName())
	case *client.DataChannelOpened:
		return fmt.Sprintf("DataChannelOpened %s %s", ev.Peer.UserName(), ev.Channel.Label())
	case *client.Message:
		return fmt.Sprintf("Message from %s: %q", ev.Peer.UserName(), ev.Data)
	case *client.ICEStateChanged:
		return fmt.Sprintf("ICEStateChanged %s %s", ev.Peer.UserName(), ev.State)
	case *client.ErrorEvent:
		return fmt.Sprintf("ErrorEvent %v", ev.Err)
	case *client.Reconnecting:
		return fmt.Sprintf("Reconnecting #%d (%v)", ev.Attempt, ev.Err)
	case *client.Resumed:
		return fmt.Sprintf("Resumed proactive=%v rejoined=%v", ev.Proactive, ev.Rejoined)
	}
	return fmt.Sprintf("%T", ev)
}

// waitPeer waits until the member has a peer named name whose default data
// channel is open, and returns it.
func (m *member) waitPeer(t *testing.T, name string) *client.Peer {
	t.Helper()
	var p *client.Peer
	m.wait(t, "the data channel with "+name, func(evs []client.Event) bool {
		p = nil
		for _, ev := range evs {
			switch ev := ev.(type) {
			case *client.DataChannelOpened:
				if ev.Peer.UserName() == name && ev.Channel.Label() == client.DefaultChannelLabel {
					p = ev.Peer
				}
			case *client.PeerLeft:
				if ev.Peer == p {
					p = nil
				}
			}
		}
		return p != nil
	})
	return p
}

// got reports whether text arrived from the peer named from.
func got(evs []client.Event, from, text string) bool {
	for _, ev := range evs {
		if m, ok := ev.(*client.Message); ok && m.Peer.UserName() == from && string(m.Data) == text {
			return true
		}
	}
	return false
}

// talk sends a new text from each member to each other and waits for all
// of them.
func talk(t *testing.T, members ...*member) {
	t.Helper()
	for _, from := range members {
		for _, to := range members {
			if from == to {
				continue
			}
			p := from.waitPeer(t, to.name)
			text := fmt.Sprintf("hello %s from %s #%d", to.name, from.name, nextMessage())
			if err := p.SendText(timeout(t), text); err != nil {
				t.Fatalf("%s sends to %s: %v", from.name, to.name, err)
			}
			to.wait(t, fmt.Sprintf("%q", text), func(evs []client.Event) bool { return got(evs, from.name, text) })
		}
	}
}

var (
	messagesMu sync.Mutex
	messages   int
)

func nextMessage() int {
	messagesMu.Lock()
	defer messagesMu.Unlock()
	messages++
	return messages
}

// isLeft accepts a PeerLeft.
func isLeft(ev client.Event) bool { _, ok := ev.(*client.PeerLeft); return ok }

// isError accepts an ErrorEvent.
func isError(ev client.Event) bool { _, ok := ev.(*client.ErrorEvent); return ok }
