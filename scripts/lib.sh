# shellcheck shell=bash
# Helpers that install what a fresh machine lacks and skip what is present.
# Source this file; every function is idempotent and safe to call on every
# `make` run. Nothing here needs AWS credentials.

# The repository root, whatever the caller's directory.
SLSRTC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# as_root runs a command as root: directly when we are root, else with sudo.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

# with_lock FILE CMD... runs CMD holding an exclusive lock on FILE (when flock
# exists), so parallel make jobs do not install the same thing twice at once.
with_lock() {
	local lock="$1"
	shift
	if command -v flock >/dev/null 2>&1; then
		(
			flock 9
			"$@"
		) 9>"$lock"
	else
		"$@"
	fi
}

# ensure_apt PKG... installs the Debian packages that are not installed yet,
# running `apt-get update` once per process, and only when something is missing.
_slsrtc_apt_updated=""
ensure_apt() {
	local missing=() pkg
	for pkg in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
			missing+=("$pkg")
		fi
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${missing[*]}"
	if [ -z "$_slsrtc_apt_updated" ]; then
		log "apt-get update"
		as_root apt-get update -qq
		_slsrtc_apt_updated=1
	fi
	log "apt-get install ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

# The project's Python tools live in virtualenvs under .venv, each pinned by a
# requirements file (what we ask for) and a constraints file (every package pip
# resolved for it, so a fresh machine gets the same set):
#   .venv          cfn-lint, aws-sam-cli   scripts/requirements.txt, scripts/constraints.txt
#   .venv/checkov  checkov                 scripts/checkov-requirements.txt, scripts/checkov-constraints.txt
# checkov has a venv of its own because it pins boto3 to an exact version
# other than the one aws-sam-cli pins: the two cannot share one.
SLSRTC_VENV="${SLSRTC_VENV:-$SLSRTC_ROOT/.venv}"
SLSRTC_PYTHON="${PYTHON:-python3}"

# _venv_stamp VENV REQUIREMENTS CONSTRAINTS prints what the installed venv must
# match: the pins and the interpreter. A change of either reinstalls.
_venv_stamp() {
	{
		cat "$2" "$3"
		"$1/bin/python" -c 'import sys; print(sys.version)'
	} | sha256sum | cut -d' ' -f1
}

# _ensure_pinned_venv VENV REQUIREMENTS CONSTRAINTS WHAT installs the pinned
# tools into VENV unless its stamp says they are there already.
_ensure_pinned_venv() {
	local venv="$1" req="$2" con="$3" what="$4"
	local stamp="$venv/.slsrtc-installed"
	if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(_venv_stamp "$venv" "$req" "$con")" ]; then
		return 0
	fi
	command -v "$SLSRTC_PYTHON" >/dev/null 2>&1 || die "$SLSRTC_PYTHON not found; install Python 3.9 or later"
	"$SLSRTC_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
		die "$SLSRTC_PYTHON is $("$SLSRTC_PYTHON" -V 2>&1); $what needs Python 3.9 or later"
	if [ ! -x "$venv/bin/python" ]; then
		log "creating $venv"
		if ! "$SLSRTC_PYTHON" -m venv "$venv" 2>/dev/null; then
			# Debian's python3 ships venv without ensurepip.
			rm -rf "$venv/bin" "$venv/lib" "$venv/lib64" "$venv/include" "$venv/pyvenv.cfg"
			ensure_apt python3-venv
			"$SLSRTC_PYTHON" -m venv "$venv"
		fi
	fi
	log "installing pinned Python tools into $venv ($what)"
	"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input -r "$req" -c "$con"
	_venv_stamp "$venv" "$req" "$con" >"$stamp"
}

_ensure_venv() {
	_ensure_pinned_venv "$SLSRTC_VENV" "$SLSRTC_ROOT/scripts/requirements.txt" \
		"$SLSRTC_ROOT/scripts/constraints.txt" "cfn-lint, aws-sam-cli"
}

# ensure_venv makes .venv hold exactly the pinned cfn-lint and aws-sam-cli.
ensure_venv() {
	mkdir -p "$(dirname "$SLSRTC_VENV")"
	with_lock "$SLSRTC_VENV.lock" _ensure_venv
}

_ensure_checkov() {
	_ensure_pinned_venv "$SLSRTC_VENV/checkov" "$SLSRTC_ROOT/scripts/checkov-requirements.txt" \
		"$SLSRTC_ROOT/scripts/checkov-constraints.txt" "checkov"
}

# ensure_checkov makes .venv/checkov hold exactly the pinned checkov.
ensure_checkov() {
	mkdir -p "$SLSRTC_VENV"
	with_lock "$SLSRTC_VENV.checkov.lock" _ensure_checkov
}

_ensure_npm() {
	local stamp="$SLSRTC_ROOT/node_modules/.slsrtc-installed" want
	want="$(sha256sum <"$SLSRTC_ROOT/package-lock.json" | cut -d' ' -f1)"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		return 0
	fi
	command -v npm >/dev/null 2>&1 || die "npm not found; install Node.js 20.19 or later"
	log "npm ci (node_modules from package-lock.json)"
	(cd "$SLSRTC_ROOT" && npm ci --no-audit --no-fund --loglevel=error)
	printf '%s\n' "$want" >"$stamp"
}

# ensure_npm installs node_modules from package-lock.json (wscat and whatever
# the tests add) unless they are installed already.
ensure_npm() {
	with_lock "$SLSRTC_ROOT/.npm.lock" _ensure_npm
}
