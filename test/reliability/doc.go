// Package reliability holds the suites that hold the signaling backend to
// docs/reliability.md: races through the real SDK over HTTP, DynamoDB and
// @connections faults injected at every call, stale connections, and hostile
// input. It has no code of its own; its tests drive the real router
// (package handlers) on the real store (package dynamo) against the embedded
// DynamoDB, and the local stack (package localstack) where the gateway's side
// matters. After every scenario the table invariants are checked
// (dynamotest.CheckInvariants).
package reliability
