// Package e2e proves the signaling backend with real WebRTC: Go peers
// (package client, on pion/webrtc) and the demo page (package web) in headless Chromium
// connect through the local stack, started in-process, and open data
// channels; and relay-only Go peers connect through a real coturn with the
// TURN credentials package turn issues (TestTURNRelay), or are refused.
//
// The tests carry the build tag e2e (make test runs them):
//
//	go test -race -tags e2e ./test/e2e/
//
// The browser test drives /usr/bin/chromium with chromedp. It fails when
// Chromium is missing; scripts/ensure-chromium.sh installs it (make test runs
// it). The TURN test runs coturn's turnserver (package test/turnserver); it
// fails when coturn is missing, and scripts/ensure-coturn.sh installs it
// (make test runs it too). Environment:
//
//	SLSRTC_SKIP_BROWSER=1  skip the browser test
//	SLSRTC_CHROMIUM=PATH   use this Chromium binary instead of /usr/bin/chromium
//	SLSRTC_ARTIFACTS=DIR   save the screenshots there instead of artifacts/ at the module root
//	SLSRTC_TURNSERVER=PATH use this turnserver binary instead of the one on PATH
package e2e
