/*
 * The postgres adapter: scan a PostgreSQL database's schema through libpq,
 * in one read-only transaction, from pg_catalog.
 *
 * Secrets: the URL arrives resolved and may hold a password.  It is never
 * copied into the model or a message; libpq's own messages are cut to their
 * first line and any occurrence of the password or the URL in them is
 * masked, and a URL libpq cannot parse is reported without libpq's text,
 * which quotes the offending part.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "adapters.h"
#include "util.h"

/* Seconds, unless the URL sets connect_timeout itself. */
#define PG_CONNECT_TIMEOUT	"10"

/* Relations of every schema that is not the system's. */
static const char relations_sql[] =
    "SELECT c.oid, n.nspname, c.relname, c.relkind,"
    " pg_catalog.obj_description(c.oid, 'pg_class'),"
    " c.reltuples::float8"
    " FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')"
    " AND NOT c.relispartition"
    " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg\\_toast%'"
    " AND n.nspname NOT LIKE 'pg\\_temp\\_%'"
    " ORDER BY n.nspname, c.relname";

static const char columns_sql[] =
    "SELECT a.attrelid, a.attname,"
    " pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,"
    " pg_catalog.col_description(a.attrelid, a.attnum)"
    " FROM pg_catalog.pg_attribute a"
    " WHERE a.attrelid = ANY ($1::oid[]) AND a.attnum > 0"
    " AND NOT a.attisdropped"
    " ORDER BY a.attrelid, a.attnum";

static const char pks_sql[] =
    "SELECT con.conrelid, a.attname, k.ord"
    " FROM pg_catalog.pg_constraint con"
    " CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(att, ord)"
    " JOIN pg_catalog.pg_attribute a"
    "   ON a.attrelid = con.conrelid AND a.attnum = k.att"
    " WHERE con.contype = 'p' AND con.conrelid = ANY ($1::oid[])"
    " ORDER BY con.conrelid, k.ord";

/*
 * Foreign keys, one row per column pair, with whether the referencing
 * columns are exactly the key columns of a unique, non-partial index.
 */
static const char fks_sql[] =
    "SELECT con.conrelid, con.conname, fn.nspname, fc.relname,"
    " a.attname, fa.attname,"
    " EXISTS (SELECT 1 FROM pg_catalog.pg_index i"
    "   WHERE i.indrelid = con.conrelid AND i.indisunique"
    "   AND i.indpred IS NULL AND i.indexprs IS NULL"
    "   AND (string_to_array(i.indkey::text, ' ')::int2[])"
    "       [1:i.indnkeyatts] @> con.conkey"
    "   AND (string_to_array(i.indkey::text, ' ')::int2[])"
    "       [1:i.indnkeyatts] <@ con.conkey)"
    " FROM pg_catalog.pg_constraint con"
    " JOIN pg_catalog.pg_class fc ON fc.oid = con.confrelid"
    " JOIN pg_catalog.pg_namespace fn ON fn.oid = fc.relnamespace"
    " CROSS JOIN LATERAL unnest(con.conkey, con.confkey)"
    "   WITH ORDINALITY AS k(att, fatt, ord)"
    " JOIN pg_catalog.pg_attribute a"
    "   ON a.attrelid = con.conrelid AND a.attnum = k.att"
    " JOIN pg_catalog.pg_attribute fa"
    "   ON fa.attrelid = con.confrelid AND fa.attnum = k.fatt"
    " WHERE con.contype = 'f' AND con.conrelid = ANY ($1::oid[])"
    " ORDER BY con.conrelid, con.conname, k.ord";

struct oidmap {
	unsigned long	oid;
	size_t		table;		/* index into out->tables */
};

struct pgscan {
	const struct ktx_connection	*conn;
	PGconn				*pg;
	struct dbscan			*out;
	char				*password;	/* to mask */
	const char			*url;
	struct oidmap			*oids;		/* by oid */
	char				*oid_array;	/* "{1,2,...}" */
	char				*errmsg;
};

/* Replace every occurrence of secret in *s with "***". */
static void
mask(char **s, const char *secret)
{
	char	*p, *out;
	size_t	 len;

	if (secret == NULL || *secret == '\0')
		return;
	len = strlen(secret);
	while ((p = strstr(*s, secret)) != NULL) {
		xasprintf(&out, "%.*s***%s", (int)(p - *s), *s, p + len);
		free(*s);
		*s = out;
	}
}

/* libpq's message: first line, no trailing space, secrets masked. */
static char *
pg_message(const struct pgscan *ps, const char *raw)
{
	char	*m;
	size_t	 len;

	m = xstrndup(raw, strcspn(raw, "\n"));
	len = strlen(m);
	while (len > 0 && (m[len - 1] == ' ' || m[len - 1] == '\t' ||
	    m[len - 1] == '\r'))
		m[--len] = '\0';
	mask(&m, ps->url);
	mask(&m, ps->password);
	return m;
}

static int
query_failed(struct pgscan *ps, const char *what, const PGresult *res)
{
	char	*m;

	if (ps->errmsg != NULL)
		return -1;
	m = pg_message(ps, res != NULL ? PQresultErrorMessage(res) :
	    PQerrorMessage(ps->pg));
	xasprintf(&ps->errmsg, "connection \"%s\": cannot read %s: %s",
	    ps->conn->id, what, *m != '\0' ? m : "query failed");
	free(m);
	return -1;
}

/* No notices on stderr: the worker's output is its trace. */
static void
quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int
pg_connect(struct pgscan *ps)
{
	const char *const	 keys[] = {
		"connect_timeout", "fallback_application_name", "dbname", NULL
	};
	const char		*values[4];
	PQconninfoOption	*opts, *o;
	char			*perr = NULL, *m;

	/* Parse first: to know the password to mask, and to fail quietly. */
	if ((opts = PQconninfoParse(ps->url, &perr)) == NULL) {
		PQfreemem(perr);
		xasprintf(&ps->errmsg, "connection \"%s\": invalid PostgreSQL"
		    " connection string", ps->conn->id);
		return -1;
	}
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
			ps->password = xstrdup(o->val);
	PQconninfoFree(opts);

	/* Later keywords win: the URL may override the timeout. */
	values[0] = PG_CONNECT_TIMEOUT;
	values[1] = "ktx-supervisor";
	values[2] = ps->url;
	values[3] = NULL;
	ps->pg = PQconnectdbParams(keys, values, 1);
	if (ps->pg == NULL || PQstatus(ps->pg) != CONNECTION_OK) {
		m = pg_message(ps, ps->pg != NULL ? PQerrorMessage(ps->pg) :
		    "out of memory");
		xasprintf(&ps->errmsg, "connection \"%s\": could not connect to"
		    " the PostgreSQL server: %s", ps->conn->id, m);
		free(m);
		return -1;
	}
	PQsetNoticeProcessor(ps->pg, quiet, NULL);
	return 0;
}

static PGresult *
run(struct pgscan *ps, const char *what, const char *sql, const char *param)
{
	PGresult	*res;

	res = PQexecParams(ps->pg, sql, param != NULL ? 1 : 0, NULL,
	    param != NULL ? &param : NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK) {
		query_failed(ps, what, res);
		PQclear(res);
		return NULL;
	}
	return res;
}

static const char *
value(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static const char *
kind_of(char relkind)
{
	switch (relkind) {
	case 'v':
	case 'm':
		return "view";
	case 'f':
		return "external";
	default:
		return "table";
	}
}

static int
oidmap_cmp(const void *pa, const void *pb)
{
	const struct oidmap	*a = pa, *b = pb;

	return (a->oid > b->oid) - (a->oid < b->oid);
}

/* The scanned table of a relation oid, or NULL. */
static struct dbscan_table *
table_of(struct pgscan *ps, const char *oid)
{
	struct oidmap	 key, *m;

	key.oid = strtoul(oid, NULL, 10);
	m = bsearch(&key, ps->oids, ps->out->ntables, sizeof(*ps->oids),
	    oidmap_cmp);
	return m != NULL ? &ps->out->tables[m->table] : NULL;
}

static int
scan_relations(struct pgscan *ps, unsigned char *used)
{
	struct dbscan_table	*t;
	PGresult		*res;
	char			*arr = NULL, *p;
	double			 rows;
	int			 i, n;
	char			 relkind;

	if ((res = run(ps, "the tables", relations_sql, NULL)) == NULL)
		return -1;
	n = PQntuples(res);
	ps->oids = xcalloc((size_t)n + 1, sizeof(*ps->oids));
	for (i = 0; i < n; i++) {
		if (!dbscan_in_scope(ps->out, value(res, i, 1),
		    value(res, i, 2), 0, used))
			continue;
		relkind = value(res, i, 3)[0];
		t = dbscan_add_table(ps->out, NULL, value(res, i, 1),
		    value(res, i, 2), kind_of(relkind));
		if (value(res, i, 4) != NULL)
			t->comment = xstrdup(value(res, i, 4));
		rows = strtod(value(res, i, 5), NULL);
		/* Views have no estimate; -1 is "never analyzed" (PG 14+). */
		if (relkind != 'v' && rows >= 0)
			t->estimated_rows = (int64_t)(rows + 0.5);
		ps->oids[ps->out->ntables - 1].oid = strtoul(value(res, i, 0),
		    NULL, 10);
		ps->oids[ps->out->ntables - 1].table = ps->out->ntables - 1;
		xasprintf(&p, "%s%s%s", arr != NULL ? arr : "",
		    arr != NULL ? "," : "", value(res, i, 0));
		free(arr);
		arr = p;
	}
	PQclear(res);
	qsort(ps->oids, ps->out->ntables, sizeof(*ps->oids), oidmap_cmp);
	xasprintf(&ps->oid_array, "{%s}", arr != NULL ? arr : "");
	free(arr);
	return 0;
}

static int
scan_columns(struct pgscan *ps)
{
	struct dbscan_table	*t = NULL;
	struct dbscan_column	*c;
	PGresult		*res;
	const char		*last = NULL;
	int			 i, n;

	if ((res = run(ps, "the columns", columns_sql, ps->oid_array)) == NULL)
		return -1;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		if (last == NULL || strcmp(last, value(res, i, 0)) != 0) {
			t = table_of(ps, value(res, i, 0));
			last = value(res, i, 0);
		}
		if (t == NULL)
			continue;
		c = dbscan_add_column(ps->out, t, value(res, i, 1),
		    value(res, i, 2));
		c->nullable = strcmp(value(res, i, 3), "t") != 0;
		if (value(res, i, 4) != NULL)
			c->comment = xstrdup(value(res, i, 4));
	}
	PQclear(res);
	return 0;
}

static struct dbscan_column *
column_of(struct dbscan_table *t, const char *name)
{
	size_t	i;

	for (i = 0; i < t->ncolumns; i++)
		if (strcmp(t->columns[i].name, name) == 0)
			return &t->columns[i];
	return NULL;
}

static int
scan_pks(struct pgscan *ps)
{
	struct dbscan_table	*t;
	struct dbscan_column	*c;
	PGresult		*res;
	int			 i, n;

	if ((res = run(ps, "the primary keys", pks_sql,
	    ps->oid_array)) == NULL)
		return -1;
	n = PQntuples(res);
	for (i = 0; i < n; i++)
		if ((t = table_of(ps, value(res, i, 0))) != NULL &&
		    (c = column_of(t, value(res, i, 1))) != NULL)
			c->pk = atoi(value(res, i, 2));
	PQclear(res);
	return 0;
}

static int
scan_fks(struct pgscan *ps)
{
	struct dbscan_table	*t;
	struct dbscan_fk	*fk = NULL;
	PGresult		*res;
	int			 i, n;

	if ((res = run(ps, "the foreign keys", fks_sql,
	    ps->oid_array)) == NULL)
		return -1;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		if ((t = table_of(ps, value(res, i, 0))) == NULL)
			continue;
		if (fk == NULL || i == 0 ||
		    strcmp(value(res, i, 0), value(res, i - 1, 0)) != 0 ||
		    strcmp(value(res, i, 1), value(res, i - 1, 1)) != 0) {
			fk = dbscan_add_fk(t, value(res, i, 1), NULL,
			    value(res, i, 2), value(res, i, 3));
			fk->unique = strcmp(value(res, i, 6), "t") == 0;
		}
		strv_push(&fk->from_columns, value(res, i, 4));
		strv_push(&fk->to_columns, value(res, i, 5));
	}
	PQclear(res);
	return 0;
}

int
dbscan_postgres(const struct ktx_connection *conn, const char *resolved_url,
    struct dbscan *out, char **errmsg)
{
	struct pgscan	 ps;
	PGresult	*res = NULL;
	unsigned char	*used = NULL;
	size_t		 i;
	int		 rv = -1;

	dbscan_init(out);
	*errmsg = NULL;
	memset(&ps, 0, sizeof(ps));
	ps.conn = conn;
	ps.out = out;
	ps.url = resolved_url;
	out->conn_id = xstrdup(conn->id);
	out->driver = xstrdup("postgres");
	for (i = 0; i < conn->enabled_tables.n; i++)
		strv_push(&out->enabled_tables, conn->enabled_tables.v[i]);
	used = xcalloc(out->enabled_tables.n + 1, 1);
	if (pg_connect(&ps) == -1)
		goto out;
	if ((res = run(&ps, "the schema", "BEGIN ISOLATION LEVEL REPEATABLE"
	    " READ READ ONLY", NULL)) == NULL)
		goto out;
	PQclear(res);
	if ((res = run(&ps, "the database name",
	    "SELECT pg_catalog.current_database()", NULL)) == NULL)
		goto out;
	out->database = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (scan_relations(&ps, used) == -1 || scan_columns(&ps) == -1 ||
	    scan_pks(&ps) == -1 || scan_fks(&ps) == -1)
		goto out;
	dbscan_finish(out, used);
	rv = 0;
out:
	if (rv == -1) {
		*errmsg = ps.errmsg;
		ps.errmsg = NULL;
		dbscan_release(out);
	}
	PQfinish(ps.pg);
	free(ps.password);
	free(ps.oids);
	free(ps.oid_array);
	free(ps.errmsg);
	free(used);
	return rv;
}
