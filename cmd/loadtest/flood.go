package main

// The flood mode shows what the per-connection message limit
// (docs/security.md, "Limits per connection") does for everyone else.
// Well-behaved rooms relay at a fixed rate throughout, measured as in the
// relay mode; the run alternates -rounds quiet rounds with as many flooded
// rounds, in which one client, in a room of its own with a sink that
// receives its relays, sends relays at -flood-rate (0: as fast as its
// socket takes them). When the stack closes it, it connects again and goes
// on, as an abuser without a token would, until the round ends or it has
// sent -flood-messages in all. The report sets the flooded rounds' relay
// latency beside the quiet rounds' and says what the flooder got:
// rate-limited errors with their retryAfterMs, and how many of its
// connections the stack closed (DELETE @connections).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/coder/websocket"

	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/internal/localstack"
)

// floodConfig is what a flood run was asked to do: the well-behaved rooms
// in the relay mode's terms (Hold is each phase's length, cut into Rounds
// rounds of each kind), and the flooder.
type floodConfig struct {
	config
	FloodMessages int     `json:"floodMessages"`          // sent at most, over all the flooder's connections
	FloodRate     float64 `json:"floodMessagesPerSecond"` // 0: as fast as the socket takes them
	// FloodReconnect replaces a closed flooding connection at once; without
	// it each flooded round has one.
	FloodReconnect bool `json:"floodReconnect"`
}

// floodWindow is the stack's message window (handlers: messageWindow).
const floodWindow = 10 * time.Second

// addFloodFlags defines the flags of the flood mode alone; the well-behaved
// rooms take the relay mode's (-connections, -room, -rate, -hold, -rounds,
// -payload).
func addFloodFlags(fs *flag.FlagSet) {
	fs.Int("flood-messages", 5000, "flood mode: messages the flooder sends at most, over all its connections")
	fs.Bool("flood-reconnect", false, "flood mode: a flooding connection the stack closed is replaced at once, as a client without a token can (default: one new connection each flooded round)")
	fs.Float64("flood-rate", 500, "flood mode: the flooder's messages per second, 0 for as fast as its socket takes them (500: the stage's ThrottlingRateLimit, the most API Gateway passes on)")
}

// floodDefaults are the flood mode's defaults of the relay mode's flags it
// uses differently: 10 rooms of 4 relaying 2 signals a second, 10 s of
// each phase.
var floodDefaults = map[string]string{"connections": "40", "rate": "2", "hold": "10s"}

// floodConfigFrom reads the flood mode's configuration from parsed flags,
// with floodDefaults for the flags not given, and checks it.
func floodConfigFrom(fs *flag.FlagSet) (floodConfig, error) {
	get := flagsWithDefaults(fs, floodDefaults)
	base, err := oneStepConfig(get)
	c := floodConfig{
		config:        base,
		FloodMessages: get("flood-messages").(int),
		FloodRate:     get("flood-rate").(float64), FloodReconnect: get("flood-reconnect").(bool),
	}
	if err == nil && (c.FloodMessages < 1 || c.FloodRate < 0) {
		err = errors.New("-flood-messages must be positive and -flood-rate not negative")
	}
	return c, err
}

// flagsWithDefaults returns a getter of fs's parsed flags that first sets
// the flags not given on the command line to a mode's defaults.
func flagsWithDefaults(fs *flag.FlagSet, defaults map[string]string) func(name string) any {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	return func(name string) any {
		f := fs.Lookup(name)
		if d, ok := defaults[name]; ok && !given[name] {
			if err := f.Value.Set(d); err != nil {
				panic(err) // a bad default is a bug
			}
		}
		return f.Value.(flag.Getter).Get()
	}
}

// oneStepConfig is the relay mode's configuration, in one step, of a mode
// whose well-behaved rooms relay as the relay mode's do (flood, aws), and
// whether it is valid.
func oneStepConfig(get func(string) any) (config, error) {
	hold := get("hold").(time.Duration)
	c := config{
		Connections: get("connections").(int), Steps: 1, RoomSize: get("room").(int),
		RelaysPerSecond: get("rate").(float64), Hold: hold, HoldSeconds: hold.Seconds(), Rounds: get("rounds").(int),
		PayloadBytes: get("payload").(int), DialConcurrency: get("dial-concurrency").(int), JoinTimeout: 30 * time.Second,
	}
	switch {
	case c.RoomSize < 2 || c.Connections < c.RoomSize:
		return c, errors.New("-room must be at least 2 and -connections at least one room")
	case c.RelaysPerSecond <= 0 || c.Hold <= 0 || c.Rounds < 1:
		return c, errors.New("-rate, -hold and -rounds must be positive")
	case c.PayloadBytes < 32 || c.PayloadBytes > 32*1024:
		return c, errors.New("-payload must be from 32 to 32768 bytes")
	case c.DialConcurrency < 1:
		return c, errors.New("-dial-concurrency must be positive")
	}
	return c, nil
}

// checkLimit refuses well-behaved rooms that would themselves come near
// the stack's limit: they must stay well under it to measure anything.
func (c floodConfig) checkLimit(perWindow int) error {
	if offered := c.RelaysPerSecond * floodWindow.Seconds(); offered > float64(perWindow)/2 {
		return fmt.Errorf("-rate %g would send %.0f relays per %s window, more than half the limit (%d)", c.RelaysPerSecond, offered, floodWindow, perWindow)
	}
	return nil
}

// floodConn is one connection of the flooder.
type floodConn struct {
	Sent          int     `json:"sent"`
	RateLimited   int     `json:"rateLimited"`
	ClosedByStack bool    `json:"closedByStack"`
	ClosedAfterMs float64 `json:"closedAfterMs,omitempty"` // its first message to its end

	// Windows is how many of the stack's message windows (aligned to the
	// clock, as the store's are) its messages fell in, first to last: the
	// most it may have relayed is as many windows' worth.
	Windows int `json:"windows"`

	c           *client
	first, last time.Time
	ended       chan struct{} // closed when the connection has ended
}

// windows counts the message windows from fc's first message to its last.
func (fc *floodConn) windows() int {
	if fc.first.IsZero() {
		return 0
	}
	w := floodWindow.Milliseconds()
	return int(fc.last.UnixMilli()/w-fc.first.UnixMilli()/w) + 1
}

// floodOutcome is what the flooder sent and got.
type floodOutcome struct {
	Sent        int `json:"sent"`
	Relayed     int `json:"relayed"` // received by the sink
	RateLimited int `json:"rateLimited"`
	// RetryAfterMs of the rate-limited errors: the range.
	RetryAfterMsMin int64 `json:"retryAfterMsMin"`
	RetryAfterMsMax int64 `json:"retryAfterMsMax"`
	// ClosingErrors are the rate-limited errors saying the connection is
	// closed; ClosedByStack the connections that then ended without the
	// load test closing them.
	ClosingErrors int            `json:"closingErrors"`
	ClosedByStack int            `json:"closedByStack"`
	OtherErrors   map[string]int `json:"otherErrors,omitempty"`
	SetupErrors   map[string]int `json:"setupErrors,omitempty"` // connecting or entering the room failed
	Connections   []*floodConn   `json:"connections"`
}

// notLimited says why the flooder was not limited ("" if it was), given
// the stack's messages per window: it must have been refused, its
// connections may have relayed no more than a window's worth for each
// window their messages fell in (at least two: a burst across a window's
// boundary; a connection open through more, as on a slow stack, may
// relay more), and a connection that kept sending past that and twice a
// window's worth of refusals must have been closed.
func (o *floodOutcome) notLimited(perWindow int) string {
	windows := 0
	for _, fc := range o.Connections {
		if fc == nil || fc.Windows < 2 {
			windows += 2
		} else {
			windows += fc.Windows
		}
	}
	switch n := len(o.Connections); {
	case o.Sent == 0:
		return "it sent nothing"
	case o.RateLimited == 0:
		return fmt.Sprintf("none of its %d messages was refused", o.Sent)
	case o.Relayed > perWindow*windows:
		return fmt.Sprintf("%d of its messages were relayed, more than a window's worth (%d) for each of the %d windows its %d connections sent in", o.Relayed, perWindow, windows, n)
	case o.Sent > perWindow*windows+2*perWindow*n && o.ClosedByStack == 0: // what it may relay, and twice a window's refusals
		return fmt.Sprintf("it sent %d messages on %d connections and none was closed", o.Sent, n)
	}
	return ""
}

// flooder is the flooding client: its room's sink, its current connection
// and what it has sent and got. Its frames never reach the driver's
// counts, so that the driver's errors are the well-behaved rooms' own.
type flooder struct {
	d    *driver
	cfg  floodConfig
	sys  slsrtc
	room *group
	sink *client
	msg  func(dest string) []byte

	relayed atomic.Int64
	answers atomic.Int64 // frames the sink and the flooding connections got: while they come, the stack is still at work
	mu      sync.Mutex   // guards out, but for out.Relayed
	out     floodOutcome
	cur     *floodConn // nil once it ended
}

// newFlooder connects the sink and creates the flooder's room, as large as
// the stack allows, so that the seats of closed connections whose
// $disconnect is still on its way do not keep the next one out.
func newFlooder(ctx context.Context, d *driver, cfg floodConfig) (*flooder, error) {
	f := &flooder{d: d, cfg: cfg, sys: slsrtc{roomSize: handlers.DefaultMaxRoomCapacity}, room: newGroup()}
	pad := strings.Repeat("f", cfg.PayloadBytes)
	f.msg = func(dest string) []byte { return slsrtcRelay(dest, "ice-candidate", pad) }
	f.sink = &client{observe: func(fr *frame) bool {
		if fr.Type == "ice-candidate" {
			f.relayed.Add(1)
			f.answers.Add(1)
		}
		return true
	}}
	ctx, cancel := context.WithTimeout(ctx, cfg.JoinTimeout)
	defer cancel()
	if err := f.sys.join(ctx, d, f.sink, 0, f.room); err != nil {
		if f.sink.ws != nil {
			f.sink.ws.CloseNow()
		}
		return nil, fmt.Errorf("the flooder's room: %w", err)
	}
	f.sink.joined.Store(true)
	return f, nil
}

// connect opens a flooding connection in the room; nil if it failed (and
// counted).
func (f *flooder) connect(ctx context.Context) *floodConn {
	fc := &floodConn{ended: make(chan struct{})}
	fc.c = &client{observe: f.observer(fc)}
	fc.c.leaving.Store(true) // its end is expected, not a loss
	jctx, cancel := context.WithTimeout(ctx, f.cfg.JoinTimeout)
	err := f.sys.join(jctx, f.d, fc.c, 1, f.room)
	cancel()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		if f.out.SetupErrors == nil {
			f.out.SetupErrors = map[string]int{}
		}
		f.out.SetupErrors[shorten(err)]++
		if fc.c.ws != nil {
			fc.c.ws.CloseNow()
		}
		return nil
	}
	fc.c.joined.Store(true)
	go func() {
		for range fc.c.control { // closed when the connection ends
		}
		close(fc.ended)
	}()
	f.out.Connections = append(f.out.Connections, fc)
	return fc
}

// observer returns what counts the frames fc gets.
func (f *flooder) observer(fc *floodConn) func(*frame) bool {
	return func(fr *frame) bool {
		if fr.Type != "error" {
			return true // its room's presence
		}
		f.answers.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		o := &f.out
		if fr.Code != handlers.CodeRateLimited {
			if o.OtherErrors == nil {
				o.OtherErrors = map[string]int{}
			}
			o.OtherErrors[fr.Code]++
			return true
		}
		o.RateLimited++
		fc.RateLimited++
		if strings.Contains(fr.Message, "closed") {
			o.ClosingErrors++
		}
		if fr.Retry > 0 {
			if o.RetryAfterMsMin == 0 || fr.Retry < o.RetryAfterMsMin {
				o.RetryAfterMsMin = fr.Retry
			}
			o.RetryAfterMsMax = max(o.RetryAfterMsMax, fr.Retry)
		}
		return true
	}
}

// run floods for dur or until all -flood-messages are sent: at
// -flood-rate, or back to back when it is 0. It opens a connection if
// none is open; one the stack closes is replaced only with
// -flood-reconnect. One still open at the end stays for the next round.
// (A write whose context ends closes its connection: ctx is the run's.)
func (f *flooder) run(ctx context.Context, dur time.Duration) {
	start := time.Now()
	sentBefore := f.out.Sent
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for opened := 0; ctx.Err() == nil && time.Since(start) < dur && f.out.Sent < f.cfg.FloodMessages; {
		if f.cur == nil {
			if opened > 0 && !f.cfg.FloodReconnect {
				return
			}
			opened++
			if f.cur = f.connect(ctx); f.cur == nil {
				return // counted; the next round tries again
			}
		}
		due := f.cfg.FloodMessages
		if f.cfg.FloodRate > 0 {
			due = min(due, sentBefore+int(f.cfg.FloodRate*time.Since(start).Seconds()))
		}
		for f.out.Sent < due && ctx.Err() == nil && f.cur != nil && time.Since(start) < dur {
			if !f.send(ctx) {
				f.cur = nil
			}
		}
		if f.cfg.FloodRate > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
	}
}

// send sends one message on the current connection and reports whether
// the connection is still open; when it is not, it waits for its end.
func (f *flooder) send(ctx context.Context) bool {
	fc := f.cur
	select {
	case <-fc.ended:
		f.closedByStack(fc)
		return false
	default:
	}
	if fc.first.IsZero() {
		fc.first = time.Now()
	}
	if err := fc.c.write(ctx, f.msg(f.sink.id)); err != nil {
		if ctx.Err() != nil {
			return true // the run ended, not the connection
		}
		select {
		case <-fc.ended:
		case <-time.After(5 * time.Second):
		}
		f.closedByStack(fc)
		return false
	}
	f.mu.Lock()
	f.out.Sent++
	fc.Sent++
	fc.last = time.Now()
	fc.Windows = fc.windows()
	f.mu.Unlock()
	return true
}

// settle waits up to 10 s for fc to end or for the answers to the flood
// to stop coming (none for 500 ms): the stack may still be working through
// its messages.
func (f *flooder) settle(fc *floodConn) {
	deadline := time.Now().Add(10 * time.Second)
	for n := int64(-1); time.Now().Before(deadline); {
		m := f.answers.Load()
		if m == n {
			return
		}
		n = m
		select {
		case <-fc.ended:
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// closedByStack records that fc ended without the load test closing it.
func (f *flooder) closedByStack(fc *floodConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc.ClosedByStack = true
	fc.ClosedAfterMs = msSince(fc.first)
	f.out.ClosedByStack++
}

// finish waits for the open connection's answers, closes it and the sink,
// and returns the outcome.
func (f *flooder) finish() floodOutcome {
	if f.cur != nil {
		f.settle(f.cur)
		select {
		case <-f.cur.ended:
			f.closedByStack(f.cur)
		default:
			_ = f.cur.c.ws.Close(websocket.StatusNormalClosure, "load test done") // it may be closing already
		}
	}
	f.sink.leaving.Store(true)
	if err := f.sink.ws.Close(websocket.StatusNormalClosure, "load test done"); err != nil {
		f.sink.ws.CloseNow()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.out
	out.Relayed = int(f.relayed.Load())
	return out
}

// floodReport is the JSON a flood run writes.
type floodReport struct {
	Started time.Time   `json:"started"`
	Seconds float64     `json:"seconds"`
	Command []string    `json:"command"`
	Machine machine     `json:"machine"`
	Config  floodConfig `json:"config"`
	URL     string      `json:"url"`
	// Chaos is the in-process stack's profile (-simulate-aws), "" for none.
	Chaos string `json:"chaos,omitempty"`
	// LimitPerWindow is the stack's messages per connection per 10 s
	// window: the in-process stack's, or the default for a stack process.
	LimitPerWindow int `json:"limitPerWindow"`

	Quiet   stepResult   `json:"quiet"`   // the well-behaved rooms' quiet rounds
	Flooded stepResult   `json:"flooded"` // and their flooded rounds
	Flooder floodOutcome `json:"flooder"`

	// Flooded / quiet; the target is p99 within 20 % (≤ 1.2).
	P50Ratio            float64 `json:"p50Ratio"`
	P99Ratio            float64 `json:"p99Ratio"`
	MedianRoundP99Ratio float64 `json:"medianRoundP99Ratio"`
	WithinTarget        bool    `json:"withinTarget"`
	NotLimited          string  `json:"notLimited,omitempty"` // why the flooder was not limited; "" if it was
}

// runFloodMode runs the flood mode and returns the exit code: 1 also when
// the flooder was not limited.
func runFloodMode(fs *flag.FlagSet, o options, timeout time.Duration, stdout, stderr io.Writer) int {
	cfg, err := floodConfigFrom(fs)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 2
	}
	return runReportMode(fs, o, timeout, stdout, stderr,
		func(ctx context.Context, o options) (*floodReport, error) { return flood(ctx, cfg, o, stderr) },
		printFlood,
		func(rep *floodReport) error {
			if rep.NotLimited != "" {
				return fmt.Errorf("the flooder was not limited: %s", rep.NotLimited)
			}
			return nil
		})
}

// runReportMode is how a mode that measures one report runs (flood, aws):
// it ends with SIGINT, SIGTERM or timeout, records the command line with
// every flag given, prints the report and writes it as JSON (-json) even
// after an error, and returns 1 on an error or when verdict finds the run
// failed, else 0.
func runReportMode[R any](fs *flag.FlagSet, o options, timeout time.Duration, stdout, stderr io.Writer,
	run func(context.Context, options) (*R, error), show func(io.Writer, *R), verdict func(*R) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	o.command = append([]string{"loadtest"}, fs.Args()...)
	fs.Visit(func(f *flag.Flag) { o.command = append(o.command, "-"+f.Name+"="+f.Value.String()) })
	rep, err := run(ctx, o)
	if rep != nil {
		show(stdout, rep)
		if o.jsonOut != "" {
			if werr := writeJSON(o.jsonOut, rep); werr != nil && err == nil {
				err = werr
			}
		}
		if err == nil {
			err = verdict(rep)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	return 0
}

// flood runs the rounds against the in-process stack, or the one -slsrtc
// names. It returns the report of what it measured, even with an error.
func flood(ctx context.Context, cfg floodConfig, o options, stderr io.Writer) (*floodReport, error) {
	limit, err := raiseFileLimit(uint64(2*cfg.Connections + 512))
	if err != nil {
		return nil, err
	}
	url, proc, perSecond := o.slsURL, &process{pid: o.slsPID}, handlers.DefaultMessagesPerSecond
	var busy *inFlight // nil: the stack is another process
	if url == "" {
		busy = &inFlight{}
		so := o.stack()
		so.WrapHandler = busy.wrap
		stack, stopStack, err := startStack(ctx, so)
		if err != nil {
			return nil, err
		}
		defer stopStack()
		url, proc, perSecond = stack.WebSocketURL, &process{pid: os.Getpid(), self: true}, stack.Config.Limits.MessagesPerSecond
	} else if o.slsPID == 0 {
		return nil, errors.New("-slsrtc needs -slsrtc-pid, to measure the stack's CPU")
	}
	rep := &floodReport{
		Started: time.Now().UTC(), Command: o.command, Config: cfg, URL: url,
		Machine:        machine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(), FileLimit: limit, GOGC: os.Getenv("GOGC")},
		LimitPerWindow: perSecond * int(floodWindow/time.Second),
	}
	if busy != nil && (o.chaos.Gateway() || o.chaos.DynamoDB()) {
		rep.Chaos = o.chaos.String()
	}
	if err := cfg.checkLimit(rep.LimitPerWindow); err != nil {
		return nil, err
	}

	d := newDriver(slsrtc{roomSize: cfg.RoomSize}, url, cfg.config, proc)
	d.start(ctx)
	stopProgress := showProgress(stderr, d.status, o.quiet)
	quiet := d.join(ctx, 0)
	quiet.name = "quiet"
	if quiet.sr.JoinFailures > 0 {
		stopProgress()
		d.finish(nil)
		return nil, fmt.Errorf("%d well-behaved clients failed to join: %v", quiet.sr.JoinFailures, d.errs.snapshot())
	}
	f, err := newFlooder(ctx, d, cfg)
	if err != nil {
		stopProgress()
		d.finish(nil)
		return nil, err
	}
	flooded := d.newRun("flooded")
	round := cfg.Hold / time.Duration(cfg.Rounds)
	for r := 0; r < cfg.Rounds && ctx.Err() == nil; r++ {
		d.relayRound(ctx, quiet, r, round)
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.run(ctx, round)
		}()
		d.relayRound(ctx, flooded, r, round)
		<-done
		if f.cur != nil {
			f.settle(f.cur) // its backlog is not the next quiet round's
		}
		busy.settle(ctx, 30*time.Second)
	}
	rep.Flooder = f.finish()
	rep.Quiet, rep.Flooded = d.summarize(quiet), d.summarize(flooded)
	d.finish(nil)
	stopProgress()
	rep.Seconds = time.Since(rep.Started).Seconds()
	rep.judge()
	if ctx.Err() != nil {
		return rep, fmt.Errorf("stopped early: %w", context.Cause(ctx))
	}
	return rep, nil
}

// judge sets the ratios and verdicts from the results.
func (r *floodReport) judge() {
	q, f := r.Quiet, r.Flooded
	r.P50Ratio, r.P99Ratio = ratio(f.RelayP50Ms, q.RelayP50Ms), ratio(f.RelayP99Ms, q.RelayP99Ms)
	r.MedianRoundP99Ratio = ratio(f.RelayP99MsMedianOfRounds, q.RelayP99MsMedianOfRounds)
	r.WithinTarget = r.P99Ratio > 0 && r.P99Ratio <= 1.2 && q.RelaysLost == 0 && f.RelaysLost == 0
	r.NotLimited = r.Flooder.notLimited(r.LimitPerWindow)
}

// inFlight counts the in-process stack's invocations under way.
type inFlight struct{ n atomic.Int64 }

func (b *inFlight) wrap(h lambda.Handler) lambda.Handler { return counted{h, b} }

// counted is a handler counted in an inFlight.
type counted struct {
	lambda.Handler
	b *inFlight
}

func (c counted) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	c.b.n.Add(1)
	defer c.b.n.Add(-1)
	return c.Handler.Invoke(ctx, payload)
}

// settle waits, up to limit, until the stack has no more invocations under
// way than the well-behaved rooms keep it busy with: the messages of a
// flooding connection it closed are still invoked after it is gone, and
// must not fall on the next quiet round. A nil b (a stack process) does
// not wait.
func (b *inFlight) settle(ctx context.Context, limit time.Duration) {
	for deadline := time.Now().Add(limit); b != nil && b.n.Load() > 8 && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(50 * time.Millisecond)
	}
}

// startStack starts the local stack in this process; stop shuts it down.
func startStack(ctx context.Context, o localstack.Options) (stack *localstack.Stack, stop func(), err error) {
	stack, err = localstack.Start(ctx, o)
	if err != nil {
		return nil, nil, fmt.Errorf("start the local stack: %w", err)
	}
	return stack, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		_ = stack.Shutdown(sctx)
	}, nil
}

// printFlood writes a flood run's results: the relay mode's table with a
// row for the quiet and the flooded rounds, then the flooder's outcome and
// the verdicts.
func printFlood(w io.Writer, r *floodReport) {
	c := r.Config
	printSummary(w, &report{Systems: []systemResult{{
		Name: fmt.Sprintf("well-behaved rooms, %d rounds quiet (first row), %d flooded (second row)", c.Rounds, c.Rounds),
		URL:  r.URL, Steps: []stepResult{r.Quiet, r.Flooded},
	}}})
	o := r.Flooder
	pace := fmt.Sprintf("at %g/s", c.FloodRate)
	if c.FloodRate == 0 {
		pace = "back to back"
	}
	fmt.Fprintf(w, "\nflooder (%s, limit %d per %s window): %d messages on %d connections, %d relayed, %d rate-limited (retryAfterMs %d–%d), %d saying closed; %d connections closed by the stack",
		pace, r.LimitPerWindow, floodWindow, o.Sent, len(o.Connections), o.Relayed, o.RateLimited, o.RetryAfterMsMin, o.RetryAfterMsMax, o.ClosingErrors, o.ClosedByStack)
	var after []float64
	for _, fc := range o.Connections {
		if fc.ClosedByStack {
			after = append(after, fc.ClosedAfterMs)
		}
	}
	if len(after) > 0 {
		fmt.Fprintf(w, ", a median %.0f ms after their first message", percentile(after, 50))
	}
	fmt.Fprintln(w)
	for k, v := range o.OtherErrors {
		fmt.Fprintf(w, "  flooder error %q ×%d\n", k, v)
	}
	for k, v := range o.SetupErrors {
		fmt.Fprintf(w, "  flooder could not connect: %q ×%d\n", k, v)
	}
	fmt.Fprintf(w, "flooded / quiet relay latency: p50 %.2f, p99 %.2f, median of the rounds' p99s %.2f; within 20 %% with nothing lost: %v\n",
		r.P50Ratio, r.P99Ratio, r.MedianRoundP99Ratio, r.WithinTarget)
	if r.NotLimited != "" {
		fmt.Fprintf(w, "the flooder was NOT limited: %s\n", r.NotLimited)
	} else {
		fmt.Fprintln(w, "the flooder was limited")
	}
}
