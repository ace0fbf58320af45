#!/bin/sh
# The demo project's content (examples/demo) is what its CONTENT.md says it
# is: the warehouse script loads with its foreign keys intact, every JSON file
# parses, the Notion export's links resolve, the Metabase cards and the dbt
# models read tables the warehouse has, and the facts table of CONTENT.md
# (counts and lists the adapter and end-to-end tests rely on) matches the
# files.  The second half breaks a copy in one way at a time and expects each
# validator to notice.
. "$KTX_TOP_SRCDIR/tests/lib.sh"

DEMO=${KTX_DEMO_DIR:-$KTX_TOP_SRCDIR/examples/demo}
LC_ALL=C	# one sort order for the lists compared below
export LC_ALL
for tool in sqlite3 jq realpath; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "FAIL: $tool not found (scripts/deps installs it)" >&2
		exit 1
	}
done

# fact DIR KEY: the value of KEY in the facts table of DIR/CONTENT.md, its
# backquotes removed, list items one a line.
fact() {
	awk -F'|' -v key="\`$2\`" '
	    { k = $2; gsub(/^ +| +$/, "", k) }
	    k == key { v = $3; gsub(/^ +| +$/, "", v); gsub(/`/, "", v)
	        n = split(v, a, /, */)
	        for (i = 1; i <= n; i++) print a[i]
	        found = 1 }
	    END { exit !found }' "$1/CONTENT.md"
}

# same NAME EXPECTED ACTUAL: equal, or say how they differ.
same() {
	[ "$2" = "$3" ] && return 0
	printf '%s: expected\n%s\nbut found\n%s\n' "$1" "$2" "$3" >&2
	return 1
}

# The warehouse built from DIR/warehouse.sql, at $T/<n>.sqlite.  Prints its
# path.
nbuilt=0
build_wh() {
	nbuilt=$((nbuilt + 1))
	rm -f "$T/wh$nbuilt.sqlite"
	sqlite3 -bail "$T/wh$nbuilt.sqlite" <"$1/warehouse.sql" \
	    >"$T/wh.err" 2>&1 || {
		cat "$T/wh.err" >&2
		return 1
	}
	echo "$T/wh$nbuilt.sqlite"
}

# Relations (tables and views) of a warehouse, one a line.
wh_relations() {
	sqlite3 "$1" "select name from sqlite_master where type in ('table', 'view')
	    and name not like 'sqlite_%' order by name"
}

# --- warehouse ---------------------------------------------------------

v_warehouse() {
	local wh out
	wh=$(build_wh "$1") || return 1
	[ -s "$T/wh.err" ] && { cat "$T/wh.err" >&2; return 1; }
	out=$(sqlite3 "$wh" 'PRAGMA foreign_key_check')
	[ -z "$out" ] || { echo "foreign_key_check: $out" >&2; return 1; }
	out=$(sqlite3 "$wh" 'PRAGMA integrity_check')
	[ "$out" = ok ] || { echo "integrity_check: $out" >&2; return 1; }
	same warehouse.tables "$(fact "$1" warehouse.tables)" \
	    "$(sqlite3 "$wh" "select name from sqlite_master
	        where type = 'table' order by name")" &&
	same warehouse.views "$(fact "$1" warehouse.views)" \
	    "$(sqlite3 "$wh" "select name from sqlite_master
	        where type = 'view' order by name")" &&
	same warehouse.foreign_keys "$(fact "$1" warehouse.foreign_keys)" \
	    "$(sqlite3 "$wh" "select m.name || '.' ||
	        group_concat(f.\"from\", '+') || ' -> ' || f.\"table\"
	        from sqlite_master m, pragma_foreign_key_list(m.name) f
	        where m.type = 'table' group by m.name, f.id order by 1")" &&
	same warehouse.rows "$(fact "$1" warehouse.rows)" \
	    "$(wh_relations "$wh" | while read -r t; do
	        echo "$t=$(sqlite3 "$wh" "select count(*) from \"$t\"")"
	    done)"
}

# --- JSON ----------------------------------------------------------------

v_json() {
	local f bad=0 n=0
	while IFS= read -r f; do
		n=$((n + 1))
		jq empty "$f" >/dev/null 2>"$T/jq.err" || {
			echo "$f: $(cat "$T/jq.err")" >&2
			bad=1
		}
	done <<EOF
$(find "$1" -name '*.json' | sort)
EOF
	[ "$n" -gt 0 ] || { echo "no JSON files under $1" >&2; return 1; }
	return $bad
}

# --- Notion ----------------------------------------------------------------

# The relative links of a Markdown file, URL-decoded, one a line.
md_links() {
	grep -oE '\]\([^)]*\)' "$1" | sed 's/^](//; s/)$//' |
	    grep -vE '^([a-z]+:|#)' | awk '
	    BEGIN { hex = "0123456789abcdef" }
	    { out = ""
	      while (match($0, /%[0-9A-Fa-f][0-9A-Fa-f]/)) {
		h = tolower(substr($0, RSTART + 1, 2))
		c = (index(hex, substr(h, 1, 1)) - 1) * 16
		c += index(hex, substr(h, 2, 1)) - 1
		out = out substr($0, 1, RSTART - 1) sprintf("%c", c)
		$0 = substr($0, RSTART + 3) }
	      print out $0 }'
}

v_notion_links() {
	local n=$1/notion f l dir target missing
	find "$n" -name '*.md' | sort | while IFS= read -r f; do
		dir=$(dirname "$f")
		md_links "$f" | while IFS= read -r l; do
			target=$(realpath -m --relative-to="$n" "$dir/$l")
			case $target in
			../*)	echo "missing $target (outside the export)" ;;
			*)	[ -e "$n/$target" ] && echo found ||
				    echo "missing $target" ;;
			esac
		done
	done >"$T/links"
	missing=$(sed -n 's/^missing //p' "$T/links" | sort -u)
	same notion.relative_links "$(fact "$1" notion.relative_links)" \
	    "$(wc -l <"$T/links")" &&
	same notion.missing_links "$(fact "$1" notion.missing_links)" "$missing"
}

v_notion_tree() {
	local n=$1/notion f base id ok=0 titles pages dbs dup
	# Every file and folder is "<title> <32 hex id>", a page, a database (with
	# its _all twin) or the folder of the page or database of the same name.
	while IFS= read -r f; do
		base=$(basename "$f")
		id=$(printf '%s\n' "$base" |
		    sed -nE 's/^.+ ([0-9a-f]{32})(\.md|\.csv|_all\.csv)?$/\1/p')
		[ -n "$id" ] ||
		    { echo "$f: no Notion id in the name" >&2; ok=1; continue; }
		if [ -d "$f" ]; then
			[ -f "$f.md" ] || [ -f "$f.csv" ] ||
			    { echo "$f: folder without its page" >&2; ok=1; }
		fi
		case $base in
		*_all.csv) [ -f "${f%_all.csv}.csv" ] ||
		    { echo "$f: no plain CSV beside it" >&2; ok=1; } ;;
		*.csv)	[ -f "${f%.csv}_all.csv" ] ||
			    { echo "$f: no _all.csv beside it" >&2; ok=1; } ;;
		esac
		case $base in
		*.csv)	[ "$(head -c 3 "$f" | od -An -tx1 | tr -d ' ')" = efbbbf ] ||
			    { echo "$f: no UTF-8 byte order mark" >&2; ok=1; } ;;
		esac
	done <<EOF
$(find "$n" -mindepth 1 | sort)
EOF
	dup=$(find "$n" -mindepth 1 |
	    sed -nE 's/^.* ([0-9a-f]{32})(\.md|\.csv|_all\.csv)?$/\1/p' | sort -u |
	    while read -r id; do
		find "$n" -name "* $id*" |
		    sed -E 's/(\.md|_all\.csv|\.csv)$//' | sort -u |
		    awk -v id="$id" 'END { if (NR > 1) print id }'
	    done)
	[ -z "$dup" ] || { echo "ids used by more than one object: $dup" >&2; ok=1; }
	pages=$(find "$n" -name '*.md' | wc -l)
	dbs=$(find "$n" -name '*_all.csv' | while IFS= read -r f; do
		[ -f "${f%_all.csv}.md" ] || echo "$f"
	done | wc -l)
	titles=$(find "$n" -name '*.md' -exec head -n 1 {} \; | sed 's/^# //' |
	    sort | uniq -d)
	same notion.md_pages "$(fact "$1" notion.md_pages)" "$pages" &&
	same notion.databases "$(fact "$1" notion.databases)" "$dbs" &&
	same notion.pages "$(fact "$1" notion.pages)" "$((pages + dbs))" &&
	same notion.duplicate_titles "$(fact "$1" notion.duplicate_titles)" \
	    "$titles" &&
	return $ok
}

# Warehouse tables named in inline code outside fenced blocks, anywhere in
# the export.
v_notion_mentions() {
	local wh
	wh=$(build_wh "$1") || return 1
	same notion.table_mentions "$(fact "$1" notion.table_mentions)" \
	    "$(find "$1/notion" -name '*.md' -exec awk '
		/^```/ { fence = !fence; next }
		!fence { while (match($0, /`[^`]+`/)) {
			print substr($0, RSTART + 1, RLENGTH - 2)
			$0 = substr($0, RSTART + RLENGTH) } }' {} \; |
		sort -u | grep -xF "$(wh_relations "$wh")")"
}

# --- Metabase ----------------------------------------------------------------

# The tables a native query reads: FROM and JOIN targets, unquoted, without
# schema, less the query's CTE names.
sql_tables() {
	local sql ctes
	sql=$(tr 'A-Z\n\t' 'a-z  ')
	ctes=$(printf '%s\n' "$sql" |
	    grep -oE '(with|,) *[a-z_][a-z0-9_]* +as *\(' |
	    sed -E 's/^(with|,) *//; s/ +as *\($//')
	printf '%s\n' "$sql" | grep -oE '(from|join) +[^ (),;]+' |
	    sed -E 's/^(from|join) +//; s/"//g; s/^.*\.//' |
	    grep -vxF "${ctes:-(none)}" | sort -u
}

# card_tables API ID: what card ID reads, with the tables of the cards it
# is built on; "card ID missing" when a card is not in the export.
card_tables() {
	local api=$1 card=$1/card/$2.json q kind ref
	[ -f "$card" ] || { echo "card $2 missing"; return; }
	q=$(jq -r '.dataset_query |
	    .native.query // (.stages[]?.native // empty)' "$card")
	[ -n "$q" ] && printf '%s\n' "$q" | sql_tables
	jq -r '.dataset_query | .. | objects |
	    ((.["source-table"] | select(. != null) |
	        if type == "number" then "table \(.)"
	        elif startswith("card__") then "card \(ltrimstr("card__"))"
	        else "table \(.)" end),
	     (.["source-card"] | select(. != null) | "card \(.)"))' "$card" |
	while read -r kind ref; do
		case $kind in
		table)	jq -r --argjson id "$ref" \
			    '.[] | select(.id == $id) | .name' "$api/table.json" |
			    grep . || echo "table id $ref missing" ;;
		card)	card_tables "$api" "$ref" ;;
		esac
	done
}

v_metabase() {
	local mb=$1/metabase/api wh f id tables missing ok=0 pages="" skipped="" nl='
'
	wh=$(build_wh "$1") || return 1
	jq -e 'length == 1 and .[0].engine == "sqlite"' "$mb/database.json" \
	    >/dev/null ||
	    { echo "database.json: want one sqlite database" >&2; ok=1; }
	jq -e --slurpfile db "$mb/database.json" \
	    'all(.[]; .schema == "main" and .db_id == $db[0][0].id)' \
	    "$mb/table.json" >/dev/null ||
	    { echo "table.json: a table outside schema main of the database" >&2
	      ok=1; }
	same "table.json against the warehouse" "$(wh_relations "$wh")" \
	    "$(jq -r '.[].name' "$mb/table.json" | sort)" || ok=1
	for f in "$mb"/card/*.json; do
		id=$(basename "$f" .json)
		jq -e --argjson id "$id" --slurpfile db "$mb/database.json" \
		    --slurpfile coll "$mb/collection.json" '
		    .id == $id and .database_id == $db[0][0].id and
		    .dataset_query.database == .database_id and
		    (.collection_id as $c | $c == null or
		        any($coll[0][]; .id == $c)) and
		    (.collection_id // "root") == .collection.id' "$f" >/dev/null ||
		    { echo "$f: id, database or collection do not match" >&2; ok=1; }
		tables=$(card_tables "$mb" "$id" | sort -u)
		missing=$(printf '%s\n' "$tables" | grep -vxF "$(wh_relations "$wh")")
		if [ -n "$missing" ]; then
			skipped="$skipped$id$nl"
		else
			pages="$pages$id$nl"
		fi
		same "metabase.card.$id" "$(fact "$1" "metabase.card.$id")" \
		    "$tables" || ok=1
	done
	same metabase.cards "$(fact "$1" metabase.cards)" \
	    "$(ls "$mb/card" | sed 's/\.json$//' | sort -n)" &&
	same metabase.pages "$(fact "$1" metabase.pages)" \
	    "$(printf %s "$pages" | sort -n)" &&
	same metabase.skipped "$(fact "$1" metabase.skipped)" \
	    "$(printf %s "$skipped" | sort -n)" &&
	return $ok
}

# --- dbt -------------------------------------------------------------------

v_dbt() {
	local t=$1/dbt/target wh ok=0 rels project uid mat schema name documented \
	    backed rel tbl col
	wh=$(build_wh "$1") || return 1
	project=$(jq -r .metadata.project_name "$t/manifest.json")
	same dbt.project "$(fact "$1" dbt.project)" "$project" || ok=1
	jq -e '.metadata.dbt_schema_version ==
	    "https://schemas.getdbt.com/dbt/manifest/v12.json"' \
	    "$t/manifest.json" >/dev/null &&
	jq -e '.metadata.dbt_schema_version ==
	    "https://schemas.getdbt.com/dbt/catalog/v1.json"' \
	    "$t/catalog.json" >/dev/null ||
	    { echo "dbt: want manifest v12 and catalog v1" >&2; ok=1; }
	# The graph: unique ids are keys, dependencies exist, parent_map is
	# depends_on and child_map its inverse.
	jq -r '
	    . as $m | (.nodes + .sources) as $all |
	    ($all | to_entries[] | select(.key != .value.unique_id) |
	        "\(.key): unique_id is \(.value.unique_id)"),
	    (.nodes[] | .unique_id as $u | .depends_on.nodes[] |
	        select($all[.] == null) | "\($u): depends on missing \(.)"),
	    (.nodes[] | .unique_id as $u | .depends_on.macros[] |
	        select($m.macros[.] == null) | "\($u): depends on missing \(.)"),
	    (($m.parent_map | keys) - ($all | keys) | .[] |
	        "parent_map: stray \(.)"),
	    (($all | keys) - ($m.parent_map | keys) | .[] |
	        "parent_map: no \(.)"),
	    ($all[] | select((.depends_on.nodes // [] | sort) !=
	        ($m.parent_map[.unique_id] // [] | sort)) |
	        "\(.unique_id): parent_map is not depends_on"),
	    ($m.parent_map | keys[] as $k |
	        select(($m.child_map[$k] // [] | sort) !=
	            ([$m.parent_map | to_entries[] |
	                select(any(.value[]; . == $k)) | .key] | sort)) |
	        "\($k): child_map is not the inverse of parent_map")' \
	    "$t/manifest.json" >"$T/dbt.err" || ok=1
	[ -s "$T/dbt.err" ] && { cat "$T/dbt.err" >&2; ok=1; }
	# The catalog: entries of the manifest, columns as the warehouse has them.
	jq -r --slurpfile m "$t/manifest.json" '
	    (.nodes + .sources) | to_entries[] |
	    select(($m[0].nodes + $m[0].sources)[.key] == null) |
	    "catalog: \(.key) is not in the manifest"' "$t/catalog.json" >"$T/dbt.err"
	[ -s "$T/dbt.err" ] && { cat "$T/dbt.err" >&2; ok=1; }
	jq -r '(.nodes + .sources)[] | .metadata.name' "$t/catalog.json" |
	while read -r rel; do
		same "catalog columns of $rel" \
		    "$(sqlite3 -separator ' ' "$wh" \
		        "select cid + 1, name, type from pragma_table_info('$rel')")" \
		    "$(jq -r --arg r "$rel" '(.nodes + .sources)[] |
		        select(.metadata.name == $r) | .columns | to_entries |
		        sort_by(.value.index)[] |
		        "\(.value.index) \(.key) \(.value.type)"' \
		        "$t/catalog.json")" || echo bad
	done >"$T/dbt.out"
	grep -qx bad "$T/dbt.out" && ok=1
	# Relations: "<schema>.<alias or identifier>" of the root project's
	# models and sources, for all but ephemeral models.
	jq -r --arg p "$project" '
	    (.nodes + .sources)[] |
	    select(.package_name == $p and
	        (.resource_type == "model" or .resource_type == "source")) |
	    [.unique_id, (.config.materialized // "source"), .schema,
	     (.identifier // .alias),
	     ((.description != "") or any(.columns[]; .description != "") |
	        tostring)] |
	    @tsv' "$t/manifest.json" | sort >"$T/dbt.nodes"
	rels=$(wh_relations "$wh")
	: >"$T/dbt.unbacked"; : >"$T/dbt.overlays"; : >"$T/dbt.nosl"
	: >"$T/dbt.undoc"; : >"$T/dbt.eph"
	while IFS="$(printf '\t')" read -r uid mat schema name documented; do
		backed=0
		if [ "$mat" != ephemeral ] && [ "$schema" = main ] &&
		    printf '%s\n' "$rels" | grep -qxF "$name"; then
			backed=1
		fi
		[ "$mat" = ephemeral ] && echo "$uid" >>"$T/dbt.eph"
		[ "$mat" != ephemeral ] && [ $backed = 0 ] &&
		    echo "$uid" >>"$T/dbt.unbacked"
		if [ "$documented" = false ]; then
			echo "$uid" >>"$T/dbt.undoc"
		elif [ $backed = 1 ]; then
			echo "$name" >>"$T/dbt.overlays"
		else
			echo "$uid" >>"$T/dbt.nosl"
		fi
	done <"$T/dbt.nodes"
	# Backed, documented nodes describe only columns the warehouse has.
	jq -r --arg p "$project" '
	    (.nodes + .sources)[] |
	    select(.package_name == $p and .schema == "main" and
	        (.resource_type == "model" or .resource_type == "source") and
	        .config.materialized != "ephemeral") |
	    (.identifier // .alias) as $t | .columns | keys[] | "\($t) \(.)"' \
	    "$t/manifest.json" | while read -r tbl col; do
		printf '%s\n' "$rels" | grep -qxF "$tbl" || continue
		[ -n "$(sqlite3 "$wh" "select 1 from pragma_table_info('$tbl')
		    where name = '$col'")" ] ||
		    echo "manifest: $tbl.$col is not in the warehouse"
	done >"$T/dbt.err"
	[ -s "$T/dbt.err" ] && { cat "$T/dbt.err" >&2; ok=1; }
	same dbt.models "$(fact "$1" dbt.models)" \
	    "$(awk -F'\t' '$1 ~ /^model\./' "$T/dbt.nodes" | wc -l)" &&
	same dbt.sources "$(fact "$1" dbt.sources)" \
	    "$(awk -F'\t' '$1 ~ /^source\./' "$T/dbt.nodes" | wc -l)" &&
	same dbt.tests "$(fact "$1" dbt.tests)" \
	    "$(jq '[.nodes[] | select(.resource_type == "test")] | length' \
	        "$t/manifest.json")" &&
	same dbt.pages "$(fact "$1" dbt.pages)" \
	    "$(awk -F'\t' '$5 == "true"' "$T/dbt.nodes" | wc -l)" &&
	same dbt.catalog_entries "$(fact "$1" dbt.catalog_entries)" \
	    "$(jq '.nodes + .sources | length' "$t/catalog.json")" &&
	same dbt.ephemeral "$(fact "$1" dbt.ephemeral)" "$(sort "$T/dbt.eph")" &&
	same dbt.undocumented "$(fact "$1" dbt.undocumented)" \
	    "$(sort "$T/dbt.undoc")" &&
	same dbt.unbacked "$(fact "$1" dbt.unbacked)" \
	    "$(sort "$T/dbt.unbacked")" &&
	same dbt.overlays "$(fact "$1" dbt.overlays)" \
	    "$(sort "$T/dbt.overlays")" &&
	same dbt.pages_without_own_source \
	    "$(fact "$1" dbt.pages_without_own_source)" "$(sort "$T/dbt.nosl")" &&
	return $ok
}

# --- the content as shipped -------------------------------------------------

check "warehouse.sql loads, foreign keys and facts hold" v_warehouse "$DEMO"
check "every JSON file parses" v_json "$DEMO"
check "notion: links resolve but the missing attachment" v_notion_links "$DEMO"
check "notion: names, ids, databases and facts" v_notion_tree "$DEMO"
check "notion: warehouse tables in inline code" v_notion_mentions "$DEMO"
check "metabase: cards read warehouse tables but the skipped one" \
    v_metabase "$DEMO"
check "dbt: graph, catalog, relations and facts" v_dbt "$DEMO"

# --- each validator fails on content broken for it ----------------------------

# broken NAME VALIDATOR EDIT...: a fresh copy of the demo, EDIT run in it,
# and VALIDATOR must fail on it.
broken() {
	local name=$1 v=$2 d="$T/broken"
	shift 2
	[ -d "$d" ] && chmod -R u+w "$d"
	rm -rf "$d"
	cp -R "$DEMO" "$d"
	chmod -R u+w "$d"	# distcheck's sources are read-only
	ntests=$((ntests + 1))
	(cd "$d" && "$@") || { fail "$name: could not break the copy"; return; }
	if "$v" "$d" 2>/dev/null; then
		fail "$name: not detected"
	else
		pass "$name: detected"
	fi
}

dangling_payment() {
	printf '%s\n' 'PRAGMA foreign_keys = OFF;' \
	    "INSERT INTO payments VALUES" \
	    "    (99, 999, '2024-05-31T00:00:00Z', 100, 'card', NULL);" \
	    >>warehouse.sql
}
bad_json() { printf '{"id": 41,\n' >metabase/api/card/41.json; }
move_page() {
	find notion -name 'Table conventions *.md' \
	    -exec sh -c 'mv "$1" "$1.bak"' _ {} \;
}
new_table_in_card() {
	sed -i 's/from subscriptions s/from subscriptions_archive s/' \
	    metabase/api/card/41.json
}
card_on_missing_card() {
	sed -i 's/"card__43"/"card__404"/' metabase/api/card/44.json
}
forget_unbacked() {
	sed -i '/`dbt.unbacked`/s/`model.acme_analytics.revenue_forecast`, //' \
	    CONTENT.md
}
dangling_dependency() {	# the first depends_on that names customers
	local uid=model.acme_analytics.customers
	sed -i "0,/^ *\"$uid\",\$/s//\"$uid.gone\",/" dbt/target/manifest.json
}
catalog_type() {
	sed -i '0,/"type": "INTEGER"/s//"type": "BIGINT"/' dbt/target/catalog.json
}
no_bom() {
	find notion -name '*_all.csv' -exec sed -i '1s/^\xef\xbb\xbf//' {} \;
}
wrong_count() { sed -i '/`notion.pages`/s/| [0-9]* |/| 99 |/' CONTENT.md; }

broken "a payment of a missing invoice" v_warehouse dangling_payment
broken "a truncated card" v_json bad_json
broken "a link to a moved page" v_notion_links move_page
broken "a card on a table the facts do not list" v_metabase new_table_in_card
broken "a card on a card not in the export" v_metabase card_on_missing_card
broken "an unbacked model CONTENT.md does not list" v_dbt forget_unbacked
broken "depends_on a model that does not exist" v_dbt dangling_dependency
broken "a catalog type the warehouse does not have" v_dbt catalog_type
broken "a database CSV without its byte order mark" v_notion_tree no_bom
broken "a page count CONTENT.md gets wrong" v_notion_tree wrong_count

finish
