#!/bin/sh
# Malformed input through the pipeline, for each built-in source adapter
# (dbt, notion, metabase), starting from a real fixture and breaking one
# thing: broken JSON or YAML, the manifest or every card missing, a file
# that is not UTF-8, a file over the adapter's size limit (sparse: the
# size is checked before a byte is read), a symbolic link out of
# source_dir.  Each time the target fails with a message that names the
# file, in the result, the trace and the sentinel of the kept session, and
# nothing lands: main and its checkout stay as they were, no session
# branch is merged.  A good run after the failures lands as usual.  A
# Notion export holds no JSON: a NUL byte in a page stands for broken
# content there, and a folder without pages for the missing manifest.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"
. "$KTX_TOP_SRCDIR/tests/lib_fixtures.sh"

SRC=in/src	# source_dir, as the messages name it

# driver DRIVER: a fresh project $T/DRIVER whose connection "src" reads
# in/src; sets P.
driver() {
	mkktx "$1"
	mkdir -p "$P/in"
	config <<EOF
connections:
  src:
    driver: $1
    source_dir: $SRC
EOF
}

# input FIXTURE-SETUP...: replace in/src by what the command makes there.
input() {
	rm -rf "${P:?}/$SRC"
	"$@"
}

# fails NAME: ingest; the target fails with exactly $MSG, which is in its
# trace's root cause and sentinel; main is as it was.  The kept session is
# removed afterwards.
fails() {
	local name=$1 before job
	before=$(state_of)
	ingest src
	check "$name: exit 1" [ $? -eq 1 ]
	check "$name: failed with the message naming the file" result src \
	    '.status == "failed" and .commit == null and .detail == $ENV.MSG'
	job=$(rfield src jobId)
	check "$name: the trace's root cause says it" sh -c "
	    jq -e -s '[.[] | select(.level == \"error\")] | length == 2 and
	        .[0].event == \"stage_raw_files_failed\" and .[1].event == \"ingest_failed\" and
	        all(.[]; .error.message == \$ENV.MSG)' '$(trace src)' >/dev/null"
	check "$name: the kept session's sentinel says why" sentinel src \
	    '.outcome == "crash" and .reason == $ENV.MSG'
	check "$name: main and its checkout untouched" [ "$(state_of)" = "$before" ]
	check "$name: the session began at main, no commit of it is on main" sh -c "
	    git -C '$P' rev-parse -q --verify 'session/$job' >/dev/null &&
	    [ -z \"\$(git -C '$P' log --format=%H --grep='$job' HEAD)\" ]" &&
	    sentinel src '.baseSha == "'"$(head_of)"'"' 
	git -C "$P" worktree remove --force "$(rfield src worktree)" &&
	    git -C "$P" branch -q -D "session/$job"
}
# fails_with NAME MESSAGE: fails, with MESSAGE in the environment as MSG
# for the jq filters ($ENV.MSG): messages hold quotes.
fails_with() { MSG=$2; export MSG; fails "$1"; }

outside=$T/outside.txt
echo "not part of any export" >"$outside"

# --- dbt: the dbterd manifest and catalog. ---
driver dbt
good() { fx_dbt dbterd "$P/$SRC"; }
input good
printf '{"metadata": {"project_name": "jaffle_shop"}, "nodes": {' >"$P/$SRC/target/manifest.json"
fails_with "dbt broken JSON" "$SRC/target/manifest.json:1:56: invalid JSON"
input good
rm "$P/$SRC/target/manifest.json"
fails_with "dbt missing manifest" "$SRC: no target/manifest.json or manifest.json"
input good
printf '{"nodes": {}, "name": "caf\351"}\n' >"$P/$SRC/target/catalog.json"
fails_with "dbt non-UTF-8 catalog" "$SRC/target/catalog.json:1: invalid UTF-8"
input good
truncate -s $((256 * 1024 * 1024 + 1)) "$P/$SRC/target/manifest.json"
fails_with "dbt huge manifest" "$SRC/target/manifest.json: file is 268435457 bytes, over the limit of 268435456"
input good
rm "$P/$SRC/target/catalog.json"
ln -s "$outside" "$P/$SRC/target/catalog.json"
fails_with "dbt symlink out" "$SRC/target/catalog.json: symbolic link points outside the source directory"
input good
ingest src
check "dbt: the good input lands after all that" result src '.status == "done" and .commit != null'

# --- notion: the Blendle handbook. ---
driver notion
good() { fx_copy notion-export/blendle-handbook "$P/$SRC"; }
page="$SRC/Blendle's Employee Handbook a834d55573614857a48a9ce9ec4194e3/Hiring fd6a5e1f88dd4476988147a3a62e1f0d.md"
input good
printf '# Hiring\n\nWe hire \377 people.\n' >"$P/$page"
fails_with "notion non-UTF-8 page" "$page:3: invalid UTF-8"
input good
printf '# Hiring\n\0binary\n' >"$P/$page"
fails_with "notion NUL in a page" "$page:2: NUL byte in text"
input good
truncate -s $((8 * 1024 * 1024 + 1)) "$P/$page"
fails_with "notion huge page" "$page: file is 8388609 bytes, over the limit of 8388608"
input good
rm "$P/$page"
ln -s "$outside" "$P/$page"
fails_with "notion symlink out" "$page: symbolic link points outside the source directory"
input mkdir -p "$P/$SRC/attachments"
echo png >"$P/$SRC/attachments/logo.png"
fails_with "notion export without pages" "$SRC: no Notion pages (.md) or databases (.csv)"
input true
fails_with "notion source_dir missing" "$SRC: No such file or directory"
input good
ingest src
check "notion: the good input lands after all that" result src '.status == "done" and .commit != null'

# --- metabase: the API cards, then the serialization export. ---
driver metabase
good() { fx_copy metabase/dbt-metabase-api/mbql4 "$P/$SRC"; }
input good
printf '{"id": 27, "name": "Orders + Customers",\n  "dataset_query": \n' >"$P/$SRC/api/card/27.json"
fails_with "metabase broken card JSON" "$SRC/api/card/27.json:2:20: invalid JSON"
input good
rm -r "$P/$SRC/api/card"
fails_with "metabase no cards" "$SRC: no card/ or api/card/ (API responses) and no collections/ (a serialization export)"
input good
printf '[{"id": 12, "name": "caf\351"}]\n' >"$P/$SRC/api/table.json"
fails_with "metabase non-UTF-8 table.json" "$SRC/api/table.json:1: invalid UTF-8"
input good
truncate -s $((8 * 1024 * 1024 + 1)) "$P/$SRC/api/card/29.json"
fails_with "metabase huge card" "$SRC/api/card/29.json: file is 8388609 bytes, over the limit of 8388608"
input good
ln -s "$outside" "$P/$SRC/api/card/34.json"
fails_with "metabase symlink out" "$SRC/api/card/34.json: symbolic link points outside the source directory"
card=$SRC/collections/M8PKMdZzyTaRkC729CTyl_shoppy/cards/d3FD2s9EZKU6a16fdG51p_sales_goal.yaml
input fx_copy metabase/shoppy-serialization "$P/$SRC"
printf 'name: Sales Goal\ndataset_query: [unclosed\n' >"$P/$card"
fails_with "metabase broken YAML" "$card:3:1: invalid YAML: did not find expected ',' or ']'"
input good
ingest src
check "metabase: the good input lands after all that" result src '.status == "done" and .commit != null'

finish
