package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"text/tabwriter"
	"time"
)

// config is what a run was asked to do.
type config struct {
	Connections     int           `json:"connections"`
	Steps           int           `json:"steps"`
	RoomSize        int           `json:"roomSize"`
	RelaysPerSecond float64       `json:"relaysPerSecondPerConnection"`
	Hold            time.Duration `json:"-"`
	HoldSeconds     float64       `json:"holdSecondsPerStep"`
	Rounds          int           `json:"roundsPerStep"` // the systems take turns, Hold/Rounds each
	PayloadBytes    int           `json:"payloadBytes"`
	DialConcurrency int           `json:"dialConcurrency"`
	JoinTimeout     time.Duration `json:"-"`
	Heartbeat       time.Duration `json:"-"`
	HeartbeatSecs   float64       `json:"peerjsHeartbeatSeconds"`
}

// stepResult is one load level of one system.
type stepResult struct {
	Step        int     `json:"step"`
	Connections int     `json:"connections"`        // open and joined at this level
	LoadAverage float64 `json:"loadAverage"`        // the machine's, as the step began
	CPUPressure float64 `json:"cpuPressurePercent"` // tasks waiting for a CPU, last 10 s of the step

	Joined             int     `json:"joined"` // new joins of this step
	JoinFailures       int     `json:"joinFailures"`
	JoinSeconds        float64 `json:"joinSeconds"`
	JoinsPerSecond     float64 `json:"joinsPerSecond"`
	JoinP50Ms          float64 `json:"joinP50Ms"`
	JoinP99Ms          float64 `json:"joinP99Ms"`
	ServerCPUPerJoinMs float64 `json:"serverCpuPerJoinMs"`

	Senders                int     `json:"senders"`
	OfferedRelaysPerSecond float64 `json:"offeredRelaysPerSecond"`
	RelaysSent             int64   `json:"relaysSent"`
	RelaysReceived         int64   `json:"relaysReceived"`
	RelaysLost             int64   `json:"relaysLost"`    // sent, never received
	RelaysDropped          int64   `json:"relaysDropped"` // never sent: the load test fell behind
	RelayP50Ms             float64 `json:"relayP50Ms"`
	RelayP95Ms             float64 `json:"relayP95Ms"`
	RelayP99Ms             float64 `json:"relayP99Ms"`
	RelayMaxMs             float64 `json:"relayMaxMs"`
	RelayMeanMs            float64 `json:"relayMeanMs"`
	// The p99 of each round and their median: a round hit by a stall of
	// the whole machine does not decide the step.
	RelayP99MsByRound        []float64 `json:"relayP99MsByRound"`
	RelayP99MsMedianOfRounds float64   `json:"relayP99MsMedianOfRounds"`
	ServerCPUPerRelayMs      float64   `json:"serverCpuPerRelayMs"`

	ServerRSSMB     float64          `json:"serverRssMB"`
	ServerPeakRSSMB float64          `json:"serverPeakRssMB"`
	Errors          map[string]int64 `json:"errors"`
}

// systemResult is the run against one system.
type systemResult struct {
	Name         string           `json:"name"`
	URL          string           `json:"url"`
	MemorySource string           `json:"memorySource"`
	Steps        []stepResult     `json:"steps"`
	CloseSeconds float64          `json:"closeSeconds"`
	Errors       map[string]int64 `json:"errors"`
}

// comparison sets the relay latencies of the two systems side by side.
type comparison struct {
	Connections int     `json:"connections"`
	SlsrtcP99Ms float64 `json:"slsrtcP99Ms"`
	PeerJSP99Ms float64 `json:"peerjsP99Ms"`
	P99Ratio    float64 `json:"p99Ratio"` // slsrtc / PeerJS; target ≤ 2
	SlsrtcP50Ms float64 `json:"slsrtcP50Ms"`
	PeerJSP50Ms float64 `json:"peerjsP50Ms"`
	P50Ratio    float64 `json:"p50Ratio"`
	// The same with each system's median of its rounds' p99s.
	SlsrtcMedianRoundP99Ms float64 `json:"slsrtcMedianRoundP99Ms"`
	PeerJSMedianRoundP99Ms float64 `json:"peerjsMedianRoundP99Ms"`
	MedianRoundP99Ratio    float64 `json:"medianRoundP99Ratio"`
}

// report is the JSON the run writes.
type report struct {
	Started    time.Time      `json:"started"`
	Seconds    float64        `json:"seconds"`
	Command    []string       `json:"command"`
	Machine    machine        `json:"machine"`
	Config     config         `json:"config"`
	Systems    []systemResult `json:"systems"`
	Comparison []comparison   `json:"comparison,omitempty"`
}

type machine struct {
	CPUs      int    `json:"cpus"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"goVersion"`
	FileLimit uint64 `json:"openFilesLimit"`
	// GOGC is this process's (scripts/loadtest.sh passes it on to the
	// stack too); "" is the default, 100.
	GOGC string `json:"gogc"`
}

// compare pairs the steps of slsrtc and PeerJS.
func compare(systems []systemResult) []comparison {
	var ours, theirs *systemResult
	for i := range systems {
		switch systems[i].Name {
		case "slsrtc":
			ours = &systems[i]
		case "peerjs":
			theirs = &systems[i]
		}
	}
	if ours == nil || theirs == nil {
		return nil
	}
	var out []comparison
	for i := range min(len(ours.Steps), len(theirs.Steps)) {
		a, b := ours.Steps[i], theirs.Steps[i]
		out = append(out, comparison{
			Connections: a.Connections,
			SlsrtcP99Ms: a.RelayP99Ms, PeerJSP99Ms: b.RelayP99Ms, P99Ratio: ratio(a.RelayP99Ms, b.RelayP99Ms),
			SlsrtcP50Ms: a.RelayP50Ms, PeerJSP50Ms: b.RelayP50Ms, P50Ratio: ratio(a.RelayP50Ms, b.RelayP50Ms),
			SlsrtcMedianRoundP99Ms: a.RelayP99MsMedianOfRounds, PeerJSMedianRoundP99Ms: b.RelayP99MsMedianOfRounds,
			MedianRoundP99Ratio: ratio(a.RelayP99MsMedianOfRounds, b.RelayP99MsMedianOfRounds),
		})
	}
	return out
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(a/b*100) / 100
}

// percentile returns the p-th percentile of ms (nearest rank); ms is
// sorted in place.
func percentile(ms []float64, p float64) float64 {
	if len(ms) == 0 {
		return 0
	}
	slices.Sort(ms)
	rank := int(math.Ceil(p/100*float64(len(ms)))) - 1
	return ms[min(max(rank, 0), len(ms)-1)]
}

func mean(ms []float64) float64 {
	var s float64
	for _, v := range ms {
		s += v
	}
	return s / float64(len(ms))
}

func writeJSON(path string, r any) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// printSummary writes the results as tables.
func printSummary(w io.Writer, r *report) {
	for _, s := range r.Systems {
		fmt.Fprintf(w, "\n%s (%s)\n", s.Name, s.URL)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "conns\tjoins/s\tjoin p99 ms\trelays/s\tsent\tlost\tp50 ms\tp95 ms\tp99 ms\tmax ms\tcpu/join ms\tcpu/relay ms\tpeak RSS MB\terrors\tload\tcpu psi %\t")
		for _, st := range s.Steps {
			var errs int64
			for _, v := range st.Errors {
				errs += v
			}
			fmt.Fprintf(tw, "%d\t%.0f\t%.1f\t%.0f\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.1f\t%.2f\t%.3f\t%.0f\t%d\t%.1f\t%.0f\t\n",
				st.Connections, st.JoinsPerSecond, st.JoinP99Ms, st.OfferedRelaysPerSecond, st.RelaysSent, st.RelaysLost,
				st.RelayP50Ms, st.RelayP95Ms, st.RelayP99Ms, st.RelayMaxMs, st.ServerCPUPerJoinMs, st.ServerCPUPerRelayMs,
				st.ServerPeakRSSMB, errs, st.LoadAverage, st.CPUPressure)
		}
		tw.Flush()
		for k, v := range s.Errors {
			fmt.Fprintf(w, "  error %q ×%d\n", k, v)
		}
	}
	if len(r.Comparison) > 0 {
		fmt.Fprintln(w, "\nrelay latency, slsrtc / PeerJS (target: p99 ratio ≤ 1.5)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "conns\tslsrtc p50\tpeerjs p50\tratio\tslsrtc p99\tpeerjs p99\tratio\tslsrtc p99 (median of rounds)\tpeerjs\tratio\t")
		for _, c := range r.Comparison {
			fmt.Fprintf(tw, "%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
				c.Connections, c.SlsrtcP50Ms, c.PeerJSP50Ms, c.P50Ratio, c.SlsrtcP99Ms, c.PeerJSP99Ms, c.P99Ratio,
				c.SlsrtcMedianRoundP99Ms, c.PeerJSMedianRoundP99Ms, c.MedianRoundP99Ratio)
		}
		tw.Flush()
	}
}
