package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/test/dynamotest"
	"github.com/slsrtc/slsrtc/test/testkit"
)

// TestRunServesDemoPage: the banner's demo page URL serves the page and its
// favicon, and the stack tells the page its WebSocket URL (endpoints.json),
// which is the stage's whatever the stage; that URL connects.
func TestRunServesDemoPage(t *testing.T) {
	tests := []struct {
		name, stage, wantStage string
	}{
		{name: "template stage", wantStage: "slsrtc"},
		{name: "other stage", stage: "dev", wantStage: "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := dynamotest.New(t)
			ctx, cancel := context.WithCancel(context.Background())
			stderr := newOutput()
			exit := make(chan int, 1)
			args := []string{"-addr", "127.0.0.1:0", "-template", "../../template.yaml", "-dynamodb-endpoint", db.URL, "-table", db.Table}
			if tt.stage != "" {
				args = append(args, "-stage", tt.stage)
			}
			go func() { exit <- run(ctx, args, io.Discard, stderr) }()
			defer func() {
				cancel()
				<-exit
			}()

			line := stderr.waitLine(t, "  Demo page     ")
			page, err := url.Parse(strings.TrimPrefix(line, "  Demo page     "))
			if err != nil || page.Scheme != "http" || page.Path != "/" || page.RawQuery != "" {
				t.Fatalf("demo page line %q does not give http://ADDR/", line)
			}
			for _, asset := range []struct{ path, wantType, wantBody string }{
				{"/", "text/html; charset=utf-8", "<title>slsrtc demo</title>"},
				{"/favicon.ico", "image/x-icon", "\x00\x00\x01\x00"},
				{"/endpoints.json", "application/json", `"webSocketURL":"ws://` + page.Host + "/" + tt.wantStage + `"`},
			} {
				status, typ, body := get(t, page.JoinPath(asset.path).String())
				if status != 200 || typ != asset.wantType || !strings.Contains(body, asset.wantBody) {
					t.Errorf("GET %s: %d %s %.200q, want 200 %s with %q", asset.path, status, typ, body, asset.wantType, asset.wantBody)
				}
			}
			_, _, body := get(t, page.JoinPath("/endpoints.json").String())
			var ep struct{ WebSocketURL string }
			if err := json.Unmarshal([]byte(body), &ep); err != nil {
				t.Fatal(err)
			}
			testkit.Connect(t, ep.WebSocketURL) // the page's WebSocket URL reaches the stack
		})
	}
}

// get fetches url and returns its status, Content-Type and body.
func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}
