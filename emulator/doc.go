// Package emulator emulates, in-process, the AWS pieces of the slsrtc stack that have no
// local equivalent, so that the very Lambda handler deployed to AWS runs unchanged on a
// laptop or in CI:
//
//   - an API Gateway WebSocket API stage (Gateway): the handshake gated by $connect,
//     route selection on $request.body.<field>, route responses, $disconnect, the
//     error frames, size limits and timeouts of API Gateway;
//   - its @connections management API (PostToConnection, GetConnection,
//     DeleteConnection), answering the real aws-sdk-go-v2 client;
//   - Lambda's Invoke API for the one function, so code that invokes itself
//     asynchronously works unchanged;
//   - ReadTemplate, which takes the routes and stage from template.yaml, so what runs
//     locally is what deploys;
//   - StartDynamoDB, an in-memory DynamoDB (minidyn) for the table.
//
// The Handler is invoked with the JSON of an events.APIGatewayWebsocketProxyRequest,
// with a context carrying a lambdacontext.LambdaContext and the function's timeout as
// its deadline, concurrently (one invocation per frame, as Lambda scales out; each in
// an execution environment, a goroutine reused once it is free, as Lambda reuses
// warm environments). Its
// result is decoded as an events.APIGatewayProxyResponse: $connect must return a 2xx
// statusCode to accept the connection (a missing statusCode is a malformed response:
// 502); on other routes the body is sent back only if the route has a route response.
//
// # Behaviours and their tests
//
// The behaviours of API Gateway the package reproduces, numbered as in the project's
// reference (aws-websocket.md), and the tests that hold it to them:
//
//	 1  only ws://ADDR/STAGE upgrades                          TestHandshakePaths
//	 2  CONNECT event fields, headers, query only if present   TestConnectEvent (golden)
//	 3  $connect non-2xx → that status; error/panic → 502      TestConnectRejected
//	 4  subprotocol echoed only if $connect returns it         TestSubprotocol
//	 5  AWS-shaped IDs, CLF requestTime, epoch ms, bare IP     TestEventIdentifiers
//	 6  route selection on $request.body.action, $default      TestRouteSelection
//	 7  byte-exact Forbidden frame, socket stays open          TestForbiddenFrame (golden)
//	 8  byte-exact Internal server error frame, stays open     TestInternalServerErrorFrame (golden)
//	 9  bodies dropped unless the route has a route response   TestRouteResponses
//	10  MESSAGE event: messageId, body, no headers             TestMessageEvent (golden)
//	11  DISCONNECT with code/reason on every close, once       TestDisconnect, TestDisconnectEventShape (golden)
//	12  POST @connections → 200, one frame; %40 and %3D        TestPostToConnection
//	13  GET @connections → connectedAt, identity, lastActiveAt TestGetConnection
//	14  DELETE @connections → 204, closed, $disconnect         TestDeleteConnection
//	15  unknown/closed → 410, *types.GoneException in the SDK  TestGoneException
//	    a client that does not read: 429 LimitExceeded, not   TestSlowReader
//	    410; posts answered 200 arrive in order
//	16  post before $connect returned → 410                    TestPostBeforeConnect
//	17  post over 128 KB → 413 PayloadTooLargeException        TestPostPayloadTooLarge
//	18  client message over 128 KB → 1009, binary → 1003       TestMessageLimits
//	    client frame over 32 KB → 1009 (128 KB in 32 KB       TestMessageLimits, TestFrameGuard,
//	    frames passes); outgoing messages in ≤ 32 KB frames   TestFrameTooBigWhileWriting, TestOutgoingFrames
//	19  idle and max-duration timeouts close with 1001         TestTimeouts, TestDisconnect
//	20  async Invoke (Event) → 202, same handler runs          TestInvokeEvent, TestInvokeEndpoint, TestLocalStackSelfInvoke
//
// Also tested: concurrent invocations (TestConcurrentInvocations), the function's
// timeout (Config.FunctionTimeout, the template's Timeout: the handler's deadline; a
// function that outlives it fails with "Internal server error") and the 29 s
// integration timeout ("Endpoint request timed out") (TestInvokeTimeout,
// TestReadFunctionTimeout), Shutdown (TestShutdown), the access log
// (TestAccessLog), @connections outside the stage (TestConnectionsOutsideStage),
// ReadTemplate (TestReadTemplate, TestReadTemplateErrors) and StartDynamoDB
// (TestStartDynamoDB). Golden files live in testdata; go test -update rewrites them.
//
// Not AWS but a guard of the developer's machine: @connections and Lambda Invoke
// refuse with 403 a request from a web page of another origin (an Origin header that
// is not the stack's own, or Sec-Fetch-Site cross-site or same-site), which could
// otherwise forge events into a running stack; the SDKs and CLI send no Origin
// (TestCrossOriginRefused). The WebSocket itself takes any origin, as API Gateway does.
//
// # Chaos
//
// Config.Chaos (a chaos.Profile) makes the gateway behave like AWS at its worst:
// $disconnect dropped or late (TestChaosDisconnect, TestChaosDisconnectSeeded),
// @connections calls slow or answered 429 LimitExceededException, which the SDK
// retries (TestChaosConnections). Every choice comes from the profile's seed;
// ChaosStats reports them, the dropped $disconnects by connection ID, and WaitQuiet
// waits for the late ones (TestWaitQuiet). The DynamoDB part of a profile is applied
// by chaos.DynamoDBProxy in front of the table.
//
// # Not reproduced
//
// No SigV4 verification, authorizers, rate throttling (429 LimitExceededException
// comes only from a full client buffer or from Chaos) or connection-rate quotas.
// Lambda's retries of failed Event invocations are not emulated (failures are
// logged). Without Chaos, $disconnect always runs, where AWS only promises best effort.
// Where AWS's wording is unknown the emulator chose one: the close reasons "Going
// away" (idle, max duration, shutdown), "Binary frames are not supported", "Frame too
// big (32 KB limit)", an empty reason for 1006, and an empty body on a refused
// handshake, and the messages of the 429s ("The WebSocket client side buffer of
// connection … is full", "Rate exceeded"). How API Gateway splits an @connections
// post over 32 KB into frames is not documented beyond "frames of 32 KB or less": the
// emulator sends full 32 KB frames and an empty final one. A message over 128 KB is
// closed with 1009 and the WebSocket library's reason ("read limited at 131073
// bytes"), which is sent before the gateway could choose its own.
package emulator
