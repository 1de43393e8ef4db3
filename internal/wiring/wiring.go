// Package wiring builds the signaling router on real AWS SDK clients: the
// same code for the Lambda (main.go, endpoints from AWS) and for the local
// stack (cmd/local, endpoints on loopback).
package wiring

import (
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/slsrtc/slsrtc/connections"
	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/internal/inprocess"
	"github.com/slsrtc/slsrtc/selfinvoke"
	"github.com/slsrtc/slsrtc/telemetry"
)

// Endpoints override where the clients send requests; empty fields keep the
// AWS defaults (the Lambda leaves all empty but uses cfg.ConnectionsURL).
type Endpoints struct {
	DynamoDB string
	Lambda   string
	// InProcess, when set, serves the requests to its hosts by calling their
	// handlers in this process instead of over loopback TCP (the local
	// stack, whose emulators run beside the function); the Lambda leaves it
	// nil.
	InProcess *inprocess.Hosts
}

// Clients are the AWS SDK clients the router uses, built once.
type Clients struct {
	DynamoDB      *dynamodb.Client
	ManagementAPI *apigatewaymanagementapi.Client // @connections
	Lambda        *lambda.Client
}

// NewClients builds the clients from awsCfg. Every client reports its calls
// to the invocation's telemetry record. Every client keeps a wide pool of
// idle connections (invocationsPool); the @connections one at least as wide
// as the fan-out. The @connections client has a retryer that retries
// throttling (429) and 5xx at most 3 times with jittered backoff capped at
// 500 ms, so a fan-out never stalls a 29-second invocation.
func NewClients(awsCfg aws.Config, cfg handlers.Config, ep Endpoints) Clients {
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if ep.DynamoDB != "" {
			o.BaseEndpoint = aws.String(ep.DynamoDB)
		}
		o.HTTPClient = ep.httpClient(invocationsPool)
		o.APIOptions = append(o.APIOptions, telemetry.Middleware(telemetry.ServiceDynamoDB))
	})
	conns := apigatewaymanagementapi.NewFromConfig(awsCfg, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String(cfg.ConnectionsURL)
		o.HTTPClient = ep.httpClient(max(cfg.FanOutConcurrency, invocationsPool))
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.MaxBackoff = 500 * time.Millisecond
		})
		o.APIOptions = append(o.APIOptions, telemetry.Middleware(telemetry.ServiceConnections))
	})
	lam := lambda.NewFromConfig(awsCfg, func(o *lambda.Options) {
		if ep.Lambda != "" {
			o.BaseEndpoint = aws.String(ep.Lambda)
		}
		o.HTTPClient = ep.httpClient(invocationsPool)
		o.APIOptions = append(o.APIOptions, telemetry.Middleware(telemetry.ServiceLambda))
	})
	return Clients{DynamoDB: ddb, ManagementAPI: conns, Lambda: lam}
}

// invocationsPool is how many idle connections each client keeps per host
// at least. In Lambda an execution environment runs one invocation at a
// time, which makes one DynamoDB or Lambda call at a time, so the SDK's
// default (10) would do; but the local stack runs every invocation in flight
// in one process, and with a pool narrower than that a burst opens and
// closes a connection per request (thousands of loopback sockets left in
// TIME_WAIT in the load test, docs/performance.md). An idle connection is
// only kept if it was needed, so the width costs Lambda nothing.
const invocationsPool = 64

// pooledClient returns an HTTP client for an SDK client that keeps up to
// width idle connections per host.
func pooledClient(width int) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 2 * width
		t.MaxIdleConnsPerHost = width
	})
}

// httpClient returns the HTTP client of an SDK client: pooled to width,
// behind ep.InProcess when it is set.
func (ep Endpoints) httpClient(width int) aws.HTTPClient {
	if ep.InProcess == nil {
		return pooledClient(width)
	}
	return inprocess.Client{Hosts: ep.InProcess, Next: pooledClient(width)}
}

// Router returns the signaling router on the clients. deps may carry a
// Logger, Metrics writer or clock (the store's too); its Store, Sender and
// Invoker are set here.
func Router(cfg handlers.Config, c Clients, deps handlers.Deps) *handlers.Router {
	store := dynamo.New(c.DynamoDB, cfg.TableName)
	store.Limits = cfg.Limits.Store()
	store.ResumeGrace = cfg.ResumeGrace
	if deps.Now != nil {
		store.Now = deps.Now
	}
	deps.Store = store
	deps.Sender = connections.New(c.ManagementAPI)
	deps.Invoker = selfinvoke.New(c.Lambda, cfg.FunctionName)
	return handlers.New(cfg, deps)
}
