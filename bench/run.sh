#!/bin/sh
# make bench: every benchmark of bench/, each printing one line of figures
# with the verdict against its goal, after a line about the machine and its
# load.  Run by hand, never by make check.  Method, goals and figures:
# docs/benchmarks.md.
#
# usage: bench/run.sh BUILDDIR [NAME...]
#   NAME: lock contention final-window gates scheduling scan memory scale
#   (default all, in that order; make bench BENCH="gates scan" picks some)
#   BENCH_DIR=/tmp	where the projects are generated
#   PERF=1		each under perf stat (task-clock, context switches)
#   CALLGRIND=1	instruction counts (callgrind) of the CPU-bound ones:
#			gates (one run of each case), lock (per pair, both
#			processes), scan (the worker, the whole ingest)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: run.sh BUILDDIR [NAME...]}" && pwd)
shift
names=${*:-lock contention final-window gates scheduling scan memory scale}
base=${BENCH_DIR:-${TMPDIR:-/tmp}}
# Nothing a benchmark made is deleted before the last one has run: on ext4
# a file created within a minute or so of a mass deletion waits while the
# inode allocator skips the recently freed inodes, and the final window's
# 50,000-file projects, deleted, tripled the next benchmarks' times.
work=$(mktemp -d "$base/ktx-bench-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
export TMPDIR="$work" KTX_KEEP_TMP=1

echo "machine: $(nproc) cores, $(awk '/^MemTotal/ { printf "%d MiB", $2 / 1024 }' /proc/meminfo)," \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
    "$(uname -sr), $(df -T "$work" | awk 'NR == 2 { print $2 }') $base;" \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"

# callgrind [VALGRIND-OPTION...] -- PROGRAM ARGS: the program's
# instruction count, over all its processes.
callgrind() {
	rm -f "$work"/ktx-bench-cg.*
	vopts=
	while [ "$1" != -- ]; do vopts="$vopts $1"; shift; done
	shift
	# shellcheck disable=SC2086
	valgrind --tool=callgrind --trace-children=yes $vopts \
	    --callgrind-out-file="$work/ktx-bench-cg.%p" "$@" >/dev/null 2>&1
	cat "$work"/ktx-bench-cg.* | awk '/^summary:/ { s += $2 } END { print s }'
	rm -f "$work"/ktx-bench-cg.*
}

one() {
	case $1 in
	lock)
		"$build/bench/lock_roundtrip" ;;
	contention)
		"$build/bench/lock_contention" 32 1000 ;;
	final-window)
		"$build/bench/final_window" -k -r "${RUNS:-11}" \
		    -w "$work/ktx-bench-fw" 1000 10000 50000 ;;
	gates)
		"$build/bench/gates" -k -r "${RUNS:-11}" -w "$work" ;;
	scheduling | scan | memory | scale)
		sh "$top/bench/e2e.sh" "$build" "$1" ;;
	*)
		echo "run.sh: no benchmark \"$1\"" >&2
		return 2 ;;
	esac
}

for name in $names; do
	if [ "${PERF:-0}" = 1 ] && command -v perf >/dev/null; then
		perf stat -x, -e task-clock,context-switches \
		    -o "$work/ktx-bench-perf" env PERF=0 CALLGRIND=0 \
		    sh "$0" "$build" "$name" |
		    tail -n +2
		awk -F, -v n="$name" '$3 == "task-clock" { t = $1 }
		    $3 == "context-switches" { c = $1 }
		    END { printf "  perf stat %s: task-clock %.0f ms, %d context switches\n", n, t, c }' \
		    "$work/ktx-bench-perf"
		rm -f "$work/ktx-bench-perf"
	else
		one "$name"
	fi
	[ "${CALLGRIND:-0}" = 1 ] || continue
	case $name in
	gates)
		for c in page sl; do
			n=$(callgrind --toggle-collect=gates_run -- \
			    "$build/bench/gates" -r 1 -c $c -w "$work")
			echo "  callgrind gates, one $c change: $n instructions"
		done ;;
	lock)
		n=$(callgrind -- "$build/bench/lock_roundtrip" -p 10000)
		echo "  callgrind lock: $((n / 12000)) instructions a pair," \
		    "client and server together (12,000 pairs with the" \
		    "warm-up, start-up included)" ;;
	scan)
		n=$(sh "$top/bench/e2e.sh" "$build" scan-ir)
		echo "  callgrind scan: $n instructions in the worker" ;;
	esac
done
