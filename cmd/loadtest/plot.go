package main

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// writePlot draws relay latency (p50, the median of the rounds' p99s, and
// the step's p99) against the number of
// connections, one colour per system, as a PNG.
func writePlot(path string, r *report) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Relay latency vs load: rooms of %d, %.2g relays/s per connection, %d B payload",
		r.Config.RoomSize, r.Config.RelaysPerSecond, r.Config.PayloadBytes)
	p.X.Label.Text = "concurrent WebSocket connections"
	p.Y.Label.Text = "relay latency, send to receipt (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = latencyTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)

	colours := map[string]color.Color{
		"slsrtc": color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		"peerjs": color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	}
	const median = "p99 median of rounds"
	dashes := map[string][]vg.Length{"p50": nil, median: {vg.Points(6), vg.Points(3)}, "p99": {vg.Points(2), vg.Points(2)}}
	for _, s := range r.Systems {
		for _, q := range []string{"p50", median, "p99"} {
			var xys plotter.XYs
			for _, st := range s.Steps {
				v := map[string]float64{"p50": st.RelayP50Ms, median: st.RelayP99MsMedianOfRounds, "p99": st.RelayP99Ms}[q]
				if v > 0 { // a log axis cannot show 0
					xys = append(xys, plotter.XY{X: float64(st.Connections), Y: v})
				}
			}
			if len(xys) == 0 {
				continue
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			line.Color, points.Color = colours[s.Name], colours[s.Name]
			line.Dashes = dashes[q]
			line.Width = vg.Points(1.5)
			points.Shape = draw.CircleGlyph{}
			p.Add(line, points)
			p.Legend.Add(s.Name+" "+q, line, points)
		}
	}
	// Room above the data for the legend (a log axis: a factor of 30).
	lo, hi := math.Inf(1), 0.0
	for _, s := range r.Systems {
		for _, st := range s.Steps {
			for _, v := range []float64{st.RelayP50Ms, st.RelayP99Ms, st.RelayP99MsMedianOfRounds} {
				if v > 0 {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
		}
	}
	if hi > 0 {
		p.Y.Min, p.Y.Max = lo/1.5, hi*30
	}
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}

// latencyTicks labels a log axis of milliseconds at 1, 2 and 5 times the
// powers of ten.
type latencyTicks struct{}

func (latencyTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for decade := math.Pow(10, math.Floor(math.Log10(lo))); decade <= hi; decade *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := m * decade
			if v < lo || v > hi {
				continue
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
		}
	}
	return ticks
}
