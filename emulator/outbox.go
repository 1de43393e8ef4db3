package emulator

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultSendBuffer is the default of Config.SendBuffer. AWS does not document the
// size of its "WebSocket client side buffer".
const DefaultSendBuffer = 1 << 20

// closeFlushTimeout bounds how long a closing connection's outbox may take to write
// the messages accepted before the close; a client that does not read by then is
// dropped without a close frame.
const closeFlushTimeout = 2 * time.Second

// Errors of outbox.push.
var (
	// errOutboxFull: the messages waiting for the client already fill the buffer.
	errOutboxFull = errors.New("the WebSocket client side buffer is full")
	// errOutboxClosed: the connection is closing or gone.
	errOutboxClosed = errors.New("the connection is closing")
)

// outbox is one connection's outgoing messages: a bounded FIFO that one goroutine
// (run) writes to the client, what AWS calls the WebSocket client side buffer. A
// message it accepted is written after every message accepted before it, and
// before the close frame, unless the connection dies first. A post that finds it
// full is answered 429 LimitExceededException, as API Gateway answers for a client
// that reads too slowly.
type outbox struct {
	limit int // bytes

	mu       sync.Mutex
	queue    [][]byte
	queued   int    // bytes waiting or being written
	closing  func() // set by closeAfter: runs once the queue is written
	closed   bool   // closing has been started
	stopped  bool
	wake     chan struct{} // capacity 1: something changed
	ctx      context.Context
	cancel   context.CancelFunc
	deadline *time.Timer // the flush deadline once closing
}

func newOutbox(limit int) *outbox {
	ctx, cancel := context.WithCancel(context.Background())
	return &outbox{limit: limit, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
}

// push queues a message. It returns errOutboxFull if the waiting messages and this
// one would exceed the limit (an empty outbox takes any message), errOutboxClosed
// once the connection is closing.
func (o *outbox) push(data []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.stopped || o.closing != nil:
		return errOutboxClosed
	case o.queued > 0 && o.queued+len(data) > o.limit:
		return errOutboxFull
	}
	o.queue = append(o.queue, data)
	o.queued += len(data)
	o.signal()
	return nil
}

// closeAfter stops taking messages and has the writer call close once the messages
// already accepted are written, within closeFlushTimeout. Only the first call
// counts; on a stopped outbox close runs at once.
func (o *outbox) closeAfter(close func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closing != nil {
		return
	}
	o.closing = close
	if o.stopped {
		o.closed = true
		go close()
		return
	}
	o.deadline = time.AfterFunc(closeFlushTimeout, o.cancel)
	o.signal()
}

// stop ends the writer and drops what is still queued: the connection is gone. A
// close requested by closeAfter that has not run yet runs now, so the socket is
// released whatever happens.
func (o *outbox) stop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped {
		return
	}
	o.stopped = true
	o.queue = nil
	o.cancel()
	if o.deadline != nil {
		o.deadline.Stop()
	}
	if o.closing != nil && !o.closed {
		o.closed = true
		go o.closing()
	}
}

// signal wakes the writer; o.mu is held.
func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run writes the queued messages in order with write until the outbox is stopped,
// a write fails (the connection is broken: the read loop notices) or the close
// requested by closeAfter has run.
func (o *outbox) run(write func(ctx context.Context, data []byte) error) {
	for {
		o.mu.Lock()
		for !o.stopped && len(o.queue) == 0 && o.closing == nil {
			o.mu.Unlock()
			select {
			case <-o.wake:
			case <-o.ctx.Done():
			}
			o.mu.Lock()
		}
		if o.stopped {
			o.mu.Unlock()
			return
		}
		if len(o.queue) == 0 { // closing, and everything before the close is written
			close := o.closing
			o.closed = true
			o.deadline.Stop()
			o.mu.Unlock()
			close()
			return
		}
		data := o.queue[0]
		o.queue[0] = nil
		o.queue = o.queue[1:]
		o.mu.Unlock()

		err := write(o.ctx, data)
		o.mu.Lock()
		o.queued -= len(data)
		o.mu.Unlock()
		if err != nil {
			o.stop()
			return
		}
	}
}
