#!/usr/bin/env bash
# Installs Debian's coturn for the TURN tests in test/e2e/ (make test-e2e runs
# it), unless turnserver is there already or the tests are pointed at another
# binary (SLSRTC_TURNSERVER). The tests start their own turnserver on loopback
# (package test/turnserver); the system service must not run: on a systemd
# host coturn's postinst enables coturn.service and starts it (the unit ignores
# TURNSERVER_ENABLED in /etc/default/coturn), listening on every interface.
# So the install runs under a policy-rc.d that refuses to start coturn (when
# the machine has no policy-rc.d of its own; containers usually have one that
# refuses everything), and the unit is then disabled (and stopped, on a
# systemd host). Idempotent: nothing runs when turnserver is present.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

if [ -n "${SLSRTC_TURNSERVER:-}" ]; then
	[ -x "$SLSRTC_TURNSERVER" ] || die "SLSRTC_TURNSERVER=$SLSRTC_TURNSERVER is not an executable"
	exit 0
fi
if command -v turnserver >/dev/null 2>&1; then
	exit 0
fi

policy=/usr/sbin/policy-rc.d
installed_policy=""
cleanup() {
	if [ -n "$installed_policy" ]; then
		as_root rm -f "$policy"
	fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
	# policy-rc.d SERVICE ACTION: 101 is "action forbidden"; invoke-rc.d and
	# deb-systemd-invoke both ask it. Only coturn is held back.
	tmp="$(mktemp)"
	cat >"$tmp" <<-'EOF'
		#!/bin/sh
		# Written by slsrtc's scripts/ensure-coturn.sh for the length of one
		# apt-get install; removed after it.
		case "$1" in coturn | coturn.service) exit 101 ;; esac
		exit 0
	EOF
	as_root install -m 0755 "$tmp" "$policy"
	rm -f "$tmp"
	installed_policy=1
fi

ensure_apt coturn

# postinst enables coturn.service even where it does not start it (a
# container): disable it, so that an image booted later with systemd does not
# start it either. systemctl disable works without a running systemd; stop
# needs one.
if command -v systemctl >/dev/null 2>&1; then
	log "systemctl disable coturn.service (the tests run their own turnserver)"
	as_root systemctl disable coturn.service >/dev/null 2>&1 || true
	if [ -d /run/systemd/system ]; then
		as_root systemctl stop coturn.service >/dev/null 2>&1 || true
	fi
fi
command -v turnserver >/dev/null 2>&1 || die "coturn is installed but turnserver is not on PATH"
