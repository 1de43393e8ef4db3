package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
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
		{"/style.css", "text/css; charset=utf-8", "#participants", 200},
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
