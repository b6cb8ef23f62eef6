#!/usr/bin/env bash
# check-generated.sh fails when generated code (protobuf/Connect under gen/,
# the built-in plugins' .wasm) is stale: it regenerates and compares.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/gen.sh
if ! git diff --quiet -- gen proto; then
	echo "check-generated: gen/ is stale; run ./scripts/gen.sh and commit" >&2
	git diff --stat -- gen >&2
	exit 1
fi
if [ -n "$(git status --porcelain -- gen)" ]; then
	echo "check-generated: untracked generated files; run ./scripts/gen.sh and commit" >&2
	git status --porcelain -- gen >&2
	exit 1
fi
echo "check-generated: gen/ is up to date"
