package main

// The aws mode measures the join and relay latency a user can expect on
// AWS: the in-process stack runs with chaos.AWS, so that every invocation,
// DynamoDB call and @connections call waits a draw of AWS's latency
// (docs/capacity.md, "Simulated AWS"), and a modest load joins rooms and
// relays in them. Beside what it measures it prints what the model
// predicts: the round-trip budget (docs/performance.md) of each path, one
// draw per call from the profile's own log-normal distributions, sampled
// with a fixed seed so that the prediction is the same on every run and
// machine. By default it first runs the same load on the plain local stack:
// that run's latencies are the local stack's own cost (loopback, CPU, the
// embedded DynamoDB), which the model leaves out, and the model plus a
// draw of them is printed too.
//
// -simulate-aws (with -chaos-seed) starts the in-process stack of any other
// mode with the same profile.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/slsrtc/slsrtc/emulator/chaos"
	"github.com/slsrtc/slsrtc/internal/localstack"
)

// Model sampling: fixed, so that a prediction is reproducible exactly.
const (
	modelSeed  = 1
	modelDraws = 200_000
)

// addAWSFlags defines the flags of -simulate-aws and of the aws mode alone;
// the aws mode takes the relay mode's -connections, -room, -rate, -hold,
// -rounds, -payload and -dial-concurrency.
func addAWSFlags(fs *flag.FlagSet) {
	fs.Bool("simulate-aws", false, "start the in-process stack as slowly as AWS, without faults: every invocation, DynamoDB call and @connections call waits a draw of AWS's latency (chaos.AWS; docs/capacity.md, \"Simulated AWS\"); any mode, implied by -mode aws")
	fs.Int64("chaos-seed", 0, "seed of -simulate-aws's draws, to repeat a run (default: a new one, printed and recorded)")
	fs.Bool("aws-baseline", true, "aws mode: first run the same load on the plain local stack, whose latencies are the local stack's own cost")
}

// awsDefaults are the aws mode's defaults of the relay mode's flags: 25
// rooms of 4, 4 rooms joining at once, each client relaying one signal a
// second for 20 s. More rooms at once saturate this 2-core machine's CPU
// on the plain stack, whose joins then measure the queue for a CPU, not
// the stack's own cost (25 rooms at once: a mean of 180 ms, against 5 ms).
var awsDefaults = map[string]string{"connections": "100", "rate": "1", "hold": "20s", "dial-concurrency": "4"}

// awsProfile resolves -simulate-aws and -chaos-seed (on: -simulate-aws or
// -mode aws): the profile of the in-process stack (zero when off) and args
// with the seed drawn added, so that the command recorded repeats the run.
func awsProfile(fs *flag.FlagSet, on bool, external bool, args []string) (chaos.Profile, []string, error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !on {
		if given["chaos-seed"] {
			return chaos.Profile{}, args, errors.New("-chaos-seed needs -simulate-aws")
		}
		return chaos.Profile{}, args, nil
	}
	if external {
		return chaos.Profile{}, args, errors.New("-simulate-aws slows the in-process stack; for a stack process, start it with cmd/local -simulate-aws")
	}
	seed := fs.Lookup("chaos-seed").Value.(flag.Getter).Get().(int64)
	if !given["chaos-seed"] {
		seed = int64(rand.Uint32()) // short enough to type back
		s := strconv.FormatInt(seed, 10)
		if err := fs.Set("chaos-seed", s); err != nil { // the flood mode records the flags set
			return chaos.Profile{}, args, err
		}
		args = append(append([]string(nil), args...), "-chaos-seed="+s)
	}
	p := chaos.AWS(seed)
	return p, args, p.Validate()
}

// stack returns the options of the in-process stack.
func (o options) stack() localstack.Options {
	return localstack.Options{Template: o.template, Logs: io.Discard, Chaos: o.chaos}
}

// awsConfig is what an aws run was asked to do.
type awsConfig struct {
	config
	Baseline bool `json:"baseline"` // the plain local stack first
}

// awsConfigFrom reads the aws mode's configuration from parsed flags, with
// awsDefaults for the flags not given, and checks it.
func awsConfigFrom(fs *flag.FlagSet) (awsConfig, error) {
	get := flagsWithDefaults(fs, awsDefaults)
	base, err := oneStepConfig(get)
	return awsConfig{config: base, Baseline: get("aws-baseline").(bool)}, err
}

// The model.

// modelCall is one call on a path: a draw from L, made on a share Chance
// of the paths (0: on every one).
type modelCall struct {
	Name   string
	L      chaos.Latency
	Chance float64
}

// modelStep is one step of a path: its branches run in parallel, each one
// its calls in sequence, and the step lasts as long as the slowest branch.
type modelStep struct {
	Name     string
	Branches [][]modelCall
}

// modelPath is what a client waits for, step after step.
type modelPath struct {
	Name  string
	Steps []modelStep
	// After are calls the handler makes once the client has its answer:
	// not in the client's latency, only in the invocation's.
	After []modelCall
}

// relayPath is a relay (docs/performance.md, "Round-trip budget"): the
// invocation, the UpdateItem that charges the sender's rate in parallel
// with the GetItem of the destination, one PostToConnection. The first
// message of a sender's window costs the same (its counter is named after
// the window, dynamo/relay.go).
func relayPath(ls chaos.Latencies) modelPath {
	return modelPath{Name: "relay", Steps: []modelStep{
		{"invocation", [][]modelCall{{{"invoke", ls.Invoke, 0}}}},
		{"UpdateItem ∥ GetItem", [][]modelCall{{{"UpdateItem", ls.DynamoDBWrite, 0}}, {{"GetItem", ls.DynamoDBRead, 0}}}},
		{"PostToConnection", [][]modelCall{{{"post", ls.Connections, 0}}}},
	}}
}

// joinPath is an enterroom until the newcomer has room-members: the
// invocation, GetItem (the participant), TransactWriteItems, the room's
// Query, then the fan-out, in parallel, whose post to the newcomer is two
// posts in order (enter, room-members). The fence Query follows the posts:
// the handler's time, not the newcomer's.
func joinPath(ls chaos.Latencies) modelPath {
	one := func(name, call string, l chaos.Latency) modelStep {
		return modelStep{name, [][]modelCall{{{call, l, 0}}}}
	}
	return modelPath{Name: "join", Steps: []modelStep{
		one("invocation", "invoke", ls.Invoke),
		one("GetItem", "GetItem", ls.DynamoDBRead),
		one("TransactWriteItems", "TransactWriteItems", ls.DynamoDBTransaction),
		one("Query", "Query", ls.DynamoDBRead),
		one("post enter", "post", ls.Connections),
		one("post room-members", "post", ls.Connections),
	}, After: []modelCall{{"fence Query", ls.DynamoDBRead, 0}}}
}

// latencyStats summarises latencies in milliseconds.
type latencyStats struct {
	N      int     `json:"n"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P95Ms  float64 `json:"p95Ms"`
	P99Ms  float64 `json:"p99Ms"`
	MaxMs  float64 `json:"maxMs"`
}

func statsOf(ms []float64) latencyStats {
	if len(ms) == 0 {
		return latencyStats{}
	}
	ms = append([]float64(nil), ms...)
	return latencyStats{N: len(ms), MeanMs: mean(ms), P50Ms: percentile(ms, 50), P95Ms: percentile(ms, 95), P99Ms: percentile(ms, 99), MaxMs: percentile(ms, 100)}
}

// stepPrediction is one step of a path alone.
type stepPrediction struct {
	Name   string  `json:"name"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P99Ms  float64 `json:"p99Ms"`
}

// prediction is what the model predicts of a path. The steps' means add
// up to the total's (the percentiles do not: a slow draw of one call is
// rarely met by a slow draw of the next).
type prediction struct {
	Path  string           `json:"path"`
	Steps []stepPrediction `json:"steps"`
	Total latencyStats     `json:"total"`
	// After: the calls the handler makes after the client's answer.
	After []stepPrediction `json:"after,omitempty"`
	// WithLocal is the total plus a draw of the local stack's own latency
	// of the same path, measured on the plain stack (N 0 without one).
	WithLocal latencyStats `json:"withLocal"`
}

// predict samples p draws times with seed: every call one draw of its
// log-normal (a share Chance of them made at all), the branches of a step
// their maximum. With local, each total is also added a draw of it.
func predict(p modelPath, draws int, seed uint64, local []float64) prediction {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	pick := rand.New(rand.NewPCG(seed, 0x10ca1)) // apart, so the model's draws do not depend on local
	steps := make([][]float64, len(p.Steps))
	after := make([][]float64, len(p.After))
	total := make([]float64, draws)
	var withLocal []float64
	if len(local) > 0 {
		withLocal = make([]float64, draws)
	}
	for i := range draws {
		var t float64
		for k, st := range p.Steps {
			var slowest float64
			for _, br := range st.Branches {
				var sum float64
				for _, c := range br {
					sum += drawCall(rng, c)
				}
				slowest = max(slowest, sum)
			}
			steps[k] = append(steps[k], slowest)
			t += slowest
		}
		for k, c := range p.After {
			after[k] = append(after[k], drawCall(rng, c))
		}
		total[i] = t
		if withLocal != nil {
			withLocal[i] = t + local[pick.IntN(len(local))]
		}
	}
	out := prediction{Path: p.Name, Total: statsOf(total), WithLocal: statsOf(withLocal)}
	for k, st := range p.Steps {
		s := statsOf(steps[k])
		out.Steps = append(out.Steps, stepPrediction{Name: st.Name, MeanMs: s.MeanMs, P50Ms: s.P50Ms, P99Ms: s.P99Ms})
	}
	for k, c := range p.After {
		s := statsOf(after[k])
		out.After = append(out.After, stepPrediction{Name: c.Name, MeanMs: s.MeanMs, P50Ms: s.P50Ms, P99Ms: s.P99Ms})
	}
	return out
}

// drawCall draws c's latency in milliseconds: 0 when the call is not made.
// A call with a Chance draws whether it is made first, always, so that
// every path consumes the same draws.
func drawCall(rng *rand.Rand, c modelCall) float64 {
	if c.Chance > 0 && rng.Float64() >= c.Chance {
		return 0
	}
	z := rng.NormFloat64()
	switch l := c.L; {
	case l.IsZero():
		return 0
	case l.P99 == l.P50:
		return float64(l.P50) / 1e6
	default:
		mu, sigma := l.Params()
		return math.Exp(mu+sigma*z) / 1e6
	}
}

// breakdown writes a prediction's steps as a sum of their means.
func (p prediction) breakdown() string {
	var b strings.Builder
	for i, s := range p.Steps {
		if i > 0 {
			b.WriteString(" + ")
		}
		fmt.Fprintf(&b, "%s %.1f", s.Name, s.MeanMs)
	}
	fmt.Fprintf(&b, " = %.1f ms mean (p50 %.1f, p95 %.1f, p99 %.1f)", p.Total.MeanMs, p.Total.P50Ms, p.Total.P95Ms, p.Total.P99Ms)
	for _, s := range p.After {
		fmt.Fprintf(&b, "; then %s %.1f, the handler's alone", s.Name, s.MeanMs)
	}
	return b.String()
}

// The run.

// awsPhase is the load on one stack: the plain local one or the simulated
// AWS one.
type awsPhase struct {
	Name    string       `json:"name"`
	Profile string       `json:"profile"` // the chaos profile, "" for none
	Joins   latencyStats `json:"joins"`   // enterroom sent to room-members received
	// JoinFailures and the relays' losses and errors: any makes the run fail.
	JoinFailures int              `json:"joinFailures"`
	Relays       stepResult       `json:"relays"`
	Errors       map[string]int64 `json:"errors"`

	joinMs, relayMs []float64
}

// awsReport is the JSON an aws run writes.
type awsReport struct {
	Started   time.Time `json:"started"`
	Seconds   float64   `json:"seconds"`
	Command   []string  `json:"command"`
	Machine   machine   `json:"machine"`
	Config    awsConfig `json:"config"`
	ChaosSeed int64     `json:"chaosSeed"`
	// LimitPerWindow is the stack's messages per connection per 10 s
	// window.
	LimitPerWindow int `json:"limitPerWindow"`

	Local *awsPhase `json:"local,omitempty"`
	AWS   awsPhase  `json:"simulatedAws"`

	ModelSeed  int        `json:"modelSeed"`
	ModelDraws int        `json:"modelDraws"`
	Join       prediction `json:"modelJoin"`
	Relay      prediction `json:"modelRelay"`
}

// runAWSMode runs the aws mode and returns the exit code: 1 also when a
// join failed, a relay was lost or an error came.
func runAWSMode(fs *flag.FlagSet, o options, timeout time.Duration, stdout, stderr io.Writer) int {
	cfg, err := awsConfigFrom(fs)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 2
	}
	return runReportMode(fs, o, timeout, stdout, stderr,
		func(ctx context.Context, o options) (*awsReport, error) { return awsRun(ctx, cfg, o, stderr) },
		printAWS, (*awsReport).failure)
}

// failure says what went wrong in a run, nil if nothing did.
func (r *awsReport) failure() error {
	var errs []error
	for _, ph := range []*awsPhase{r.Local, &r.AWS} {
		if ph == nil {
			continue
		}
		if ph.JoinFailures > 0 || ph.Relays.RelaysLost > 0 || ph.Relays.RelaysDropped > 0 || len(ph.Errors) > 0 {
			errs = append(errs, fmt.Errorf("%s: %d joins failed, %d relays lost, %d not sent, errors %v",
				ph.Name, ph.JoinFailures, ph.Relays.RelaysLost, ph.Relays.RelaysDropped, ph.Errors))
		}
	}
	return errors.Join(errs...)
}

// awsRun runs the phases and predicts. It returns the report of what it
// measured, even with an error.
func awsRun(ctx context.Context, cfg awsConfig, o options, stderr io.Writer) (*awsReport, error) {
	limit, err := raiseFileLimit(uint64(2*cfg.Connections + 256))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "loadtest: simulated AWS, chaos %s\n", o.chaos)
	rep := &awsReport{
		Started: time.Now().UTC(), Command: o.command, Config: cfg, ChaosSeed: o.chaos.Seed,
		Machine:   machine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(), FileLimit: limit, GOGC: os.Getenv("GOGC")},
		ModelSeed: modelSeed, ModelDraws: modelDraws,
	}
	if cfg.Baseline {
		plain := o
		plain.chaos = chaos.Profile{}
		ph, perWindow, err := awsPhaseRun(ctx, cfg, plain, "local stack", stderr)
		rep.Local, rep.LimitPerWindow = &ph, perWindow
		if err != nil {
			return rep, err
		}
	}
	ph, perWindow, err := awsPhaseRun(ctx, cfg, o, "simulated AWS", stderr)
	rep.AWS, rep.LimitPerWindow = ph, perWindow
	if err != nil {
		return rep, err
	}
	var localJoin, localRelay []float64
	if rep.Local != nil {
		localJoin, localRelay = rep.Local.joinMs, rep.Local.relayMs
	}
	ls := o.chaos.Latencies
	rep.Join = predict(joinPath(ls), modelDraws, modelSeed, localJoin)
	rep.Relay = predict(relayPath(ls), modelDraws, modelSeed, localRelay)
	rep.Seconds = time.Since(rep.Started).Seconds()
	if ctx.Err() != nil {
		return rep, fmt.Errorf("stopped early: %w", context.Cause(ctx))
	}
	return rep, nil
}

// awsPhaseRun starts the in-process stack with o's profile, joins the
// rooms, relays in them for cfg.Hold, and stops the stack. It also returns
// the stack's messages per window (0: no limit).
func awsPhaseRun(ctx context.Context, cfg awsConfig, o options, name string, stderr io.Writer) (awsPhase, int, error) {
	ph := awsPhase{Name: name}
	if o.chaos.Gateway() || o.chaos.DynamoDB() {
		ph.Profile = o.chaos.String()
	}
	stack, stopStack, err := startStack(ctx, o.stack())
	if err != nil {
		return ph, 0, err
	}
	defer stopStack()
	perWindow := stack.Config.Limits.MessagesPerSecond * int(floodWindow/time.Second)
	if perWindow > 0 {
		fc := floodConfig{config: cfg.config}
		if err := fc.checkLimit(perWindow); err != nil {
			return ph, perWindow, err
		}
	}
	d := newDriver(slsrtc{roomSize: cfg.RoomSize}, stack.WebSocketURL, cfg.config, &process{pid: os.Getpid(), self: true})
	d.start(ctx)
	stopProgress := showProgress(stderr, d.status, o.quiet)
	run := d.newRun(name)
	d.phase.Store(name + ": joining")
	d.target.Store(int64(cfg.Connections - cfg.Connections%cfg.RoomSize))
	ph.joinMs, ph.JoinFailures = awsJoin(ctx, d, cfg)
	ph.Joins = statsOf(ph.joinMs)
	d.pair()
	for r := 0; r < cfg.Rounds && ctx.Err() == nil; r++ {
		d.relayRound(ctx, run, r, cfg.Hold/time.Duration(cfg.Rounds))
	}
	ph.relayMs = run.rec.latencies()
	ph.Relays = d.summarize(run)
	ph.Relays.Connections, ph.Relays.Joined, ph.Relays.JoinFailures = len(d.clients), len(ph.joinMs), ph.JoinFailures
	ph.Relays.JoinP50Ms, ph.Relays.JoinP99Ms = ph.Joins.P50Ms, ph.Joins.P99Ms
	ph.Errors = d.finish(nil).Errors
	stopProgress()
	return ph, perWindow, nil
}

// awsJoin fills the rooms, -dial-concurrency rooms at a time (4 by default) and each
// room's members one after another: the first connects and creates the
// room, then each connects and enters. A user's enter meets no other enter
// of its room in flight, as in a room people join over seconds; the
// members' concurrent enters would instead meet the fan-out's re-reads
// (docs/performance.md, "Round-trip budget"), which the model leaves out.
// It returns the latency of each enter (enterroom sent to room-members
// received) and how many clients failed to join.
func awsJoin(ctx context.Context, d *driver, cfg awsConfig) (enterMs []float64, failed int) {
	s := &scaler{d: d, cfg: scaleConfig{RoomSize: cfg.RoomSize, JoinTimeout: cfg.JoinTimeout}}
	rooms := cfg.Connections / cfg.RoomSize
	jobs := make(chan *group)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(cfg.DialConcurrency, rooms) {
		wg.Go(func() {
			for g := range jobs {
				for k := 0; k < cfg.RoomSize && ctx.Err() == nil; k++ {
					c := &client{}
					err := s.connect(ctx, c)
					var ms float64
					if err != nil && k == 0 {
						g.open("") // the members must not wait for a room that will not come
					}
					if err == nil {
						ms, _, err = s.join(ctx, c, g, k == 0)
					}
					mu.Lock()
					if d.settle(c, err) {
						enterMs = append(enterMs, ms)
					} else {
						failed++
					}
					mu.Unlock()
				}
			}
		})
	}
	for range rooms {
		g := newGroup()
		d.groups = append(d.groups, g)
		select {
		case jobs <- g:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	return enterMs, failed
}

// printAWS writes an aws run's results: measured and predicted latencies
// side by side, then each path's calls.
func printAWS(w io.Writer, r *awsReport) {
	c := r.Config
	fmt.Fprintf(w, "\n%d connections in rooms of %d (joined one after another), relaying %g/s each for %s; chaos seed %d\n",
		c.Connections, c.RoomSize, c.RelaysPerSecond, c.Hold, r.ChaosSeed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tjoins\tjoin p50\tp95\tp99\tmean ms\trelays\tlost\trelay p50\tp95\tp99\tmean ms\terrors\tload\tcpu psi %\t")
	row := func(ph *awsPhase) {
		var errs int64
		for _, v := range ph.Errors {
			errs += v
		}
		j, rl := ph.Joins, ph.Relays
		fmt.Fprintf(tw, "%s measured\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%.2f\t%.0f\t\n",
			ph.Name, j.N, j.P50Ms, j.P95Ms, j.P99Ms, j.MeanMs, rl.RelaysSent, rl.RelaysLost, rl.RelayP50Ms, rl.RelayP95Ms, rl.RelayP99Ms, rl.RelayMeanMs, errs, rl.LoadAverage, rl.CPUPressure)
	}
	model := func(name string, j, rl latencyStats) {
		fmt.Fprintf(tw, "%s\t\t%.1f\t%.1f\t%.1f\t%.1f\t\t\t%.1f\t%.1f\t%.1f\t%.1f\t\t\t\t\n",
			name, j.P50Ms, j.P95Ms, j.P99Ms, j.MeanMs, rl.P50Ms, rl.P95Ms, rl.P99Ms, rl.MeanMs)
	}
	if r.Local != nil {
		row(r.Local)
	}
	row(&r.AWS)
	model("model: AWS's calls", r.Join.Total, r.Relay.Total)
	if r.Join.WithLocal.N > 0 {
		model("model + local stack", r.Join.WithLocal, r.Relay.WithLocal)
	}
	tw.Flush()
	for _, ph := range []*awsPhase{r.Local, &r.AWS} {
		if ph != nil {
			for k, v := range ph.Errors {
				fmt.Fprintf(w, "  %s error %q ×%d\n", ph.Name, k, v)
			}
		}
	}
	fmt.Fprintf(w, "\nthe model, per call (means add up; %d draws, seed %d):\n", r.ModelDraws, r.ModelSeed)
	fmt.Fprintf(w, "  join  = %s\n", r.Join.breakdown())
	fmt.Fprintf(w, "  relay = %s\n", r.Relay.breakdown())
	if r.Local != nil {
		for _, p := range []struct {
			name                 string
			measured, mdl, local float64
		}{
			{"join", r.AWS.Joins.MeanMs, r.Join.Total.MeanMs, r.Local.Joins.MeanMs},
			{"relay", r.AWS.Relays.RelayMeanMs, r.Relay.Total.MeanMs, r.Local.Relays.RelayMeanMs},
		} {
			fmt.Fprintf(w, "  %s measured %.1f ms mean = model %.1f + %.1f more, of which the local stack's own %.1f (the same load without AWS's latencies)\n",
				p.name, p.measured, p.mdl, p.measured-p.mdl, p.local)
		}
	}
}
