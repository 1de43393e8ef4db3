#!/usr/bin/env bash
# Writes third_party/minidyn.patch: the difference between minidyn v0.8.2 as
# the Go module proxy serves it and the patched copy in third_party/minidyn,
# as a unified diff that applies to upstream's repository with
# `git apply -p1` (or `patch -p1`). third_party/minidyn/PATCHES.md says what
# it changes and why.
#
#   scripts/minidyn-patch.sh          # rewrite the patch
#   scripts/minidyn-patch.sh -check   # fail if the patch is out of date
set -euo pipefail
cd "$(dirname "$0")/.."

version=v0.8.2
orig=$(go mod download -json "github.com/truora/minidyn@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ ! -d "$orig" ]; then
	echo "minidyn-patch: could not download github.com/truora/minidyn@$version" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$orig" "$work/a"
ln -s "$PWD/third_party/minidyn" "$work/b"
# Upstream's agent and CI configuration is not vendored (third_party/README.md);
# PATCHES.md is ours.
(cd "$work" && diff -ruN \
	--exclude=.agents --exclude=.github --exclude=AGENTS.md --exclude=CLAUDE.md --exclude=PATCHES.md \
	a/ b/ >"$work/patch") || [ $? -eq 1 ]
# Stable headers: no timestamps, no diff options.
sed -E -e 's/^(---|\+\+\+) ([^\t]+)\t.*$/\1 \2/' -e 's/^diff -ruN .* a\//diff -ruN a\//' \
	"$work/patch" >"$work/minidyn.patch"

if [ "${1:-}" = -check ]; then
	if ! cmp -s "$work/minidyn.patch" third_party/minidyn.patch; then
		echo "minidyn-patch: third_party/minidyn.patch is out of date (run scripts/minidyn-patch.sh)" >&2
		exit 1
	fi
	echo "minidyn-patch: ok"
	exit 0
fi
cp "$work/minidyn.patch" third_party/minidyn.patch
echo "minidyn-patch: wrote third_party/minidyn.patch ($(grep -c '^diff ' third_party/minidyn.patch) files)"
