#!/usr/bin/env bash
# bench.sh runs what every number in BENCHMARKS.md comes from; each row there
# names its group. Containerd groups need the services from ci-services.sh
# (as root); they start them when SHOAL_CONTAINERD_ADDRESS is unset.
#   ./scripts/bench.sh              # every group, in the order below
#   ./scripts/bench.sh GROUP...     # some groups; ./scripts/bench.sh list names them
#   BENCHTIME=1x ./scripts/bench.sh sim   # a quick check that a runner works
set -euo pipefail
cd "$(dirname "$0")/.."

groups=(raft commit rafttest failover failover-loaded starve kill freeze snapshot store sched dispatcher sim pipeline scale
	plugins wasm hostile containerd containerd-e2e overlay overlay-throughput gossip update metrics mesh)

# bench BENCHTIME PATTERN PACKAGE: go test benchmarks, their lines only.
bench() {
	echo "== go test -run '^\$' -bench '$2' -benchtime ${BENCHTIME:-$1} $3"
	go test -run '^$' -count=1 -timeout 30m -bench "$2" -benchtime "${BENCHTIME:-$1}" "$3" | grep -E '^(Benchmark|ok|FAIL|---|panic)'
}

# e2e TESTS LOGPATTERN: end-to-end tests that log their measurements.
e2e() {
	echo "== go test -count=1 -v -run '$1' ./e2e | grep -E '$2'"
	go test -count=1 -v -timeout 30m -run "$1" ./e2e | grep -E "$2|^(--- |ok|FAIL|panic)"
}

need_containerd() {
	if [[ -z "${SHOAL_CONTAINERD_ADDRESS:-}" ]]; then
		local services
		services="$(./scripts/ci-services.sh)"
		eval "$(grep '^export ' <<<"$services")"
	fi
}

# burn N COMMAND...: runs COMMAND with N busy loops on the side (stopped on
# any exit, by their pids).
burners=()
trap '((${#burners[@]})) && kill "${burners[@]}" 2>/dev/null' EXIT
burn() {
	local n="$1" i rc=0; shift
	for ((i = 0; i < n; i++)); do
		sh -c 'while :; do :; done' &
		burners+=("$!")
	done
	echo "== with $n CPU-burner loops (pids ${burners[*]})"
	"$@" || rc=$?
	kill "${burners[@]}"
	burners=()
	return "$rc"
}

run_group() {
	case "$1" in
	raft) # 3 managers in one process, mTLS on loopback, bbolt
		bench 3x BenchmarkBatch10kThreeManagers ./core/node
		bench 200x BenchmarkUpdateLatencyThreeManagers ./core/node ;;
	commit) # one committed write on 3 managers vs a 4 KiB write+fdatasync on the same disk, one run; 64 writers
		bench 1x BenchmarkCommitVsFdatasync ./core/node ;;
	rafttest) # Raft alone, in-memory transport
		bench 20x . ./core/raft/rafttest ;;
	failover) # kill -9 of the leader to the first acknowledged write; restarted manager catching up
		e2e '^TestFailover$' 'failover:|failover times|caught up' ;;
	failover-loaded)
		burn 2 e2e '^TestFailover$' 'failover:|failover times|caught up' ;;
	starve) # 3 managers SIGSTOPped (leader, follower, all) with 2 CPU burners: no leader change
		burn 2 e2e '^TestLeadershipHoldsWhenManagersStall$' 'stall:|stopped' ;;
	kill) # 3-node kill test, default settings: SIGKILLed worker's tasks RUNNING elsewhere
		for i in 1 2 3; do SHOAL_KILL_DEFAULTS=1 e2e '^TestKilledWorkerTasksRunElsewhere$' 'kill:'; done ;;
	freeze) # 3-node freeze test, default settings: SIGSTOPped worker's (hung machine's) tasks RUNNING elsewhere
		for i in 1 2 3; do SHOAL_KILL_DEFAULTS=1 e2e '^TestFrozenWorkerTasksRunElsewhere$' 'freeze:'; done ;;
	snapshot) # a manager joining through a multi-MiB snapshot
		e2e '^TestJoinWithLargeSnapshot$' 'snapshot:|caught up|restored' ;;
	store)
		bench 3x . ./core/store ;;
	update) # rolling updates: one updater pass at 10,000 replicas; the e2e rolls (process backend)
		bench 3x RollingPass ./core/orchestrator
		e2e '^TestRollingUpdates$' 'samples|roll completed|took' ;;
	sched)
		bench 3x 'Pass100k|Plan100k' ./core/scheduler
		bench 3x Create10000 ./core/orchestrator ;;
	dispatcher)
		bench 3x BenchmarkStatusUpdates ./core/dispatcher ;;
	metrics) # one /metrics scrape of the store gauges at the scale run's size
		bench 20x BenchmarkScrapeState100kTasks ./core/manager ;;
	sim)
		bench 3x BenchmarkStart100k ./runtime/sim ;;
	pipeline) # 3 managers + 3 workers as processes, process backend
		e2e '^(TestServiceLifecycle|TestAgentRestartKeepsTasks)$' 'converged|scale to|elsewhere|drain of|READY' ;;
	scale) # managers in their own processes; the points 600x25k .. 5000x200k, one at a time; table + chart
		local p out=() dir points="${SCALE_POINTS:-600x25000 1200x50000 2400x100000 5000x200000}"
		echo "== go run ./bench/scale -points P -json-out P.json for P in $points; then -from the files -png bench/scale/scale.png"
		dir="$(mktemp -d)"
		go build -o "$dir/scale" ./bench/scale
		for p in $points; do
			"$dir/scale" -q -points "$p" -json-out "$dir/$p.json" || true
			[[ -s "$dir/$p.json" ]] && out+=("$dir/$p.json")
		done
		((${#out[@]})) && "$dir/scale" -from "$(IFS=,; echo "${out[*]}")" -png bench/scale/scale.png
		rm -rf "$dir" ;;
	plugins) # Wasm and native side by side; compile, instantiate, host stall
		bench 5x 'SpreadWasmVsNative|Compile|Instantiate|HostStall' ./plugins ;;
	wasm) # native, sandbox and in-process passes; sandbox process memory
		bench 3x 'BenchmarkSpread100kOn2400$' ./plugins
		# native and Wasm timed in the same iterations (issue 14 must-show 3), and the one-task delta call
		bench 10x 'BenchmarkSpreadWasmVsNative$|BenchmarkScheduleOneTaskDelta$' ./plugins
		bench 10x 'BenchmarkValidate100kOn2400$' ./plugins/policytest ;;
	hostile) # the manager API while plugins misbehave
		e2e '^TestHostilePlugins$' 'ListNodes' ;;
	containerd)
		need_containerd
		bench 3x 'Start20|StartOne' ./runtime/containerd ;;
	containerd-e2e)
		need_containerd
		e2e '^TestContainerdStart20$' 'RUNNING on one worker|removed' ;;
	overlay) # root: real netns, veth, VXLAN
		bench 100x 'EnsureNetwork|Attach' ./network/overlay ;;
	overlay-throughput) # root: TCP between tasks on two test hosts over host networking, overlay, encrypted overlay
		bench 3s 'TCPThroughput|RequestLatency' ./network/overlay ;;
	gossip) # time until every member knows a new attachment: 3, 30, 200 members on loopback
		bench 10x Convergence ./core/gossip ;;
	mesh) # root: a node's published ports (network/lb.Mesh) reprogrammed in a test netns
		bench 100x MeshSync ./network/lb ;;
	list) printf '%s\n' "${groups[@]}" ;;
	*)
		echo "bench.sh: unknown group $1 (want one of: ${groups[*]})" >&2
		return 2 ;;
	esac
}

if (($# == 0)) || [[ $1 == all ]]; then
	set -- "${groups[@]}"
fi
for g in "$@"; do
	run_group "$g"
done
