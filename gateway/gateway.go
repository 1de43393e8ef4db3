// Package gateway sends data to WebSocket clients through the API Gateway
// @connections management API, and invokes the function itself
// asynchronously through the Lambda API. Both wrap the AWS SDK clients the
// Lambda builds once at start-up; locally the same clients point at the
// emulator.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// ErrGone means the connection is closed or never existed: API Gateway
// answered 410 GoneException. It is also returned while the connection's
// $connect has not returned yet.
var ErrGone = errors.New("connection is gone")

// ErrPayloadTooLarge means the data exceeds the 128 KB API Gateway accepts.
var ErrPayloadTooLarge = errors.New("payload too large for a WebSocket message")

// ManagementAPI is the part of the @connections client Connections uses.
type ManagementAPI interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
	GetConnection(ctx context.Context, in *apigatewaymanagementapi.GetConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.GetConnectionOutput, error)
	DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error)
}

var _ ManagementAPI = (*apigatewaymanagementapi.Client)(nil)

// Connections posts to, checks and closes WebSocket connections. Throttling
// (429) and server errors (5xx) are retried by the SDK client's retryer with
// jittered backoff and a bounded number of attempts; each call, retries
// included, is bounded by Timeout.
type Connections struct {
	client ManagementAPI
	// Timeout bounds one call with its retries, so that one stuck post
	// cannot spend a fan-out's whole deadline (default DefaultCallTimeout).
	Timeout time.Duration
}

// DefaultCallTimeout bounds one @connections call, retries included. A post
// takes a few milliseconds in AWS; the SDK's retryer spends at most about a
// second backing off a throttled one.
const DefaultCallTimeout = 2 * time.Second

// NewConnections returns Connections using client, whose BaseEndpoint is the
// stage URL (https://{api-id}.execute-api.{region}.amazonaws.com/{stage}).
func NewConnections(client ManagementAPI) *Connections {
	return &Connections{client: client, Timeout: DefaultCallTimeout}
}

// Post sends data to the connection as one text frame. Returns ErrGone or
// ErrPayloadTooLarge, or the SDK's error for anything else (a timeout
// included).
func (c *Connections) Post(ctx context.Context, connectionID string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	_, err := c.client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(connectionID), Data: data,
	})
	return mapError("post to connection", err)
}

// Check asks whether the connection is still open (GetConnection): nil if
// it is, ErrGone if API Gateway answers 410, the SDK's error otherwise.
func (c *Connections) Check(ctx context.Context, connectionID string) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	_, err := c.client.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{
		ConnectionId: aws.String(connectionID),
	})
	return mapError("get connection", err)
}

// Close disconnects the connection (API Gateway then runs $disconnect).
// Returns ErrGone if it is already closed.
func (c *Connections) Close(ctx context.Context, connectionID string) error {
	_, err := c.client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{
		ConnectionId: aws.String(connectionID),
	})
	return mapError("delete connection", err)
}

func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	var gone *apitypes.GoneException
	if errors.As(err, &gone) {
		return ErrGone
	}
	var tooLarge *apitypes.PayloadTooLargeException
	if errors.As(err, &tooLarge) {
		return ErrPayloadTooLarge
	}
	return fmt.Errorf("%s: %w", op, err)
}

// InvokeAPI is the part of the Lambda client Invoker uses.
type InvokeAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ InvokeAPI = (*lambda.Client)(nil)

// Invoker invokes one function asynchronously (InvocationType Event).
type Invoker struct {
	client       InvokeAPI
	functionName string
}

// NewInvoker returns an Invoker of the function named functionName (a name
// or an ARN).
func NewInvoker(client InvokeAPI, functionName string) *Invoker {
	return &Invoker{client: client, functionName: functionName}
}

// InvokeAsync queues an invocation of the function with payload and returns
// once Lambda accepted it (202).
func (i *Invoker) InvokeAsync(ctx context.Context, payload []byte) error {
	_, err := i.client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(i.functionName),
		InvocationType: lambdatypes.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return fmt.Errorf("invoke %s asynchronously: %w", i.functionName, err)
	}
	return nil
}
