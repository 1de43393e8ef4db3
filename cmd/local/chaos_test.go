package main

import (
	"context"
	"flag"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/emulator/chaos"
	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// TestRunChaos: -chaos and the flags of its parts print the profile and its
// seed in the banner (a new seed unless -chaos-seed gives one), log each fault
// on stderr, and sum them up at shutdown; without them there is no chaos.
func TestRunChaos(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantChaos string // the banner's Chaos line; "" for none
		closeOne  bool   // connect and close a client before shutting down
		wantStats string // in the summary line
	}{
		{name: "off"},
		{
			name:      "default profile",
			args:      []string{"-chaos", "-chaos-seed", "42"},
			wantChaos: "seed 42: $disconnect lost 10%, late 0s..3s; @connections 429 5%, latency 5ms..250ms; DynamoDB conflict 5%, throttle 5%, latency 2ms..50ms",
		},
		{
			name:      "default with one part changed",
			args:      []string{"-chaos", "-chaos-seed", "7", "-ddb-conflict", "0.5", "-disconnect-delay", "1s..2s"},
			wantChaos: "seed 7: $disconnect lost 10%, late 1s..2s; @connections 429 5%, latency 5ms..250ms; DynamoDB conflict 50%, throttle 5%, latency 2ms..50ms",
		},
		{
			name:      "one part alone",
			args:      []string{"-disconnect-loss", "1", "-chaos-seed", "9"},
			wantChaos: "seed 9: $disconnect lost 100%, late 0s",
			closeOne:  true,
			wantStats: "chaos (seed 9): 1 $disconnects dropped",
		},
		{
			name:      "the AWS profile",
			args:      []string{"-chaos-profile", "aws", "-chaos-seed", "3"},
			wantChaos: "seed 3: latencies (p50/p99) invoke 10ms/30ms, DynamoDB read 7.55ms/16.2ms, write 7.55ms/16.2ms, transaction 25.3ms/92.5ms, @connections 20ms/60ms",
		},
		{
			name:      "the AWS profile with a fault",
			args:      []string{"-chaos-profile", "aws", "-chaos-seed", "4", "-connections-429", "0.1"},
			wantChaos: "seed 4: @connections 429 10%, latency 0s; latencies (p50/p99) invoke 10ms/30ms, DynamoDB read 7.55ms/16.2ms, write 7.55ms/16.2ms, transaction 25.3ms/92.5ms, @connections 20ms/60ms",
		},
		{
			name:      "a new seed",
			args:      []string{"-connections-429", "0.5"},
			wantChaos: "seed <N>: @connections 429 50%, latency 0s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := dynamotest.New(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stderr := newOutput()
			exit := make(chan int, 1)
			args := append([]string{"-addr", "127.0.0.1:0", "-template", "../../template.yaml", "-dynamodb-endpoint", db.URL, "-table", db.Table}, tt.args...)
			go func() { exit <- run(ctx, args, newOutput(), stderr) }()
			ready := stderr.waitLine(t, "ready: ")
			banner := stderr.String()
			line, hasChaos := "", strings.Contains(banner, "\n  Chaos         ")
			if hasChaos {
				line = strings.TrimPrefix(stderr.waitLine(t, "  Chaos         "), "  Chaos         ")
			}
			if seed := regexp.MustCompile(`^seed (\d+): `).FindStringSubmatch(line); seed != nil {
				if !strings.Contains(banner, "(repeat with -chaos-seed "+seed[1]+")") {
					t.Errorf("the banner does not say how to repeat seed %s:\n%s", seed[1], banner)
				}
				if strings.HasPrefix(tt.wantChaos, "seed <N>") { // a new seed: any will do
					line = strings.Replace(line, seed[1], "<N>", 1)
				}
			}
			if line != tt.wantChaos {
				t.Errorf("Chaos line %q, want %q", line, tt.wantChaos)
			}
			if tt.closeOne {
				url := strings.TrimPrefix(ready, "ready: wscat -c ")
				if err := testkit.Connect(t, url).Reset(); err != nil {
					t.Fatal(err)
				}
				stderr.waitLine(t, "time=") // the dropped $disconnect, logged
			}
			cancel()
			if code := <-exit; code != 0 {
				t.Errorf("exit code %d", code)
			}
			out := stderr.String()
			if hasSummary := strings.Contains(out, "\nchaos (seed "); hasSummary != (tt.wantChaos != "") {
				t.Errorf("summary at shutdown: %v, want %v:\n%s", hasSummary, tt.wantChaos != "", out)
			}
			if tt.wantStats != "" && !strings.Contains(out, tt.wantStats) {
				t.Errorf("stderr does not say %q:\n%s", tt.wantStats, out)
			}
			if tt.closeOne && !strings.Contains(out, `msg="chaos: $disconnect dropped"`) {
				t.Errorf("the dropped $disconnect is not logged:\n%s", out)
			}
		})
	}
}

// -chaos-profile names one of chaos.Profiles; another name is an error.
// -simulate-aws is -chaos-profile aws.
func TestChaosProfileFlag(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantOn  bool
		wantErr string
	}{
		{[]string{"-chaos-profile", "worst"}, true, ""},
		{[]string{"-chaos-profile", "aws", "-chaos"}, true, ""},
		{[]string{"-chaos-profile", "cloudy"}, false, `no chaos profile "cloudy"`},
		{[]string{"-simulate-aws", "-chaos-seed", "2"}, true, ""},
		{[]string{"-simulate-aws", "-chaos-profile", "aws"}, true, ""},
		{[]string{"-simulate-aws", "-chaos-profile", "worst"}, false, `-simulate-aws is -chaos-profile aws, not "worst"`},
		{[]string{"-simulate-aws=false"}, false, ""},
	} {
		fs := flag.NewFlagSet("local", flag.ContinueOnError)
		cf := addChaosFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		p, on, err := cf.resolve()
		if on != tt.wantOn || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: on %v, error %v; want %v, %q", tt.args, on, err, tt.wantOn, tt.wantErr)
		}
		if aws := slices.Contains(tt.args, "aws") || tt.args[0] == "-simulate-aws"; aws && on && p.Latencies != chaos.AWS(0).Latencies {
			t.Errorf("%v: latencies %+v, want the AWS profile's (-chaos-profile wins over -chaos)", tt.args, p.Latencies)
		}
	}
}
