#!/usr/bin/env bash
# ci-services.sh starts the services the runtime/containerd tests need, idempotently:
#   - containerd (its own config, root, state and socket under $SHOAL_CI_DIR; CRI disabled)
#   - Debian's docker-registry on 127.0.0.1:5000 (storage under $SHOAL_CI_DIR)
#   - the busybox test image, built by internal/testimage and pushed with skopeo to
#     127.0.0.1:5000/busybox:latest
# It writes $SHOAL_CI_DIR/env (source it: exports SHOAL_CONTAINERD_ADDRESS and
# SHOAL_TEST_REGISTRY) and prints the same lines. Stop everything with ci-services-stop.sh.
# Needs root plus: apt-get install -y containerd runc docker-registry skopeo busybox-static
set -euo pipefail

DIR="${SHOAL_CI_DIR:-/tmp/shoal-ci}"
REGISTRY_ADDR="${SHOAL_CI_REGISTRY:-127.0.0.1:5000}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Several people/CI jobs may run this (and the stop script) at once: serialise them.
exec 9>"$DIR.lock"
flock 9
mkdir -p "$DIR/containerd" "$DIR/registry/data" "$DIR/image"
SOCK="$DIR/containerd/containerd.sock"

for bin in containerd runc docker-registry skopeo; do
	command -v "$bin" >/dev/null || { echo "ci-services: $bin not installed (apt-get install -y containerd runc docker-registry skopeo busybox-static)" >&2; exit 1; }
done

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_recorded PIDFILE: stops a process this script started earlier that no longer answers.
stop_recorded() {
	local pid i
	pid="$(cat "$1")"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$1"
}

containerd_ok() { timeout 5 ctr --address "$SOCK" version; }
registry_ok() { timeout 5 curl -fsS "http://$REGISTRY_ADDR/v2/"; }

wait_for() { # wait_for DESCRIPTION SECONDS COMMAND...
	local what="$1" secs="$2"; shift 2
	local i
	for ((i = 0; i < secs * 10; i++)); do
		if timeout 5 "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	echo "ci-services: $what did not answer within ${secs}s" >&2
	return 1
}

# wait_started NAME DIR COMMAND...: waits up to 30 s for a service this script
# started (pid in DIR/pid, log in DIR/NAME.log) to answer COMMAND; fails at once,
# with the log's tail, when the process has exited.
wait_started() {
	local name="$1" dir="$2" i; shift 2
	for ((i = 0; i < 300; i++)); do
		if timeout 5 "$@" >/dev/null 2>&1; then return 0; fi
		if ! alive "$dir/pid"; then
			echo "ci-services: $name exited instead of starting; the end of $dir/$name.log:" >&2
			tail -20 "$dir/$name.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "ci-services: $name did not answer within 30s; the end of $dir/$name.log:" >&2
	tail -20 "$dir/$name.log" >&2
	return 1
}

# --- containerd ---------------------------------------------------------------
if alive "$DIR/containerd/pid" && ! containerd_ok >/dev/null 2>&1; then
	echo "ci-services: recorded containerd $(cat "$DIR/containerd/pid") does not answer on $SOCK; restarting it" >&2
	stop_recorded "$DIR/containerd/pid"
fi
if ! alive "$DIR/containerd/pid"; then
	cat >"$DIR/containerd/config.toml" <<CFG
version = 2
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[debug]
  address = "$DIR/containerd/debug.sock"
  level = "info"
CFG
	rm -f "$SOCK" "$SOCK.ttrpc" "$DIR/containerd/debug.sock"
	setsid containerd --config "$DIR/containerd/config.toml" >"$DIR/containerd/containerd.log" 2>&1 </dev/null 9>&- &
	echo $! >"$DIR/containerd/pid"
fi
wait_started containerd "$DIR/containerd" ctr --address "$SOCK" version || exit 1

# --- registry -----------------------------------------------------------------
if alive "$DIR/registry/pid" && ! registry_ok >/dev/null 2>&1; then
	echo "ci-services: recorded registry $(cat "$DIR/registry/pid") does not answer on $REGISTRY_ADDR; restarting it" >&2
	stop_recorded "$DIR/registry/pid"
fi
if ! alive "$DIR/registry/pid"; then
	cat >"$DIR/registry/config.yml" <<CFG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/registry/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
CFG
	setsid docker-registry serve "$DIR/registry/config.yml" >"$DIR/registry/registry.log" 2>&1 </dev/null 9>&- &
	echo $! >"$DIR/registry/pid"
fi
wait_started registry "$DIR/registry" curl -fsS "http://$REGISTRY_ADDR/v2/" || exit 1

# --- test image ---------------------------------------------------------------
if ! timeout 10 curl -fsS -o /dev/null 2>/dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REGISTRY_ADDR/v2/busybox/manifests/latest"; then
	(cd "$REPO_ROOT" && go run ./internal/testimage -out "$DIR/image/busybox")
	skopeo copy --quiet --dest-tls-verify=false "oci:$DIR/image/busybox:latest" "docker://$REGISTRY_ADDR/busybox:latest"
fi
wait_for "busybox image in registry" 30 curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REGISTRY_ADDR/v2/busybox/manifests/latest"

cat >"$DIR/env" <<ENV
export SHOAL_CONTAINERD_ADDRESS=$SOCK
export SHOAL_TEST_REGISTRY=$REGISTRY_ADDR
ENV
cat "$DIR/env"
