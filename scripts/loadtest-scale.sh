#!/usr/bin/env bash
# The scale measurements of docs/performance.md: starts the local stack
# (cmd/local) as a process on loopback, runs cmd/loadtest in a scale mode
# against it, writes docs/perf/scale-MODE.json, and stops the stack.
#
#   scripts/loadtest-scale.sh waves [loadtest flags…]   # default -connections 5000 -wave 500 (~1 min)
#   scripts/loadtest-scale.sh churn [loadtest flags…]   # default -connections 500 -duration 30m -window 1m
#
# The stack runs in its own process so that its memory (RSS per connection)
# is its own, not the load clients'. OUT (default docs/perf) and STACK_PORT
# (3102) override where results go and the loopback port; STACK_GOGC sets
# the stack's GOGC.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:?usage: scripts/loadtest-scale.sh waves|churn [loadtest flags…]}
shift
case $mode in
waves) defaults=(-connections 5000 -wave 500) ;;
churn) defaults=(-connections 500 -duration 30m -window 1m -timeout 40m) ;;
*)
	echo "loadtest-scale: mode is waves or churn, not $mode" >&2
	exit 2
	;;
esac

out=${OUT:-docs/perf}
stack_port=${STACK_PORT:-3102}
work=$(mktemp -d)
stack_pid=
cleanup() {
	if [ -n "$stack_pid" ]; then
		kill "$stack_pid" 2>/dev/null || true
		wait "$stack_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# 5,000 clients here and 5,000 server sockets in the stack, plus pools.
ulimit -n "$(ulimit -Hn)"

echo "loadtest-scale: building cmd/local and cmd/loadtest" >&2
go build -o "$work/local" ./cmd/local
go build -o "$work/loadtest" ./cmd/loadtest

# The function's log lines (one per invocation) go to a file.
GOGC=${STACK_GOGC:-${GOGC:-}} "$work/local" -addr "127.0.0.1:$stack_port" >"$work/stack-function.log" 2>"$work/stack.log" &
stack_pid=$!
for _ in $(seq 300); do
	grep -q "ready:" "$work/stack.log" 2>/dev/null && break
	sleep 0.1
done
if ! grep -q "ready:" "$work/stack.log"; then
	echo "loadtest-scale: the stack did not start; its log:" >&2
	cat "$work/stack.log" >&2
	exit 1
fi
# The banner names the embedded DynamoDB: "  DynamoDB      http://…  (table …)".
ddb=$(awk '$1 == "DynamoDB" {print $2; exit}' "$work/stack.log")

mkdir -p "$out"
"$work/loadtest" -mode "$mode" "${defaults[@]}" \
	-slsrtc "ws://127.0.0.1:$stack_port/slsrtc" -slsrtc-pid "$stack_pid" -dynamodb "$ddb" \
	-json "$out/scale-$mode.json" "$@"
