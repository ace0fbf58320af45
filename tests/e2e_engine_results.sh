#!/bin/sh
# What a run reports: results in plan order, the table and its failure
# section, the --json document and the run record, exit statuses,
# timeouts, the adapter's environment, and the one-supervisor rule.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"

command -v jq >/dev/null || { echo "jq is required (scripts/deps installs it)" >&2; exit 99; }

# --- Plan order although completion order is reversed. ---
L=$T/order.log
mkproject order
{
	echo "connections:"
	conn a dbt "$L" sleep 0.6
	conn b dbt "$L" sleep 0.3
	conn c dbt "$L" fail 4
} >"$P/ktx.yaml"
sup -C "$P" ingest -j 3 --json >"$T/out" 2>"$T/err"
rc=$?
check "order: exit 1 when a target fails" [ "$rc" -eq 1 ]
check "order: completion order was c, b, a" [ "$(awk '$1 == "end" { printf "%s", $2 }' "$L")" = cba ]
check "order: results in plan order" jq_ok '[.results[].connectionId] == ["a","b","c"]' "$T/out"
check "order: the plan is in the document" jq_ok '
    .plan.maxConcurrency == 3 and [.plan.targets[].connectionId] == ["a","b","c"]' "$T/out"
check "order: JSON results carry their fields" jq_ok '
    .results[2] as $r | $r.status == "failed" and $r.exitCode == 4 and
    $r.signal == null and $r.commit == null and ($r.durationMs | type) == "number" and
    ($r.startedAt | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z$")) and
    ($r.finishedAt | test("Z$")) and ($r.detail | test("cannot reach its input")) and
    ($r.retryCommand | endswith("ingest c")) and
    .results[0].retryCommand == null and .results[0].detail == null' "$T/out"
check "order: --json leaves stderr without progress lines" \
    sh -c "! grep -q '^\[' '$T/err'"
check "order: stdout is exactly one document" \
    [ "$(jq -c . "$T/out" | wc -l)" -eq 1 ]
record=$(ls "$P/.ktx/runs/"*.json 2>/dev/null)
check "order: one run record" [ "$(echo "$record" | grep -c .)" -eq 1 ]
check "order: the run record is the document printed" cmp -s "$record" "$T/out"
check "order: no temp file left in .ktx/runs" [ "$(ls -a "$P/.ktx/runs" | wc -l)" -eq 3 ]
check "order: the run id is a UTC timestamp and a suffix" \
    sh -c "basename '$record' | grep -Eq '^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}\.json$'"
check "order: .ktx/run is private" [ "$(stat -c %a "$P/.ktx/run")" = 700 ]

# --- The plain table, progress lines and the failure section. ---
sup -C "$P" ingest -j 3 >"$T/out" 2>"$T/err"
check "table: exit 1" [ $? -eq 1 ]
check "table: rows in plan order" [ "$(awk 'NR > 3 && NF && !/^Failed/ { print $1 } /^Failed/ { exit }' "$T/out" | tr -d '\n')" = abc ]
check "table: the header names the columns" \
    grep -Eq '^Connection +Stage +Driver +Status +Duration +Commit +Detail$' "$T/out"
check "table: c failed with the first line of its stderr" \
    grep -Eq '^c +2 +dbt +failed +[0-9.]+s +- +warming up$' "$T/out"
check "table: a failure section with the detail, the kept worktree, the trace and a retry command" \
    sh -c "sed -n '/^Failed targets:/,\$p' '$T/out' | tr '\n' '|' |
    grep -Eq '^Failed targets:\\|  c: failed\\|    warming up\\|    error: c cannot reach its input\\|    kept: $P/.ktx/worktrees/session-[^|]*-c\\|    trace: $P/.ktx/ingest-traces/[^|]*-c/trace.jsonl\\|    retry: ktx-supervisor -C $P ingest c\\|\$'"
check "table: progress lines on stderr" \
    grep -q '^\[3/3\] c · starting$' "$T/err"
check "table: failure line on stderr" grep -q '^  failed · warming up$' "$T/err"
check "table: done lines on stderr" [ "$(grep -c '^  done$' "$T/err")" -eq 2 ]
check "table: a second run record" [ "$(ls "$P/.ktx/runs" | wc -l)" -eq 2 ]

# --- Everything done: exit 0; an unsupported driver fails alone. ---
L=$T/ok.log
mkproject ok
{
	echo "connections:"
	conn db sqlite "$L" env "$T/env.txt"
	conn s1 dbt "$L" sleep 0.05
} >"$P/ktx.yaml"
sup -C "$P" ingest >"$T/out" 2>"$T/err"
check "done: exit 0" [ $? -eq 0 ]
check "done: no failure section" sh -c "! grep -q Failed '$T/out'"
job=$(sed -n 's/^KTX_JOB_ID=//p' "$T/env.txt")
check "done: the adapter runs in its session worktree" \
    [ "$(head -1 "$T/env.txt")" = "$P/.ktx/worktrees/session-$job" ]
check "done: the adapter gets the connection, project, run and job ids" sh -c "
    grep -qx 'KTX_CONNECTION_ID=db' '$T/env.txt' &&
    grep -qx 'KTX_PROJECT_DIR=$P' '$T/env.txt' &&
    grep -Eqx 'KTX_RUN_ID=[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}' '$T/env.txt' &&
    grep -Eqx 'KTX_JOB_ID=[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}-db' '$T/env.txt'"
check "done: the adapter gets its worktree, staging dir, sync id and skills" sh -c "
    grep -qx 'KTX_WORKTREE=$P/.ktx/worktrees/session-$job' '$T/env.txt' &&
    grep -qx 'KTX_STAGING_DIR=$P/.ktx/cache/local-ingest/$job/staged' '$T/env.txt' &&
    grep -Eqx 'KTX_SYNC_ID=[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{6}-$job' '$T/env.txt' &&
    grep -q '^KTX_SKILLS_DIR=/' '$T/env.txt'"
check "done: the adapter does not get the worker's environment" \
    sh -c "! grep -q '^KTX_WORKER=' '$T/env.txt'"
check "done: nothing changed, so no commit, no worktree left" sh -c "
    [ -z \"\$(ls '$P/.ktx/worktrees')\" ] &&
    [ -z \"\$(git -C '$P' branch --list 'session/*')\" ]"

printf '  nb:\n    driver: notion\n    source_dir: export\n' >>"$P/ktx.yaml"
sup -C "$P" ingest --json >"$T/out" 2>"$T/err"
check "missing input: exit 1" [ $? -eq 1 ]
check "missing input: the directory is named, the others are done" jq_ok '
    [.results[].status] == ["done","failed","done"] and
    .results[1].detail == "export: No such file or directory"' "$T/out"

# --- Timeouts: --timeout, ingest.sources.timeoutSeconds, adapter.timeout. ---
L=$T/timeout.log
mkproject timeout
{
	echo "connections:"
	conn slow dbt "$L" sleep 30
	conn quick dbt "$L" sleep 0.1
} >"$P/ktx.yaml"
start=$(now)
sup -C "$P" ingest -j 2 --timeout 1 --grace 1 --json >"$T/out" 2>"$T/err"
rc=$?
took=$(elapsed_since "$start")
check "timeout: exit 1" [ "$rc" -eq 1 ]
check "timeout: the slow target ends after its timeout ($took s)" fle "$took" 3
check "timeout: status timeout, the other one done" jq_ok '
    [.results[].status] == ["done","timeout"] and
    .results[1].detail == "timed out after 1 s"' "$T/out"
check "timeout: nothing of the slow target survives" no_survivors "$L"

L=$T/timeout2.log
mkproject timeout2
{
	echo "connections:"
	conn db sqlite "$L" sleep 1.5
	conn src dbt "$L" sleep 30
	printf 'ingest:\n  sources:\n    timeoutSeconds: 1\n'
} >"$P/ktx.yaml"
sup -C "$P" ingest --grace 1 --json >"$T/out" 2>"$T/err"
check "timeoutSeconds: applies to sources, not to database targets" jq_ok '
    [.results[].status] == ["done","timeout"]' "$T/out"

L=$T/timeout3.log
mkproject timeout3
{
	echo "connections:"
	CONN_TIMEOUT=1 conn s dbt "$L" sleep 30
} >"$P/ktx.yaml"
sup -C "$P" ingest --grace 1 --json >"$T/out" 2>"$T/err"
check "adapter.timeout: the worker ends the adapter" jq_ok '
    .results[0].status == "timeout" and
    (.results[0].detail | startswith("adapter command timed out after 1 s"))' "$T/out"

# --- A worker that cannot run. ---
KTX_WORKER=$T/no-such-worker sup -C "$P" ingest --json >"$T/out" 2>"$T/err"
check "no worker: exit 1" [ $? -eq 1 ]
check "no worker: the detail says so" jq_ok '
    .results[0].status == "failed" and (.results[0].detail | startswith("cannot run the worker"))' "$T/out"

# --- Stand-in workers: what travels where, and workers that break the rules. ---
# fake NAME BODY: a worker script; $1 is its connection id, fd 3 its socket.
fake() {
	printf '#!/bin/sh\n%s\n' "$2" >"$T/$1"
	chmod +x "$T/$1"
}
HELLO='printf "{\"v\":1,\"type\":\"hello\",\"target\":\"%s\",\"pid\":%d}\n" "$1" $$ >&3'
fake spy "printf '%s\n' \"\$0\" \"\$@\" >'$T/spy.argv'
$HELLO
head -n 1 <&3 >'$T/spy.assign'
echo '{\"v\":1,\"type\":\"result\",\"status\":\"done\",\"detail\":null,\"exit_code\":0,\"signal\":null,\"commit\":null,\"trace\":null,\"worktree\":null}' >&3"
fake badframe 'echo "not json" >&3; exec sleep 30'
fake wrongpid 'printf "{\"v\":1,\"type\":\"hello\",\"target\":\"%s\",\"pid\":1}\n" "$1" >&3; exec sleep 30'
fake noresult "$HELLO; head -n 1 <&3 >/dev/null; exit 0"

mkproject fakes
cat >"$P/ktx.yaml" <<EOF
connections:
  wh:
    driver: postgres
    url: env:KTX_TEST_SECRET_URL
    enabled_tables: [public.orders]
    adapter: {command: [sh, -c, "exit 0"], timeout: 9, secrets: {TOKEN: "file:/run/secrets/t"}}
EOF
KTX_WORKER=$T/spy sup -C "$P" ingest --grace 1 >"$T/out" 2>"$T/err"
check "spy: the run takes the stand-in's result" [ $? -eq 0 ]
check "spy: the worker's argv holds the connection id only" \
    [ "$(tr '\n' ' ' <"$T/spy.argv")" = "$T/spy wh " ]
check "spy: the spec comes over the socket" jq_ok '
    .v == 1 and .type == "assign" and .target == "wh" and .grace == 1 and
    .project_dir == "'"$P"'" and (.job_id | endswith("-wh")) and
    .author == {name: "ktx", email: "ktx@example.com"} and
    .warehouses == ["wh"] and
    .connection == {id: "wh", driver: "postgres", kind: "database", path: null,
      url: "env:KTX_TEST_SECRET_URL", source_dir: null, mappings_connection: null,
      remote_input: null, enabled_tables: ["public.orders"],
      adapter: {command: ["sh", "-c", "exit 0"], timeout: 9,
        secrets: ["TOKEN=file:/run/secrets/t"]}}' "$T/spy.assign"

for w in wrongpid noresult; do
	KTX_WORKER=$T/$w sup -C "$P" ingest --grace 1 --json >"$T/$w.out" 2>"$T/$w.err"
done
start=$(now)
KTX_WORKER=$T/badframe sup -C "$P" ingest --grace 1 --json >"$T/badframe.out" 2>"$T/err"
rc=$?
took=$(elapsed_since "$start")
check "bad frame: exit 1" [ "$rc" -eq 1 ]
check "bad frame: the worker is dropped at once ($took s)" fle "$took" 0.9
check "bad frame: the detail names the protocol error" jq_ok '
    .results[0].status == "failed" and
    .results[0].detail == "protocol error: frame is not JSON"' "$T/badframe.out"
check "wrong pid: dropped" jq_ok '
    .results[0].status == "failed" and
    (.results[0].detail | test("^protocol error: \"hello\" from \"wh\" pid 1, expected \"wh\" pid [0-9]+$"))' \
    "$T/wrongpid.out"
check "no result: a worker that exits without one failed" jq_ok '
    .results[0].status == "failed" and .results[0].exitCode == 0 and
    .results[0].detail == "the worker exited with status 0 without a result"' "$T/noresult.out"

# --- One supervisor per project. ---
L=$T/busy.log
mkproject busy
{
	echo "connections:"
	conn s dbt "$L" sleep 1
} >"$P/ktx.yaml"
sup_bg -C "$P" ingest
first=$SUP
wait_until 5 log_has "$L" start 1
sup -C "$P" ingest >"$T/out" 2>"$T/err"
check "busy: a second supervisor exits 75" [ $? -eq 75 ]
check "busy: it names the pid holding the project" grep -q "pid $first" "$T/err"
check "busy: and prints nothing on stdout" [ ! -s "$T/out" ]
wait "$first"
check "busy: the first one finishes normally" [ $? -eq 0 ]
check "busy: the pidfile is emptied at the end" [ ! -s "$P/.ktx/run/supervisor.pid" ]
sup -C "$P" ingest >/dev/null 2>&1
check "busy: the project can be ingested again" [ $? -eq 0 ]

# --- Runs in quick succession: their ids sort in the order they ran
# (syncIds are made of them, and ktx takes the greatest as the latest). ---
L=$T/quick.log
mkproject quick
{ echo "connections:"; conn q dbt "$L" sleep 0; } >"$P/ktx.yaml"
for i in 1 2 3 4 5; do sup -C "$P" ingest >/dev/null 2>&1; done
check "quick: five run records" [ "$(ls "$P/.ktx/runs" | grep -c '\.json$')" -eq 5 ]
check "quick: the run ids sort in the order the runs ended" \
    [ "$(ls -tr "$P/.ktx/runs")" = "$(ls "$P/.ktx/runs" | LC_ALL=C sort)" ]

finish
