package telemetry

import (
	"context"
	"time"

	"github.com/aws/smithy-go/middleware"
)

// Middleware returns an AWS SDK API option that reports every call made
// through the client to the Record in the call's context as a call to
// service, with its latency including retries. Add it with
// o.APIOptions = append(o.APIOptions, telemetry.Middleware("dynamodb")).
func Middleware(service string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("slsrtcTelemetry",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				r := FromContext(ctx)
				d := time.Since(start)
				r.ObserveCall(service, d)
				if service == ServiceDynamoDB {
					r.Observe(MetricDynamoDBLatency, ms(d))
				}
				return out, md, err
			}), middleware.Before)
	}
}

// Service names used with Middleware and Record.Calls.
const (
	ServiceDynamoDB    = "dynamodb"
	ServiceConnections = "connections" // API Gateway @connections
	ServiceLambda      = "lambda"
)
