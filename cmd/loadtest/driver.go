package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// client is one WebSocket client of a system.
type client struct {
	ws      *websocket.Conn
	id      string
	dest    string      // the group member it relays to ("" if none)
	control chan *frame // frames other than relays, while joining
	joined  atomic.Bool
	leaving atomic.Bool // closed on purpose (churn): the end of its connection is no error
	lost    atomic.Bool // its connection ended without the load test closing it

	// observe, if set, sees every frame once the client has joined, before
	// the driver does, and reports whether it dealt with it (flood mode).
	observe func(f *frame) bool
}

func (c *client) dial(ctx context.Context, d *driver, u string) error {
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	c.ws = ws
	c.control = make(chan *frame, 16)
	go c.read(d)
	return nil
}

// read reads frames until the connection ends: relays are recorded, other
// frames go to control while joining and are checked for errors after.
func (c *client) read(d *driver) {
	defer close(c.control)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			if !d.closing.Load() && !c.leaving.Load() {
				c.lost.Store(true)
				d.errs.add("connection lost: " + websocket.CloseStatus(err).String())
			}
			return
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			d.errs.add("undecodable frame")
			continue
		}
		if c.observe != nil && c.joined.Load() && c.observe(&f) {
			continue
		}
		if p, ok := d.sys.relayed(&f); ok {
			d.received(p)
			continue
		}
		if !c.joined.Load() {
			select {
			case c.control <- &f:
			default:
				d.errs.add("frames piling up while joining")
			}
			continue
		}
		if e := errorOf(&f); e != "" {
			d.errs.add(e)
		}
	}
}

// errorOf names an error frame of either system, "" for other frames.
func errorOf(f *frame) string {
	switch f.Type {
	case "error":
		return "error frame: " + f.Code
	case "ERROR", "ID-TAKEN", "INVALID-KEY", "EXPIRE":
		return "error frame: " + f.Type
	}
	return ""
}

// expect waits for a frame of type typ while joining, skipping others; an
// error frame or the end of the connection fails.
func (c *client) expect(ctx context.Context, typ string) (*frame, error) {
	for {
		select {
		case f, ok := <-c.control:
			if !ok {
				return nil, fmt.Errorf("connection closed waiting for %q", typ)
			}
			if f.Type == typ {
				return f, nil
			}
			if e := errorOf(f); e != "" {
				return nil, fmt.Errorf("waiting for %q: %s %s", typ, e, f.Message)
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %q: %w", typ, ctx.Err())
		}
	}
}

func (c *client) write(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// errorCounts counts errors by kind.
type errorCounts struct {
	mu sync.Mutex
	n  map[string]int64
}

func (e *errorCounts) add(kind string) {
	e.mu.Lock()
	if e.n == nil {
		e.n = map[string]int64{}
	}
	e.n[kind]++
	e.mu.Unlock()
}

func (e *errorCounts) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int64, len(e.n))
	maps.Copy(out, e.n)
	return out
}

func (e *errorCounts) total() int64 {
	var t int64
	for _, v := range e.snapshot() {
		t += v
	}
	return t
}

// recorder holds the relays of one step, by round.
type recorder struct {
	sent, received, dropped, failed atomic.Int64

	mu     sync.Mutex
	rounds [][]float64 // latencies in ms, send to receipt, by round
}

func (r *recorder) add(round int, ms float64) {
	r.mu.Lock()
	for len(r.rounds) <= round {
		r.rounds = append(r.rounds, nil)
	}
	r.rounds[round] = append(r.rounds[round], ms)
	r.mu.Unlock()
	r.received.Add(1)
}

// latencies returns a copy of every latency of the step.
func (r *recorder) latencies() []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []float64
	for _, ms := range r.rounds {
		all = append(all, ms...)
	}
	return all
}

// roundP99s returns the p99 of each round.
func (r *recorder) roundP99s() []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []float64
	for _, ms := range r.rounds {
		if len(ms) > 0 {
			out = append(out, percentile(append([]float64(nil), ms...), 99))
		}
	}
	return out
}

// sendJob is one relay waiting for a sender.
type sendJob struct {
	c   *client
	msg []byte
	rec *recorder
}

// senders write relays; a pool, so a stalled connection holds up one
// sender, not the schedule.
const senders = 64

// driver runs the load against one system.
type driver struct {
	sys  system
	url  string
	cfg  config
	proc *process
	base time.Time // payload timestamps count from here

	errs    errorCounts
	closing atomic.Bool

	mu      sync.Mutex
	clients []*client // joined, in join order
	groups  []*group
	recs    []*recorder // by step
	failed  int         // clients that failed to join, all steps
	sendQ   chan sendJob
	stop    context.CancelFunc

	// progress
	phase   atomic.Value // string
	target  atomic.Int64
	current atomic.Pointer[recorder]
	peakRSS atomic.Int64
}

func newDriver(sys system, url string, cfg config, proc *process) *driver {
	d := &driver{sys: sys, url: url, cfg: cfg, proc: proc, base: time.Now(), sendQ: make(chan sendJob, 8192)}
	d.phase.Store("starting")
	return d
}

// start starts the driver's senders, heartbeats and memory sampling, until
// ctx ends or finish is called.
func (d *driver) start(ctx context.Context) {
	ctx, d.stop = context.WithCancel(ctx)
	for range senders {
		go d.send(ctx)
	}
	go d.heartbeats(ctx)
	go d.sampleMemory(ctx)
}

// connectionsAt is how many clients step (0-based) ramps to: an even share
// of cfg.Connections, in whole rooms.
func (d *driver) connectionsAt(step int) int {
	n := d.cfg.Connections * (step + 1) / d.cfg.Steps
	return n - n%d.cfg.RoomSize
}

// finish closes every client and returns the results of the steps run.
func (d *driver) finish(steps []stepResult) systemResult {
	d.phase.Store("closing")
	start := time.Now()
	d.closeAll()
	d.stop()
	return systemResult{
		Name: d.sys.name(), URL: d.url, MemorySource: d.proc.describe(), Steps: steps,
		CloseSeconds: time.Since(start).Seconds(), Errors: d.errs.snapshot(),
	}
}

// stepRun is a step in progress.
type stepRun struct {
	step       int
	name       string // in the progress line
	sr         stepResult
	rec        *recorder
	errsBefore map[string]int64
	relayCPU   time.Duration
}

// join starts a step: it ramps to the step's number of connections and
// pairs the new clients.
func (d *driver) join(ctx context.Context, step int) *stepRun {
	n := d.connectionsAt(step)
	run := d.newRun(fmt.Sprintf("step %d/%d", step+1, d.cfg.Steps))
	sr := &run.sr
	d.phase.Store(run.name + ": joining")
	d.target.Store(int64(n))
	cpu0, _ := d.proc.cpu()
	start := time.Now()
	joined, failed, joinMs := d.ramp(ctx, n)
	sr.JoinSeconds = time.Since(start).Seconds()
	cpu1, _ := d.proc.cpu()
	sr.Joined, sr.JoinFailures = joined, failed
	sr.Connections = len(d.clients)
	if sr.JoinSeconds > 0 {
		sr.JoinsPerSecond = float64(joined) / sr.JoinSeconds
	}
	if joined > 0 {
		sr.JoinP50Ms, sr.JoinP99Ms = percentile(joinMs, 50), percentile(joinMs, 99)
		sr.ServerCPUPerJoinMs = float64((cpu1 - cpu0).Microseconds()) / 1000 / float64(joined)
	}
	return run
}

// newRun starts the next step's records, without joining anyone.
func (d *driver) newRun(name string) *stepRun {
	d.mu.Lock()
	run := &stepRun{step: len(d.recs), name: name, rec: &recorder{}, errsBefore: d.errs.snapshot()}
	d.recs = append(d.recs, run.rec)
	run.sr = stepResult{Step: run.step + 1, Connections: len(d.clients), LoadAverage: loadAverage()}
	d.mu.Unlock()
	d.peakRSS.Store(0)
	return run
}

// summarize ends a step: its relay statistics, memory and errors.
func (d *driver) summarize(run *stepRun) stepResult {
	sr, rec := run.sr, run.rec
	ms := rec.latencies()
	sr.OfferedRelaysPerSecond = float64(sr.Senders) * d.cfg.RelaysPerSecond
	sr.RelaysSent = rec.sent.Load()
	sr.RelaysReceived = rec.received.Load()
	sr.RelaysLost = sr.RelaysSent - rec.failed.Load() - sr.RelaysReceived
	sr.RelaysDropped = rec.dropped.Load()
	if len(ms) > 0 {
		sr.RelayP50Ms, sr.RelayP95Ms, sr.RelayP99Ms = percentile(ms, 50), percentile(ms, 95), percentile(ms, 99)
		sr.RelayMaxMs, sr.RelayMeanMs = percentile(ms, 100), mean(ms)
		sr.ServerCPUPerRelayMs = float64(run.relayCPU.Microseconds()) / 1000 / float64(len(ms))
	}
	sr.RelayP99MsByRound = rec.roundP99s()
	sr.RelayP99MsMedianOfRounds = percentile(append([]float64(nil), sr.RelayP99MsByRound...), 50)
	if rss, err := d.proc.rss(); err == nil {
		sr.ServerRSSMB = float64(rss) / 1e6
	}
	sr.ServerPeakRSSMB = float64(d.peakRSS.Load()) / 1e6
	sr.CPUPressure = cpuPressure()
	sr.Errors = diff(d.errs.snapshot(), run.errsBefore)
	return sr
}

// ramp joins clients until n have joined (or failed), cfg.DialConcurrency
// at a time. It returns how many joined and failed, and each join's
// latency in milliseconds.
func (d *driver) ramp(ctx context.Context, n int) (joined, failed int, joinMs []float64) {
	first := len(d.clients) + d.failed
	for i := len(d.groups) * d.cfg.RoomSize; i < n; i += d.cfg.RoomSize {
		d.groups = append(d.groups, newGroup())
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range d.cfg.DialConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				c := &client{}
				jctx, cancel := context.WithTimeout(ctx, d.cfg.JoinTimeout)
				start := time.Now()
				err := d.sys.join(jctx, d, c, i, d.groups[i/d.cfg.RoomSize])
				cancel()
				ms := float64(time.Since(start).Microseconds()) / 1000
				mu.Lock()
				if d.settle(c, err) {
					joined++
					joinMs = append(joinMs, ms)
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	for i := first; i < n && ctx.Err() == nil; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	d.failed += failed
	d.pair()
	return joined, failed, joinMs
}

// settle records how a client's join ended, and reports whether it
// joined: a failure is counted among the run's errors and its socket
// closed; a client that joined is marked so and kept in d.clients.
func (d *driver) settle(c *client, err error) bool {
	if err != nil {
		d.errs.add("join: " + shorten(err))
		if c.ws != nil {
			c.ws.CloseNow()
		}
		return false
	}
	c.joined.Store(true)
	d.mu.Lock()
	d.clients = append(d.clients, c)
	d.mu.Unlock()
	return true
}

// pair points every client at the next member of its group.
func (d *driver) pair() {
	byID := make(map[string]*client, len(d.clients))
	for _, c := range d.clients {
		byID[c.id] = c
	}
	for _, g := range d.groups {
		g.mu.Lock()
		ids := g.ids
		g.mu.Unlock()
		if len(ids) < 2 {
			continue
		}
		for k, id := range ids {
			if c := byID[id]; c != nil {
				c.dest = ids[(k+1)%len(ids)]
			}
		}
	}
}

// relayRound sends cfg.RelaysPerSecond relays per paired client for dur,
// spread evenly (each stamped with the time it was due, so a backlog shows
// as latency), then waits up to 10 s for the last to arrive.
func (d *driver) relayRound(ctx context.Context, run *stepRun, round int, dur time.Duration) {
	rec := run.rec
	d.mu.Lock()
	var active []*client
	for _, c := range d.clients {
		if c.dest != "" {
			active = append(active, c)
		}
	}
	d.mu.Unlock()
	d.current.Store(rec)
	run.sr.Senders = len(active)
	if len(active) == 0 {
		return
	}
	d.phase.Store(fmt.Sprintf("%s: relaying %d/%d", run.name, round+1, d.cfg.Rounds))
	cpu0, _ := d.proc.cpu()
	rate := float64(len(active)) * d.cfg.RelaysPerSecond
	pad := strings.Repeat("x", d.cfg.PayloadBytes)
	prefix := strconv.Itoa(run.step) + "|" + strconv.Itoa(round) + "|"
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for n := 0; ctx.Err() == nil; {
		elapsed := time.Since(start)
		if elapsed >= dur {
			break
		}
		for due := int(rate * elapsed.Seconds()); n < due; n++ {
			c := active[n%len(active)]
			head := prefix + strconv.Itoa(n) + "|" + strconv.FormatInt(time.Since(d.base).Nanoseconds(), 10) + "|"
			payload := head + pad[:max(0, len(pad)-len(head))]
			select {
			case d.sendQ <- sendJob{c: c, msg: d.sys.relayFrame(c.dest, payload), rec: rec}:
				rec.sent.Add(1)
			default:
				rec.dropped.Add(1)
				d.errs.add("relay not sent: send queue full")
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil && rec.received.Load()+rec.failed.Load() < rec.sent.Load() {
		time.Sleep(20 * time.Millisecond)
	}
	cpu1, _ := d.proc.cpu()
	run.relayCPU += cpu1 - cpu0
}

func (d *driver) send(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-d.sendQ:
			if err := j.c.write(ctx, j.msg); err != nil {
				j.rec.failed.Add(1)
				d.errs.add("relay not sent: " + shorten(err))
			}
		}
	}
}

// received records a relayed payload: "step|round|seq|sentNanos|padding".
func (d *driver) received(payload string) {
	now := time.Since(d.base).Nanoseconds()
	parts := strings.SplitN(payload, "|", 5)
	if len(parts) < 5 {
		d.errs.add("relay payload mangled")
		return
	}
	step, err1 := strconv.Atoi(parts[0])
	round, err2 := strconv.Atoi(parts[1])
	sent, err3 := strconv.ParseInt(parts[3], 10, 64)
	d.mu.Lock()
	ok := err1 == nil && err2 == nil && err3 == nil && step >= 0 && step < len(d.recs) && round >= 0
	var rec *recorder
	if ok {
		rec = d.recs[step]
	}
	d.mu.Unlock()
	if !ok {
		d.errs.add("relay payload mangled")
		return
	}
	if len(payload) < d.cfg.PayloadBytes {
		d.errs.add("relay payload truncated")
	}
	rec.add(round, float64(now-sent)/1e6)
}

// heartbeats sends the system's heartbeat to every client every
// cfg.Heartbeat.
func (d *driver) heartbeats(ctx context.Context) {
	hb := d.sys.heartbeat()
	if hb == nil || d.cfg.Heartbeat <= 0 {
		return
	}
	t := time.NewTicker(d.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		clients := append([]*client(nil), d.clients...)
		d.mu.Unlock()
		for _, c := range clients {
			if err := c.write(ctx, hb); err != nil && ctx.Err() == nil {
				d.errs.add("heartbeat not sent: " + shorten(err))
			}
		}
	}
}

// sampleMemory keeps the peak RSS of the server during each step.
func (d *driver) sampleMemory(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if rss, err := d.proc.rss(); err == nil && rss > d.peakRSS.Load() {
			d.peakRSS.Store(rss)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// closeAll closes every client normally, 64 at a time.
func (d *driver) closeAll() {
	d.closing.Store(true)
	d.mu.Lock()
	clients := d.clients
	d.mu.Unlock()
	jobs := make(chan *client)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				if err := c.ws.Close(websocket.StatusNormalClosure, "load test done"); err != nil && !errors.Is(err, context.Canceled) {
					c.ws.CloseNow()
				}
			}
		}()
	}
	for _, c := range clients {
		jobs <- c
	}
	close(jobs)
	wg.Wait()
}

// status is the progress line.
func (d *driver) status() string {
	d.mu.Lock()
	conns := len(d.clients)
	d.mu.Unlock()
	s := fmt.Sprintf("%-7s %-22s conns %5d/%-5d", d.sys.name(), d.phase.Load(), conns, d.target.Load())
	if rec := d.current.Load(); rec != nil {
		ms := rec.latencies()
		s += fmt.Sprintf("  relays %6d/%-6d", rec.received.Load(), rec.sent.Load())
		if len(ms) > 0 {
			s += fmt.Sprintf("  p50 %6.2f  p99 %7.2f ms", percentile(ms, 50), percentile(ms, 99))
		}
	}
	s += fmt.Sprintf("  errors %d", d.errs.total())
	if rss, err := d.proc.rss(); err == nil {
		s += fmt.Sprintf("  rss %4.0f MB", float64(rss)/1e6)
	}
	return s
}

// shorten bounds an error's text, which becomes an error kind.
func shorten(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

func diff(now, before map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range now {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}
