#!/bin/sh
# Builds the built-in Wasm plugins into plugins/builtin/*.wasm (committed and
# embedded in the shoal binary). Reproducible: the same toolchain produces
# the same bytes; plugins/builtin's tests fail if the committed files are
# stale. Usage: scripts/build-plugins.sh [OUTDIR]
set -eu
cd "$(dirname "$0")/.."
out="${1:-plugins/builtin}"
mkdir -p "$out"
for p in spread binpack ipam evener; do
	GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 GOFLAGS= go build \
		-buildmode=c-shared -trimpath -buildvcs=false -ldflags='-s -w -buildid=' \
		-o "$out/$p.wasm" "./plugins/builtin/$p"
done
