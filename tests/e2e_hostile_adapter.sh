#!/bin/bash
# Hostile adapter output, one row of tests/hostile/adapter.tsv each, all
# in one run beside a good connection: each row's target fails with a detail
# naming what was wrong, the good one lands, main holds nothing of the rows.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"
. "$KTX_TOP_SRCDIR/tests/lib_hostile.sh"

TABLE=$KTX_TOP_SRCDIR/tests/hostile/adapter.tsv
OUT=$T/outside
mkdir -p "$OUT"
mkktx proj

adapter good <<'EOS'
stage cards/1.json '{"id": 1}\n'
page good-page 'A page that lands.'
emit '{"event":"page_written","rawPaths":["cards/1.json"]}'
EOS
# conn_row ID SCRIPT ERE: the adapter and the connection of a row.
conn_row() {
	{ printf 'C=%s OUT=%s\n' "$1" "$OUT"; printf '%s\n' "$2"; } | adapter "$1"
	cmdconn "$1" dbt "$1"
}
{
	echo "connections:"
	cmdconn good dbt good
	TABLE_PLAIN=1 table_rows "$TABLE" conn_row
	printf 'ingest:\n  sources:\n    maxConcurrency: 4\n'
} | config
base=$(head_of)

ingest --all
rc=$?
check "the run exits 1: targets failed" [ "$rc" -eq 1 ]
check "the good target landed" result good '.status == "done" and .commit != null'
check "its page is on main" on_main wiki/global/good-page.md
check "main moved by exactly the good target's commit" \
    [ "$(git -C "$P" rev-list "$base..HEAD" | wc -l)" -eq 1 ]
changed=$(git -C "$P" diff --name-only "$base" HEAD)
only_good() {
	local bad
	bad=$(printf '%s\n' "$changed" | grep -Ev '^(raw-sources/good/|wiki/global/good-page\.md$)')
	[ -z "$bad" ] || { echo "on main: $bad" >&2; return 1; }
}
check "main holds only the good target's files" only_good
check "the root checkout is clean" [ -z "$(git -C "$P" status --porcelain)" ]
check "stderr is terminal-safe" terminal_safe "$T/err"

# row ID SCRIPT ERE: the row's target failed as it should, nothing of it
# on main, its session kept with a sentinel.
row() {
	local id=$1 ere=$3 detail
	result "$id" '.status == "failed" and .commit == null' || return 1
	detail=$(rfield "$id" detail)
	printf '%s' "$detail" | tr '\n' ' ' | grep -Eq -- "$ere" ||
	    { echo "detail does not match: $ere" >&2; printf '%s\n' "$detail" >&2; return 1; }
	! printf '%s\n' "$changed" | grep -qF -- "$id" ||
	    { echo "main has files of $id" >&2; return 1; }
	sentinel "$id" '.outcome == "crash" or .outcome == "aborted"'
}
table_rows "$TABLE" row

finish
