#!/usr/bin/env bash
# Load test of docs/performance.md: starts the local stack (cmd/local) and
# PeerJS server (npm package peer, pinned in scripts/peerjs) as processes on
# loopback, runs cmd/loadtest against both in one run, writes
# docs/perf/loadtest.json and docs/perf/loadtest.png, and stops both servers.
#
#   scripts/loadtest.sh [loadtest flags…]     e.g. -connections 500 -steps 2
#
# OUT (default docs/perf), STACK_PORT (3101) and PEERJS_PORT (9100) override
# where results go and which loopback ports are used.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${OUT:-docs/perf}
stack_port=${STACK_PORT:-3101}
peerjs_port=${PEERJS_PORT:-9100}
work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

# 2,000 clients and 2,000 server sockets per process, plus pools.
ulimit -n "$(ulimit -Hn)"

if [ ! -x scripts/peerjs/node_modules/.bin/peerjs ]; then
	echo "loadtest: installing PeerJS server (npm ci in scripts/peerjs)" >&2
	npm ci --prefix scripts/peerjs --no-audit --no-fund >&2
fi
echo "loadtest: building cmd/local and cmd/loadtest" >&2
go build -o "$work/local" ./cmd/local
go build -o "$work/loadtest" ./cmd/loadtest

# wait_for NAME COMMAND…: until COMMAND succeeds (30 s).
wait_for() {
	local name=$1
	shift
	for _ in $(seq 300); do
		if "$@" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "loadtest: $name did not start; its log:" >&2
	cat "$work/$name.log" >&2
	return 1
}
accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1"); }

# The stack's function logs (one JSON line per invocation, as CloudWatch
# would get them) and PeerJS's per-client lines go to files, not the terminal.
"$work/local" -addr "127.0.0.1:$stack_port" >"$work/stack-function.log" 2>"$work/stack.log" &
pids+=($!)
stack_pid=$!
node scripts/peerjs/node_modules/peer/dist/bin/peerjs.js --host 127.0.0.1 --port "$peerjs_port" >"$work/peerjs.log" 2>&1 &
pids+=($!)
peerjs_pid=$!
wait_for stack grep -q "ready:" "$work/stack.log"
wait_for peerjs accepts "$peerjs_port"

mkdir -p "$out"
"$work/loadtest" \
	-slsrtc "ws://127.0.0.1:$stack_port/slsrtc" -slsrtc-pid "$stack_pid" \
	-peerjs "ws://127.0.0.1:$peerjs_port/peerjs" -peerjs-pid "$peerjs_pid" \
	-json "$out/loadtest.json" -png "$out/loadtest.png" "$@"
