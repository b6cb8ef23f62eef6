#!/usr/bin/env bash
# install-deps.sh installs, from Debian's packages, what shoal's tests and the
# containerd backend need: containerd, runc, a registry, skopeo, busybox for the
# test image, iproute2 for container networks, prometheus for promtool (the
# metrics test lints /metrics with it), Node.js for the web view's build and
# chromium for its browser test. Idempotent; needs root.
set -euo pipefail
need=()
for pair in containerd:containerd runc:runc docker-registry:docker-registry skopeo:skopeo busybox-static:/bin/busybox ip:iproute2 iptables:iptables curl:curl promtool:prometheus node:nodejs npm:npm chromium:chromium; do
	bin="${pair%%:*}"; pkg="${pair#*:}"
	case "$bin" in busybox-static) command -v busybox >/dev/null 2>&1 || need+=(busybox-static) ;; *) command -v "$bin" >/dev/null 2>&1 || need+=("$pkg") ;; esac
done
if ((${#need[@]})); then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: need root to apt-get install ${need[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	# Only promtool is wanted: a freshly installed prometheus server stays off.
	if [[ " ${need[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now prometheus >/dev/null 2>&1 || true
	fi
fi
echo "install-deps: containerd $(containerd --version | awk '{print $3}'), runc $(runc --version | head -1 | awk '{print $3}')"
