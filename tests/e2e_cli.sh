#!/bin/sh
# The command line of ktx-supervisor on throwaway projects: global options,
# project resolution, ingest option checking, ingest --dry-run as a table and
# as JSON, and the errors of ktx.yaml and of the connection selection.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"

command -v jq >/dev/null || { echo "jq is required (scripts/deps installs it)" >&2; exit 99; }

# in_dir DIR CMD...: run CMD in DIR.
in_dir() {
	(cd "$1" && shift && exec "$@")
}
# run CMD...: run it with stdout in $T/out, stderr in $T/err, status in $rc.
run() {
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
}
# The last run ended with status $1 and its stderr matches the ERE $2.
status_and_err() {
	[ "$rc" -eq "$1" ] || { echo "status $rc, expected $1" >&2; cat "$T/err" >&2; return 1; }
	grep -Eq -- "$2" "$T/err" || { echo "stderr does not match: $2" >&2; cat "$T/err" >&2; return 1; }
}
# The last run printed nothing on stdout.
no_out() {
	[ ! -s "$T/out" ] || { echo "unexpected stdout:" >&2; cat "$T/out" >&2; return 1; }
}
# The last run succeeded and printed nothing on stderr.
ok_quiet() {
	if [ "$rc" -ne 0 ] || [ -s "$T/err" ]; then
		echo "status $rc" >&2; cat "$T/err" >&2; return 1
	fi
}
# out_has ERE...: the last run succeeded and each ERE matches a line of stdout.
out_has() {
	[ "$rc" -eq 0 ] || { echo "status $rc" >&2; return 1; }
	for re in "$@"; do
		grep -Eq -- "$re" "$T/out" || { echo "stdout lacks: $re" >&2; return 1; }
	done
}
# The last run succeeded without printing a secret reference anywhere.
no_secret() {
	[ "$rc" -eq 0 ] && ! grep -q SECRET "$T/out" "$T/err"
}
# jq_true FILTER: the filter is true on the last run's stdout.
jq_true() {
	jq -e "$1" "$T/out" >/dev/null || { echo "not true: $1" >&2; cat "$T/out" >&2; return 1; }
}
# Everything about a directory tree that a write would change.
tree_sum() {
	(cd "$1" && find . -printf '%p %y %s %m %T@\n' | LC_ALL=C sort &&
	    find . -type f -exec sha256sum {} + | LC_ALL=C sort)
}

unset KTX_PROJECT_DIR

P="$T/proj"
mkdir -p "$P/a/b" "$T/elsewhere" "$T/empty"
cp "$KTX_TOP_SRCDIR/examples/demo/ktx.yaml" "$P/ktx.yaml"
P=$(cd "$P" && pwd -P)

# --- global options -----------------------------------------------------

run sup --version
check "--version prints the version" out_has '^ktx-supervisor [0-9]+\.[0-9]+\.[0-9]+$'

run sup --help
check "--help prints nothing on stderr" ok_quiet
check "--help prints the commands on stdout" out_has '^usage: ktx-supervisor \[-C dir\]' \
    '^ +init ' '^ +ingest '

run sup
check "no command is a usage error" status_and_err 2 '^usage: ktx-supervisor '

run sup frobnicate
check "unknown command is a usage error" status_and_err 2 \
    '^ktx-supervisor: unknown command "frobnicate"$'
check "unknown command prints nothing on stdout" no_out

run sup --frobnicate ingest
check "unknown global option is a usage error" status_and_err 2 \
    '^ktx-supervisor: unknown option "--frobnicate"$'

run sup -x ingest
check "unknown short option is a usage error" status_and_err 2 \
    '^ktx-supervisor: unknown option "-x"$'

run sup -C
check "-C without a directory is a usage error" status_and_err 2 '"-C" requires a value'

run sup -C "$P" ingest --frobnicate
check "unknown ingest option is a usage error" status_and_err 2 \
    '^usage: ktx-supervisor \[-C dir\] ingest '

run sup -C "$P" ingest --json=yes --dry-run
check "a value for a flag is a usage error" status_and_err 2 \
    '^ktx-supervisor: option "--json" does not take a value$'

run sup ingest --help
check "ingest --help prints the ingest usage on stdout" out_has \
    '^usage: ktx-supervisor \[-C dir\] ingest ' '--dry-run' '--grace'

# --- project resolution -------------------------------------------------

project_is() {	# the last run's JSON plan is for project $1
	[ "$rc" -eq 0 ] || { cat "$T/err" >&2; return 1; }
	jq_true ".plan.projectDir == \"$1\""
}

run in_dir "$T/elsewhere" "$KTX_SUPERVISOR" -C ../proj ingest --dry-run --json
check "-C names the project, relative to the current directory" project_is "$P"

run in_dir "$T/elsewhere" env KTX_PROJECT_DIR=../proj "$KTX_SUPERVISOR" ingest --dry-run --json
check "KTX_PROJECT_DIR names the project" project_is "$P"

run in_dir "$P/a/b" "$KTX_SUPERVISOR" ingest --dry-run --json
check "the nearest ancestor with ktx.yaml is the project" project_is "$P"

run in_dir "$T/elsewhere" env KTX_PROJECT_DIR=/nonexistent "$KTX_SUPERVISOR" -C "$P/a/.." \
    ingest --dry-run --json
check "-C wins over KTX_PROJECT_DIR, made absolute" project_is "$P"

run env KTX_PROJECT_DIR= "$KTX_SUPERVISOR" ingest --dry-run
check "an empty KTX_PROJECT_DIR is an error" status_and_err 2 'KTX_PROJECT_DIR is set but empty'

run in_dir "$T/empty" "$KTX_SUPERVISOR" ingest --dry-run
check "no ktx.yaml is a configuration error naming the directory" status_and_err 2 \
    "^ktx-supervisor: ktx.yaml: no such file in $T/empty\$"

# --- ingest --dry-run ---------------------------------------------------

before=$(tree_sum "$P")
run sup -C "$P" ingest --dry-run
after=$(tree_sum "$P")
table_in_plan_order() {
	printf '%s\n' \
	    "CONNECTION  STAGE  DRIVER    OPERATION        ADAPTER        SOURCE DIR" \
	    "warehouse   1      sqlite    database-ingest  live-database  -" \
	    "dbt         2      dbt       source-ingest    dbt            dbt" \
	    "metabase    2      metabase  source-ingest    metabase       metabase" \
	    "notion      2      notion    source-ingest    notion         notion" >"$T/want"
	sed -n 3,7p "$T/out" | diff -u "$T/want" -
}
check "dry-run succeeds quietly" ok_quiet
check "dry-run prints the plan table in plan order" table_in_plan_order
check "dry-run names the project and the concurrency" out_has "^project $P\$" \
    'stage 2 runs 3 source targets with maxConcurrency 3$'
check "dry-run writes nothing into the project" [ "$before" = "$after" ]
check "dry-run creates no .ktx" [ ! -e "$P/.ktx" ]

before=$(tree_sum "$P")
run sup -C "$P" ingest --dry-run --json
after=$(tree_sum "$P")
one_document() { [ "$(jq -s length "$T/out")" = 1 ]; }
check "dry-run --json succeeds quietly" ok_quiet
check "dry-run --json prints exactly one JSON document" one_document
check "dry-run --json has only the plan" jq_true '(keys == ["plan"]) and
    (.plan | keys == ["maxConcurrency", "projectDir", "targets"])'
check "dry-run --json: concurrency from ktx.yaml" jq_true '.plan.maxConcurrency == 3'
check "dry-run --json: targets in plan order" jq_true \
    '[.plan.targets[].connectionId] == ["warehouse", "dbt", "metabase", "notion"]'
check "dry-run --json: the database target" jq_true '.plan.targets[0] == {
    connectionId: "warehouse", driver: "sqlite", operation: "database-ingest",
    adapter: "live-database", sourceDir: null, steps: ["database-schema"], stage: 1}'
check "dry-run --json: the source targets" jq_true '[.plan.targets[1:][] |
    .operation == "source-ingest" and .stage == 2 and .steps == ["source-ingest"] and
    .adapter == .connectionId and .driver == .connectionId and .sourceDir == .connectionId] ==
    [true, true, true]'
check "dry-run --json writes nothing into the project" [ "$before" = "$after" ]

run sup -C "$P" ingest --dry-run --json -j 7
check "-j overrides maxConcurrency" jq_true '.plan.maxConcurrency == 7'

run sup -C "$P" ingest --dry-run --json --jobs=64 --timeout 604800 --grace 0
check "the largest and smallest values are accepted" jq_true '.plan.maxConcurrency == 64'

run sup -C "$P" ingest --dry-run --json notion warehouse notion
check "named connections, each once, in plan order" jq_true \
    '[.plan.targets[].connectionId] == ["warehouse", "notion"]'

run sup -C "$P" ingest --dry-run --all --json
check "--all selects every connection" jq_true '.plan.targets | length == 4'

run sup -C "$P" ingest --dry-run nope
check "an unknown connection is an error" status_and_err 2 \
    '^ktx-supervisor: connection "nope" is not configured in ktx.yaml$'
check "an unknown connection prints no plan" no_out

run sup -C "$P" ingest --dry-run --all dbt
check "--all with a name is a usage error" status_and_err 2 \
    '^ktx-supervisor: --all cannot be combined with connection names$'

run sh -c 'exec "$KTX_SUPERVISOR" -C "$1" ingest --dry-run >/dev/full' sh "$P"
check "an unwritable stdout fails the command" status_and_err 1 'cannot write to standard output'

# --- option values ------------------------------------------------------

for bad in 0 65 abc 3x -1 +3 " 3" 1.5 "" 99999999999999999999; do
	run sup -C "$P" ingest --dry-run -j "$bad"
	check "-j \"$bad\" is a usage error" status_and_err 2 "^ktx-supervisor: option \"-j\": "
done
for bad in 0 604801 1e3; do
	run sup -C "$P" ingest --dry-run --timeout "$bad"
	check "--timeout \"$bad\" is a usage error" status_and_err 2 \
	    "^ktx-supervisor: option \"--timeout\": "
done
for bad in -1 3601 ten; do
	run sup -C "$P" ingest --dry-run --grace "$bad"
	check "--grace \"$bad\" is a usage error" status_and_err 2 \
	    "^ktx-supervisor: option \"--grace\": "
done
run sup -C "$P" ingest --dry-run -j
check "-j without a value is a usage error" status_and_err 2 '"-j" requires a value'

# --- ktx.yaml -----------------------------------------------------------

B="$T/bad"
mkdir -p "$B"
cat >"$B/ktx.yaml" <<'EOF'
connections:
  warehouse:
    driver: sqlite
    path: warehouse.sqlite
  pg:
    driver: postgress
    url: env:PG_URL
EOF
run sup -C "$B" ingest --dry-run
check "a bad ktx.yaml is a configuration error with line and column" status_and_err 2 \
    '^ktx-supervisor: ktx\.yaml:6:13: .*"postgress"'
check "a bad ktx.yaml prints no plan" no_out

cat >"$B/ktx.yaml" <<'EOF'
connections:
  warehouse:
    driver: sqlite
    path: warehouse.sqlite
ingest:
  sources:
    maxConcurrency: 2
    colour: blue
EOF
run sup -C "$B" ingest --dry-run --json
check "a warning about ktx.yaml goes to stderr with its place" status_and_err 0 \
    '^ktx-supervisor: warning: ktx\.yaml:8:5: .*"colour"'
check "a warning does not stop the plan" jq_true '.plan.maxConcurrency == 2'

cat >"$B/ktx.yaml" <<'EOF'
connections: {}
EOF
run sup -C "$B" ingest --dry-run
check "no connections configured is an error" status_and_err 2 \
    '^ktx-supervisor: no connections are configured in ktx\.yaml$'

cat >"$B/ktx.yaml" <<'EOF'
connections:
  pg:
    driver: postgres
    url: env:SECRET_PG_DSN
  files:
    driver: sqlite
    url: file:/run/secrets/SECRET_SQLITE
EOF
run sup -C "$B" ingest --dry-run
check "the plan table prints no secret reference" no_secret
run sup -C "$B" ingest --dry-run --json
check "the JSON plan prints no secret reference" no_secret

finish
