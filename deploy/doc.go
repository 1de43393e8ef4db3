// Package deploy has no code of its own: its tests hold template.yaml to the
// code it deploys. They fail when the template's routes differ from the
// router's (handlers.RouteKeys), when the function's environment lacks a
// variable handlers.LoadConfig reads or sets one it never reads, when the
// role allows a DynamoDB action the store (dynamo.Client) never calls or
// lacks one it calls, and when the table's keys, index or TTL attribute
// differ from dynamo.TableDefinition.
//
// The other offline checks of the template (cfn-lint, sam validate, sam
// build) run from the Makefile: make template-check.
package deploy
