// Package deploy has no code of its own: its tests hold template.yaml to the
// code it deploys. They fail when the template's routes differ from the
// router's (handlers.RouteKeys), when the function's environment lacks a
// variable handlers.LoadConfig reads or sets one it never reads, when the
// role allows a DynamoDB action the store (dynamo.Client) never calls or
// lacks one it calls, or an @connections verb other than those the
// handlers' sender (handlers.Sender) calls, when the table's keys, index or
// TTL attribute differ from dynamo.TableDefinition, when the function's
// reserved concurrency is not a parameter that defaults to a reservation,
// when the table or a log group does not take an optional customer managed
// key from a parameter, when what Lambda drops of the asynchronous self-invoke (selfinvoke.Invoker)
// has no encrypted OnFailure queue, or the role may send to another, when
// a saved Logs Insights query reads a field no log line has (the
// function's lines come from running the router), when an alarm watches a
// metric or dimension set nobody publishes, and when docs/observability.md
// shows a query string other than the template's.
//
// The other offline checks of the template (cfn-lint, sam validate, sam
// build, checkov) run from the Makefile: make template-check. checkov_test.go
// requires a reason for each checkov check the template skips.
package deploy
