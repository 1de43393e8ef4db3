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
		{"/", "text/html; charset=utf-8", `<script src="app.js" defer></script>`, 200},
		{"/app.js", "text/javascript; charset=utf-8", `"use strict";`, 200},
		{"/slsrtc.js", "text/javascript; charset=utf-8", "export class SlsrtcError", 200}, // the browser client, an ES module at the root
		{"/style.css", "text/css; charset=utf-8", "#participants", 200},
		{"/favicon.ico", "image/x-icon", "\x00\x00\x01\x00", 200}, // an ICO: a browser asks for it on every load
		{"/index.html", "", "", http.StatusMovedPermanently},      // FileServer's canonical "/"
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
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body does not contain %q:\n%.300s", tt.wantBody, body)
			}
		})
	}
}

// TestPageSpeaksTheProtocol: every action the page sends is one the backend
// routes, and it uses each of them.
func TestPageSpeaksTheProtocol(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/app.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	js, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile(`action: "([^"]*)"`).FindAllStringSubmatch(string(js), -1) {
		if !slices.Contains(got, m[1]) {
			got = append(got, m[1])
		}
	}
	slices.Sort(got)
	want := []string{handlers.ActionCreateRoom, handlers.ActionEnterRoom, handlers.ActionLeaveRoom, handlers.ActionMessage, handlers.ActionPing}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the page sends the actions %v, want %v", got, want)
	}
}

// TestPageWebSocketURL runs app.js in Node with a stub DOM
// (testdata/page-url.js): the page takes ?ws= as given, else the WebSocket
// URL of the local stack that served it (GET endpoints.json, so any stage),
// else the default stage on its own host; it opens the WebSocket with the
// page's ?token=, if any, added as ?token=.
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
			out, err := exec.Command(node, "testdata/page-url.js", "static/app.js", tt.page, strconv.Itoa(tt.status), tt.body).CombinedOutput()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
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
