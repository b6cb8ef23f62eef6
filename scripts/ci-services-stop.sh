#!/usr/bin/env bash
# ci-services-stop.sh stops what ci-services.sh started (by the pids it recorded).
# With --purge it also deletes $SHOAL_CI_DIR (containerd root, registry storage, image).
set -uo pipefail

DIR="${SHOAL_CI_DIR:-/tmp/shoal-ci}"

exec 9>"$DIR.lock" # serialised with ci-services.sh
flock 9

stop_pid() { # stop_pid PIDFILE NAME
	local pidfile="$1" name="$2" pid i
	[ -f "$pidfile" ] || return 0
	pid="$(cat "$pidfile")"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
		echo "stopped $name ($pid)"
	fi
	rm -f "$pidfile"
}

stop_pid "$DIR/registry/pid" registry
stop_pid "$DIR/containerd/pid" containerd
rm -f "$DIR/env"

if [ "${1:-}" = "--purge" ]; then
	# Shims outlive containerd; kill the ones whose socket lives in our state dir.
	for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $DIR/containerd/" || true); do
		kill -KILL "$p" 2>/dev/null || true
	done
	grep " $DIR/" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$DIR"
	echo "purged $DIR"
fi
