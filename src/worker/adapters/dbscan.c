/*
 * The driver-neutral part of the database adapters: the scan model, and
 * writing it into a worktree as a raw snapshot and manifest shards.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "adapters.h"
#include "sl.h"
#include "util.h"

void
dbscan_init(struct dbscan *scan)
{
	memset(scan, 0, sizeof(*scan));
}

static void
fk_release(struct dbscan_fk *fk)
{
	free(fk->name);
	free(fk->to_catalog);
	free(fk->to_db);
	free(fk->to_table);
	strv_release(&fk->from_columns);
	strv_release(&fk->to_columns);
}

static void
table_release(struct dbscan_table *t)
{
	size_t	i;

	free(t->catalog);
	free(t->db);
	free(t->name);
	free(t->comment);
	for (i = 0; i < t->ncolumns; i++) {
		free(t->columns[i].name);
		free(t->columns[i].native_type);
		free(t->columns[i].normalized_type);
		free(t->columns[i].comment);
	}
	free(t->columns);
	for (i = 0; i < t->nfks; i++)
		fk_release(&t->fks[i]);
	free(t->fks);
}

void
dbscan_release(struct dbscan *scan)
{
	size_t	i;

	free(scan->conn_id);
	free(scan->driver);
	free(scan->database);
	strv_release(&scan->enabled_tables);
	for (i = 0; i < scan->ntables; i++)
		table_release(&scan->tables[i]);
	free(scan->tables);
	for (i = 0; i < scan->nwarnings; i++) {
		free(scan->warnings[i].code);
		free(scan->warnings[i].message);
		free(scan->warnings[i].table);
		free(scan->warnings[i].column);
	}
	free(scan->warnings);
	memset(scan, 0, sizeof(*scan));
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct dbscan_table *
dbscan_add_table(struct dbscan *scan, const char *catalog, const char *db,
    const char *name, const char *kind)
{
	struct dbscan_table	*t;

	scan->tables = xreallocarray(scan->tables, scan->ntables + 1,
	    sizeof(*scan->tables));
	t = &scan->tables[scan->ntables++];
	memset(t, 0, sizeof(*t));
	t->catalog = dup_or_null(catalog);
	t->db = dup_or_null(db);
	t->name = xstrdup(name);
	t->kind = kind;
	t->estimated_rows = -1;
	return t;
}

/* Lower case, "(...)" parameters removed, white space collapsed. */
static char *
normalize_type(const char *native)
{
	char	*out = xmalloc(strlen(native) + 1), *o = out;
	int	 depth = 0, space = 0;

	for (; *native != '\0'; native++) {
		if (*native == '(') {
			depth++;
			continue;
		}
		if (*native == ')') {
			if (depth > 0)
				depth--;
			continue;
		}
		if (depth > 0)
			continue;
		if (isspace((unsigned char)*native)) {
			space = o > out;
			continue;
		}
		if (space)
			*o++ = ' ';
		space = 0;
		*o++ = (char)tolower((unsigned char)*native);
	}
	*o = '\0';
	return out;
}

struct dbscan_column *
dbscan_add_column(struct dbscan *scan, struct dbscan_table *t,
    const char *name, const char *native_type)
{
	struct dbscan_column	*c;

	t->columns = xreallocarray(t->columns, t->ncolumns + 1,
	    sizeof(*t->columns));
	c = &t->columns[t->ncolumns++];
	memset(c, 0, sizeof(*c));
	c->name = xstrdup(name);
	c->native_type = xstrdup(native_type);
	c->normalized_type = normalize_type(native_type);
	c->dimension_type = dbscan_dimension_type(scan->driver, native_type);
	c->nullable = 1;
	return c;
}

struct dbscan_fk *
dbscan_add_fk(struct dbscan_table *t, const char *name,
    const char *to_catalog, const char *to_db, const char *to_table)
{
	struct dbscan_fk	*fk;

	t->fks = xreallocarray(t->fks, t->nfks + 1, sizeof(*t->fks));
	fk = &t->fks[t->nfks++];
	memset(fk, 0, sizeof(*fk));
	fk->name = dup_or_null(name);
	fk->to_catalog = dup_or_null(to_catalog);
	fk->to_db = dup_or_null(to_db);
	fk->to_table = xstrdup(to_table);
	return fk;
}

void
dbscan_warn(struct dbscan *scan, const char *code, const char *table,
    const char *column, const char *fmt, ...)
{
	struct dbscan_warning	*w;
	va_list			 ap;
	char			*msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = xstrdup(code);
	va_end(ap);
	scan->warnings = xreallocarray(scan->warnings, scan->nwarnings + 1,
	    sizeof(*scan->warnings));
	w = &scan->warnings[scan->nwarnings++];
	w->code = xstrdup(code);
	w->message = msg;
	w->recoverable = 1;
	w->table = dup_or_null(table);
	w->column = dup_or_null(column);
}

int
dbscan_in_scope(const struct dbscan *scan, const char *db, const char *name,
    int nocase, unsigned char *used)
{
	int	(*cmp)(const char *, const char *) = nocase ? strcasecmp :
		    strcmp;
	const char	*e, *dot;
	size_t		 i, dblen;
	int		 in = scan->enabled_tables.n == 0;

	for (i = 0; i < scan->enabled_tables.n; i++) {
		e = scan->enabled_tables.v[i];
		if ((dot = strrchr(e, '.')) == NULL) {
			if (cmp(e, name) != 0)
				continue;
		} else {
			dblen = (size_t)(dot - e);
			if (cmp(dot + 1, name) != 0 || db == NULL ||
			    strlen(db) != dblen || (nocase ?
			    strncasecmp(e, db, dblen) : strncmp(e, db, dblen)))
				continue;
		}
		used[i] = 1;
		in = 1;
	}
	return in;
}

/* NULL sorts first. */
static int
nstrcmp(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

static int
table_cmp(const void *pa, const void *pb)
{
	const struct dbscan_table	*a = pa, *b = pb;
	int				 r;

	if ((r = nstrcmp(a->catalog, b->catalog)) != 0 ||
	    (r = nstrcmp(a->db, b->db)) != 0)
		return r;
	return strcmp(a->name, b->name);
}

static int
strv_cmp(const struct strv *a, const struct strv *b)
{
	size_t	i;
	int	r;

	for (i = 0; i < a->n && i < b->n; i++)
		if ((r = strcmp(a->v[i], b->v[i])) != 0)
			return r;
	return (a->n > b->n) - (a->n < b->n);
}

static int
fk_cmp(const void *pa, const void *pb)
{
	const struct dbscan_fk	*a = pa, *b = pb;
	int			 r;

	if ((r = nstrcmp(a->name, b->name)) != 0 ||
	    (r = strv_cmp(&a->from_columns, &b->from_columns)) != 0 ||
	    (r = nstrcmp(a->to_db, b->to_db)) != 0 ||
	    (r = strcmp(a->to_table, b->to_table)) != 0)
		return r;
	return strv_cmp(&a->to_columns, &b->to_columns);
}

static int
warning_cmp(const void *pa, const void *pb)
{
	const struct dbscan_warning	*a = pa, *b = pb;
	int				 r;

	if ((r = strcmp(a->code, b->code)) != 0 ||
	    (r = nstrcmp(a->table, b->table)) != 0 ||
	    (r = nstrcmp(a->column, b->column)) != 0)
		return r;
	return strcmp(a->message, b->message);
}

static void shared_names(const struct dbscan *, unsigned char *);

void
dbscan_finish(struct dbscan *scan, const unsigned char *used)
{
	unsigned char	*shared;
	size_t		 i;

	for (i = 0; i < scan->enabled_tables.n; i++)
		if (!used[i])
			dbscan_warn(scan, "enabled_table_not_found", NULL, NULL,
			    "enabled_tables names \"%s\", which is not in the"
			    " database", scan->enabled_tables.v[i]);
	if (scan->ntables > 1)
		qsort(scan->tables, scan->ntables, sizeof(*scan->tables),
		    table_cmp);
	for (i = 0; i < scan->ntables; i++)
		if (scan->tables[i].nfks > 1)
			qsort(scan->tables[i].fks, scan->tables[i].nfks,
			    sizeof(*scan->tables[i].fks), fk_cmp);
	shared = xcalloc(scan->ntables + 1, 1);
	shared_names(scan, shared);
	for (i = 0; i < scan->ntables; i++)
		if (shared[i])
			dbscan_warn(scan, "duplicate_table_name",
			    scan->tables[i].name, NULL, "table \"%s\" exists in"
			    " more than one schema; its manifest entry in shard"
			    " \"%s\" is \"%s__%s\"", scan->tables[i].name,
			    scan->tables[i].db != NULL ? scan->tables[i].db :
			    "public", scan->tables[i].db != NULL ?
			    scan->tables[i].db : "public",
			    scan->tables[i].name);
	free(shared);
	if (scan->nwarnings > 1)
		qsort(scan->warnings, scan->nwarnings,
		    sizeof(*scan->warnings), warning_cmp);
}

/*
 * Dimension types.
 */

static int
contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

static int
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * SQLite: the declared type's affinity (rules 1-5 of "Datatypes In
 * SQLite", section 3.1, in their order), with NUMERIC affinity refined:
 * BOOL is boolean, DATE and TIME are time.
 */
static const char *
sqlite_dimension(const char *t)
{
	if (contains(t, "int"))
		return "number";
	if (contains(t, "char") || contains(t, "clob") || contains(t, "text"))
		return "string";
	if (contains(t, "blob") || *t == '\0')
		return "string";
	if (contains(t, "real") || contains(t, "floa") || contains(t, "doub"))
		return "number";
	if (contains(t, "bool"))
		return "boolean";
	if (contains(t, "date") || contains(t, "time"))
		return "time";
	return "number";
}

static int
has_array_suffix(const char *t)
{
	size_t	len = strlen(t);

	return len >= 2 && strcmp(t + len - 2, "[]") == 0;
}

/* Other databases: by the normalized name (format_type's for postgres). */
static const char *
named_dimension(const char *t)
{
	static const char *const numbers[] = {
		"smallint", "integer", "bigint", "tinyint", "mediumint", "int",
		"int2", "int4", "int8", "serial", "smallserial", "bigserial",
		"serial2", "serial4", "serial8", "real", "float", "float4",
		"float8", "double", "double precision", "numeric", "decimal",
		"money", "number", NULL
	};
	const char *const	*p;

	if (has_array_suffix(t))
		return "string";
	if (starts(t, "bool"))
		return "boolean";
	if (starts(t, "interval"))
		return "string";
	if (starts(t, "date") || starts(t, "time"))
		return "time";
	for (p = numbers; *p != NULL; p++)
		if (strcmp(t, *p) == 0 || (starts(t, *p) &&
		    t[strlen(*p)] == ' '))
			return "number";
	return "string";
}

const char *
dbscan_dimension_type(const char *driver, const char *native_type)
{
	const char	*d;
	char		*t = normalize_type(native_type);

	d = strcmp(driver, "sqlite") == 0 ? sqlite_dimension(t) :
	    named_dimension(t);
	free(t);
	return d;
}

/*
 * JSON as JSON.stringify(value, null, 2) writes it, plus a newline.
 */

/* A byte that is not UTF-8 is written as the code point of its value. */
static void
json_string(struct sbuf *b, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			 esc[8];
	size_t			 n;
	uint32_t		 cp;

	sbuf_add(b, "\"", 1);
	for (; *p != '\0'; p += n) {
		/* A run of plain ASCII in one copy: names are mostly that. */
		for (n = 0; p[n] >= 0x20 && p[n] < 0x80 && p[n] != '"' &&
		    p[n] != '\\'; n++)
			;
		if (n > 0) {
			sbuf_add(b, (const char *)p, n);
			continue;
		}
		n = 1;
		switch (*p) {
		case '"':
			sbuf_adds(b, "\\\"");
			continue;
		case '\\':
			sbuf_adds(b, "\\\\");
			continue;
		case '\b':
			sbuf_adds(b, "\\b");
			continue;
		case '\f':
			sbuf_adds(b, "\\f");
			continue;
		case '\n':
			sbuf_adds(b, "\\n");
			continue;
		case '\r':
			sbuf_adds(b, "\\r");
			continue;
		case '\t':
			sbuf_adds(b, "\\t");
			continue;
		default:
			break;
		}
		if (*p < 0x20 || (n = utf8_char(p, strnlen((const char *)p, 4),
		    &cp)) == 0) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			sbuf_adds(b, esc);
			n = 1;
		} else
			sbuf_add(b, (const char *)p, n);
	}
	sbuf_add(b, "\"", 1);
}

static void
json_indent(struct sbuf *b, int n)
{
	static const char	spaces[] = "                                ";

	for (; n > (int)sizeof(spaces) - 1; n -= (int)sizeof(spaces) - 1)
		sbuf_add(b, spaces, sizeof(spaces) - 1);
	sbuf_add(b, spaces, (size_t)n);
}

/* Recursion is bounded by the fixed shapes this file builds. */
static void
json_value(struct sbuf *b, const cJSON *v, int indent)
{
	const cJSON	*kid;
	char		 num[32];

	if (cJSON_IsNull(v))
		sbuf_adds(b, "null");
	else if (cJSON_IsTrue(v))
		sbuf_adds(b, "true");
	else if (cJSON_IsFalse(v))
		sbuf_adds(b, "false");
	else if (cJSON_IsNumber(v)) {
		snprintf(num, sizeof(num), "%.0f", v->valuedouble);
		sbuf_adds(b, num);
	} else if (cJSON_IsString(v))
		json_string(b, v->valuestring);
	else if (v->child == NULL)
		sbuf_adds(b, cJSON_IsArray(v) ? "[]" : "{}");
	else {
		sbuf_adds(b, cJSON_IsArray(v) ? "[\n" : "{\n");
		for (kid = v->child; kid != NULL; kid = kid->next) {
			json_indent(b, indent + 2);
			if (cJSON_IsObject(v)) {
				json_string(b, kid->string);
				sbuf_adds(b, ": ");
			}
			json_value(b, kid, indent + 2);
			sbuf_adds(b, kid->next != NULL ? ",\n" : "\n");
		}
		json_indent(b, indent);
		sbuf_adds(b, cJSON_IsArray(v) ? "]" : "}");
	}
}

static char *
json_text(const cJSON *v, size_t *lenp)
{
	struct sbuf	b = { 0 };

	json_value(&b, v, 0);
	sbuf_add(&b, "\n", 1);
	*lenp = b.len;
	return b.s;
}

static void
add_str_or_null(cJSON *o, const char *key, const char *s)
{
	if (s != NULL)
		cJSON_AddStringToObject(o, key, s);
	else
		cJSON_AddNullToObject(o, key);
}

/* "catalog.db.name" of the parts present.  Caller frees. */
static char *
table_path(const char *catalog, const char *db, const char *name)
{
	char	*p;

	xasprintf(&p, "%s%s%s%s%s", catalog != NULL ? catalog : "",
	    catalog != NULL ? "." : "", db != NULL ? db : "",
	    db != NULL ? "." : "", name);
	return p;
}

/* The rows of foreign-keys.json for one table's keys. */
static void
fk_rows(const struct dbscan_table *t, cJSON *arr)
{
	const struct dbscan_fk	*fk;
	cJSON			*row;
	char			*path;
	size_t			 i, k;

	path = table_path(t->catalog, t->db, t->name);
	for (i = 0; i < t->nfks; i++) {
		fk = &t->fks[i];
		for (k = 0; k < fk->from_columns.n; k++) {
			row = cJSON_CreateObject();
			cJSON_AddStringToObject(row, "fromTable", t->name);
			cJSON_AddStringToObject(row, "fromTablePath", path);
			cJSON_AddStringToObject(row, "fromColumn",
			    fk->from_columns.v[k]);
			add_str_or_null(row, "toCatalog", fk->to_catalog);
			add_str_or_null(row, "toDb", fk->to_db);
			cJSON_AddStringToObject(row, "toTable", fk->to_table);
			cJSON_AddStringToObject(row, "toColumn",
			    fk->to_columns.v[k]);
			add_str_or_null(row, "constraintName", fk->name);
			cJSON_AddItemToArray(arr, row);
		}
	}
	free(path);
}

/*
 * An estimate at the power of ten below it (0 stays 0): row counts drift
 * with the data, and a rescan of an unchanged schema must not differ.
 */
static double
rows_bucket(int64_t rows)
{
	double	b = 1;

	if (rows <= 0)
		return (double)rows;
	while (b * 10 <= (double)rows)
		b *= 10;
	return b;
}

static cJSON *
table_json(const struct dbscan_table *t)
{
	const struct dbscan_column	*c;
	cJSON				*o, *cols, *col;
	size_t				 i;

	o = cJSON_CreateObject();
	add_str_or_null(o, "catalog", t->catalog);
	add_str_or_null(o, "db", t->db);
	cJSON_AddStringToObject(o, "name", t->name);
	cJSON_AddStringToObject(o, "kind", t->kind);
	add_str_or_null(o, "comment", t->comment);
	if (t->estimated_rows < 0)
		cJSON_AddNullToObject(o, "estimatedRows");
	else
		cJSON_AddNumberToObject(o, "estimatedRows",
		    rows_bucket(t->estimated_rows));
	cols = cJSON_AddArrayToObject(o, "columns");
	for (i = 0; i < t->ncolumns; i++) {
		c = &t->columns[i];
		col = cJSON_CreateObject();
		cJSON_AddStringToObject(col, "name", c->name);
		cJSON_AddStringToObject(col, "nativeType", c->native_type);
		cJSON_AddStringToObject(col, "normalizedType",
		    c->normalized_type);
		cJSON_AddStringToObject(col, "dimensionType",
		    c->dimension_type);
		cJSON_AddBoolToObject(col, "nullable", c->nullable);
		cJSON_AddBoolToObject(col, "primaryKey", c->pk > 0);
		add_str_or_null(col, "comment", c->comment);
		cJSON_AddItemToArray(cols, col);
	}
	fk_rows(t, cJSON_AddArrayToObject(o, "foreignKeys"));
	return o;
}

/* RFC 4648 base64url without padding, as Node's "base64url" writes it. */
static char *
b64url(const char *s)
{
	static const char	 abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 len = strlen(s), i;
	char			*out = xmalloc(len / 3 * 4 + 5), *o = out;
	uint32_t		 v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		*o++ = abc[v >> 6 & 63];
		*o++ = abc[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)p[i] << 16;
		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = abc[v >> 18 & 63];
		*o++ = abc[v >> 12 & 63];
		*o++ = abc[v >> 6 & 63];
	}
	*o = '\0';
	return out;
}

/* One file of the raw snapshot, relative to the sync dir. */
struct rawfile {
	char	*rel;
	char	*data;
	size_t	 len;
};

struct snapshot {
	struct rawfile	*files;
	size_t		 nfiles;
};

static void
snap_add(struct snapshot *snap, char *rel, cJSON *json)
{
	struct rawfile	*f;

	snap->files = xreallocarray(snap->files, snap->nfiles + 1,
	    sizeof(*snap->files));
	f = &snap->files[snap->nfiles++];
	f->rel = rel;
	f->data = json_text(json, &f->len);
	cJSON_Delete(json);
}

static void
snap_release(struct snapshot *snap)
{
	size_t	i;

	for (i = 0; i < snap->nfiles; i++) {
		free(snap->files[i].rel);
		free(snap->files[i].data);
	}
	free(snap->files);
	memset(snap, 0, sizeof(*snap));
}

static int
fkrow_cmp(const void *pa, const void *pb)
{
	const cJSON	*a = *(const cJSON *const *)pa;
	const cJSON	*b = *(const cJSON *const *)pb;
	static const char *const keys[] = {
		"fromTablePath", "constraintName", "toDb", "toTable",
		"fromColumn", "toColumn", NULL
	};
	const char *const	*k;
	int			 r;

	for (k = keys; *k != NULL; k++)
		if ((r = nstrcmp(cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(a, *k)),
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b,
		    *k)))) != 0)
			return r;
	return 0;
}

/* foreign-keys.json: every table's rows, sorted. */
static cJSON *
foreign_keys_json(const struct dbscan *scan)
{
	cJSON	*all, *sorted, *o, **rows, *r;
	size_t	 i, n;

	all = cJSON_CreateArray();
	for (i = 0; i < scan->ntables; i++)
		fk_rows(&scan->tables[i], all);
	n = (size_t)cJSON_GetArraySize(all);
	rows = xreallocarray(NULL, n, sizeof(*rows));
	for (i = 0, r = all->child; r != NULL; r = r->next)
		rows[i++] = r;
	qsort(rows, n, sizeof(*rows), fkrow_cmp);
	sorted = cJSON_CreateArray();
	for (i = 0; i < n; i++)
		cJSON_AddItemReferenceToArray(sorted, rows[i]);
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "foreignKeys", cJSON_Duplicate(sorted, 1));
	cJSON_Delete(sorted);
	cJSON_Delete(all);
	free(rows);
	return o;
}

static void
build_snapshot(const struct dbscan *scan, const char *conn_id,
    struct snapshot *snap)
{
	const struct dbscan_warning	*w;
	const struct dbscan_table	*t;
	cJSON				*o, *arr, *item, *meta, *scope;
	char				*c, *d, *n, *rel;
	size_t				 i;

	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "connectionId", conn_id);
	cJSON_AddStringToObject(o, "driver", scan->driver);
	scope = cJSON_AddObjectToObject(o, "scope");
	if (scan->enabled_tables.n == 0)
		cJSON_AddNullToObject(scope, "enabledTables");
	else {
		arr = cJSON_AddArrayToObject(scope, "enabledTables");
		for (i = 0; i < scan->enabled_tables.n; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(
			    scan->enabled_tables.v[i]));
	}
	meta = cJSON_AddObjectToObject(o, "metadata");
	add_str_or_null(meta, "database", scan->database);
	cJSON_AddNumberToObject(o, "tableCount", (double)scan->ntables);
	snap_add(snap, xstrdup("connection.json"), o);

	snap_add(snap, xstrdup("foreign-keys.json"), foreign_keys_json(scan));

	o = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(o, "warnings");
	for (i = 0; i < scan->nwarnings; i++) {
		w = &scan->warnings[i];
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "code", w->code);
		cJSON_AddStringToObject(item, "message", w->message);
		cJSON_AddBoolToObject(item, "recoverable", w->recoverable);
		if (w->table != NULL)
			cJSON_AddStringToObject(item, "table", w->table);
		if (w->column != NULL)
			cJSON_AddStringToObject(item, "column", w->column);
		cJSON_AddItemToArray(arr, item);
	}
	snap_add(snap, xstrdup("warnings.json"), o);

	for (i = 0; i < scan->ntables; i++) {
		t = &scan->tables[i];
		c = b64url(t->catalog != NULL ? t->catalog : "_");
		d = b64url(t->db != NULL ? t->db : "_");
		n = b64url(t->name);
		xasprintf(&rel, "tables/%s.%s.%s.json", c, d, n);
		free(c);
		free(d);
		free(n);
		snap_add(snap, rel, table_json(t));
	}
}

/*
 * Files.
 */

/* mkdir -p of the directory part of path (everything when whole). */
static int
make_dirs(const char *path, int whole, char **errmsg)
{
	char	*dir = xstrdup(path), *s;
	int	 rv = 0;

	if (whole || (s = strrchr(dir, '/')) != NULL) {
		if (!whole)
			*s = '\0';
		if ((rv = mkpath(dir, 0755)) == -1)
			xasprintf(errmsg, "cannot create directory %s: %s",
			    dir, strerror(errno));
	}
	free(dir);
	return rv;
}

static int
write_file(const char *path, const char *data, size_t len, char **errmsg)
{
	size_t	off = 0;
	ssize_t	n;
	int	fd, rv = -1;

	if (make_dirs(path, 0, errmsg) == -1)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd == -1) {
		xasprintf(errmsg, "cannot create %s: %s", path,
		    strerror(errno));
		return -1;
	}
	while (off < len) {
		if ((n = write(fd, data + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(errmsg, "cannot write %s: %s", path,
			    strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	rv = 0;
out:
	if (close(fd) == -1 && rv == 0) {
		xasprintf(errmsg, "cannot write %s: %s", path, strerror(errno));
		rv = -1;
	}
	return rv;
}

/* Whether the file at path holds exactly len bytes of data. */
static int
same_bytes(const char *path, const char *data, size_t len)
{
	struct stat	 sb;
	char		*buf;
	ssize_t		 n;
	size_t		 off = 0;
	int		 fd, same = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (size_t)sb.st_size != len) {
		close(fd);
		return 0;
	}
	buf = xmalloc(len + 1);
	while (off < len && (n = read(fd, buf + off, len - off)) > 0)
		off += (size_t)n;
	same = off == len && memcmp(buf, data, len) == 0;
	free(buf);
	close(fd);
	return same;
}

/* The names in dir, hidden ones included; -1 if it cannot be listed. */
static int
dir_names(const char *dir, struct strv *out)
{
	DIR		*d;
	struct dirent	*de;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			strv_push(out, de->d_name);
	closedir(d);
	return 0;
}

/* Whether the snapshot in dir holds exactly snap's files and bytes. */
static int
snapshot_equal(const char *dir, const struct snapshot *snap)
{
	struct strv	 top = { 0 }, tables = { 0 };
	char		*path;
	size_t		 i, ntables = 0;
	int		 same = 0;

	for (i = 0; i < snap->nfiles; i++) {
		xasprintf(&path, "%s/%s", dir, snap->files[i].rel);
		same = same_bytes(path, snap->files[i].data,
		    snap->files[i].len);
		free(path);
		if (!same)
			return 0;
		ntables += strncmp(snap->files[i].rel, "tables/", 7) == 0;
	}
	xasprintf(&path, "%s/tables", dir);
	same = dir_names(dir, &top) == 0 &&
	    top.n == 3 + (ntables > 0) &&
	    (ntables == 0 || (dir_names(path, &tables) == 0 &&
	    tables.n == ntables));
	free(path);
	strv_release(&top);
	strv_release(&tables);
	return same;
}

/* The lexicographically greatest sync dir of the connection, or NULL. */
static char *
latest_sync(const char *base)
{
	struct strv	 names = { 0 };
	char		*best = NULL;
	size_t		 i;

	if (dir_names(base, &names) == -1)
		return NULL;
	for (i = 0; i < names.n; i++)
		if (names.v[i][0] != '.' &&
		    (best == NULL || strcmp(names.v[i], best) > 0))
			best = names.v[i];
	best = best != NULL ? xstrdup(best) : NULL;
	strv_release(&names);
	return best;
}

/*
 * Manifest shards.
 */

/*
 * Tables keyed for the shards: by name, or "<db>__<name>" when the name
 * occurs more than once in the scan.  In the scan's order.
 */
struct keyed {
	const struct dbscan_table	*t;
	char				*key;
	char				*shard;
};

struct keying {
	struct keyed	*v;		/* parallel to scan->tables */
	size_t		 n;
	char		**sorted;	/* the keys, sorted, for lookups */
};

static int
tableptr_name_cmp(const void *pa, const void *pb)
{
	const struct dbscan_table *const	*a = pa, *const *b = pb;

	return strcmp((*a)->name, (*b)->name);
}

/*
 * Mark in shared (one flag per table) the tables whose name occurs more
 * than once in the scan.
 */
static void
shared_names(const struct dbscan *scan, unsigned char *shared)
{
	const struct dbscan_table	**byname;
	size_t				  i;

	byname = xreallocarray(NULL, scan->ntables, sizeof(*byname));
	for (i = 0; i < scan->ntables; i++)
		byname[i] = &scan->tables[i];
	qsort(byname, scan->ntables, sizeof(*byname), tableptr_name_cmp);
	for (i = 1; i < scan->ntables; i++)
		if (strcmp(byname[i]->name, byname[i - 1]->name) == 0) {
			shared[byname[i] - scan->tables] = 1;
			shared[byname[i - 1] - scan->tables] = 1;
		}
	free(byname);
}

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
make_keys(const struct dbscan *scan, struct keying *k)
{
	unsigned char	*shared = xcalloc(scan->ntables + 1, 1);
	size_t		 i;

	k->n = scan->ntables;
	k->v = xcalloc(k->n + 1, sizeof(*k->v));
	k->sorted = xcalloc(k->n + 1, sizeof(*k->sorted));
	shared_names(scan, shared);
	for (i = 0; i < scan->ntables; i++) {
		k->v[i].t = &scan->tables[i];
		k->v[i].shard = xstrdup(scan->tables[i].db != NULL ?
		    scan->tables[i].db : "public");
		if (shared[i])
			xasprintf(&k->v[i].key, "%s__%s", k->v[i].shard,
			    scan->tables[i].name);
		else
			k->v[i].key = xstrdup(scan->tables[i].name);
		k->sorted[i] = k->v[i].key;
	}
	qsort(k->sorted, k->n, sizeof(*k->sorted), strp_cmp);
	free(shared);
}

static void
keying_release(struct keying *k)
{
	size_t	i;

	for (i = 0; i < k->n; i++) {
		free(k->v[i].key);
		free(k->v[i].shard);
	}
	free(k->v);
	free(k->sorted);
	memset(k, 0, sizeof(*k));
}

/* The keyed table catalog.db.name; the scan's tables are sorted so. */
static const struct keyed *
keyed_find(const struct keying *k, const char *catalog, const char *db,
    const char *name)
{
	struct dbscan_table	 want;
	size_t			 lo = 0, hi = k->n, mid;
	int			 r;

	memset(&want, 0, sizeof(want));
	want.catalog = (char *)(uintptr_t)catalog;
	want.db = (char *)(uintptr_t)db;
	want.name = (char *)(uintptr_t)name;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((r = table_cmp(&want, k->v[mid].t)) == 0)
			return &k->v[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* "<a>.<x> = <b>.<y>[ AND ...]" */
static char *
join_on(const char *a, const struct strv *acols, const char *b,
    const struct strv *bcols)
{
	char	*on = NULL, *p;
	size_t	 i;

	for (i = 0; i < acols->n; i++) {
		xasprintf(&p, "%s%s%s.%s = %s.%s", on != NULL ? on : "",
		    i > 0 ? " AND " : "", a, acols->v[i], b, bcols->v[i]);
		free(on);
		on = p;
	}
	return on;
}

struct pending_join {
	size_t	 table;		/* index into the keying */
	char	*to;
	char	*on;
	const char *relationship;
};

static int
pending_cmp(const void *pa, const void *pb)
{
	const struct pending_join	*a = pa, *b = pb;
	int				 r;

	if (a->table != b->table)
		return a->table < b->table ? -1 : 1;
	if ((r = strcmp(a->to, b->to)) != 0)
		return r;
	return strcmp(a->on, b->on);
}

/* Joins from foreign keys, both directions, sorted by table, to, on. */
static void
fk_joins(const struct keying *k, struct pending_join **out, size_t *nout)
{
	const struct dbscan_fk	*fk;
	const struct keyed	*to;
	struct pending_join	*j;
	size_t			 i, f;

	for (i = 0; i < k->n; i++) {
		for (f = 0; f < k->v[i].t->nfks; f++) {
			fk = &k->v[i].t->fks[f];
			to = keyed_find(k, fk->to_catalog, fk->to_db,
			    fk->to_table);
			if (to == NULL)
				continue;
			*out = xreallocarray(*out, *nout + 2, sizeof(**out));
			j = &(*out)[(*nout)++];
			j->table = i;
			j->to = xstrdup(to->key);
			j->on = join_on(k->v[i].key, &fk->from_columns,
			    to->key, &fk->to_columns);
			j->relationship = fk->unique ? "one_to_one" :
			    "many_to_one";
			j = &(*out)[(*nout)++];
			j->table = (size_t)(to - k->v);
			j->to = xstrdup(k->v[i].key);
			j->on = join_on(to->key, &fk->to_columns,
			    k->v[i].key, &fk->from_columns);
			j->relationship = fk->unique ? "one_to_one" :
			    "one_to_many";
		}
	}
	if (*nout > 1)
		qsort(*out, *nout, sizeof(**out), pending_cmp);
}

static int
key_exists(const char *to, void *arg)
{
	const struct keying	*k = arg;

	return bsearch(&to, k->sorted, k->n, sizeof(*k->sorted),
	    strp_cmp) != NULL;
}

static int
write_shards(struct keying *k, const char *dir, const char *shown,
    char **errmsg)
{
	struct pending_join	*joins = NULL;
	struct sl_shard		 fresh, old;
	struct sl_shard_table	*st;
	struct sl_column	*sc;
	const struct dbscan_column *c;
	struct strv		 shards = { 0 }, existing = { 0 };
	char			*path = NULL, *name = NULL, *err = NULL;
	size_t			 njoins = 0, i, s, jn;
	int			 r, rv = -1;

	memset(&fresh, 0, sizeof(fresh));
	memset(&old, 0, sizeof(old));
	fk_joins(k, &joins, &njoins);
	for (i = 0; i < k->n; i++)
		if (!strv_has(&shards, k->v[i].shard))
			strv_push(&shards, k->v[i].shard);
	if (make_dirs(dir, 1, errmsg) == -1)
		goto out;
	for (s = 0; s < shards.n; s++) {
		for (i = 0; i < k->n; i++) {
			if (strcmp(k->v[i].shard, shards.v[s]) != 0)
				continue;
			path = table_path(k->v[i].t->catalog, k->v[i].t->db,
			    k->v[i].t->name);
			st = sl_shard_add_table(&fresh, k->v[i].key, path);
			free(path);
			path = NULL;
			if (k->v[i].t->comment != NULL)
				sl_desc_set(&st->descriptions, "db",
				    k->v[i].t->comment);
			for (jn = 0; jn < k->v[i].t->ncolumns; jn++) {
				c = &k->v[i].t->columns[jn];
				sc = sl_shard_add_column(st, c->name,
				    c->dimension_type);
				sc->pk = c->pk > 0;
				sc->notnull = !c->nullable;
				if (c->comment != NULL)
					sl_desc_set(&sc->descriptions, "db",
					    c->comment);
			}
			for (jn = 0; jn < njoins; jn++)
				if (joins[jn].table == i)
					sl_shard_add_join(st, joins[jn].to,
					    joins[jn].on,
					    joins[jn].relationship, "formal");
		}
		xasprintf(&path, "%s/%s.yaml", dir, shards.v[s]);
		xasprintf(&name, "%s/%s.yaml", shown, shards.v[s]);
		if ((r = sl_shard_read(path, name, &old, &err)) == -1) {
			xasprintf(errmsg, "cannot keep what %s adds to the"
			    " scan: %s", name, err);
			goto out;
		}
		sl_shard_preserve(&fresh, &old, key_exists, k);
		if (sl_shard_write(path, &fresh, &err) == -1) {
			*errmsg = err;
			err = NULL;
			goto out;
		}
		sl_shard_release(&fresh);
		sl_shard_release(&old);
		free(path);
		free(name);
		path = name = NULL;
	}
	/* Shards this scan no longer produces: only scans write _schema/. */
	if (dir_names(dir, &existing) == 0)
		for (i = 0; i < existing.n; i++) {
			if (existing.v[i][0] == '.' ||
			    strlen(existing.v[i]) <= 5 ||
			    strcmp(existing.v[i] + strlen(existing.v[i]) - 5,
			    ".yaml") != 0)
				continue;
			existing.v[i][strlen(existing.v[i]) - 5] = '\0';
			if (strv_has(&shards, existing.v[i]))
				continue;
			xasprintf(&path, "%s/%s.yaml", dir, existing.v[i]);
			if (unlink(path) == -1) {
				xasprintf(errmsg, "cannot remove %s: %s", path,
				    strerror(errno));
				goto out;
			}
			free(path);
			path = NULL;
		}
	rv = 0;
out:
	for (i = 0; i < njoins; i++) {
		free(joins[i].to);
		free(joins[i].on);
	}
	free(joins);
	sl_shard_release(&fresh);
	sl_shard_release(&old);
	strv_release(&shards);
	strv_release(&existing);
	free(path);
	free(name);
	free(err);
	return rv;
}

int
dbscan_write(const struct dbscan *scan, const char *worktree,
    const char *conn_id, const char *sync_id, char **used_sync_id,
    char **errmsg)
{
	struct snapshot	 snap;
	struct keying	 k;
	char		*base = NULL, *latest = NULL, *dir = NULL;
	char		*path = NULL;
	char		*shard_dir = NULL, *shown = NULL, *err = NULL;
	size_t		 i;
	int		 rv = -1;

	memset(&snap, 0, sizeof(snap));
	memset(&k, 0, sizeof(k));
	*used_sync_id = NULL;
	*errmsg = NULL;
	build_snapshot(scan, conn_id, &snap);
	xasprintf(&base, "%s/raw-sources/%s/%s", worktree, conn_id,
	    DBSCAN_SOURCE_KEY);
	latest = latest_sync(base);
	if (latest != NULL) {
		xasprintf(&dir, "%s/%s", base, latest);
		if (snapshot_equal(dir, &snap)) {
			*used_sync_id = latest;
			latest = NULL;
		}
		free(dir);
		dir = NULL;
	}
	if (*used_sync_id == NULL) {
		xasprintf(&dir, "%s/%s", base, sync_id);
		for (i = 0; i < snap.nfiles; i++) {
			free(path);
			xasprintf(&path, "%s/%s", dir, snap.files[i].rel);
			if (write_file(path, snap.files[i].data,
			    snap.files[i].len, &err) == -1)
				goto fail;
		}
		*used_sync_id = xstrdup(sync_id);
	}
	make_keys(scan, &k);
	xasprintf(&shard_dir, "%s/%s/%s/%s", worktree, SL_DIR, conn_id,
	    SL_SCHEMA_DIR);
	xasprintf(&shown, "%s/%s/%s", SL_DIR, conn_id, SL_SCHEMA_DIR);
	if (write_shards(&k, shard_dir, shown, &err) == -1)
		goto fail;
	rv = 0;
	goto out;
fail:
	xasprintf(errmsg, "connection \"%s\": %s", conn_id, err);
	free(*used_sync_id);
	*used_sync_id = NULL;
out:
	snap_release(&snap);
	keying_release(&k);
	free(base);
	free(latest);
	free(dir);
	free(path);
	free(shard_dir);
	free(shown);
	free(err);
	return rv;
}
