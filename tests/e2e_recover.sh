#!/bin/sh
# ktx-supervisor recover on real leftovers: a failed adapter (worktree with
# a crash sentinel), a refresh conflict, a worker and its supervisor
# SIGKILLed (worktree without sentinel, stale pidfile and socket), a
# planted index.lock, a squash journal of a kill between checkout and ref
# move, staging dirs.  The listing in text and JSON; --prune removes
# exactly the prunable ones and keeps the conflict unless --force; it is
# refused while an ingest runs; main's ref never moves; the next ingest
# succeeds.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"

recover() { sup -C "$P" recover "$@"; }
# lo FILTER: jq FILTER on $T/rec (a recover --json document) is true.
lo() { jq_ok "$1" "$T/rec"; }
sound() { git -C "$P" fsck --no-progress --no-dangling >/dev/null 2>&1; }

mkktx p
# Each adapter misbehaves while its mode file exists, else it writes a page.
adapter fails <<EOF
page f-page 'From f.'
stage f.txt 'raw f'
if [ -e "$T/f.mode" ]; then echo "error: the export is corrupt" >&2; exit 3; fi
EOF
adapter conflicts <<EOF
page shared 'The session version.'
stage c.txt 'raw c'
if [ -e "$T/c.mode" ]; then
	mkdir -p '$P/wiki/global'
	printf -- '---\nsummary: Page shared\nusage_mode: auto\n---\n\nThe main version.\n' \
	    >'$P/wiki/global/shared.md'
	git -C '$P' add wiki/global/shared.md && git -C '$P' commit -q -m 'test: shared on main'
fi
EOF
adapter sleeps <<EOF
page k-page 'From k.'
stage k.txt 'raw k'
if [ -e "$T/k.mode" ]; then
	echo "\$PPID \$(awk '{ print \$5 }' /proc/\$\$/stat)" >"$T/k.pids.tmp"
	mv "$T/k.pids.tmp" "$T/k.pids"
	wait_fifo "$T/k.fifo"
fi
EOF
config <<EOF
connections:
$(cmdconn c_conflict notion conflicts)
$(cmdconn f_failing notion fails)
$(cmdconn k_killed dbt sleeps)
EOF

check "a clean project: nothing left, exit 0" sh -c "
    '$KTX_SUPERVISOR' -C '$P' recover >'$T/txt' && [ \"\$(cat '$T/txt')\" = 'no ktx-supervisor is running in $P
nothing is left behind' ]"

# --- Leftovers of a failure and a conflict. ---
touch "$T/f.mode" "$T/c.mode"
ingest c_conflict f_failing
check "run 1: exit 1" [ $? -eq 1 ]
check "run 1: c conflicts, f fails" sh -c "
    jq -e '[.results[].status] == [\"conflict\", \"failed\"]' '$T/out' >/dev/null"
jc=$(rfield c_conflict jobId)
jf=$(rfield f_failing jobId)
base1=$(jq -r .baseSha "$(rfield f_failing worktree)/.ktx-outcome")
basec=$(jq -r .baseSha "$(rfield c_conflict worktree)/.ktx-outcome")

sleep 1	# run ids sort by their second: the next one sorts after
# --- A worker and its supervisor SIGKILLed: no sentinel, stale run files. ---
rm -f "$T/f.mode" "$T/c.mode"
touch "$T/k.mode"
mkfifo "$T/k.fifo"
"$KTX_SUPERVISOR" -C "$P" ingest k_killed >/dev/null 2>&1 &
ksup=$!
wait_until 20 test -e "$T/k.pids"
read -r kworker kadapter <"$T/k.pids"
# Stop the worker first: its PR_SET_PDEATHSIG SIGTERM must not let it
# write a sentinel between the two kills.  (If it is stopped by the time
# its supervisor dies, its process group is orphaned with a stopped
# member, and the kernel's SIGHUP kills it at once: no sentinel either.)
kill -STOP "$kworker"
kill -KILL "$ksup"
wait "$ksup" 2>/dev/null
kill -KILL "$kworker" 2>/dev/null
kill -KILL "-$kadapter"
gone() { ! kill -0 "$kworker" 2>/dev/null && ! kill -0 "-$kadapter" 2>/dev/null; }
check "kill: the worker and its adapter are gone" wait_until 10 gone
rm -f "$T/k.mode" "$T/k.fifo"
jk=$(ls "$P/.ktx/worktrees" | sed -n 's/^session-\(.*-k_killed\)$/\1/p')
check "kill: a worktree without sentinel" sh -c "
    [ -n '$jk' ] && [ -d '$P/.ktx/worktrees/session-$jk' ] &&
    [ ! -e '$P/.ktx/worktrees/session-$jk/.ktx-outcome' ]"
check "kill: the pidfile names the dead supervisor" \
    [ "$(cat "$P/.ktx/run/supervisor.pid")" = "$ksup" ]
check "kill: the socket file is left" test -S "$P/.ktx/run/supervisor.sock"

# A worker outlives its supervisor for a moment (it stops its adapter and
# writes its sentinel after PR_SET_PDEATHSIG's SIGTERM).  recover knows one
# by the trace it holds open; a process holding k's trace stands in for it.
sleep 300 3>>"$P/.ktx/ingest-traces/$jk/trace.jsonl" &
orphan=$!
recover --prune --json >"$T/rec" 2>"$T/rec.err"
check "orphan: --prune refused with 75 while a worker lives" [ $? -eq 75 ]
check "orphan: the worker is named, nothing pruned or prunable" lo '
    .supervisor.running == false and .workers == ['"$orphan"'] and .pruned == [] and
    .refused == "a worker of \"'"$P"'\" is still alive (pid '"$orphan"')" and
    ([.leftovers[] | select(.prunable)] == [])'
check "orphan: the refusal on stderr" grep -qx \
    "ktx-supervisor: cannot prune: a worker of \"$P\" is still alive (pid $orphan)" "$T/rec.err"
check "orphan: the refused --prune changed nothing" sh -c "
    [ \"\$(cat '$P/.ktx/run/supervisor.pid')\" = '$ksup' ] && [ -d '$P/.ktx/worktrees/session-$jk' ] &&
    [ -S '$P/.ktx/run/supervisor.sock' ]"
kill "$orphan"
wait "$orphan" 2>/dev/null

# --- A planted index.lock and a squash journal of a kill between the ---
# --- checkout and the ref move: the file holds the new content, main old. ---
main=$(head_of)
touch "$P/.git/index.lock"
printf 'squashed but never landed\n' >"$P/wiki/global/journal.md"
blob=$(git -C "$P" hash-object -w wiki/global/journal.md)
# The commit the squash would have made, through a scratch index.
GIT_INDEX_FILE="$T/scratch.index" git -C "$P" read-tree HEAD
GIT_INDEX_FILE="$T/scratch.index" git -C "$P" update-index --add --cacheinfo "100644,$blob,wiki/global/journal.md"
tree=$(GIT_INDEX_FILE="$T/scratch.index" git -C "$P" write-tree)
new=$(git -C "$P" commit-tree -p "$main" -m "ingest(test): never landed" "$tree")
printf 'ktx-squash 1\nref refs/heads/main\nold %s\nnew %s\n' "$main" "$new" >"$P/.git/ktx-squash"

# --- The listing. ---
recover --json >"$T/rec"
check "list: exit 3 with leftovers" [ $? -eq 3 ]
W=$P/.ktx/worktrees
S=$P/.ktx/cache/local-ingest
check "list: exactly these leftovers, in this order" lo '
    [.leftovers[] | [.kind, .path, .branch, .outcome, .prunable]] == [
     ["worktree", "'"$W/session-$jc"'", "session/'"$jc"'", "conflict", false],
     ["worktree", "'"$W/session-$jf"'", "session/'"$jf"'", "crash", true],
     ["worktree", "'"$W/session-$jk"'", "session/'"$jk"'", "crash", true],
     ["gitlock", "'"$P"'/.git/index.lock", null, null, true],
     ["squash-journal", "'"$P"'/.git/ktx-squash", "refs/heads/main", null, true],
     ["staging", "'"$S/$jc"'", null, null, true],
     ["staging", "'"$S/$jf"'", null, null, true],
     ["staging", "'"$S/$jk"'", null, null, true],
     ["pidfile", "'"$P"'/.ktx/run/supervisor.pid", null, null, true],
     ["socket", "'"$P"'/.ktx/run/supervisor.sock", null, null, true]]'
check "list: the document's frame" lo '
    .project == "'"$P"'" and .supervisor == {running: false, pid: null} and
    .workers == [] and (has("pruned") | not) and
    ([.leftovers[] | keys] | unique) == [["ageSeconds","baseCommit","branch",
      "kind","outcome","path","prunable","reason","writerAlive"]]'
check "list: the sentinels' reasons and base commits" lo '
    .leftovers[0].reason == "source refresh conflict before before_reconciliation: wiki/global/shared.md" and
    .leftovers[1].reason == "error: the export is corrupt" and
    .leftovers[1].baseCommit == "'"$base1"'" and
    .leftovers[2].reason == "no sentinel: its worker died before it wrote one" and
    .leftovers[2].baseCommit == null'
check "list: ages are small whole seconds" lo '
    [.leftovers[].ageSeconds | select(type == "number" and . >= 0 and . < 600)] | length == 10'
check "list: no writer of the lock and the journal is alive" lo '
    [.leftovers[] | select(.kind == "gitlock" or .kind == "squash-journal") | .writerAlive] == [false, false]'
check "list: the journal will be rolled back" lo '
    .leftovers[4].baseCommit == "'"$main"'" and
    (.leftovers[4].reason | startswith("a squash stopped before its branch moved"))'
recover >"$T/txt"
check "list text: exit 3" [ $? -eq 3 ]
cat >"$T/want" <<EOF
no ktx-supervisor is running in $P
worktree .ktx/worktrees/session-$jc: conflict, N old, branch session/$jc, base ${basec%"${basec#????????????}"}, kept: a conflict holds work (--prune --force removes it)
    reason: source refresh conflict before before_reconciliation: wiki/global/shared.md
worktree .ktx/worktrees/session-$jf: crash, N old, branch session/$jf, base ${base1%"${base1#????????????}"}, prunable
    reason: error: the export is corrupt
worktree .ktx/worktrees/session-$jk: crash, N old, branch session/$jk, prunable
    reason: no sentinel: its worker died before it wrote one
gitlock .git/index.lock: N old, prunable
squash-journal .git/ktx-squash: N old, branch refs/heads/main, base ${main%"${main#????????????}"}, prunable
    reason: a squash stopped before its branch moved: its paths are put back to the branch's content
staging .ktx/cache/local-ingest/$jc: N old, prunable
staging .ktx/cache/local-ingest/$jf: N old, prunable
staging .ktx/cache/local-ingest/$jk: N old, prunable
pidfile .ktx/run/supervisor.pid: N old, prunable
    reason: pid $ksup is not running a supervisor
socket .ktx/run/supervisor.sock: N old, prunable
10 left behind, 9 prunable: "ktx-supervisor recover --prune" removes them
EOF
check "list text: exactly the listing" sh -c "
    sed 's/ [0-9hms]* old,/ N old,/' '$T/txt' | diff -u '$T/want' -"
sup -C "$P" status >"$T/status"
check "status: the worktrees with their outcomes" sh -c "
    grep -qx 'left behind: session worktree .ktx/worktrees/session-$jc: conflict (source refresh conflict before before_reconciliation: wiki/global/shared.md)' '$T/status' &&
    grep -qx 'left behind: session worktree .ktx/worktrees/session-$jf: crash (error: the export is corrupt)' '$T/status' &&
    grep -qx 'left behind: session worktree .ktx/worktrees/session-$jk: crash (no sentinel)' '$T/status'"
check "status --json: the sessions' outcomes" sh -c "
    '$KTX_SUPERVISOR' -C '$P' status --json | jq -e '[.leftovers.sessions[] | .outcome] | sort == [\"conflict\", \"crash\", \"crash\"]' >/dev/null"
check "list: main untouched" [ "$(head_of)" = "$main" ]

# --- A lock file some process holds open: its writer may be alive. ---
touch "$P/.git/refs/heads/planted.lock"
sleep 300 9<"$P/.git/refs/heads/planted.lock" &
holder=$!
recover --json >"$T/rec"
check "open lock: writer alive, not prunable" lo '
    [.leftovers[] | select(.path == "'"$P"'/.git/refs/heads/planted.lock") | [.writerAlive, .prunable]] == [[true, false]]'

# --- --prune without --force. ---
before=$(git -C "$P" for-each-ref)
recover --prune --json >"$T/rec"
check "prune: exit 3, the conflict and the held lock remain" [ $? -eq 3 ]
check "prune: exactly the prunable ones pruned" lo '
    [.pruned[] | [.kind, .path // .branch]] == [
     ["worktree", "'"$W/session-$jf"'"], ["worktree", "'"$W/session-$jk"'"],
     ["gitlock", "'"$P"'/.git/index.lock"],
     ["squash-journal", "'"$P"'/.git/ktx-squash"],
     ["staging", "'"$S/$jc"'"], ["staging", "'"$S/$jf"'"], ["staging", "'"$S/$jk"'"],
     ["pidfile", "'"$P"'/.ktx/run/supervisor.pid"],
     ["socket", "'"$P"'/.ktx/run/supervisor.sock"]]'
check "prune: what remains" lo '
    [.leftovers[] | [.kind, .path]] == [["worktree", "'"$W/session-$jc"'"],
     ["gitlock", "'"$P"'/.git/refs/heads/planted.lock"]]'
check "prune: the files are gone, the conflict's worktree and branch stay" sh -c "
    [ \"\$(ls '$W')\" = 'session-$jc' ] && [ \"\$(git -C '$P' branch --list 'session/*' --format='%(refname:short)')\" = 'session/$jc' ] &&
    [ ! -e '$P/.git/index.lock' ] && [ ! -e '$P/.git/ktx-squash' ] &&
    [ -z \"\$(ls '$S')\" ] && [ ! -e '$P/.ktx/run/supervisor.sock' ] &&
    [ ! -s '$P/.ktx/run/supervisor.pid' ] && [ -e '$P/.git/refs/heads/planted.lock' ]"
check "prune: the interrupted squash is rolled back" sh -c "
    [ ! -e '$P/wiki/global/journal.md' ] && [ -z \"\$(git -C '$P' status --porcelain)\" ]"
check "prune: main and every ref but the pruned branches unchanged" sh -c "
    [ '$(head_of)' = '$main' ] &&
    [ \"\$(git -C '$P' for-each-ref | grep -v 'refs/heads/session/')\" = \"\$(echo '$before' | grep -v 'refs/heads/session/')\" ]"
check "prune: git worktree list knows only the root and the conflict" \
    [ "$(git -C "$P" worktree list --porcelain | grep -c '^worktree ')" -eq 2 ]
check "prune: git fsck is clean" sound
kill "$holder"
wait "$holder" 2>/dev/null

# --- Refused while an ingest runs. ---
touch "$T/k.mode"
mkfifo "$T/k.fifo"
rm -f "$T/k.pids"
sup_bg -C "$P" ingest k_killed
wait_until 20 test -e "$T/k.pids"
recover --prune --json >"$T/rec" 2>"$T/rec.err"
check "running: --prune refused with 75" [ $? -eq 75 ]
check "running: the refusal names the supervisor" sh -c "
    grep -qx 'ktx-supervisor: cannot prune: a ktx-supervisor runs in \"$P\" (pid $SUP)' '$T/rec.err'"
check "running: the document says so, nothing pruned, nothing prunable" lo '
    .supervisor == {running: true, pid: '"$SUP"'} and .pruned == [] and
    (.refused | type == "string") and ([.leftovers[] | select(.prunable)] == [])'
check "running: the live session has no outcome" lo '
    [.leftovers[] | select(.kind == "worktree" and (.path | endswith("-k_killed"))) | .outcome] == [null]'
check "running: the lock's writer may be alive" lo '
    [.leftovers[] | select(.kind == "gitlock") | .writerAlive] == [true]'
check "running: nothing was removed" sh -c "
    [ -e '$P/.git/refs/heads/planted.lock' ] && [ -d '$W/session-$jc' ] && [ -S '$P/.ktx/run/supervisor.sock' ]"
post "$T/k.fifo"
wait "$SUP"
check "running: the ingest still lands" [ $? -eq 0 ]
rm -f "$T/k.mode" "$T/k.fifo"
main=$(head_of)

# --- --force takes the conflict too. ---
recover --prune --force --json >"$T/rec"
check "force: exit 0, nothing left" [ $? -eq 0 ]
check "force: the conflict and the lock pruned" lo '
    .leftovers == [] and [.pruned[] | [.kind, .outcome]] == [["worktree", "conflict"], ["gitlock", null]]'
check "force: no worktree, no session branch" no_leftovers
check "force: main untouched, fsck clean" sh -c "[ '$(head_of)' = '$main' ] && git -C '$P' fsck --no-progress --no-dangling >/dev/null 2>&1"
recover >"$T/txt"
check "after: nothing is left behind, exit 0" sh -c "[ $? -eq 0 ] && tail -n 1 '$T/txt' | grep -qx 'nothing is left behind'"

# --- The next ingest succeeds. ---
# main holds "The main version" of shared.md; c's session version would
# conflict again on its refresh, so it writes its own page now.
sed -i 's/^page shared .*/page c-page "From c."/' "$T/conflicts.sh"
ingest --all
check "next: ingest --all exits 0" [ $? -eq 0 ]
check "next: all three done" sh -c "
    jq -e '[.results[].status] == [\"done\", \"done\", \"done\"]' '$T/out' >/dev/null"
check "next: nothing left behind" no_leftovers

# --- Usage. ---
recover --bogus 2>"$T/err"
check "usage: unknown option, exit 2" sh -c "[ $? -eq 2 ] && grep -q 'unknown option \"--bogus\"' '$T/err'"
sup -C "$T" recover 2>"$T/err"
check "usage: not a ktx project, exit 1" sh -c "[ $? -eq 1 ] && grep -qx 'ktx-supervisor: \"$T\" is not a ktx project' '$T/err'"

finish
