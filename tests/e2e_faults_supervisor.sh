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
check "adapters never see KTX_FAILPOINT" sh -c "[ -s '$FLOG' ] && awk '\$5 != 0 { exit 1 }' '$FLOG'"
finish
