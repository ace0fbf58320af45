#!/bin/bash
# Hostile command lines, one row of tests/hostile/cli.tsv each: the exit
# status, the first line of stderr, nothing on stdout for an error, nothing
# on stderr for a success, and never a raw control character or a byte that
# is not UTF-8 on stderr.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_hostile.sh"

unset KTX_PROJECT_DIR
P=$T/proj
E=$T/empty
mkdir -p "$P" "$E"
cp "$KTX_TOP_SRCDIR/examples/demo/ktx.yaml" "$P/ktx.yaml"

# row STATUS ERE ARG...: run the supervisor with the args, judge the run.
row() {
	local want=$1 ere=$2 a rc
	local -a args=()
	shift 2
	for a in "$@"; do
		a=${a//@P/$P}
		a=${a//@E/$E}
		args+=("$(printf '%b' "$a")")
	done
	ere=${ere//@P/$P}
	ere=${ere//@E/$E}
	timeout 10 "$KTX_SUPERVISOR" "${args[@]}" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq "$want" ] || { echo "status $rc, expected $want" >&2; cat "$T/err" >&2; return 1; }
	if [ "$want" -eq 0 ]; then
		[ ! -s "$T/err" ] || { echo "stderr:" >&2; cat "$T/err" >&2; return 1; }
	else
		[ ! -s "$T/out" ] || { echo "stdout:" >&2; cat "$T/out" >&2; return 1; }
		head -n 1 "$T/err" | grep -Eq -- "$ere" ||
		    { echo "stderr does not match: $ere" >&2; cat "$T/err" >&2; return 1; }
	fi
	terminal_safe "$T/err"
}

table_rows "$KTX_TOP_SRCDIR/tests/hostile/cli.tsv" row

finish
