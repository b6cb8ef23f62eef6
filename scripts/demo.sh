#!/usr/bin/env bash
# demo.sh: builds shoal and starts a local cluster on 127.0.0.1 — one manager
# and two workers — then runs a demo service and shows it converge, scale
# and list its tasks. The cluster keeps running until you press Ctrl-C.
#
# Run as root on Debian, it installs containerd, runc and a registry from
# Debian's packages (./scripts/install-deps.sh), starts them on loopback
# (./scripts/ci-services.sh) and the workers run real busybox containers.
# Otherwise they run plain processes. Force one with
#   SHOAL_DEMO_BACKEND=process|containerd ./scripts/demo.sh
# SHOAL_DEMO_ONCE=1 stops the cluster after the tour instead of waiting for
# Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SHOAL_DEMO_BACKEND:-}" ]; then
	if [ "$(id -u)" = 0 ] && { command -v containerd >/dev/null 2>&1 || command -v apt-get >/dev/null 2>&1; }; then
		./scripts/install-deps.sh
		SHOAL_DEMO_BACKEND=containerd
	else
		SHOAL_DEMO_BACKEND=process
		echo "==> containerd not available (or not root): using the process backend; install containerd with 'sudo ./scripts/install-deps.sh'"
	fi
fi
BACKEND="$SHOAL_DEMO_BACKEND"
DIR="$(mktemp -d /tmp/shoal-demo.XXXXXX)"
BIN="$DIR/shoal"
PORT="${SHOAL_DEMO_PORT:-4242}"
echo "==> building shoal"
go build -o "$BIN" ./cmd/shoal
pids=()
node_ids=()
cleanup() {
	echo
	if [ -n "${SHOAL_DATA_DIR:-}" ]; then
		echo "==> shoal service rm demo"
		"$BIN" service rm demo >/dev/null 2>&1 || true
		# Wait until the workers removed the demo's containers or processes.
		for _ in $(seq 150); do
			left=0
			if [ "$BACKEND" = containerd ]; then
				for id in "${node_ids[@]}"; do
					left=$((left + $(ctr -a "$SHOAL_CONTAINERD_ADDRESS" -n "shoal-$id" containers ls -q 2>/dev/null | wc -l)))
				done
			else
				left=$(pgrep -fc 'hello from task' || true)
			fi
			[ "$left" = 0 ] && break
			sleep 0.2
		done
	fi
	echo "==> stopping the cluster"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
extra=()
image_args=(--process -- sh -c 'echo "task $SHOAL_TASK_SLOT started"; while true; do echo "hello from task $SHOAL_TASK_SLOT"; sleep 5; done')
if [ "$BACKEND" = containerd ]; then
	services="$(./scripts/ci-services.sh)" || {
		echo "demo: ci-services.sh could not start containerd and the registry (above); SHOAL_DEMO_BACKEND=process runs the demo without them" >&2
		exit 1
	}
	eval "$(grep '^export ' <<<"$services")"
	extra=(--backend containerd --containerd-address "$SHOAL_CONTAINERD_ADDRESS" --insecure-registry 127.0.0.1:5000)
	image_args=(127.0.0.1:5000/busybox:latest sh -c 'echo "hello from task $(hostname)" > /tmp/index.html; exec httpd -f -p 8080 -h /tmp')
fi
echo "==> shoal init (manager on 127.0.0.1:$PORT, data in $DIR)"
"$BIN" init --data-dir "$DIR/manager" --listen-addr "127.0.0.1:$PORT" --hostname manager "${extra[@]}" >"$DIR/manager.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -S "$DIR/manager/shoal.sock" ] && "$BIN" --data-dir "$DIR/manager" node ls >/dev/null 2>&1 && break; sleep 0.1; done
TOKEN="$("$BIN" --data-dir "$DIR/manager" join-token worker -q)"
for w in 1 2; do
	echo "==> shoal join worker$w"
	"$BIN" join --data-dir "$DIR/worker$w" --hostname "worker$w" --token "$TOKEN" "127.0.0.1:$PORT" "${extra[@]}" >"$DIR/worker$w.log" 2>&1 &
	pids+=($!)
done
export SHOAL_DATA_DIR="$DIR/manager"
for _ in $(seq 100); do [ "$("$BIN" node ls --format json | grep -c '"NODE_STATE_READY"')" -ge 3 ] && break; sleep 0.2; done
echo "==> shoal node ls"
"$BIN" node ls
mapfile -t node_ids < <("$BIN" node ls --format json | grep -o '"id": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
echo "==> shoal service create --name demo --replicas 3 ..."
"$BIN" service create --name demo --replicas 3 "${image_args[@]}"
echo "==> shoal service scale demo=6"
"$BIN" service scale demo=6
echo "==> shoal service ls"
"$BIN" service ls
echo "==> shoal service ps demo"
"$BIN" service ps demo
if [ "$BACKEND" = containerd ]; then
	ip="$("$BIN" service ps demo --format json | grep -A1 '"addresses"' | grep -o '[0-9][0-9.]*[0-9]' | head -1)"
	if [ -n "$ip" ]; then
		echo "==> curl http://$ip:8080/ (one task's own address)"
		curl -fsS "http://$ip:8080/" || true
	fi
else
	echo "==> shoal service logs --tail 2 demo"
	"$BIN" service logs --tail 2 demo || true
fi
echo
echo "The cluster is running. Try, in another shell:"
echo "    export SHOAL_DATA_DIR=$DIR/manager"
echo "    $BIN service ps demo"
if [ -n "${SHOAL_DEMO_ONCE:-}" ]; then
	exit 0
fi
echo "Press Ctrl-C to stop it."
while true; do sleep 3600; done
