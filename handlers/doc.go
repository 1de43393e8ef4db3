// Package handlers is the signaling Lambda: a router that switches on the API
// Gateway routeKey into one handler per route, and the handlers that speak
// the sls-rtc protocol (docs/protocol.md).
//
// A handler decodes and validates the client's message, calls the store
// (package dynamo) and sends frames through the Sender. Errors become one
// typed frame {"type":"error","code":...} for the client through one table
// (errorCodes); internal failures are logged in full and the client gets a
// safe message. Every invocation writes one structured JSON log line and one
// CloudWatch Embedded Metric Format line.
//
// The store, the sender and the asynchronous invoker are small interfaces
// defined here, so the router runs the same against AWS, against the local
// stack (package emulator) and against fakes in tests.
package handlers
