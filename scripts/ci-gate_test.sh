#!/usr/bin/env bash
# ci-gate_test.sh checks that scripts/test.sh (and so .ci/run) fails, saying
# why, when the containerd tests could not run: containerd exits at start,
# the registry exits at start, or it is not root. Each case runs test.sh with
# fakes first on PATH and its own SHOAL_CI_DIR (the shared services under
# /tmp/shoal-ci are not touched); a fake `go` records whether test.sh went on
# to vet or test anyway. Needs root (as test.sh does). Takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="$(mktemp -d /tmp/shoal-ci-gate.XXXXXX)"
chmod 755 "$work"
mkdir -m 1777 "$work/ran" # the fake go's markers, writable by the not-root case
trap 'SHOAL_CI_DIR="$work/ci" ./scripts/ci-services-stop.sh --purge >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
failed=0

# fake NAME BODY: an executable NAME in $work/bin/CASE running BODY.
fake() {
	mkdir -p "$work/bin/$case"
	printf '#!/bin/sh\n%s\n' "$2" >"$work/bin/$case/$1"
	chmod 755 "$work/bin/$case/$1"
}

# expect_failure WANT COMMAND...: runs COMMAND (test.sh, as a case sets it up);
# it must exit non-zero, say WANT on stderr and never reach go.
expect_failure() {
	local want="$1" rc=0; shift
	fake go "touch $work/ran/$case; exit 1"
	PATH="$work/bin/$case:$PATH" SHOAL_CI_DIR="$work/ci" SHOAL_CI_REGISTRY=127.0.0.1:1 \
		timeout 120 "$@" >"$work/$case.out" 2>"$work/$case.err" </dev/null || rc=$?
	if ((rc == 0)); then
		echo "FAIL $case: test.sh exited 0"; failed=1
	elif [ -e "$work/ran/$case" ]; then
		echo "FAIL $case: test.sh went on to run go after the failure"; failed=1
	elif ! grep -qF -- "$want" "$work/$case.err"; then
		echo "FAIL $case: stderr does not say \"$want\":"; sed 's/^/    /' "$work/$case.err"; failed=1
	else
		echo "ok   $case: exit $rc, \"$want\""
	fi
	SHOAL_CI_DIR="$work/ci" ./scripts/ci-services-stop.sh --purge >/dev/null 2>&1 || true
}

case=containerd-exits
fake containerd '[ "$1" = --version ] && { echo "containerd fake v0"; exit 0; }; echo "fake containerd: cannot start" >&2; exit 1'
expect_failure "containerd exited instead of starting" ./scripts/test.sh

case=registry-exits
fake docker-registry 'echo "fake registry: cannot start" >&2; exit 1'
expect_failure "registry exited instead of starting" ./scripts/test.sh

case=not-root
expect_failure "must run as root" setpriv --reuid=65534 --regid=65534 --clear-groups "$repo/scripts/test.sh"

exit "$failed"
