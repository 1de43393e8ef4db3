// Package coldstart measures the Lambda's bootstrap from process start to
// its first handled event, and checks that its init makes no network call
// (docs/performance.md).
//
// Its test builds the bootstrap for the host (the arm64 build cannot run
// here natively) with the deployment flags, runs it against a minimal Lambda
// Runtime API stub, and traps every connection it tries to make outside
// loopback through an HTTP proxy set in its environment. The benchmark starts
// it repeatedly:
//
//	go test -run '^$' -bench ColdStart ./internal/coldstart
//
// SLSRTC_BOOTSTRAP names a prebuilt bootstrap instead, and
// SLSRTC_BOOTSTRAP_EXEC a program to run it with (qemu-aarch64 for the
// arm64 build).
package coldstart
