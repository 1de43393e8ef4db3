// Package selfinvoke lets the function invoke itself asynchronously through
// the Lambda API (it sends "connected" that way, since API Gateway refuses
// posts to a connection until its $connect has returned). Locally the same
// SDK client points at the emulator's Invoke endpoint.
package selfinvoke

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

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

// New returns an Invoker of the function named functionName (a name or an
// ARN).
func New(client InvokeAPI, functionName string) *Invoker {
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
