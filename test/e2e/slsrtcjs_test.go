//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slsrtc/slsrtc/emulator/chaos"
	"github.com/slsrtc/slsrtc/internal/localstack"
	"github.com/slsrtc/slsrtc/test/stacktest"
	"github.com/slsrtc/slsrtc/web"
)

// The browser client, web/static/slsrtc.js, in headless Chromium: each tab
// opens testdata/slsrtc.html from the stack's own origin (Chromium's Local
// Network Access lets only such a page open ws://127.0.0.1), which imports
// /slsrtc.js and records the room's events in window.t.

// jsPage is the test page's path on the stack.
const jsPage = "/test/slsrtc.html"

// jsStack starts a stack with opts serving the client at its root and the
// test pages (testdata) under /test/, beside opts.Handlers.
func jsStack(t *testing.T, opts localstack.Options) *localstack.Stack {
	t.Helper()
	opts.Template = "../../template.yaml"
	handlers := map[string]http.Handler{
		"/":      web.Handler(),
		"/test/": http.StripPrefix("/test/", http.FileServer(http.Dir("testdata"))),
	}
	for p, h := range opts.Handlers {
		handlers[p] = h
	}
	opts.Handlers = handlers
	s, _ := stacktest.Start(t, opts)
	return s
}

// jsTab is one page of the test, with the room it is in.
type jsTab struct {
	name          string
	ctx           context.Context
	roomID        string
	participantID string
}

// jsTabs opens the test page in a tab for each name.
func jsTabs(t *testing.T, s *localstack.Stack, names ...string) []*jsTab {
	t.Helper()
	ctxs := browserTabs(t, chromiumPath(t), names...)
	tabs := make([]*jsTab, len(names))
	for i, name := range names {
		tabs[i] = &jsTab{name: name, ctx: ctxs[i]}
		do(t, name+" opens the test page", ctxs[i], chromedp.Navigate(s.HTTPURL+jsPage), waitFor(`window.ready === true`))
	}
	t.Cleanup(func() { // before the browser's: the tabs are still open
		if !t.Failed() {
			return
		}
		for _, tab := range tabs {
			ctx, cancel := context.WithTimeout(tab.ctx, 5*time.Second)
			dump, err := chromedp.Run(ctx, chromedp.Evaluate[string](`t.dump()`))
			cancel()
			t.Logf("%s's room: %s%v", tab.name, dump, err)
		}
	})
	return tabs
}

// jsPair opens two tabs, alice and bob, that enter one room (alice
// creates it), and waits for their data channel to open both ways.
func jsPair(t *testing.T, s *localstack.Stack) (alice, bob *jsTab) {
	t.Helper()
	tabs := jsTabs(t, s, "alice", "bob")
	alice, bob = tabs[0], tabs[1]
	alice.mustJoin(t, s.WebSocketURL, nil)
	bob.mustJoin(t, s.WebSocketURL, map[string]any{"roomID": alice.roomID})
	waitOpen(t, alice, bob)
	waitOpen(t, bob, alice)
	return alice, bob
}

// join calls Slsrtc.join(url, opts) in the tab and returns the error code it
// rejected with, or "" when the tab is in the room.
func (tab *jsTab) join(t *testing.T, url string, opts map[string]any) string {
	t.Helper()
	if opts == nil {
		opts = map[string]any{}
	}
	args, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		RoomID, ParticipantID, Error string
	}
	res := get(t, tab.name+" joins", tab.ctx, chromedp.Evaluate[json.RawMessage](
		fmt.Sprintf(`t.join(%q, %s)`, url, args), chromedp.EvalAwaitPromise))
	if err := json.Unmarshal(res, &got); err != nil {
		t.Fatalf("%s joins: %s: %v", tab.name, res, err)
	}
	if got.Error == "" {
		tab.roomID, tab.participantID = got.RoomID, got.ParticipantID
	}
	return got.Error
}

// mustJoin joins, failing the test if the tab could not.
func (tab *jsTab) mustJoin(t *testing.T, url string, opts map[string]any) {
	t.Helper()
	if code := tab.join(t, url, opts); code != "" {
		t.Fatalf("%s could not join: %s", tab.name, code)
	}
}

// eval runs JavaScript in the tab and returns its value.
func eval[T any](t *testing.T, tab *jsTab, step, js string) T {
	t.Helper()
	return get(t, tab.name+": "+step, tab.ctx, chromedp.Evaluate[T](js))
}

// waitOpen waits until tab's shared data channel is open to each of peers.
func waitOpen(t *testing.T, tab *jsTab, peers ...*jsTab) {
	t.Helper()
	for _, p := range peers {
		do(t, fmt.Sprintf("%s's data channel to %s opens", tab.name, p.name), tab.ctx,
			waitFor(fmt.Sprintf(`t.open().includes(%q)`, p.participantID)))
	}
}

// exchange sends text from one tab to another over the shared data channel
// (addressed by participant ID) and waits for it to arrive from the sender.
func exchange(t *testing.T, from, to *jsTab, text string) {
	t.Helper()
	do(t, fmt.Sprintf("%s sends %q to %s", from.name, text, to.name), from.ctx,
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`t.room.send(%q, %q)`, to.participantID, text)))
	do(t, fmt.Sprintf("%s receives %q from %s", to.name, text, from.name), to.ctx,
		waitFor(fmt.Sprintf(`t.got("message", {peer: %q, data: %q})`, from.participantID, text)))
}

// noErrors fails the test if a tab's room dispatched an error event.
func noErrors(t *testing.T, tabs ...*jsTab) {
	t.Helper()
	for _, tab := range tabs {
		if errs := eval[string](t, tab, "errors", `JSON.stringify(t.events.filter((e) => e.type === "error"))`); errs != "[]" {
			t.Errorf("%s's room reported errors: %s", tab.name, errs)
		}
	}
}

// TestSlsrtcJSDataChannel: alice creates a room with Slsrtc.join, bob
// enters it; each gets a peer event naming the other, their shared data
// channel opens, and messages pass both ways (room.send to everyone and to
// one participant). Joining a room that does not exist, or one that is
// full, rejects with a SlsrtcError of the protocol's code. When bob leaves,
// alice gets peerleft with reason "left".
func TestSlsrtcJSDataChannel(t *testing.T) {
	s := jsStack(t, localstack.Options{})
	tabs := jsTabs(t, s, "alice", "bob", "carol")
	alice, bob, carol := tabs[0], tabs[1], tabs[2]

	if code := alice.join(t, s.WebSocketURL, map[string]any{"roomID": "00000000-0000-4000-8000-000000000000"}); code != "room-not-found" {
		t.Errorf("joining a room that does not exist rejected with %q, want room-not-found", code)
	}
	alice.mustJoin(t, s.WebSocketURL, map[string]any{"userName": "alice"})
	bob.mustJoin(t, s.WebSocketURL, map[string]any{"userName": "bob", "roomID": alice.roomID})
	if bob.roomID != alice.roomID || bob.participantID == alice.participantID {
		t.Fatalf("alice is %s in %s, bob %s in %s", alice.participantID, alice.roomID, bob.participantID, bob.roomID)
	}
	do(t, "alice hears of bob by name", alice.ctx, waitFor(fmt.Sprintf(`t.got("peer", {peer: %q})`, bob.participantID)),
		waitFor(fmt.Sprintf(`t.room.peers.get(%q).userName === "bob"`, bob.participantID)))
	do(t, "bob knows alice by name", bob.ctx, waitFor(fmt.Sprintf(`t.room.peers.get(%q)?.userName === "alice"`, alice.participantID)))
	waitOpen(t, alice, bob)
	waitOpen(t, bob, alice)

	if n := eval[int](t, alice, "send to everyone", `t.room.send("hello, everyone")`); n != 1 {
		t.Errorf("room.send to everyone sent to %d peers, want 1", n)
	}
	do(t, "bob receives it", bob.ctx, waitFor(fmt.Sprintf(`t.got("message", {peer: %q, data: "hello, everyone"})`, alice.participantID)))
	exchange(t, bob, alice, "hi alice")

	if code := carol.join(t, s.WebSocketURL, map[string]any{"capacity": 1}); code != "" {
		t.Fatalf("carol could not create a room: %s", code)
	}
	if code := bob.join(t, s.WebSocketURL, map[string]any{"roomID": carol.roomID}); code != "room-full" {
		t.Errorf("joining a full room rejected with %q, want room-full", code)
	}

	do(t, "bob leaves", bob.ctx, chromedp.Evaluate[chromedp.Void](`t.room.leave()`))
	do(t, "alice sees bob leave", alice.ctx,
		waitFor(fmt.Sprintf(`t.got("peerleft", {peer: %q, reason: "left"})`, bob.participantID)),
		waitFor(`t.room.peers.size === 0`))
	noErrors(t, alice, bob)
}

// glareRounds is how many times the glare test renegotiates from both sides
// at once.
const glareRounds = 50

// TestSlsrtcJSGlare: alice and bob, connected, both restart ICE at the same
// instant, so both offer at once (glare), glareRounds times in a row.
// Perfect negotiation resolves each: both connections end stable (never
// stuck in have-local-offer) with new ICE credentials on both sides, and
// connected; and the shared channel still carries messages. The test counts
// the rounds in which both sides really offered (each went to
// have-local-offer) and wants at least one.
func TestSlsrtcJSGlare(t *testing.T) {
	s := jsStack(t, localstack.Options{})
	alice, bob := jsPair(t, s)
	tabs := []*jsTab{alice, bob}
	peerOf := map[*jsTab]*jsTab{alice: bob, bob: alice}
	offers := func(tab *jsTab) int {
		return eval[int](t, tab, "count offers", fmt.Sprintf(
			`t.states[%q].filter((s) => s === "have-local-offer").length`, peerOf[tab].participantID))
	}

	both := 0
	for i := range glareRounds {
		before := map[*jsTab]string{}
		offered := map[*jsTab]int{}
		for _, tab := range tabs {
			before[tab] = eval[string](t, tab, "ICE credentials", fmt.Sprintf(`t.ufrags(%q)`, peerOf[tab].participantID))
			offered[tab] = offers(tab)
		}
		at := eval[float64](t, alice, "the clock", `Date.now()`) + 100
		for _, tab := range tabs {
			do(t, fmt.Sprintf("%s restarts ICE (round %d)", tab.name, i), tab.ctx,
				chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`t.restartAt(%v)`, at)))
		}
		for _, tab := range tabs {
			pc := fmt.Sprintf(`t.room.peers.get(%q).pc`, peerOf[tab].participantID)
			do(t, fmt.Sprintf("%s's connection is renegotiated, connected (round %d)", tab.name, i), tab.ctx, waitFor(fmt.Sprintf(
				`%s.signalingState === "stable" && t.ufrags(%q).split(" ").every((u, i) => u !== %q.split(" ")[i]) && %s.connectionState === "connected"`,
				pc, peerOf[tab].participantID, before[tab], pc)))
		}
		if offers(alice) > offered[alice] && offers(bob) > offered[bob] {
			both++
		}
	}
	t.Logf("both sides offered at once in %d of %d rounds", both, glareRounds)
	if both == 0 {
		t.Errorf("no round had both sides offering: glare was never tested")
	}
	exchange(t, alice, bob, "still there?")
	exchange(t, bob, alice, "yes")
	noErrors(t, alice, bob)
}

// TestSlsrtcJSFrameLimit: a browser sends a message as one WebSocket frame,
// and API Gateway closes a connection that sends a frame over 32 KB, so
// slsrtc.js does not send a signal that large: an offer of twenty video
// transceivers (Chromium lists every codec in each) is an error event
// "payload-too-large", and the signaling connection stays up (no
// reconnecting event; the room's next frames still arrive).
func TestSlsrtcJSFrameLimit(t *testing.T) {
	s := jsStack(t, localstack.Options{})
	alice, bob := jsPair(t, s)
	do(t, "alice adds twenty video transceivers", alice.ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`for (let i = 0; i < 20; i++) t.room.peers.get(%q).pc.addTransceiver("video", {direction: "recvonly"})`, bob.participantID)))
	do(t, "alice's room reports the offer too large", alice.ctx, waitFor(`t.got("error", {code: "payload-too-large"})`))
	if n := eval[int](t, alice, "reconnects", `t.events.filter((e) => e.type === "reconnecting").length`); n != 0 {
		t.Errorf("alice reconnected %d times, want 0: the connection was closed", n)
	}
	// Her signaling connection still carries frames: she sees bob leave.
	do(t, "bob leaves", bob.ctx, chromedp.Evaluate[chromedp.Void](`t.room.leave()`))
	do(t, "alice sees bob leave", alice.ctx,
		waitFor(fmt.Sprintf(`t.got("peerleft", {peer: %q, reason: "left"})`, bob.participantID)))
}

// TestSlsrtcJSJoinWithoutConnected: when the stack never gets "connected"
// through (every @connections post throttled), Slsrtc.join rejects with a
// SlsrtcError "timeout" after 15 s instead of waiting for ever.
func TestSlsrtcJSJoinWithoutConnected(t *testing.T) {
	s := jsStack(t, localstack.Options{Chaos: chaos.Profile{Seed: 1, ConnectionsThrottle: 1}})
	tab := jsTabs(t, s, "alice")[0]
	if code := tab.join(t, s.WebSocketURL, nil); code != "timeout" {
		t.Errorf("join: %q, want timeout", code)
	}
}

// TestSlsrtcJSMesh: four pages enter one room; each has an open data
// channel to each of the three others, and a message each sends to
// everyone reaches all three.
func TestSlsrtcJSMesh(t *testing.T) {
	s := jsStack(t, localstack.Options{})
	tabs := jsTabs(t, s, "alice", "bob", "carol", "dave")
	tabs[0].mustJoin(t, s.WebSocketURL, nil)
	for _, tab := range tabs[1:] {
		tab.mustJoin(t, s.WebSocketURL, map[string]any{"roomID": tabs[0].roomID})
	}
	for _, tab := range tabs {
		var others []*jsTab
		for _, o := range tabs {
			if o != tab {
				others = append(others, o)
			}
		}
		waitOpen(t, tab, others...)
	}
	for _, from := range tabs {
		text := "hello from " + from.name
		if n := eval[int](t, from, "send to everyone", fmt.Sprintf(`t.room.send(%q)`, text)); n != len(tabs)-1 {
			t.Errorf("%s sent to %d peers, want %d", from.name, n, len(tabs)-1)
		}
		for _, to := range tabs {
			if to != from {
				do(t, fmt.Sprintf("%s receives %q", to.name, text), to.ctx,
					waitFor(fmt.Sprintf(`t.got("message", {peer: %q, data: %q})`, from.participantID, text)))
			}
		}
	}
	noErrors(t, tabs...)
}

// TestSlsrtcJSResume: on a stack that holds a seat 30 s for a resume, bob's
// WebSocket is cut (closed with 4000, not a normal closure) while he is
// connected to alice. His client reconnects and resumes: he gets
// reconnecting then resumed (his own, same participant ID), alice gets
// resumed for bob and never peerleft, and their data channel carries
// messages both ways afterwards. Then carol enters and connects to bob,
// whose signals now go through his new connection.
func TestSlsrtcJSResume(t *testing.T) {
	s := jsStack(t, localstack.Options{Getenv: func(name string) string {
		if name == "RESUME_GRACE_SECONDS" {
			return "30"
		}
		return ""
	}})
	tabs := jsTabs(t, s, "alice", "bob", "carol")
	alice, bob, carol := tabs[0], tabs[1], tabs[2]
	alice.mustJoin(t, s.WebSocketURL, map[string]any{"userName": "alice"})
	bob.mustJoin(t, s.WebSocketURL, map[string]any{"userName": "bob", "roomID": alice.roomID})
	waitOpen(t, alice, bob)
	waitOpen(t, bob, alice)
	oldConnection := eval[string](t, bob, "connection ID", `t.room.connectionID`)

	do(t, "bob's WebSocket is cut", bob.ctx, chromedp.Evaluate[chromedp.Void](`t.room.testDropSocket()`))
	do(t, "bob reconnects and resumes", bob.ctx,
		waitFor(`t.got("reconnecting")`),
		waitFor(`t.got("resumed", {peer: null})`))
	if got := eval[string](t, bob, "participant ID", `t.room.participantID`); got != bob.participantID {
		t.Errorf("bob is %s after resuming, want %s (the same participant)", got, bob.participantID)
	}
	if got := eval[string](t, bob, "connection ID", `t.room.connectionID`); got == oldConnection {
		t.Errorf("bob's connection ID is still %s after resuming", got)
	}
	do(t, "alice gets resumed for bob", alice.ctx,
		waitFor(fmt.Sprintf(`t.got("resumed", {peer: %q})`, bob.participantID)))
	if eval[bool](t, alice, "peerleft", `t.got("peerleft")`) {
		t.Errorf("alice got peerleft when bob resumed")
	}
	if eval[bool](t, bob, "peerleft", `t.got("peerleft")`) {
		t.Errorf("bob lost a peer when he resumed")
	}
	exchange(t, alice, bob, "welcome back")
	exchange(t, bob, alice, "thanks")

	carol.mustJoin(t, s.WebSocketURL, map[string]any{"userName": "carol", "roomID": alice.roomID})
	waitOpen(t, carol, alice, bob)
	exchange(t, carol, bob, "hi bob")
	exchange(t, bob, carol, "hi carol")
	if eval[bool](t, alice, "peerleft", `t.got("peerleft")`) {
		t.Errorf("alice got peerleft")
	}
	noErrors(t, alice, bob, carol)
}

// TestSlsrtcJSProactiveResume: on a stack whose connections last 20 s
// (API Gateway's 2 hours, shortened), a client resumes on a new WebSocket
// before its connection's expiresAt, without losing the old one first: it
// gets resumed (its own) without reconnecting, its peer gets resumed for
// it, nobody gets peerleft, and the data channel still works.
func TestSlsrtcJSProactiveResume(t *testing.T) {
	s := jsStack(t, localstack.Options{MaxDuration: 20 * time.Second, Getenv: func(name string) string {
		if name == "RESUME_GRACE_SECONDS" {
			return "30"
		}
		return ""
	}})
	alice, bob := jsPair(t, s)
	tabs := []*jsTab{alice, bob}
	for _, tab := range tabs {
		do(t, tab.name+" resumes ahead of the cut", tab.ctx, waitFor(`t.got("resumed", {peer: null})`))
	}
	do(t, "alice gets resumed for bob", alice.ctx, waitFor(fmt.Sprintf(`t.got("resumed", {peer: %q})`, bob.participantID)))
	do(t, "bob gets resumed for alice", bob.ctx, waitFor(fmt.Sprintf(`t.got("resumed", {peer: %q})`, alice.participantID)))
	for _, tab := range tabs {
		if eval[bool](t, tab, "reconnecting", `t.got("reconnecting") || t.got("peerleft")`) {
			t.Errorf("%s reconnected or lost a peer: its resume was not ahead of the cut", tab.name)
		}
	}
	exchange(t, alice, bob, "after the move")
	exchange(t, bob, alice, "same here")
	noErrors(t, alice, bob)
}

// TestSlsrtcJSReadmeExample runs the README's browser example as written
// (only its WebSocket URL pointed at the test's stack) in two tabs, as the
// README says: the first creates a room and logs its ?room=, the second
// opens the page with it; each says hello over the data channel and logs
// the other's hello. When the second tab's page goes away, the first logs
// that it left.
func TestSlsrtcJSReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\n## Browser client\n.*?```js\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no js example under ## Browser client")
	}
	const readmeURL = "ws://127.0.0.1:3001/slsrtc"
	example := string(m[1])
	if !strings.Contains(example, readmeURL) {
		t.Fatalf("the README's example does not connect to %s:\n%s", readmeURL, example)
	}
	var s *localstack.Stack
	s = jsStack(t, localstack.Options{Handlers: map[string]http.Handler{
		"/test/readme.js": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			fmt.Fprint(w, strings.ReplaceAll(example, readmeURL, s.WebSocketURL))
		}),
	}})
	tabs := browserTabs(t, chromiumPath(t), "first", "second")
	first, second := tabs[0], tabs[1]
	logged := func(re string) string {
		return fmt.Sprintf(`window.logs.some((l) => /%s/.test(l))`, re)
	}

	do(t, "the first tab creates a room", first, chromedp.Navigate(s.HTTPURL+"/test/readme.html"),
		waitFor(logged(`^in the room: \?room=`)))
	line := get(t, "the first tab's room", first, chromedp.Evaluate[string](
		`window.logs.find((l) => l.startsWith("in the room: "))`))
	query := strings.TrimPrefix(line, "in the room: ")
	do(t, "the second tab enters it", second, chromedp.Navigate(s.HTTPURL+"/test/readme.html"+query),
		waitFor(logged(`^in the room: `+regexp.QuoteMeta(query))))
	for _, tab := range tabs {
		do(t, "each tab logs the other's hello", tab, waitFor(logged(`^[0-9a-f-]{36}: hello$`)))
	}
	do(t, "the second tab's page goes away", second, chromedp.Navigate("about:blank"))
	do(t, "the first tab logs that it left", first, waitFor(logged(`^[0-9a-f-]{36} left: `)))
	if warned := get(t, "the first tab's warnings", first, chromedp.Evaluate[string](
		`window.logs.filter((l) => !/^(in the room|[0-9a-f-]{36})/.test(l)).join("\n")`)); warned != "" {
		t.Errorf("the example warned:\n%s", warned)
	}
}
