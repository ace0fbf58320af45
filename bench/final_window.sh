#!/bin/sh
# The final window's git work (refresh a session from main, squash it into
# main) by gitops and by the git command line, on projects of 1,000, 10,000
# and 50,000 files.  Method and figures: docs/benchmarks.md.
#
# usage: bench/final_window.sh [builddir]
#   SIZES="1000 10000 50000"  RUNS=11  BENCH_DIR=/tmp/ktx-bench
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build/dev}
[ -f "$build/Makefile" ] || {
	echo "final_window.sh: no configured build in $build" >&2
	exit 2
}
make -s -C "$build" bench/final_window
echo "# $(nproc) cores, $(uname -sr), $(git --version)," \
    "libgit2 $(pkg-config --modversion libgit2)," \
    "$(df -T "${BENCH_DIR:-/tmp}" | awk 'NR == 2 { print $2 }')"
# shellcheck disable=SC2086
exec "$build/bench/final_window" -r "${RUNS:-11}" \
    -w "${BENCH_DIR:-/tmp/ktx-bench}" ${SIZES:-1000 10000 50000}
