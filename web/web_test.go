package web_test

import (
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/web"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	tests := []struct {
		path, wantType, wantBody string
		wantStatus               int
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="app.js"></script>`, 200},
		{"/app.js", "text/javascript; charset=utf-8", `import { Slsrtc } from "./slsrtc.js";`, 200},
		{"/slsrtc.js", "text/javascript; charset=utf-8", "export class SlsrtcError", 200}, // the browser client, an ES module at the root
		{"/style.css", "text/css; charset=utf-8", "#participants", 200},
		{"/favicon.ico", "image/x-icon", "\x00\x00\x01\x00", 200}, // an ICO: a browser asks for it on every load
		{"/sw.js", "text/javascript; charset=utf-8", `self.addEventListener("push"`, 200},
		{"/notify.js", "text/javascript; charset=utf-8", "export async function enableNotifications(", 200},
		{"/index.html", "", "", http.StatusMovedPermanently}, // FileServer's canonical "/"
		{"/nope.js", "text/plain; charset=utf-8", "404 page not found", 404},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := client.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Content-Type"); tt.wantType != "" && got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if got := resp.Header.Get("Cache-Control"); resp.StatusCode == 200 && got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if got := resp.Header.Get("Service-Worker-Allowed"); (tt.path == "/sw.js") != (got == "/") {
				t.Errorf("Service-Worker-Allowed %q", got)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body does not contain %q:\n%.300s", tt.wantBody, body)
			}
		})
	}
}

// TestClientSpeaksTheProtocol: every action the browser client (slsrtc.js,
// which the demo page uses) sends is one the backend routes, and it uses
// each of them. The client names its actions in one table, const A.
func TestClientSpeaksTheProtocol(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/slsrtc.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	js, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	table := regexp.MustCompile(`(?s)const A = Object\.freeze\(\{(.*?)\}\);`).FindSubmatch(js)
	if table == nil {
		t.Fatal("slsrtc.js has no table of actions (const A = Object.freeze({...});)")
	}
	var got []string
	for _, m := range regexp.MustCompile(`\w+: "([^"]*)"`).FindAllSubmatch(table[1], -1) {
		got = append(got, string(m[1]))
	}
	slices.Sort(got)
	want := []string{handlers.ActionCreateRoom, handlers.ActionEnterRoom, handlers.ActionLeaveRoom, handlers.ActionMessage,
		handlers.ActionPing, handlers.ActionResume, handlers.ActionICEServers}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("slsrtc.js sends the actions %v, want %v", got, want)
	}
	// Every use of an action goes through the table.
	if m := regexp.MustCompile(`action: "[^"]*"`).Find(js); m != nil {
		t.Errorf("slsrtc.js spells an action outside its table: %s", m)
	}
}

// TestPageWebSocketURL runs app.js, with the slsrtc.js it imports, in Node
// with a stub DOM (testdata/page-url.js) and submits the join form: the page
// takes ?ws= as given, else the WebSocket URL of the local stack that served
// it (GET endpoints.json, so any stage), else the default stage on its own
// host; the client opens the WebSocket with the page's ?token=, if any,
// added as ?token=. (Node 20.19 or later: it loads app.js as an ES module
// by its syntax.)
func TestPageWebSocketURL(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (make tools-npm needs it too)")
	}
	const endpoints = "http://127.0.0.1:4000/endpoints.json"
	tests := []struct {
		name, page  string
		status      int // of endpoints.json; 0: the fetch fails
		body        string
		wantWS      string
		wantFetched []string
		wantSocket  string // "": wantWS
	}{
		{"stack on another stage", "http://127.0.0.1:4000/", 200, `{"webSocketURL":"ws://127.0.0.1:4000/dev"}`, "ws://127.0.0.1:4000/dev", []string{endpoints}, ""},
		{"room link", "http://127.0.0.1:4000/?room=r1", 200, `{"webSocketURL":"ws://127.0.0.1:4000/slsrtc"}`, "ws://127.0.0.1:4000/slsrtc", []string{endpoints}, ""},
		{"deployed stage in the address", "http://127.0.0.1:4000/?ws=wss%3A%2F%2Fabc.execute-api.eu-west-1.amazonaws.com%2Fprod", 200, `{"webSocketURL":"ws://127.0.0.1:4000/dev"}`, "wss://abc.execute-api.eu-west-1.amazonaws.com/prod", nil, ""},
		{"not served by a stack", "https://demo.example/", 404, "not found", "wss://demo.example/slsrtc", []string{"https://demo.example/endpoints.json"}, ""},
		{"fetch fails", "http://127.0.0.1:4000/", 0, "", "ws://127.0.0.1:4000/slsrtc", []string{endpoints}, ""},
		{"token", "http://127.0.0.1:4000/?token=a.b-c_d", 200, `{"webSocketURL":"ws://127.0.0.1:4000/slsrtc"}`, "ws://127.0.0.1:4000/slsrtc", []string{endpoints}, "ws://127.0.0.1:4000/slsrtc?token=a.b-c_d"},
		{"token and a deployed stage", "http://127.0.0.1:4000/?token=t1&ws=wss%3A%2F%2Fabc.execute-api.eu-west-1.amazonaws.com%2Fprod", 200, "", "wss://abc.execute-api.eu-west-1.amazonaws.com/prod", nil, "wss://abc.execute-api.eu-west-1.amazonaws.com/prod?token=t1"},
		{"token with characters to escape", "http://127.0.0.1:4000/?token=a%2Bb%26c", 200, `{"webSocketURL":"ws://127.0.0.1:4000/slsrtc"}`, "ws://127.0.0.1:4000/slsrtc", []string{endpoints}, "ws://127.0.0.1:4000/slsrtc?token=a%2Bb%26c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			cmd := exec.Command(node, "testdata/page-url.js", "static/app.js", tt.page, strconv.Itoa(tt.status), tt.body)
			cmd.Stderr = &stderr // Node warns there that it reparsed app.js as an ES module
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v\n%s%s", err, out, stderr.String())
			}
			var got struct {
				WS      string
				Fetched []string
				Socket  string
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("node printed %s: %v", out, err)
			}
			if got.WS != tt.wantWS || !slices.Equal(got.Fetched, tt.wantFetched) {
				t.Errorf("WebSocket URL %q after fetching %v, want %q after %v", got.WS, got.Fetched, tt.wantWS, tt.wantFetched)
			}
			wantSocket := cmp.Or(tt.wantSocket, tt.wantWS)
			if got.Socket != wantSocket {
				t.Errorf("the page opens its WebSocket on %q, want %q", got.Socket, wantSocket)
			}
		})
	}
}

// TestPushScripts runs sw.js and notify.js in Node with stubs of the
// browser's APIs (testdata/push.mjs): the worker shows a room-entered push
// as a notification tagged "room-"+roomID that opens its url (or the
// room on its own scope), ignores other pushes, and opens the url on a
// click; enableNotifications asks permission, registers sw.js at "./",
// replaces a subscription made with another key, and sends subscribe with
// the subscription's JSON; disableNotifications sends unsubscribe with its
// endpoint; both actions are the backend's.
func TestPushScripts(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	out, err := exec.Command(node, "testdata/push.mjs", "static/sw.js", "static/notify.js").CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		SW struct {
			Shown []struct {
				Title   string
				Options struct {
					Tag  string
					Data struct{ URL string }
				}
			}
			Opened []string
			Closed int
		}
		Notify struct {
			Calls         []json.RawMessage
			Sent          []map[string]any
			NoKey, Denied string
			Key           int
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %s: %v", out, err)
	}
	sw := got.SW
	if len(sw.Shown) != 2 || sw.Shown[0].Title != "carol is waiting in your room" || sw.Shown[0].Options.Tag != "room-r-1" ||
		sw.Shown[0].Options.Data.URL != "https://app.example.com/?room=r-1" ||
		sw.Shown[1].Options.Tag != "room-r-2" || sw.Shown[1].Options.Data.URL != "https://app.example.com/demo/?room=r-2" {
		t.Errorf("the worker showed %+v", sw.Shown)
	}
	if !slices.Equal(sw.Opened, []string{"https://app.example.com/?room=r-1"}) || sw.Closed != 1 {
		t.Errorf("a click opened %q and closed %d notifications", sw.Opened, sw.Closed)
	}
	n := got.Notify
	calls := make([]string, len(n.Calls))
	for i, c := range n.Calls {
		calls[i] = string(c)
	}
	if want := []string{`"permission"`, `{"register":"sw.js","scope":"./"}`, `"unsubscribe old"`, `{"subscribe":{"userVisibleOnly":true,"key":[4,1,2]}}`}; !slices.Equal(calls, want) {
		t.Errorf("enableNotifications called %q, want %q", calls, want)
	}
	if len(n.Sent) != 2 || n.Sent[0]["action"] != handlers.ActionSubscribe || n.Sent[0]["roomID"] != "room-1" ||
		n.Sent[0]["subscription"].(map[string]any)["endpoint"] != "https://fcm.googleapis.com/fcm/send/new" ||
		n.Sent[1]["action"] != handlers.ActionUnsubscribe || n.Sent[1]["endpoint"] != "https://fcm.googleapis.com/fcm/send/new" {
		t.Errorf("sent %v", n.Sent)
	}
	if n.NoKey != "no-key" || n.Denied != "denied" || n.Key != 65 {
		t.Errorf("without a key: %q, denied: %q, a VAPID key decodes to %d bytes; want no-key, denied, 65", n.NoKey, n.Denied, n.Key)
	}
}

// TestMadeAfter runs slsrtc.js's madeAfter in Node: an offer the impolite
// side ignored is applied after the answer to its own only if the other
// side made it after that answer (the o= line's session version, compared
// as the 64-bit number it is).
func TestMadeAfter(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (make tools-npm needs it too)")
	}
	sdp := func(id, version string) string {
		return "v=0\r\no=- " + id + " " + version + " IN IP4 127.0.0.1\r\ns=-\r\n"
	}
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"a later version", sdp("4611686018427387904", "3"), sdp("4611686018427387904", "2"), true},
		{"an earlier version", sdp("4611686018427387904", "2"), sdp("4611686018427387904", "3"), false},
		{"the same version", sdp("4611686018427387904", "2"), sdp("4611686018427387904", "2"), false},
		{"past 2^53", sdp("1", "9007199254740993"), sdp("1", "9007199254740992"), true},
		{"another session", sdp("1", "3"), sdp("2", "2"), false},
		{"no origin", "v=0\r\ns=-\r\n", sdp("1", "2"), false},
	}
	var pairs [][2]string
	for _, tt := range tests {
		pairs = append(pairs, [2]string{tt.a, tt.b})
	}
	arg, err := json.Marshal(pairs)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, "testdata/made-after.mjs", string(arg)).Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got []bool
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(tests) {
		t.Fatalf("node printed %s (%v), want %d booleans", out, err, len(tests))
	}
	for i, tt := range tests {
		if got[i] != tt.want {
			t.Errorf("%s: madeAfter = %v, want %v", tt.name, got[i], tt.want)
		}
	}
}
