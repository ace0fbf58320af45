#!/bin/sh
# The control socket end to end: status with the lock's holder and queue,
# pause/resume/drain/abort doing what the signals do, its permissions and
# peer check, garbage refused while the run goes on, a stale socket taken
# over, and status with no supervisor running.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"
. "$KTX_TOP_SRCDIR/tests/lib_lock.sh"

sock_up() { [ -S "$P/.ktx/run/supervisor.sock" ]; }
entered() { [ "$(count "$L" enter)" -ge "$1" ]; }
requested() { [ "$(count "$L" request)" -ge "$1" ]; }
# state_of TARGET: the process state letter of that probe.
state_of() { proc_state "$(awk -v t="$1" '$1 == "start" && $2 == t { print $4 }' "$L")"; }

# --- status while running: the holder and the queue. ---
L=$T/status.log
mkproject status
{
	echo "connections:"
	probe a log "$L" rank 0 acquire session phase holding hold 1.5 release
	probe b log "$L" rank 1 acquire before_final_squash hold 0.02 release
	probe c log "$L" rank 2 acquire session hold 0.02 release
	probe d log "$L" hold 0.02
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest -j 3 --json
wait_until 5 requested 3
sup -C "$P" status >"$T/st" 2>&1
check "status: exit 0 while running" [ $? -eq 0 ]
check "status: a holds the lock" grep -q '^  held by a for .* (session, request 0)$' "$T/st"
check "status: b and c wait, in that order" [ "$(awk '/waited on by/ { print $4 }' "$T/st" | tr '\n' ' ')" = "b c " ]
check "status: a summary line" grep -Eq \
    '^ktx-supervisor: run [0-9TZ]+-[0-9a-f]+: 4 targets, 3 running, 1 queued, 0 finished$' "$T/st"
check "status: a runs, in its phase" \
    grep -Eq '^  a  stage 2  running   pid [0-9]+  [0-9.]+s  holding$' "$T/st"
check "status: d is queued" grep -q '^  d  stage 2  queued$' "$T/st"
check "status: the lock is held" grep -q '^lock config:repo: held$' "$T/st"
kill -USR1 "$SUP"
check "SIGUSR1: the same snapshot on stderr, lock and queue included" \
    wait_until 2 grep -q '^  waited on by c for .* (session, request 0)$' "$T/bg.err"
sup -C "$P" status --json >"$T/st.json"
check "status --json: holder, waiters, states" jq_ok '
    .running and (.status.pid | type) == "number" and
    .status.paused == false and .status.draining == false and
    [.status.targets[] | .state] == ["running","running","running","queued"] and
    .status.targets[0].phase == "holding" and
    .status.locks[0].lock == "config:repo" and
    .status.locks[0].holder.target == "a" and
    .status.locks[0].holder.held_ms > 0 and
    [.status.locks[0].waiters[] | .target] == ["b","c"] and
    .status.locks[0].waiters[0].purpose == "before_final_squash"' "$T/st.json"
check "status: the socket is 0600 in a 0700 directory" [ \
    "$(stat -c %a "$P/.ktx/run/supervisor.sock") $(stat -c %a "$P/.ktx/run")" = "600 700" ]
wait "$SUP"
check "status: the run ended well" jq_ok '[.results[] | .status] == ["done","done","done","done"]' "$T/bg.out"
check "status: the socket is gone with the supervisor" [ ! -e "$P/.ktx/run/supervisor.sock" ]

# --- status, no supervisor: the last run and what was left behind. ---
touch -d '-1 hour' "$P/.git/index.lock"
mkdir -p "$P/.ktx/worktrees/session-x"
sup -C "$P" status >"$T/st" 2>&1
check "status offline: exit 0" [ $? -eq 0 ]
check "status offline: says nothing runs" grep -q "^no ktx-supervisor is running in $P\$" "$T/st"
check "status offline: the last run" grep -q '^  c  *done ' "$T/st"
check "status offline: the git lock file left" \
    grep -q '^left behind: git lock file .git/index.lock$' "$T/st"
check "status offline: the worktree left, a crash without sentinel" \
    grep -q '^left behind: session worktree .ktx/worktrees/session-x: crash (no sentinel)$' "$T/st"
sup -C "$P" status --json >"$T/st.json"
check "status offline --json" jq_ok '
    .running == false and (.record | startswith(".ktx/runs/")) and
    (.lastRun.results | length) == 4 and
    .leftovers == {"worktrees": [".ktx/worktrees/session-x"],
      "sessions": [{"path": ".ktx/worktrees/session-x", "outcome": "crash", "reason": null}],
      "gitLocks": [".git/index.lock"]}' "$T/st.json"
check "status offline: the lock file is still there" [ -e "$P/.git/index.lock" ]
for verb in pause resume drain abort; do
	sup -C "$P" "$verb" >/dev/null 2>"$T/e"
	rc=$?
	check "$verb offline: exit 1" [ "$rc" -eq 1 ]
	check "$verb offline: says why" grep -q \
	    "^ktx-supervisor: no ktx-supervisor is running in \"$P\"\$" "$T/e"
done
mkproject empty
sup -C "$P" status >"$T/st" 2>&1
check "status with no run ever: says so" grep -q '^no run is recorded in .ktx/runs$' "$T/st"
sup -C "$T/nowhere" status >"$T/st" 2>&1
rc=$?
check "status of a directory that is not there: exit 1" [ "$rc" -eq 1 ]
check "status of a directory that is not there: says so" grep -q \
    "^ktx-supervisor: cannot open \"$T/nowhere\": No such file or directory\$" "$T/st"
sup -C "$P" pause extra >"$T/st" 2>&1
rc=$?
check "pause with an argument: usage error (2)" [ "$rc" -eq 2 ]
check "pause with an argument: says which" grep -q '^ktx-supervisor: unexpected argument "extra"$' "$T/st"

# --- pause and resume: workers stopped and continued, timers frozen. ---
L=$T/pause.log
mkproject pause
{
	echo "connections:"
	probe a log "$L" rank 0 acquire session hold 1.2 release
	probe b log "$L" rank 1 acquire session hold 0.02 release
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest -j 2 --timeout 2 --json
wait_until 5 requested 2
sup -C "$P" pause >"$T/o" 2>&1
check "pause: exit 0, says so" grep -q '^paused: 2 workers stopped' "$T/o"
wait_until 2 eval '[ "$(state_of a)" = T ] && [ "$(state_of b)" = T ]'
check "pause: both workers are stopped" [ "$(state_of a)$(state_of b)" = TT ]
check "pause: the supervisor is not" [ "$(proc_state "$SUP")" != T ]
sup -C "$P" status --json >"$T/st.json"
check "pause: status says paused" jq_ok '.status.paused' "$T/st.json"
sup -C "$P" pause >"$T/o" 2>&1
check "pause again: already paused" grep -q '^already paused$' "$T/o"
sleep 2	# longer than --timeout: the run's clock stands still
sup -C "$P" resume >"$T/o" 2>&1
check "resume: exit 0, says so" grep -q '^resumed: 2 workers continue$' "$T/o"
check "resume: the workers run again" wait_until 2 eval '[ "$(state_of a)" != T ]'
wait "$SUP"
check "pause: nothing timed out while paused" jq_ok '
    [.results[] | .status] == ["done","done"]' "$T/bg.out"
check "pause: the lock was held 1.2 s of run time, not 3" jq_ok '
    .results[0].lock.holdMs < 2000' "$T/bg.out"

# --- drain: running targets finish, the rest are not run. ---
L=$T/drain.log
mkproject drain
{
	echo "connections:"
	probe a log "$L" acquire session hold 0.5 release
	probe b log "$L" hold 0.02
	probe c log "$L" hold 0.02
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest -j 1 --json
wait_until 5 entered 1
sup -C "$P" drain >"$T/o" 2>&1
check "drain: says what happens" grep -q '^draining: 1 running targets finish, 2 queued are not run$' "$T/o"
wait "$SUP"
rc=$?
check "drain: exit 1" [ "$rc" -eq 1 ]
check "drain: a done, b and c not run" jq_ok '
    [.results[] | .status] == ["done","not-run","not-run"] and
    .results[1].detail == "not started: the run was drained by \"ktx-supervisor drain\""' "$T/bg.out"

# --- abort: like SIGTERM, and a second one kills at once. ---
L=$T/abort.log
mkproject abort
{
	echo "connections:"
	probe a log "$L" ignore-term acquire session hold 30 release
	probe b log "$L" rank 1 acquire session hold 0.02 release
} >"$P/ktx.yaml"
start=$(now)
sup_bg -C "$P" ingest -j 2 --grace 20 --json
wait_until 5 requested 2
sup -C "$P" abort >"$T/o" 2>&1
check "abort: says so" grep -q '^aborting 2 running targets (grace 20 s; abort again to kill them now)$' "$T/o"
sleep 0.3
check "abort: a ignores SIGTERM and is still there" [ -n "$(state_of a)" ]
sup -C "$P" abort >"$T/o" 2>&1
check "abort again: kills now" grep -q '^killing 1 running targets now$' "$T/o"
wait "$SUP"
rc=$?
took=$(elapsed_since "$start")
check "abort: the supervisor re-raised SIGTERM (exit $rc)" [ "$rc" -eq 143 ]
check "abort: well before the grace period ended ($took s)" fle "$took" 10
check "abort: both aborted, the results written" jq_ok '
    [.results[] | .status] == ["aborted","aborted"]' "$T/bg.out"
check "abort: b, queued for the lock, never got it" [ "$(order "$L" enter)" = "a" ]

# --- Another uid is refused by the supervisor itself. ---
L=$T/uid.log
mkproject uid
{
	echo "connections:"
	probe a log "$L" acquire session hold 1 release
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest --json
wait_until 5 entered 1
wait_until 5 sock_up
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
# Let nobody reach the socket, so that only the uid check stands.
[ "$(id -u)" -eq 0 ] && chmod 711 "$T" "$P" "$P/.ktx" "$P/.ktx/run" &&
    chmod 666 "$P/.ktx/run/supervisor.sock"
if [ "$(id -u)" -ne 0 ]; then
	echo "skip: uid check (needs root to run a client as nobody)"
elif ! as_nobody test -w "$P/.ktx/run/supervisor.sock"; then
	echo "skip: uid check (nobody cannot reach $T: TMPDIR not traversable)"
else
	as_nobody "$KTX_SUPERVISOR" -C "$P" pause >"$T/o" 2>&1
	rc=$?
	check "uid: nobody is refused (exit $rc)" [ "$rc" -eq 1 ]
	check "uid: by the uid check" grep -q \
	    '^ktx-supervisor: the supervisor refused "pause": uid 65534 may not control this supervisor, which runs as uid 0$' "$T/o"
	check "uid: the supervisor logged the refusal" grep -q \
	    'control: refused a client: uid 65534 may not control' "$T/bg.err"
	sup -C "$P" status --json >"$T/st.json"
	check "uid: nothing was paused" jq_ok '.status.paused == false' "$T/st.json"
fi
[ "$(id -u)" -eq 0 ] && chmod 700 "$T"
wait "$SUP"
check "uid: the run went on" jq_ok '.results[0].status == "done"' "$T/bg.out"

# --- Garbage gets an error reply; the supervisor is unaffected. ---
L=$T/garbage.log
mkproject garbage
{
	echo "connections:"
	# Long enough for seven requests on a busy machine (ASan build, CI).
	probe a log "$L" acquire session hold 6 release
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest --json
wait_until 5 entered 1
S=$P/.ktx/run/supervisor.sock
send() { "$KTX_WORKER" --send "$S" "$@"; }
reply_is() {	# CODE MESSAGE: the one reply, an error with those
	jq -e -s --arg c "$1" --arg m "$2" \
	    'length == 1 and .[0] == {"v": 1, "type": "error", "code": $c, "message": $m}' \
	    "$T/reply" >/dev/null || { cat "$T/reply" >&2; return 1; }
}
send "hello there" >"$T/reply"
check "garbage: not JSON" reply_is bad-message "frame is not JSON"
send '{"v":2,"type":"status"}' >"$T/reply"
check "garbage: another version" reply_is bad-message "unsupported protocol version 2 (this is 1)"
send '{"v":1,"type":"reboot"}' >"$T/reply"
check "garbage: unknown type" reply_is bad-message 'unknown message type "reboot"'
send '{"v":1,"type":"pause","now":true}' >"$T/reply"
check "garbage: unknown member" reply_is bad-message 'bad "pause" message: unknown member "now"'
send '{"v":1,"type":"hello","target":"a","pid":1}' >"$T/reply"
check "garbage: a worker's message" reply_is unexpected '"hello" is not a control request'
send --bytes=70000 >"$T/reply"
check "garbage: a frame too long" reply_is bad-message "frame longer than 65536 bytes"
send '{"v":1,"type":"status"}' 'junk' >"$T/reply"
check "garbage: a good request still answered before the bad one" jq -e -s '
    length == 2 and .[0].type == "snapshot" and .[1].type == "error"' "$T/reply" >/dev/null
sup -C "$P" status >/dev/null 2>&1
check "garbage: the supervisor still serves" [ $? -eq 0 ]
wait "$SUP"
rc=$?
check "garbage: and the run ended well (exit $rc)" [ "$rc" -eq 0 ]
check "garbage: its target is done" jq_ok '.results[0].status == "done"' "$T/bg.out"

# --- A status too large for a frame is refused, not cut. ---
L=$T/large.log
mkproject large
{
	echo "connections:"
	i=0
	while [ "$i" -lt 300 ]; do
		probe "t$(printf '%0120d' "$i")" log "$L" acquire session hold 1 release
		i=$((i + 1))
	done
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest -j 1 --json
wait_until 5 entered 1
sup -C "$P" status >"$T/o" 2>&1
rc=$?
check "too large: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
check "too large: says why" grep -q '^ktx-supervisor: the supervisor refused "status": the status of 300 targets does not fit in a frame of 65536 bytes$' "$T/o"
sup -C "$P" drain >/dev/null 2>&1
wait "$SUP"
check "too large: the run went on" jq_ok '.results[0].status == "done" and .results[1].status == "not-run"' "$T/bg.out"

# --- A stale socket is replaced; a live one is left to its owner. ---
L=$T/stale.log
mkproject stale
{
	echo "connections:"
	probe a log "$L" acquire session hold 1 release
} >"$P/ktx.yaml"
mkdir -p "$P/.ktx/run" && chmod 700 "$P/.ktx/run"
"$KTX_WORKER" --bind "$P/.ktx/run/supervisor.sock"
sup -C "$P" status >"$T/st" 2>&1
check "stale: a dead socket means no supervisor" grep -q '^no ktx-supervisor is running' "$T/st"
sup_bg -C "$P" ingest --json
wait_until 5 entered 1
sup -C "$P" status >"$T/st" 2>&1
check "stale: the new supervisor took the socket over" grep -q '^  held by a ' "$T/st"
sup -C "$P" ingest --json >/dev/null 2>"$T/err2"
rc=$?
check "stale: a second supervisor is busy (75)" [ "$rc" -eq 75 ]
sup -C "$P" status >"$T/st" 2>&1
check "stale: ... and left the first one's socket alone" grep -q '^  held by a ' "$T/st"
wait "$SUP"
check "stale: the run ended well" jq_ok '.results[0].status == "done"' "$T/bg.out"

# Something else at the socket's path is not ours to remove: the run goes
# on without a control socket.
L=$T/notsock.log
mkproject notsock
{
	echo "connections:"
	probe a log "$L" hold 0.1
} >"$P/ktx.yaml"
mkdir -p "$P/.ktx/run" && chmod 700 "$P/.ktx/run"
echo keep >"$P/.ktx/run/supervisor.sock"
sup -C "$P" ingest --json >"$T/bg.out" 2>"$T/bg.err"
check "not a socket: the run went on" jq_ok '.results[0].status == "done"' "$T/bg.out"
check "not a socket: it said why there was no control socket" grep -q \
    "warning: no control socket: \"$P/.ktx/run/supervisor.sock\" exists and is not a socket" "$T/bg.err"
check "not a socket: the file is untouched" [ "$(cat "$P/.ktx/run/supervisor.sock")" = keep ]

finish
