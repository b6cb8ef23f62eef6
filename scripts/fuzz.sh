#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module (each `func FuzzX` in a
# _test.go file) for a while, one `go test -fuzz` per target, niced, with
# -parallel=1, and prints one line per target. A crasher lands in the
# package's testdata/fuzz/FuzzX/ (commit it with the fix: it stays a
# regression test); its log stays in the log dir.
#   ./scripts/fuzz.sh                      # every target, 1 minute each
#   ./scripts/fuzz.sh --time 10m           # the long run recorded in RELIABILITY.md
#   ./scripts/fuzz.sh --jobs 3 --time 10m  # three targets at a time
#   ./scripts/fuzz.sh --list               # the targets, "package target" per line
#   ./scripts/fuzz.sh --only 'Token|Record' # targets whose name matches
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=1m jobs=1 only=. list=0
logs="${FUZZ_LOGS:-$(mktemp -d -t shoal-fuzz.XXXXXX)}"
mkdir -p "$logs"
while (($#)); do
	case "$1" in
	--time) fuzztime="$2"; shift 2 ;;
	--jobs) jobs="$2"; shift 2 ;;
	--only) only="$2"; shift 2 ;;
	--list) list=1; shift ;;
	*) echo "fuzz.sh: unknown argument $1 (use --time D, --jobs N, --only REGEX, --list)" >&2; exit 2 ;;
	esac
done

# targets prints "./package FuzzName" for every fuzz target in the module.
targets() {
	git ls-files '*_test.go' | xargs grep -H '^func Fuzz[A-Za-z0-9_]*(' |
		sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#./\1 \2#' |
		grep -E " Fuzz.*(${only})" | sort -u
}

if ((list)); then
	targets
	exit 0
fi

# one PACKAGE TARGET: fuzzes one target and prints its verdict line.
one() {
	local pkg="$1" name="$2" log start rc=0
	log="$logs/$(echo "${pkg#./}" | tr / _)_$name.log"
	start=$(date +%s)
	nice -n 19 go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel=1 -timeout 0 "$pkg" >"$log" 2>&1 || rc=$?
	local execs
	execs="$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo '?')"
	if ((rc == 0)); then
		echo "ok   $pkg $name ${fuzztime} execs=$execs wall=$(($(date +%s) - start))s"
	else
		echo "FAIL $pkg $name (log: $log)"
	fi
	return "$rc"
}
export -f one
export fuzztime logs

echo "fuzz.sh: -fuzztime $fuzztime, $jobs at a time, logs in $logs ($(date -u +%FT%TZ), $(nproc) cores)"
rc=0
targets | xargs -P "$jobs" -L 1 bash -c 'one "$0" "$1"' || rc=$?
echo "fuzz.sh: done $(date -u +%FT%TZ), exit $rc"
exit "$rc"
