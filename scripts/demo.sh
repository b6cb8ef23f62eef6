#!/usr/bin/env bash
# demo.sh: builds shoal and starts a local cluster on 127.0.0.1 — one manager
# and two workers — then runs a demo service and shows it converge, scale
# and list its tasks. The cluster keeps running until you press Ctrl-C.
#
# With containerd installed and run as root, the workers run real busybox
# containers (the script starts containerd and a registry on loopback with
# ./scripts/ci-services.sh). Without it they run plain processes; get
# containerd with `sudo ./scripts/install-deps.sh`. Force one with
#   SHOAL_DEMO_BACKEND=process|containerd ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SHOAL_DEMO_BACKEND:-}" ]; then
	if command -v containerd >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
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
cleanup() {
	echo
	echo "==> stopping the cluster"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
extra=()
image_args=(--process -- sh -c 'echo "task $SHOAL_TASK_SLOT started"; while true; do echo "hello from task $SHOAL_TASK_SLOT"; sleep 5; done')
if [ "$BACKEND" = containerd ]; then
	eval "$(./scripts/ci-services.sh | grep '^export ')"
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
echo "Press Ctrl-C to stop it."
while true; do sleep 3600; done
