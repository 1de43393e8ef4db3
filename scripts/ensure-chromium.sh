#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (internal/e2e), unless it is
# there already or the test is skipped (SLSRTC_SKIP_BROWSER=1) or pointed at
# another binary (SLSRTC_CHROMIUM). Idempotent; `make test` runs it. Uses sudo
# only when not root.
set -euo pipefail

if [ "${SLSRTC_SKIP_BROWSER:-}" = 1 ] || [ -x "${SLSRTC_CHROMIUM:-/usr/bin/chromium}" ]; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "ensure-chromium: no /usr/bin/chromium and no apt-get; install Chromium and set SLSRTC_CHROMIUM," \
		"or set SLSRTC_SKIP_BROWSER=1 to skip the browser test" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
echo "ensure-chromium: installing chromium with apt-get" >&2
$sudo apt-get update
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
