#!/usr/bin/env bash
# bench.sh runs the benchmarks recorded in BENCHMARKS.md, side by side where
# a comparison matters (Wasm vs native in one run). Containerd benchmarks
# need the services from ci-services.sh (as root).
#   ./scripts/bench.sh            # everything below
#   ./scripts/bench.sh raft       # one group: raft, store, sched, plugins, containerd, scale, gossip
set -euo pipefail
cd "$(dirname "$0")/.."
want="${1:-all}"
run() { echo "== $*"; go test -run '^$' -count=1 "$@" | grep -E '^(Benchmark|ok|FAIL|---)' ; }
if [[ $want == all || $want == raft ]]; then
	run -bench 'BenchmarkBatch10kThreeManagers' -benchtime 3x ./core/node
	run -bench 'BenchmarkUpdateLatencyThreeManagers' -benchtime 200x ./core/node
fi
if [[ $want == all || $want == store ]]; then
	run -bench . -benchtime 3x ./core/store
fi
if [[ $want == all || $want == sched ]]; then
	run -bench 'Pass100k|Plan100k' -benchtime 3x ./core/scheduler
	run -bench 'Create10000' -benchtime 3x ./core/orchestrator
fi
if [[ $want == all || $want == plugins ]]; then
	run -bench 'SpreadWasmVsNative|Compile|Instantiate|HostStall' -benchtime 5x ./plugins
fi
if [[ $want == all || $want == containerd ]]; then
	if [[ -z "${SHOAL_CONTAINERD_ADDRESS:-}" ]]; then
		eval "$(./scripts/ci-services.sh | grep '^export ')"
	fi
	run -bench 'Start20|StartOne' -benchtime 3x ./runtime/containerd
fi
if [[ $want == all || $want == gossip ]]; then
	run -bench 'Convergence' -benchtime 10x -timeout 30m ./core/gossip
fi
if [[ $want == all || $want == scale ]]; then
	echo "== go run ./bench/scale -nodes 2400 -tasks 100000"
	go run ./bench/scale -nodes 2400 -tasks 100000
fi
