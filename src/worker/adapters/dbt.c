/*
 * The dbt adapter: a project's compiled artifacts, target/manifest.json and
 * (when present) target/catalog.json, become wiki pages and overlays.
 *
 * Input: source_dir/target/manifest.json, else source_dir/manifest.json;
 * catalog.json beside the manifest chosen.  Staged as manifest.json and
 * catalog.json.
 *
 * Which nodes: the models and sources of the root project (the manifest's
 * metadata.project_name); models and sources of installed packages are
 * counted in a trace event and otherwise left out, since the package
 * documents them.  A node is documented when it or one of its columns has a
 * description; the others are skipped ("no description").  Every version of
 * a versioned model is a node of its own (key "...-v2").
 *
 * A documented node gets the page <conn>-<name>[-v<version>] (sources:
 * <conn>-<source_name>-<name>): the description, the materialization,
 * language and relation, the columns with their catalog types and
 * descriptions, and its depends_on as link requests (models by page key,
 * seeds, snapshots and sources by table).  When a warehouse manifest backs
 * its relation ("<schema>.<alias>" for models, "<schema>.<identifier>" for
 * sources, ktx's tableExists), the page names that source in sl_refs and
 * the overlay semantic-layer/<wh>/<source>.yaml gets descriptions.dbt and
 * column_overrides[].descriptions.dbt for the columns the manifest entry
 * has; an overlay that exists is updated in place (its other fields kept).
 * Ephemeral models have no relation; unbacked nodes get a page without
 * sl_refs and a trace event saying why.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sources.h"

#define DBT_MANIFEST	"manifest.json"
#define DBT_CATALOG	"catalog.json"

int
source_stage_dbt(const struct source_job *job, struct source_result *res,
    char **errmsg)
{
	static const char *const dirs[] = { "target/", "" };
	struct source_input	 in;
	char			*man = NULL, *cat = NULL;
	size_t			 i;
	int			 kind, rv = -1;

	if (source_input_open(job, &in, errmsg) == -1)
		return -1;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && man == NULL; i++) {
		xasprintf(&man, "%s%s", dirs[i], DBT_MANIFEST);
		if ((kind = source_input_kind(&in, man, errmsg)) == -1)
			goto out;
		if (kind != 1) {
			free(man);
			man = NULL;
			continue;
		}
		xasprintf(&cat, "%s%s", dirs[i], DBT_CATALOG);
	}
	if (man == NULL) {
		xasprintf(errmsg, "%s: no target/%s or %s", in.name,
		    DBT_MANIFEST, DBT_MANIFEST);
		goto out;
	}
	if (source_staging_prepare(job, errmsg) == -1)
		goto out;
	if (source_stage_file(job, &in, man, DBT_MANIFEST, SOURCE_DBT_MAX_BYTES,
	    SOURCE_FMT_JSON, res, errmsg) == -1)
		goto out;
	if ((kind = source_input_kind(&in, cat, errmsg)) == -1)
		goto out;
	if (kind == 1 && source_stage_file(job, &in, cat, DBT_CATALOG,
	    SOURCE_DBT_MAX_BYTES, SOURCE_FMT_JSON, res, errmsg) == -1)
		goto out;
	source_staged_sort(res);
	rv = 0;
out:
	free(man);
	free(cat);
	source_input_release(&in);
	return rv;
}

/* A model or source of the root project. */
struct dbt_node {
	const char	*uid;
	const cJSON	*node;
	const cJSON	*cat;		/* its catalog entry, or NULL */
	int		 is_source;
	char		*label;		/* "customers v2", "ecom.raw_orders" */
	char		*key;		/* page key if documented, or NULL */
	char		*relation;	/* "<schema>.<name>", or NULL */
};

struct dbt {
	const struct source_job	*job;
	struct source_result	*res;
	cJSON			*manifest;
	cJSON			*catalog;
	const char		*project;
	struct dbt_node		*nodes;
	size_t			 nnodes;
	struct sl		 sl;		/* the worktree's */
	struct strv		 raw;		/* provenance of every output */
	struct strv		 overlays;	/* "<wh>/<source>" written */
	struct source_plan	 plan;
};

static int
node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dbt_node *)a)->uid,
	    ((const struct dbt_node *)b)->uid);
}

static int
has_text(const char *s)
{
	if (s == NULL)
		return 0;
	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r')
			return 1;
	return 0;
}

static int
documented(const cJSON *node)
{
	const cJSON	*c;

	if (has_text(jstr(node, "description")))
		return 1;
	cJSON_ArrayForEach(c, jget(node, "columns"))
		if (has_text(jstr(c, "description")))
			return 1;
	return 0;
}

/* A string or number as text ("2", "1.5"), or NULL.  Caller frees. */
static char *
scalar_text(const cJSON *v)
{
	long long	 n;
	char		*s;

	if (cJSON_IsString(v))
		return xstrdup(v->valuestring);
	if (jint(v, &n)) {
		xasprintf(&s, "%lld", n);
		return s;
	}
	if (cJSON_IsNumber(v)) {
		xasprintf(&s, "%g", v->valuedouble);
		return s;
	}
	return NULL;
}

/* The version of a versioned model as text, or NULL.  Caller frees. */
static char *
version_text(const cJSON *node)
{
	return scalar_text(jget(node, "version"));
}

/* "<schema>.<alias or identifier or name>" of a relation node, or NULL. */
static char *
relation_of(const cJSON *node, int is_source)
{
	const char	*schema = jstr(node, "schema");
	const char	*name;
	const char	*mat;
	char		*s;

	mat = jstr(jget(node, "config"), "materialized");
	if (mat != NULL && strcmp(mat, "ephemeral") == 0)
		return NULL;
	name = is_source ? jstr(node, "identifier") : jstr(node, "alias");
	if (name == NULL)
		name = jstr(node, "name");
	if (name == NULL)
		return NULL;
	if (schema == NULL || *schema == '\0')
		return xstrdup(name);
	xasprintf(&s, "%s.%s", schema, name);
	return s;
}

static void
add_node(struct dbt *d, const char *uid, const cJSON *node, int is_source)
{
	struct dbt_node	*n;
	const char	*name = jstr(node, "name");
	char		*ver, *title;

	d->nodes = xreallocarray(d->nodes, d->nnodes + 1, sizeof(*d->nodes));
	n = &d->nodes[d->nnodes++];
	memset(n, 0, sizeof(*n));
	n->uid = uid;
	n->node = node;
	n->is_source = is_source;
	n->cat = jget(jget(d->catalog, is_source ? "sources" : "nodes"), uid);
	ver = version_text(node);
	if (is_source)
		xasprintf(&n->label, "%s.%s", jstr(node, "source_name") !=
		    NULL ? jstr(node, "source_name") : "source", name);
	else if (ver != NULL)
		xasprintf(&n->label, "%s v%s", name, ver);
	else
		n->label = xstrdup(name);
	if (documented(node)) {
		if (is_source)
			xasprintf(&title, "%s %s", jstr(node, "source_name") !=
			    NULL ? jstr(node, "source_name") : "source", name);
		else if (ver != NULL)
			xasprintf(&title, "%s v%s", name, ver);
		else
			title = xstrdup(name);
		n->key = source_key(d->job->conn->id, title);
		free(title);
	}
	n->relation = relation_of(node, is_source);
	free(ver);
}

/* Collect the root project's models and sources; count the others. */
static void
collect(struct dbt *d)
{
	const cJSON	*n;
	cJSON		*pkgs = cJSON_CreateObject(), *cnt;
	const char	*pkg, *type;
	int		 is_source;
	const char	*groups[] = { "nodes", "sources" };
	size_t		 g;

	for (g = 0; g < 2; g++) {
		cJSON_ArrayForEach(n, jget(d->manifest, groups[g])) {
			type = jstr(n, "resource_type");
			is_source = type != NULL && strcmp(type, "source") == 0;
			if (type == NULL || (!is_source &&
			    strcmp(type, "model") != 0) || n->string == NULL ||
			    jstr(n, "name") == NULL)
				continue;
			pkg = jstr(n, "package_name");
			if (pkg != NULL && strcmp(pkg, d->project) == 0) {
				add_node(d, n->string, n, is_source);
				continue;
			}
			if (pkg == NULL)
				pkg = "(none)";
			if ((cnt = cJSON_GetObjectItemCaseSensitive(pkgs,
			    pkg)) == NULL)
				cJSON_AddNumberToObject(pkgs, pkg, 1);
			else
				cJSON_SetNumberValue(cnt, cnt->valuedouble + 1);
		}
	}
	if (d->nnodes > 1)
		qsort(d->nodes, d->nnodes, sizeof(*d->nodes), node_cmp);
	if (pkgs->child != NULL) {
		cJSON *data = cJSON_CreateObject();

		cJSON_AddStringToObject(data, "project", d->project);
		cJSON_AddItemToObject(data, "packages", pkgs);
		source_event_add(d->res, "dbt_package_nodes_ignored", data);
	} else
		cJSON_Delete(pkgs);
}

static const struct dbt_node *
find_node(const struct dbt *d, const char *uid)
{
	struct dbt_node	 key = { 0 };

	key.uid = uid;
	return bsearch(&key, d->nodes, d->nnodes, sizeof(*d->nodes), node_cmp);
}

/* A table cell: one line, "|" escaped, "[[" defused. */
static void
add_cell(struct sbuf *b, const char *s)
{
	struct sbuf	 t = { 0 };
	size_t		 i;

	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '\n' || *s == '\r' || *s == '\t')
			sbuf_addc(&t, ' ');
		else if (*s == '|')
			sbuf_adds(&t, "\\|");
		else
			sbuf_addc(&t, *s);
	}
	i = 0;
	while (i < t.len && t.s[i] == ' ')
		i++;
	while (t.len > i && t.s[t.len - 1] == ' ')
		t.s[--t.len] = '\0';
	if (t.len > i)
		source_add_prose(b, t.s + i, t.len - i);
	sbuf_release(&t);
}

/* The catalog column matching name (case-insensitively), or NULL. */
static const cJSON *
cat_column(const cJSON *cat, const char *name)
{
	const cJSON	*c;

	cJSON_ArrayForEach(c, jget(cat, "columns"))
		if (c->string != NULL && strcasecmp(c->string, name) == 0)
			return c;
	return NULL;
}

static const cJSON *
man_column(const cJSON *node, const char *name)
{
	const cJSON	*c;

	cJSON_ArrayForEach(c, jget(node, "columns"))
		if (c->string != NULL && strcasecmp(c->string, name) == 0)
			return c;
	return NULL;
}

static int
cat_index_cmp(const void *a, const void *b)
{
	const cJSON	*x = *(const cJSON *const *)a;
	const cJSON	*y = *(const cJSON *const *)b;
	long long	 i = 0, j = 0;

	jint(jget(x, "index"), &i);
	jint(jget(y, "index"), &j);
	if (i != j)
		return i < j ? -1 : 1;
	return strcmp(x->string, y->string);
}

/*
 * The columns: the catalog's in their index order, then the manifest's
 * the catalog lacks, in manifest order.  Each row: name, type,
 * description.
 */
static void
add_columns(struct sbuf *b, const struct dbt_node *n)
{
	const cJSON	**cc = NULL, *c, *m;
	size_t		  ncc = 0, i;
	int		  rows = 0;

	cJSON_ArrayForEach(c, jget(n->cat, "columns"))
		if (c->string != NULL) {
			cc = xreallocarray(cc, ncc + 1, sizeof(*cc));
			cc[ncc++] = c;
		}
	if (ncc > 1)
		qsort(cc, ncc, sizeof(*cc), cat_index_cmp);
	for (i = 0; i < ncc; i++) {
		if (rows++ == 0)
			sbuf_adds(b, "\n## Columns\n\n| Column | Type | "
			    "Description |\n| --- | --- | --- |\n");
		m = man_column(n->node, cc[i]->string);
		sbuf_adds(b, "| ");
		add_cell(b, jstr(cc[i], "name") != NULL ? jstr(cc[i], "name") :
		    cc[i]->string);
		sbuf_adds(b, " | ");
		add_cell(b, jstr(cc[i], "type"));
		sbuf_adds(b, " | ");
		add_cell(b, jstr(m, "description"));
		sbuf_adds(b, " |\n");
	}
	cJSON_ArrayForEach(m, jget(n->node, "columns")) {
		if (m->string == NULL || cat_column(n->cat, m->string) != NULL)
			continue;
		if (rows++ == 0)
			sbuf_adds(b, "\n## Columns\n\n| Column | Type | "
			    "Description |\n| --- | --- | --- |\n");
		sbuf_adds(b, "| ");
		add_cell(b, jstr(m, "name") != NULL ? jstr(m, "name") :
		    m->string);
		sbuf_adds(b, " | ");
		add_cell(b, jstr(m, "data_type"));
		sbuf_adds(b, " | ");
		add_cell(b, jstr(m, "description"));
		sbuf_adds(b, " |\n");
	}
	free(cc);
}

/* depends_on: models by page key, seeds, snapshots and sources by table. */
static void
add_depends(struct dbt *d, struct sbuf *b, const struct dbt_node *n)
{
	const cJSON		*u, *dep;
	const struct dbt_node	*dn;
	const char		*type, *name;
	char			*key, *rel, *title;
	int			 items = 0;

	cJSON_ArrayForEach(u, jget(jget(n->node, "depends_on"), "nodes")) {
		if (!cJSON_IsString(u))
			continue;
		dep = jget(jget(d->manifest, "nodes"), u->valuestring);
		if (dep == NULL)
			dep = jget(jget(d->manifest, "sources"),
			    u->valuestring);
		type = jstr(dep, "resource_type");
		name = jstr(dep, "name");
		if (type == NULL || name == NULL)
			continue;
		if (items++ == 0)
			sbuf_adds(b, "\n## Depends on\n\n");
		sbuf_adds(b, "- ");
		if (strcmp(type, "model") == 0) {
			dn = find_node(d, u->valuestring);
			if (dn != NULL && dn->key != NULL)
				source_link_page(b, dn->key, dn->label);
			else {
				char *ver = version_text(dep);

				if (ver != NULL)
					xasprintf(&title, "%s v%s", name, ver);
				else
					title = xstrdup(name);
				key = source_key(d->job->conn->id, title);
				source_link_page(b, key, title);
				free(key);
				free(title);
				free(ver);
			}
			sbuf_adds(b, " (model)\n");
			continue;
		}
		rel = relation_of(dep, strcmp(type, "source") == 0);
		if (rel != NULL && (strcmp(type, "seed") == 0 ||
		    strcmp(type, "snapshot") == 0 ||
		    strcmp(type, "source") == 0))
			source_link_table(b, NULL, rel);
		else
			add_cell(b, name);
		sbuf_addf(b, " (%s)\n", type);
		free(rel);
	}
}

/* The warehouse source backing n's relation, and its connection. */
static const struct sl_source *
backing(const struct dbt *d, const struct dbt_node *n, const char **whp)
{
	const struct strv	*whs = d->job->warehouses;
	const struct sl_source	*t;
	size_t			 i;

	for (i = 0; n->relation != NULL && whs != NULL && i < whs->n; i++) {
		t = sl_table_find(&d->sl, whs->v[i], n->relation);
		if (t != NULL) {
			*whp = whs->v[i];
			return t;
		}
	}
	return NULL;
}

static void
unbacked_event(struct dbt *d, const struct dbt_node *n)
{
	const struct strv	*whs = d->job->warehouses;
	cJSON			*data = cJSON_CreateObject();
	char			*reason;
	size_t			 i, present = 0, nwhs;

	nwhs = whs != NULL ? whs->n : 0;
	for (i = 0; i < nwhs; i++)
		present += source_has_manifest(&d->sl, whs->v[i]);
	if (n->relation == NULL)
		reason = xstrdup("ephemeral model: no relation in the "
		    "warehouse");
	else if (nwhs == 0)
		reason = xstrdup("missing schema context: no warehouse "
		    "connection");
	else if (present == 0)
		reason = xstrdup("missing schema context: no warehouse "
		    "manifest (semantic-layer/<wh>/_schema/)");
	else
		xasprintf(&reason, "missing schema context: no warehouse "
		    "manifest entry for %s", n->relation);
	cJSON_AddStringToObject(data, "node", n->uid);
	if (n->relation != NULL)
		cJSON_AddStringToObject(data, "relation", n->relation);
	cJSON_AddStringToObject(data, "reason", reason);
	free(reason);
	source_event_add(d->res, "dbt_node_without_source", data);
}

static void
overlay_event(struct dbt *d, const char *source, const char *path,
    const char *reason)
{
	cJSON	*data = cJSON_CreateObject();

	cJSON_AddStringToObject(data, "source", source);
	if (path != NULL)
		cJSON_AddStringToObject(data, "path", path);
	cJSON_AddStringToObject(data, "reason", reason);
	source_event_add(d->res, "dbt_overlay_not_written", data);
}

/* Remove key from obj when present. */
static void
jdel(cJSON *obj, const char *key)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
}

/* obj[key] as an object, created (appended) when absent or not one. */
static cJSON *
jobj(cJSON *obj, const char *key)
{
	cJSON	*v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (cJSON_IsObject(v))
		return v;
	jdel(obj, key);
	v = cJSON_CreateObject();
	cJSON_AddItemToObject(obj, key, v);
	return v;
}

/* Set (or, for an empty text, remove) descriptions.dbt of obj. */
static void
set_dbt_desc(cJSON *obj, const char *text)
{
	cJSON	*desc = cJSON_GetObjectItemCaseSensitive(obj, "descriptions");

	if (!has_text(text)) {
		if (cJSON_IsObject(desc)) {
			jdel(desc, "dbt");
			if (desc->child == NULL)
				jdel(obj, "descriptions");
		}
		return;
	}
	desc = jobj(obj, "descriptions");
	if (cJSON_GetObjectItemCaseSensitive(desc, "dbt") != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(desc, "dbt",
		    cJSON_CreateString(text));
	else
		cJSON_AddStringToObject(desc, "dbt", text);
}

/*
 * Build the overlay for source t of warehouse wh from node n, merged into
 * the overlay that is there.  0 with the file's path and contents in
 * *relp and *datap (both NULL: nothing to write), or -1.
 */
static int
overlay(struct dbt *d, const struct dbt_node *n, const char *wh,
    const struct sl_source *t, char **relp, char **datap, char **errmsg)
{
	cJSON		*doc = NULL, *ovr, *e, *next;
	const cJSON	*m;
	const char	*col, *name;
	char		*file, *path = NULL, *rel = NULL, *buf;
	struct sbuf	 b = { 0 };
	size_t		 len;
	int		 rv = -1, fresh;

	*relp = *datap = NULL;
	if (t->kind != SL_SOURCE_MANIFEST) {
		overlay_event(d, t->name, t->pos.path, "a standalone source "
		    "replaces the manifest entry");
		return 0;
	}
	if (t->overlay_path != NULL)
		rel = xstrdup(t->overlay_path);
	else {
		file = source_sl_filename(t->name);
		xasprintf(&rel, "semantic-layer/%s/%s", wh, file);
		free(file);
		if (sl_file_find(&d->sl, rel) != NULL) {
			overlay_event(d, t->name, rel, "the file declares "
			    "another source");
			free(rel);
			return 0;
		}
	}
	xasprintf(&path, "%s/%s", d->job->worktree, rel);
	if (t->overlay_path != NULL) {
		if (source_read_text(path, rel, SOURCE_TEXT_MAX_BYTES, &buf,
		    &len, errmsg) == -1)
			goto out;
		rv = source_yaml_parse(rel, buf, len, &doc, errmsg);
		free(buf);
		if (rv == -1)
			goto out;
		rv = -1;
		if (!cJSON_IsObject(doc)) {
			xasprintf(errmsg, "%s: not a mapping", rel);
			goto out;
		}
		fresh = 0;
	} else {
		doc = cJSON_CreateObject();
		cJSON_AddStringToObject(doc, "name", t->name);
		fresh = 1;
	}
	set_dbt_desc(doc, jstr(n->node, "description"));
	ovr = cJSON_GetObjectItemCaseSensitive(doc, "column_overrides");
	if (!cJSON_IsArray(ovr)) {
		jdel(doc, "column_overrides");
		ovr = cJSON_CreateArray();
		cJSON_AddItemToObject(doc, "column_overrides", ovr);
	}
	/* Entries there: set or clear their dbt description. */
	for (e = ovr->child; e != NULL; e = next) {
		next = e->next;
		if ((name = jstr(e, "name")) == NULL)
			continue;
		m = source_column(t, name) != NULL ? man_column(n->node, name) :
		    NULL;
		set_dbt_desc(e, jstr(m, "description"));
		if (cJSON_GetArraySize(e) == 1)
			cJSON_Delete(cJSON_DetachItemViaPointer(ovr, e));
	}
	/* Columns with a description the overlay does not list yet. */
	cJSON_ArrayForEach(m, jget(n->node, "columns")) {
		if (m->string == NULL || !has_text(jstr(m, "description")) ||
		    (col = source_column(t, m->string)) == NULL)
			continue;
		cJSON_ArrayForEach(e, ovr)
			if (jstr(e, "name") != NULL &&
			    strcasecmp(jstr(e, "name"), col) == 0)
				break;
		if (e != NULL)
			continue;
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", col);
		set_dbt_desc(e, jstr(m, "description"));
		cJSON_AddItemToArray(ovr, e);
	}
	if (ovr->child == NULL)
		jdel(doc, "column_overrides");
	if (fresh && cJSON_GetArraySize(doc) == 1) {
		rv = 0;
		goto out;
	}
	source_yaml_emit(doc, &b);
	*datap = sbuf_take(&b);
	*relp = rel;
	rel = NULL;
	rv = 0;
out:
	cJSON_Delete(doc);
	free(path);
	free(rel);
	return rv;
}

static int
project_node(struct dbt *d, const struct dbt_node *n, char **errmsg)
{
	struct source_page	 pg = { 0 };
	struct sbuf		 b = { 0 };
	const struct sl_source	*t;
	const cJSON		*tag;
	const char		*wh = NULL, *desc, *mat, *lang;
	char			*fallback, *data, *okey, *ver, *latest, *rel;
	size_t			 i;
	int			 rv = -1;

	desc = jstr(n->node, "description");
	pg.key = xstrdup(n->key);
	xasprintf(&fallback, "dbt %s %s", n->is_source ? "source" : "model",
	    n->label);
	pg.summary = source_summary(desc != NULL ? desc : "", fallback);
	free(fallback);
	strv_push(&pg.tags, "dbt");
	cJSON_ArrayForEach(tag, jget(n->node, "tags")) {
		if (!cJSON_IsString(tag) || *tag->valuestring == '\0')
			continue;
		for (i = 0; i < pg.tags.n; i++)
			if (strcmp(pg.tags.v[i], tag->valuestring) == 0)
				break;
		if (i == pg.tags.n)
			strv_push(&pg.tags, tag->valuestring);
	}
	for (i = 0; i < d->raw.n; i++)
		strv_push(&pg.raw_paths, d->raw.v[i]);

	sbuf_addf(&b, "# %s\n\n", n->label);
	if (has_text(desc)) {
		source_add_prose(&b, desc, strlen(desc));
		sbuf_adds(&b, "\n\n");
	}
	sbuf_addf(&b, "- dbt %s: %s\n", n->is_source ? "source" : "model",
	    n->uid);
	mat = jstr(jget(n->node, "config"), "materialized");
	if (!n->is_source && mat != NULL)
		sbuf_addf(&b, "- Materialization: %s\n", mat);
	lang = jstr(n->node, "language");
	if (lang != NULL && strcmp(lang, "sql") != 0)
		sbuf_addf(&b, "- Language: %s\n", lang);
	if ((ver = version_text(n->node)) != NULL) {
		latest = scalar_text(jget(n->node, "latest_version"));
		sbuf_addf(&b, "- Version: %s", ver);
		if (latest != NULL)
			sbuf_addf(&b, " (latest: %s)", latest);
		sbuf_addc(&b, '\n');
		free(ver);
		free(latest);
	}
	if (n->relation != NULL)
		sbuf_addf(&b, "- Relation: %s\n", n->relation);

	t = backing(d, n, &wh);
	if (t != NULL) {
		sbuf_addf(&b, "- Warehouse source: %s (connection %s)\n",
		    t->name, wh);
		strv_push(&pg.sl_refs, t->name);
	} else
		unbacked_event(d, n);

	add_columns(&b, n);
	if (!n->is_source)
		add_depends(d, &b, n);
	pg.body = sbuf_take(&b);
	source_plan_page(&d->plan, &pg, d->job->conn->id);

	if (t != NULL) {
		xasprintf(&okey, "%s/%s", wh, t->name);
		for (i = 0; i < d->overlays.n; i++)
			if (strcmp(d->overlays.v[i], okey) == 0)
				break;
		if (i < d->overlays.n) {
			cJSON *ev = cJSON_CreateObject();

			cJSON_AddStringToObject(ev, "node", n->uid);
			cJSON_AddStringToObject(ev, "source", okey);
			cJSON_AddStringToObject(ev, "reason", "an earlier "
			    "node already describes this source");
			source_event_add(d->res, "dbt_overlay_not_written", ev);
			free(okey);
		} else {
			strv_push_owned(&d->overlays, okey);
			if (overlay(d, n, wh, t, &rel, &data, errmsg) == -1)
				goto out;
			if (data != NULL)
				source_plan_overlay(&d->plan, rel, okey, data,
				    &d->raw);
		}
	}
	rv = 0;
out:
	source_page_release(&pg);
	return rv;
}

int
source_ingest_dbt(const struct source_job *job, struct source_result *res,
    char **errmsg)
{
	struct dbt	 d;
	struct strv	 files = { 0 };
	size_t		 i;
	int		 rv = -1, have_catalog = 0;

	memset(&d, 0, sizeof(d));
	d.job = job;
	d.res = res;
	if (source_snapshot_list(job, &files, errmsg) == -1)
		goto out;
	for (i = 0; i < files.n; i++)
		have_catalog |= strcmp(files.v[i], DBT_CATALOG) == 0;
	if (source_snapshot_json(job, DBT_MANIFEST, SOURCE_DBT_MAX_BYTES,
	    &d.manifest, errmsg) == -1)
		goto out;
	strv_push(&d.raw, DBT_MANIFEST);
	if (have_catalog) {
		if (source_snapshot_json(job, DBT_CATALOG, SOURCE_DBT_MAX_BYTES,
		    &d.catalog, errmsg) == -1)
			goto out;
		strv_push(&d.raw, DBT_CATALOG);
	}
	d.project = jstr(jget(d.manifest, "metadata"), "project_name");
	if (d.project == NULL || !cJSON_IsObject(jget(d.manifest, "nodes"))) {
		xasprintf(errmsg, "%s: not a dbt manifest (no "
		    "metadata.project_name or nodes)", DBT_MANIFEST);
		goto out;
	}
	if (sl_load(&d.sl, job->worktree, errmsg) == -1)
		goto out;
	collect(&d);
	for (i = 0; i < d.nnodes; i++) {
		if (d.nodes[i].key == NULL) {
			source_skip_add(res, d.nodes[i].uid, "no description",
			    &d.raw);
			continue;
		}
		if (project_node(&d, &d.nodes[i], errmsg) == -1)
			goto out;
	}
	if (source_plan_write(&d.plan, job->worktree, res, errmsg) == -1)
		goto out;
	rv = 0;
out:
	for (i = 0; i < d.nnodes; i++) {
		free(d.nodes[i].label);
		free(d.nodes[i].key);
		free(d.nodes[i].relation);
	}
	free(d.nodes);
	sl_release(&d.sl);
	cJSON_Delete(d.manifest);
	cJSON_Delete(d.catalog);
	strv_release(&d.raw);
	strv_release(&d.overlays);
	strv_release(&files);
	source_plan_release(&d.plan);
	return rv;
}
