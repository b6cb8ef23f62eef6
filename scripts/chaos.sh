#!/usr/bin/env bash
# chaos.sh runs the chaos suite (e2e/chaos) for N rounds: 3 managers and 2
# workers as real shoal processes in their own network namespaces, one
# random fault per round (kill, pause, isolate-leader, split, one-way,
# lossy, delay, disk-full) while clients write and read through random
# managers; porcupine checks the histories. Needs root, ip, iptables and
# nsenter (scripts/install-deps.sh). On a failure it prints the seed and
# keeps the logs and porcupine's HTML visualisation (the directory is in
# the output).
#   ./scripts/chaos.sh --rounds 100 [--seed S] [--faults kill,split] [--summary FILE]
# SIGTERM to the test process (chaos.test) ends the run after the round in
# progress; the summary file is written after every round.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: $0 --rounds N [--seed S] [--faults F1,F2] [--summary FILE]" >&2; exit 2; }

rounds=3
while [[ $# -gt 0 ]]; do
	case "$1" in
	--rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
	--seed) export SHOAL_CHAOS_SEED="${2:?--seed needs a number}"; shift 2 ;;
	--faults) export SHOAL_CHAOS_FAULTS="${2:?--faults needs a comma list}"; shift 2 ;;
	--summary) export SHOAL_CHAOS_SUMMARY="${2:?--summary needs a file}"; shift 2 ;;
	*) usage ;;
	esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "chaos.sh: --rounds $rounds: want a positive number" >&2; exit 2; }
export SHOAL_CHAOS_ROUNDS="$rounds"
# About 30 s a round, plus the cluster's start; generous.
timeout="$((rounds * 3 + 10))m"
exec go test -count=1 -v -timeout "$timeout" -run '^TestChaos$' ./e2e/chaos
