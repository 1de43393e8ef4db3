package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/slsrtc/slsrtc/internal/dynamotest"
)

// TestRunServesDemoPage: the banner's demo page URL serves the page, and
// points the page at the stage's WebSocket URL when the stage is not the
// template's (the page's default).
func TestRunServesDemoPage(t *testing.T) {
	tests := []struct {
		name, stage, wantWS string // wantWS: the ws parameter, "" for none
	}{
		{name: "template stage"},
		{name: "other stage", stage: "dev", wantWS: "/dev"},
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
			if err != nil || page.Scheme != "http" || page.Path != "/" {
				t.Fatalf("demo page line %q does not give http://ADDR/", line)
			}
			if ws := page.Query().Get("ws"); tt.wantWS == "" && ws != "" ||
				tt.wantWS != "" && ws != "ws://"+page.Host+tt.wantWS {
				t.Errorf("demo page URL %s: ws=%q, want the stage's WebSocket URL ending %q", page, ws, tt.wantWS)
			}
			resp, err := http.Get(page.String())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || !strings.Contains(string(body), "<title>slsrtc demo</title>") {
				t.Errorf("GET %s: %d %.200s", page, resp.StatusCode, body)
			}
		})
	}
}
