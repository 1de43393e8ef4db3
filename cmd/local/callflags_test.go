package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/test/testkit"
)

// TestRunICEServers: the ICE server flags reach the function as the
// template's parameters would: a client gets STUN and TURN, with
// credentials signed by the secret in the file, for its participant.
func TestRunICEServers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "turn-secret")
	if err := os.WriteFile(file, []byte("0123456789abcdef0123456789abcdef-turn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr := startRun(t, "-addr", "127.0.0.1:0", "-template", "../../template.yaml", "-resume-grace", "5s",
		"-stun-urls", "stun:127.0.0.1:3478", "-turn-urls", "turn:127.0.0.1:3478?transport=udp", "-turn-secret-file", file,
		"-turn-ttl", "10m")
	url := strings.TrimPrefix(stderr.waitLine(t, "ready: "), "ready: wscat -c ")
	c := testkit.Connect(t, url)
	c.MustSend(t, `{"action":"iceservers"}`)
	f := c.Expect(t, "ice-servers")
	var frame struct {
		ICEServers []struct {
			URLs                 []string
			Username, Credential string
		}
		Relay      bool
		TTLSeconds int64
	}
	if err := json.Unmarshal(f.Raw, &frame); err != nil {
		t.Fatal(err)
	}
	if !frame.Relay || frame.TTLSeconds != 600 || len(frame.ICEServers) != 2 || frame.ICEServers[0].URLs[0] != "stun:127.0.0.1:3478" ||
		!strings.HasSuffix(frame.ICEServers[1].Username, ":"+c.ParticipantID) || frame.ICEServers[1].Credential == "" {
		t.Errorf("ice-servers frame %s: want STUN, then TURN with credentials for %s for 10 minutes", f.Raw, c.ParticipantID)
	}
}

// startRun runs the local stack with args until the test ends, and returns
// its output.
func startRun(t *testing.T, args ...string) (stdout, stderr *output) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = newOutput(), newOutput()
	exit := make(chan int, 1)
	go func() { exit <- run(ctx, args, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exit:
		case <-time.After(wait):
			t.Error("run did not return after its context ended")
		}
	})
	return stdout, stderr
}
