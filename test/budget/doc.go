// Package budget holds the signaling Lambda to its round-trip budget: how
// many AWS calls each kind of invocation may make (docs/performance.md).
//
// Its tests run the real router on the real AWS SDK clients (built by
// package wiring) against the embedded DynamoDB over HTTP and recording
// @connections and Lambda Invoke endpoints, count every SDK call of every
// invocation with a middleware, and compare the counts with the budget
// exactly, so an extra round trip fails a test.
package budget
