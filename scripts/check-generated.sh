#!/usr/bin/env bash
# check-generated.sh fails when generated code (protobuf/Connect under gen/,
# the built-in plugins' .wasm, the web view's types and built assets under
# web/) is stale: it regenerates and compares. It needs web/node_modules
# (scripts/test.sh runs `npm ci` there).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/gen.sh
(cd web && npm run --silent build)
if ! git diff --quiet -- gen proto web/src/gen web/dist; then
	echo "check-generated: gen/ or web/ is stale; run ./scripts/gen.sh and (cd web && npm run build), and commit" >&2
	git diff --stat -- gen web/src/gen web/dist >&2
	exit 1
fi
if [ -n "$(git status --porcelain -- gen web/src/gen web/dist)" ]; then
	echo "check-generated: untracked generated files; run ./scripts/gen.sh and commit" >&2
	git status --porcelain -- gen web/src/gen web/dist >&2
	exit 1
fi
echo "check-generated: gen/, web/src/gen/ and web/dist/ are up to date"
