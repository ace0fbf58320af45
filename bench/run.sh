#!/bin/sh
# make bench: the lock round-trip benchmark, with the machine it ran on.
# Run by hand, never by make check.  Usage: run.sh LOCK_ROUNDTRIP [PAIRS]
set -e
bin=${1:?usage: run.sh path/to/lock_roundtrip [pairs]}
shift
echo "machine: $(nproc) cores, $(uname -sr), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "== both processes free to run on any core"
"$bin" "$@"
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	echo "== both processes pinned to one core (taskset -c 0)"
	taskset -c 0 "$bin" "$@"
fi
