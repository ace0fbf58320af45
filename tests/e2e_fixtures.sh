#!/bin/sh
# Every real fixture (tests/data/fixtures) through ktx-supervisor on one
# project with an embedded SQLite warehouse that tests/catalog2sql.jq
# builds from dbt-bouncer's catalog (a DuckDB project: its schema "main" is
# SQLite's, its other schemas are not): dbt-bouncer, dbterd (built on
# PostgreSQL: none of its relations is here), the Metabase API cards in both
# query formats and the serialization export mapped to that warehouse, the
# Blendle Notion export and the one Notion delivers zipped twice.  Models
# and cards that read tables of the scanned warehouse get sl_refs (models
# an overlay too), the others a page without them or a skip, with the
# reason in the trace; every gate passes; a second run lands nothing; a
# second fresh project gets byte-identical files.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"
. "$KTX_TOP_SRCDIR/tests/lib_fixtures.sh"

CONNS="wh blendle dbt jaffle mb4 mb5 notes shoppy templates"

# project NAME: a fresh project $T/NAME with every fixture under in/ and
# the warehouse in/warehouse.sqlite; sets P.
project() {
	mkktx "$1"
	fx_dbt dbt-bouncer "$P/in/dbt"
	fx_dbt dbterd "$P/in/jaffle"
	fx_copy metabase/dbt-metabase-api/mbql4 "$P/in/mb4"
	fx_copy metabase/dbt-metabase-api/mbql5 "$P/in/mb5"
	fx_copy metabase/shoppy-serialization "$P/in/shoppy"
	fx_copy notion-export/blendle-handbook "$P/in/blendle"
	fx_notion_zip "$P/in/templates" || exit 1
	# A hand-made page that names tables of the warehouse.
	mkdir -p "$P/in/notes"
	cat >"$P/in/notes/Order stats 0123456789abcdef0123456789abcdef.md" <<'EOF'
# Order stats

Read `py_order_stats`, built from `main.raw_orders`; `main_marts.orders`
is not in this warehouse, and orders in prose are not looked up.
EOF
	catalog2sql sqlite "$P/in/dbt/target/catalog.json" |
	    sqlite3 -bail "$P/in/warehouse.sqlite" || exit 1
	config <<EOF
connections:
  wh:
    driver: sqlite
    path: in/warehouse.sqlite
  dbt:
    driver: dbt
    source_dir: in/dbt
  jaffle:
    driver: dbt
    source_dir: in/jaffle
  mb4:
    driver: metabase
    source_dir: in/mb4
    mappings: { connection: wh }
  mb5:
    driver: metabase
    source_dir: in/mb5
  shoppy:
    driver: metabase
    source_dir: in/shoppy
  blendle:
    driver: notion
    source_dir: in/blendle
  templates:
    driver: notion
    source_dir: in/templates
  notes:
    driver: notion
    source_dir: in/notes
ingest:
  sources:
    maxConcurrency: 3
EOF
}

project a
A=$P
ingest --all
check "ingest: exit 0" [ $? -eq 0 ]
# shellcheck disable=SC2086
check "ingest: every target done with a commit, the warehouse first" all_done $CONNS
check "ingest: every trace passed the final gates, no error event" gates_passed
check "ingest: no session worktree or branch left" no_leftovers

# --- The warehouse: the catalog's 16 relations, by bare name. ---
check "warehouse: the shard main.yaml holds every catalog relation" same relations \
    "$(jq -r '.nodes[].metadata.name' "$P/in/dbt/target/catalog.json" | sort)" \
    "$(on_main semantic-layer/wh/_schema/main.yaml | sed -n 's/^  \([a-z0-9_]*\):$/\1/p' | sort)"
check "warehouse: with the catalog's columns" sh -c "
    git -C '$P' show HEAD:semantic-layer/wh/_schema/main.yaml |
    grep -A3 '^  py_order_stats:\$' | grep -q '^      - name: order_id\$'"

# --- dbt: the 16 documented nodes of the root project. ---
dbt_pages="dbt-customers-v1 dbt-customers-v2 dbt-customers-v3
dbt-dummy-source-customers dbt-int-disabled-model dbt-int-incremental
dbt-int-model-1 dbt-metricflow-time-spine dbt-orders dbt-py-order-stats
dbt-sources-that-dont-really-exist-source-1
dbt-sources-that-dont-really-exist-source-2 dbt-stg-customers
dbt-stg-orders dbt-stg-payments dbt-stg-raw-orders-for-snapshot"
check "dbt: a page per documented model and source" same dbt.pages \
    "$(echo $dbt_pages | tr ' ' '\n')" "$(pages_of dbt)"
check "dbt: undocumented nodes are skipped with the reason" [ "$(events dbt '
    .event == "item_skipped" and .data.reason == "no description"' | wc -l)" -eq 2 ]
check "dbt: the package's nodes are left to it" has_event dbt '
    .event == "dbt_package_nodes_ignored" and
    .data.packages == {tiktok_ads: 33, internal_package: 1}'
# Backed: the models of schema "main", the one SQLite has.
check "dbt: overlays only for the two backed models" same overlays \
    "$(printf 'semantic-layer/wh/metricflow_time_spine.yaml\nsemantic-layer/wh/py_order_stats.yaml')" \
    "$(git -C "$P" ls-tree --name-only HEAD semantic-layer/wh/ | grep -v /_schema)"
check "dbt: a backed model's page names its source" same sl_refs \
    py_order_stats "$(sl_refs_of dbt-py-order-stats)"
check "dbt: its overlay carries the manifest's descriptions" sh -c "
    desc=\$(jq -r '.nodes[\"model.dbt_bouncer_test_project.py_order_stats\"].description' '$P/in/dbt/target/manifest.json')
    col=\$(jq -r '.nodes[\"model.dbt_bouncer_test_project.py_order_stats\"].columns.order_id.description' '$P/in/dbt/target/manifest.json')
    git -C '$P' show HEAD:semantic-layer/wh/py_order_stats.yaml >'$T/ov' &&
    grep -qxF \"  dbt: \$desc\" '$T/ov' && grep -qxF '  - name: order_id' '$T/ov' &&
    grep -qxF \"      dbt: \$col\" '$T/ov'"
# Not backed: a page, no sl_refs of its own, no overlay, the reason traced.
check "dbt: 14 nodes without a source, each with its reason" [ "$(events dbt '
    .event == "dbt_node_without_source" and
    (.data.reason == "ephemeral model: no relation in the warehouse" or
     .data.reason == "missing schema context: no warehouse manifest entry for \(.data.relation)")' |
    wc -l)" -eq 14 ]
check "dbt: main_marts.orders is not in a SQLite warehouse" has_event dbt '
    .event == "dbt_node_without_source" and
    .data.node == "model.dbt_bouncer_test_project.orders" and
    .data.relation == "main_marts.orders"'
check "dbt: unbacked models have pages without sl_refs" sh -c "
    for k in dbt-orders dbt-customers-v3 dbt-int-incremental dbt-int-model-1; do
        git -C '$P' show HEAD:wiki/global/\$k.md >'$T/pg' || exit 1
        grep -q '^sl_refs:' '$T/pg' && { echo \$k >&2; exit 1; }
    done; exit 0"
check "dbt: a page reaches its seed through a table reference" sh -c "
    [ \"\$(git -C '$P' show HEAD:wiki/global/dbt-stg-orders.md | grep -c '\`wh/table:main.raw_orders\`')\" -eq 1 ]"
check "dbt: but never its own unbacked relation" same sl_refs \
    raw_orders "$(sl_refs_of dbt-stg-orders)"

# --- dbt: the dbterd project, built on PostgreSQL: nothing is in main. ---
check "jaffle: 13 pages, none with sl_refs, no overlay" sh -c "
    [ \$(git -C '$P' ls-tree --name-only HEAD wiki/global/ | grep -c '/jaffle-') -eq 13 ] &&
    ! git -C '$P' grep -q '^sl_refs:' HEAD -- 'wiki/global/jaffle-*' &&
    ! git -C '$P' show --stat --format= $(rfield jaffle commit) | grep -q semantic-layer/"
check "jaffle: each says its relation is not in the warehouse" [ "$(events jaffle '
    .event == "dbt_node_without_source" and (.data.relation | test("^(public|raw)[.]")) and
    .data.reason == "missing schema context: no warehouse manifest entry for \(.data.relation)"' |
    wc -l)" -eq 13 ]
check "jaffle: raw.raw_orders is not SQLite's main.raw_orders" sh -c "
    git -C '$P' show HEAD:wiki/global/jaffle-stg-orders.md | grep -qx -- '- raw.raw_orders (source)'"

# --- Metabase: the API cards, legacy (mb4, mapped) and stages (mb5). ---
mb_pages="completed-orders-cte-sql dummy-30 dummy-31 returned-order-count-sql"
for c in mb4 mb5; do
	check "$c: a page per card that reads SQLite's tables or none" same $c.pages \
	    "$(for k in $mb_pages; do echo "$c-$k"; done)" "$(pages_of $c)"
	check "$c: the native card's FROM and JOIN tables in sl_refs" same sl_refs \
	    "$(printf 'stg_payments\nstg_orders')" "$(sl_refs_of $c-returned-order-count-sql)"
	check "$c: the CTE card reads orders, not its CTE" same sl_refs \
	    orders "$(sl_refs_of $c-completed-orders-cte-sql)"
	check "$c: two cards titled Dummy, two keys, no sl_refs" same sl_refs \
	    "" "$(sl_refs_of $c-dummy-30; sl_refs_of $c-dummy-31)"
	check "$c: cards 27, 28 (on 27) and 33 skipped: missing schema context" same skipped \
	    "27 28 33" "$(events $c '.event == "metabase_card_skipped" and
	        .data.reason == "missing schema context" and .data.warehouse == "wh"' |
	        jq -r .data.card | tr '\n' ' ' | sed 's/ $//')"
	check "$c: the skips name the public tables the manifest lacks" has_event $c '
	    .event == "item_skipped" and .data.item == "card 27" and
	    .data.reason == "missing schema context: public.orders (not in wh'"'"'s manifest), public.customers (not in wh'"'"'s manifest)"'
done
check "metabase: legacy and stages cards give the same pages" sh -c "
    for k in $mb_pages; do
        [ \"\$(git -C '$P' show HEAD:wiki/global/mb4-\$k.md | sed 's/mb4/mbX/g')\" = \
          \"\$(git -C '$P' show HEAD:wiki/global/mb5-\$k.md | sed 's/mb5/mbX/g')\" ] || exit 1
    done"
# The serialization export reads public.* of its own Postgres: none here.
check "shoppy: no page, every card skipped" [ -z "$(pages_of shoppy)" ]
check "shoppy: 35 cards for missing schema context, 1 archived" sh -c "
    [ \"\$(jq -c 'select(.event == \"metabase_card_skipped\") | .data.reason' '$(trace shoppy)' |
        sort | uniq -c | sed 's/^ *//')\" = \
      '1 \"archived card\"
35 \"missing schema context\"' ]"
check "shoppy: never an overlay or a page invented" sh -c "
    [ -z \"\$(git -C '$P' log --format= --name-only -1 $(rfield shoppy commit) |
        grep -v '^raw-sources/shoppy/metabase/')\" ]"

# --- Notion: Blendle's handbook. ---
bl=$FX/notion-export/blendle-handbook
check "blendle: a page per exported page" [ "$(pages_of blendle | wc -l)" -eq 50 ]
# Counted in the fixture itself: 79 .md links, 2 of them to a page that is
# not in the export; 46 links to attachments that are not either.
n_md=$(find "$bl" -name '*.md' -exec cat {} + |
    grep -oE '\]\(([^()]|\([^()]*\))*\.md\)' | grep -vcE '^\]\([a-z]+:')
n_att=$(find "$bl" -name '*.md' -exec cat {} + |
    grep -oE '\]\(([^()]|\([^()]*\))*\)' |
    grep -vcE '^\]\(([a-z]+:|#|\))|\.md\)$')
check "blendle: the fixture has 79 page links and 46 attachment links" \
    [ "$n_md/$n_att" = 79/46 ]
check "blendle: 77 links became [[key]], 48 plain text (46 + the 2 dangling)" has_event blendle '
    .event == "notion_links_converted" and .data.pages == 50 and
    .data.links == 77 and .data.plainText == 48'
check "blendle: 77 [[key]] links on main, each to a page" sh -c "
    cd '$P' && cat wiki/global/blendle-*.md | grep -o '\[\[[^]|]*' | sed 's/^\[\[//' >'$T/links' &&
    [ \$(wc -l <'$T/links') -eq 77 ] &&
    while read -r k; do [ -f \"wiki/global/\$k.md\" ] || exit 1; done <'$T/links'"
check "blendle: no relative file link is left" sh -c "
    ! cat '$P'/wiki/global/blendle-*.md | grep -qE '\]\([^):]*(\.(md|png|jpg|pdf|docx|mp4)|%20)'"
check "blendle: a missing attachment is its name as plain text" sh -c "
    git -C '$P' show 'HEAD:wiki/global/blendle-people-system-salarisbalie-requesting-time-off-expensing.md' |
    grep -q 'Handleiding NMBRS.pdf'"
check "blendle: one title, two pages, two stable keys" sh -c "
    git -C '$P' cat-file -e HEAD:wiki/global/blendle-when-is-there-too-much-stress-21ab283c.md &&
    git -C '$P' cat-file -e HEAD:wiki/global/blendle-when-is-there-too-much-stress-3f2170d3.md"

# --- Notion: the starter workspace, zipped twice. ---
csv=$(ls "$P"/in/templates/*/"Habit Tracker "*_all.csv)
check "templates: the database CSV starts with a UTF-8 BOM" \
    [ "$(head -c 3 "$csv" | od -An -tx1 | tr -d ' ')" = efbbbf ]
check "templates: the database is one page with a table of every row" sh -c "
    git -C '$P' show HEAD:wiki/global/templates-habit-tracker.md >'$T/ht' &&
    grep -qx '| Date | Ran today | Meditated | Practiced guitar | Full date |' '$T/ht' &&
    [ \$(grep -c '^| @' '$T/ht') -eq \$(tail -n +2 \"$csv\" | grep -c .) ]"
check "templates: the plain CSV is ignored for _all.csv" has_event templates '
    .event == "notion_csv_variant_ignored" and (.data.used | endswith("_all.csv"))'
check "templates: Home's links to the CSVs of two databases exported as pages link them" sh -c "
    git -C '$P' show HEAD:wiki/global/templates-home.md |
    grep -qx '\[\[templates-my-tasks|My tasks\]\]'"
check "templates: the two databases not exported at all are plain text" has_event templates '
    .event == "notion_links_converted" and .data.pages == 279 and
    .data.links == 3 and .data.plainText == 2'
check "templates: two pages titled Today, two keys" sh -c "
    [ \"\$(git -C '$P' ls-tree --name-only HEAD wiki/global/ | grep -c '/templates-today-[0-9a-f]\{8\}\.md\$')\" -eq 2 ]"

# --- Notion: a page naming tables in inline code. ---
check "notes: the tables the warehouse has become sl_refs" same sl_refs \
    "$(printf 'py_order_stats\nraw_orders')" "$(sl_refs_of notes-order-stats)"
check "notes: checked table references in the body, the unknown one as it was" sh -c "
    git -C '$P' show HEAD:wiki/global/notes-order-stats.md |
    grep -qxF 'Read \`wh/table:py_order_stats\`, built from \`wh/table:main.raw_orders\`; \`main_marts.orders\`'"

tree_of "$A" >"$T/tree_a"
on_main semantic-layer/wh/_schema/main.yaml >"$T/shard_a"

# --- A user describes a table and joins it by hand; the rescan keeps it. ---
awk '{ print }
    $0 == "    table: main.py_order_stats" { print "    descriptions:"; print "      owner: Data team" }' \
    "$P/semantic-layer/wh/_schema/main.yaml" |
    awk '$0 == "  raw_customers:" { print "    joins:"; print "      - to: orders"
            print "        on: py_order_stats.order_id = orders.order_id"
            print "        relationship: many_to_one"; print "        source: manual" }
        { print }' >"$T/main.yaml"
cp "$T/main.yaml" "$P/semantic-layer/wh/_schema/main.yaml"
git -C "$P" commit -q -m "user: describe py_order_stats, join it to orders" semantic-layer/wh/_schema/main.yaml
check "user edit: the description and the join are on main" sh -c "
    on=\$(git -C '$P' show HEAD:semantic-layer/wh/_schema/main.yaml) &&
    echo \"\$on\" | grep -qx '      owner: Data team' &&
    echo \"\$on\" | grep -qx '        source: manual'"

# --- Again: nothing changed, nothing lands. ---
before=$(state_of)
ingest --all
check "rerun: exit 0" [ $? -eq 0 ]
check "rerun: every target done without a commit, the squash saying no changes" none_committed
check "rerun: main and its checkout untouched" [ "$(state_of)" = "$before" ]
check "rerun: each source reused its snapshot" sh -c "
    for c in $CONNS; do
        jq -e -s 'any(.[]; .event == \"snapshot_reused\")' \
            \"\$(jq -r --arg c \$c '.results[] | select(.connectionId == \$c) | .trace' '$T/out')\" \
            >/dev/null || exit 1
    done"
check "rerun: no leftovers" no_leftovers
check "rerun: the rescan kept the user's description and join" same shard \
    "$(cat "$T/main.yaml")" "$(on_main semantic-layer/wh/_schema/main.yaml)"

# A page removed by hand comes back from the same snapshot, which the
# provenance gate accepts.
sync=$(git -C "$P" ls-tree --name-only HEAD raw-sources/dbt/dbt/)
git -C "$P" rm -q wiki/global/dbt-orders.md
git -C "$P" commit -q -m "user: remove a page"
ingest dbt
check "page removed: the dbt target restores it from its snapshot" result dbt '
    .status == "done" and .commit != null'
check "page removed: the page is back, the snapshot reused" sh -c "
    [ '$(echo "$sync" | wc -l)' -eq 1 ] &&
    [ \"\$(git -C '$P' ls-tree --name-only HEAD raw-sources/dbt/dbt/)\" = '$sync' ] &&
    git -C '$P' log -1 --format=%s | grep -q ' syncId=$(basename "$sync") ' &&
    [ \"\$(git -C '$P' diff --name-status HEAD~1 HEAD)\" = \"\$(printf 'A\twiki/global/dbt-orders.md')\" ]"

# --- The url forms, read-only: sqlite:///<absolute>, sqlite:<relative>. ---
mkktx urls
mkdir "$P/in"
cp "$A/in/warehouse.sqlite" "$P/in/warehouse.sqlite"
cp "$P/in/warehouse.sqlite" "$T/pristine.sqlite"
config <<EOF
connections:
  abs:
    driver: sqlite
    url: sqlite://$P/in/warehouse.sqlite
  rel:
    driver: sqlite
    url: sqlite:in/warehouse.sqlite
EOF
ingest --all
check "urls: both forms scanned" all_done abs rel
check "urls: the same shard as by path" sh -c "
    git -C '$P' show HEAD:semantic-layer/abs/_schema/main.yaml | cmp -s - '$T/shard_a' &&
    git -C '$P' show HEAD:semantic-layer/rel/_schema/main.yaml | cmp -s - '$T/shard_a'"
check "urls: opened read-only, the file unchanged, no journal" sh -c "
    cmp -s '$T/pristine.sqlite' '$P/in/warehouse.sqlite' &&
    [ \"\$(ls '$P/in')\" = warehouse.sqlite ]"

# --- A second fresh project: the same bytes. ---
project b
ingest --all
check "fresh copy: exit 0" [ $? -eq 0 ]
tree_of "$P" >"$T/tree_b"
check "fresh copy: byte-identical wiki, semantic layer and raw snapshots" \
    diff "$T/tree_a" "$T/tree_b"
check "fresh copy: one commit per target" [ "$(git -C "$P" log --format=%s | grep -c '^ingest(')" -eq 9 ]

finish
