#!/usr/bin/env bash
# test.sh: everything the tests need, then the tests. On a fresh Debian 12
# machine (as root): installs containerd, runc, a registry and skopeo from
# Debian, starts containerd and a registry on loopback with their own temp
# dirs, pushes the test image, checks generated code, runs go vet and
# go test -race over the whole module and the sdk's module.
#
# It cannot pass by skipping: it fails when it is not root or when
# ci-services.sh cannot start containerd or the registry, and it sets
# SHOAL_REQUIRE_CONTAINERD=1 so that a test missing containerd, root or a
# host tool fails instead of skipping (internal/testenv).
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "test.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (the containerd tests run containers and create network namespaces)"
./scripts/install-deps.sh
services="$(./scripts/ci-services.sh)" || die "ci-services.sh failed (its reason is above): the containerd tests need containerd and the registry"
eval "$(grep '^export ' <<<"$services")"
[ -n "${SHOAL_CONTAINERD_ADDRESS:-}" ] && [ -n "${SHOAL_TEST_REGISTRY:-}" ] ||
	die "ci-services.sh printed no SHOAL_CONTAINERD_ADDRESS/SHOAL_TEST_REGISTRY"
export SHOAL_CONTAINERD_ADDRESS SHOAL_TEST_REGISTRY
export SHOAL_REQUIRE_CONTAINERD=1

# The web view's toolchain (esbuild, protoc-gen-es, playwright-core) from
# its lockfile; nothing is installed after this (the tests run offline).
(cd web && npm ci --no-audit --no-fund --loglevel=error)
./scripts/check-generated.sh
(cd web && npm test)
unformatted="$(gofmt -l $(git ls-files '*.go'))"
if [ -n "$unformatted" ]; then
	die "not gofmt-ed:" $unformatted
fi
go vet ./...
# The sdk is its own module: ./... at the root does not descend into it.
if [ $# -eq 0 ]; then
	(cd sdk && go vet ./... && GOOS=wasip1 GOARCH=wasm go vet ./... && go test -race -count=1 ./...)
fi
if [ $# -eq 0 ]; then
	# The longest packages (the e2e suites, mostly waiting on real clusters)
	# first, so the short ones run beside them rather than after them.
	mapfile -t pkgs < <(go list ./... | awk '/\/e2e(\/|$)/ {print; next} {rest[n++]=$0} END {for (i = 0; i < n; i++) print rest[i]}')
	set -- "${pkgs[@]}"
fi
go test -race -timeout 30m -count=1 "$@"
