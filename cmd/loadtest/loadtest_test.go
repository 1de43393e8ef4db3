package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

func TestPercentile(t *testing.T) {
	ms := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	tests := []struct {
		p    float64
		want float64
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {0, 1}, {10, 1}, {11, 2}}
	for _, tt := range tests {
		if got := percentile(append([]float64(nil), ms...), tt.p); got != tt.want {
			t.Errorf("p%v = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %v", got)
	}
}

// fakePeerJS is a PeerJS server reduced to what the load test uses: OPEN
// on connect, relays to dst with src added, heartbeats ignored.
type fakePeerJS struct {
	mu    sync.Mutex
	peers map[string]*websocket.Conn
}

func (f *fakePeerJS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.URL.Path != "/peerjs" || q.Get("key") != "peerjs" || q.Get("id") == "" || q.Get("token") == "" {
		http.Error(w, "bad PeerJS URL", http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	id := q.Get("id")
	f.mu.Lock()
	f.peers[id] = ws
	f.mu.Unlock()
	ctx := context.Background()
	_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"OPEN"}`))
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(data, &m) != nil || m["type"] == "HEARTBEAT" {
			continue
		}
		m["src"] = id
		f.mu.Lock()
		dst := f.peers[m["dst"].(string)]
		f.mu.Unlock()
		if dst != nil {
			b, _ := json.Marshal(m)
			_ = dst.Write(ctx, websocket.MessageText, b)
		}
	}
}

// TestRun runs a small load test end to end: the local stack in process
// and a PeerJS stand-in, two steps, JSON and PNG written.
func TestRun(t *testing.T) {
	peer := httptest.NewServer(&fakePeerJS{peers: map[string]*websocket.Conn{}})
	t.Cleanup(peer.Close)
	dir := t.TempDir()
	jsonPath, pngPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.png")
	var stdout, stderr bytes.Buffer
	code := run([]string{
		"-template", "../../template.yaml", "-connections", "16", "-steps", "2", "-hold", "2s", "-rate", "4",
		"-peerjs", "ws" + peer.URL[len("http"):] + "/peerjs", "-peerjs-pid", strconv.Itoa(os.Getpid()),
		"-json", jsonPath, "-png", pngPath, "-quiet",
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Systems) != 2 || len(r.Comparison) != 2 {
		t.Fatalf("systems %d, comparison %d; want 2 and 2\n%s", len(r.Systems), len(r.Comparison), b)
	}
	for _, s := range r.Systems {
		if len(s.Errors) > 0 {
			t.Errorf("%s errors: %v", s.Name, s.Errors)
		}
		for i, st := range s.Steps {
			if want := 8 * (i + 1); st.Connections != want || st.Joined != 8 {
				t.Errorf("%s step %d: %d connections, %d joined; want %d and 8", s.Name, i+1, st.Connections, st.Joined, want)
			}
			if st.RelaysSent == 0 || st.RelaysReceived != st.RelaysSent || st.RelaysLost != 0 || st.RelayP99Ms <= 0 {
				t.Errorf("%s step %d: sent %d received %d lost %d p99 %v", s.Name, i+1, st.RelaysSent, st.RelaysReceived, st.RelaysLost, st.RelayP99Ms)
			}
			if len(st.RelayP99MsByRound) != 5 || st.RelayP99MsMedianOfRounds <= 0 {
				t.Errorf("%s step %d: round p99s %v, median %v; want 5 rounds", s.Name, i+1, st.RelayP99MsByRound, st.RelayP99MsMedianOfRounds)
			}
			if st.ServerPeakRSSMB <= 0 {
				t.Errorf("%s step %d: no memory measured", s.Name, i+1)
			}
		}
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("plot: %v", err)
	}
	if img.Bounds().Dx() < 400 {
		t.Errorf("plot is %v", img.Bounds())
	}
}

func TestFlags(t *testing.T) {
	tests := [][]string{
		{"-room", "1"},
		{"-connections", "4", "-steps", "2"},
		{"-rate", "0"},
		{"-payload", "8"},
		{"-slsrtc", "ws://127.0.0.1:1/x"}, // without -slsrtc-pid
		{"-mode", "bogus"},
		{"-mode", "waves", "-wave", "3"},
		{"-mode", "waves", "-room", "1"},
		{"-mode", "churn", "-duration", "0s"},
		{"-mode", "churn", "-slsrtc", "ws://127.0.0.1:1/x"},
	}
	for _, args := range tests {
		var out, errOut bytes.Buffer
		if code := run(append(args, "-quiet"), &out, &errOut); code == 0 {
			t.Errorf("%v: exit 0", args)
		} else if errOut.Len() == 0 {
			t.Errorf("%v: exit %d without a message", args, code)
		}
	}
}

// TestScaleModes runs the waves and churn modes briefly against the local
// stack in process: every join succeeds, the table and memory are read, and
// the JSON says so.
func TestScaleModes(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, r *scaleReport)
	}{
		{"waves", []string{"-mode", "waves", "-connections", "16", "-wave", "8"}, func(t *testing.T, r *scaleReport) {
			if len(r.Waves) != 2 {
				t.Fatalf("%d waves, want 2", len(r.Waves))
			}
			for i, w := range r.Waves {
				if w.Connected != 8 || w.Joined != 8 || w.Connections != 8*(i+1) || w.JoinsPerSecond <= 0 || w.ConnectsPerSecond <= 0 {
					t.Errorf("wave %d: %+v", i+1, w)
				}
				if w.After.TableItems <= w.Before.TableItems || w.After.ServerRSSMB <= 0 || w.RSSPerConnectionKB <= 0 {
					t.Errorf("wave %d: table %d -> %d items, RSS %v MB", i+1, w.Before.TableItems, w.After.TableItems, w.After.ServerRSSMB)
				}
			}
		}},
		{"churn", []string{"-mode", "churn", "-connections", "8", "-duration", "1500ms", "-window", "500ms"}, func(t *testing.T, r *scaleReport) {
			if len(r.Windows) < 2 {
				t.Fatalf("%d windows, want at least 2", len(r.Windows))
			}
			leaves := 0
			for _, w := range r.Windows {
				leaves += w.Leaves
				if w.ExpiredItems < 0 || w.TableItems < 0 {
					t.Errorf("window %d: expired %d, items %d: not read", w.Window, w.ExpiredItems, w.TableItems)
				}
			}
			if r.Summary.Joins == 0 || leaves == 0 {
				t.Errorf("%d joins, %d leaves: no churn", r.Summary.Joins, leaves)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.json")
			var stdout, stderr bytes.Buffer
			args := append([]string{"-template", "../../template.yaml", "-json", path, "-quiet"}, tt.args...)
			if code := run(args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var r scaleReport
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			if r.Summary.JoinFailures != 0 || r.Summary.ConnectFailures != 0 || len(r.Errors) != 0 {
				t.Errorf("failures: %+v, errors %v", r.Summary, r.Errors)
			}
			if r.Config.Mode != tt.name || r.Machine.CPUs == 0 {
				t.Errorf("config %+v, machine %+v", r.Config, r.Machine)
			}
			tt.check(t, &r)
		})
	}
}
