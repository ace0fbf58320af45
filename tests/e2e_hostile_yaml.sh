#!/bin/bash
# Hostile ktx.yaml files, one row of tests/hostile/yaml.tsv each: the exit
# status and the message of "ingest --dry-run", within bounded time and
# memory, and never a raw control character on stderr.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_hostile.sh"

unset KTX_PROJECT_DIR
[ -x /usr/bin/time ] || { echo "/usr/bin/time is required" >&2; exit 99; }
Y=$KTX_TOP_SRCDIR/tests/hostile/yaml
HEAD=$'connections:\n  wh: {driver: dbt, source_dir: dbt}\n'
# Sanitizer builds map more memory; their bound is looser.
MAXKB=65536
nm -u "$KTX_SUPERVISOR" 2>/dev/null | grep -q __asan && MAXKB=262144

# gen KIND N FILE: a generated hostile ktx.yaml.
gen() {
	case $1 in
	flow)	{ printf '%sscan: ' "$HEAD"; head -c "$2" /dev/zero | tr '\0' '['
		  head -c "$2" /dev/zero | tr '\0' ']'; echo; } >"$3" ;;
	block)	{ printf '%sscan:\n' "$HEAD"
		  awk -v n="$2" 'BEGIN { for (i = 1; i <= n; i++)
		      printf "%*sk%d:\n", i * 2, "", i }'; } >"$3" ;;
	seq)	{ printf '%sscan:\n  ' "$HEAD"
		  awk -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "- "; print "x" }'; } >"$3" ;;
	scalar)	{ printf '%sllm: "' "$HEAD"; head -c "$2" /dev/zero | tr '\0' x; echo '"'; } >"$3" ;;
	key)	{ printf '%sllm:\n  ' "$HEAD"; head -c "$2" /dev/zero | tr '\0' k; echo ': 1'; } >"$3" ;;
	comment) { printf '%s# ' "$HEAD"; head -c "$2" /dev/zero | tr '\0' c; echo; } >"$3" ;;
	keys)	{ printf '%sllm:\n' "$HEAD"
		  awk -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "  k%d: v\n", i }'; } >"$3" ;;
	fifo)	mkfifo "$3" ;;
	dev-zero) ln -s /dev/zero "$3" ;;
	symlink-loop) ln -s ktx.yaml "$3" ;;
	directory) mkdir "$3" ;;
	*)	echo "no generator for $1" >&2; return 1 ;;
	esac
}

# row CASE STATUS ERE: ingest --dry-run on that ktx.yaml.
row() {
	local case=$1 want=$2 ere=$3 d rc secs kb k n
	d=$T/p$((++rown))
	mkdir -p "$d"
	case $case in
	gen:*)	IFS=: read -r _ k n <<<"$case"; gen "$k" "$n" "$d/ktx.yaml" || return 1 ;;
	*)	cp "$Y/$case.yaml" "$d/ktx.yaml" || return 1 ;;
	esac
	/usr/bin/time -o "$d/time" -f '%e %M' timeout 10 \
	    "$KTX_SUPERVISOR" -C "$d" ingest --dry-run >"$T/out" 2>"$T/err"
	rc=$?
	read -r secs kb < <(tail -n 1 "$d/time") || { secs=99; kb=0; }
	[ "$rc" -eq "$want" ] || { echo "status $rc, expected $want" >&2; cat "$T/err" >&2; return 1; }
	fle "$secs" 2 || { echo "took $secs s" >&2; return 1; }
	[ "$kb" -le "$MAXKB" ] || { echo "$kb KiB resident" >&2; return 1; }
	if [ "$want" -eq 0 ]; then
		grep -q '^wh  ' "$T/out" || { echo "no plan:" >&2; cat "$T/out" "$T/err" >&2; return 1; }
	else
		[ ! -s "$T/out" ] || { echo "stdout:" >&2; cat "$T/out" >&2; return 1; }
		grep -Eq -- "$ere" "$T/err" ||
		    { echo "stderr does not match: $ere" >&2; cat "$T/err" >&2; return 1; }
	fi
	terminal_safe "$T/err"
}
# fle A B: A <= B for decimal numbers.
fle() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

rown=0
table_rows "$KTX_TOP_SRCDIR/tests/hostile/yaml.tsv" row

finish
