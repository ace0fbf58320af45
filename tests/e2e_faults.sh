#!/bin/sh
# Fault injection: a worker stopped at each point of its pipeline
# (ktx-worker(8) KTX_FAILPOINT) is killed with SIGKILL or sent SIGTERM, or
# the supervisor is sent SIGTERM there.  After each: git fsck is clean,
# main moved only by whole squash commits, no process of the run is left,
# no git lock file and no live control socket stay behind, the leftovers
# are what the fault explains, and the next ingest --all lands the rest.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"
. "$KTX_TOP_SRCDIR/tests/lib_faults.sh"

# fault_case POINT FAULT [db]: three sources at -j 3 (with db: a SQLite
# database target in stage 1 and two sources), the first worker to reach
# POINT stopped there, then FAULT: kill-worker, term-worker, term-sup or
# kill-sup.
fault_case() {
	local point=$1 fault=$2 name="$1 $2${3:+ (stage 1)}" fp victim conn rc want want_rc
	mkktx "$point-$fault${3:-}"
	if [ "${3:-}" = db ]; then
		CONNS="db s1 s2"
		config <<EOF
connections:
$(warehouse db "CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL);")
$(cmdconn s1 dbt writer)
$(cmdconn s2 notion writer)
EOF
	else
		CONNS="s1 s2 s3"
		config <<EOF
connections:
$(cmdconn s1 dbt writer)
$(cmdconn s2 notion writer)
$(cmdconn s3 metabase writer)
EOF
	fi
	BASE=$(head_of)
	fp=$T/fp-$point-$fault${3:-}
	flog_mark
	env --default-signal=INT KTX_FAILPOINT="$point" KTX_FAILPOINT_FILE="$fp" \
	    "$KTX_SUPERVISOR" -C "$P" ingest --json --all -j 3 --grace 2 \
	    >"$T/bg.out" 2>"$T/bg.err" &
	SUP=$!
	if ! wait_until 30 fp_reached "$fp"; then
		fail "$name: no worker reached the point"
		kill -KILL "$SUP"
		wait "$SUP"
		return
	fi
	victim=$(fp_pid "$fp")
	conn=$(ps -o args= -p "$victim" | awk '{ print $2 }')
	run_pids >"$T/pids"
	# Past the last safe point a SIGTERM lets the squash end.
	case $point in
	squash|cleanup) want=done ;;
	*) want=aborted ;;
	esac
	case $fault in
	kill-worker) kill -KILL "$victim"; want_rc=1 want=failed ;;
	term-worker)
		kill -TERM "$victim"
		want_rc=1
		[ $want = done ] && want_rc=0 ;;
	term-sup) kill -TERM "$SUP"; want_rc=143 ;;
	kill-sup) kill -KILL "$SUP"; want_rc=137 ;;
	esac
	wait "$SUP"
	rc=$?
	cp "$T/bg.out" "$T/out"
	if [ "$fault" = kill-sup ]; then
		check "$name: the workers end on their own" \
		    wait_until 10 no_fault_survivors "$T/pids" 2>/dev/null
	fi
	check "$name: exit $want_rc ($rc)" [ "$rc" -eq "$want_rc" ]
	check "$name: git fsck clean, the checkout matches main" sound
	check "$name: main moved by whole squash commits only" whole_squashes $CONNS
	check "$name: no process of the run is left" no_fault_survivors "$T/pids"
	check "$name: no git lock file is left" [ -z "$(git_locks)" ]
	if [ "$fault" = kill-sup ]; then
		check "$name: nothing answers on the control socket" no_listener
		check "$name: every session left has its sentinel" sentinels_everywhere
		check "$name: the sentinels say the supervisor is gone" sh -c "
		    cat '$P'/.ktx/worktrees/session-*/.ktx-outcome 2>/dev/null | jq -s -e '
		    all(.[]; .outcome == \"aborted\" and (.reason == \"the supervisor is gone\" or
		        .reason == \"landed, but its session was not removed: the supervisor is gone\"))' >/dev/null"
	else
		check "$name: the control socket is gone" [ ! -e "$P/.ktx/run/supervisor.sock" ]
		check "$name: the victim $conn is $want" result "$conn" ".status == \"$want\""
		check "$name: what is left is what the results name" leftovers_explained
	fi
	ingest --all -j 3
	check "$name: the next ingest --all succeeds" [ $? -eq 0 ]
	check "$name: after it, all landed whole, the repository sound" all_landed
}

all_landed() {
	local c
	for c in $CONNS; do
		[ -n "$(commits_of "$c")" ] || { echo "$c did not land" >&2; return 1; }
	done
	whole_squashes $CONNS && sound
}

# sentinels_everywhere: each session worktree has its sentinel and its
# branch, each session branch its worktree.
sentinels_everywhere() {
	local wt n=0
	for wt in "$P"/.ktx/worktrees/session-*; do
		[ -d "$wt" ] || continue
		n=$((n + 1))
		[ -f "$wt/.ktx-outcome" ] || { echo "no sentinel in $wt" >&2; return 1; }
		git -C "$P" rev-parse -q --verify "session/${wt##*/session-}" >/dev/null ||
		    { echo "no branch for $wt" >&2; return 1; }
	done
	[ "$(git -C "$P" branch --list 'session/*' | wc -l)" -eq "$n" ] || {
		git -C "$P" branch --list 'session/*' >&2
		return 1
	}
}

# leftovers_explained: done targets left nothing; the session worktrees
# on disk are the ones the results name, each with its sentinel, each
# with its branch.
leftovers_explained() {
	local wt disk named
	jq -e '[.results[] | select(.status == "done") | .worktree] | all(. == null)' \
	    "$T/out" >/dev/null || { echo "a done target kept its worktree" >&2; return 1; }
	named=$(jq -r '.results[] | select(.worktree != null) | .worktree' "$T/out" | sort)
	disk=$(ls -d "$P"/.ktx/worktrees/session-* 2>/dev/null | sort)
	[ "$named" = "$disk" ] || {
		echo "worktrees named: $named" >&2
		echo "worktrees on disk: $disk" >&2
		return 1
	}
	for wt in $disk; do
		[ -f "$wt/.ktx-outcome" ] || { echo "no sentinel in $wt" >&2; return 1; }
		git -C "$P" rev-parse -q --verify "session/${wt##*/session-}" >/dev/null ||
		    { echo "no branch for $wt" >&2; return 1; }
	done
	[ "$(git -C "$P" branch --list 'session/*' | wc -l)" -eq "$(echo "$disk" | grep -c .)" ] || {
		git -C "$P" branch --list 'session/*' >&2
		return 1
	}
}

for point in ${FAULT_POINTS:-session stage projection refresh reconciliation final-refresh gates squash cleanup}; do
	for fault in ${FAULTS:-kill-worker term-worker term-sup kill-sup}; do
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
ingest --all
check "last squash: the next ingest --all succeeds" [ $? -eq 0 ]
check "last squash: s1 landed whole, the checkout matches main" all_landed
check "last squash: the journal is gone" [ ! -e "$P/.git/ktx-squash" ]

check "adapters never see KTX_FAILPOINT" sh -c "[ -s '$FLOG' ] && awk '\$5 != 0 { exit 1 }' '$FLOG'"
finish
