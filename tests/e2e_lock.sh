#!/bin/sh
# The repository lock end to end: real supervisor, real sockets, workers
# played by tests/lockprobe (see its header for the steps a connection's
# adapter command spells).  FIFO without interleaving under contention, the
# death of a holder (hand-off within 100 ms, its git lock files swept), a
# waiter that dies, re-entrance refused, maxHold enforced.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"
. "$KTX_TOP_SRCDIR/tests/lib_lock.sh"

# --- Contention: 8 workers, requests in an order unlike the plan's. ---
L=$T/contend.log
mkproject contend
ranks="5 2 7 0 3 6 1 4"
{
	echo "connections:"
	i=0
	for rank in $ranks; do
		hold=0.02
		[ "$rank" -eq 0 ] && hold=0.4	# everyone queues behind p-rank-0
		probe "p$i" log "$L" rank "$rank" acquire session hold "$hold" release
		i=$((i + 1))
	done
} >"$P/ktx.yaml"
sup -C "$P" ingest -j 8 --json >"$T/out" 2>"$T/err"
rc=$?
check "contend: exit 0" [ "$rc" -eq 0 ]
check "contend: every worker got the lock once" [ "$(count "$L" enter)" -eq 8 ]
check "contend: holds never interleave" no_interleaving "$L"
check "contend: requests came in rank order, not plan order" [ \
    "$(order "$L" request)" = "p3 p6 p1 p4 p7 p0 p5 p2" ]
check "contend: grants follow request order" [ \
    "$(order "$L" enter)" = "$(order "$L" request)" ]
check "contend: all done, one acquisition each" jq_ok '
    [.results[] | .status] == ["done","done","done","done","done","done","done","done"]
    and all(.results[]; .lock.acquisitions == 1 and .lock.events == [])' "$T/out"
check "contend: the first holder held 400 ms, the others waited for it" jq_ok '
    (.results[3].lock.holdMs >= 400) and
    all(.results[] | select(.connectionId != "p3"); .lock.waitMs >= 300)' "$T/out"
# The wait the grant reported is the wait in the results.
for i in 0 1 2 3 4 5 6 7; do
	w=$(awk -v t="p$i" '$1 == "enter" && $2 == t { print $5 }' "$L")
	check "contend: p$i's grant said waited $w ms, as its result does" \
	    jq_ok ".results[$i].lock.waitMs == $w and .results[$i].lock.maxWaitMs == $w" "$T/out"
done

# --- A holder dies: hand-off, sweep of the git lock files it left. ---
L=$T/died.log
mkproject died
# Older than anything in this run: somebody else's.
touch -d '-1 hour' "$P/.git/HEAD.lock"
{
	echo "connections:"
	# a leaves a lock file behind, though it exits cleanly.
	probe a log "$L" rank 0 acquire session touch .git/packed-refs.lock \
	    hold 0.2 release
	probe b log "$L" rank 1 acquire before_final_squash touch .git/index.lock \
	    touch .git/refs/heads/main.lock die
	probe c log "$L" rank 2 acquire session hold 0.02 release
} >"$P/ktx.yaml"
sup -C "$P" ingest -j 3 --json >"$T/out" 2>"$T/err"
rc=$?
check "died: exit 1 (b failed)" [ "$rc" -eq 1 ]
check "died: a, b, c got the lock in turn" [ "$(order "$L" enter)" = "a b c" ]
gap=$(awk '$1 == "die" { d = $3 } $1 == "enter" && $2 == "c" { e = $3 }
    END { printf "%.3f", e - d }' "$L")
check "died: c was granted ${gap} s after b died (< 0.1 s)" fle "$gap" 0.1
check "died: b's index.lock is gone" [ ! -e "$P/.git/index.lock" ]
check "died: b's main.lock is gone" [ ! -e "$P/.git/refs/heads/main.lock" ]
check "died: the hour-old HEAD.lock is still there" [ -e "$P/.git/HEAD.lock" ]
check "died: a's packed-refs.lock is still there" [ -e "$P/.git/packed-refs.lock" ]
check "died: the event is in b's result" jq_ok '
    .results[1].status == "failed" and
    .results[1].lock.events == [{
        "event": "holder-died", "lock": "config:repo",
        "purpose": "before_final_squash",
        "heldMs": .results[1].lock.events[0].heldMs,
        "removed": [".git/index.lock", ".git/refs/heads/main.lock"],
        "kept": [".git/HEAD.lock", ".git/packed-refs.lock"],
        "error": null}] and
    .results[0].status == "done" and .results[0].lock.events == [] and
    .results[2].status == "done"' "$T/out"
check "died: the run record has it too" jq_ok \
    '.results[1].lock.events[0].event == "holder-died"' "$P"/.ktx/runs/*.json
check "died: the supervisor said what it removed and kept" \
    grep -q 'b: removed ".git/index.lock"' "$T/err"
check "died: ... and what predates the grant" \
    grep -q 'b: ".git/packed-refs.lock" is not provably its own and was kept' "$T/err"

# --- A waiter dies while queued: it is never granted. ---
L=$T/waiter.log
mkproject waiter
{
	echo "connections:"
	probe a log "$L" rank 0 acquire session hold 0.6 release
	probe b log "$L" rank 1 acquire session hold 0.02 release
	probe c log "$L" rank 2 acquire session hold 0.02 release
} >"$P/ktx.yaml"
sup -C "$P" ingest -j 3 --json >"$T/out" 2>"$T/err" &
spid=$!
requests_at_least() { [ "$(count "$L" request)" -ge "$1" ]; }
wait_until 5 requests_at_least 3
kill -KILL "$(awk '$1 == "start" && $2 == "b" { print $4 }' "$L")"
wait "$spid"
rc=$?
check "waiter: exit 1 (b was killed)" [ "$rc" -eq 1 ]
check "waiter: b was never granted" [ "$(order "$L" enter)" = "a c" ]
check "waiter: c got it as soon as a left" [ "$(order "$L" leave)" = "a c" ]
check "waiter: b's result shows the wait and no acquisition" jq_ok '
    .results[1].lock.acquisitions == 0 and .results[1].lock.waitMs > 0 and
    .results[1].lock.events == [] and .results[2].status == "done"' "$T/out"

# --- Re-entrance is a protocol error; the lock then passes on. ---
L=$T/again.log
mkproject again
{
	echo "connections:"
	probe a log "$L" rank 0 acquire session again
	probe b log "$L" rank 1 acquire session hold 0.02 release
} >"$P/ktx.yaml"
sup -C "$P" ingest -j 2 --json >"$T/out" 2>"$T/err"
check "again: a's second acquire was refused" grep -q \
    '^refused a .* acquire of "config:repo" while holding it (request 0): the lock is not re-entrant$' "$L"
check "again: a failed with the protocol error, b got the lock" jq_ok '
    .results[0].status == "failed" and
    (.results[0].detail | startswith("protocol error: acquire of \"config:repo\" while holding it")) and
    .results[1].status == "done" and .results[1].lock.acquisitions == 1' "$T/out"

# --- maxHold: a holder past ingest.lock.maxHoldSeconds is stopped. ---
L=$T/maxhold.log
mkproject maxhold
{
	echo "connections:"
	probe a log "$L" rank 0 acquire session hold 30 release
	probe b log "$L" rank 1 acquire session hold 0.02 release
	printf 'ingest:\n  lock:\n    maxHoldSeconds: 1\n'
} >"$P/ktx.yaml"
start=$(now)
sup -C "$P" ingest -j 2 --json >"$T/out" 2>"$T/err"
took=$(elapsed_since "$start")
check "maxhold: stopped after about a second, not 30 (took $took s)" fle "$took" 5
check "maxhold: a timed out for holding the lock, b got it" jq_ok '
    .results[0].status == "timeout" and
    .results[0].detail == "held the repository lock longer than 1 s (ingest.lock.maxHoldSeconds)" and
    .results[0].lock.events[0] == {"event": "max-hold-exceeded", "lock": "config:repo", "maxHoldMs": 1000} and
    .results[0].lock.holdMs >= 1000 and
    .results[1].status == "done"' "$T/out"
check "maxhold: b entered after a was stopped" [ "$(order "$L" enter)" = "a b" ]

finish
