# Helpers for the end-to-end scripts on the real fixtures (e2e_fixtures*.sh),
# sourced after lib.sh and lib_pipeline.sh.  The fixtures are the byte
# copies in tests/data/fixtures (tests/data/fixtures/README.md); they are
# copied or unzipped into the project under test, never changed in place.

FX=$KTX_TOP_SRCDIR/tests/data/fixtures
command -v unzip >/dev/null || { echo "unzip is required (scripts/deps installs it)" >&2; exit 99; }
LC_ALL=C	# one sort order for the lists compared below
export LC_ALL

# catalog2sql DIALECT CATALOG: the SQL of tests/catalog2sql.jq.
catalog2sql() {
	jq -r --arg dialect "$1" -f "$KTX_TOP_SRCDIR/tests/catalog2sql.jq" "$2"
}

# fx_dbt FIXTURE DIR: the fixture's manifest and catalog as DIR/target/.
fx_dbt() {
	mkdir -p "$2/target"
	cp "$FX/dbt/$1/manifest.json" "$FX/dbt/$1/catalog.json" "$2/target/"
}

# fx_copy FIXTURE DIR: a copy of the fixture tree at DIR.
fx_copy() {
	mkdir -p "$(dirname "$2")"
	cp -R "$FX/$1" "$2"
}

# fx_notion_zip DIR: the Notion export that is zipped twice, as Notion
# delivers it, unzipped twice into DIR.
fx_notion_zip() {
	local z
	z=$(mktemp -d "$T/zip.XXXXXX")
	unzip -q "$FX/notion-export/notion-templates-md-export/Notion.Test.Export.zip" -d "$z" &&
	    [ "$(ls "$z"/*.zip | wc -l)" -eq 1 ] &&
	    unzip -q "$z"/*.zip -d "$1" || { echo "unzip failed" >&2; return 1; }
	rm -rf "$z"
}

# sl_refs_of PAGE: the sl_refs of wiki/global/PAGE.md on main, one a line.
sl_refs_of() {
	git -C "$P" show "HEAD:wiki/global/$1.md" |
	    awk '/^---$/ { n++; next } n == 1 && /^sl_refs:/ { on = 1; next }
	        n == 1 && on && /^  - / { sub(/^  - /, ""); print; next }
	        { on = 0 }'
}

# pages_of PREFIX: the page keys on main that start with PREFIX-.
pages_of() {
	git -C "$P" ls-tree --name-only HEAD wiki/global/ |
	    sed -n "s|^wiki/global/\($1-.*\)\.md\$|\1|p" | sort
}

# same NAME EXPECTED ACTUAL: equal, or say how they differ.
same() {
	[ "$2" = "$3" ] && return 0
	printf '%s: expected\n%s\nbut found\n%s\n' "$1" "$2" "$3" >&2
	return 1
}

# all_done CONN...: exactly these results, in this order, each done with
# a commit.
all_done() {
	local want
	want=$(printf '%s\n' "$@" | jq -R . | jq -s -c .)
	jq -e --argjson w "$want" '[.results[].connectionId] == $w and
	    all(.results[]; .status == "done" and (.commit | type) == "string")' \
	    "$T/out" >/dev/null || {
		jq -c '.results[] | {connectionId, status, commit, detail}' "$T/out" >&2
		return 1
	}
}

# none_committed: every result done, none with a commit, and each trace's
# squash says "no changes".
none_committed() {
	local t
	jq -e 'all(.results[]; .status == "done" and .commit == null)' \
	    "$T/out" >/dev/null || {
		jq -c '.results[] | {connectionId, status, commit, detail}' "$T/out" >&2
		return 1
	}
	for t in $(jq -r '.results[].trace' "$T/out"); do
		jq -e -s 'any(.[]; .event == "squash_finished" and
		    .data.commit == null and .data.message == "no changes")' \
		    "$t" >/dev/null || { echo "no \"no changes\" in $t" >&2; return 1; }
	done
}

# gates_passed: every trace has the final gates finished, none failed.
gates_passed() {
	local t
	for t in $(jq -r '.results[].trace' "$T/out"); do
		jq -e -s '([.[] | select(.event == "final_artifact_gates_finished")]
		    | length == 1) and all(.[]; .level != "error")' "$t" >/dev/null ||
		    { echo "gates not passed in $t" >&2; return 1; }
	done
}

# tree_of DIR: what main of the project DIR holds, its raw snapshots named
# without their syncId: "<mode> <blob> <path>", sorted.
tree_of() {
	git -C "$1" ls-tree -r HEAD wiki semantic-layer raw-sources |
	    sed 's|^\([0-9]* blob [0-9a-f]*\)\t\(raw-sources/[^/]*/[^/]*/\)[^/]*/|\1\t\2<syncId>/|' |
	    sort -k 4
}
