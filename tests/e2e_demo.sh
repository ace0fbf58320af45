#!/bin/sh
# The demo end to end, as scripts/quickstart runs it: examples/demo copied
# to a fresh directory, its warehouse built, init, ingest --all.  Every
# target lands with the gates passing, and main holds what
# examples/demo/CONTENT.md says an ingest of the whole demo writes.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_engine.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"

DEMO=$KTX_TOP_SRCDIR/examples/demo
LC_ALL=C	# one sort order for the lists compared below
export LC_ALL

# fact KEY: the value of KEY in CONTENT.md's facts table, one item a line.
fact() {
	awk -F'|' -v key="\`$1\`" '
	    { k = $2; gsub(/^ +| +$/, "", k) }
	    k == key { v = $3; gsub(/^ +| +$/, "", v); gsub(/`/, "", v)
	        n = split(v, a, /, */)
	        for (i = 1; i <= n; i++) print a[i] }' "$DEMO/CONTENT.md"
}

# expected PREFIX: the page keys CONTENT.md's "Expected outcome" names.
expected() {
	sed -n '/^## Expected outcome/,/^## Facts/p' "$DEMO/CONTENT.md" |
	    grep -o "\`$1-[a-z0-9-]*[a-z0-9]\`" | tr -d '`' | sort -u
}

# same NAME EXPECTED ACTUAL
same() {
	[ "$2" = "$3" ] && return 0
	printf '%s: expected\n%s\nbut found\n%s\n' "$1" "$2" "$3" >&2
	return 1
}

# The pages on main whose key starts with PREFIX-.
pages() {
	git -C "$P" ls-tree --name-only HEAD wiki/global/ |
	    sed -n "s|^wiki/global/\($1-.*\)\.md\$|\1|p" | sort
}

# frontmatter KEY: the sl_refs of a page on main, one a line.
sl_refs() {
	git -C "$P" show "HEAD:wiki/global/$1.md" |
	    awk '/^---$/ { n++; next } n == 1 && /^sl_refs:/ { on = 1; next }
	        n == 1 && on && /^  - / { sub(/^  - /, ""); print; next }
	        { on = 0 }'
}

P=$T/demo
cp -R "$DEMO/." "$P"
rm "$P/README.md" "$P/CONTENT.md"
sqlite3 -bail "$P/warehouse.sqlite" <"$P/warehouse.sql"
check "demo: init" sh -c "'$KTX_SUPERVISOR' -C '$P' init >/dev/null"

ingest --all
check "demo: ingest --all exits 0" [ $? -eq 0 ]
check "demo: every target done with a commit" jq_ok '
    [.results[] | [.connectionId, .status, (.commit | type)]] ==
    [["warehouse","done","string"],["dbt","done","string"],
     ["metabase","done","string"],["notion","done","string"]]' "$T/out"
check "demo: one squash commit per target on main" \
    [ "$(git -C "$P" log --format=%s | grep -c '^ingest(')" -eq 4 ]
check "demo: the warehouse landed first" sh -c "
    git -C '$P' log --reverse --format=%s | grep '^ingest(' | head -1 |
    grep -q '^ingest(live-database): '"
check "demo: .ktx/worktrees is empty, no session branch" no_leftovers

# The warehouse: one shard with every table and view.
check "demo: the shard main.yaml holds the 11 relations" same warehouse \
    "$( (fact warehouse.tables; fact warehouse.views) | sort)" \
    "$(git -C "$P" show HEAD:semantic-layer/warehouse/_schema/main.yaml |
        sed -n 's/^  \([a-z_]*\):$/\1/p' | sort)"
check "demo: no other semantic-layer connection" \
    [ "$(git -C "$P" ls-tree -d --name-only HEAD semantic-layer/)" = "semantic-layer/warehouse" ]

# dbt: its pages, overlays and sl_refs.
check "demo: the dbt pages" same dbt.pages "$(expected dbt)" "$(pages dbt)"
check "demo: as many dbt pages as the facts say" \
    [ "$(pages dbt | wc -l)" -eq "$(fact dbt.pages)" ]
check "demo: one overlay per relation in dbt.overlays" same dbt.overlays \
    "$(fact dbt.overlays | sed 's/$/.yaml/')" \
    "$(git -C "$P" ls-tree --name-only HEAD semantic-layer/warehouse/ |
        sed -n 's|^semantic-layer/warehouse/\(.*\.yaml\)$|\1|p')"
check "demo: 11 dbt pages have sl_refs after reconciliation" [ "$(
    for k in $(pages dbt); do [ -n "$(sl_refs "$k")" ] && echo "$k"; done |
    wc -l)" -eq 11 ]
check "demo: dbt-customer-health-scores reaches events through app.events" \
    same sl_refs "events" "$(sl_refs dbt-customer-health-scores)"
check "demo: dbt-customers names customers and events" \
    same sl_refs "$(printf 'customers\nevents')" "$(sl_refs dbt-customers)"
check "demo: the unbacked and ephemeral pages have no sl_refs" sh -c "
    for k in dbt-revenue-forecast dbt-stg-stripe-charges dbt-stripe-charges; do
        git -C '$P' show HEAD:wiki/global/\$k.md | grep -q '^sl_refs:' && exit 1
    done; exit 0"

# Notion and Metabase.
check "demo: the Notion pages" same notion.pages "$(expected notion)" "$(pages notion)"
check "demo: as many Notion pages as the facts say" \
    [ "$(pages notion | wc -l)" -eq "$(fact notion.pages)" ]
check "demo: the Metabase pages" same metabase.pages "$(expected metabase)" "$(pages metabase)"
check "demo: one Metabase page per card in metabase.pages" \
    [ "$(pages metabase | wc -l)" -eq "$(fact metabase.pages | wc -l)" ]
check "demo: no other page" [ "$(git -C "$P" ls-tree --name-only HEAD wiki/global/ |
    grep -v -c -e '/dbt-' -e '/notion-' -e '/metabase-' -e '/.gitkeep$')" -eq 0 ]

# What the adapters reported, in the traces.
check "demo: four dbt nodes without a source of their own" \
    [ "$(events dbt '.event == "dbt_node_without_source"' | wc -l)" -eq 4 ]
check "demo: three of them for missing schema context" \
    [ "$(events dbt '.event == "dbt_node_without_source" and
        (.data.reason | test("missing schema context"))' | wc -l)" -eq 3 ]
check "demo: Notion's plain CSV is ignored for _all.csv" \
    [ "$(events notion '.event == "notion_csv_variant_ignored"' | wc -l)" -eq 1 ]
check "demo: card $(fact metabase.skipped) is skipped for marketing_leads" has_event metabase '
    .event == "metabase_card_skipped" and (tostring | test("marketing_leads"))'
check "demo: the final gates passed for every target" sh -c "
    for c in warehouse dbt metabase notion; do
        jq -e -s '[.[] | select(.event == \"final_artifact_gates_finished\")] | length == 1' \
            \"\$(jq -r --arg c \"\$c\" '.results[] | select(.connectionId == \$c) | .trace' '$T/out')\" \
            >/dev/null || exit 1
    done"

# Again: the schema did not change, so the warehouse lands nothing; the
# pages stay as they are.
pages_before=$(git -C "$P" ls-tree -r HEAD wiki semantic-layer | sort)
sleep 1
ingest --all
check "demo: a second ingest exits 0" [ $? -eq 0 ]
check "demo: the warehouse reuses its snapshot and commits nothing" \
    result warehouse '.status == "done" and .commit == null'
check "demo: pages and semantic layer unchanged" \
    [ "$(git -C "$P" ls-tree -r HEAD wiki semantic-layer | sort)" = "$pages_before" ]
check "demo: and nothing left behind" no_leftovers

finish
