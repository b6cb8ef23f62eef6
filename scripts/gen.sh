#!/usr/bin/env bash
# Regenerates the Go code under gen/ from proto/ with the pinned generators,
# and the web view's TypeScript under web/src/gen/ (protoc-gen-es, pinned in
# web/package-lock.json; needs `npm ci` in web/ first).
# buf is pinned in tools/buf/go.mod; protoc-gen-go and protoc-gen-connect-go in go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=(go run -modfile=tools/buf/go.mod github.com/bufbuild/buf/cmd/buf)
if [[ -x "${BUF_BIN:-}" ]]; then BUF=("$BUF_BIN"); fi
"${BUF[@]}" lint
rm -rf gen/shoal
"${BUF[@]}" generate
if [[ ! -x web/node_modules/.bin/protoc-gen-es ]]; then
	echo "gen.sh: web/node_modules is missing: run (cd web && npm ci) to generate web/src/gen" >&2
	exit 1
fi
rm -rf web/src/gen
"${BUF[@]}" generate --template web/buf.gen.yaml --path proto/shoal/v1
