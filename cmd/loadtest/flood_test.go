package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// floodFlagSet defines the flags floodConfigFrom reads, with the relay
// mode's defaults, as run does.
func floodFlagSet(t *testing.T, args ...string) *flag.FlagSet {
	t.Helper()
	return modeFlagSet(t, addFloodFlags, args...)
}

// modeFlagSet defines the relay mode's flags a mode reads, with their
// defaults as run has them, and the mode's own (add), then parses args.
func modeFlagSet(t *testing.T, add func(*flag.FlagSet), args ...string) *flag.FlagSet {
	t.Helper()
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Int("connections", 2000, "")
	fs.Int("room", 4, "")
	fs.Float64("rate", 0.5, "")
	fs.Duration("hold", 15*time.Second, "")
	fs.Int("rounds", 5, "")
	fs.Int("payload", 512, "")
	fs.Int("dial-concurrency", 32, "")
	add(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return fs
}

func TestFloodConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c, err := floodConfigFrom(floodFlagSet(t))
		if err != nil {
			t.Fatal(err)
		}
		if c.Connections != 40 || c.RelaysPerSecond != 2 || c.Hold != 10*time.Second || c.HoldSeconds != 10 ||
			c.RoomSize != 4 || c.Rounds != 5 || c.Steps != 1 || c.FloodMessages != 5000 || c.FloodRate != 500 || c.FloodReconnect {
			t.Errorf("got %+v", c)
		}
	})
	t.Run("given", func(t *testing.T) {
		c, err := floodConfigFrom(floodFlagSet(t, "-connections", "6", "-room", "3", "-hold", "2s", "-rate", "1",
			"-flood-messages", "450", "-flood-rate", "0", "-flood-reconnect"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Connections != 6 || c.RoomSize != 3 || c.Hold != 2*time.Second || c.RelaysPerSecond != 1 ||
			c.FloodMessages != 450 || c.FloodRate != 0 || !c.FloodReconnect {
			t.Errorf("got %+v", c)
		}
	})
	for _, args := range [][]string{
		{"-room", "1"},
		{"-connections", "3"}, // less than a room of 4
		{"-rate", "0"},
		{"-hold", "0s"},
		{"-rounds", "0"},
		{"-payload", "8"},
		{"-flood-messages", "0"},
		{"-flood-rate", "-1"},
	} {
		if c, err := floodConfigFrom(floodFlagSet(t, args...)); err == nil {
			t.Errorf("%v: accepted %+v", args, c)
		}
	}
	if err := (floodConfig{config: config{RelaysPerSecond: 11}}).checkLimit(200); err == nil {
		t.Error("11 relays/s against 200 per window accepted")
	}
	if err := (floodConfig{config: config{RelaysPerSecond: 2}}).checkLimit(200); err != nil {
		t.Errorf("2 relays/s against 200 per window: %v", err)
	}
}

// TestFloodFlags checks that run hands the flood mode its flags and
// refuses bad ones with exit 2 and a message.
func TestFloodFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "flood", "-flood-rate", "-5"},
		{"-mode", "flood", "-room", "1"},
		{"-mode", "flood", "-flood-messages", "x"},
	} {
		var out, errOut bytes.Buffer
		if code := run(append(args, "-quiet"), &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a message", args, code, errOut.String())
		}
	}
}

func TestNotLimited(t *testing.T) {
	conns := func(n int) []*floodConn { return make([]*floodConn, n) }
	tests := []struct {
		name string
		o    floodOutcome
		want string // in the reason; "" for limited
	}{
		{"refused and closed", floodOutcome{Sent: 2000, Relayed: 200, RateLimited: 400, ClosedByStack: 1, Connections: conns(1)}, ""},
		{"refused, too few to be closed", floodOutcome{Sent: 300, Relayed: 200, RateLimited: 100, Connections: conns(1)}, ""},
		{"two windows on each connection", floodOutcome{Sent: 1600, Relayed: 800, RateLimited: 10, ClosedByStack: 2, Connections: conns(2)}, ""},
		{"nothing sent", floodOutcome{}, "sent nothing"},
		{"never refused", floodOutcome{Sent: 500, Relayed: 500, Connections: conns(1)}, "was refused"},
		{"relayed past the limit", floodOutcome{Sent: 2000, Relayed: 401, RateLimited: 5, ClosedByStack: 1, Connections: conns(1)}, "more than a window's worth"},
		{"open through three windows", floodOutcome{Sent: 1000, Relayed: 599, RateLimited: 396, Connections: []*floodConn{{Windows: 3}}}, ""},
		{"past three windows' worth", floodOutcome{Sent: 1000, Relayed: 601, RateLimited: 396, Connections: []*floodConn{{Windows: 3}}}, "for each of the 3 windows"},
		{"never closed", floodOutcome{Sent: 801, Relayed: 200, RateLimited: 601, Connections: conns(1)}, "none was closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.o.notLimited(200)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFloodRun runs the flood mode briefly against the local stack in
// process: the flooder is refused and the run says so. Nothing is asserted
// about latency. The flooder is paced (200 a second, 300 in all, against a
// limit of 50 a window), not back to back: a shared machine under
// a full go test ./... cannot be relied on to serve hundreds of queued
// invocations within their timeout, and a timed-out one is not a refusal.
func TestFloodRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the local stack and floods it for about 5 s")
	}
	// A limit of 50 messages per 10 s window (the in-process stack reads
	// the function's settings from the environment): 300 messages cross at
	// most one window boundary, so at most 100 are relayed, whenever the
	// run starts.
	t.Setenv("MESSAGES_PER_SECOND", "5")
	path := filepath.Join(t.TempDir(), "flood.json")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-mode", "flood", "-template", "../../template.yaml", "-json", path, "-quiet",
		"-connections", "4", "-room", "2", "-hold", "2s", "-rounds", "1", "-flood-messages", "300", "-flood-rate", "200"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r floodReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	o := r.Flooder
	if o.Sent == 0 || o.Sent > 450 || o.RateLimited == 0 || o.RetryAfterMsMin <= 0 || len(o.Connections) != 1 || r.NotLimited != "" {
		t.Errorf("flooder: %+v, not limited: %q", o, r.NotLimited)
	}
	if r.LimitPerWindow != 50 || o.Relayed > 2*r.LimitPerWindow {
		t.Errorf("limit %d per window, %d relayed", r.LimitPerWindow, o.Relayed)
	}
	for _, st := range []stepResult{r.Quiet, r.Flooded} {
		if st.Connections != 4 || st.RelaysSent == 0 || st.RelayP99Ms <= 0 {
			t.Errorf("step %d: %d connections, %d relays sent, p99 %v", st.Step, st.Connections, st.RelaysSent, st.RelayP99Ms)
		}
	}
	if !strings.Contains(stdout.String(), "the flooder was limited") {
		t.Errorf("stdout lacks the verdict:\n%s", stdout.String())
	}
}
