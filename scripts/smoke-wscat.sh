#!/usr/bin/env bash
# Smoke test of the local stack with the tools a developer uses by hand:
#
#   1. the seed's wscat session, with the npm wscat package itself: A connects
#      (connected), creates a room and enters it; B, a second wscat, enters
#      it; a message is relayed both ways; B quits (Ctrl+C) and A prints leave;
#   2. the AWS CLI v2 (/usr/bin/aws) against the same stack: dynamodb scan on
#      the printed DynamoDB URL, apigatewaymanagementapi post-to-connection
#      and get-connection on http://ADDR/STAGE, and a post to an unknown
#      connection (GoneException);
#   3. SIGTERM: the stack closes A (wscat exits) and exits 0.
#
# It builds cmd/local, starts it on a free port and stops it at the end.
# Installs what is missing (wscat from package-lock.json into node_modules,
# Debian's awscli) and skips what is present. Needs no AWS account: the CLI
# gets dummy credentials. Prints the wscat transcript at the end.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$SLSRTC_ROOT"

TIMEOUT="${SMOKE_TIMEOUT:-30}" # seconds to wait for any one thing
AWS=/usr/bin/aws               # Debian's CLI v2; a v1 may come first on PATH
WSCAT="$SLSRTC_ROOT/node_modules/.bin/wscat"

ensure_npm
if ! "$AWS" --version 2>/dev/null | grep -q '^aws-cli/2\.'; then
	ensure_apt awscli
	"$AWS" --version 2>/dev/null | grep -q '^aws-cli/2\.' || die "$AWS is not the AWS CLI v2: $("$AWS" --version 2>&1)"
fi

WORK="$(mktemp -d)"
cleanup() {
	local status=$? pid
	for pid in $(jobs -p); do # this script's own background jobs still running
		kill "$pid" 2>/dev/null || true
	done
	if [ "$status" -ne 0 ]; then
		log "--- stack stderr"
		cat "$WORK/stack.err" >&2 2>/dev/null || true
		log "--- stack stdout (function logs, last 40 lines)"
		tail -n 40 "$WORK/stack.out" >&2 2>/dev/null || true
		for c in A B; do
			log "--- wscat $c stdout / stderr"
			cat "$WORK/$c.out" "$WORK/$c.err" >&2 2>/dev/null || true
		done
		log "smoke-wscat: FAILED"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# until_ok WHAT CMD... runs CMD every 0.1 s until it succeeds; dies after
# $TIMEOUT seconds.
until_ok() {
	local what="$1" deadline=$((SECONDS + TIMEOUT))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || die "no $what within ${TIMEOUT}s"
		sleep 0.1
	done
}

# gone PID: has that process (one of ours) exited?
gone() { ! kill -0 "$1" 2>/dev/null; }

# frames NAME prints the frames a wscat printed, one a line, without the
# "> " prompts wscat echoes when its stdout is not a terminal.
frames() { sed 's/^\(> \)*//' "$WORK/$1.out"; }

# has_frame NAME FRAME: did wscat NAME print exactly FRAME?
has_frame() { frames "$1" | grep -qxF -- "$2"; }

# has_like NAME REGEX: did wscat NAME print a frame matching REGEX?
has_like() { frames "$1" | grep -qE -- "$2"; }

# expect NAME FRAME waits until wscat NAME prints FRAME.
expect() {
	until_ok "frame $2 at $1" has_frame "$1" "$2"
	transcript+=("$1 < $2")
}

# expect_like NAME REGEX waits for a frame matching REGEX and puts it in
# $frame.
expect_like() {
	until_ok "frame like $2 at $1" has_like "$1" "$2"
	frame="$(frames "$1" | grep -E -- "$2" | head -n 1)"
	transcript+=("$1 < $frame")
}

# start_wscat NAME connects a wscat whose stdin is a FIFO the script writes
# to, as a user types; ${fd[NAME]} is the FIFO, ${pid[NAME]} the wscat.
declare -A fd pid
start_wscat() {
	local f
	mkfifo "$WORK/$1.in"
	exec {f}<>"$WORK/$1.in" # read-write: opening does not wait for a reader
	fd[$1]=$f
	"$WSCAT" -c "$WS_URL" <"$WORK/$1.in" >"$WORK/$1.out" 2>"$WORK/$1.err" &
	pid[$1]=$!
}

# type_line NAME LINE types LINE into wscat NAME (only after its connected frame:
# wscat drops lines typed before the connection is open).
type_line() {
	printf '%s\n' "$2" >&"${fd[$1]}"
	transcript+=("$1 > $2")
}

# body FRAME prints the body of a {"type":…,"body":"…"} frame.
body() { sed -n 's/.*"body":"\([^"]*\)".*/\1/p' <<<"$1"; }

# participant FRAME prints the participantID of a connected frame.
participant() { sed -n 's/.*"participantID":"\([^"]*\)".*/\1/p' <<<"$1"; }

transcript=()

log "building cmd/local"
go build -o "$WORK/local" ./cmd/local
# -resume-grace 0: the seed's session, where a client that quits leaves at
# once (with resume, its seat would be held for 30 s; see docs/protocol.md).
"$WORK/local" -addr 127.0.0.1:0 -resume-grace 0 >"$WORK/stack.out" 2>"$WORK/stack.err" &
STACK=$!
until_ok "ready line from the stack" grep -q '^ready: ' "$WORK/stack.err"
WS_URL="$(sed -n 's/^ready: wscat -c //p' "$WORK/stack.err")"
CONNECTIONS_URL="$(sed -n 's|^  @connections *\(.*\)/@connections/.*|\1|p' "$WORK/stack.err")"
DYNAMODB_URL="$(sed -n 's/^  DynamoDB *\([^ ]*\) .*/\1/p' "$WORK/stack.err")"
TABLE="$(sed -n 's/^  DynamoDB .*(table \(.*\))$/\1/p' "$WORK/stack.err")"
if [ -z "$WS_URL" ] || [ -z "$CONNECTIONS_URL" ] || [ -z "$DYNAMODB_URL" ] || [ -z "$TABLE" ]; then
	die "cannot read the endpoints from the banner: $(cat "$WORK/stack.err")"
fi
log "stack ready: $WS_URL (DynamoDB $DYNAMODB_URL, table $TABLE)"

# 1. The seed's session.
start_wscat A
expect_like A '^\{"type":"connected","body":"[^"]+","participantID":"[^"]+",.*\}$'
A="$(body "$frame")"
PA="$(participant "$frame")"
type_line A '{"action":"createroom"}'
expect_like A '^\{"type":"room-created","body":"[^"]+"\}$'
ROOM="$(body "$frame")"
type_line A '{"action":"enterroom","roomID":"'"$ROOM"'"}'
expect A '{"type":"enter","roomID":"'"$ROOM"'","connectionID":"'"$A"'","participantID":"'"$PA"'","seq":1}'
expect A '{"type":"room-members","roomID":"'"$ROOM"'","members":[{"connectionID":"'"$A"'","participantID":"'"$PA"'"}],"seq":1}'

start_wscat B
expect_like B '^\{"type":"connected","body":"[^"]+","participantID":"[^"]+",.*\}$'
B="$(body "$frame")"
PB="$(participant "$frame")"
type_line B '{"action":"enterroom","roomID":"'"$ROOM"'"}'
expect B '{"type":"enter","roomID":"'"$ROOM"'","connectionID":"'"$B"'","participantID":"'"$PB"'","seq":2}'
expect B '{"type":"room-members","roomID":"'"$ROOM"'","members":[{"connectionID":"'"$A"'","participantID":"'"$PA"'"},{"connectionID":"'"$B"'","participantID":"'"$PB"'"}],"seq":2}'
expect A '{"type":"enter","roomID":"'"$ROOM"'","connectionID":"'"$B"'","participantID":"'"$PB"'","seq":2}'

type_line B '{"action":"message","dest":"'"$A"'","type":"offer","message":"{\"type\":\"offer\",\"sdp\":\"v=0\"}"}'
expect A '{"type":"offer","body":"{\"type\":\"offer\",\"sdp\":\"v=0\"}","from":"'"$B"'","participantID":"'"$PB"'"}'
type_line A '{"action":"message","dest":"'"$B"'","type":"answer","message":"{\"type\":\"answer\",\"sdp\":\"v=0\"}"}'
expect B '{"type":"answer","body":"{\"type\":\"answer\",\"sdp\":\"v=0\"}","from":"'"$A"'","participantID":"'"$PA"'"}'

# 2. The AWS CLI v2 against the same stack, with dummy credentials and no
# configuration of the user's.
aws_local() {
	env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_SESSION_TOKEN AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
		AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_PAGER= \
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
		"$AWS" "$@"
}
log "aws dynamodb scan --endpoint-url $DYNAMODB_URL --table-name $TABLE"
keys="$(aws_local dynamodb scan --endpoint-url "$DYNAMODB_URL" --table-name "$TABLE" \
	--query 'Items[].[pk.S,sk.S]' --output text | tr '\t' ' ')"
for key in "roomID#$ROOM room" "roomID#$ROOM member#$PA" "roomID#$ROOM member#$PB" "connectionID#$A connection" "connectionID#$B connection"; do
	grep -qxF -- "$key" <<<"$keys" || die "dynamodb scan has no item $key; it has: $keys"
done

# --connection-id=ID, not --connection-id ID: an ID may start with "-",
# which the CLI would take for an option. CLI v2 reads blob arguments as
# base64 unless told otherwise.
log "aws apigatewaymanagementapi post-to-connection --endpoint-url $CONNECTIONS_URL --connection-id=$A"
hello='{"type":"hello","body":"from the aws cli"}'
aws_local apigatewaymanagementapi post-to-connection --endpoint-url "$CONNECTIONS_URL" \
	--connection-id="$A" --cli-binary-format raw-in-base64-out --data "$hello"
transcript+=("   (aws apigatewaymanagementapi post-to-connection --connection-id=$A --data '$hello')")
expect A "$hello"
ip="$(aws_local apigatewaymanagementapi get-connection --endpoint-url "$CONNECTIONS_URL" \
	--connection-id="$A" --query Identity.SourceIp --output text)"
[ "$ip" = 127.0.0.1 ] || die "get-connection: SourceIp $ip, want 127.0.0.1"
if aws_local apigatewaymanagementapi post-to-connection --endpoint-url "$CONNECTIONS_URL" \
	--connection-id=-AAAAAAAAAAAAAAAAAAAAA= --cli-binary-format raw-in-base64-out --data "$hello" 2>"$WORK/gone.err"; then
	die "post-to-connection to an unknown connection succeeded"
fi
grep -q GoneException "$WORK/gone.err" || die "post to an unknown connection: $(cat "$WORK/gone.err"), want GoneException"

# B quits as a user does (Ctrl+C); A is told.
kill -INT "${pid[B]}"
until_ok "exit of wscat B" gone "${pid[B]}"
transcript+=("   (B quits: Ctrl+C)")
expect A '{"type":"leave","roomID":"'"$ROOM"'","connectionID":"'"$B"'","participantID":"'"$PB"'","reason":"disconnected","seq":3}'

# 3. SIGTERM: the stack closes A with 1001 (wscat exits) and exits 0.
kill -TERM "$STACK"
until_ok "exit of wscat A after SIGTERM" gone "${pid[A]}"
status=0
wait "$STACK" || status=$?
[ "$status" -eq 0 ] || die "the stack exited with $status after SIGTERM, want 0"
grep -q '^shutting down: ' "$WORK/stack.err" || die "the stack did not say it was shutting down"
# shellcheck disable=SC2016 # a literal $disconnect
grep -q '"routeKey":"\$disconnect".*"disconnectStatusCode":1001' "$WORK/stack.out" ||
	die "no \$disconnect with status 1001 in the function logs"

log "--- the session, as the two wscat printed it (< received, > typed)"
for line in "${transcript[@]}"; do log "$line"; done
log "smoke-wscat: ok (wscat $("$WSCAT" --version), $("$AWS" --version 2>&1 | cut -d' ' -f1))"
