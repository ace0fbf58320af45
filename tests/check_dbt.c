#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "srctest.h"

/*
 * tests/data/sources/dbt-small: two documented models (one backed by the
 * warehouse), an ephemeral model, an undocumented one, a versioned python
 * model, a source and a package model.
 */
static char *
small_file(const char *name, size_t *lenp)
{
	const char	*top = getenv("KTX_TOP_SRCDIR");
	char		*dir, *data;

	if (top == NULL || *top == '\0')
		top = SRCTEST_TOP_SRCDIR;
	xasprintf(&dir, "%s/tests/data/sources/dbt-small", top);
	data = st_read(dir, name, lenp);
	ck_assert_msg(data != NULL, "%s/%s", dir, name);
	free(dir);
	return data;
}

/* The warehouse "wh": main.orders with two columns. */
static void
orders_manifest(struct st_env *env)
{
	cJSON	*tables = cJSON_CreateObject(), *t, *cols, *c;

	t = cJSON_AddObjectToObject(tables, "orders");
	cJSON_AddStringToObject(t, "table", "main.orders");
	cols = cJSON_AddArrayToObject(t, "columns");
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", "order_id");
	cJSON_AddStringToObject(c, "type", "number");
	cJSON_AddItemToArray(cols, c);
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", "status");
	cJSON_AddStringToObject(c, "type", "string");
	cJSON_AddItemToArray(cols, c);
	st_shard(env->worktree, "wh", "main", tables);
	cJSON_Delete(tables);
	strv_push(&env->warehouses, "wh");
}

static void
small_project(struct st_env *env, int with_target)
{
	const char	*files[] = { "manifest.json", "catalog.json" };
	char		*p, *data;
	size_t		 i, len;

	st_env_init(env, "dbt", "dbt", "dbt");
	for (i = 0; i < 2; i++) {
		data = small_file(files[i], &len);
		xasprintf(&p, "%s/%s", with_target ? "dbt/target" : "dbt",
		    files[i]);
		st_write(env->project, p, data, len);
		free(p);
		free(data);
	}
}

static const char orders_page[] =
"---\n"
"summary: One row per order.\n"
"tags:\n"
"  - dbt\n"
"  - finance\n"
"sl_refs:\n"
"  - orders\n"
"usage_mode: auto\n"
"source: dbt\n"
"---\n"
"\n"
"# orders\n"
"\n"
"One row per order.\n"
"\n"
"Includes [\\[returns]] too.\n"
"\n"
"- dbt model: model.shop.orders\n"
"- Materialization: table\n"
"- Relation: main.orders\n"
"- Warehouse source: orders (connection wh)\n"
"\n"
"## Columns\n"
"\n"
"| Column | Type | Description |\n"
"| --- | --- | --- |\n"
"| ORDER_ID | INTEGER | Primary key |\n"
"| STATUS | VARCHAR | placed \\| shipped |\n"
"| note | text | Not in the warehouse |\n"
"\n"
"## Depends on\n"
"\n"
"- [[?page:dbt-stg-orders|stg_orders]] (model)\n"
"- [[?table:raw.orders_raw]] (source)\n"
"- [[?page:dbt-undoc|undoc]] (model)\n";

static const char orders_overlay[] =
"name: orders\n"
"descriptions:\n"
"  dbt: |-\n"
"    One row per order.\n"
"\n"
"    Includes [[returns]] too.\n"
"column_overrides:\n"
"  - name: order_id\n"
"    descriptions:\n"
"      dbt: Primary key\n"
"  - name: status\n"
"    descriptions:\n"
"      dbt: placed | shipped\n";

START_TEST(test_small_project)
{
	struct st_env			 env;
	const struct source_output	*o;
	const struct source_event	*ev;
	char				*s;

	small_project(&env, 1);
	orders_manifest(&env);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_uint_eq(env.res.staged.n, 2);
	ck_assert_str_eq(env.res.staged.v[0], "catalog.json");
	ck_assert_str_eq(env.res.staged.v[1], "manifest.json");

	s = st_read(env.worktree, "wiki/global/dbt-orders.md", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, orders_page);
	free(s);
	s = st_read(env.worktree, "semantic-layer/wh/orders.yaml", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, orders_overlay);
	free(s);
	st_sl_clean(env.worktree);

	/* One page per documented node, one overlay. */
	ck_assert_uint_eq(env.res.noutputs, 6);
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/dbt-stg-orders.md"));
	ck_assert_ptr_nonnull(st_output(&env.res, "wiki/global/dbt-eph.md"));
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/dbt-cust-v2.md"));
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/dbt-raw-orders.md"));
	o = st_output(&env.res, "semantic-layer/wh/orders.yaml");
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->kind, SOURCE_OVERLAY);
	ck_assert_str_eq(o->key, "wh/orders");
	ck_assert_uint_eq(o->raw_paths.n, 2);
	ck_assert_str_eq(o->raw_paths.v[0], "manifest.json");
	ck_assert_str_eq(o->raw_paths.v[1], "catalog.json");
	ck_assert(st_output(&env.res, "wiki/global/dbt-undoc.md") == NULL);
	ck_assert(st_output(&env.res, "wiki/global/dbt-other.md") == NULL);

	/* The python, versioned model. */
	s = st_read(env.worktree, "wiki/global/dbt-cust-v2.md", NULL);
	ck_assert_ptr_nonnull(strstr(s, "# cust v2\n"));
	ck_assert_ptr_nonnull(strstr(s, "- Language: python\n"));
	ck_assert_ptr_nonnull(strstr(s, "- Version: 2 (latest: 3)\n"));
	ck_assert_ptr_null(strstr(s, "sl_refs"));
	free(s);

	/* Skips and the reasons of pages without a source. */
	ck_assert_uint_eq(env.res.nskips, 1);
	ck_assert_str_eq(env.res.skips[0].item, "model.shop.undoc");
	ck_assert_str_eq(env.res.skips[0].reason, "no description");
	ck_assert_uint_eq(st_nevents(&env.res, "dbt_node_without_source"), 4);
	ev = st_event(&env.res, "dbt_package_nodes_ignored");
	ck_assert_ptr_nonnull(ev);
	s = cJSON_PrintUnformatted(ev->data);
	ck_assert_str_eq(s, "{\"project\":\"shop\",\"packages\":{\"pkg\":1}}");
	free(s);
	ev = st_event(&env.res, "dbt_node_without_source");
	s = cJSON_PrintUnformatted(ev->data);
	ck_assert_str_eq(s, "{\"node\":\"model.shop.cust.v2\",\"relation\":"
	    "\"main.cust_v2\",\"reason\":\"missing schema context: no "
	    "warehouse manifest entry for main.cust_v2\"}");
	free(s);
	s = st_read(env.worktree, "wiki/global/dbt-eph.md", NULL);
	ck_assert_ptr_null(strstr(s, "Relation"));
	free(s);

	/* Reconciled and gated as the worker does: requests resolved. */
	st_pipeline(&env, NULL);
	s = st_read(env.worktree, "wiki/global/dbt-orders.md", NULL);
	ck_assert_msg(strstr(s, "## Depends on\n\n"
	    "- [[dbt-stg-orders|stg_orders]] (model)\n"
	    "- raw.orders_raw (source)\n- undoc (model)\n") != NULL, "%s", s);
	free(s);
	st_env_release(&env);
}
END_TEST

START_TEST(test_artifacts_in_source_dir)
{
	struct st_env	env;

	small_project(&env, 0);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_ptr_nonnull(st_output(&env.res, "wiki/global/dbt-orders.md"));
	st_env_release(&env);
}
END_TEST

/* catalog.json is optional: the manifest alone gives the pages. */
START_TEST(test_without_catalog)
{
	struct st_env	 env;
	char		*p, *s;

	small_project(&env, 1);
	xasprintf(&p, "%s/dbt/target/catalog.json", env.project);
	ck_assert_int_eq(unlink(p), 0);
	free(p);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_uint_eq(env.res.staged.n, 1);
	ck_assert_str_eq(env.res.staged.v[0], "manifest.json");
	s = st_read(env.worktree, "wiki/global/dbt-orders.md", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(strstr(s, "# orders\n"));
	free(s);
	st_env_release(&env);
}
END_TEST

/* Copy the staged files to raw-sources/dbt/dbt/<sync>/, less skip. */
static void
snapshot_as(struct st_env *env, const char *sync, const char *skip)
{
	char	*data, *rel;
	size_t	 i, len;

	for (i = 0; i < env->res.staged.n; i++) {
		if (skip != NULL && strcmp(env->res.staged.v[i], skip) == 0)
			continue;
		data = st_read(env->staging, env->res.staged.v[i], &len);
		xasprintf(&rel, "raw-sources/dbt/dbt/%s/%s", sync,
		    env->res.staged.v[i]);
		st_write(env->worktree, rel, data, len);
		free(rel);
		free(data);
	}
}

/* The newest snapshot stands for a run that staged the same bytes. */
START_TEST(test_snapshot_reusable)
{
	struct st_env	 env;
	char		*used;

	small_project(&env, 1);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_ptr_null(source_snapshot_reusable(&env.job, "dbt",
	    &env.res.staged));
	snapshot_as(&env, "2026-01-01-000000-a", NULL);
	used = source_snapshot_reusable(&env.job, "dbt", &env.res.staged);
	ck_assert_str_eq(used, "2026-01-01-000000-a");
	free(used);
	/* Only the newest counts: one file short, then one byte off. */
	snapshot_as(&env, "2026-01-02-000000-b", "catalog.json");
	ck_assert_ptr_null(source_snapshot_reusable(&env.job, "dbt",
	    &env.res.staged));
	snapshot_as(&env, "2026-01-03-000000-c", NULL);
	st_writes(env.worktree, "raw-sources/dbt/dbt/2026-01-03-000000-c/"
	    "extra.json", "{}");
	ck_assert_ptr_null(source_snapshot_reusable(&env.job, "dbt",
	    &env.res.staged));
	/* Alone, then changed by one byte. */
	xasprintf(&used, "%s/raw-sources", env.worktree);
	st_rmrf(used);
	free(used);
	snapshot_as(&env, "2026-01-04-000000-d", NULL);
	used = source_snapshot_reusable(&env.job, "dbt", &env.res.staged);
	ck_assert_str_eq(used, "2026-01-04-000000-d");
	free(used);
	used = st_read(env.worktree, "raw-sources/dbt/dbt/2026-01-04-000000-d/"
	    "manifest.json", NULL);
	used[10] ^= 1;
	st_writes(env.worktree, "raw-sources/dbt/dbt/2026-01-04-000000-d/"
	    "manifest.json", used);
	free(used);
	ck_assert_ptr_null(source_snapshot_reusable(&env.job, "dbt",
	    &env.res.staged));
	st_env_release(&env);
}
END_TEST

START_TEST(test_no_warehouse_manifest)
{
	struct st_env	 env;
	char		*s;
	size_t		 i;

	small_project(&env, 1);
	strv_push(&env.warehouses, "wh");
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	for (i = 0; i < env.res.noutputs; i++)
		ck_assert_int_eq(env.res.outputs[i].kind, SOURCE_WIKI);
	s = st_read(env.worktree, "wiki/global/dbt-orders.md", NULL);
	ck_assert_ptr_null(strstr(s, "sl_refs"));
	free(s);
	s = cJSON_PrintUnformatted(st_event(&env.res,
	    "dbt_node_without_source")->data);
	ck_assert_ptr_nonnull(strstr(s, "missing schema context: no warehouse "
	    "manifest (semantic-layer/<wh>/_schema/)"));
	free(s);
	st_env_release(&env);
}
END_TEST

/* An overlay someone wrote keeps its fields; ours are merged in. */
START_TEST(test_overlay_merge)
{
	struct st_env	 env;
	char		*s, *first;

	small_project(&env, 1);
	orders_manifest(&env);
	st_writes(env.worktree, "semantic-layer/wh/orders.yaml",
	    "name: orders\ndescriptions:\n"
	    "  user: Orders as finance counts them\n  dbt: stale\n"
	    "measures:\n  - name: revenue\n"
	    "    expr: sum(amount)\ncolumn_overrides:\n"
	    "  - name: status\n    visibility: internal\n"
	    "  - name: order_id\n    descriptions:\n      dbt: old text\n");
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	s = st_read(env.worktree, "semantic-layer/wh/orders.yaml", NULL);
	ck_assert_str_eq(s,
	    "name: orders\ndescriptions:\n"
	    "  user: Orders as finance counts them\n  dbt: |-\n"
	    "    One row per order.\n\n"
	    "    Includes [[returns]] too.\nmeasures:\n"
	    "  - name: revenue\n    expr: sum(amount)\n"
	    "column_overrides:\n  - name: status\n"
	    "    visibility: internal\n    descriptions:\n"
	    "      dbt: placed | shipped\n  - name: order_id\n"
	    "    descriptions:\n      dbt: Primary key\n");
	st_sl_clean(env.worktree);
	/* A rerun reads its own output and changes nothing. */
	first = st_tree(env.worktree);
	st_env_rerun(&env);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_int_eq(st_output(&env.res,
	    "semantic-layer/wh/orders.yaml")->changed, 0);
	free(s);
	s = st_tree(env.worktree);
	ck_assert_str_eq(s, first);
	free(s);
	free(first);
	st_env_release(&env);
}
END_TEST

/* A standalone source replacing the manifest entry gets no overlay. */
START_TEST(test_standalone_source_not_overlaid)
{
	struct st_env	 env;
	const char	*sa = "name: orders\ntable: main.orders\n"
			    "grain: [order_id]\ncolumns:\n"
			    "  - {name: order_id, type: number}\n";
	char		*s;

	small_project(&env, 1);
	orders_manifest(&env);
	st_writes(env.worktree, "semantic-layer/wh/orders.yaml", sa);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	s = st_read(env.worktree, "semantic-layer/wh/orders.yaml", NULL);
	ck_assert_str_eq(s, sa);
	free(s);
	ck_assert_ptr_null(st_output(&env.res,
	    "semantic-layer/wh/orders.yaml"));
	s = cJSON_PrintUnformatted(st_event(&env.res,
	    "dbt_overlay_not_written")->data);
	ck_assert_str_eq(s, "{\"source\":\"orders\",\"path\":"
	    "\"semantic-layer/wh/orders.yaml\",\"reason\":\"a standalone "
	    "source replaces the manifest entry\"}");
	free(s);
	/* The source exists all the same: the page names it. */
	s = st_read(env.worktree, "wiki/global/dbt-orders.md", NULL);
	ck_assert_ptr_nonnull(strstr(s, "sl_refs:\n  - orders\n"));
	free(s);
	st_env_release(&env);
}
END_TEST

/* A file at the overlay's name that declares another source is left be. */
START_TEST(test_overlay_name_taken)
{
	struct st_env	 env;
	const char	*other = "name: not_orders\ndescriptions:\n  user: x\n";
	char		*s;

	small_project(&env, 1);
	orders_manifest(&env);
	st_writes(env.worktree, "semantic-layer/wh/orders.yaml", other);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	s = st_read(env.worktree, "semantic-layer/wh/orders.yaml", NULL);
	ck_assert_str_eq(s, other);
	free(s);
	s = cJSON_PrintUnformatted(st_event(&env.res,
	    "dbt_overlay_not_written")->data);
	ck_assert_str_eq(s, "{\"source\":\"orders\",\"path\":"
	    "\"semantic-layer/wh/orders.yaml\",\"reason\":\"the file "
	    "declares another source\"}");
	free(s);
	st_env_release(&env);
}
END_TEST

/* An overlay under another file name is the one updated. */
START_TEST(test_overlay_elsewhere)
{
	struct st_env	 env;
	char		*s;

	small_project(&env, 1);
	orders_manifest(&env);
	st_writes(env.worktree, "semantic-layer/wh/orders-extra.yml",
	    "name: orders\nmeasures:\n  - {name: n, expr: count(*)}\n");
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_ptr_null(st_read(env.worktree,
	    "semantic-layer/wh/orders.yaml",
	    NULL));
	s = st_read(env.worktree, "semantic-layer/wh/orders-extra.yml", NULL);
	ck_assert_msg(strstr(s, "measures:\n  - name: \"n\"\n    expr: "
	    "count(*)\ndescriptions:\n  dbt: |-\n") != NULL, "%s", s);
	free(s);
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "semantic-layer/wh/orders-extra.yml"));
	st_env_release(&env);
}
END_TEST

/* Each bad input fails naming the file and leaves the worktree as it was. */
static void
expect_failure(struct st_env *env, const char *want)
{
	char	*before, *after;

	st_writes(env->worktree, "wiki/global/keep.md",
	    "---\nsummary: x\nusage_mode: auto\n---\n\nx\n");
	before = st_tree(env->worktree);
	ck_assert_int_eq(st_run(env), -1);
	ck_assert_ptr_nonnull(env->err);
	ck_assert_msg(strstr(env->err, want) != NULL, "error \"%s\" lacks "
	    "\"%s\"", env->err, want);
	after = st_tree(env->worktree);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
}

START_TEST(test_missing_manifest)
{
	struct st_env	env;

	st_env_init(&env, "dbt", "dbt", "dbt");
	st_writes(env.project, "dbt/target/catalog.json", "{}");
	expect_failure(&env, "dbt: no target/manifest.json or manifest.json");
	st_env_release(&env);
}
END_TEST

START_TEST(test_broken_json)
{
	struct st_env	env;

	st_env_init(&env, "dbt", "dbt", "dbt");
	st_writes(env.project, "dbt/target/manifest.json", "{}");
	st_writes(env.project, "dbt/target/catalog.json",
	    "{\"nodes\": {\n  \"a\": [1, 2,,]\n}}\n");
	expect_failure(&env, "dbt/target/catalog.json:2:14: invalid JSON");
	st_env_release(&env);
}
END_TEST

START_TEST(test_not_utf8)
{
	struct st_env	env;

	st_env_init(&env, "dbt", "dbt", "dbt");
	st_writes(env.project, "dbt/target/manifest.json",
	    "{\"metadata\": {\"project_name\": \"shop\"},\n"
	    " \"nodes\": {\"x\": \"caf\xe9\"}}\n");
	expect_failure(&env, "dbt/target/manifest.json:2: invalid UTF-8");
	st_env_release(&env);
}
END_TEST

START_TEST(test_huge_file)
{
	struct st_env	 env;
	char		*p;
	int		 fd;

	st_env_init(&env, "dbt", "dbt", "dbt");
	st_writes(env.project, "dbt/manifest.json", "");
	xasprintf(&p, "%s/dbt/manifest.json", env.project);
	fd = open(p, O_WRONLY);
	ck_assert_int_ne(fd, -1);
	/* Sparse: the size is checked before anything is read. */
	ck_assert_int_eq(ftruncate(fd, (off_t)SOURCE_DBT_MAX_BYTES + 1), 0);
	close(fd);
	free(p);
	expect_failure(&env, "dbt/manifest.json: file is 268435457 bytes, "
	    "over the limit of 268435456");
	st_env_release(&env);
}
END_TEST

START_TEST(test_symlink_out_of_source_dir)
{
	struct st_env	 env;
	char		*outside, *link;

	st_env_init(&env, "dbt", "dbt", "dbt");
	st_writes(env.root, "elsewhere/manifest.json", "{}");
	st_writes(env.project, "dbt/target/.keep", "");
	xasprintf(&outside, "%s/elsewhere/manifest.json", env.root);
	xasprintf(&link, "%s/dbt/target/manifest.json", env.project);
	ck_assert_int_eq(symlink(outside, link), 0);
	expect_failure(&env, "dbt/target/manifest.json: symbolic link points "
	    "outside the source directory");
	free(outside);
	free(link);
	st_env_release(&env);
}
END_TEST

START_TEST(test_symlink_inside_is_followed)
{
	struct st_env	 env;
	char		*link;

	small_project(&env, 0);
	st_writes(env.project, "dbt/target/.keep", "");
	xasprintf(&link, "%s/dbt/target/manifest.json", env.project);
	ck_assert_int_eq(symlink("../manifest.json", link), 0);
	free(link);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_ptr_nonnull(st_output(&env.res, "wiki/global/dbt-orders.md"));
	st_env_release(&env);
}
END_TEST

/* A page directory that is a symbolic link: nothing is written anywhere. */
START_TEST(test_write_refuses_symlinked_dir)
{
	struct st_env	 env;
	char		*out, *link;
	struct strv	 files = { 0 };

	small_project(&env, 1);
	orders_manifest(&env);
	st_writes(env.root, "outside/.keep", "");
	st_writes(env.worktree, "wiki/.keep", "");
	xasprintf(&out, "%s/outside", env.root);
	xasprintf(&link, "%s/wiki/global", env.worktree);
	ck_assert_int_eq(symlink(out, link), 0);
	expect_failure(&env, "wiki/global: not a directory");
	/* The test's own page went through the link; no adapter output. */
	st_list(env.root, "outside", &files);
	ck_assert_uint_eq(files.n, 2);
	ck_assert_str_eq(files.v[0], "outside/.keep");
	ck_assert_str_eq(files.v[1], "outside/keep.md");
	strv_release(&files);
	free(out);
	free(link);
	st_env_release(&env);
}
END_TEST

START_TEST(test_staging_must_be_empty)
{
	struct st_env	env;

	small_project(&env, 1);
	st_writes(env.staging, "stale.json", "{}");
	expect_failure(&env, "staging directory is not empty");
	st_env_release(&env);
}
END_TEST

/*
 * The real fixtures.  The warehouse manifest is built from the catalog:
 * one shard per schema, one entry per relation with its columns.
 */
static void
copy_fixture(struct st_env *env, const char *fixture)
{
	char	*p, *data;
	size_t	 len;
	const char *files[] = { "manifest.json", "catalog.json" };
	size_t	 i;

	p = st_fixture(fixture);
	for (i = 0; i < 2; i++) {
		char *rel;

		data = st_read(p, files[i], &len);
		ck_assert_ptr_nonnull(data);
		xasprintf(&rel, "dbt/target/%s", files[i]);
		st_write(env->project, rel, data, len);
		free(rel);
		free(data);
	}
	free(p);
}

static size_t
catalog_manifest(struct st_env *env, const char *fixture)
{
	char		*p, *data;
	cJSON		*cat, *shards = cJSON_CreateObject(), *t, *cols, *c;
	const cJSON	*n, *col, *sh;
	const char	*groups[] = { "nodes", "sources" };
	size_t		 g, count = 0;

	p = st_fixture(fixture);
	data = st_read(p, "catalog.json", NULL);
	ck_assert_ptr_nonnull(data);
	cat = cJSON_Parse(data);
	ck_assert_ptr_nonnull(cat);
	for (g = 0; g < 2; g++) {
		cJSON_ArrayForEach(n, jget(cat, groups[g])) {
			const cJSON *md = jget(n, "metadata");
			const char *schema = jstr(md, "schema");
			const char *name = jstr(md, "name");
			cJSON *shard;
			char *table;

			shard = cJSON_GetObjectItemCaseSensitive(shards,
			    schema);
			if (shard == NULL)
				shard = cJSON_AddObjectToObject(shards, schema);
			if (cJSON_GetObjectItemCaseSensitive(shard,
			    name) != NULL)
				continue;
			t = cJSON_AddObjectToObject(shard, name);
			xasprintf(&table, "%s.%s", schema, name);
			cJSON_AddStringToObject(t, "table", table);
			free(table);
			cols = cJSON_AddArrayToObject(t, "columns");
			cJSON_ArrayForEach(col, jget(n, "columns")) {
				c = cJSON_CreateObject();
				cJSON_AddStringToObject(c, "name",
				    jstr(col, "name"));
				cJSON_AddStringToObject(c, "type", "string");
				cJSON_AddItemToArray(cols, c);
			}
			count++;
		}
	}
	cJSON_ArrayForEach(sh, shards)
		st_shard(env->worktree, "wh", sh->string, sh);
	strv_push(&env->warehouses, "wh");
	cJSON_Delete(shards);
	cJSON_Delete(cat);
	free(data);
	free(p);
	return count;
}

static size_t
count_kind(const struct source_result *res, enum source_output_kind kind)
{
	size_t	i, n = 0;

	for (i = 0; i < res->noutputs; i++)
		n += res->outputs[i].kind == kind;
	return n;
}

START_TEST(test_fixture_dbt_bouncer)
{
	struct st_env	 env;
	char		*s;
	const struct source_event *ev;

	st_env_init(&env, "dbt", "dbt", "dbt");
	copy_fixture(&env, "dbt/dbt-bouncer");
	ck_assert_uint_eq(catalog_manifest(&env, "dbt/dbt-bouncer"), 16);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	/* 13 documented models and 3 documented sources of the project. */
	ck_assert_uint_eq(count_kind(&env.res, SOURCE_WIKI), 16);
	/* The 10 documented models the duckdb catalog has built. */
	ck_assert_uint_eq(count_kind(&env.res, SOURCE_OVERLAY), 10);
	ck_assert_uint_eq(env.res.nskips, 2);
	ck_assert_str_eq(env.res.skips[0].item,
	    "model.dbt_bouncer_test_project.int_exclude_via_meta_config");
	ck_assert_str_eq(env.res.skips[1].item,
	    "source.dbt_bouncer_test_project."
	    "sources_that_dont_really_exist.Non_Conforming_Name");
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/dbt-customers-v1.md"));
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/dbt-customers-v3.md"));
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "semantic-layer/wh/customers_v2.yaml"));
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/dbt-sources-that-dont-really-exist-source-1.md"));
	st_sl_clean(env.worktree);

	/* The python model, backed. */
	s = st_read(env.worktree, "wiki/global/dbt-py-order-stats.md", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(strstr(s, "sl_refs:\n  - py_order_stats\n"));
	ck_assert_ptr_nonnull(strstr(s, "- Language: python\n"));
	ck_assert_ptr_nonnull(strstr(s, "- [[?page:dbt-stg-orders|stg_orders]] "
	    "(model)\n"));
	free(s);
	/* Ephemeral models: pages without sl_refs, and why. */
	s = st_read(env.worktree, "wiki/global/dbt-int-model-1.md", NULL);
	ck_assert_ptr_null(strstr(s, "sl_refs"));
	ck_assert_ptr_nonnull(strstr(s, "- Materialization: ephemeral\n"));
	free(s);
	ck_assert_uint_eq(st_nevents(&env.res, "dbt_node_without_source"), 6);
	/* The package's 24 models and 9 sources, the internal one. */
	ev = st_event(&env.res, "dbt_package_nodes_ignored");
	s = cJSON_PrintUnformatted(jget(ev->data, "packages"));
	ck_assert_str_eq(s, "{\"tiktok_ads\":33,\"internal_package\":1}");
	free(s);
	/* Versioned: each version its own relation and overlay. */
	s = st_read(env.worktree, "wiki/global/dbt-customers-v3.md", NULL);
	ck_assert_ptr_nonnull(strstr(s, "- Version: 3 (latest: 3)\n"));
	ck_assert_ptr_nonnull(strstr(s,
	    "- Relation: main_marts.customers_v3\n"));
	ck_assert_ptr_nonnull(strstr(s, "| customer_id_pk | BIGINT |"));
	free(s);
	st_pipeline(&env, NULL);
	/* A seed a model depends on is a table of the warehouse. */
	s = st_read(env.worktree, "wiki/global/dbt-stg-orders.md", NULL);
	ck_assert_msg(strstr(s,
	    "- `wh/table:main.raw_orders` (seed)\n") != NULL,
	    "%s", s);
	ck_assert_ptr_nonnull(strstr(s, "sl_refs:\n  - stg_orders\n"
	    "  - raw_orders\n"));
	free(s);
	st_env_release(&env);
}
END_TEST

static const char jaffle_customers_overlay[] =
"name: customers\n"
"descriptions:\n"
"  dbt: Customer overview data mart, offering key details for each unique "
"customer. One row per customer.\n"
"column_overrides:\n"
"  - name: customer_id\n"
"    descriptions:\n"
"      dbt: The unique key of the orders mart.\n"
"  - name: customer_name\n"
"    descriptions:\n"
"      dbt: Customers' full name.\n"
"  - name: count_lifetime_orders\n"
"    descriptions:\n"
"      dbt: Total number of orders a customer has ever placed.\n"
"  - name: first_ordered_at\n"
"    descriptions:\n"
"      dbt: The timestamp when a customer placed their first order.\n"
"  - name: last_ordered_at\n"
"    descriptions:\n"
"      dbt: The timestamp of a customer's most recent order.\n"
"  - name: lifetime_spend_pretax\n"
"    descriptions:\n"
"      dbt: The sum of all the pre-tax subtotals of every order a customer "
"has placed.\n"
"  - name: lifetime_tax_paid\n"
"    descriptions:\n"
"      dbt: The sum of all the tax portion of every order a customer has "
"placed.\n"
"  - name: lifetime_spend\n"
"    descriptions:\n"
"      dbt: The sum of all the order totals (including tax) that a customer "
"has ever placed.\n"
"  - name: customer_type\n"
"    descriptions:\n"
"      dbt: Options are 'new' or 'returning', indicating if a customer has "
"ordered more than once or has only placed their first order to date.\n";

START_TEST(test_fixture_dbterd)
{
	struct st_env	 env;
	char		*s;

	st_env_init(&env, "dbt", "dbt", "dbt");
	copy_fixture(&env, "dbt/dbterd");
	ck_assert_uint_eq(catalog_manifest(&env, "dbt/dbterd"), 19);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_uint_eq(count_kind(&env.res, SOURCE_WIKI), 13);
	ck_assert_uint_eq(count_kind(&env.res, SOURCE_OVERLAY), 13);
	ck_assert_uint_eq(env.res.nskips, 6);
	ck_assert_ptr_null(st_event(&env.res, "dbt_node_without_source"));
	ck_assert_ptr_null(st_event(&env.res, "dbt_package_nodes_ignored"));
	s = st_read(env.worktree, "semantic-layer/wh/customers.yaml", NULL);
	ck_assert_str_eq(s, jaffle_customers_overlay);
	free(s);
	st_sl_clean(env.worktree);
	s = st_read(env.worktree, "wiki/global/dbt-customers.md", NULL);
	ck_assert_ptr_nonnull(strstr(s, "---\nsummary: Customer overview data "
	    "mart, offering key details for each unique customer. One row per "
	    "customer.\ntags:\n  - dbt\nsl_refs:\n  - customers\n"));
	ck_assert_ptr_nonnull(strstr(s, "| customer_type | text | Options are "
	    "'new' or 'returning',"));
	ck_assert_ptr_nonnull(strstr(s, "## Depends on\n\n"
	    "- [[?page:dbt-stg-customers|stg_customers]] (model)\n"
	    "- [[?page:dbt-orders|orders]] (model)\n"));
	free(s);
	/* Sources: the relation is schema.identifier. */
	s = st_read(env.worktree, "wiki/global/dbt-ecom-raw-orders.md", NULL);
	ck_assert_ptr_nonnull(strstr(s, "sl_refs:\n  - raw_orders\n"));
	free(s);
	s = st_read(env.worktree, "wiki/global/dbt-stg-orders.md", NULL);
	ck_assert_ptr_nonnull(strstr(s,
	    "- [[?table:raw.raw_orders]] (source)\n"));
	free(s);
	st_pipeline(&env, NULL);
	s = st_read(env.worktree, "wiki/global/dbt-customers.md", NULL);
	ck_assert_ptr_nonnull(strstr(s, "- [[dbt-stg-customers|stg_customers]] "
	    "(model)\n- [[dbt-orders|orders]] (model)\n"));
	free(s);
	st_env_release(&env);
}
END_TEST

/* Without the warehouse manifest: pages, no sl_refs, no overlays. */
START_TEST(test_fixture_without_manifest)
{
	struct st_env	 env;
	struct strv	 files = { 0 };
	size_t		 i;
	char		*s;

	st_env_init(&env, "dbt", "dbt", "dbt");
	copy_fixture(&env, "dbt/dbterd");
	strv_push(&env.warehouses, "wh");
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_uint_eq(count_kind(&env.res, SOURCE_WIKI), 13);
	ck_assert_uint_eq(count_kind(&env.res, SOURCE_OVERLAY), 0);
	ck_assert_uint_eq(st_nevents(&env.res, "dbt_node_without_source"), 13);
	st_list(env.worktree, "wiki/global", &files);
	ck_assert_uint_eq(files.n, 13);
	for (i = 0; i < files.n; i++) {
		s = st_read(env.worktree, files.v[i], NULL);
		ck_assert_ptr_null(strstr(s, "sl_refs"));
		free(s);
	}
	strv_release(&files);
	ck_assert_ptr_null(st_read(env.worktree, "semantic-layer", NULL));
	st_pipeline(&env, NULL);
	st_env_release(&env);
}
END_TEST

START_TEST(test_fixture_deterministic_and_idempotent)
{
	struct st_env	 a, b;
	char		*ta, *tb;
	size_t		 i;

	st_env_init(&a, "dbt", "dbt", "dbt");
	st_env_init(&b, "dbt", "dbt", "dbt");
	copy_fixture(&a, "dbt/dbt-bouncer");
	copy_fixture(&b, "dbt/dbt-bouncer");
	catalog_manifest(&a, "dbt/dbt-bouncer");
	catalog_manifest(&b, "dbt/dbt-bouncer");
	ck_assert_msg(st_run(&a) == 0, "%s", a.err);
	ck_assert_msg(st_run(&b) == 0, "%s", b.err);
	ta = st_tree(a.worktree);
	tb = st_tree(b.worktree);
	ck_assert_str_eq(ta, tb);
	free(tb);
	st_env_rerun(&a);
	ck_assert_msg(st_run(&a) == 0, "%s", a.err);
	for (i = 0; i < a.res.noutputs; i++)
		ck_assert_msg(a.res.outputs[i].changed == 0, "%s changed",
		    a.res.outputs[i].path);
	tb = st_tree(a.worktree);
	ck_assert_str_eq(ta, tb);
	free(ta);
	free(tb);
	st_env_release(&a);
	st_env_release(&b);
}
END_TEST

/* A page over the gates' 8 MiB limit is skipped, not written. */
START_TEST(test_oversized_page_skipped)
{
	struct st_env	 env;
	struct sbuf	 b = { 0 };
	size_t		 i;

	st_env_init(&env, "dbt", "dbt", "dbt");
	sbuf_adds(&b, "{\"metadata\": {\"project_name\": \"p\"}, \"nodes\": {"
	    "\"model.p.big\": {\"resource_type\": \"model\", \"package_name\": "
	    "\"p\", \"name\": \"big\", \"schema\": \"s\", \"description\": \"");
	for (i = 0; i < (size_t)SOURCE_TEXT_MAX_BYTES / 8 + 1; i++)
		sbuf_adds(&b, "8 bytes ");
	sbuf_adds(&b, "\"}, \"model.p.small\": {\"resource_type\": \"model\", "
	    "\"package_name\": \"p\", \"name\": \"small\", \"schema\": \"s\", "
	    "\"description\": \"Small\"}}}\n");
	st_write(env.project, "dbt/manifest.json", b.s, b.len);
	sbuf_release(&b);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_uint_eq(env.res.noutputs, 1);
	ck_assert_str_eq(env.res.outputs[0].path, "wiki/global/dbt-small.md");
	ck_assert_uint_eq(env.res.nskips, 1);
	ck_assert_str_eq(env.res.skips[0].item, "wiki/global/dbt-big.md");
	ck_assert_ptr_nonnull(strstr(env.res.skips[0].reason,
	    " bytes, over the limit of 8388608"));
	st_env_release(&env);
}
END_TEST

/* A source_dir that holds the session worktree would read our output. */
START_TEST(test_source_dir_holds_worktree)
{
	struct st_env	env;

	small_project(&env, 1);
	free(env.conn.source_dir);
	env.conn.source_dir = xstrdup(".");
	expect_failure(&env, ".: holds the session worktree");
	st_env_release(&env);
}
END_TEST

/* ktx's file names for semantic-layer sources. */
START_TEST(test_sl_filename)
{
	static const char *const want[][2] = {
		{ "orders", "orders.yaml" },
		{ "stg_orders_2", "stg_orders_2.yaml" },
		{ "Non_Conforming_Name", "non_conforming_name-1041d093.yaml" },
		{ "con", "con-1143da2b.yaml" },
		{ "a b/c", "a_b_c-539138d5.yaml" },
	};
	char	*f;
	size_t	 i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		f = source_sl_filename(want[i][0]);
		ck_assert_str_eq(f, want[i][1]);
		free(f);
	}
	/* Over 64 bytes: the slug is cut, the hash tells names apart. */
	f = source_sl_filename("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxx");
	ck_assert_str_eq(f, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxx-c71bd109.yaml");
	free(f);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("dbt");
	TCase	*tc = tcase_create("small");
	TCase	*bad = tcase_create("malformed");
	TCase	*fx = tcase_create("fixtures");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_small_project);
	tcase_add_test(tc, test_sl_filename);
	tcase_add_test(tc, test_artifacts_in_source_dir);
	tcase_add_test(tc, test_without_catalog);
	tcase_add_test(tc, test_snapshot_reusable);
	tcase_add_test(tc, test_no_warehouse_manifest);
	tcase_add_test(tc, test_overlay_merge);
	tcase_add_test(tc, test_standalone_source_not_overlaid);
	tcase_add_test(tc, test_overlay_name_taken);
	tcase_add_test(tc, test_overlay_elsewhere);
	suite_add_tcase(s, tc);
	tcase_add_test(bad, test_missing_manifest);
	tcase_add_test(bad, test_broken_json);
	tcase_add_test(bad, test_not_utf8);
	tcase_add_test(bad, test_huge_file);
	tcase_add_test(bad, test_symlink_out_of_source_dir);
	tcase_add_test(bad, test_symlink_inside_is_followed);
	tcase_add_test(bad, test_write_refuses_symlinked_dir);
	tcase_add_test(bad, test_staging_must_be_empty);
	tcase_add_test(bad, test_oversized_page_skipped);
	tcase_add_test(bad, test_source_dir_holds_worktree);
	suite_add_tcase(s, bad);
	tcase_add_test(fx, test_fixture_dbt_bouncer);
	tcase_add_test(fx, test_fixture_dbterd);
	tcase_add_test(fx, test_fixture_without_manifest);
	tcase_add_test(fx, test_fixture_deterministic_and_idempotent);
	tcase_set_timeout(fx, 120);
	suite_add_tcase(s, fx);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
