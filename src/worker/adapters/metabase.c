/*
 * The Metabase adapter: saved questions and models ("cards") become wiki
 * pages that name the warehouse sources they read.
 *
 * Input, one of:
 *  - API responses: card/<id>.json as GET /api/card/:id returns it, with
 *    table.json (GET /api/table), database.json and collection.json beside
 *    card/ when present; the same under an api/ directory.  Staged as
 *    card/<id>.json, table.json, database.json, collection.json.
 *  - A serialization export (v2 YAML): collections/.../cards/<card>.yaml, the
 *    collection files collections/.../<dir>/<dir>.yaml, and
 *    databases/<db>/<db>.yaml with .../tables/<t>/<t>.yaml.  Staged at the
 *    same paths.  Dashboards, fields and settings are not read.
 *
 * Queries in both formats: legacy (dataset_query.type "native" with
 * native.query, or "query" with query.source-table and joins) and MBQL 5
 * ("lib/type": "mbql/query", stages with source-table, source-card or
 * native).  A card reads: for native SQL the tables of its FROM and JOIN
 * clauses (sqlrefs.c); for MBQL every source-table (a table id looked up in
 * table.json, a [db, schema, table] triple, "card__27" or another card's
 * entity id) and source-card; a card built on a card reads that card's
 * tables too.
 *
 * All cards map to one warehouse connection: the connection's
 * mappings.connection, else the only warehouse the job lists.  A card whose
 * tables are all in that warehouse's manifest gets the page
 * <conn>-<slug of its name> (colliding names suffixed with the card id)
 * naming those sources in sl_refs; a card that reads a table the manifest
 * lacks (or a card not in the export) is skipped with "missing schema
 * context: ..." and a trace event listing what was missing.  Nothing is
 * invented.  Archived cards are skipped.
 */
#include "config.h"

#include <ctype.h>
#include <sha2.h>
#include <stdlib.h>
#include <string.h>

#include "sources.h"

enum layout { LAYOUT_API, LAYOUT_SERIAL };

static int
has_suffix(const char *s, const char *suf)
{
	size_t	n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* "<digits>.json" */
static int
card_file(const char *base)
{
	const char	*p = base;

	while (*p >= '0' && *p <= '9')
		p++;
	return p > base && strcmp(p, ".json") == 0;
}

/* The last two components of rel: parent directory and base name. */
static void
last_two(const char *rel, const char **dir, size_t *dlen, const char **base)
{
	const char	*slash = strrchr(rel, '/'), *p;

	*base = slash != NULL ? slash + 1 : rel;
	*dir = NULL;
	*dlen = 0;
	if (slash == NULL)
		return;
	for (p = slash; p > rel && p[-1] != '/'; p--)
		;
	*dir = p;
	*dlen = (size_t)(slash - p);
}

/* A serialization file this adapter reads. */
static int
serial_wanted(const char *rel)
{
	const char	*dir, *base, *up;
	size_t		 dlen;

	if (!has_suffix(rel, ".yaml"))
		return 0;
	last_two(rel, &dir, &dlen, &base);
	if (dir == NULL)
		return 0;
	if (strncmp(rel, "collections/", 12) == 0) {
		if (dlen == 5 && strncmp(dir, "cards", 5) == 0)
			return 1;
		/* A collection: <dir>/<dir>.yaml */
		return strlen(base) == dlen + 5 &&
		    strncmp(base, dir, dlen) == 0;
	}
	if (strncmp(rel, "databases/", 10) != 0 ||
	    strlen(base) != dlen + 5 || strncmp(base, dir, dlen) != 0)
		return 0;
	/* databases/<db>/<db>.yaml or .../tables/<t>/<t>.yaml */
	if (dir == rel + 10)
		return 1;
	up = dir - 1;
	return up - rel >= 7 && strncmp(up - 7, "/tables", 7) == 0;
}

static int
stage_api(const struct source_job *job, const struct source_input *in,
    const char *base, struct source_result *res, char **errmsg)
{
	static const char *const side[] = { "collection.json", "database.json",
	    "table.json" };
	struct strv	 files = { 0 }, notes = { 0 };
	char		*dir, *src, *dst;
	const char	*b;
	size_t		 i, cards = 0;
	int		 kind, rv = -1;

	xasprintf(&dir, "%scard", base);
	if (source_input_walk(in, dir, &files, &notes, errmsg) == -1)
		goto out;
	for (i = 0; i < files.n; i++) {
		b = files.v[i] + strlen(dir) + 1;
		if (strchr(b, '/') != NULL || !card_file(b))
			continue;
		xasprintf(&dst, "card/%s", b);
		kind = source_stage_file(job, in, files.v[i], dst,
		    SOURCE_TEXT_MAX_BYTES, SOURCE_FMT_JSON, res, errmsg);
		free(dst);
		if (kind == -1)
			goto out;
		cards++;
	}
	if (cards == 0) {
		xasprintf(errmsg, "%s/%s: no <id>.json cards", in->name, dir);
		goto out;
	}
	for (i = 0; i < sizeof(side) / sizeof(side[0]); i++) {
		xasprintf(&src, "%s%s", base, side[i]);
		if ((kind = source_input_kind(in, src, errmsg)) == 1)
			kind = source_stage_file(job, in, src, side[i],
			    SOURCE_TEXT_MAX_BYTES, SOURCE_FMT_JSON, res,
			    errmsg);
		free(src);
		if (kind == -1)
			goto out;
	}
	rv = 0;
out:
	free(dir);
	strv_release(&files);
	strv_release(&notes);
	return rv;
}

static int
stage_serial(const struct source_job *job, const struct source_input *in,
    struct source_result *res, char **errmsg)
{
	static const char *const tops[] = { "collections", "databases" };
	struct strv	 files = { 0 }, notes = { 0 };
	size_t		 i, cards = 0;
	int		 kind, rv = -1;

	for (i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		if ((kind = source_input_kind(in, tops[i], errmsg)) == -1)
			goto out;
		if (kind == 2 && source_input_walk(in, tops[i], &files, &notes,
		    errmsg) == -1)
			goto out;
	}
	for (i = 0; i < files.n; i++) {
		if (!serial_wanted(files.v[i]))
			continue;
		if (source_stage_file(job, in, files.v[i], files.v[i],
		    SOURCE_TEXT_MAX_BYTES, SOURCE_FMT_YAML, res, errmsg) == -1)
			goto out;
		cards += strstr(files.v[i], "/cards/") != NULL;
	}
	if (cards == 0) {
		xasprintf(errmsg, "%s/collections: no cards/*.yaml", in->name);
		goto out;
	}
	rv = 0;
out:
	strv_release(&files);
	strv_release(&notes);
	return rv;
}

int
source_stage_metabase(const struct source_job *job, struct source_result *res,
    char **errmsg)
{
	struct source_input	 in;
	const char		*base = NULL;
	int			 api, apiapi, serial, rv = -1;

	if (source_input_open(job, &in, errmsg) == -1)
		return -1;
	if ((api = source_input_kind(&in, "card", errmsg)) == -1 ||
	    (apiapi = source_input_kind(&in, "api/card", errmsg)) == -1 ||
	    (serial = source_input_kind(&in, "collections", errmsg)) == -1)
		goto out;
	if (api == 2)
		base = "";
	else if (apiapi == 2)
		base = "api/";
	if (base != NULL && serial == 2) {
		xasprintf(errmsg, "%s: holds both %scard/ (API responses) and "
		    "collections/ (a serialization export); keep one", in.name,
		    base);
		goto out;
	}
	if (base == NULL && serial != 2) {
		xasprintf(errmsg, "%s: no card/ or api/card/ (API responses) "
		    "and no collections/ (a serialization export)", in.name);
		goto out;
	}
	if (source_staging_prepare(job, errmsg) == -1)
		goto out;
	if (base != NULL)
		rv = stage_api(job, &in, base, res, errmsg);
	else
		rv = stage_serial(job, &in, res, errmsg);
	source_staged_sort(res);
out:
	source_input_release(&in);
	return rv;
}

/* ---- ingest ---- */

struct card {
	char		*path;		/* staged file */
	cJSON		*doc;
	char		*id;		/* numeric id, or entity id */
	char		*name;
	char		*key;
	int		 skipped;
	struct strv	 tables;	/* own refs, "schema.table" */
	struct strv	 cards;		/* own card refs (ids or entity ids) */
	struct strv	 missing;	/* refs that cannot be resolved */
	struct strv	 raw;		/* files its page came from */
};

struct mb {
	const struct source_job	*job;
	struct source_result	*res;
	enum layout		 layout;
	struct card		*cards;
	size_t			 ncards;
	cJSON			*tables;	/* table.json */
	cJSON			*databases;	/* database.json */
	cJSON			*collections;	/* collection.json */
	cJSON			**serial;	/* collections, databases */
	struct strv		 serial_paths;
	const char		*wh;
	struct sl		 sl;		/* the worktree's */
	struct source_plan	 plan;
};

static int
card_path_cmp(const void *a, const void *b)
{
	const struct card	*x = a, *y = b;
	long long		 i, j;

	/* API cards in id order; serialization files in path order. */
	if (strncmp(x->path, "card/", 5) == 0 &&
	    strncmp(y->path, "card/", 5) == 0) {
		i = strtoll(x->path + 5, NULL, 10);
		j = strtoll(y->path + 5, NULL, 10);
		if (i != j)
			return i < j ? -1 : 1;
	}
	return strcmp(x->path, y->path);
}

static const struct card *
card_find(const struct mb *m, const char *id)
{
	size_t	i;

	for (i = 0; i < m->ncards; i++)
		if (strcmp(m->cards[i].id, id) == 0)
			return &m->cards[i];
	return NULL;
}

/* An array the API may wrap as {"data": [...]}. */
static const cJSON *
api_list(const cJSON *doc)
{
	if (cJSON_IsObject(doc))
		return jget(doc, "data");
	return doc;
}

static const cJSON *
by_id(const cJSON *list, long long id)
{
	const cJSON	*e;
	long long	 x;

	cJSON_ArrayForEach(e, api_list(list))
		if (jint(jget(e, "id"), &x) && x == id)
			return e;
	return NULL;
}

static void
push_unique(struct strv *sv, const char *s)
{
	size_t	i;

	for (i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return;
	strv_push(sv, s);
}

/* Record one source-table / source-card value of c's query. */
static void
query_ref(struct mb *m, struct card *c, const char *k, const cJSON *v)
{
	const cJSON	*t, *last, *schema;
	long long	 id;
	char		*s;
	int		 n;

	if (strcmp(k, "source-card") == 0) {
		if (jint(v, &id)) {
			xasprintf(&s, "%lld", id);
			push_unique(&c->cards, s);
			free(s);
		} else if (cJSON_IsString(v))
			push_unique(&c->cards, v->valuestring);
		return;
	}
	if (jint(v, &id)) {
		t = by_id(m->tables, id);
		if (t == NULL || jstr(t, "name") == NULL) {
			xasprintf(&s, "table id %lld (not in table.json)", id);
			push_unique(&c->missing, s);
			free(s);
			return;
		}
		if (jstr(t, "schema") != NULL)
			xasprintf(&s, "%s.%s", jstr(t, "schema"),
			    jstr(t, "name"));
		else
			s = xstrdup(jstr(t, "name"));
		push_unique(&c->tables, s);
		push_unique(&c->raw, "table.json");
		free(s);
		return;
	}
	if (cJSON_IsString(v)) {
		if (strncmp(v->valuestring, "card__", 6) == 0)
			push_unique(&c->cards, v->valuestring + 6);
		else
			push_unique(&c->cards, v->valuestring);
		return;
	}
	if (cJSON_IsArray(v) && (n = cJSON_GetArraySize(v)) >= 2) {
		/* [db, schema, table] or [db, table] */
		last = cJSON_GetArrayItem(v, n - 1);
		schema = n >= 3 ? cJSON_GetArrayItem(v, n - 2) : NULL;
		if (!cJSON_IsString(last))
			return;
		if (cJSON_IsString(schema))
			xasprintf(&s, "%s.%s", schema->valuestring,
			    last->valuestring);
		else
			s = xstrdup(last->valuestring);
		push_unique(&c->tables, s);
		free(s);
	}
}

static void
walk_query(struct mb *m, struct card *c, const cJSON *q, int depth)
{
	const cJSON	*e;

	if (depth > SOURCE_MAX_DEPTH)
		return;
	cJSON_ArrayForEach(e, q) {
		if (e->string != NULL &&
		    (strcmp(e->string, "source-table") == 0 ||
		    strcmp(e->string, "source-card") == 0)) {
			query_ref(m, c, e->string, e);
			continue;
		}
		if (cJSON_IsObject(e) || cJSON_IsArray(e))
			walk_query(m, c, e, depth + 1);
	}
}

/* The SQL of a native card, or NULL. */
static const char *
card_sql(const cJSON *dq)
{
	const cJSON	*st;

	if (jget(dq, "stages") != NULL) {
		cJSON_ArrayForEach(st, jget(dq, "stages"))
			if (jstr(st, "native") != NULL)
				return jstr(st, "native");
		return NULL;
	}
	return jstr(jget(dq, "native"), "query");
}

/* Own references of c. */
static void
card_refs(struct mb *m, struct card *c)
{
	const cJSON	*dq = jget(c->doc, "dataset_query");
	const char	*sql = card_sql(dq);
	struct sql_refs	 r = { 0 };
	size_t		 i;

	if (sql != NULL) {
		sql_refs_scan(sql, &r);
		for (i = 0; i < r.tables.n; i++)
			push_unique(&c->tables, r.tables.v[i]);
		for (i = 0; i < r.cards.n; i++)
			push_unique(&c->cards, r.cards.v[i]);
		sql_refs_release(&r);
	}
	walk_query(m, c, dq, 0);
}

/*
 * Everything c reads, through the cards it is built on: tables into
 * tables, unresolvable references into missing, card files into raw.
 */
static void
card_closure(const struct mb *m, const struct card *c, struct strv *seen,
    struct strv *tables, struct strv *missing, struct strv *raw,
    struct strv *based_on)
{
	const struct card	*d;
	size_t			 i;
	char			*s;

	for (i = 0; i < seen->n; i++)
		if (strcmp(seen->v[i], c->id) == 0)
			return;
	strv_push(seen, c->id);
	for (i = 0; i < c->tables.n; i++)
		push_unique(tables, c->tables.v[i]);
	for (i = 0; i < c->missing.n; i++)
		push_unique(missing, c->missing.v[i]);
	for (i = 0; i < c->raw.n; i++)
		push_unique(raw, c->raw.v[i]);
	for (i = 0; i < c->cards.n; i++) {
		if ((d = card_find(m, c->cards.v[i])) == NULL) {
			xasprintf(&s, "card %s (not in the export)",
			    c->cards.v[i]);
			push_unique(missing, s);
			free(s);
			continue;
		}
		if (based_on != NULL)
			push_unique(based_on, d->id);
		push_unique(raw, d->path);
		card_closure(m, d, seen, tables, missing, raw, NULL);
	}
}

/* The serialization file whose serdes/meta ends with model/id, or -1. */
static long
serial_find(const struct mb *m, const char *model, const char *id)
{
	const cJSON	*meta, *last;
	size_t		 i;

	for (i = 0; i < m->serial_paths.n; i++) {
		meta = jget(m->serial[i], "serdes/meta");
		last = cJSON_GetArrayItem(meta, cJSON_GetArraySize(meta) - 1);
		if (jstr(last, "model") != NULL &&
		    strcmp(jstr(last, "model"), model) == 0 &&
		    jstr(last, "id") != NULL &&
		    strcmp(jstr(last, "id"), id) == 0)
			return (long)i;
	}
	return -1;
}

/* "Parent / Child" of a card's collection; NULL when unknown. */
static char *
collection_path(struct mb *m, struct card *c)
{
	struct sbuf	 b = { 0 };
	const cJSON	*coll, *e;
	struct strv	 names = { 0 };
	const char	*loc, *cid, *p;
	long long	 id;
	long		 i;
	size_t		 k;
	int		 guard = 0;

	if (m->layout == LAYOUT_API) {
		if (!jint(jget(c->doc, "collection_id"), &id)) {
			coll = jget(c->doc, "collection");
			if (jstr(coll, "name") != NULL)
				return xstrdup(jstr(coll, "name"));
			cJSON_ArrayForEach(e, api_list(m->collections))
				if (jstr(e, "id") != NULL &&
				    strcmp(jstr(e, "id"), "root") == 0) {
					push_unique(&c->raw, "collection.json");
					return xstrdup(jstr(e, "name") != NULL ?
					    jstr(e, "name") : "root");
				}
			return NULL;
		}
		coll = by_id(m->collections, id);
		if (coll != NULL)
			push_unique(&c->raw, "collection.json");
		else
			coll = jget(c->doc, "collection");
		if (jstr(coll, "name") == NULL)
			return NULL;
		/* location "/2/5/": the ancestors' ids */
		loc = jstr(coll, "location");
		for (p = loc; p != NULL && *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				continue;
			id = strtoll(p, (char **)&p, 10);
			if ((e = by_id(m->collections, id)) != NULL &&
			    jstr(e, "name") != NULL)
				strv_push(&names, jstr(e, "name"));
			p--;
		}
		strv_push(&names, jstr(coll, "name"));
	} else {
		cid = jstr(c->doc, "collection_id");
		while (cid != NULL && guard++ < SOURCE_MAX_DEPTH &&
		    (i = serial_find(m, "Collection", cid)) >= 0) {
			strv_push(&names, jstr(m->serial[i], "name") != NULL ?
			    jstr(m->serial[i], "name") : cid);
			push_unique(&c->raw, m->serial_paths.v[i]);
			cid = jstr(m->serial[i], "parent_id");
		}
		/* Collected child first; reverse. */
		for (k = 0; k < names.n / 2; k++) {
			char *t = names.v[k];

			names.v[k] = names.v[names.n - 1 - k];
			names.v[names.n - 1 - k] = t;
		}
	}
	for (k = 0; k < names.n; k++) {
		if (k > 0)
			sbuf_adds(&b, " / ");
		sbuf_adds(&b, names.v[k]);
	}
	strv_release(&names);
	return b.len > 0 ? sbuf_take(&b) : NULL;
}

/* "name (engine)" of the card's database; NULL when unknown. */
static char *
database_of(struct mb *m, struct card *c)
{
	const cJSON	*db;
	const char	*name;
	long long	 id;
	long		 i;
	char		*s;

	if (m->layout == LAYOUT_API) {
		if (!jint(jget(c->doc, "database_id"), &id) ||
		    (db = by_id(m->databases, id)) == NULL ||
		    jstr(db, "name") == NULL)
			return NULL;
		push_unique(&c->raw, "database.json");
	} else {
		if ((name = jstr(c->doc, "database_id")) == NULL ||
		    (i = serial_find(m, "Database", name)) < 0)
			return NULL;
		db = m->serial[i];
		push_unique(&c->raw, m->serial_paths.v[i]);
	}
	if (jstr(db, "engine") != NULL)
		xasprintf(&s, "%s (%s)", jstr(db, "name") != NULL ?
		    jstr(db, "name") : "?", jstr(db, "engine"));
	else
		s = xstrdup(jstr(db, "name") != NULL ? jstr(db, "name") : "?");
	return s;
}

/* A fenced block whose fence is longer than any backtick run inside. */
static void
add_fenced(struct sbuf *b, const char *lang, const char *text)
{
	const char	*p;
	size_t		 run = 0, max = 0, n, len;

	for (p = text; *p != '\0'; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > max)
			max = run;
	}
	n = max >= 3 ? max + 1 : 3;
	for (len = 0; len < n; len++)
		sbuf_addc(b, '`');
	sbuf_adds(b, lang);
	sbuf_addc(b, '\n');
	len = strlen(text);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' ||
	    text[len - 1] == '\r' || text[len - 1] == '\t'))
		len--;
	sbuf_add(b, text, len);
	sbuf_addc(b, '\n');
	while (n-- > 0)
		sbuf_addc(b, '`');
	sbuf_addc(b, '\n');
}

static void
strip_uuids(cJSON *v)
{
	cJSON	*e;

	cJSON_DeleteItemFromObjectCaseSensitive(v, "lib/uuid");
	cJSON_ArrayForEach(e, v)
		strip_uuids(e);
}

/* The MBQL query as indented JSON, lib/uuid noise removed. */
static char *
mbql_text(const cJSON *dq)
{
	const cJSON	*q = jget(dq, "stages") != NULL ? jget(dq, "stages") :
			    jget(dq, "query");
	struct sbuf	 b = { 0 };
	cJSON		*copy;
	char		*s, *p;
	int		 bol = 1;

	if (q == NULL)
		return NULL;
	copy = cJSON_Duplicate(q, 1);
	strip_uuids(copy);
	s = cJSON_Print(copy);
	cJSON_Delete(copy);
	if (s == NULL)
		return NULL;
	/* cJSON's tabs (strings hold none: it escapes them) as spaces. */
	for (p = s; *p != '\0'; p++) {
		if (*p == '\t') {
			sbuf_adds(&b, bol ? "  " : " ");
			continue;
		}
		bol = *p == '\n';
		sbuf_addc(&b, *p);
	}
	cJSON_free(s);
	return sbuf_take(&b);
}

static int
skip_card(struct mb *m, struct card *c, const struct strv *missing,
    const char *why)
{
	cJSON	*data = cJSON_CreateObject(), *a = cJSON_CreateArray();
	char	*item, *reason;
	size_t	 i;

	for (i = 0; missing != NULL && i < missing->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(missing->v[i]));
	cJSON_AddStringToObject(data, "card", c->id);
	cJSON_AddStringToObject(data, "name", c->name);
	if (m->wh != NULL)
		cJSON_AddStringToObject(data, "warehouse", m->wh);
	cJSON_AddItemToObject(data, "missing", a);
	cJSON_AddStringToObject(data, "reason", why);
	source_event_add(m->res, "metabase_card_skipped", data);
	xasprintf(&item, "card %s", c->id);
	if (missing != NULL && missing->n > 0) {
		struct sbuf b = { 0 };

		for (i = 0; i < missing->n; i++) {
			if (i > 0)
				sbuf_adds(&b, ", ");
			sbuf_adds(&b, missing->v[i]);
		}
		xasprintf(&reason, "%s: %s", why, b.s);
		sbuf_release(&b);
	} else
		reason = xstrdup(why);
	source_skip_add(m->res, item, reason, &c->raw);
	free(item);
	free(reason);
	c->skipped = 1;
	return 0;
}

/*
 * Decide whether c can have a page: every table it reads (through the
 * cards it is built on) must be a source of the warehouse manifest.
 */
static void
judge(struct mb *m, struct card *c)
{
	struct strv		 seen = { 0 }, tables = { 0 }, missing = { 0 };
	struct strv		 raw = { 0 };
	const cJSON		*arch = jget(c->doc, "archived");
	size_t			 i;
	char			*s;

	card_closure(m, c, &seen, &tables, &missing, &raw, NULL);
	for (i = 0; i < raw.n; i++)
		push_unique(&c->raw, raw.v[i]);
	if (cJSON_IsTrue(arch)) {
		skip_card(m, c, NULL, "archived card");
		goto out;
	}
	if (tables.n > 0 && m->wh == NULL) {
		skip_card(m, c, &tables, "missing schema context: no warehouse "
		    "connection for Metabase (set mappings.connection) to "
		    "resolve");
		goto out;
	}
	for (i = 0; i < tables.n; i++) {
		if (sl_table_find(&m->sl, m->wh, tables.v[i]) == NULL) {
			xasprintf(&s, "%s (not in %s's manifest)", tables.v[i],
			    m->wh);
			push_unique(&missing, s);
			free(s);
		}
	}
	if (missing.n > 0)
		skip_card(m, c, &missing, "missing schema context");
out:
	strv_release(&seen);
	strv_release(&tables);
	strv_release(&missing);
	strv_release(&raw);
}

static void
project_card(struct mb *m, struct card *c)
{
	struct source_page	 pg = { 0 };
	struct sbuf		 b = { 0 };
	struct strv		 seen = { 0 }, tables = { 0 }, missing = { 0 };
	struct strv		 raw = { 0 }, based = { 0 };
	const struct sl_source	*t;
	const struct card	*d;
	const cJSON		*dq = jget(c->doc, "dataset_query");
	const char		*desc, *type, *display, *sql;
	char			*coll, *db, *q;
	size_t			 i;

	desc = jstr(c->doc, "description");
	type = jstr(c->doc, "type");
	display = jstr(c->doc, "display");
	card_closure(m, c, &seen, &tables, &missing, &raw, &based);
	coll = collection_path(m, c);
	db = database_of(m, c);

	pg.key = xstrdup(c->key);
	pg.summary = source_summary(desc != NULL ? desc : "", c->name);
	strv_push(&pg.tags, "metabase");
	if (type != NULL && *type != '\0')
		strv_push(&pg.tags, type);
	for (i = 0; m->wh != NULL && i < tables.n; i++)
		if ((t = sl_table_find(&m->sl, m->wh, tables.v[i])) != NULL)
			push_unique(&pg.sl_refs, t->name);
	for (i = 0; i < c->raw.n; i++)
		strv_push(&pg.raw_paths, c->raw.v[i]);

	sbuf_adds(&b, "# ");
	source_add_prose(&b, c->name, strlen(c->name));
	sbuf_adds(&b, "\n\n");
	if (desc != NULL && *desc != '\0') {
		source_add_prose(&b, desc, strlen(desc));
		sbuf_adds(&b, "\n\n");
	}
	sbuf_addf(&b, "- Metabase %s %s\n", type != NULL ? type : "card",
	    c->id);
	if (coll != NULL) {
		sbuf_adds(&b, "- Collection: ");
		source_add_prose(&b, coll, strlen(coll));
		sbuf_addc(&b, '\n');
	}
	if (display != NULL)
		sbuf_addf(&b, "- Display: %s\n", display);
	if (db != NULL) {
		sbuf_adds(&b, "- Database: ");
		source_add_prose(&b, db, strlen(db));
		sbuf_addc(&b, '\n');
	}
	for (i = 0; i < tables.n; i++) {
		sbuf_adds(&b, i == 0 ? "- Reads: " : ", ");
		source_add_prose(&b, tables.v[i], strlen(tables.v[i]));
		if (i + 1 == tables.n)
			sbuf_addc(&b, '\n');
	}
	for (i = 0; i < based.n; i++) {
		if ((d = card_find(m, based.v[i])) == NULL || d->skipped)
			continue;
		sbuf_adds(&b, "- Based on: [[");
		sbuf_adds(&b, d->key);
		sbuf_adds(&b, "]]\n");
	}
	if ((sql = card_sql(dq)) != NULL) {
		sbuf_adds(&b, "\n## Query\n\n");
		add_fenced(&b, "sql", sql);
	} else if ((q = mbql_text(dq)) != NULL) {
		sbuf_adds(&b, "\n## Query\n\n");
		add_fenced(&b, "json", q);
		free(q);
	}
	pg.body = sbuf_take(&b);
	source_plan_page(&m->plan, &pg, m->job->conn->id);
	source_page_release(&pg);
	free(coll);
	free(db);
	strv_release(&seen);
	strv_release(&tables);
	strv_release(&missing);
	strv_release(&raw);
	strv_release(&based);
}

static int
card_key_cmp(const void *a, const void *b)
{
	const struct card *x = *(const struct card *const *)a;
	const struct card *y = *(const struct card *const *)b;

	return strcmp(x->key, y->key);
}

/*
 * Keys from names; names whose keys collide all get "-<id>" (the slug of
 * the id), then "-<8 hex of sha256 of the path>" where that still does.
 */
static void
assign_keys(struct mb *m)
{
	struct card	**by;
	char		 *title, *k, *suf;
	size_t		  i, j, pass, x;
	unsigned char	  md[SHA256_DIGEST_LENGTH];
	SHA2_CTX	  ctx;

	for (i = 0; i < m->ncards; i++) {
		k = source_slug(m->cards[i].name, 80);
		if (*k == '\0')
			xasprintf(&title, "card %s", m->cards[i].id);
		else
			title = xstrdup(m->cards[i].name);
		m->cards[i].key = source_key(m->job->conn->id, title);
		free(title);
		free(k);
	}
	by = xcalloc(m->ncards + 1, sizeof(*by));
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < m->ncards; i++)
			by[i] = &m->cards[i];
		qsort(by, m->ncards, sizeof(*by), card_key_cmp);
		for (i = 0; i < m->ncards; i = j) {
			for (j = i + 1; j < m->ncards &&
			    strcmp(by[i]->key, by[j]->key) == 0; j++)
				;
			if (j - i == 1)
				continue;
			for (x = i; x < j; x++) {
				if (pass == 0)
					suf = source_slug(by[x]->id, 80);
				else {
					SHA256Init(&ctx);
					SHA256Update(&ctx,
					    (const unsigned char *)by[x]->path,
					    strlen(by[x]->path));
					SHA256Final(md, &ctx);
					xasprintf(&suf, "%02x%02x%02x%02x",
					    md[0], md[1], md[2], md[3]);
				}
				xasprintf(&k, "%s-%s", by[x]->key, suf);
				free(by[x]->key);
				by[x]->key = k;
				free(suf);
			}
		}
	}
	free(by);
}

static int
load(struct mb *m, const struct strv *files, char **errmsg)
{
	struct card	*c;
	cJSON		*doc;
	const cJSON	*meta, *last;
	long long	 id;
	size_t		 i;

	for (i = 0; i < files->n; i++) {
		const char *f = files->v[i];

		if (strcmp(f, "table.json") == 0 ||
		    strcmp(f, "database.json") == 0 ||
		    strcmp(f, "collection.json") == 0) {
			if (source_snapshot_json(m->job, f,
			    SOURCE_TEXT_MAX_BYTES, &doc, errmsg) == -1)
				return -1;
			if (f[0] == 't')
				m->tables = doc;
			else if (f[0] == 'd')
				m->databases = doc;
			else
				m->collections = doc;
			continue;
		}
		if (strncmp(f, "card/", 5) == 0) {
			m->layout = LAYOUT_API;
			if (source_snapshot_json(m->job, f,
			    SOURCE_TEXT_MAX_BYTES, &doc, errmsg) == -1)
				return -1;
		} else if (has_suffix(f, ".yaml")) {
			m->layout = LAYOUT_SERIAL;
			if (source_snapshot_yaml(m->job, f,
			    SOURCE_TEXT_MAX_BYTES, &doc, errmsg) == -1)
				return -1;
			meta = jget(doc, "serdes/meta");
			last = cJSON_GetArrayItem(meta,
			    cJSON_GetArraySize(meta) - 1);
			if (jstr(last, "model") == NULL ||
			    strcmp(jstr(last, "model"), "Card") != 0) {
				m->serial = xreallocarray(m->serial,
				    m->serial_paths.n + 1, sizeof(*m->serial));
				m->serial[m->serial_paths.n] = doc;
				strv_push(&m->serial_paths, f);
				continue;
			}
		} else
			continue;
		if (!cJSON_IsObject(doc) || jstr(doc, "name") == NULL ||
		    !cJSON_IsObject(jget(doc, "dataset_query"))) {
			xasprintf(errmsg, "%s: not a Metabase card (no name or "
			    "dataset_query)", f);
			cJSON_Delete(doc);
			return -1;
		}
		m->cards = xreallocarray(m->cards, m->ncards + 1,
		    sizeof(*m->cards));
		c = &m->cards[m->ncards++];
		memset(c, 0, sizeof(*c));
		c->path = xstrdup(f);
		strv_push(&c->raw, f);
		c->doc = doc;
		c->name = xstrdup(jstr(doc, "name"));
		if (m->layout == LAYOUT_API && jint(jget(doc, "id"), &id))
			xasprintf(&c->id, "%lld", id);
		else if (m->layout == LAYOUT_API)
			c->id = xstrndup(f + 5, strlen(f) - 5 - 5);
		else
			c->id = xstrdup(jstr(doc, "entity_id") != NULL ?
			    jstr(doc, "entity_id") : f);
	}
	if (m->ncards == 0) {
		xasprintf(errmsg, "%s: no Metabase cards staged",
		    m->job->staging_dir);
		return -1;
	}
	if (m->ncards > 1)
		qsort(m->cards, m->ncards, sizeof(*m->cards), card_path_cmp);
	return 0;
}

int
source_ingest_metabase(const struct source_job *job, struct source_result *res,
    char **errmsg)
{
	struct mb	 m;
	struct strv	 files = { 0 };
	size_t		 i;
	int		 rv = -1;

	memset(&m, 0, sizeof(m));
	m.job = job;
	m.res = res;
	if (source_snapshot_list(job, &files, errmsg) == -1)
		goto out;
	if (load(&m, &files, errmsg) == -1)
		goto out;
	if (job->conn->mappings_connection != NULL)
		m.wh = job->conn->mappings_connection;
	else if (job->warehouses != NULL && job->warehouses->n == 1)
		m.wh = job->warehouses->v[0];
	if (sl_load(&m.sl, job->worktree, errmsg) == -1)
		goto out;
	for (i = 0; i < m.ncards; i++)
		card_refs(&m, &m.cards[i]);
	assign_keys(&m);
	for (i = 0; i < m.ncards; i++)
		judge(&m, &m.cards[i]);
	for (i = 0; i < m.ncards; i++)
		if (!m.cards[i].skipped)
			project_card(&m, &m.cards[i]);
	if (source_plan_write(&m.plan, job->worktree, res, errmsg) == -1)
		goto out;
	rv = 0;
out:
	for (i = 0; i < m.ncards; i++) {
		struct card *c = &m.cards[i];

		free(c->path);
		cJSON_Delete(c->doc);
		free(c->id);
		free(c->name);
		free(c->key);
		strv_release(&c->tables);
		strv_release(&c->cards);
		strv_release(&c->missing);
		strv_release(&c->raw);
	}
	free(m.cards);
	cJSON_Delete(m.tables);
	cJSON_Delete(m.databases);
	cJSON_Delete(m.collections);
	for (i = 0; i < m.serial_paths.n; i++)
		cJSON_Delete(m.serial[i]);
	free(m.serial);
	strv_release(&m.serial_paths);
	sl_release(&m.sl);
	strv_release(&files);
	source_plan_release(&m.plan);
	return rv;
}
