//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slsrtc/slsrtc/test/testkit"
	"github.com/slsrtc/slsrtc/web"
)

// Environment of the browser test.
const (
	// envSkipBrowser=1 skips the browser test; without it, a missing
	// Chromium fails the test.
	envSkipBrowser = "SLSRTC_SKIP_BROWSER"
	// envChromium is the Chromium binary; default defaultChromium, what
	// scripts/ensure-chromium.sh installs.
	envChromium     = "SLSRTC_CHROMIUM"
	defaultChromium = "/usr/bin/chromium"
	// envArtifacts is where screenshots go; default the module's artifacts/.
	envArtifacts = "SLSRTC_ARTIFACTS"
)

// TestDemoPageInChromium opens the demo page, served by the stack itself, in
// two pages of one headless Chromium with fake camera and microphone: alice
// creates a room, bob joins it from the room URL; each lists the other with
// the chat open and receives the other's video, and a chat message typed in
// one page arrives in the other over the data channel, both ways. Each page's
// screenshot is saved under artifacts/.
func TestDemoPageInChromium(t *testing.T) {
	chromium := chromiumPath(t)
	s := startStack(t, map[string]http.Handler{"/": web.Handler()})
	tabs := browserTabs(t, chromium, "alice", "bob")
	alice, bob := tabs[0], tabs[1]

	do(t, "alice tries to join a room that does not exist", alice,
		chromedp.Navigate(s.HTTPURL+"/?room=00000000-0000-4000-8000-000000000000"),
		chromedp.Click(chromedp.CSS("#join-button")),
		waitFor(`document.getElementById("error").textContent.startsWith("room-not-found: ")`),
		chromedp.WaitVisible(chromedp.CSS("#join-button:enabled")),
	)
	do(t, "alice creates a room", alice,
		chromedp.Navigate(s.HTTPURL+"/"),
		chromedp.SetValue(chromedp.CSS("#user-name"), "alice"),
		chromedp.Click(chromedp.CSS("#join-button")),
		chromedp.WaitVisible(chromedp.CSS("#room")),
		chromedp.WaitNotVisible(chromedp.CSS("#join")),
	)
	room := get(t, "alice's room ID", alice, chromedp.Text(chromedp.CSS("#room-label")))
	if room == "" {
		t.Fatal("alice's page shows no room ID")
	}
	do(t, "bob joins from the room URL", bob,
		chromedp.Navigate(s.HTTPURL+"/?room="+room),
		chromedp.SetValue(chromedp.CSS("#user-name"), "bob"),
		chromedp.Click(chromedp.CSS("#join-button")),
		chromedp.WaitVisible(chromedp.CSS("#room")),
		chromedp.WaitNotVisible(chromedp.CSS("#join")),
	)
	do(t, "alice lists bob with the chat open", alice, waitFor(participantOpen("bob")))
	do(t, "bob lists alice with the chat open", bob, waitFor(participantOpen("alice")))

	do(t, "alice sends a chat message", alice, chat("hello from alice"))
	do(t, "bob receives it", bob, waitFor(chatHas("alice: hello from alice")))
	do(t, "bob answers", bob, chat("hi alice, bob here"))
	do(t, "alice receives it", alice, waitFor(chatHas("bob: hi alice, bob here")))

	for _, tab := range []struct {
		name string
		ctx  context.Context
	}{{"alice", alice}, {"bob", bob}} {
		do(t, tab.name+" plays both videos", tab.ctx, waitFor(`[...document.querySelectorAll("#videos video")]
			.filter((v) => v.readyState >= 2 && v.videoWidth > 0).length === 2`))
		if msg := get(t, tab.name+"'s error line", tab.ctx, chromedp.Evaluate[string](
			`document.getElementById("error").hidden ? "" : document.getElementById("error").textContent`)); msg != "" {
			t.Errorf("%s's page shows the error %q", tab.name, msg)
		}
		png := get(t, tab.name+"'s screenshot", tab.ctx, chromedp.CaptureScreenshot())
		saveArtifact(t, "demo-"+tab.name+".png", png)
	}

	do(t, "bob leaves", bob, chromedp.Click(chromedp.CSS("#leave")), chromedp.WaitVisible(chromedp.CSS("#join")))
	do(t, "alice sees bob leave", alice,
		waitFor(chatHas("bob left")),
		waitFor(`document.querySelectorAll("#participants li[data-id]").length === 0`),
		waitFor(`document.querySelectorAll("#videos video").length === 1`),
	)
}

// chat types text into the chat box and sends it.
func chat(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.SendKeys(chromedp.CSS("#chat-text"), text),
		chromedp.Click(chromedp.CSS("#chat button")),
	)
}

// participantOpen is a JavaScript condition: the participant list has name
// with the chat open.
func participantOpen(name string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#participants li[data-chat="open"]')]
		.some((li) => li.textContent.startsWith(%q))`, name)
}

// chatHas is a JavaScript condition: the chat log has the line text.
func chatHas(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#chat-log li")].some((li) => li.textContent === %q)`, text)
}

// waitFor polls a JavaScript condition until it is true.
func waitFor(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(waitTimeout))
}

// do runs actions in a tab, bounded by waitTimeout, and fails the test with
// step's name if they fail.
func do(t *testing.T, step string, tab context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	get(t, step, tab, chromedp.Steps(actions...))
}

// get runs an action that returns a value in a tab, bounded by waitTimeout,
// and fails the test with step's name if it fails.
func get[T any](t *testing.T, step string, tab context.Context, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	return v
}

// chromiumPath returns the Chromium binary, skips the test when
// SLSRTC_SKIP_BROWSER=1, and fails it when Chromium is missing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if os.Getenv(envSkipBrowser) == "1" {
		t.Skipf("%s=1: browser test skipped", envSkipBrowser)
	}
	path := os.Getenv(envChromium)
	if path == "" {
		path = defaultChromium
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no Chromium at %s (%v): run scripts/ensure-chromium.sh (make test does), "+
			"set %s to a Chromium binary, or set %s=1 to skip this test", path, err, envChromium, envSkipBrowser)
	}
	return path
}

// browserTabs starts a headless Chromium with a new empty profile and fake
// media devices and returns a tab of it for each name. Chromium's output and
// the pages' console (prefixed with the tab's name) are logged if the test
// fails.
func browserTabs(t *testing.T, chromium string, names ...string) []context.Context {
	t.Helper()
	output := &testkit.LogBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 720),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		// Host candidates with the machine's addresses, not mDNS names
		// (which a Go peer would have to resolve); chromedp's defaults kept.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
		chromedp.CombinedOutput(output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	var (
		tabs    []context.Context
		cancels = []context.CancelFunc{cancelAlloc}
		wg      sync.WaitGroup
	)
	t.Cleanup(func() {
		for _, cancel := range slices.Backward(cancels) {
			cancel() // the allocator's waits for Chromium to exit
		}
		wg.Wait()
		if t.Failed() {
			t.Logf("Chromium output and page console:\n%s", output.String())
		}
	})
	parent := allocCtx
	for _, name := range names {
		// The first run on a context opens its tab (the first one starts the
		// browser) for as long as that context lives: no timeout here. The
		// second tab's parent must have its browser already.
		tab, cancel := chromedp.NewContext(parent)
		cancels = append(cancels, cancel)
		if err := chromedp.Do(tab); err != nil {
			t.Fatalf("open %s's tab in %s: %v\n%s", name, chromium, err, output.String())
		}
		messages := chromedp.Console(tab)
		wg.Go(func() {
			for m, err := range messages {
				if err != nil {
					return
				}
				fmt.Fprintf(output, "[%s] %s\n", name, m)
			}
		})
		tabs, parent = append(tabs, tab), tab
	}
	return tabs
}

// saveArtifact writes a test artifact and logs its path.
func saveArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := os.Getenv(envArtifacts)
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts")
	}
	dir, err := filepath.Abs(dir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	path := filepath.Join(dir, name)
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		t.Fatalf("save artifact %s: %v", name, err)
	}
	t.Logf("artifact: %s", path)
}
