# SQL that creates, empty, the relations a dbt catalog.json describes: a
# warehouse that matches a dbt project's artifacts, for the tests.
#
#   jq -r --arg dialect postgres -f tests/catalog2sql.jq target/catalog.json
#   jq -r --arg dialect sqlite -f tests/catalog2sql.jq target/catalog.json
#
# Relations are the catalog's nodes and sources, once each (a seed and the
# source that reads it are one relation), sorted by schema and name, their
# columns in the catalog's order with the catalog's types.
#
# postgres: one transaction; every schema created; tables as tables, views
# as views selecting typed NULLs; the catalog's comments as COMMENT ON.  The
# relations keep their schema, so "<schema>.<name>", the relation dbt's
# manifest names, is a table of the scanned warehouse.  DuckDB types
# PostgreSQL lacks become the nearest one (DOUBLE is double precision).
#
# sqlite: a SQLite file has the one schema "main", so every relation is a
# table of it under its bare name; a name that two schemas share is an
# error.  DuckDB's default schema is also "main": the relations of a DuckDB
# project's "main" are then the same "main.<name>"; those of its other
# schemas are not, as a scan of this file can tell.

def ident: "\"" + gsub("\""; "\"\"") + "\"";
def literal: "'" + gsub("'"; "''") + "'";

def pgtype:
	ascii_downcase as $t
	| if $t == "double" then "double precision"
	  elif $t == "float" then "real"
	  elif ($t | test("^(u?hugeint|ubigint|uinteger|usmallint|utinyint)$"))
	    then "numeric"
	  elif $t == "tinyint" then "smallint"
	  elif ($t | test("^(struct|map|union|list)\\b|\\[\\]$")) then "text"
	  else $t end;

def relations:
	[(.nodes // {}), (.sources // {}) | .[]
	 | {schema: .metadata.schema, name: .metadata.name,
	    view: (.metadata.type == "VIEW"), comment: .metadata.comment,
	    columns: (.columns // {} | [.[]] | sort_by(.index))}]
	| unique_by([.schema, .name]);

def postgres:
	relations as $rels
	| "BEGIN;",
	  ($rels | map(.schema) | unique[]
	   | "CREATE SCHEMA IF NOT EXISTS \(ident);"),
	  ($rels[]
	   | ((.schema | ident) + "." + (.name | ident)) as $rel
	   | if .view then
		"CREATE VIEW \($rel) AS SELECT\n"
		+ (.columns | map("    CAST(NULL AS \(.type | pgtype)) AS "
		    + (.name | ident)) | join(",\n")) + ";"
	     else
		"CREATE TABLE \($rel) (\n"
		+ (.columns | map("    \(.name | ident) \(.type | pgtype)")
		    | join(",\n")) + "\n);"
	     end,
	     (select(.comment != null)
	      | "COMMENT ON \(if .view then "VIEW" else "TABLE" end) \($rel)"
	        + " IS \(.comment | literal);"),
	     (.columns[] | select(.comment != null)
	      | "COMMENT ON COLUMN \($rel).\(.name | ident)"
	        + " IS \(.comment | literal);")),
	  "COMMIT;";

def sqlite:
	relations as $rels
	| ($rels | group_by(.name) | map(select(length > 1)))
	  as $shared
	| if ($shared | length) > 0 then
		error("catalog2sql: relation names in more than one schema: "
		    + ($shared | map(map("\(.schema).\(.name)") | join(" "))
		      | join(", ")))
	  elif ($rels | any(.columns == [])) then
		error("catalog2sql: a SQLite table needs a column: "
		    + ($rels | map(select(.columns == []) | "\(.schema).\(.name)")
		      | join(", ")))
	  else . end
	| "BEGIN;",
	  ($rels | sort_by(.name)[]
	   | "CREATE TABLE \(.name | ident) (\n"
	     + (.columns | map("    \(.name | ident) \(.type)") | join(",\n"))
	     + "\n);"),
	  "COMMIT;";

if $dialect == "postgres" then postgres
elif $dialect == "sqlite" then sqlite
else error("catalog2sql: --arg dialect must be postgres or sqlite") end
