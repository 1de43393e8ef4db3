// Command loadtest measures the signaling relay under load and sets it
// beside PeerJS server's, in one run on one machine.
//
// It ramps each system, in -steps steps, to -connections
// concurrent WebSocket clients grouped in rooms of -room (slsrtc: the first
// member creates the room, all enter it; PeerJS has no rooms, the groups only
// pick who relays to whom). After each step's joins, every client relays to
// the next member of its group at -rate relays per second for -hold, each
// stamped with the time it was due. The systems take turns at each step,
// relaying in -rounds short rounds, so both see the machine in the same
// state; besides the step's percentiles it reports the median of the
// rounds' p99s, which a stall of the whole (shared) machine in one round
// does not decide. It reports joins/s, relay latency
// p50/p95/p99 (send to receipt), lost relays, errors, and the server's memory
// and CPU per join and per relay (from /proc, given its PID), with a progress
// line on stderr, and writes the results as JSON and a PNG plot of latency
// against load.
//
//	go run ./cmd/loadtest                     # the local stack in process, no PeerJS
//	scripts/loadtest.sh                       # both servers as processes: the committed results
//
// Two more modes measure the join path alone, with slsrtc only (scale.go):
//
//	go run ./cmd/loadtest -mode waves -connections 5000 -wave 500   # connects/s, joins/s, p99, memory per wave
//	go run ./cmd/loadtest -mode churn -connections 500 -duration 30m -window 1m
//	scripts/loadtest-scale.sh                 # both, the stack as a process: the committed results
//
// The aws mode measures joins and relays on the in-process stack as slow as
// AWS, beside the model's prediction (aws.go); -simulate-aws slows the
// in-process stack of any mode the same way:
//
//	go run ./cmd/loadtest -mode aws -json docs/perf/aws.json
//	go run ./cmd/loadtest -mode flood -simulate-aws
//
// Everything stays on loopback; the run is bounded by -timeout and stops
// by itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/slsrtc/slsrtc/emulator/chaos"
	"github.com/slsrtc/slsrtc/internal/localstack"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its inputs and outputs explicit; it returns the exit
// code: 0, 1 if the run failed, 2 for bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		slsURL    = fs.String("slsrtc", "", "WebSocket URL of a running slsrtc stack (ws://127.0.0.1:3001/slsrtc); empty: start the local stack in this process")
		slsPID    = fs.Int("slsrtc-pid", 0, "PID of that stack, for its memory and CPU")
		template  = fs.String("template", "template.yaml", "SAM template of the in-process stack")
		peerURL   = fs.String("peerjs", "", "WebSocket URL of a PeerJS server (ws://127.0.0.1:9000/peerjs); empty: slsrtc only")
		peerPID   = fs.Int("peerjs-pid", 0, "PID of the PeerJS server, for its memory and CPU")
		conns     = fs.Int("connections", 2000, "concurrent connections at the last step")
		steps     = fs.Int("steps", 5, "load levels, evenly spaced up to -connections")
		room      = fs.Int("room", 4, "clients per room")
		rate      = fs.Float64("rate", 0.5, "relays per second sent by each connection")
		hold      = fs.Duration("hold", 15*time.Second, "how long each system relays at each step")
		rounds    = fs.Int("rounds", 5, "rounds each step's relaying is cut into; the systems take turns")
		payload   = fs.Int("payload", 512, "bytes of each relayed payload")
		dial      = fs.Int("dial-concurrency", 32, "clients joining at once")
		heartbeat = fs.Duration("heartbeat", 20*time.Second, "PeerJS heartbeat interval (its server drops clients silent for 60 s)")
		timeout   = fs.Duration("timeout", 15*time.Minute, "stop the whole run after this long")
		jsonOut   = fs.String("json", "", "write the results as JSON to this file")
		pngOut    = fs.String("png", "", "write the latency plot as PNG to this file")
		cpuProf   = fs.String("cpuprofile", "", "write a CPU profile of this process (with the in-process stack) to this file (waves mode: one per wave's joins, FILE-waveN; churn mode: from after -prefill)")
		heapProf  = fs.String("memprofile", "", "write a heap profile of this process after the last step")
		quiet     = fs.Bool("quiet", false, "no progress line")
		mode      = fs.String("mode", "relay", "relay: relay latency beside PeerJS; waves: joins as connections accumulate; churn: joins under sustained churn; flood: well-behaved rooms' relay latency, quiet and while a client floods (flood.go); aws: join and relay latency on the stack simulating AWS, beside the model's (aws.go)")
		wave      = fs.Int("wave", 500, "waves mode: connections per wave")
		duration  = fs.Duration("duration", 30*time.Minute, "churn mode: how long to churn")
		window    = fs.Duration("window", time.Minute, "churn mode: joins/s is reported per window")
		ddb       = fs.String("dynamodb", "", "waves and churn with -slsrtc: the stack's DynamoDB endpoint, to count its items (cmd/local prints it)")
		tableName = fs.String("table", "slsrtc-local", "the stack's table, with -dynamodb")
		prefill   = fs.Int("prefill", 0, "waves and churn modes: put this many room-sized items in the table first, as a stack left running accumulates them")
	)
	addFloodFlags(fs)
	addAWSFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	simAWS := fs.Lookup("simulate-aws").Value.(flag.Getter).Get().(bool) || *mode == "aws"
	prof, args, err := awsProfile(fs, simAWS, *slsURL != "", args)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 2
	}
	if simAWS && *mode != "aws" {
		fmt.Fprintf(stderr, "loadtest: simulated AWS, chaos %s\n", prof)
	}
	if *mode == "waves" || *mode == "churn" {
		return runScaleMode(args, scaleConfig{
			Mode: *mode, Connections: *conns, Wave: *wave, RoomSize: *room, Concurrency: *dial,
			Duration: *duration, DurationSeconds: duration.Seconds(), Window: *window, WindowSeconds: window.Seconds(),
			JoinTimeout: 30 * time.Second, Prefill: *prefill,
		}, options{
			slsURL: *slsURL, slsPID: *slsPID, template: *template, jsonOut: *jsonOut,
			cpuProfile: *cpuProf, heapProfile: *heapProf, quiet: *quiet, chaos: prof,
		}, *ddb, *tableName, *timeout, stdout, stderr)
	}
	if *mode == "flood" {
		return runFloodMode(fs, options{slsURL: *slsURL, slsPID: *slsPID, template: *template, jsonOut: *jsonOut, quiet: *quiet, chaos: prof}, *timeout, stdout, stderr)
	}
	if *mode == "aws" {
		return runAWSMode(fs, options{template: *template, jsonOut: *jsonOut, quiet: *quiet, chaos: prof}, *timeout, stdout, stderr)
	}
	if *mode != "relay" {
		fmt.Fprintf(stderr, "loadtest: unknown -mode %q (relay, waves, churn, flood, aws)\n", *mode)
		return 2
	}
	cfg := config{
		Connections: *conns, Steps: *steps, RoomSize: *room, RelaysPerSecond: *rate,
		Hold: *hold, HoldSeconds: hold.Seconds(), Rounds: *rounds, PayloadBytes: *payload, DialConcurrency: *dial,
		JoinTimeout: 30 * time.Second, Heartbeat: *heartbeat, HeartbeatSecs: heartbeat.Seconds(),
	}
	if msg := cfg.check(); msg != "" {
		fmt.Fprintf(stderr, "loadtest: %s\n", msg)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := load(ctx, cfg, options{
		slsURL: *slsURL, slsPID: *slsPID, template: *template, peerURL: *peerURL, peerPID: *peerPID,
		jsonOut: *jsonOut, pngOut: *pngOut, cpuProfile: *cpuProf, heapProfile: *heapProf, quiet: *quiet, chaos: prof,
		command: append([]string{"loadtest"}, args...),
	}, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	return 0
}

func (c config) check() string {
	switch {
	case c.RoomSize < 2:
		return "-room must be at least 2 (a relay needs a peer)"
	case c.Steps < 1 || c.Connections < c.RoomSize*c.Steps:
		return "-connections must allow a full room at every step"
	case c.RelaysPerSecond <= 0 || c.Hold <= 0 || c.Rounds < 1:
		return "-rate, -hold and -rounds must be positive"
	case c.PayloadBytes < 32 || c.PayloadBytes > 32*1024:
		return "-payload must be from 32 to 32768 bytes"
	case c.DialConcurrency < 1:
		return "-dial-concurrency must be positive"
	}
	return ""
}

type options struct {
	slsURL, template, peerURL string
	slsPID, peerPID           int
	jsonOut, pngOut           string
	cpuProfile, heapProfile   string
	quiet                     bool
	command                   []string
	chaos                     chaos.Profile // of the in-process stack (-simulate-aws)
}

func load(ctx context.Context, cfg config, o options, stdout, stderr io.Writer) error {
	need := uint64(cfg.Connections + 256)
	if o.slsURL == "" {
		need += uint64(cfg.Connections) // the stack's side of each connection
	}
	limit, err := raiseFileLimit(need)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	type target struct {
		sys  system
		url  string
		proc *process
	}
	var targets []target
	slsProc := &process{pid: o.slsPID}
	if o.slsURL == "" {
		stack, err := localstack.Start(ctx, o.stack())
		if err != nil {
			return fmt.Errorf("start the local stack: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_ = stack.Shutdown(sctx)
		}()
		o.slsURL = stack.WebSocketURL
		slsProc = &process{pid: os.Getpid(), self: true}
	} else if o.slsPID == 0 {
		return errors.New("-slsrtc needs -slsrtc-pid, to measure the stack's memory")
	}
	targets = append(targets, target{slsrtc{roomSize: cfg.RoomSize}, o.slsURL, slsProc})
	if o.peerURL != "" {
		if o.peerPID == 0 {
			return errors.New("-peerjs needs -peerjs-pid, to measure the server's memory")
		}
		targets = append(targets, target{newPeerJS(), o.peerURL, &process{pid: o.peerPID}})
	}

	r := &report{
		Started: time.Now().UTC(), Command: o.command, Config: cfg,
		Machine: machine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(), FileLimit: limit, GOGC: os.Getenv("GOGC")},
	}
	// The systems take turns at each step, so that both see the machine in
	// the same state (other work on a shared machine comes and goes).
	var drivers []*driver
	for _, t := range targets {
		d := newDriver(t.sys, t.url, cfg, t.proc)
		d.start(ctx)
		drivers = append(drivers, d)
	}
	var current atomic.Pointer[driver]
	current.Store(drivers[0])
	stopProgress := showProgress(stderr, func() string { return current.Load().status() }, o.quiet)
	steps := make([][]stepResult, len(drivers))
	for step := 0; step < cfg.Steps && ctx.Err() == nil; step++ {
		runs := make([]*stepRun, len(drivers))
		for i, d := range drivers {
			current.Store(d)
			runs[i] = d.join(ctx, step)
		}
		for round := 0; round < cfg.Rounds && ctx.Err() == nil; round++ {
			for i, d := range drivers {
				current.Store(d)
				d.relayRound(ctx, runs[i], round, cfg.Hold/time.Duration(cfg.Rounds))
			}
		}
		for i, d := range drivers {
			steps[i] = append(steps[i], d.summarize(runs[i]))
		}
	}
	if o.heapProfile != "" {
		if err := writeHeapProfile(o.heapProfile); err != nil {
			return err
		}
	}
	for i, d := range drivers {
		current.Store(d)
		r.Systems = append(r.Systems, d.finish(steps[i]))
	}
	stopProgress()
	r.Seconds = time.Since(r.Started).Seconds()
	r.Comparison = compare(r.Systems)
	printSummary(stdout, r)
	if o.jsonOut != "" {
		if err := writeJSON(o.jsonOut, r); err != nil {
			return err
		}
	}
	if o.pngOut != "" {
		if err := writePlot(o.pngOut, r); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stopped early: %w", context.Cause(ctx))
	}
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}

// showProgress prints the driver's status every second: rewriting one
// line on a terminal, a line every 5 s otherwise. It returns a func that
// stops it.
func showProgress(w io.Writer, status func() string, quiet bool) (stop func()) {
	if quiet {
		return func() {}
	}
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	every := 5 * time.Second
	if tty {
		every = time.Second
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprintf(w, "\r%s\x1b[K\n", status())
				} else {
					fmt.Fprintln(w, status())
				}
				return
			case <-t.C:
			}
			if tty {
				fmt.Fprintf(w, "\r%s\x1b[K", strings.TrimSpace(status()))
			} else {
				fmt.Fprintln(w, status())
			}
		}
	}()
	return func() { close(done); <-finished }
}
