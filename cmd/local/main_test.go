package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/coder/websocket"

	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// wait bounds every wait; tests wait for events, never for durations.
const wait = 20 * time.Second

// output is a goroutine-safe writer that tells when a line with a given
// prefix has been written.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	close(o.changed)
	o.changed = make(chan struct{})
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitLine returns the first complete line starting with prefix.
func (o *output) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(wait)
	for {
		o.mu.Lock()
		text, changed := o.buf.String(), o.changed
		o.mu.Unlock()
		for line := range strings.Lines(text) {
			if strings.HasPrefix(line, prefix) && strings.HasSuffix(line, "\n") {
				return strings.TrimSuffix(line, "\n")
			}
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no line %q within %v; output so far:\n%s", prefix, wait, text)
		}
	}
}

// TestRunRefuses gives run bad flags, a port in use and stacks that cannot
// start: each is exit code 2 and exactly one line on stderr, nothing on
// stdout.
func TestRunRefuses(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String() // nothing listens there
	closed.Close()

	tmpl := []string{"-template", "../../template.yaml"}
	cases := []struct {
		name string
		args []string
		want string // in the line
	}{
		{"unknown flag", []string{"-nope"}, "flag provided but not defined: -nope"},
		{"flag without value", []string{"-addr"}, "flag needs an argument: -addr"},
		{"bad duration", []string{"-idle-timeout", "soon"}, `invalid value "soon" for flag -idle-timeout`},
		{"bad boolean", []string{"-access-log=maybe"}, `invalid boolean value "maybe" for -access-log`},
		{"argument", []string{"serve"}, `unexpected argument "serve"`},
		{"port in use", append([]string{"-addr", busy.Addr().String()}, tmpl...), "address already in use"},
		{"port out of range", append([]string{"-addr", "127.0.0.1:99999"}, tmpl...), "invalid port"},
		{"missing template", []string{"-addr", "127.0.0.1:0", "-template", "testdata/missing.yaml"}, "testdata/missing.yaml"},
		{"broken template", []string{"-addr", "127.0.0.1:0", "-template", "testdata/broken-template.yaml"}, "testdata/broken-template.yaml"},
		{"bad stage", append([]string{"-addr", "127.0.0.1:0", "-stage", "a/b"}, tmpl...), `invalid stage "a/b"`},
		{"dynamodb unreachable", append([]string{"-addr", "127.0.0.1:0", "-dynamodb-endpoint", refused}, tmpl...), "connection refused"},
		{"chaos probability over 1", []string{"-disconnect-loss", "2"}, "DisconnectLoss 2 is not a probability"},
		{"chaos probabilities over 1", []string{"-ddb-conflict", "0.6", "-ddb-throttle", "0.6"}, "over 1"},
		{"chaos range inverted", []string{"-ddb-latency", "2s..1s"}, `invalid value "2s..1s" for flag -ddb-latency`},
		{"chaos seed alone", []string{"-chaos-seed", "5"}, "-chaos-seed needs -chaos"},
		{"auth secret file missing", []string{"-auth-secret-file", "testdata/missing-secret"}, "-auth-secret-file: open testdata/missing-secret"},
		{"auth secret too short", append([]string{"-addr", "127.0.0.1:0", "-auth-secret-file", "testdata/short-secret"}, tmpl...), "-auth-secret-file testdata/short-secret: auth: current secret: secret is shorter than 32 bytes"},
		{"TURN without a secret", append([]string{"-addr", "127.0.0.1:0", "-turn-urls", "turn:127.0.0.1:3478"}, tmpl...), "TURN_SECRETS"},
		{"TURN secret file missing", []string{"-turn-urls", "turn:127.0.0.1:3478", "-turn-secret-file", "testdata/missing-secret"}, "-turn-secret-file: open testdata/missing-secret"},
		{"STUN URL among TURN", append([]string{"-addr", "127.0.0.1:0", "-stun-urls", "turn:127.0.0.1:3478"}, tmpl...), "STUN_URLS"},
		{"resume grace in part seconds", []string{"-resume-grace", "1500ms"}, "-resume-grace 1.5s: a whole number of seconds"},
		{"negative limit", append([]string{"-addr", "127.0.0.1:0", "-messages-per-second", "-1"}, tmpl...), "-messages-per-second -1: a limit is 1 or more"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr := newOutput(), newOutput()
			code := run(context.Background(), tc.args, stdout, stderr)
			out := stderr.String()
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || !strings.HasPrefix(out, "local: ") {
				t.Errorf("stderr is not one line starting with %q:\n%s", "local: ", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("stderr %q does not say %q", out, tc.want)
			}
			if s := stdout.String(); s != "" {
				t.Errorf("stdout %q, want nothing", s)
			}
		})
	}
}

// TestRunHelp prints the flags and exits 0.
func TestRunHelp(t *testing.T) {
	stdout, stderr := newOutput(), newOutput()
	if code := run(context.Background(), []string{"-h"}, stdout, stderr); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	for _, flag := range []string{"-addr", "-stage", "-template", "-dynamodb-endpoint", "-table", "-idle-timeout", "-max-duration", "-access-log", "-pretty",
		"-send-buffer", "-auth-secret-file", "-auth-audience", "-allowed-origins", "-max-rooms-per-connection", "-enters-per-minute", "-messages-per-second",
		"-chaos", "-chaos-profile", "-simulate-aws", "-chaos-seed", "-disconnect-loss", "-disconnect-delay", "-connections-latency", "-connections-429", "-ddb-conflict", "-ddb-throttle", "-ddb-latency"} {
		if !strings.Contains(stderr.String(), "  "+flag+" ") && !strings.Contains(stderr.String(), "  "+flag+"\n") {
			t.Errorf("usage does not list %s:\n%s", flag, stderr.String())
		}
	}
}

// TestRunShutdown starts the command on an external DynamoDB, puts two
// clients in a room and then ends run's context, as SIGINT or SIGTERM does:
// both clients are closed with 1001, $disconnect runs for each (the
// function logs it with the close code, and the table keeps no connection
// or member), and run exits 0.
func TestRunShutdown(t *testing.T) {
	db := dynamotest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newOutput(), newOutput()
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"-addr", "127.0.0.1:0", "-template", "../../template.yaml",
			"-dynamodb-endpoint", db.URL, "-table", db.Table}, stdout, stderr)
	}()
	ready := stderr.waitLine(t, "ready: ")
	url, ok := strings.CutPrefix(ready, "ready: wscat -c ")
	if !ok || !strings.HasPrefix(url, "ws://127.0.0.1:") || !strings.HasSuffix(url, "/slsrtc") {
		t.Fatalf("ready line %q does not give the WebSocket URL", ready)
	}

	a, b := testkit.Connect(t, url), testkit.Connect(t, url)
	clients := []*testkit.Client{a, b}
	a.MustSend(t, `{"action":"createroom"}`)
	room := a.Expect(t, "room-created").Body
	a.MustSend(t, `{"action":"enterroom","roomID":"`+room+`"}`)
	a.Expect(t, "room-members")
	b.MustSend(t, `{"action":"enterroom","roomID":"`+room+`"}`)
	a.ExpectAbout(t, "enter", b.ID)
	b.Expect(t, "room-members")

	closes := make(chan error, len(clients))
	for _, c := range clients {
		go func() {
			wctx, wcancel := context.WithTimeout(context.Background(), wait)
			defer wcancel()
			closes <- c.Wait(wctx)
		}()
	}
	cancel()
	for range clients {
		err := <-closes
		if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
			t.Errorf("client read %v, want close 1001 (going away)", err)
		}
	}
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit code %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(wait):
		t.Fatal("run did not return after its context ended")
	}
	stderr.waitLine(t, "shutting down: ")

	disconnected := map[string]float64{}
	for line := range strings.Lines(stdout.String()) {
		var l struct {
			Msg          string  `json:"msg"`
			RouteKey     string  `json:"routeKey"`
			ConnectionID string  `json:"connectionId"`
			Outcome      string  `json:"outcome"`
			Code         float64 `json:"disconnectStatusCode"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "invocation" && l.RouteKey == "$disconnect" && l.ConnectionID != "" {
			if l.Outcome != "ok" {
				t.Errorf("$disconnect of %s: outcome %q", l.ConnectionID, l.Outcome)
			}
			disconnected[l.ConnectionID] = l.Code
		}
	}
	for _, c := range clients {
		if code, ok := disconnected[c.ID]; !ok || code != 1001 {
			t.Errorf("$disconnect of %s: logged %v with code %v, want code 1001", c.ID, ok, code)
		}
	}
	// Closed with 1001, both members went away: their seats stay held for
	// a resume (on this table, which outlives the stack) until the window
	// passes; nothing else is left.
	for pk, item := range db.Items(t) {
		var kind struct {
			Kind      string `dynamodbav:"kind"`
			Members   int    `dynamodbav:"members"`
			Away      int    `dynamodbav:"away"`
			AwayUntil int64  `dynamodbav:"awayUntil"`
		}
		if err := attributevalue.UnmarshalMap(item, &kind); err != nil {
			t.Fatal(err)
		}
		switch {
		case kind.Kind == "room" && kind.Members == kind.Away:
		case (kind.Kind == "connection" || kind.Kind == "member") && kind.AwayUntil > 0:
		default:
			t.Errorf("after shutdown the table holds %s (kind %s, members %d, away %d, awayUntil %d); want only away members and their room",
				pk, kind.Kind, kind.Members, kind.Away, kind.AwayUntil)
		}
	}
	dynamotest.CheckInvariants(t, db)
}
