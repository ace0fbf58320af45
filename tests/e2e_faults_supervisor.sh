#!/bin/sh
# Fault injection on the supervisor: SIGTERM and SIGKILL to it while the
# first worker to reach each point of its pipeline (ktx-worker(8)
# KTX_FAILPOINT) waits there, two more sources running, some waiting for
# the repo lock; then in stage 1, the database target stopped, SIGKILL of
# its worker, SIGTERM and SIGKILL of the supervisor.  After each, the
# invariants of e2e_faults.sh; after a SIGKILL the workers end on their
# own, keep their sessions with a sentinel, and recover names the dead
# supervisor's pidfile and socket.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"
. "$KTX_TOP_SRCDIR/tests/lib_faults.sh"

for point in $FAULT_POINTS; do
	for fault in ${FAULTS:-term-sup kill-sup}; do
		fault_case "$point" "$fault"
	done
done
# Stage 1: the database target is the one stopped; the sources wait for
# the barrier.
for point in ${FAULT_DB_POINTS:-stage final-refresh squash}; do
	for fault in ${FAULTS:-kill-worker term-sup kill-sup}; do
		fault_case "$point" "$fault" db
	done
done
# SIGKILL of the supervisor while an adapter runs: the worker kills its
# adapter itself, and that death is not the adapter's failure.  The cases
# above reach this only when the kill happens to find an adapter running.
mkktx adapter-running
mkfifo "$T/never"
adapter blocked <<EOF
page never-page 'Never lands.'
wait_fifo "$T/never"
EOF
config <<EOF
connections:
$(cmdconn blocked dbt blocked)
EOF
"$KTX_SUPERVISOR" -C "$P" ingest --json >"$T/out" 2>"$T/err" &
SUP=$!
adapter_running() {
	ps -eo ppid=,args= | awk -v s="$SUP" \
	    '$1 == s && $2 == "ktx-worker:" && $3 == "blocked" && $4 == "adapter"' |
	    grep -q .
}
check "adapter running: the worker is in its adapter phase" \
    wait_until 30 adapter_running
kill -KILL "$SUP"
wait "$SUP"
check "adapter running: the worker ends on its own, its session kept" \
    wait_until 30 sh -c "cat '$P'/.ktx/worktrees/session-*/.ktx-outcome \
    >/dev/null 2>&1 && ! pgrep -f 'ktx-worke[r]: blocked' >/dev/null"
check "adapter running: the sentinel says aborted, the supervisor is gone" \
    sh -c "cat '$P'/.ktx/worktrees/session-*/.ktx-outcome | jq -e '
    .outcome == \"aborted\" and .reason == \"the supervisor is gone\"'"
check "adapter running: no adapter is left" sh -c "! pgrep -f '$T/blocke[d].sh'"

check "adapters never see KTX_FAILPOINT" sh -c "[ -s '$FLOG' ] && awk '\$5 != 0 { exit 1 }' '$FLOG'"
finish
