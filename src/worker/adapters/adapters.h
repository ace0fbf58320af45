/*
 * Built-in database adapters: scan a live schema into a driver-neutral
 * model (dbscan_sqlite, dbscan_postgres), then write the model into a
 * worktree (dbscan_write) as ktx's live-database adapter lays it out:
 *
 *   raw-sources/<conn>/live-database/<syncId>/connection.json
 *   raw-sources/<conn>/live-database/<syncId>/foreign-keys.json
 *   raw-sources/<conn>/live-database/<syncId>/warnings.json
 *   raw-sources/<conn>/live-database/<syncId>/tables/<b64url(catalog|"_")>.
 *       <b64url(db|"_")>.<b64url(name)>.json
 *   semantic-layer/<conn>/_schema/<shard>.yaml
 *
 * Determinism: the same schema gives the same bytes in every file.  No
 * file holds a volatile field: ktx's connection.json "extractedAt" is not
 * written (ktx itself drops it before comparing snapshots), nor a server
 * version, host, user or anything taken from a URL; a table's
 * estimatedRows is written as the power of ten at or below the estimate
 * (0 stays 0), since the estimate drifts with the data while the schema
 * stays the same.  JSON is 2-space pretty with keys in a fixed order and a
 * final newline, as JSON.stringify(v, null, 2) + "\n" writes it.  When the
 * newest existing snapshot of the connection holds exactly the files and
 * bytes this scan would write, no new snapshot is written and its syncId
 * is reused (ktx does the same), so an unchanged schema leaves the tree
 * unchanged.  connection.json is {connectionId, driver, scope:
 * {enabledTables}, metadata: {database}, tableCount}.
 *
 * Shards: the key is the table's db (its schema), or "public" without one,
 * as ktx's getShardKey does for postgres and sqlite.  SQLite tables get db
 * "main", SQLite's name for the database file, so a SQLite connection has
 * one shard, main.yaml, and its tables' refs read "main.<table>".  A table
 * is keyed in the shards by its name; when one name occurs in several
 * schemas of a scan, each such table is keyed "<db>__<name>" (with a
 * "duplicate_table_name" warning) so that source names stay unique within
 * the connection.  Joins come from foreign keys, in both directions:
 * many_to_one from the referencing table, one_to_many back (one_to_one both
 * ways when the referencing columns are the table's primary key or a unique
 * index), "on" written "<a>.<x> = <b>.<y>[ AND ...]", origin formal, only
 * when both tables are in the scan.  A rescan keeps what sl_shard_preserve
 * keeps (description keys other than db and ai, usage, manual and
 * inferred joins to tables still scanned); shards under _schema/ that the
 * scan no longer produces are removed, since only scans write there.
 *
 * Secrets: dbscan_postgres gets the URL already resolved; neither the URL
 * nor any part of it is written to a file or put in a message.
 */
#ifndef KTX_ADAPTERS_H
#define KTX_ADAPTERS_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "ktxconfig.h"

#define DBSCAN_SOURCE_KEY	"live-database"

/*
 * native_type is as declared ("" when SQLite has none); normalized_type is
 * it in lower case without parameters; dimension_type is string, number,
 * time or boolean; pk is the 1-based position in the primary key, or 0.
 */
struct dbscan_column {
	char		*name;
	char		*native_type;
	char		*normalized_type;
	const char	*dimension_type;
	int		 nullable;
	int		 pk;
	char		*comment;	/* or NULL */
};

/*
 * A foreign key of the table that holds it, columns paired by index; name
 * is the constraint's (NULL in SQLite); unique when from_columns are the
 * table's primary key or the columns of a unique, non-partial index.
 */
struct dbscan_fk {
	char		*name;
	char		*to_catalog;	/* or NULL */
	char		*to_db;		/* or NULL */
	char		*to_table;
	struct strv	 from_columns;
	struct strv	 to_columns;
	int		 unique;
};

/*
 * catalog is NULL for sqlite and postgres; db is the schema ("main" for
 * sqlite); kind is table, view or external; estimated_rows is -1 when
 * unknown; columns are in declared order, fks sorted by name, then
 * columns.
 */
struct dbscan_table {
	char			*catalog;
	char			*db;
	char			*name;
	const char		*kind;
	char			*comment;	/* or NULL */
	int64_t			 estimated_rows;
	struct dbscan_column	*columns;
	size_t			 ncolumns;
	struct dbscan_fk	*fks;
	size_t			 nfks;
};

struct dbscan_warning {
	char		*code;
	char		*message;
	int		 recoverable;
	char		*table;		/* or NULL */
	char		*column;	/* or NULL */
};

/*
 * database: sqlite's configured path or url, postgres's database name;
 * enabled_tables: the scope, empty for all; tables sorted by catalog, db,
 * name.
 */
struct dbscan {
	char			*conn_id;
	char			*driver;
	char			*database;
	struct strv		 enabled_tables;
	struct dbscan_table	*tables;
	size_t			 ntables;
	struct dbscan_warning	*warnings;
	size_t			 nwarnings;
};

void	 dbscan_init(struct dbscan *);
void	 dbscan_release(struct dbscan *);

/*
 * Scan the SQLite database of conn ("path", or "url": "sqlite:///<abs>" is
 * an absolute path, "sqlite://<rel>" and a plain relative path are relative
 * to project_dir; an env: or file: reference must be resolved into conn
 * by the caller).  The file is opened read-only.  On failure return -1 with
 * one line in *errmsg, "connection "<id>": ..." naming the file; out is
 * left empty.  Caller releases out and frees *errmsg.
 */
int	 dbscan_sqlite(const struct ktx_connection *conn,
	    const char *project_dir, struct dbscan *out, char **errmsg);

/*
 * Open conn's SQLite file read-only (SQLITE_OPEN_READONLY and mode=ro), as
 * dbscan_sqlite does.  *pathp gets the resolved path.  Caller closes *dbp
 * and frees *pathp and *errmsg.
 */
int	 dbscan_sqlite_open(const struct ktx_connection *conn,
	    const char *project_dir, sqlite3 **dbp, char **pathp,
	    char **errmsg);

/*
 * Scan a PostgreSQL database through libpq: every schema but pg_catalog,
 * information_schema, pg_toast* and pg_temp*, or the tables conn's
 * enabled_tables names ("schema.table", or "table" in any schema).  One
 * read-only transaction.  resolved_url is a libpq URI or conninfo string
 * with secrets resolved.  Errors: "connection "<id>": could not connect to
 * the PostgreSQL server: <libpq's first line, without the password>", or a
 * query that failed.
 */
int	 dbscan_postgres(const struct ktx_connection *conn,
	    const char *resolved_url, struct dbscan *out, char **errmsg);

/*
 * Write the scan into worktree: a raw snapshot under sync_id (or none when
 * the newest snapshot is identical; see above) and the manifest shards.
 * *used_sync_id gets the syncId whose snapshot now holds the scan.  Caller
 * frees *used_sync_id and *errmsg.
 */
int	 dbscan_write(const struct dbscan *scan, const char *worktree,
	    const char *conn_id, const char *sync_id, char **used_sync_id,
	    char **errmsg);

/* ktx's dimension type of a native type: string, number, time or boolean. */
const char *dbscan_dimension_type(const char *driver, const char *native_type);

/*
 * For the scanners: building the model.  Returned pointers point into
 * arrays that the next add of the same kind may move.
 */
struct dbscan_table *dbscan_add_table(struct dbscan *, const char *catalog,
	    const char *db, const char *name, const char *kind);
struct dbscan_column *dbscan_add_column(struct dbscan *, struct dbscan_table *,
	    const char *name, const char *native_type);
struct dbscan_fk *dbscan_add_fk(struct dbscan_table *, const char *name,
	    const char *to_catalog, const char *to_db, const char *to_table);
void	 dbscan_warn(struct dbscan *, const char *code, const char *table,
	    const char *column, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
/*
 * Whether enabled_tables lets the scan see db.name ("db.name" or "name";
 * all tables when it is empty); nocase for databases whose identifiers
 * ignore case.  Marks the entries that matched in used (one per entry).
 */
int	 dbscan_in_scope(const struct dbscan *, const char *db,
	    const char *name, int nocase, unsigned char *used);
/*
 * Put the model in its canonical order (tables, foreign keys, warnings)
 * and warn about enabled_tables entries that matched no table.
 */
void	 dbscan_finish(struct dbscan *, const unsigned char *used);

#endif
