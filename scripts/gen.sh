#!/usr/bin/env bash
# Regenerates the Go code under gen/ from proto/ with the pinned generators.
# buf is pinned in tools/buf/go.mod; protoc-gen-go and protoc-gen-connect-go in go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=(go run -modfile=tools/buf/go.mod github.com/bufbuild/buf/cmd/buf)
if [[ -x "${BUF_BIN:-}" ]]; then BUF=("$BUF_BIN"); fi
"${BUF[@]}" lint
rm -rf gen/shoal
"${BUF[@]}" generate
