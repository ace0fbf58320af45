#!/bin/sh
# Fault injection on the workers: the first worker to reach each point of
# its pipeline (ktx-worker(8) KTX_FAILPOINT) is killed with SIGKILL or sent
# SIGTERM there, with two more sources running; then the last squash of a
# run killed after its files were written.  After each: git fsck is clean,
# main moved only by whole squash commits, no process of the run is left,
# no git lock file and no control socket stay behind, the leftovers are
# what the results name and what recover lists, the next ingest --all
# lands the rest and recover --prune leaves nothing.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"
. "$KTX_TOP_SRCDIR/tests/lib_faults.sh"

for point in $FAULT_POINTS; do
	for fault in ${FAULTS:-kill-worker term-worker}; do
		fault_case "$point" "$fault"
	done
done
# The last squash of a run killed after its files were written: main stays
# old, the journal stays, and the next squash puts the files back first.
mkktx last-squash
CONNS=s1
config <<EOF
connections:
$(cmdconn s1 dbt writer)
EOF
BASE=$(head_of)
flog_mark
env KTX_FAILPOINT=squash KTX_FAILPOINT_FILE="$T/fp-last" \
    "$KTX_SUPERVISOR" -C "$P" ingest --json >"$T/out" 2>"$T/err" &
SUP=$!
wait_until 30 fp_reached "$T/fp-last"
run_pids >"$T/pids"
kill -KILL "$(fp_pid "$T/fp-last")"
wait "$SUP"
check "last squash: exit 1" [ $? -eq 1 ]
check "last squash: main did not move" [ "$(head_of)" = "$BASE" ]
check "last squash: the journal is left" [ -f "$P/.git/ktx-squash" ]
check "last squash: the checkout holds the squash's files" \
    [ -f "$P/wiki/global/s1-1.md" ]
check "last squash: git fsck is clean" git -C "$P" fsck --strict --no-progress --no-dangling
check "last squash: no process of the run is left" no_fault_survivors "$T/pids"
check "last squash: no git lock file is left" [ -z "$(git_locks)" ]
sup -C "$P" recover --json >"$T/rec"
check "last squash: recover lists exactly the leftovers" recover_lists_exactly "$T/rec"
check "last squash: recover names the journal" \
    jq -e 'any(.leftovers[]; .kind == "squash-journal")' "$T/rec" >/dev/null
sup -C "$P" recover --prune >/dev/null 2>&1
check "last squash: recover --prune puts the checkout back to main" sound
check "last squash: and leaves nothing" [ -z "$(on_disk)" ]
ingest --all
check "last squash: the next ingest --all succeeds" [ $? -eq 0 ]
check "last squash: s1 landed whole, the checkout matches main" all_landed
check "last squash: the journal is gone" [ ! -e "$P/.git/ktx-squash" ]

check "adapters never see KTX_FAILPOINT" sh -c "[ -s '$FLOG' ] && awk '\$5 != 0 { exit 1 }' '$FLOG'"
finish
