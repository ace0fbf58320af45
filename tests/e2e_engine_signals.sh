#!/bin/sh
# Signals to the supervisor: SIGTERM/SIGINT abort (TERM, grace, KILL) and a
# second one escalates; SIGTSTP/SIGCONT freeze and thaw with the timers;
# SIGHUP drains; SIGUSR1 prints a snapshot; a SIGKILLed supervisor takes
# its workers and adapters with it.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"

command -v jq >/dev/null || { echo "jq is required (scripts/deps installs it)" >&2; exit 99; }

# The run record of the project $P (there is one per test project).
record() { cat "$P"/.ktx/runs/*.json; }

# --- SIGTERM mid-run. ---
L=$T/term.log
mkproject term
{
	echo "connections:"
	conn db sqlite "$L" sleep 0.1
	for i in 1 2 3 4; do conn "s$i" dbt "$L" sleep 30; done
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest -j 2 --grace 2
wait_until 5 log_has "$L" start 3
start=$(now)
kill -TERM "$SUP"
wait "$SUP"
rc=$?
took=$(elapsed_since "$start")
check "SIGTERM: the exit status shows the signal" [ "$rc" -eq 143 ]
check "SIGTERM: adapters that obey TERM end at once ($took s)" fle "$took" 1.5
check "SIGTERM: no process of any worker group survives" no_survivors "$L"
check "SIGTERM: the table is printed" grep -q '^Ingest aborted$' "$T/bg.out"
check "SIGTERM: queued targets are listed as not-run" \
    grep -Eq '^s4 +2 +dbt +not-run +- +- +not started: the run was aborted by SIGTERM$' "$T/bg.out"
check "SIGTERM: running targets aborted, queued not-run, in the run record" \
    jq_ok '[.results[].status] == ["done","aborted","aborted","not-run","not-run"] and
    .results[1].detail == "aborted by SIGTERM"' "$(ls "$P"/.ktx/runs/*.json)"
check "SIGTERM: the pidfile is released" [ ! -s "$P/.ktx/run/supervisor.pid" ]

# --- An adapter that ignores SIGTERM is killed within the grace period. ---
L=$T/stubborn.log
mkproject stubborn
{
	echo "connections:"
	conn s dbt "$L" ignore-term
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest --grace 1
wait_until 5 log_has "$L" start 1
sleep 0.2
start=$(now)
kill -TERM "$SUP"
wait "$SUP"
rc=$?
took=$(elapsed_since "$start")
check "grace: exit status 143" [ "$rc" -eq 143 ]
check "grace: the stubborn adapter is killed after the grace ($took s)" \
    between 0.4 "$took" 2
check "grace: nothing survives" no_survivors "$L"
check "grace: the target is aborted" jq_ok '.results[0].status == "aborted"' \
    "$(ls "$P"/.ktx/runs/*.json)"

# --- A second SIGINT kills at once. ---
L=$T/twice.log
mkproject twice
{
	echo "connections:"
	conn a dbt "$L" ignore-term
	conn b dbt "$L" ignore-term
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest -j 2 --grace 30
wait_until 5 log_has "$L" start 2
start=$(now)
kill -INT "$SUP"
sleep 0.3
kill -INT "$SUP"
wait "$SUP"
rc=$?
took=$(elapsed_since "$start")
check "escalate: exit status 130" [ "$rc" -eq 130 ]
check "escalate: does not wait for the 30 s grace ($took s)" fle "$took" 2
check "escalate: no process of the worker groups is left" no_survivors "$L"
check "escalate: both targets aborted, the record written" \
    jq_ok '[.results[].status] == ["aborted","aborted"] and
    .results[0].signal == "SIGKILL"' "$(ls "$P"/.ktx/runs/*.json)"

# --- SIGTSTP freezes (timers too), SIGCONT thaws. ---
L=$T/freeze.log
mkproject freeze
{
	echo "connections:"
	conn a dbt "$L" count "$T/count-a" 15
	CONN_TIMEOUT=3 conn b dbt "$L" count "$T/count-b" 15
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest -j 2 --timeout 3 --grace 1 --json
counted() { [ "$(cat "$1" 2>/dev/null || echo 0)" -ge "$2" ]; }
wait_until 5 counted "$T/count-a" 3
kill -TSTP "$SUP"
is_stopped() { [ "$(proc_state "$1")" = T ]; }
check "freeze: the supervisor stops itself" wait_until 2 is_stopped "$SUP"
sleep 0.3
a1=$(cat "$T/count-a") b1=$(cat "$T/count-b")
adapter=$(field "$L" start a 4)
check "freeze: the adapters are stopped" is_stopped "$adapter"
sleep 3.2
check "freeze: no progress while frozen" \
    [ "$(cat "$T/count-a") $(cat "$T/count-b")" = "$a1 $b1" ]
kill -CONT "$SUP"
wait "$SUP"
rc=$?
check "thaw: the run finishes, exit 0" [ "$rc" -eq 0 ]
check "thaw: both adapters counted to the end" \
    [ "$(cat "$T/count-a") $(cat "$T/count-b")" = "15 15" ]
check "thaw: neither the target nor the adapter timeout fired" \
    jq_ok '[.results[].status] == ["done","done"]' "$T/bg.out"

# --- SIGHUP drains. ---
L=$T/drain.log
mkproject drain
{
	echo "connections:"
	for i in 1 2 3; do conn "s$i" dbt "$L" sleep 0.5; done
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest -j 1 --json
wait_until 5 log_has "$L" start 1
kill -HUP "$SUP"
wait "$SUP"
rc=$?
check "drain: exit 1 (targets not run)" [ "$rc" -eq 1 ]
check "drain: the running target finished, the queued ones did not start" \
    jq_ok '[.results[].status] == ["done","not-run","not-run"] and
    .results[1].detail == "not started: the run was drained by SIGHUP"' "$T/bg.out"
check "drain: only one adapter ran" [ "$(lines "$L" start)" -eq 1 ]

# --- SIGUSR1 prints a snapshot. ---
L=$T/usr1.log
mkproject usr1
{
	echo "connections:"
	conn db sqlite "$L" sleep 0.1
	conn s1 dbt "$L" sleep 1.5
	conn s2 dbt "$L" sleep 0.1
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest -j 1
wait_until 5 log_has "$L" start 2
kill -USR1 "$SUP"
wait_until 2 grep -q '^  s2 ' "$T/bg.err"
worker=$(field "$L" start s1 6)
check "snapshot: a summary line" \
    grep -Eq '^ktx-supervisor: run [0-9TZ]+-[0-9a-f]+: 3 targets, 1 running, 1 queued, 1 finished$' "$T/bg.err"
check "snapshot: the running target with its pid" \
    grep -Eq "^  s1  stage 2  running   pid $worker  [0-9.]+s  adapter$" "$T/bg.err"
check "snapshot: finished and queued targets" \
    sh -c "grep -Eq '^  db  stage 1  done +[0-9.]+s$' '$T/bg.err' &&
    grep -Eq '^  s2  stage 2  queued$' '$T/bg.err'"
# title_is PID ERE: the process title of PID starts with a match (libbsd
# may leave a "." at the end of the original argv area).
title_is() {
	local title
	title=$(ps -o args= -p "$1")
	echo "$title" | grep -Eq "^$2( |\$)" || { echo "title: $title" >&2; return 1; }
}
check "titles: ps shows what the worker does" \
    title_is "$worker" "ktx-worker: s1 adapter"
check "titles: ps shows the run and what is left" \
    title_is "$SUP" "ktx-supervisor: run [0-9TZ]+-[0-9a-f]+, 2 targets left"
wait "$SUP"
check "snapshot: the run goes on" [ $? -eq 0 ]

# --- SIGKILL of the supervisor: workers and adapters follow it. ---
L=$T/kill.log
mkproject kill
{
	echo "connections:"
	conn a dbt "$L" ignore-term
	conn b dbt "$L" sleep 30
	conn c dbt "$L" ignore-term
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest -j 3
wait_until 5 log_has "$L" start 3
kill -KILL "$SUP"
wait "$SUP"
check "SIGKILL: every worker and adapter exits within 2 s" \
    wait_until 2 no_survivors "$L" 2>/dev/null
check "SIGKILL: and they are gone" no_survivors "$L"
finish
