package deploy

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
	"github.com/slsrtc/slsrtc/selfinvoke"
)

// This file is the code's side of the checks: what the router routes, what
// the configuration reads, which DynamoDB calls the store makes, which
// @connections calls the handlers make and how the function invokes itself.

// routeKeys returns the route keys the router serves.
func routeKeys() []string { return handlers.RouteKeys() }

// loadConfig reads the function's configuration through getenv, as main.go
// does with os.Getenv.
func loadConfig(getenv func(string) string) error {
	_, err := handlers.LoadConfig(getenv)
	return err
}

// iamActionsOf maps the DynamoDB API calls that IAM does not authorize under
// their own name to the actions it checks instead: a transaction is
// authorized item by item.
var iamActionsOf = map[string][]string{
	"TransactWriteItems": {"PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"},
	"TransactGetItems":   {"GetItem"},
}

// dynamoActions returns the IAM actions (without the "dynamodb:" prefix) the
// store needs, each with the dynamo.Client method that needs it: the method
// set of dynamo.Client is every DynamoDB call the store can make.
func dynamoActions() map[string]string {
	return actionsOf(reflect.TypeFor[dynamo.Client]())
}

func actionsOf(client reflect.Type) map[string]string {
	need := map[string]string{}
	for i := range client.NumMethod() {
		m := client.Method(i).Name
		actions, ok := iamActionsOf[m]
		if !ok {
			actions = []string{m}
		}
		for _, a := range actions {
			need[a] = m
		}
	}
	return need
}

// connectionsVerbOf maps each method of handlers.Sender to the HTTP verb of
// the @connections call connections.Client makes for it: IAM authorizes a
// call as execute-api:ManageConnections on
// arn:...:{api}/{stage}/{VERB}/@connections/{connectionId}.
var connectionsVerbOf = map[string]string{
	"Post":  "POST",   // PostToConnection
	"Check": "GET",    // GetConnection
	"Close": "DELETE", // DeleteConnection
}

// connectionsVerbs returns the @connections verbs the function needs, each
// with the handlers.Sender method that needs it: the method set of
// handlers.Sender is every @connections call the handlers can make.
func connectionsVerbs() (map[string]string, error) {
	return verbsOf(reflect.TypeFor[handlers.Sender]())
}

// verbsOf returns the verbs the methods of sender need. A method
// connectionsVerbOf does not know is an error: its verb cannot be guessed.
func verbsOf(sender reflect.Type) (map[string]string, error) {
	need := map[string]string{}
	var unknown []string
	for i := range sender.NumMethod() {
		m := sender.Method(i).Name
		verb, ok := connectionsVerbOf[m]
		if !ok {
			unknown = append(unknown, m)
			continue
		}
		need[verb] = m
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return need, fmt.Errorf("handlers.Sender has methods %v whose @connections verb deploy/code_test.go does not know: add them to connectionsVerbOf", unknown)
	}
	return need, nil
}

// selfInvocationType returns the InvocationType of the function's
// self-invoke (selfinvoke.Invoker, which sends "connected"): "Event" is
// asynchronous, the only kind the function's EventInvokeConfig and its
// OnFailure destination apply to.
func selfInvocationType() (string, error) {
	var api recordingInvoker
	if err := selfinvoke.New(&api, "fn").InvokeAsync(context.Background(), []byte(`{}`)); err != nil {
		return "", err
	}
	return api.invocationType, nil
}

// recordingInvoker is a selfinvoke.InvokeAPI that records the invocation type.
type recordingInvoker struct{ invocationType string }

func (r *recordingInvoker) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	r.invocationType = string(in.InvocationType)
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}
