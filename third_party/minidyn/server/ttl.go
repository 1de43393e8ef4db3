package server

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// UpdateTimeToLiveInput is the request of UpdateTimeToLive.
type UpdateTimeToLiveInput struct {
	TableName               *string                           `json:"TableName,omitempty"`
	TimeToLiveSpecification *ddbtypes.TimeToLiveSpecification `json:"TimeToLiveSpecification,omitempty"`
}

// UpdateTimeToLiveOutput is the response of UpdateTimeToLive.
type UpdateTimeToLiveOutput struct {
	TimeToLiveSpecification *ddbtypes.TimeToLiveSpecification `json:"TimeToLiveSpecification,omitempty"`
}

// DescribeTimeToLiveInput is the request of DescribeTimeToLive.
type DescribeTimeToLiveInput struct {
	TableName *string `json:"TableName,omitempty"`
}

// DescribeTimeToLiveOutput is the response of DescribeTimeToLive.
type DescribeTimeToLiveOutput struct {
	TimeToLiveDescription *ddbtypes.TimeToLiveDescription `json:"TimeToLiveDescription,omitempty"`
}

// UpdateTimeToLive enables or disables TTL on a table. Enabled TTL takes
// effect at once (DynamoDB takes up to an hour and refuses another change
// meanwhile); items expire when ExpireItems runs.
func (c *Client) UpdateTimeToLive(ctx context.Context, input *UpdateTimeToLiveInput) (*UpdateTimeToLiveOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	spec := input.TimeToLiveSpecification
	if spec == nil || spec.Enabled == nil || spec.AttributeName == nil {
		return nil, &smithy.GenericAPIError{
			Code:    "ValidationException",
			Message: "TimeToLiveSpecification with AttributeName and Enabled is required",
		}
	}

	table, err := c.getTable(aws.ToString(input.TableName))
	if err != nil {
		return nil, err
	}

	if err := table.SetTimeToLive(aws.ToString(spec.AttributeName), aws.ToBool(spec.Enabled)); err != nil {
		return nil, mapKnownError(err)
	}

	return &UpdateTimeToLiveOutput{TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{
		AttributeName: aws.String(aws.ToString(spec.AttributeName)),
		Enabled:       aws.Bool(aws.ToBool(spec.Enabled)),
	}}, nil
}

// DescribeTimeToLive returns a table's TTL status: ENABLED with its
// attribute, or DISABLED.
func (c *Client) DescribeTimeToLive(ctx context.Context, input *DescribeTimeToLiveInput) (*DescribeTimeToLiveOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	table, err := c.getTable(aws.ToString(input.TableName))
	if err != nil {
		return nil, err
	}

	desc := &ddbtypes.TimeToLiveDescription{TimeToLiveStatus: ddbtypes.TimeToLiveStatusDisabled}
	if attr, enabled := table.TimeToLive(); enabled {
		desc.TimeToLiveStatus = ddbtypes.TimeToLiveStatusEnabled
		desc.AttributeName = aws.String(attr)
	}

	return &DescribeTimeToLiveOutput{TimeToLiveDescription: desc}, nil
}

// expireBatch bounds the deletions ExpireItems makes while holding the
// client's lock, so that requests are not held up by a large expiry.
const expireBatch = 100

// ExpireItems deletes the items of every table with TTL enabled whose TTL
// has passed at now, as DynamoDB's background TTL process does (see
// core.Table.ExpireItems for which items expire). Each deletion is an
// ordinary delete made under the client's lock, so it is never seen in the
// middle of a transaction, and a transaction sees the item either present or
// gone. It takes the lock for at most expireBatch deletions at a time and
// returns how many items it deleted. DynamoDB deletes expired items within
// days, and until then reads return them: call ExpireItems periodically to
// get the same effect; minidyn never calls it by itself.
func (c *Client) ExpireItems(now time.Time) int {
	total := 0

	for {
		n := c.expireBatch(now)
		total += n

		if n < expireBatch {
			return total
		}
	}
}

func (c *Client) expireBatch(now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()

	deleted := 0

	for _, table := range c.tables {
		deleted += len(table.ExpireItems(now, expireBatch-deleted))
		if deleted == expireBatch {
			break
		}
	}

	return deleted
}

// ExpireItems deletes the items whose TTL has passed at now; see
// Client.ExpireItems.
func (s *Server) ExpireItems(now time.Time) int {
	return s.client.ExpireItems(now)
}
