// Package budget holds the signaling Lambda to its round-trip budget: how
// many AWS calls each kind of invocation may make (docs/performance.md).
//
// Its tests run the real router on the real AWS SDK clients (built by
// package wiring) against the embedded DynamoDB over HTTP and recording
// @connections and Lambda Invoke endpoints, count every SDK call of every
// invocation with a middleware, and compare the counts with the budget
// exactly, so an extra round trip fails a test.
//
// TestCapacityDoc runs a meeting through the same harness and turns its calls,
// and the sizes of the items the store writes, into the capacity and cost
// model of docs/capacity.md, whose generated block it keeps in step (-update
// rewrites it).
package budget
