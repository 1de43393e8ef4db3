// Package connections talks to WebSocket clients through API Gateway's
// @connections management API: it posts frames to them and asks whether
// they are still connected. It wraps the SDK client the Lambda builds once at
// start-up; locally the same client points at the emulator.
package connections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	apitypes "github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
)

// ErrGone means the connection is closed or never existed: API Gateway
// answered 410 GoneException. It is also returned while the connection's
// $connect has not returned yet.
var ErrGone = errors.New("connection is gone")

// ErrPayloadTooLarge means the data exceeds the 128 KB API Gateway accepts.
var ErrPayloadTooLarge = errors.New("payload too large for a WebSocket message")

// ManagementAPI is the part of the @connections SDK client Client uses.
type ManagementAPI interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
	GetConnection(ctx context.Context, in *apigatewaymanagementapi.GetConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.GetConnectionOutput, error)
	DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error)
}

var _ ManagementAPI = (*apigatewaymanagementapi.Client)(nil)

// Client posts to and checks WebSocket connections. Throttling (429) and
// server errors (5xx) are retried by the SDK client's retryer with jittered
// backoff and a bounded number of attempts; each call, retries included, is
// bounded by Timeout.
type Client struct {
	client ManagementAPI
	// Timeout bounds one call with its retries, so that one stuck post
	// cannot spend a fan-out's whole deadline (default DefaultCallTimeout).
	Timeout time.Duration
}

// DefaultCallTimeout bounds one @connections call, retries included. A post
// takes a few milliseconds in AWS; the SDK's retryer spends at most about a
// second backing off a throttled one.
const DefaultCallTimeout = 2 * time.Second

// New returns a Client using client, whose BaseEndpoint is the stage URL
// (https://{api-id}.execute-api.{region}.amazonaws.com/{stage}).
func New(client ManagementAPI) *Client {
	return &Client{client: client, Timeout: DefaultCallTimeout}
}

// Post sends data to the connection as one text frame. Returns ErrGone or
// ErrPayloadTooLarge, or the SDK's error for anything else (a timeout
// included).
func (c *Client) Post(ctx context.Context, connectionID string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	_, err := c.client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(connectionID), Data: data,
	})
	return mapError("post to connection", err)
}

// Check asks whether the connection is still open (GetConnection): nil if
// it is, ErrGone if API Gateway answers 410, the SDK's error otherwise.
func (c *Client) Check(ctx context.Context, connectionID string) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	_, err := c.client.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{
		ConnectionId: aws.String(connectionID),
	})
	return mapError("get connection", err)
}

// Close closes the connection (DeleteConnection); API Gateway then runs its
// $disconnect. Returns ErrGone if it is already closed.
func (c *Client) Close(ctx context.Context, connectionID string) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
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
