#!/bin/bash
# The security properties of docs/security.md, end to end.
#  - Planted secrets (an env: reference in a connection, env: and file:
#    references in adapter.secrets, each printed by the adapters on stdout,
#    stderr, in progress messages and in a failure) appear nowhere: argv of
#    every process (/proc/PID/cmdline and ps), stdout and stderr of table
#    and JSON runs, traces, run records, status --json, sentinels, .ktx/
#    and the whole git history.
#  - An adapter's environment is exactly the contract's set.
#  - An env: reference to an unset variable fails its target before
#    anything runs for it.
#  - The worker socket has no path; the control socket is 0600 in a 0700
#    directory (the uid check itself: tests/e2e_control.sh).
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"
. "$KTX_TOP_SRCDIR/tests/lib_hostile.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"

rnd() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }
S_URL=hostile-url-$(rnd)
S_TOKEN=hostile-token-$(rnd)
S_FILE=hostile-file-$(rnd)
printf '%s\n' "$S_FILE" >"$T/secret-file"
chmod 600 "$T/secret-file"
export HOSTILE_DB_URL="$T/wh-$S_URL.sqlite"
export HOSTILE_TOKEN=$S_TOKEN
export LANG=C.UTF-8 TZ=UTC
PLANTED="HOSTILE_PLANTED GIT_DIR GIT_WORK_TREE LD_LIBRARY_PATH BASH_ENV"

mkktx sec
sqlite3 "$HOSTILE_DB_URL" 'CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL);'
mkfifo "$T/go"
# leak: prints every secret it holds everywhere it can, then lands a page.
adapter leak <<EOS
emit "{\"event\":\"leaking\",\"percent\":10,\"message\":\"token \$TOKEN file \$FILESECRET\",\"token\":\"\$TOKEN\"}"
echo "stdout token \$TOKEN file \$FILESECRET"
echo "stderr token \$TOKEN file \$FILESECRET" >&2
wait_fifo "$T/go"
page leak-page 'A page with no secret.'
EOS
# fail: the same, then fails with the secrets in its last stderr lines.
adapter fail <<'EOS'
echo "stdout token $TOKEN" 
echo "fatal: token $TOKEN rejected, file $FILESECRET rejected" >&2
exit 3
EOS
{
	echo "connections:"
	printf '  wh:\n    driver: sqlite\n    url: env:HOSTILE_DB_URL\n'
	cmdconn leak dbt leak "timeout: 60" "secrets:" \
	    "  TOKEN: env:HOSTILE_TOKEN" "  FILESECRET: file:$T/secret-file"
	cmdconn fail dbt fail "secrets:" \
	    "  TOKEN: env:HOSTILE_TOKEN" "  FILESECRET: file:$T/secret-file"
	printf '  envdump:\n    driver: dbt\n    adapter:\n'
	printf '      command: [awk, "BEGIN { for (k in ENVIRON) print k \\"=\\" ENVIRON[k] > \\"%s\\" }"]\n' "$T/env.dump"
	printf '      secrets: {TOKEN: env:HOSTILE_TOKEN}\n'
	printf 'ingest:\n  sources:\n    maxConcurrency: 3\n'
} | config

# Variables of the supervisor's environment no adapter may see.
export HOSTILE_PLANTED=planted GIT_DIR=/nonexistent/git GIT_WORK_TREE=/nonexistent
export LD_LIBRARY_PATH=/nonexistent/lib BASH_ENV=/nonexistent/env
sup_bg -C "$P" ingest --all --json
unset $PLANTED
wait_until 20 grep -qs '"event":"leaking"' "$P"/.ktx/ingest-traces/*-leak/trace.jsonl
# While the leaking adapter waits: every process's argv, and status.
cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ' >"$T/cmdlines"
ps -eo args >"$T/ps"
sup -C "$P" status --json >"$T/status.json" 2>&1
sup -C "$P" status >"$T/status.txt" 2>&1
check "during the run: the supervisor's argv and title were read" grep -q "ktx-supervisor" "$T/ps"
check "during the run: the workers' titles were read" grep -q "ktx-worker: leak" "$T/ps"

# The worker socket: fd 3 of the leak worker is a socket with no path.
# (this supervisor's child: other runs may have a worker of that name)
wpid=$(ps -eo pid=,ppid=,args= |
    awk -v s="$SUP" '$2 == s && $3 == "ktx-worker:" && $4 == "leak" { print $1; exit }')
no_path() {
	local link inode
	link=$(readlink "/proc/$wpid/fd/3") || { echo "no fd 3 in $wpid" >&2; return 1; }
	[[ $link =~ ^socket:\[([0-9]+)\]$ ]] || { echo "fd 3 is $link" >&2; return 1; }
	inode=${BASH_REMATCH[1]}
	# /proc/net/unix: Num RefCount Protocol Flags Type St Inode [Path]
	awk -v i="$inode" '$7 == i { found = 1; if (NF > 7) bad = 1 }
	    END { exit !(found && !bad) }' /proc/net/unix ||
	    { echo "socket $inode:" >&2; awk -v i="$inode" '$7 == i' /proc/net/unix >&2; return 1; }
}
check "worker socket: fd 3 is a socket without a path" no_path
check "worker socket: ss lists no path for it either" sh -c \
    "! ss -xp 2>/dev/null | grep 'pid=$wpid,' | grep -q '/'"
check "control socket: 0600 in a 0700 directory" [ \
    "$(stat -c %a "$P/.ktx/run/supervisor.sock")$(stat -c %a "$P/.ktx/run")" = 600700 ]
post "$T/go"
wait "$SUP"
rc=$?
check "the run exits 1 (fail failed)" [ "$rc" -eq 1 ]
cp "$T/bg.out" "$T/out"
check "the database target landed" result wh '.status == "done" and .commit != null'
check "leak landed" result leak '.status == "done" and .commit != null'
check "fail failed, its secrets replaced" result fail \
    '.status == "failed" and (.detail | contains("(secret)"))'
check "a trace holds the redacted progress message" \
    has_event leak '.event == "leaking" and (.data.token == "(secret)")'

# A table run too: the failure section, progress lines.
ingest_table() { sup -C "$P" ingest fail >"$T/table.out" 2>"$T/table.err"; }
ingest_table
sup -C "$P" status --json >"$T/status-after.json" 2>&1
git -C "$P" log -p --all >"$T/history"
nowhere() {
	local s hits=
	for s in "$S_URL" "$S_TOKEN" "$S_FILE"; do
		hits=$(grep -rlsF -e "$s" "$T/cmdlines" "$T/ps" "$T/status.json" \
		    "$T/status.txt" "$T/bg.out" "$T/bg.err" "$T/table.out" "$T/table.err" \
		    "$T/status-after.json" "$T/history" "$P/.ktx" "$P/wiki" \
		    "$P/semantic-layer" "$P/raw-sources")
		[ -z "$hits" ] || { echo "$s in: $hits" >&2; return 1; }
	done
}
check "the planted secrets are in no argv, output, trace, record, sentinel or commit" nowhere
searched() {
	[ -s "$T/history" ] && [ -s "$T/cmdlines" ] && [ -s "$T/status.json" ] &&
	    ls "$P"/.ktx/runs/*.json >/dev/null &&
	    ls "$P"/.ktx/worktrees/*/.ktx-outcome >/dev/null &&
	    ls "$P"/.ktx/ingest-traces/*/trace.jsonl >/dev/null
}
check "the places searched exist" searched
check "the stream of the failure says (secret)" grep -q 'token (secret) rejected' "$T/table.out"

# The adapter's environment: the contract's names, nothing else.
env_exact() {
	local want got
	want=$(printf '%s\n' HOME KTX_CONNECTION_ID KTX_JOB_ID KTX_PROJECT_DIR \
	    KTX_RUN_ID KTX_SKILLS_DIR KTX_STAGING_DIR KTX_SYNC_ID KTX_WORKTREE \
	    LANG PATH TOKEN TZ | sort)
	[ -n "${HOME:-}" ] || want=$(printf '%s\n' "$want" | grep -vx HOME)
	got=$(cut -d= -f1 "$T/env.dump" | sort)
	[ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got") >&2; return 1; }
}
check "adapter env: exactly the contract's variables" env_exact
check "adapter env: the secret under its name, the rest as the worker's" sh -c "
    grep -qx 'TOKEN=$S_TOKEN' '$T/env.dump' && grep -qx 'LANG=C.UTF-8' '$T/env.dump' &&
    grep -qx 'TZ=UTC' '$T/env.dump' && grep -qx 'KTX_CONNECTION_ID=envdump' '$T/env.dump'"
check "adapter env: no planted variable" sh -c "! grep -q 'HOSTILE_\\|^GIT_\\|^LD_\\|^BASH_ENV' '$T/env.dump'"

# An env: reference to an unset variable: its target fails at once.
mkktx unset
{
	echo "connections:"
	cmdconn leak dbt leak "secrets:" "  TOKEN: env:HOSTILE_UNSET_VAR"
	printf '  wh:\n    driver: sqlite\n    url: env:HOSTILE_DB_URL\n'
} | config
base=$(head_of)
unset HOSTILE_UNSET_VAR
ingest --all
check "unset: exit 1" [ $? -eq 1 ]
check "unset: the target fails naming the field and the variable" result leak '
    .status == "failed" and .worktree == null and
    .detail == "connection \"leak\": \"adapter.secrets.TOKEN\" names the environment variable \"HOSTILE_UNSET_VAR\", which is not set"'
check "unset: its adapter never ran" [ -z "$(jq -c 'select(.phase == "adapter")' "$(trace leak)")" ]
check "unset: no worktree, no session branch" no_leftovers
check "unset: the other target landed" result wh '.status == "done"'
check "unset: main moved by the other target only" [ \
    "$(git -C "$P" diff --name-only "$base" HEAD | grep -v '^raw-sources/wh/\|^semantic-layer/wh/')" = "" ]
check "unset: the pidfile is released" [ ! -s "$P/.ktx/run/supervisor.pid" ]

finish
