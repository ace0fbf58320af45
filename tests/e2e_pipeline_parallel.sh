#!/bin/sh
# Sources in parallel: the refresh from main lets a page link to what a
# sibling landed; two versions of one page conflict on the refresh; final
# windows never overlap; a run leaves no worktree or session branch; a
# worker killed inside its final window leaves main old or new, the
# repository sound, a crash sentinel, and the next waiter proceeds.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"

# landed DRIVER: main has a squash commit of a DRIVER source.
landed() { git -C "$P" log --format=%s | grep -q "^ingest($1): "; }

# bg_ingest ARGS...: ingest --json in the background; $SUP its pid.
bg_ingest() {
	"$KTX_SUPERVISOR" -C "$P" ingest --json "$@" >"$T/out" 2>"$T/err" &
	SUP=$!
}

# worker_in CONN PHASE: the pid of CONN's worker, a child of $SUP (other
# runs may have workers of the same name), while its title says PHASE.
worker_in() {
	ps -eo pid=,ppid=,args= | awk -v s="$SUP" -v c="$1" -v p="$2" \
	    '$2 == s && $3 == "ktx-worker:" && $4 == c && $5 == p { print $1; exit }'
}
in_phase() { [ -n "$(worker_in "$1" "$2")" ]; }

# --- A link to a page a sibling lands before this source's refresh. ---
# The linker's session starts from main without the page; the sibling lands
# it while the linker's adapter waits.
mkktx link
mkfifo "$T/go-lands" "$T/go-link"
adapter lands <<EOF
page landed-page 'Landed by the sibling.'
wait_fifo "$T/go-lands"
EOF
adapter links <<EOF
page linker 'See [[landed-page]] for the details.'
touch "$T/links.started"
wait_fifo "$T/go-link"
EOF
config <<EOF
connections:
$(cmdconn a_links dbt links)
$(cmdconn b_lands notion lands)
EOF
bg_ingest -j 2
wait_until 20 test -e "$T/links.started"
post "$T/go-lands"
check "link: the sibling lands while the linker's adapter waits" \
    wait_until 20 landed notion
post "$T/go-link"
wait "$SUP"
check "link: exit 0" [ $? -eq 0 ]
check "link: both done, the gates passed" result a_links '.status == "done" and .commit != null'
check "link: the refresh brought the sibling's commit in" has_event a_links '
    .event == "session_refreshed_from_root" and .data.phase == "before_reconciliation" and
    .data.result.changed == true'
check "link: main has both pages" sh -c "
    git -C '$P' show HEAD:wiki/global/linker.md | grep -q '\[\[landed-page\]\]' &&
    git -C '$P' show HEAD:wiki/global/landed-page.md >/dev/null"
check "link: nothing left behind" no_leftovers

# --- Two versions of one page: the second conflicts on its refresh. ---
mkktx conflict
mkfifo "$T/go-first" "$T/go-second"
adapter first <<EOF
page shared 'The first version.'
wait_fifo "$T/go-first"
EOF
adapter second <<EOF
page shared 'The second version.'
touch "$T/second.started"
wait_fifo "$T/go-second"
EOF
config <<EOF
connections:
$(cmdconn a_first dbt first)
$(cmdconn b_second notion second)
EOF
bg_ingest -j 2
wait_until 20 test -e "$T/second.started"
post "$T/go-first"
check "conflict: the first lands" wait_until 20 landed dbt
post "$T/go-second"
wait "$SUP"
check "conflict: exit 1" [ $? -eq 1 ]
check "conflict: the first is done" result a_first '.status == "done"'
check "conflict: the second fails with the refresh conflict" result b_second '
    .status == "conflict" and .commit == null and
    .detail == "source refresh conflict before before_reconciliation: wiki/global/shared.md"'
check "conflict: its worktree and sentinel remain" sentinel b_second '
    .outcome == "conflict" and .conflictPaths == ["wiki/global/shared.md"] and
    .reason == "source refresh conflict before before_reconciliation: wiki/global/shared.md"'
check "conflict: the kept worktree holds the second version" \
    grep -q 'The second version.' "$(rfield b_second worktree)/wiki/global/shared.md"
check "conflict: its branch remains" \
    git -C "$P" rev-parse -q --verify "session/$(rfield b_second jobId)"
check "conflict: main holds only the first version" sh -c "
    git -C '$P' show HEAD:wiki/global/shared.md | grep -q 'The first version.' &&
    grep -q 'The first version.' '$P/wiki/global/shared.md' &&
    [ \"\$(git -C '$P' log --format=%s | grep -c '^ingest(')\" -eq 1 ]"
check "conflict: the trace has the refresh's result" has_event b_second '
    .event == "session_refreshed_from_root" and .level == "error" and
    .data.result.conflictPaths == ["wiki/global/shared.md"]'

# --- Final windows never overlap; a run leaves nothing behind. ---
mkktx windows
adapter many <<'EOF'
i=0
while [ $i -lt 200 ]; do
	i=$((i + 1))
	page "$KTX_CONNECTION_ID-$i" "Page $i of $KTX_CONNECTION_ID, see [[$KTX_CONNECTION_ID-1]]."
done
EOF
{
	echo "connections:"
	for c in s1 s2 s3 s4 s5 s6; do cmdconn "$c" dbt many; done
} | config
ingest --all -j 6
check "windows: exit 0, all six done" [ $? -eq 0 ]
check "windows: six commits on main" \
    [ "$(git -C "$P" log --format=%s | grep -c '^ingest(dbt): ')" -eq 6 ]
# Every hold of the final window as "acquired released", in ms since epoch.
for c in s1 s2 s3 s4 s5 s6; do
	jq -r 'select(.phase == "lock" and .data.purpose == "before_final_squash" and
	    (.event == "repo_lock_acquired" or .event == "repo_lock_released")) |
	    .at | sub("Z$"; "") | strptime("%Y-%m-%dT%H:%M:%S.%f")' \
	    "$(trace "$c")" >/dev/null 2>&1
	jq -r 'select(.phase == "lock" and .data.purpose == "before_final_squash" and
	    (.event == "repo_lock_acquired" or .event == "repo_lock_released")) | .at' \
	    "$(trace "$c")" | paste -sd' '
done >"$T/holds"
no_overlap() {
	[ "$(wc -l <"$1")" -eq 6 ] && sort "$1" | awk '
	    NF != 2 { bad = 1 }
	    { if (prev != "" && $1 < prev) bad = 1; prev = $2 }
	    END { exit bad }'
}
check "windows: one final window each, none overlapping" no_overlap "$T/holds"
check "windows: some waited for the final window" sh -c "
    cat '$P'/.ktx/ingest-traces/*/trace.jsonl | jq -s -e '
    [.[] | select(.event == \"repo_lock_acquired\" and .data.purpose == \"before_final_squash\")
     | .data.waitedMs] | length == 6 and max > 0' >/dev/null"
check "windows: .ktx/worktrees is empty, no session branch" no_leftovers

# --- A worker killed inside its final window, pinned at a failpoint
# (ktx-worker(8) KTX_FAILPOINT) while the next worker queues for the lock:
# a timed kill raced the window, which is 100 ms on a fast machine. ---
killed_in_window() {	# POINT SUFFIX
	local point="$1" base job wt
	mkktx "kill$2"
	mkfifo "$T/go-next$2"
	adapter big <<'EOF'
i=0
while [ $i -lt 2000 ]; do
	i=$((i + 1))
	printf -- '---\nsummary: Page %s\nusage_mode: auto\n---\n\nBody %s.\n' $i $i \
	    >"wiki/global/big-$i.md" 2>/dev/null || { mkdir -p wiki/global; i=$((i - 1)); }
done
EOF
	adapter next <<EOF
page next-page 'After the big one.'
wait_fifo "$T/go-next$2"
EOF
	config <<EOF
connections:
$(cmdconn big dbt big)
$(cmdconn next notion next)
EOF
	base=$(head_of)
	KTX_FAILPOINT="$point" KTX_FAILPOINT_FILE="$T/fp$2" bg_ingest -j 2
	wait_until 60 test -s "$T/fp$2"
	pid=$(awk '{ print $2 }' "$T/fp$2")
	check "$point: the big worker stopped at it" [ "$pid" = "$(worker_in big final)" ]
	post "$T/go-next$2"
	check "$point: the next worker queues for the lock" wait_until 20 sh -c "
	    cat '$P'/.ktx/ingest-traces/*-next/trace.jsonl 2>/dev/null | jq -e -s '
	    any(.event == \"repo_lock_wait_started\" and
	        .data.purpose == \"before_reconciliation\")' >/dev/null"
	kill -KILL "$pid" 2>/dev/null
	wait "$SUP"
	check "$point: the run ends, exit 1" [ $? -eq 1 ]
	check "$point: main moved by whole squash commits only" sh -c "
	    git -C '$P' log --format=%s '$base..HEAD' |
	    grep -v -q -E '^ingest\((dbt|notion)\): ' && exit 1
	    git -C '$P' log --format=%s '$base..HEAD' | grep -q '^ingest(notion): '"
	check "$point: the killed target's pages are all on main or none" sh -c "
	    n=\$(git -C '$P' ls-tree -r --name-only HEAD wiki/global | grep -c '/big-')
	    [ \$n -eq 0 ] || [ \$n -eq 2000 ]"
	check "$point: git fsck is clean" git -C "$P" fsck --no-progress --no-dangling
	check "$point: the next waiter proceeds and lands" result next \
	    '.status == "done" and .commit != null'
	check "$point: the root checkout matches main" \
	    sh -c "[ -z \"\$(git -C '$P' status --porcelain --untracked-files=no)\" ]"
	check "$point: the killed target failed without a result" result big \
	    '.status == "failed" and .signal == "SIGKILL" and
	     .detail == "the worker was killed by SIGKILL without a result"'
	check "$point: its worktree is kept with a crash sentinel" sentinel big '
	    .outcome == "crash" and .reason == "the worker was killed by SIGKILL without a result" and
	    (.baseSha | length) == 40'
	check "$point: the trace ends with the death" sh -c "
	    tail -1 '$(trace big)' | jq -e '.event == \"worker_died\" and .level == \"error\"' >/dev/null"
}
killed_in_window final-refresh a
killed_in_window gates b
killed_in_window squash c

# --- SIGTERM while one worker is in its final window and another waits. ---
mkktx abort
mkfifo "$T/go-waiter"
adapter waiter <<EOF
page waiter-page 'Waiting for the lock.'
wait_fifo "$T/go-waiter"
EOF
config <<EOF
connections:
$(cmdconn big dbt big)
$(cmdconn waiter notion waiter)
EOF
base=$(head_of)
bg_ingest -j 2
wait_until 60 in_phase big final
post "$T/go-waiter"
waiting() {
	f=$(ls "$P"/.ktx/ingest-traces/*-waiter/trace.jsonl 2>/dev/null) &&
	    jq -e -s 'any(.[]; .event == "repo_lock_wait_started" and
	        .data.purpose == "before_reconciliation")' "$f" >/dev/null
}
check "abort: the waiter queues behind the final window" wait_until 20 waiting
kill -TERM "$SUP"
wait "$SUP"
check "abort: the run ends by SIGTERM" [ $? -eq 143 ]
check "abort: the waiter gave its wait up, aborted" result waiter '
    .status == "aborted" and .commit == null'
check "abort: the trace says so" has_event waiter '
    .event == "repo_lock_wait_abandoned" and .level == "error"'
check "abort: its sentinel says aborted" sentinel waiter '.outcome == "aborted"'
check "abort: the final window ran to its end or stopped before the squash" sh -c "
    jq -e --arg b '$base' --arg h \"\$(git -C '$P' rev-parse HEAD)\" '
    .results[] | select(.connectionId == \"big\") |
    (.status == \"done\" and .commit == \$h) or
    (.status == \"aborted\" and \$h == \$b)' '$T/out' >/dev/null"
check "abort: git fsck is clean, the checkout matches main" sh -c "
    git -C '$P' fsck --no-progress --no-dangling &&
    [ -z \"\$(git -C '$P' status --porcelain --untracked-files=no)\" ]"

# --- A worker killed while its adapter runs: the supervisor keeps its session. ---
mkktx deadworker
adapter sleeper <<'EOF'
page sleeper-page 'Never lands.'
sleep 30
EOF
config <<EOF
connections:
$(cmdconn sleeper dbt sleeper)
EOF
before=$(state_of)
bg_ingest
wait_until 20 in_phase sleeper adapter
kill -KILL "$(worker_in sleeper adapter)"
wait "$SUP"
check "dead worker: exit 1" [ $? -eq 1 ]
check "dead worker: failed, the session in the result" result sleeper '
    .status == "failed" and (.worktree | test("/.ktx/worktrees/session-"))'
check "dead worker: the supervisor wrote the crash sentinel" sentinel sleeper \
    '.outcome == "crash" and .jobId == "'"$(rfield sleeper jobId)"'"'
check "dead worker: main untouched" [ "$(state_of)" = "$before" ]
check "dead worker: its adapter is gone too" sh -c "
    sleep 0.5; ! ps -eo args= | grep -q '^sh $T/sleeper.sh'"

finish
