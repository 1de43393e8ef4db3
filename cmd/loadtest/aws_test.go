package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/emulator/chaos"
)

// fixed is a latency of exactly d: every draw is d.
func fixed(d time.Duration) chaos.Latency { return chaos.Latency{P50: d, P99: d} }

func TestPredict(t *testing.T) {
	ms := time.Millisecond
	one := func(l chaos.Latency) modelStep { return modelStep{"call", [][]modelCall{{{"call", l, 0}}}} }
	near := func(got, want, rel float64) bool { return math.Abs(got-want) <= rel*want }
	tests := []struct {
		name  string
		path  modelPath
		local []float64
		// want: the total's p50, p95, p99 and mean, within rel of each.
		p50, p95, p99, mean float64
		rel                 float64
		withLocal           float64 // the total with local's p50, if local
	}{
		{name: "one fixed call", path: modelPath{Steps: []modelStep{one(fixed(10 * ms))}}, p50: 10, p95: 10, p99: 10, mean: 10},
		{name: "calls in sequence add up", path: modelPath{Steps: []modelStep{one(fixed(10 * ms)), one(fixed(7 * ms)), one(fixed(20 * ms))}},
			p50: 37, p95: 37, p99: 37, mean: 37},
		{name: "parallel branches: the slowest", path: modelPath{Steps: []modelStep{{"both", [][]modelCall{
			{{"a", fixed(5 * ms), 0}}, {{"b", fixed(7 * ms), 0}},
		}}}}, p50: 7, p95: 7, p99: 7, mean: 7},
		{name: "a branch of two calls against one", path: modelPath{Steps: []modelStep{{"both", [][]modelCall{
			{{"a", fixed(5 * ms), 0}, {"a again", fixed(5 * ms), 0}}, {{"b", fixed(7 * ms), 0}},
		}}}}, p50: 10, p95: 10, p99: 10, mean: 10},
		{name: "a call on 10 % of the paths", path: modelPath{Steps: []modelStep{{"s", [][]modelCall{
			{{"always", fixed(20 * ms), 0}, {"sometimes", fixed(10 * ms), 0.1}},
		}}}}, p50: 20, p95: 30, p99: 30, mean: 21, rel: 0.01},
		{name: "calls after the answer are not in it", path: modelPath{Steps: []modelStep{one(fixed(10 * ms))},
			After: []modelCall{{"fence", fixed(8 * ms), 0}}}, p50: 10, p95: 10, p99: 10, mean: 10},
		{name: "a zero latency is no time", path: modelPath{Steps: []modelStep{one(chaos.Latency{}), one(fixed(3 * ms))}},
			p50: 3, p95: 3, p99: 3, mean: 3},
		{name: "log-normal: its own median, 99th percentile and mean", path: modelPath{Steps: []modelStep{one(chaos.PutItemLatency)}},
			p50: 7.55, p95: float64(chaos.PutItemLatency.Quantile(0.95)) / 1e6, p99: 16.2, mean: float64(chaos.PutItemLatency.Mean()) / 1e6, rel: 0.02},
		{name: "the local stack's latency is added", path: modelPath{Steps: []modelStep{one(fixed(10 * ms))}}, local: []float64{1, 1, 1},
			p50: 10, p95: 10, p99: 10, mean: 10, withLocal: 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := predict(tt.path, 20_000, 1, tt.local)
			got := p.Total
			if got.N != 20_000 || !near(got.P50Ms, tt.p50, tt.rel) || !near(got.P95Ms, tt.p95, tt.rel) || !near(got.P99Ms, tt.p99, tt.rel) || !near(got.MeanMs, tt.mean, tt.rel+1e-9) {
				t.Errorf("total %+v; want p50 %v, p95 %v, p99 %v, mean %v (±%v)", got, tt.p50, tt.p95, tt.p99, tt.mean, tt.rel)
			}
			if (p.WithLocal.N > 0) != (tt.local != nil) || tt.local != nil && p.WithLocal.P50Ms != tt.withLocal {
				t.Errorf("with local %+v, want p50 %v", p.WithLocal, tt.withLocal)
			}
			if len(p.Steps) != len(tt.path.Steps) || len(p.After) != len(tt.path.After) {
				t.Errorf("%d steps and %d after, want %d and %d", len(p.Steps), len(p.After), len(tt.path.Steps), len(tt.path.After))
			}
			var sum float64
			for _, s := range p.Steps {
				sum += s.MeanMs
			}
			if !near(sum, got.MeanMs, 1e-9) {
				t.Errorf("the steps' means add up to %v, the total's is %v", sum, got.MeanMs)
			}
		})
	}
}

// TestModelPaths checks the budget's paths on the AWS profile: the calls
// of docs/performance.md's round-trip budget, each step's mean that of its
// calls, and the same prediction on every run.
func TestModelPaths(t *testing.T) {
	ls := chaos.AWS(0).Latencies
	meanMs := func(l chaos.Latency) float64 { return float64(l.Mean()) / 1e6 }
	tests := []struct {
		path  modelPath
		steps []string
		// mean of each step alone, within 1 %; 0: not checked (a maximum)
		means []float64
	}{
		{joinPath(ls), []string{"invocation", "GetItem", "TransactWriteItems", "Query", "post enter", "post room-members"},
			[]float64{meanMs(ls.Invoke), meanMs(ls.DynamoDBRead), meanMs(ls.DynamoDBTransaction), meanMs(ls.DynamoDBRead), meanMs(ls.Connections), meanMs(ls.Connections)}},
		{relayPath(ls), []string{"invocation", "UpdateItem ∥ GetItem", "PostToConnection"},
			[]float64{meanMs(ls.Invoke), 0, meanMs(ls.Connections)}},
	}
	for _, tt := range tests {
		t.Run(tt.path.Name, func(t *testing.T) {
			p := predict(tt.path, 50_000, modelSeed, nil)
			var names []string
			for i, s := range p.Steps {
				names = append(names, s.Name)
				if w := tt.means[i]; w > 0 && math.Abs(s.MeanMs-w) > 0.01*w {
					t.Errorf("%s: mean %.2f ms, want %.2f", s.Name, s.MeanMs, w)
				}
			}
			if !slices.Equal(names, tt.steps) {
				t.Errorf("steps %q, want %q", names, tt.steps)
			}
			if again := predict(tt.path, 50_000, modelSeed, nil); !reflect.DeepEqual(p, again) {
				t.Error("two predictions with the same seed differ")
			}
		})
	}
	// The relay's parallel step is no faster than either branch's mean.
	st := predict(relayPath(ls), 50_000, modelSeed, nil).Steps[1]
	if st.MeanMs < meanMs(ls.DynamoDBWrite) || st.MeanMs < meanMs(ls.DynamoDBRead) {
		t.Errorf("UpdateItem ∥ GetItem: mean %.2f; a write's mean is %.2f, a read's %.2f", st.MeanMs, meanMs(ls.DynamoDBWrite), meanMs(ls.DynamoDBRead))
	}
}

// awsFlagSet defines the flags awsConfigFrom and awsProfile read, with
// the relay mode's defaults, as run does.
func awsFlagSet(t *testing.T, args ...string) *flag.FlagSet {
	t.Helper()
	return modeFlagSet(t, addAWSFlags, args...)
}

func TestAWSConfig(t *testing.T) {
	c, err := awsConfigFrom(awsFlagSet(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Connections != 100 || c.RoomSize != 4 || c.RelaysPerSecond != 1 || c.Hold != 20*time.Second || c.Rounds != 5 || c.DialConcurrency != 4 || !c.Baseline {
		t.Errorf("defaults: %+v", c)
	}
	for _, args := range [][]string{{"-room", "1"}, {"-connections", "3"}, {"-rate", "0"}, {"-hold", "0s"}, {"-payload", "8"}} {
		if c, err := awsConfigFrom(awsFlagSet(t, args...)); err == nil {
			t.Errorf("%v: accepted %+v", args, c)
		}
	}

	// -simulate-aws draws a seed and records it; a seed given is kept.
	fs := awsFlagSet(t, "-simulate-aws")
	p, args, err := awsProfile(fs, true, false, []string{"-simulate-aws"})
	if err != nil || p.Latencies != chaos.AWS(0).Latencies || len(args) != 2 || !strings.HasPrefix(args[1], "-chaos-seed=") ||
		fs.Lookup("chaos-seed").Value.String() != strings.TrimPrefix(args[1], "-chaos-seed=") {
		t.Errorf("drawn seed: %v, %v, %v", p, args, err)
	}
	if p, args, err := awsProfile(awsFlagSet(t, "-chaos-seed", "7"), true, false, nil); err != nil || p.Seed != 7 || len(args) != 0 {
		t.Errorf("seed 7: %v, %v, %v", p, args, err)
	}
	if p, _, err := awsProfile(awsFlagSet(t), false, true, nil); err != nil || p.Gateway() || p.DynamoDB() {
		t.Errorf("off: %v, %v", p, err)
	}
	for name, fs := range map[string]*flag.FlagSet{"seed without -simulate-aws": awsFlagSet(t, "-chaos-seed", "7")} {
		if _, _, err := awsProfile(fs, false, false, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := awsProfile(awsFlagSet(t), true, true, nil); err == nil {
		t.Error("-simulate-aws with a stack process: accepted")
	}
}

// TestAWSFlags checks that run refuses bad uses of the aws mode and
// -simulate-aws with exit 2 and a message.
func TestAWSFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "aws", "-room", "1"},
		{"-mode", "aws", "-slsrtc", "ws://127.0.0.1:1/x", "-slsrtc-pid", "1"},
		{"-simulate-aws", "-mode", "flood", "-slsrtc", "ws://127.0.0.1:1/x", "-slsrtc-pid", "1"},
		{"-chaos-seed", "3"},
	} {
		var out, errOut bytes.Buffer
		if code := run(append(args, "-quiet"), &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a message", args, code, errOut.String())
		}
	}
}

// TestAWSRun runs the aws mode briefly: two rooms of 4 on the plain stack
// and on the simulated-AWS one. Every join succeeds, every relay arrives,
// the model predicts both paths, and the seed is recorded. Nothing is
// asserted about latency.
func TestAWSRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack twice, about 6 s")
	}
	path := filepath.Join(t.TempDir(), "aws.json")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-mode", "aws", "-template", "../../template.yaml", "-json", path, "-quiet", "-chaos-seed", "7",
		"-connections", "8", "-room", "4", "-hold", "1s", "-rounds", "1", "-rate", "2"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r awsReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Local == nil {
		t.Fatal("no baseline run on the plain stack")
	}
	for _, ph := range []awsPhase{*r.Local, r.AWS} {
		if ph.Joins.N != 8 || ph.JoinFailures != 0 || len(ph.Errors) != 0 {
			t.Errorf("%s: %d joined, %d failed, errors %v", ph.Name, ph.Joins.N, ph.JoinFailures, ph.Errors)
		}
		if rl := ph.Relays; rl.RelaysSent == 0 || rl.RelaysReceived != rl.RelaysSent || rl.RelaysLost != 0 || rl.Connections != 8 {
			t.Errorf("%s: %d connections, %d relays sent, %d received, %d lost", ph.Name, rl.Connections, rl.RelaysSent, rl.RelaysReceived, rl.RelaysLost)
		}
	}
	if r.Local.Profile != "" || !strings.Contains(r.AWS.Profile, "seed 7") || r.ChaosSeed != 7 {
		t.Errorf("profiles %q and %q, seed %d", r.Local.Profile, r.AWS.Profile, r.ChaosSeed)
	}
	if r.Join.Total.N != modelDraws || r.Relay.Total.N != modelDraws || r.Join.WithLocal.N != modelDraws {
		t.Errorf("model: join %+v, relay %+v", r.Join.Total, r.Relay.Total)
	}
	for _, want := range []string{"model: AWS's calls", "join  = invocation", "relay = invocation"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
}
