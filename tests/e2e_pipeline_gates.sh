#!/bin/sh
# The final artifact gates inside the final window: each failure fails the
# target with the gates' exact message, keeps its session with a crash
# sentinel, and leaves main and its checkout untouched.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"

mkktx gates
adapter missing_ref <<'EOF'
write wiki/global/bad-ref.md '---\nsummary: Refs\nusage_mode: auto\nrefs:\n  - nowhere\n---\n\nBody.\n'
EOF
adapter unbacked <<'EOF'
write semantic-layer/wh/ghost.yaml 'name: ghost\nmeasures:\n  - name: ghost_count\n    expr: count(*)\n'
EOF
adapter badjoin <<'EOF'
write semantic-layer/wh/orders.yaml 'name: orders\ntable: main.orders\ngrain: [id]\ncolumns:\n  - name: id\n    type: number\njoins:\n  - to: nosuch\n    on: orders.id = nosuch.id\n    relationship: many_to_one\n'
EOF
adapter twice <<'EOF'
write semantic-layer/wh/a.yaml 'name: dup\ntable: main.a\ngrain: [id]\ncolumns:\n  - name: id\n    type: number\n'
write semantic-layer/wh/b.yaml 'name: dup\ntable: main.b\ngrain: [id]\ncolumns:\n  - name: id\n    type: number\n'
EOF
adapter dotdot <<'EOF'
stage cards/1.json '{}\n'
page dotdot-page 'From a card.'
emit '{"event":"page_written","rawPaths":["../../../ktx.yaml"]}'
EOF
adapter symlink <<'EOF'
page symlink-target 'A page.'
ln -s symlink-target.md wiki/global/symlink.md
EOF
adapter outside <<'EOF'
stage cards/1.json '{}\n'
page outside-page 'From a card that was never staged.'
emit '{"event":"page_written","rawPaths":["cards/1.json","cards/2.json"]}'
EOF
adapter elsewhere <<'EOF'
write notes.txt 'not ktx content\n'
EOF
config <<EOF
connections:
$(cmdconn missing_ref dbt missing_ref)
$(cmdconn unbacked dbt unbacked)
$(cmdconn badjoin dbt badjoin)
$(cmdconn twice dbt twice)
$(cmdconn dotdot dbt dotdot)
$(cmdconn symlink dbt symlink)
$(cmdconn outside dbt outside)
$(cmdconn elsewhere dbt elsewhere)
EOF

# gate CONN DETAIL: ingesting CONN alone fails with exactly DETAIL (after
# the gates' first line), main untouched, the session kept.
gate() {
	local before
	before=$(state_of)
	ingest "$1"
	check "$1: exit 1" [ $? -eq 1 ]
	check "$1: failed with the gates' message" result "$1" \
	    ".status == \"failed\" and .commit == null and .detail == $(jq -n --arg d "final artifact gates failed:
$2" '$d')"
	check "$1: main and its checkout untouched" [ "$(state_of)" = "$before" ]
	check "$1: the session is kept with a crash sentinel" \
	    sentinel "$1" '.outcome == "crash" and (.reason | startswith("final artifact gates failed:"))'
	check "$1: the root cause is in the trace" has_event "$1" \
	    '.event == "final_artifact_gates_failed" and .level == "error" and
	     (.error.message | startswith("final artifact gates failed:"))'
}

gate missing_ref "wiki references target missing page(s): bad-ref -> nowhere"
gate unbacked "semantic-layer validation failed for wh:ghost: semantic-layer/wh/ghost.yaml:1:7: overlay \"ghost\" has no manifest-backed source to compose onto"
gate badjoin "semantic-layer validation failed for wh:orders: join target \"nosuch\" does not exist"
gate twice "semantic-layer validation failed for wh:dup: semantic-layer/wh/b.yaml:1:7: Multiple semantic-layer files declare source \"dup\": semantic-layer/wh/a.yaml, semantic-layer/wh/b.yaml"
gate dotdot "provenance row references raw path outside this snapshot: ../../../ktx.yaml"
gate symlink "symbolic link on changed path: wiki/global/symlink.md (wiki/global/symlink.md is a symbolic link)"
gate outside "provenance row references raw path outside this snapshot: cards/2.json"
gate elsewhere "path outside wiki/, semantic-layer/ and raw-sources/: notes.txt"

check "nothing landed: main is the test's last commit" \
    [ "$(git -C "$P" log --format=%s | head -1)" = "test: ktx.yaml" ]

finish
