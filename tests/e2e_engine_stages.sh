#!/bin/sh
# The engine's stages: database targets one at a time, the barrier before
# the source targets (also when a database target fails), the source
# concurrency limit, and failures that stop nothing else.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"

command -v jq >/dev/null || { echo "jq is required (scripts/deps installs it)" >&2; exit 99; }

# --- The barrier: 2 database targets (the second fails), 4 sources. ---
L=$T/barrier.log
mkproject barrier
{
	echo "connections:"
	conn db1 sqlite "$L" sleep 0.3
	conn db2 sqlite "$L" sleep 0.3 1
	for i in 1 2 3 4; do conn "src$i" dbt "$L" sleep 0.2; done
} >"$P/ktx.yaml"
sup -C "$P" ingest -j 4 --json >"$T/out" 2>"$T/err"
rc=$?

check "barrier: a failed database target makes the run exit 1" [ "$rc" -eq 1 ]
check "barrier: all six adapters ran" [ "$(lines "$L" end)" -eq 6 ]
db1_end=$(field "$L" end db1 3)
db2_start=$(field "$L" start db2 3)
db2_end=$(field "$L" end db2 3)
check "barrier: database targets run one at a time" fle "$db1_end" "$db2_start"
first_src=$(awk '$1 == "start" && $2 ~ /^src/ { print $3 }' "$L" | sort -n | head -1)
check "barrier: no source starts before the last database worker exited" \
    fle "$db2_end" "$first_src"
check "barrier: sources overlap once the barrier is passed" \
    [ "$(max_overlap "$L" src)" -eq 4 ]
check "barrier: db2 failed, everything else done" jq_ok '
    [.results[] | .status] == ["done","failed","done","done","done","done"]
    and .results[1].exitCode == 1' "$T/out"

# Database targets start in stage 1 even when listed after the sources.
L=$T/order.log
mkproject order
{
	echo "connections:"
	conn aaa dbt "$L" sleep 0.1
	conn zzz sqlite "$L" sleep 0.2
} >"$P/ktx.yaml"
sup -C "$P" ingest >/dev/null 2>&1
check "barrier: a database target sorted after a source runs first" \
    fle "$(field "$L" end zzz 3)" "$(field "$L" start aaa 3)"

# --- Concurrency: at most N sources at once, and N reached. ---
concurrency() {	# N SOURCES EXPECTED-MAX
	local n="$1" nsrc="$2" expect="$3" i
	L=$T/conc$n.log
	mkproject "conc$n"
	{
		echo "connections:"
		i=0
		while [ "$i" -lt "$nsrc" ]; do
			i=$((i + 1))
			conn "s$i" dbt "$L" sleep 0.4
		done
	} >"$P/ktx.yaml"
	sup -C "$P" ingest -j "$n" >"$T/out" 2>"$T/err"
	check "concurrency -j $n: exit 0" [ $? -eq 0 ]
	check "concurrency -j $n: every source ran" [ "$(lines "$L" end)" -eq "$nsrc" ]
	check "concurrency -j $n: max overlap is $expect" \
	    [ "$(max_overlap "$L")" -eq "$expect" ]
}
concurrency 1 3 1
concurrency 3 4 3
concurrency 8 4 4

# The next source starts as soon as one ends, not when a batch does.
L=$T/rolling.log
mkproject rolling
{
	echo "connections:"
	conn s1 dbt "$L" sleep 0.2
	conn s2 dbt "$L" sleep 1
	conn s3 dbt "$L" sleep 1
	conn s4 dbt "$L" sleep 0.1
} >"$P/ktx.yaml"
sup -C "$P" ingest -j 3 >/dev/null 2>&1
check "concurrency: s4 starts when s1 ends, before s2 and s3 do" \
    between "$(field "$L" end s1 3)" "$(field "$L" start s4 3)" "$(field "$L" end s2 3)"

# ingest.sources.maxConcurrency from ktx.yaml, when -j is not given.
L=$T/yaml.log
mkproject yaml
{
	echo "connections:"
	for i in 1 2 3; do conn "s$i" dbt "$L" sleep 0.3; done
	printf 'ingest:\n  sources:\n    maxConcurrency: 2\n'
} >"$P/ktx.yaml"
sup -C "$P" ingest >/dev/null 2>&1
check "concurrency: maxConcurrency 2 from ktx.yaml" [ "$(max_overlap "$L")" -eq 2 ]

# --- Failure isolation: failing sources stop nothing. ---
L=$T/iso.log
mkproject iso
{
	echo "connections:"
	conn a dbt "$L" fail 2
	conn b dbt "$L" sleep 0.1
	conn c dbt "$L" fail 5
	conn d dbt "$L" sleep 0.1
} >"$P/ktx.yaml"
sup -C "$P" ingest -j 1 --json >"$T/out" 2>"$T/err"
check "isolation: exit 1" [ $? -eq 1 ]
check "isolation: the others ran after each failure" jq_ok '
    [.results[] | .status, .exitCode] == ["failed",2,"done",0,"failed",5,"done",0]' "$T/out"

finish
