/*
 * The sqlite adapter: scan a SQLite file's schema, read-only.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "adapters.h"
#include "util.h"

#define SQLITE_DB	"main"	/* every table's db; see adapters.h */

/*
 * The file a connection names: "path", or "url" as "sqlite:///<abs>",
 * "sqlite://<rel>", "sqlite:<path>" or a plain path; a relative path is
 * relative to project_dir.  Caller frees.
 */
static char *
resolve_path(const struct ktx_connection *conn, const char *project_dir,
    char **errmsg)
{
	const char	*p = conn->path;
	char		*out;

	if (p == NULL && conn->url != NULL) {
		p = conn->url;
		if (strncmp(p, "env:", 4) == 0 || strncmp(p, "file:", 5) == 0) {
			xasprintf(errmsg, "connection \"%s\": \"url\" is a"
			    " secret reference the worker has not resolved",
			    conn->id);
			return NULL;
		}
		if (strncmp(p, "sqlite://", 9) == 0)
			p += 9;
		else if (strncmp(p, "sqlite:", 7) == 0)
			p += 7;
		if (strchr(p, '?') != NULL) {
			xasprintf(errmsg, "connection \"%s\": query parameters"
			    " in a SQLite url are not supported", conn->id);
			return NULL;
		}
	}
	if (p == NULL || *p == '\0') {
		xasprintf(errmsg, "connection \"%s\": no SQLite database path",
		    conn->id);
		return NULL;
	}
	if (*p == '/')
		return xstrdup(p);
	xasprintf(&out, "%s/%s", project_dir, p);
	return out;
}

/* A "file:" URI for path: "%", "?" and "#" and controls escaped. */
static char *
file_uri(const char *path)
{
	char	*out = xmalloc(strlen(path) * 3 + sizeof("file:?mode=ro"));
	char	*o = out;

	o += sprintf(o, "file:");
	for (; *path != '\0'; path++) {
		if (*path == '%' || *path == '?' || *path == '#' ||
		    (unsigned char)*path < 0x20)
			o += sprintf(o, "%%%02X", (unsigned char)*path);
		else
			*o++ = *path;
	}
	strcpy(o, "?mode=ro");
	return out;
}

int
dbscan_sqlite_open(const struct ktx_connection *conn, const char *project_dir,
    sqlite3 **dbp, char **pathp, char **errmsg)
{
	struct stat	 sb;
	sqlite3		*db = NULL;
	char		*path, *uri = NULL;
	int		 rc, rv = -1;

	*dbp = NULL;
	*pathp = NULL;
	*errmsg = NULL;
	if ((path = resolve_path(conn, project_dir, errmsg)) == NULL)
		return -1;
	if (stat(path, &sb) == -1) {
		if (errno == ENOENT)
			xasprintf(errmsg, "connection \"%s\": SQLite database"
			    " \"%s\" does not exist", conn->id, path);
		else
			xasprintf(errmsg, "connection \"%s\": SQLite database"
			    " \"%s\": %s", conn->id, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		xasprintf(errmsg, "connection \"%s\": SQLite database \"%s\""
		    " is not a regular file", conn->id, path);
		goto out;
	}
	uri = file_uri(path);
	rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
	    NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 10000);
		rc = sqlite3_exec(db, "PRAGMA query_only = 1;"
		    " SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		xasprintf(errmsg, "connection \"%s\": cannot open SQLite"
		    " database \"%s\": %s", conn->id, path, db != NULL ?
		    sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto out;
	}
	*dbp = db;
	db = NULL;
	*pathp = path;
	path = NULL;
	rv = 0;
out:
	sqlite3_close(db);
	free(uri);
	free(path);
	return rv;
}

/*
 * The scan's queries, each prepared once and reset for the next table:
 * preparing them again for each of a few thousand tables was a third of
 * the scan.
 */
enum query {
	Q_TABLES,
	Q_COLUMNS,
	Q_PK,
	Q_INDEXES,
	Q_INDEX_COLUMNS,
	Q_FKS,
	Q_MAX
};

struct scanner {
	const struct ktx_connection	*conn;
	const char			*path;
	sqlite3				*db;
	sqlite3_stmt			*q[Q_MAX];
	struct dbscan			*out;
	char				*errmsg;
};

static int
query_failed(struct scanner *sc, const char *what)
{
	if (sc->errmsg == NULL)
		xasprintf(&sc->errmsg, "connection \"%s\": cannot read %s of"
		    " SQLite database \"%s\": %s", sc->conn->id, what, sc->path,
		    sqlite3_errmsg(sc->db));
	return -1;
}

static const char *
text(sqlite3_stmt *st, int col)
{
	const unsigned char	*t = sqlite3_column_text(st, col);

	return t != NULL ? (const char *)t : "";
}

/*
 * Query q (sql) with one text parameter, ready to step; sqlite3_reset it
 * when done, never finalize it (scanner_release does).
 */
static sqlite3_stmt *
prepare(struct scanner *sc, enum query q, const char *sql, const char *arg)
{
	sqlite3_stmt	*st = sc->q[q];

	if (st == NULL) {
		if (sqlite3_prepare_v2(sc->db, sql, -1, &st, NULL) !=
		    SQLITE_OK) {
			sqlite3_finalize(st);
			return NULL;
		}
		sc->q[q] = st;
	}
	if (arg != NULL &&
	    sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
		sqlite3_reset(st);
		return NULL;
	}
	return st;
}

static int
scan_tables(struct scanner *sc, unsigned char *used)
{
	sqlite3_stmt	*st;
	const char	*type, *name;
	int		 rc;

	st = prepare(sc, Q_TABLES, "SELECT type, name FROM sqlite_master"
	    " WHERE type IN ('table', 'view')"
	    " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", NULL);
	if (st == NULL)
		return query_failed(sc, "the tables");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		type = text(st, 0);
		name = text(st, 1);
		if (!dbscan_in_scope(sc->out, SQLITE_DB, name, 1, used))
			continue;
		dbscan_add_table(sc->out, NULL, SQLITE_DB, name,
		    strcmp(type, "view") == 0 ? "view" : "table");
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : query_failed(sc, "the tables");
}

/* Columns and primary key.  An unreadable table is a warning. */
static void
scan_columns(struct scanner *sc, size_t ti)
{
	struct dbscan_table	*t = &sc->out->tables[ti];
	struct dbscan_column	*c;
	sqlite3_stmt		*st;
	int			 rc;

	st = prepare(sc, Q_COLUMNS, "SELECT name, type, \"notnull\", pk"
	    " FROM pragma_table_info(?1) ORDER BY cid", t->name);
	if (st == NULL) {
		dbscan_warn(sc->out, "columns_unreadable", t->name, NULL,
		    "cannot read the columns of \"%s\": %s", t->name,
		    sqlite3_errmsg(sc->db));
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		c = dbscan_add_column(sc->out, t, text(st, 0), text(st, 1));
		c->pk = sqlite3_column_int(st, 3);
		/* A key column means not null, whatever SQLite allows. */
		c->nullable = sqlite3_column_int(st, 2) == 0 && c->pk == 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		dbscan_warn(sc->out, "columns_unreadable", t->name, NULL,
		    "cannot read the columns of \"%s\": %s", t->name,
		    sqlite3_errmsg(sc->db));
}

/* The scanned table named name, ignoring case as SQLite does; or NULL. */
static struct dbscan_table *
find_table(struct dbscan *out, const char *name)
{
	size_t	i;

	for (i = 0; i < out->ntables; i++)
		if (strcasecmp(out->tables[i].name, name) == 0)
			return &out->tables[i];
	return NULL;
}

/* The primary key columns of a table, in key order; -1 on error. */
static int
pk_columns(struct scanner *sc, const char *table, struct strv *cols)
{
	sqlite3_stmt	*st;
	int		 rc;

	st = prepare(sc, Q_PK, "SELECT name FROM pragma_table_info(?1)"
	    " WHERE pk > 0 ORDER BY pk", table);
	if (st == NULL)
		return query_failed(sc, "a primary key");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strv_push(cols, text(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : query_failed(sc, "a primary key");
}

static int
same_set(const struct strv *a, const struct strv *b)
{
	size_t	i, k;
	int	found;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		for (k = 0, found = 0; k < b->n && !found; k++)
			found = strcasecmp(a->v[i], b->v[k]) == 0;
		if (!found)
			return 0;
	}
	return 1;
}

/* Whether cols are the table's primary key or a full unique index. */
static int
is_unique(struct scanner *sc, const char *table, const struct strv *cols,
    int *unique)
{
	sqlite3_stmt	*st, *ist;
	struct strv	 icols = { 0 };
	int		 rc, irc;

	*unique = 0;
	if (pk_columns(sc, table, &icols) == -1)
		return -1;
	*unique = same_set(&icols, cols);
	strv_release(&icols);
	st = prepare(sc, Q_INDEXES, "SELECT name FROM pragma_index_list(?1)"
	    " WHERE \"unique\" = 1 AND partial = 0 ORDER BY name", table);
	if (st == NULL)
		return query_failed(sc, "the indexes");
	while (!*unique && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		ist = prepare(sc, Q_INDEX_COLUMNS,
		    "SELECT name FROM pragma_index_info(?1)"
		    " ORDER BY seqno", text(st, 0));
		if (ist == NULL) {
			sqlite3_reset(st);
			return query_failed(sc, "an index");
		}
		while ((irc = sqlite3_step(ist)) == SQLITE_ROW)
			strv_push(&icols, text(ist, 0));
		sqlite3_reset(ist);
		if (irc != SQLITE_DONE) {
			strv_release(&icols);
			sqlite3_reset(st);
			return query_failed(sc, "an index");
		}
		*unique = same_set(&icols, cols);
		strv_release(&icols);
	}
	sqlite3_reset(st);
	return 0;
}

/* Foreign keys of table ti, one group per pragma id. */
static int
scan_fks(struct scanner *sc, size_t ti)
{
	struct dbscan_table	*t = &sc->out->tables[ti], *parent;
	struct dbscan_fk	*fk = NULL;
	struct strv		 pk = { 0 };
	sqlite3_stmt		*st;
	const char		*to_table;
	int			 rc, id, last = -1, rv = -1;
	size_t			 i, f;

	st = prepare(sc, Q_FKS, "SELECT id, \"table\", \"from\", \"to\""
	    " FROM pragma_foreign_key_list(?1) ORDER BY id, seq", t->name);
	if (st == NULL)
		return query_failed(sc, "the foreign keys");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		id = sqlite3_column_int(st, 0);
		if (id != last) {
			parent = find_table(sc->out, text(st, 1));
			to_table = parent != NULL ? parent->name : text(st, 1);
			fk = dbscan_add_fk(t, NULL, NULL, SQLITE_DB, to_table);
			last = id;
		}
		strv_push(&fk->from_columns, text(st, 2));
		/* "to" is NULL when the key names the parent's primary key. */
		strv_push(&fk->to_columns, sqlite3_column_type(st, 3) ==
		    SQLITE_NULL ? "" : text(st, 3));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return query_failed(sc, "the foreign keys");

	for (f = 0; f < t->nfks; f++) {
		fk = &t->fks[f];
		for (i = 0; i < fk->to_columns.n; i++)
			if (*fk->to_columns.v[i] == '\0')
				break;
		if (i < fk->to_columns.n) {
			strv_release(&pk);
			if (pk_columns(sc, fk->to_table, &pk) == -1)
				goto out;
			if (pk.n != fk->to_columns.n) {
				dbscan_warn(sc->out, "foreign_key_unresolved",
				    t->name, fk->from_columns.v[0],
				    "a foreign key of \"%s\" names the primary"
				    " key of \"%s\", which has %zu columns, not"
				    " %zu", t->name, fk->to_table, pk.n,
				    fk->to_columns.n);
				strv_release(&fk->to_columns);
				for (i = 0; i < fk->from_columns.n; i++)
					strv_push(&fk->to_columns, "");
				continue;
			}
			for (i = 0; i < pk.n; i++) {
				free(fk->to_columns.v[i]);
				fk->to_columns.v[i] = xstrdup(pk.v[i]);
			}
		}
		if (is_unique(sc, t->name, &fk->from_columns,
		    &fk->unique) == -1)
			goto out;
	}
	rv = 0;
out:
	strv_release(&pk);
	return rv;
}

/* Keys whose parent columns could not be resolved are left out. */
static void
drop_unresolved(struct dbscan_table *t)
{
	size_t	f, n = 0;

	for (f = 0; f < t->nfks; f++) {
		if (t->fks[f].to_columns.n > 0 &&
		    *t->fks[f].to_columns.v[0] == '\0') {
			free(t->fks[f].name);
			free(t->fks[f].to_catalog);
			free(t->fks[f].to_db);
			free(t->fks[f].to_table);
			strv_release(&t->fks[f].from_columns);
			strv_release(&t->fks[f].to_columns);
			continue;
		}
		t->fks[n++] = t->fks[f];
	}
	t->nfks = n;
}

int
dbscan_sqlite(const struct ktx_connection *conn, const char *project_dir,
    struct dbscan *out, char **errmsg)
{
	struct scanner	 sc;
	unsigned char	*used;
	char		*path = NULL;
	size_t		 i;
	int		 rv = -1;

	dbscan_init(out);
	*errmsg = NULL;
	memset(&sc, 0, sizeof(sc));
	if (dbscan_sqlite_open(conn, project_dir, &sc.db, &path, errmsg) == -1)
		return -1;
	sc.conn = conn;
	sc.path = path;
	sc.out = out;
	out->conn_id = xstrdup(conn->id);
	out->driver = xstrdup("sqlite");
	out->database = xstrdup(conn->path != NULL ? conn->path : conn->url);
	for (i = 0; i < conn->enabled_tables.n; i++)
		strv_push(&out->enabled_tables, conn->enabled_tables.v[i]);
	used = xcalloc(out->enabled_tables.n + 1, 1);
	/* One read transaction: the schema cannot change under the scan. */
	if (sqlite3_exec(sc.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		query_failed(&sc, "the schema");
		goto out;
	}
	if (scan_tables(&sc, used) == -1)
		goto out;
	for (i = 0; i < out->ntables; i++) {
		scan_columns(&sc, i);
		if (scan_fks(&sc, i) == -1)
			goto out;
	}
	for (i = 0; i < out->ntables; i++)
		drop_unresolved(&out->tables[i]);
	dbscan_finish(out, used);
	rv = 0;
out:
	if (rv == -1) {
		*errmsg = sc.errmsg;
		sc.errmsg = NULL;
		dbscan_release(out);
	}
	for (i = 0; i < Q_MAX; i++)
		sqlite3_finalize(sc.q[i]);
	sqlite3_exec(sc.db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(sc.db);
	free(sc.errmsg);
	free(used);
	free(path);
	return rv;
}
