#!/usr/bin/env bash
# test.sh: everything the tests need, then the tests. On a fresh Debian 12
# machine (as root): installs containerd, runc, a registry and skopeo from
# Debian, starts containerd and a registry on loopback with their own temp
# dirs, pushes the test image, checks generated code, runs go vet and
# go test -race over the whole module.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
eval "$(./scripts/ci-services.sh | grep '^export ')"
export SHOAL_CONTAINERD_ADDRESS SHOAL_TEST_REGISTRY
./scripts/check-generated.sh
unformatted="$(gofmt -l $(git ls-files '*.go'))"
if [ -n "$unformatted" ]; then
	echo "test.sh: not gofmt-ed:" $unformatted >&2
	exit 1
fi
go vet ./...
go test -race -timeout 30m -count=1 "${@:-./...}"
