package dynamotest

import (
	"net/http/httptest"
	"testing"

	"github.com/slsrtc/slsrtc/emulator/chaos"
)

// Failure is what a faulty DynamoDB answers instead of the real response
// (chaos.Failure).
type Failure = chaos.Failure

// Fault makes the proxy answer some calls with a Failure (chaos.Fault).
type Fault = chaos.Fault

// Failures the proxy can inject; see their doc in package chaos.
var (
	InternalServerError = chaos.InternalServerError
	Throttled           = chaos.Throttled
	ConflictCanceled    = chaos.ConflictCanceled
	ThrottlingCanceled  = chaos.ThrottlingCanceled
	TransactionConflict = chaos.TransactionConflict
	LostResponse        = chaos.LostResponse
)

// FaultProxy is a chaos.DynamoDBProxy served for a test: an HTTP proxy in
// front of a DynamoDB endpoint that records the operation of every call and
// answers the calls an injected Fault selects with its Failure (Inject,
// Clear, Calls, Injected), with DynamoDB's ClientRequestToken idempotency.
type FaultProxy struct {
	*chaos.DynamoDBProxy
	// URL is the proxy's endpoint; point the SDK client's BaseEndpoint at it.
	URL string
}

// NewFaultProxy starts a proxy to the DynamoDB endpoint target that stops
// when the test ends.
func NewFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	p, err := chaos.NewDynamoDBProxy(target)
	if err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	hs := httptest.NewServer(p)
	t.Cleanup(hs.Close)
	return &FaultProxy{DynamoDBProxy: p, URL: hs.URL}
}

// NewWithFaults starts an emulator (as New does) behind a FaultProxy. The
// returned DB's Client and URL go through the proxy.
func NewWithFaults(t testing.TB) (*DB, *FaultProxy) {
	t.Helper()
	db := New(t)
	p := NewFaultProxy(t, db.URL)
	db.URL = p.URL
	db.Client = NewClient(p.URL)
	return db, p
}
