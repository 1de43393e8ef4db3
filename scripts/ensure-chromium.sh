#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test in test/e2e/ (make test runs it),
# unless /usr/bin/chromium is there, the test is pointed at another binary
# (SLSRTC_CHROMIUM) or skipped (SLSRTC_SKIP_BROWSER=1). Idempotent: apt-get
# runs only when something is missing, with sudo only when not root.
set -euo pipefail

if [ "${SLSRTC_SKIP_BROWSER:-}" = 1 ] || [ -x "${SLSRTC_CHROMIUM:-/usr/bin/chromium}" ]; then
	exit 0
fi
exec "$(dirname "$0")/ensure" apt chromium
