package deploy

import (
	"reflect"

	"github.com/slsrtc/slsrtc/dynamo"
	"github.com/slsrtc/slsrtc/handlers"
)

// This file is the code's side of the checks: what the router routes, what
// the configuration reads and which DynamoDB calls the store makes.

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
