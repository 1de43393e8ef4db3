package chaos_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slsrtc/slsrtc/emulator/chaos"
)

// A Latency is the log-normal whose median and 99th percentile are the
// figures it was given: its parameters, quantiles and mean by formula.
func TestLatencyDistribution(t *testing.T) {
	tests := []struct {
		name      string
		l         chaos.Latency
		wantSigma float64 // ln(p99/p50) / 2.3263
		wantMean  time.Duration
	}{
		{"PutItem (DeBrie)", chaos.PutItemLatency, 0.32818, 7967725 * time.Nanosecond},
		{"TransactWriteItems (DeBrie)", chaos.TransactWriteItemsLatency, 0.55727, 29549872 * time.Nanosecond},
		{"PostToConnection (assumed)", chaos.PostToConnectionLatency, 0.47225, 22359274 * time.Nanosecond},
		{"no spread", chaos.Latency{P50: 5 * time.Millisecond, P99: 5 * time.Millisecond}, 0, 5 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu, sigma := tt.l.Params()
			if got, want := math.Exp(mu), float64(tt.l.P50); math.Abs(got-want) > 1 {
				t.Errorf("exp(mu) = %v ns, want the median %v ns", got, want)
			}
			if math.Abs(sigma-tt.wantSigma) > 5e-5 {
				t.Errorf("sigma = %.5f, want %.5f", sigma, tt.wantSigma)
			}
			for _, q := range []struct {
				q    float64
				want time.Duration
			}{{0.5, tt.l.P50}, {0.99, tt.l.P99}} {
				if got := tt.l.Quantile(q.q); absDuration(got-q.want) > time.Microsecond {
					t.Errorf("Quantile(%v) = %v, want %v", q.q, got, q.want)
				}
			}
			if got := tt.l.Mean(); absDuration(got-tt.wantMean) > time.Microsecond {
				t.Errorf("Mean = %v, want %v", got, tt.wantMean)
			}
		})
	}
	if (chaos.Latency{}).Quantile(0.99) != 0 || (chaos.Latency{}).Mean() != 0 {
		t.Error("the zero Latency is not zero")
	}
}

// Draws from a seeded Rand have the distribution's median and 99th
// percentile (within 2 % over 200,000 draws), and the same seed draws the
// same sequence.
func TestRandLatency(t *testing.T) {
	l := chaos.TransactWriteItemsLatency
	draw := func(seed int64, n int) []time.Duration {
		r := chaos.NewRand(seed, "test")
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = r.Latency(l)
		}
		return out
	}
	d := draw(1, 200_000)
	if !slices.Equal(d[:100], draw(1, 100)) {
		t.Error("the same seed drew another sequence")
	}
	slices.Sort(d)
	for _, q := range []struct {
		q    float64
		want time.Duration
	}{{0.5, l.P50}, {0.99, l.P99}} {
		got := d[int(q.q*float64(len(d)))]
		if rel := math.Abs(float64(got-q.want)) / float64(q.want); rel > 0.02 {
			t.Errorf("empirical quantile %v = %v, want %v ± 2%%", q.q, got, q.want)
		}
	}
}

func TestNormalQuantileThroughLatency(t *testing.T) {
	// With P50 = e⁰ ns and σ = 1 (P99 = e^z99 ns), Quantile(q) = exp(z_q):
	// the standard normal's quantile, checked against known values.
	l := chaos.Latency{P50: 1, P99: time.Duration(math.Round(math.Exp(2.3263478740408408)))}
	for _, tt := range []struct{ q, z float64 }{
		{0.975, 1.959963984540054}, {0.9, 1.2815515655446004}, {0.999, 3.090232306167813},
	} {
		// P50 of 1 ns rounds σ slightly: compare the exponents loosely.
		if got := math.Log(float64(l.Quantile(tt.q))); math.Abs(got-tt.z) > 0.2 {
			t.Errorf("ln Quantile(%v) = %v, want about %v", tt.q, got, tt.z)
		}
	}
	big := chaos.Latency{P50: time.Second, P99: time.Duration(float64(time.Second) * math.Exp(2.3263478740408408))}
	for _, tt := range []struct{ q, z float64 }{
		{0.975, 1.959963984540054}, {0.9, 1.2815515655446004}, {0.999, 3.090232306167813}, {0.01, -2.3263478740408408},
	} {
		got := math.Log(float64(big.Quantile(tt.q)) / float64(time.Second))
		if math.Abs(got-tt.z) > 1e-6 {
			t.Errorf("z(%v) = %.9f, want %.9f", tt.q, got, tt.z)
		}
	}
}

// The AWS profile makes no fault, only latencies, and is valid; Named knows
// it and the worst one.
func TestAWSProfile(t *testing.T) {
	p := chaos.AWS(5)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.DisconnectLoss != 0 || p.ConnectionsThrottle != 0 || p.DynamoDBConflict != 0 || p.DynamoDBThrottle != 0 {
		t.Errorf("the AWS profile makes faults: %+v", p)
	}
	if !p.Gateway() || !p.DynamoDB() {
		t.Errorf("Gateway() %v, DynamoDB() %v: want both, to apply the latencies", p.Gateway(), p.DynamoDB())
	}
	want := "seed 5: latencies (p50/p99) invoke 10ms/30ms, DynamoDB read 7.55ms/16.2ms, write 7.55ms/16.2ms, transaction 25.3ms/92.5ms, @connections 20ms/60ms"
	if got := p.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for name, want := range map[string]chaos.Profile{"aws": chaos.AWS(2), "worst": chaos.Default(2)} {
		if got, err := chaos.Named(name, 2); err != nil || got != want {
			t.Errorf("Named(%q) = %+v, %v", name, got, err)
		}
	}
	if _, err := chaos.Named("best", 1); err == nil || !strings.Contains(err.Error(), "worst, aws") {
		t.Errorf("Named(best) error %v, want one naming the profiles", err)
	}
	bad := chaos.AWS(1)
	bad.Latencies.Connections = chaos.Latency{P50: 20 * time.Millisecond, P99: time.Millisecond}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "Latencies.Connections") {
		t.Errorf("Validate with p99 < p50 = %v", err)
	}
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
