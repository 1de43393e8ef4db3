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

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/gateway"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/telemetry"
)

// Endpoints override where the clients send requests; empty fields keep the
// AWS defaults (the Lambda leaves all empty but uses cfg.ConnectionsURL).
type Endpoints struct {
	DynamoDB string
	Lambda   string
}

// Clients are the AWS SDK clients the router uses, built once.
type Clients struct {
	DynamoDB    *dynamodb.Client
	Connections *apigatewaymanagementapi.Client
	Lambda      *lambda.Client
}

// NewClients builds the clients from awsCfg. Every client reports its calls
// to the invocation's telemetry record. The @connections client gets an
// HTTP connection pool as wide as the fan-out, and a retryer that retries
// throttling (429) and 5xx at most 3 times with jittered backoff capped at
// 500 ms, so a fan-out never stalls a 29-second invocation.
func NewClients(awsCfg aws.Config, cfg handlers.Config, ep Endpoints) Clients {
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if ep.DynamoDB != "" {
			o.BaseEndpoint = aws.String(ep.DynamoDB)
		}
		o.APIOptions = append(o.APIOptions, telemetry.Middleware(telemetry.ServiceDynamoDB))
	})
	pool := max(cfg.FanOutConcurrency, 16)
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 2 * pool
		t.MaxIdleConnsPerHost = pool
	})
	conns := apigatewaymanagementapi.NewFromConfig(awsCfg, func(o *apigatewaymanagementapi.Options) {
		o.BaseEndpoint = aws.String(cfg.ConnectionsURL)
		o.HTTPClient = httpClient
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
		o.APIOptions = append(o.APIOptions, telemetry.Middleware(telemetry.ServiceLambda))
	})
	return Clients{DynamoDB: ddb, Connections: conns, Lambda: lam}
}

// Router returns the signaling router on the clients. deps may carry a
// Logger, Metrics writer or clock; its Store, Sender and Invoker are set
// here.
func Router(cfg handlers.Config, c Clients, deps handlers.Deps) *handlers.Router {
	deps.Store = dynamo.New(c.DynamoDB, cfg.TableName)
	deps.Sender = gateway.NewConnections(c.Connections)
	deps.Invoker = gateway.NewInvoker(c.Lambda, cfg.FunctionName)
	return handlers.New(cfg, deps)
}
