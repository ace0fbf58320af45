#!/bin/sh
# One target through the pipeline: the session, the stage and projection
# commits, the squash and its message, the clean-up; the trace and its
# level; the external adapter's contract (JSON-lines, progress, provenance,
# failure detail, timeout); secrets; sl_refs pruning; a source that needs
# the warehouse manifest, with and without it.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"

# --- A target that lands. ---
mkktx basic
adapter basic <<'EOF'
stage cards/1.json '{"id": 1}\n'
page basic-one 'From card 1.'
emit '{"event":"card_read","percent":50,"message":"card 1","rawPaths":["cards/1.json"],"card":1}'
EOF
config <<EOF
connections:
$(cmdconn src dbt basic)
EOF
base=$(head_of)
ingest
check "basic: exit 0" [ $? -eq 0 ]
job=$(rfield src jobId)
sync=$(jq -r 'select(.event == "ingest_started") | .syncId' "$(trace src)")
check "basic: done with the new main commit" result src \
    '.status == "done" and .commit == "'"$(head_of)"'" and .worktree == null'
check "basic: one squash commit on the old main" \
    [ "$(git -C "$P" rev-parse HEAD^)" = "$base" ]
check "basic: the syncId is UTC time and the job id" \
    sh -c "echo '$sync' | grep -Eqx '[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{6}-$job'"
check "basic: the squash message names source, job, sync and diff" \
    [ "$(git -C "$P" log -1 --format=%s)" = "ingest(dbt): $job syncId=$sync diff=+1/~0/-0/=0" ]
check "basic: the commit's author is storage.git.author" \
    [ "$(git -C "$P" log -1 --format='%an <%ae>')" = "ktx <ktx@example.com>" ]
check "basic: the raw snapshot and the page are on main" sh -c "
    [ \"\$(git -C '$P' show HEAD:raw-sources/src/dbt/$sync/cards/1.json)\" = '{\"id\": 1}' ] &&
    git -C '$P' show HEAD:wiki/global/basic-one.md | grep -q 'From card 1.'"
check "basic: and in the root checkout" [ -f "$P/wiki/global/basic-one.md" ]
check "basic: no worktree, no session branch left" no_leftovers
check "basic: the staging dir is gone" [ ! -e "$P/.ktx/cache/local-ingest/$job" ]
check "basic: the session had the stage and projection commits" sh -c "
    jq -r 'select(.event == \"committed\") | .data.message' '$(trace src)' | tr '\n' '|' |
    grep -qx 'ingest(dbt): stage raw files syncId=$sync|ingest(dbt): deterministic projection syncId=$sync|'"

T1=$(trace src)
check "trace: at .ktx/ingest-traces/<jobId>/trace.jsonl" \
    [ "$T1" = "$P/.ktx/ingest-traces/$job/trace.jsonl" ]
check "trace: every line is an object with ktx's fields in order" sh -c "
    jq -e -s 'all(.[]; (keys_unsorted | . - [\"durationMs\",\"data\",\"error\"]) ==
        [\"schemaVersion\",\"at\",\"level\",\"jobId\",\"connectionId\",\"sourceKey\",
         \"runId\",\"syncId\",\"phase\",\"event\"] and .schemaVersion == 1 and
        .jobId == \"$job\" and .connectionId == \"src\" and .sourceKey == \"dbt\" and
        (.at | test(\"^[0-9-]{10}T[0-9:]{8}[.][0-9]{3}Z\$\")))' '$T1' >/dev/null"
check "trace: the steps in order" [ "$(jq -r 'select(.phase != "lock" and
    (.event | test("_(started|finished)$|^ingest_"))) | .event' "$T1" | tr '\n' ' ')" = \
    "ingest_started resolve_secrets_started resolve_secrets_finished session_worktree_created_started session_worktree_created_finished adapter_command_started adapter_command_finished stage_raw_files_started stage_raw_files_finished deterministic_projection_started deterministic_projection_finished reconciliation_started reconciliation_finished final_artifact_gates_started final_artifact_gates_finished worktree_clean_check_started worktree_clean_check_finished squash_started squash_finished session_worktree_removed_started session_worktree_removed_finished ingest_finished " ]
check "trace: both refreshes, with phase and result" [ "$(jq -r 'select(.phase == "refresh" and .event == "session_refreshed_from_root") |
    "\(.data.phase) \(.data.result.ok) \(.data.result.changed)"' "$T1" | tr '\n' ' ')" = \
    "before_reconciliation true false before_final_squash true false " ]
check "trace: every lock wait and hold" [ "$(jq -r 'select(.phase == "lock") | "\(.event):\(.data.purpose)"' "$T1" | tr '\n' ' ')" = \
    "repo_lock_wait_started:session repo_lock_acquired:session repo_lock_released:session repo_lock_wait_started:before_reconciliation repo_lock_acquired:before_reconciliation repo_lock_released:before_reconciliation repo_lock_wait_started:before_final_squash repo_lock_acquired:before_final_squash repo_lock_released:before_final_squash repo_lock_wait_started:cleanup repo_lock_acquired:cleanup repo_lock_released:cleanup " ]
check "trace: the adapter's JSON line is an event with its data" has_event src \
    '.phase == "adapter" and .event == "card_read" and .level == "info" and
     .data == {percent: 50, message: "card 1", rawPaths: ["cards/1.json"], card: 1}'
check "trace: the squash carries the commit" has_event src \
    '.event == "squash_finished" and .data.commit == "'"$(head_of)"'"'

# The same input again: a new snapshot, the same files.  A second later:
# syncIds of one second order by the run id's random suffix.
sleep 1
sup -C "$P" ingest >"$T/plain" 2>"$T/err"
check "rerun: exit 0" [ $? -eq 0 ]
check "rerun: the diff counts one unchanged file" sh -c "
    git -C '$P' log -1 --format=%s | grep -q 'diff=+0/~0/-0/=1\$'"
check "progress: the adapter's percent and message on stderr" \
    grep -q '^  \[50%\] card 1$' "$T/err"
check "table: the commit column shows the commit" \
    grep -Eq "^src +2 +dbt +done +[0-9.]+s +$(git -C "$P" rev-parse --short=12 HEAD) *\$" "$T/plain"

# Levels: info keeps no debug events, error none on success.
KTX_INGEST_TRACE_LEVEL=info ingest
check "level info: no debug events" sh -c "
    jq -e -s 'length > 0 and all(.[]; .level == \"info\")' '$(trace src)' >/dev/null"
KTX_INGEST_TRACE_LEVEL=error ingest
check "level error: nothing on success" [ ! -s "$(trace src)" ]

# --- A failing adapter: detail from stderr, session and sentinel kept. ---
mkktx failing
adapter failing <<'EOF'
page failing-page 'Never lands.'
echo "starting" >&2
echo "error: the export is corrupt" >&2
exit 3
EOF
config <<EOF
connections:
$(cmdconn f notion failing)
EOF
before=$(state_of)
ingest
check "failure: exit 1" [ $? -eq 1 ]
check "failure: failed with the stderr tail, the exit code, no commit" result f '
    .status == "failed" and .exitCode == 3 and .commit == null and
    .detail == "starting\nerror: the export is corrupt"'
check "failure: main untouched" [ "$(state_of)" = "$before" ]
job=$(rfield f jobId)
check "failure: the worktree and branch are kept" sh -c "
    [ '$(rfield f worktree)' = '$P/.ktx/worktrees/session-$job' ] &&
    [ -f '$P/.ktx/worktrees/session-$job/wiki/global/failing-page.md' ] &&
    git -C '$P' rev-parse -q --verify 'session/$job' >/dev/null"
check "failure: the sentinel says crash, with the reason" sentinel f '
    keys_unsorted == ["outcome","at","jobId","baseSha","conflictPaths","reason"] and
    .outcome == "crash" and .jobId == "'"$job"'" and .conflictPaths == [] and
    .baseSha == "'"$(head_of)"'" and .reason == "starting\nerror: the export is corrupt"'
check "failure: the sentinel is 2-space JSON" \
    sh -c "sed -n 2p '$(rfield f worktree)/.ktx-outcome' | grep -q '^  \"outcome\": \"crash\",\$'"
check "failure: the root cause and the end in the trace" sh -c "
    jq -r 'select(.level == \"error\") | .event' '$(trace f)' | tr '\n' ' ' |
    grep -qx 'adapter_command_failed ingest_failed '"
sup -C "$P" ingest f >"$T/plain" 2>/dev/null
check "failure: the kept worktree and the trace in the table" sh -c "
    grep -q '^    kept: $P/.ktx/worktrees/session-[^ ]*-f\$' '$T/plain' &&
    grep -q '^    trace: $P/.ktx/ingest-traces/[^ ]*-f/trace.jsonl\$' '$T/plain'"

# --- adapter.timeout. ---
mkktx slow
adapter slow <<'EOF'
page slow-page 'Too late.'
sleep 30
EOF
config <<EOF
connections:
$(cmdconn s dbt slow "timeout: 1")
EOF
ingest --grace 2
check "timeout: exit 1" [ $? -eq 1 ]
check "timeout: status timeout" result s '.status == "timeout" and
    (.detail | startswith("adapter command timed out after 1 s"))'
check "timeout: the sentinel says timeout" sentinel s '.outcome == "timeout"'
ingest --timeout 1 --grace 2
check "--timeout: status timeout" result s '.status == "timeout" and
    .detail == "timed out after 1 s"'
check "--timeout: the supervisor corrected the worker's sentinel" sentinel s '
    .outcome == "timeout" and .reason == "timed out after 1 s"'

# --- Secrets. ---
mkktx secrets
adapter secret <<'EOF'
touch "$KTX_PROJECT_DIR/.ran"
printf '%s\n' "$TOKEN" >"$KTX_PROJECT_DIR/.seen"
emit "{\"event\":\"leak\",\"message\":\"token=$TOKEN\"}"
echo "plain $TOKEN"
echo "stderr $TOKEN and $FILED" >&2
exit 1
EOF
printf 'from-a-file\n' >"$T/secret.txt"
config <<EOF
connections:
$(cmdconn s dbt secret "secrets:" "  TOKEN: env:KTX_TEST_TOKEN" "  FILED: file:$T/secret.txt")
EOF
unset KTX_TEST_TOKEN
ingest
check "secret unset: exit 1" [ $? -eq 1 ]
check "secret unset: fails before anything runs, naming the variable" result s '
    .status == "failed" and .worktree == null and
    .detail == "connection \"s\": \"adapter.secrets.TOKEN\" names the environment variable \"KTX_TEST_TOKEN\", which is not set"'
check "secret unset: the adapter did not run, no session was made" sh -c "
    [ ! -e '$P/.ran' ] && [ -z \"\$(ls -A '$P/.ktx/worktrees' 2>/dev/null)\" ]"
KTX_TEST_TOKEN=s3cr3t-value-42 ingest
check "secret set: the adapter got both values" sh -c "
    [ \"\$(cat '$P/.seen')\" = s3cr3t-value-42 ]"
check "secret set: the detail has neither value" result s '
    .detail == "stderr (secret) and (secret)"'
check "secret set: no trace, result or run record holds a value" sh -c "
    ! grep -rqs -e s3cr3t-value-42 -e from-a-file '$P/.ktx/ingest-traces' '$P/.ktx/runs' '$T/out' '$T/err'"
check "secret set: the trace has the redacted line" has_event s \
    '.event == "leak" and .data.message == "token=(secret)"'

# --- sl_refs to a missing source are pruned. ---
mkktx prune
adapter prune <<'EOF'
write wiki/global/pruned.md '---\nsummary: Refs\nusage_mode: auto\nsl_refs:\n  - ghost_source\n---\n\nBody.\n'
EOF
config <<EOF
connections:
$(cmdconn p dbt prune)
EOF
ingest
check "prune: done" result p '.status == "done"'
check "prune: the trace says what was pruned" has_event p '
    .phase == "reconciliation" and .event == "sl_refs_pruned" and
    .data == {path: "wiki/global/pruned.md", removed: ["ghost_source"]}'
check "prune: main's page has no sl_refs" sh -c "
    ! git -C '$P' show HEAD:wiki/global/pruned.md | grep -q ghost_source"

# --- A source that needs the warehouse manifest. ---
mkktx manifest
adapter needs <<'EOF'
overlay wh customers
EOF
config <<EOF
connections:
$(warehouse wh "create table customers (id integer primary key, name text);")
$(cmdconn crm dbt needs)
EOF
ingest
check "manifest: exit 0" [ $? -eq 0 ]
check "manifest: the database target landed first" sh -c "
    git -C '$P' log --format=%s | sed -n 2p | grep -q '^ingest(live-database): '"
check "manifest: the overlay and its page landed" sh -c "
    git -C '$P' show HEAD:semantic-layer/wh/customers.yaml | grep -q customers_count &&
    git -C '$P' show HEAD:wiki/global/count-customers.md | grep -q 'customers'"
check "manifest: the warehouse shard is on main" \
    sh -c "git -C '$P' show HEAD:semantic-layer/wh/_schema/main.yaml | grep -q '^  customers:\$'"

mkktx nomanifest
config <<EOF
connections:
$(cmdconn crm dbt needs)
EOF
before=$(state_of)
ingest
check "no manifest: done" result crm '.status == "done" and .commit == null'
check "no manifest: no overlay, main untouched" [ "$(state_of)" = "$before" ]
check "no manifest: the skip says missing schema context" has_event crm '
    .event == "item_skipped" and (.data.reason | startswith("missing schema context"))'

finish
