#!/bin/sh
# The dbt and Metabase fixtures on real PostgreSQL warehouses (tests/pg.sh):
# tests/catalog2sql.jq makes one database per dbt catalog, with its schemas,
# tables and views, so every relation a manifest names is a table of a
# scanned warehouse.  jaffle (the dbterd project, built on PostgreSQL) is
# reached through env:DATABASE_URL; bouncer (dbt-bouncer, built on DuckDB)
# scans only its enabled_tables.  The Metabase API cards and the
# serialization export map to jaffle; the stages-format cards name no
# warehouse while two exist.  Gates pass, a rerun lands nothing, a second
# fresh project gets the same bytes.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"
. "$KTX_TOP_SRCDIR/tests/lib_fixtures.sh"

pg=$(sh "$KTX_TOP_SRCDIR/tests/pg.sh" start) || {
	echo "FAIL: tests/pg.sh could not start a server" >&2
	exit 1
}
pgdir=$(echo "$pg" | sed -n 1p)
conninfo=$(echo "$pg" | sed -n 2p)
trap 'sh "$KTX_TOP_SRCDIR/tests/pg.sh" stop "$pgdir"; cleanup' EXIT
psql=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/psql
[ -x "$psql" ] || psql=psql
# sql DB: run stdin in database DB.
sql() {
	PGOPTIONS="-c client_min_messages=warning" "$psql" -q -v ON_ERROR_STOP=1 \
	    "$(echo "$conninfo" | sed "s/dbname=postgres/dbname=$1/")" >/dev/null
}
echo 'CREATE DATABASE jaffle; CREATE DATABASE bouncer;' | sql postgres &&
    catalog2sql postgres "$FX/dbt/dbterd/catalog.json" | sql jaffle &&
    catalog2sql postgres "$FX/dbt/dbt-bouncer/catalog.json" | sql bouncer || {
	echo "FAIL: the warehouses" >&2
	exit 1
}
DATABASE_URL=$(echo "$conninfo" | sed 's/dbname=postgres/dbname=jaffle/')
export DATABASE_URL
bouncer_url=$(echo "$conninfo" | sed 's/dbname=postgres/dbname=bouncer/')
CONNS="bouncer jaffle bdbt jdbt mb4 mb5 shoppy"

# project NAME: a fresh project $T/NAME with the fixtures under in/; sets P.
project() {
	mkktx "$1"
	fx_dbt dbterd "$P/in/jdbt"
	fx_dbt dbt-bouncer "$P/in/bdbt"
	fx_copy metabase/dbt-metabase-api/mbql4 "$P/in/mb4"
	fx_copy metabase/dbt-metabase-api/mbql5 "$P/in/mb5"
	fx_copy metabase/shoppy-serialization "$P/in/shoppy"
	config <<EOF
connections:
  jaffle:
    driver: postgres
    url: env:DATABASE_URL
  bouncer:
    driver: postgres
    url: "$bouncer_url"
    enabled_tables: [main.py_order_stats, main_marts.orders, main_stg_crm.stg_orders]
  jdbt:
    driver: dbt
    source_dir: in/jdbt
  bdbt:
    driver: dbt
    source_dir: in/bdbt
  mb4:
    driver: metabase
    source_dir: in/mb4
    mappings: { connection: jaffle }
  mb5:
    driver: metabase
    source_dir: in/mb5
  shoppy:
    driver: metabase
    source_dir: in/shoppy
    mappings: { connection: jaffle }
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
check "ingest: every target done with a commit" all_done $CONNS
check "ingest: every trace passed the final gates" gates_passed
check "ingest: no leftovers" no_leftovers

# --- The warehouses: real schemas. ---
check "jaffle: a shard per schema, every catalog relation in it" same jaffle \
    "$(jq -r '(.nodes, .sources)[] | .metadata | "\(.schema) \(.name)"' \
        "$FX/dbt/dbterd/catalog.json" | sort -u)" \
    "$(for s in public raw; do on_main semantic-layer/jaffle/_schema/$s.yaml |
        sed -n "s/^  \([a-z0-9_]*\):\$/$s \1/p"; done | sort)"
check "jaffle: views are scanned with their columns" same view \
    "$(printf '    table: public.stg_customers\n    columns:\n      - name: customer_id')" \
    "$(on_main semantic-layer/jaffle/_schema/public.yaml | grep -A3 '^  stg_customers:$' | sed 1d)"
check "bouncer: only the enabled tables" same bouncer \
    "$(printf 'main py_order_stats\nmain_marts orders\nmain_stg_crm stg_orders')" \
    "$(git -C "$P" ls-tree --name-only HEAD semantic-layer/bouncer/_schema/ |
        while read -r f; do s=$(basename "$f" .yaml)
            on_main "$f" | sed -n "s/^  \([a-z0-9_]*\):\$/$s \1/p"; done | sort)"

# --- dbt on PostgreSQL: every relation the catalog has is backed. ---
# Documented models and sources of the project: a page and an overlay each.
documented=$(jq -r '(.nodes, .sources)[] | select(.package_name == "jaffle_shop" and
    (.resource_type == "model" or .resource_type == "source") and
    (.description != "" or ([.columns[] | select(.description != "")] | length > 0))) |
    .identifier // .name' "$FX/dbt/dbterd/manifest.json" | sort)
check "jdbt: 13 documented nodes, 8 models and 5 sources" \
    [ "$(echo "$documented" | wc -l)" -eq 13 ]
check "jdbt: a page each, naming its own source first" same sl_refs "$documented" \
    "$(for k in $(pages_of jdbt); do sl_refs_of "$k" | head -1; done | sort)"
check "jdbt: an overlay each" same overlays \
    "$(echo "$documented" | sed 's|^|semantic-layer/jaffle/|; s|$|.yaml|')" \
    "$(git -C "$P" ls-tree --name-only HEAD semantic-layer/jaffle/ | grep -v /_schema)"
check "jdbt: no node without a source" [ -z "$(events jdbt '.event == "dbt_node_without_source"')" ]
check "jdbt: a source page reaches raw.raw_orders" same sl_refs \
    raw_orders "$(sl_refs_of jdbt-ecom-raw-orders)"
check "bdbt: the enabled main_marts.orders is backed, with its overlay" sh -c "
    [ \"\$(git -C '$P' show HEAD:semantic-layer/bouncer/orders.yaml | head -1)\" = 'name: orders' ]" 
check "bdbt: orders' page names it" same sl_refs orders "$(sl_refs_of bdbt-orders)"
check "bdbt: customers_v3, not enabled, is not backed, and says why" has_event bdbt '
    .event == "dbt_node_without_source" and .data.relation == "main_marts.customers_v3" and
    .data.reason == "missing schema context: no warehouse manifest entry for main_marts.customers_v3"'
check "bdbt: its page has no sl_refs, it has no overlay" sh -c "
    ! git -C '$P' show HEAD:wiki/global/bdbt-customers-v3.md | grep -q '^sl_refs:' &&
    ! git -C '$P' cat-file -e HEAD:semantic-layer/bouncer/customers_v3.yaml 2>/dev/null"
check "bdbt: three overlays, onto the enabled tables" same overlays \
    "$(printf 'semantic-layer/bouncer/orders.yaml\nsemantic-layer/bouncer/py_order_stats.yaml\nsemantic-layer/bouncer/stg_orders.yaml')" \
    "$(git -C "$P" ls-tree --name-only HEAD semantic-layer/bouncer/ | grep -v /_schema)"

# --- Metabase, mapped to jaffle. ---
check "mb4: the cards on public.orders and public.customers have pages" same mb4.pages \
    "$(printf 'mb4-completed-orders-cte-sql\nmb4-dummy-30\nmb4-dummy-31\nmb4-orders-customers\nmb4-orders-customers-filtered-by-status-is-completed')" \
    "$(pages_of mb4)"
check "mb4: the MBQL card reads its source table and its join" same sl_refs \
    "$(printf 'orders\ncustomers')" "$(sl_refs_of mb4-orders-customers)"
check "mb4: the card built on card 27 reads 27's tables" same sl_refs \
    "$(printf 'orders\ncustomers')" "$(sl_refs_of mb4-orders-customers-filtered-by-status-is-completed)"
check "mb4: stg_payments and transactions are not jaffle's: skipped" same skipped \
    "29 33" "$(events mb4 '.event == "metabase_card_skipped" and
        .data.reason == "missing schema context" and .data.warehouse == "jaffle"' |
        jq -r .data.card | tr '\n' ' ' | sed 's/ $//')"
check "mb4: card 29 misses stg_payments only" has_event mb4 '
    .event == "metabase_card_skipped" and .data.card == "29" and
    .data.missing == ["STG_payments (not in jaffle'"'"'s manifest)"]'
check "mb5: two warehouses and no mappings: only the cards reading no table" same mb5.pages \
    "$(printf 'mb5-dummy-30\nmb5-dummy-31')" "$(pages_of mb5)"
check "mb5: the others skipped for missing schema context" [ "$(events mb5 '
    .event == "metabase_card_skipped" and
    .data.reason == "missing schema context: no warehouse connection for Metabase (set mappings.connection) to resolve"' |
    wc -l)" -eq 5 ]
check "shoppy: the 18 cards on public.orders alone have pages naming it" sh -c "
    n=0
    for k in \$(git -C '$P' ls-tree --name-only HEAD wiki/global/ | sed -n 's|^wiki/global/\(shoppy-.*\)\.md\$|\1|p'); do
        [ \"\$(git -C '$P' show HEAD:wiki/global/\$k.md | sed -n '/^sl_refs:/,/^[a-z]/p' | sed -n 's/^  - //p')\" = orders ] ||
            { echo \$k >&2; exit 1; }
        n=\$((n + 1))
    done
    [ \$n -eq 18 ]"
check "shoppy: 17 cards reading people or product_categories skipped, 1 archived" sh -c "
    [ \"\$(jq -c 'select(.event == \"metabase_card_skipped\") | .data.reason' '$(trace shoppy)' |
        sort | uniq -c | sed 's/^ *//')\" = '1 \"archived card\"
17 \"missing schema context\"' ]"

# --- Again, and a fresh copy. ---
before=$(state_of)
ingest --all
check "rerun: nothing lands, each squash says no changes" none_committed
check "rerun: main untouched" [ "$(state_of)" = "$before" ]
project b
ingest --all
check "fresh copy: exit 0" [ $? -eq 0 ]
tree_of "$A" >"$T/tree_a"
tree_of "$P" >"$T/tree_b"
check "fresh copy: byte-identical wiki, semantic layer and raw snapshots" \
    diff "$T/tree_a" "$T/tree_b"

finish
