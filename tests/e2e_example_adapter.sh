#!/bin/sh
# The example external adapter examples/adapter-csv run by ktx-supervisor
# ingest on a real project: a SQLite warehouse (stage 1), then the CSV data
# dictionaries (stage 2).  Pages land with sl_refs only for tables the
# warehouse manifest has; the others are reported, not guessed; a second
# run changes no page; bad input fails the target and leaves main alone.
. "${KTX_TOP_SRCDIR:?run through make check}/tests/lib.sh"
. "$KTX_TOP_SRCDIR/tests/lib_pipeline.sh"

ADAPTER=$KTX_TOP_SRCDIR/examples/adapter-csv/csv-adapter
DICTS=$KTX_TOP_SRCDIR/examples/adapter-csv/dictionaries

# page_on_main KEY: the page's text on main.
page_on_main() { git -C "$P" show "HEAD:wiki/global/$1.md"; }
# sl_refs_of KEY: the page's sl_refs entries on main, one a line.
sl_refs_of() { page_on_main "$1" | sed -n '/^sl_refs:/,/^---/s/^  - //p'; }

mkktx csv
cp -R "$DICTS" "$P/dictionaries"
git -C "$P" add dictionaries && git -C "$P" commit -q -m "test: dictionaries"
config <<EOF
connections:
$(warehouse wh "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, company_name TEXT);
CREATE TABLE invoices (invoice_id INTEGER PRIMARY KEY, total_cents INTEGER);")
  dictionaries:
    driver: gdrive
    adapter:
      command: ["$ADAPTER", --input, dictionaries, --warehouse, wh]
      timeout: 60
EOF

ingest --all
check "ingest: exit 0" [ $? -eq 0 ]
check "ingest: the warehouse, then the dictionaries, both done" jq -e \
    '[.results[] | "\(.connectionId) \(.stage) \(.status)"] ==
     ["wh 1 done", "dictionaries 2 done"]' "$T/out" >/dev/null
sync=$(jq -r 'select(.event == "ingest_started") | .syncId' "$(trace dictionaries)")
check "main: the squash commit of the dictionaries, three raw files added" \
    [ "$(git -C "$P" log -1 --format=%s)" = \
    "ingest(gdrive): $(rfield dictionaries jobId) syncId=$sync diff=+3/~0/-0/=0" ]
check "main: one page per CSV file" [ "$(git -C "$P" ls-tree --name-only HEAD \
    wiki/global/ | grep dictionaries- | tr '\n' ' ')" = \
    "wiki/global/dictionaries-customers.md wiki/global/dictionaries-invoices.md wiki/global/dictionaries-marketing-leads.md " ]
same_snapshot=1
for f in customers invoices marketing_leads; do
	git -C "$P" show "HEAD:raw-sources/dictionaries/gdrive/$sync/$f.csv" |
	    cmp -s - "$DICTS/$f.csv" || same_snapshot=0
done
check "main: the raw snapshot is the CSV files, byte for byte" [ $same_snapshot = 1 ]
check "page: a table the manifest backs is in sl_refs" \
    [ "$(sl_refs_of dictionaries-invoices)" = invoices ]
check "page: the table reference in the body" sh -c \
    "git -C '$P' show HEAD:wiki/global/dictionaries-customers.md |
     grep -qF 'the warehouse table \`wh/table:customers\`'"
check "page: a quoted field with doubled quotes" sh -c \
    "git -C '$P' show HEAD:wiki/global/dictionaries-invoices.md | grep -qxF \
     '| invoice_number | text | The number printed on the invoice, e.g. \"INV-2024-0042\" |'"
check "page: a | in a description is escaped" sh -c \
    "git -C '$P' show HEAD:wiki/global/dictionaries-invoices.md | grep -qxF \
     '| total_cents | integer | Total including tax \\| in cents of currency |'"
check "page: a table the manifest lacks gets no sl_refs" \
    [ -z "$(sl_refs_of dictionaries-marketing-leads)" ]
check "trace: the missing schema context is an adapter event" has_event dictionaries \
    '.phase == "adapter" and .event == "csv_table_not_in_manifest" and
     .data.table == "marketing_leads" and
     (.data.reason | startswith("missing schema context"))'
check "trace: each page's provenance names its CSV file" [ "$(jq -r \
    'select(.event == "csv_page_written") | .data.rawPaths[]' "$(trace dictionaries)" |
    tr '\n' ' ')" = "customers.csv invoices.csv marketing_leads.csv " ]
check "no worktree or session branch left" no_leftovers

# --- Again, nothing changed, on a terminal: a new snapshot, the same pages. ---
before=$(head_of)
sup -C "$P" ingest dictionaries >"$T/table" 2>"$T/progress"
check "again: exit 0" [ $? -eq 0 ]
check "again: done in the table" grep -Eq '^dictionaries +2 +gdrive +done ' "$T/table"
check "again: the adapter's percent and message in the progress" grep -qxF \
    '  [100%] marketing_leads.csv -> wiki/global/dictionaries-marketing-leads.md' \
    "$T/progress"
check "again: the snapshot counts 3 unchanged files" sh -c \
    "git -C '$P' log -1 --format=%s | grep -q 'diff=+0/~0/-0/=3\$'"
check "again: no page or semantic-layer file changed" \
    [ -z "$(git -C "$P" diff --name-only "$before" HEAD -- wiki semantic-layer)" ]

# --- The warehouse gains the table: the next run adds it to sl_refs. ---
sqlite3 "$T/wh.sqlite" "CREATE TABLE marketing_leads (lead_id INTEGER PRIMARY KEY);"
ingest --all
check "new table: exit 0" [ $? -eq 0 ]
check "new table: now in sl_refs" \
    [ "$(sl_refs_of dictionaries-marketing-leads)" = marketing_leads ]

# --- Bad input: the target fails with file and line, main untouched. ---
printf 'column,type,description\nid,integer,"never closed\n' \
    >"$P/dictionaries/broken.csv"
git -C "$P" add dictionaries && git -C "$P" commit -q -m "test: a broken CSV"
before=$(state_of)
ingest dictionaries
check "bad CSV: exit 1" [ $? -eq 1 ]
check "bad CSV: failed, the adapter's stderr as detail" result dictionaries \
    '.status == "failed" and .exitCode == 1 and
     .detail == "broken.csv:2: unterminated quoted field (records must fit on one line)"'
check "bad CSV: main and its checkout untouched" [ "$(state_of)" = "$before" ]
check "bad CSV: the session kept with its sentinel" sentinel dictionaries \
    '.outcome == "crash"'

# --- A usage error: exit 2, the target fails with the usage line. ---
mkktx usage
config <<EOF
connections:
  dictionaries:
    driver: gdrive
    adapter:
      command: ["$ADAPTER", --input, dictionaries]
EOF
ingest
check "usage: failed with the adapter's exit status and usage line" \
    result dictionaries '.status == "failed" and .exitCode == 2 and
     .detail == "usage: csv-adapter --input DIR --warehouse CONNECTION"'

finish
