package chaos

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Latency is the distribution of one kind of call's latency, log-normal and
// given by its median and 99th percentile: the two figures benchmarks of AWS
// services publish. The zero Latency is no delay.
//
// A log-normal fits service latencies well enough for this purpose: positive,
// most calls near the median, a long right tail. With μ = ln(P50) and
// σ = ln(P99/P50) / z₀.₉₉ (z₀.₉₉ ≈ 2.326, the standard normal's 99th
// percentile), a draw exp(μ + σZ) has exactly the given median and 99th
// percentile.
type Latency struct {
	P50, P99 time.Duration
}

// z99 is the 99th percentile of the standard normal distribution.
const z99 = 2.3263478740408408

// IsZero reports whether l is no delay.
func (l Latency) IsZero() bool { return l == Latency{} }

// Params returns the log-normal's parameters: μ and σ of the underlying
// normal distribution, in log-nanoseconds. A P99 equal to P50 is σ = 0: every
// draw is P50.
func (l Latency) Params() (mu, sigma float64) {
	mu = math.Log(float64(l.P50))
	sigma = math.Log(float64(l.P99)/float64(l.P50)) / z99
	return mu, sigma
}

// Quantile returns the latency below which a fraction q of draws fall (0 < q
// < 1).
func (l Latency) Quantile(q float64) time.Duration {
	if l.IsZero() {
		return 0
	}
	return l.at(normalQuantile(q))
}

// Mean returns the distribution's mean, exp(μ + σ²/2): above the median, by
// how much depends on the tail.
func (l Latency) Mean() time.Duration {
	if l.IsZero() {
		return 0
	}
	mu, sigma := l.Params()
	return time.Duration(math.Round(math.Exp(mu + sigma*sigma/2)))
}

// at returns the latency at standard normal draw z: exp(μ + σz), to the
// nearest nanosecond.
func (l Latency) at(z float64) time.Duration {
	switch {
	case l.IsZero():
		return 0
	case l.P99 == l.P50:
		return l.P50
	}
	mu, sigma := l.Params()
	return time.Duration(math.Round(math.Exp(mu + sigma*z)))
}

// validate returns an error unless l is zero or 0 < P50 <= P99.
func (l Latency) validate(name string) error {
	if l.IsZero() {
		return nil
	}
	if l.P50 <= 0 || l.P99 < l.P50 {
		return fmt.Errorf("%s %v: want 0 < p50 <= p99", name, l)
	}
	return nil
}

// String formats l as "p50 7.6ms, p99 16ms".
func (l Latency) String() string {
	if l.IsZero() {
		return "0s"
	}
	return fmt.Sprintf("p50 %v, p99 %v", l.P50, l.P99)
}

// normalQuantile returns the standard normal distribution's quantile at p
// (0 < p < 1), by Acklam's rational approximation refined by one Halley
// step: exact to about 1e-15.
func normalQuantile(p float64) float64 {
	if p <= 0 || p >= 1 {
		return math.NaN()
	}
	a := [...]float64{-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00}
	b := [...]float64{-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01}
	c := [...]float64{-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00}
	d := [...]float64{7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00}
	const low = 0.02425
	var x float64
	switch {
	case p < low:
		q := math.Sqrt(-2 * math.Log(p))
		x = (((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	case p <= 1-low:
		q := p - 0.5
		r := q * q
		x = (((((a[0]*r+a[1])*r+a[2])*r+a[3])*r+a[4])*r + a[5]) * q / (((((b[0]*r+b[1])*r+b[2])*r+b[3])*r+b[4])*r + 1)
	default:
		q := math.Sqrt(-2 * math.Log(1-p))
		x = -(((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	}
	e := 0.5*math.Erfc(-x/math.Sqrt2) - p
	u := e * math.Sqrt(2*math.Pi) * math.Exp(x*x/2)
	return x - u/(1+x*u/2)
}

// Latencies are the latencies of each kind of call the stack makes, as AWS
// shows them from a function in the same region (see AWS). Each one that is
// set is added to the Range of its kind of call, if any.
type Latencies struct {
	// Invoke delays each invocation of the function: API Gateway selecting
	// the route and invoking a warm function (or Lambda starting an
	// asynchronous invocation), before the handler runs.
	Invoke Latency
	// DynamoDBRead delays GetItem, BatchGetItem, Query and Scan.
	DynamoDBRead Latency
	// DynamoDBWrite delays PutItem, UpdateItem, DeleteItem and BatchWriteItem.
	DynamoDBWrite Latency
	// DynamoDBTransaction delays TransactWriteItems and TransactGetItems.
	DynamoDBTransaction Latency
	// Connections delays each @connections call (POST, GET, DELETE).
	Connections Latency
}

// DynamoDB returns the latency of a DynamoDB operation's kind (the zero
// Latency for control-plane and unknown operations).
func (ls Latencies) DynamoDB(op string) Latency {
	switch op {
	case "GetItem", "BatchGetItem", "Query", "Scan":
		return ls.DynamoDBRead
	case "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem":
		return ls.DynamoDBWrite
	case "TransactWriteItems", "TransactGetItems":
		return ls.DynamoDBTransaction
	}
	return Latency{}
}

// anyDynamoDB reports whether any DynamoDB latency is set.
func (ls Latencies) anyDynamoDB() bool {
	return !ls.DynamoDBRead.IsZero() || !ls.DynamoDBWrite.IsZero() || !ls.DynamoDBTransaction.IsZero()
}

// namedLatency is one of Latencies with its field's name and its name in a
// banner.
type namedLatency struct {
	field, banner string
	l             Latency
}

// named returns each of ls's latencies, in the order of the banner.
func (ls Latencies) named() []namedLatency {
	return []namedLatency{
		{"Invoke", "invoke", ls.Invoke}, {"DynamoDBRead", "DynamoDB read", ls.DynamoDBRead},
		{"DynamoDBWrite", "write", ls.DynamoDBWrite}, {"DynamoDBTransaction", "transaction", ls.DynamoDBTransaction},
		{"Connections", "@connections", ls.Connections},
	}
}

func (ls Latencies) validate() []error {
	var errs []error
	for _, n := range ls.named() {
		if err := n.l.validate("Latencies." + n.field); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// String describes the latencies that are set, for a banner.
func (ls Latencies) String() string {
	var parts []string
	for _, n := range ls.named() {
		if !n.l.IsZero() {
			parts = append(parts, fmt.Sprintf("%s %v/%v", n.banner, n.l.P50, n.l.P99))
		}
	}
	return strings.Join(parts, ", ")
}

// Published and assumed latencies of the AWS profile, as a function in the
// region sees them (docs/capacity.md, "Simulated AWS", says where each comes
// from).
var (
	// PutItemLatency is the PutItem of Alex DeBrie's tests, 400 calls from a
	// Lambda function in the table's region: p50 7.55 ms, p99 16.2 ms
	// (github.com/alexdebrie/dynamodb-performance-testing,
	// put-batch-transaction-performance/README.md; "DynamoDB Transactions
	// Performance Testing", alexdebrie.com). No read figure was found
	// published; reads get the same, which overstates them a little.
	PutItemLatency = Latency{P50: 7550 * time.Microsecond, P99: 16200 * time.Microsecond}
	// TransactWriteItemsLatency is the same tests' five-item
	// TransactWriteItems: p50 25.3 ms, p99 92.5 ms. The store's transactions
	// have two to four items.
	TransactWriteItemsLatency = Latency{P50: 25300 * time.Microsecond, P99: 92500 * time.Microsecond}
	// PostToConnectionLatency is an ESTIMATE (AWS publishes no figure): a
	// same-region HTTPS call to the @connections endpoint, which writes the
	// frame to the client's WebSocket before it answers; twice a DynamoDB
	// write's median, for the extra hop to the client's connection.
	PostToConnectionLatency = Latency{P50: 20 * time.Millisecond, P99: 60 * time.Millisecond}
	// InvokeLatency is an ESTIMATE (AWS publishes no figure): API Gateway's
	// route selection and invocation of a warm function, or an asynchronous
	// Invoke reaching one.
	InvokeLatency = Latency{P50: 10 * time.Millisecond, P99: 30 * time.Millisecond}
)

// AWS returns the profile of -chaos-profile aws: no faults, and the
// latencies a function in the region meets on AWS (PutItemLatency and the
// others), so that the local stack answers as slowly as the deployed one.
// It is not a fault profile: every call succeeds.
func AWS(seed int64) Profile {
	return Profile{
		Seed: seed,
		Latencies: Latencies{
			Invoke:              InvokeLatency,
			DynamoDBRead:        PutItemLatency,
			DynamoDBWrite:       PutItemLatency,
			DynamoDBTransaction: TransactWriteItemsLatency,
			Connections:         PostToConnectionLatency,
		},
	}
}

// Profiles are the named profiles, for -chaos-profile.
var Profiles = map[string]func(seed int64) Profile{
	"worst": Default,
	"aws":   AWS,
}

// Named returns the named profile (see Profiles) with seed.
func Named(name string, seed int64) (Profile, error) {
	f, ok := Profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("no chaos profile %q (worst, aws)", name)
	}
	return f(seed), nil
}

// Latency returns a duration drawn from l.
func (r *Rand) Latency(l Latency) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return l.at(r.r.NormFloat64())
}
