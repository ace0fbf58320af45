#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "srctest.h"

/* ---- the SQL scanner ---- */

static void
expect_refs(const char *sql, const char *tables, const char *cards)
{
	struct sql_refs	 r = { 0 };
	struct sbuf	 t = { 0 }, c = { 0 };
	size_t		 i;

	sql_refs_scan(sql, &r);
	for (i = 0; i < r.tables.n; i++)
		sbuf_addf(&t, "%s%s", i > 0 ? " " : "", r.tables.v[i]);
	for (i = 0; i < r.cards.n; i++)
		sbuf_addf(&c, "%s%s", i > 0 ? " " : "", r.cards.v[i]);
	ck_assert_msg(strcmp(t.s != NULL ? t.s : "", tables) == 0,
	    "%s: tables \"%s\", want \"%s\"", sql, t.s != NULL ? t.s : "",
	    tables);
	ck_assert_msg(strcmp(c.s != NULL ? c.s : "", cards) == 0,
	    "%s: cards \"%s\", want \"%s\"", sql, c.s != NULL ? c.s : "",
	    cards);
	sbuf_release(&t);
	sbuf_release(&c);
	sql_refs_release(&r);
}

START_TEST(test_sql_basic)
{
	expect_refs("select * from orders", "orders", "");
	expect_refs("SELECT o.id FROM \"public\".\"orders\" AS o\n"
	    "  LEFT JOIN public.customers c ON o.cid = c.id", "public.orders "
	    "public.customers", "");
	expect_refs("select a from x union all select b from y order by 1, 2",
	    "x y", "");
	expect_refs("select * from t where t.x in (select y from z)", "t z",
	    "");
	expect_refs("select * from a, b as bb, c where a.x = 1", "a b c", "");
	expect_refs("select * from a join b on a.x = b.x, c", "a b c", "");
	expect_refs("select * from orders o, orders p", "orders", "");
	expect_refs("select 1;", "", "");
	expect_refs("select 1 from `proj.ds.t` join [dbo].[u] on 1=1",
	    "proj.ds.t dbo.u", "");
	expect_refs("select * from only parent_t", "parent_t", "");
	expect_refs("delete from old_rows where x", "old_rows", "");
}
END_TEST

START_TEST(test_sql_skips_comments_and_strings)
{
	expect_refs("-- from fake\nselect 'from x' /* join y /* nested */ from "
	    "z */ from a", "a", "");
	expect_refs("select $$ from x $$, $tag$ join y $tag$ from t", "t", "");
	expect_refs("select E'it\\'s from x', 'a''from b' from t", "t", "");
	expect_refs("select \"from\" from \"we\"\"ird\"", "we\"ird", "");
	expect_refs("select 1 from t -- trailing join u", "t", "");
	expect_refs("select 'unterminated from x", "", "");
}
END_TEST

START_TEST(test_sql_ctes_and_subqueries)
{
	expect_refs("with completed_orders as (\n\n    select * from Orders "
	    "where status = 'completed'\n\n)\n\nselect * from completed_orders",
	    "Orders", "");
	expect_refs("WITH RECURSIVE a (n) AS (SELECT 1 FROM x), b AS "
	    "MATERIALIZED "
	    "(SELECT * FROM a JOIN y ON true) SELECT * FROM b, z", "x y z", "");
	expect_refs("select * from (select * from inner_t) s join "
	    "(select 1) q on true", "inner_t", "");
	expect_refs("select * from ((a join b on a.i = b.i)) left join c on "
	    "true", "a b c", "");
	expect_refs("select * from a, lateral (select * from b where b.x = "
	    "a.x) l",
	    "a b", "");
	/* A schema-qualified name is a table even when a CTE shares it. */
	expect_refs("with orders as (select 1) select * from orders join "
	    "public.orders p on true", "public.orders", "");
}
END_TEST

START_TEST(test_sql_not_tables)
{
	expect_refs("select extract(year from created_at), substring(s from 2 "
	    "for 3), trim(both ' ' from s) from t", "t", "");
	expect_refs("select * from t where a is distinct from b", "t", "");
	expect_refs("select * from t where a is not distinct from b", "t", "");
	expect_refs("select * from generate_series(1, 10) g", "", "");
	expect_refs("select * from unnest(array[1, 2]) u join t on true", "t",
	    "");
	expect_refs("select count(*) over (partition by a order by b) from t",
	    "t", "");
}
END_TEST

START_TEST(test_sql_metabase_tags)
{
	expect_refs("select * from {{#27-orders-customers}} o where o.x = {{x}}"
	    " [[and o.y = {{y}}]]", "", "27");
	expect_refs("select * from {{#5}} join t on true [[where {{w}}]]", "t",
	    "5");
	expect_refs("select * from {{snippet: base}}", "", "");
	expect_refs("SELECT\n  \"Products\".\"id\" AS \"ID\"\nFROM\n  "
	    "\"public\".\"orders\"\n \nLEFT JOIN \"public\".\"products\" AS "
	    "\"Products\" ON \"public\".\"orders\".\"product_id\" = "
	    "\"Products\".\"id\"\n  LEFT JOIN "
	    "\"public\".\"product_categories\" "
	    "AS \"Product Categories - Category\" ON true\nWHERE\n  "
	    "\"product_id\" = {{product_id}}\nGROUP BY\n  \"Products\".\"id\", "
	    "\"Products\".\"title\"", "public.orders public.products "
	    "public.product_categories", "");
}
END_TEST

/* ---- the API responses ---- */

/* The warehouse manifest from table.json: every Metabase table. */
static void
api_manifest(struct st_env *env, const char *fixture, const char *only)
{
	char		*dir, *data;
	cJSON		*list, *shards = cJSON_CreateObject(), *t, *cols, *c;
	const cJSON	*e, *sh;

	dir = st_fixture(fixture);
	data = st_read(dir, "api/table.json", NULL);
	ck_assert_ptr_nonnull(data);
	list = cJSON_Parse(data);
	cJSON_ArrayForEach(e, list) {
		const char *schema = jstr(e, "schema"), *name = jstr(e, "name");
		cJSON *shard;
		char *table;

		if (only != NULL && strcmp(name, only) != 0)
			continue;
		if ((shard = cJSON_GetObjectItemCaseSensitive(shards,
		    schema)) == NULL)
			shard = cJSON_AddObjectToObject(shards, schema);
		t = cJSON_AddObjectToObject(shard, name);
		xasprintf(&table, "%s.%s", schema, name);
		cJSON_AddStringToObject(t, "table", table);
		free(table);
		cols = cJSON_AddArrayToObject(t, "columns");
		c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "name", "id");
		cJSON_AddItemToArray(cols, c);
	}
	cJSON_ArrayForEach(sh, shards)
		st_shard(env->worktree, "wh", sh->string, sh);
	cJSON_Delete(shards);
	cJSON_Delete(list);
	free(data);
	free(dir);
}

static void
api_env(struct st_env *env, const char *fixture)
{
	char	*src = st_fixture(fixture);

	st_env_init(env, "metabase", "metabase", src);
	free(src);
	strv_push(&env->warehouses, "wh");
}

/* The sl_refs block of a page, or "" when it has none.  Caller frees. */
static char *
sl_refs_of(struct st_env *env, const char *key)
{
	char	*path, *s, *p, *end, *out;

	xasprintf(&path, "wiki/global/%s.md", key);
	s = st_read(env->worktree, path, NULL);
	free(path);
	ck_assert_msg(s != NULL, "no page %s", key);
	if ((p = strstr(s, "sl_refs:\n")) == NULL) {
		free(s);
		return xstrdup("");
	}
	p += 9;
	end = strstr(p, "usage_mode:");
	out = xstrndup(p, (size_t)(end - p));
	free(s);
	return out;
}

static const char card27_page[] =
"---\n"
"summary: Orders and customers\n"
"tags:\n"
"  - metabase\n"
"  - question\n"
"sl_refs:\n"
"  - orders\n"
"  - customers\n"
"usage_mode: auto\n"
"source: metabase\n"
"---\n"
"\n"
"# Orders + Customers\n"
"\n"
"Orders and customers\n"
"\n"
"- Metabase question 27\n"
"- Collection: Our analytics\n"
"- Display: table\n"
"- Database: dbtmetabase (postgres)\n"
"- Reads: public.orders, public.customers\n"
"\n"
"## Query\n"
"\n"
"```json\n"
"{\n"
"  \"source-table\": 10,\n"
"  \"joins\": [{\n"
"      \"fields\": \"all\",\n"
"      \"alias\": \"Customers\",\n"
"      \"condition\": [\"=\", [\"field\", 79, {\n"
"            \"base-type\": \"type/Integer\"\n"
"          }], [\"field\", 94, {\n"
"            \"base-type\": \"type/Integer\",\n"
"            \"join-alias\": \"Customers\"\n"
"          }]],\n"
"      \"source-table\": 12\n"
"    }]\n"
"}\n"
"```\n";

static void
check_api_cards(struct st_env *env)
{
	static const char *const want[][2] = {
		{ "metabase-orders-customers", "  - orders\n  - customers\n" },
		{ "metabase-orders-customers-filtered-by-status-is-completed",
		    "  - orders\n  - customers\n" },
		{ "metabase-returned-order-count-sql",
		    "  - stg_payments\n  - stg_orders\n" },
		{ "metabase-dummy-30", "" },
		{ "metabase-dummy-31", "" },
		{ "metabase-completed-orders-cte-sql", "  - orders\n" },
		{ "metabase-transactions", "  - transactions\n" },
	};
	size_t	 i;
	char	*s;

	ck_assert_uint_eq(env->res.noutputs, 7);
	ck_assert_uint_eq(env->res.nskips, 0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		s = sl_refs_of(env, want[i][0]);
		ck_assert_msg(strcmp(s, want[i][1]) == 0, "%s: sl_refs \"%s\"",
		    want[i][0], s);
		free(s);
	}
	s = st_read(env->worktree, "wiki/global/metabase-orders-customers-"
	    "filtered-by-status-is-completed.md", NULL);
	ck_assert_ptr_nonnull(strstr(s,
	    "- Based on: [[metabase-orders-customers]]\n"));
	free(s);
	s = st_read(env->worktree, "wiki/global/metabase-transactions.md",
	    NULL);
	ck_assert_ptr_nonnull(strstr(s, "- Collection: Коллекция\n"));
	free(s);
	s = st_read(env->worktree,
	    "wiki/global/metabase-completed-orders-cte-sql.md",
	    NULL);
	ck_assert_ptr_nonnull(strstr(s,
	    "```sql\nwith completed_orders as (\n"));
	free(s);
}

START_TEST(test_api_mbql4)
{
	struct st_env			 env;
	const struct source_output	*o;
	char				*s;
	size_t				 n;

	api_env(&env, "metabase/dbt-metabase-api/mbql4");
	api_manifest(&env, "metabase/dbt-metabase-api/mbql4", NULL);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	/* The api/ level is dropped in the snapshot. */
	ck_assert_uint_eq(env.res.staged.n, 10);
	ck_assert_str_eq(env.res.staged.v[0], "card/27.json");
	ck_assert_str_eq(env.res.staged.v[9], "table.json");
	check_api_cards(&env);
	s = st_read(env.worktree, "wiki/global/metabase-orders-customers.md",
	    NULL);
	ck_assert_str_eq(s, card27_page);
	free(s);
	o = st_output(&env.res, "wiki/global/metabase-orders-customers-"
	    "filtered-by-status-is-completed.md");
	/* The card, the card it is built on, the lookups it needed. */
	ck_assert_uint_eq(o->raw_paths.n, 4);
	ck_assert_str_eq(o->raw_paths.v[0], "card/28.json");
	ck_assert_str_eq(o->raw_paths.v[1], "card/27.json");
	ck_assert_str_eq(o->raw_paths.v[2], "table.json");
	ck_assert_str_eq(o->raw_paths.v[3], "database.json");
	/* The sl_refs name sources the gates find; nothing to reconcile. */
	st_pipeline(&env, &n);
	ck_assert_uint_eq(n, 0);
	st_env_release(&env);
}
END_TEST

START_TEST(test_api_mbql5)
{
	struct st_env	 env;
	char		*s;

	api_env(&env, "metabase/dbt-metabase-api/mbql5");
	api_manifest(&env, "metabase/dbt-metabase-api/mbql5", NULL);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	check_api_cards(&env);
	s = st_read(env.worktree, "wiki/global/metabase-orders-customers.md",
	    NULL);
	/* The stages, without the lib/uuid noise. */
	ck_assert_ptr_nonnull(strstr(s, "\"lib/type\": \"mbql.stage/mbql\""));
	ck_assert_ptr_null(strstr(s, "lib/uuid"));
	free(s);
	st_env_release(&env);
}
END_TEST

/* Without the manifest every card that reads a table is skipped. */
START_TEST(test_api_missing_schema_context)
{
	struct st_env			 env;
	const struct source_event	*ev;
	char				*s;
	size_t				 i;

	api_env(&env, "metabase/dbt-metabase-api/mbql4");
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_uint_eq(env.res.noutputs, 2);
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/metabase-dummy-30.md"));
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/metabase-dummy-31.md"));
	ck_assert_uint_eq(env.res.nskips, 5);
	for (i = 0; i < env.res.nskips; i++)
		ck_assert_msg(strncmp(env.res.skips[i].reason,
		    "missing schema context: ", 24) == 0, "%s",
		    env.res.skips[i].reason);
	ck_assert_str_eq(env.res.skips[0].item, "card 27");
	ck_assert_str_eq(env.res.skips[0].reason, "missing schema context: "
	    "public.orders (not in wh's manifest), public.customers (not in "
	    "wh's manifest)");
	ck_assert_str_eq(env.res.skips[0].raw_paths.v[0], "card/27.json");
	ck_assert_uint_eq(st_nevents(&env.res, "metabase_card_skipped"), 5);
	st_pipeline(&env, NULL);
	ev = st_event(&env.res, "metabase_card_skipped");
	s = cJSON_PrintUnformatted(ev->data);
	ck_assert_str_eq(s, "{\"card\":\"27\",\"name\":\"Orders + Customers\","
	    "\"warehouse\":\"wh\",\"missing\":[\"public.orders (not in wh's "
	    "manifest)\",\"public.customers (not in wh's manifest)\"],"
	    "\"reason\":\"missing schema context\"}");
	free(s);
	ck_assert_ptr_null(st_read(env.worktree, "semantic-layer", NULL));
	st_env_release(&env);
}
END_TEST

/* Only orders in the manifest: a card that also reads customers is out. */
START_TEST(test_api_partial_manifest)
{
	struct st_env	env;

	api_env(&env, "metabase/dbt-metabase-api/mbql5");
	api_manifest(&env, "metabase/dbt-metabase-api/mbql5", "orders");
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/metabase-completed-orders-cte-sql.md"));
	ck_assert_ptr_null(st_output(&env.res,
	    "wiki/global/metabase-orders-customers.md"));
	ck_assert_ptr_null(st_output(&env.res, "wiki/global/metabase-orders-"
	    "customers-filtered-by-status-is-completed.md"));
	ck_assert_uint_eq(env.res.noutputs, 3);
	ck_assert_str_eq(env.res.skips[1].item, "card 28");
	ck_assert_str_eq(env.res.skips[1].reason, "missing schema context: "
	    "public.customers (not in wh's manifest)");
	st_env_release(&env);
}
END_TEST

/* Two warehouses: mappings.connection picks one; none picked: skipped. */
START_TEST(test_api_warehouse_mapping)
{
	struct st_env	env;

	api_env(&env, "metabase/dbt-metabase-api/mbql4");
	api_manifest(&env, "metabase/dbt-metabase-api/mbql4", NULL);
	strv_push(&env.warehouses, "other");
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_uint_eq(env.res.noutputs, 2);
	ck_assert_str_eq(env.res.skips[0].reason, "missing schema context: no "
	    "warehouse connection for Metabase (set mappings.connection) to "
	    "resolve: public.orders, public.customers");
	st_env_rerun(&env);
	env.conn.mappings_connection = xstrdup("wh");
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_uint_eq(env.res.noutputs, 7);
	st_env_release(&env);
}
END_TEST

/* ---- the serialization export ---- */

static void
serial_manifest(struct st_env *env)
{
	static const char *const names[] = { "orders", "people", "products",
	    "product_categories", "shops" };
	cJSON	*tables = cJSON_CreateObject(), *t, *cols, *c;
	size_t	 i;
	char	*table;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		t = cJSON_AddObjectToObject(tables, names[i]);
		xasprintf(&table, "public.%s", names[i]);
		cJSON_AddStringToObject(t, "table", table);
		free(table);
		cols = cJSON_AddArrayToObject(t, "columns");
		c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "name", "id");
		cJSON_AddItemToArray(cols, c);
	}
	st_shard(env->worktree, "wh", "public", tables);
	cJSON_Delete(tables);
}

START_TEST(test_serialization)
{
	struct st_env	 env;
	char		*s;

	api_env(&env, "metabase/shoppy-serialization");
	serial_manifest(&env);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	/* 36 cards, 6 collections, the database and its 5 tables. */
	ck_assert_uint_eq(env.res.staged.n, 48);
	/* 35 pages; the archived card is skipped. */
	ck_assert_uint_eq(env.res.noutputs, 35);
	ck_assert_uint_eq(env.res.nskips, 1);
	ck_assert_str_eq(env.res.skips[0].item, "card uNxzupix8P0sI80RLp1FL");
	ck_assert_str_eq(env.res.skips[0].reason, "archived card");

	/* An MBQL question on a model reads the model's table. */
	s = sl_refs_of(&env, "metabase-orders-in-the-last-6-months");
	ck_assert_str_eq(s, "  - orders\n");
	free(s);
	s = sl_refs_of(&env, "metabase-orders-products");
	ck_assert_str_eq(s,
	    "  - product_categories\n  - products\n  - orders\n");
	free(s);
	s = sl_refs_of(&env, "metabase-per-city");
	ck_assert_str_eq(s, "  - people\n");
	free(s);
	/* Native SQL with quoted identifiers and a CTE. */
	s = sl_refs_of(&env, "metabase-orders-over-time-week");
	ck_assert_str_eq(s, "  - orders\n");
	free(s);
	/* Two questions named alike: the entity ids tell them apart. */
	s = sl_refs_of(&env,
	    "metabase-best-selling-products-yesvs8-u5r2vwpxby-imc");
	ck_assert_str_eq(s,
	    "  - orders\n  - products\n  - product_categories\n");
	free(s);
	ck_assert_ptr_nonnull(st_output(&env.res, "wiki/global/"
	    "metabase-best-selling-products-jiizdkc9ohb1l50frdhj1.md"));
	s = st_read(env.worktree,
	    "wiki/global/metabase-orders-over-time-month.md",
	    NULL);
	ck_assert_ptr_nonnull(strstr(s, "- Collection: Shoppy\n"));
	ck_assert_ptr_nonnull(strstr(s, "- Database: Customer Zero Database "
	    "(postgres)\n"));
	ck_assert_ptr_nonnull(strstr(s, "```sql\nSELECT\n  DATE_TRUNC('month', "
	    "\"public\".\"orders\".\"created_at\") AS \"created_at\",\n"));
	free(s);
	s = st_read(env.worktree, "wiki/global/metabase-orders-over-time-"
	    "mvybus-qdw4sc8nshj6zd.md", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(strstr(s, "- Based on: [[metabase-orders]]\n"));
	free(s);
	s = st_read(env.worktree, "wiki/global/metabase-orders-over-time-"
	    "1rimznul7vfw-6eucksem.md", NULL);
	ck_assert_ptr_nonnull(strstr(s, "- Collection: Shoppy / Question "
	    "Templates\n"));
	free(s);
	st_pipeline(&env, NULL);
	st_env_release(&env);
}
END_TEST

START_TEST(test_serialization_missing_schema_context)
{
	struct st_env	 env;

	api_env(&env, "metabase/shoppy-serialization");
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_uint_eq(env.res.noutputs, 0);
	ck_assert_uint_eq(env.res.nskips, 36);
	ck_assert_uint_eq(st_nevents(&env.res, "metabase_card_skipped"), 36);
	st_env_release(&env);
}
END_TEST

START_TEST(test_deterministic_and_idempotent)
{
	struct st_env	 a, b;
	char		*ta, *tb;
	size_t		 i;

	api_env(&a, "metabase/shoppy-serialization");
	api_env(&b, "metabase/shoppy-serialization");
	serial_manifest(&a);
	serial_manifest(&b);
	ck_assert_msg(st_run(&a) == 0, "%s", a.err);
	ck_assert_msg(st_run(&b) == 0, "%s", b.err);
	ta = st_tree(a.worktree);
	tb = st_tree(b.worktree);
	ck_assert_str_eq(ta, tb);
	free(tb);
	st_env_rerun(&a);
	ck_assert_msg(st_run(&a) == 0, "%s", a.err);
	for (i = 0; i < a.res.noutputs; i++)
		ck_assert_int_eq(a.res.outputs[i].changed, 0);
	tb = st_tree(a.worktree);
	ck_assert_str_eq(ta, tb);
	free(ta);
	free(tb);
	st_env_release(&a);
	st_env_release(&b);
}
END_TEST

/* ---- malformed input ---- */

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

static void
small_env(struct st_env *env)
{
	st_env_init(env, "metabase", "metabase", "mb");
	strv_push(&env->warehouses, "wh");
	st_writes(env->project, "mb/card/1.json",
	    "{\"id\": 1, \"name\": \"One\", "
	    "\"dataset_query\": {\"type\": \"native\", \"native\": {\"query\": "
	    "\"select 1\"}}}\n");
}

START_TEST(test_broken_card_json)
{
	struct st_env	env;

	small_env(&env);
	st_writes(env.project, "mb/card/2.json", "{\n  \"id\": 2,\n  \"name\": "
	    "\"Two\"\n  \"x\": 1\n}\n");
	expect_failure(&env, "mb/card/2.json:4:3: invalid JSON");
	st_env_release(&env);
}
END_TEST

START_TEST(test_broken_yaml)
{
	struct st_env	env;

	st_env_init(&env, "metabase", "metabase", "mb");
	st_writes(env.project, "mb/collections/c/cards/a_x.yaml",
	    "name: X\ndataset_query:\n  type: native\n  native: [unclosed\n");
	expect_failure(&env,
	    "mb/collections/c/cards/a_x.yaml:5:1: invalid YAML");
	st_env_release(&env);
}
END_TEST

START_TEST(test_yaml_not_utf8)
{
	struct st_env	env;

	st_env_init(&env, "metabase", "metabase", "mb");
	st_writes(env.project, "mb/collections/c/cards/a_x.yaml",
	    "name: \"Caf\xe9\"\n");
	expect_failure(&env,
	    "mb/collections/c/cards/a_x.yaml:1: invalid UTF-8");
	st_env_release(&env);
}
END_TEST

START_TEST(test_not_a_card)
{
	struct st_env	env;

	small_env(&env);
	st_writes(env.project, "mb/card/3.json", "[1, 2]\n");
	expect_failure(&env, "card/3.json: not a Metabase card");
	st_env_release(&env);
}
END_TEST

START_TEST(test_ambiguous_and_empty_layouts)
{
	struct st_env	env;

	small_env(&env);
	st_writes(env.project, "mb/collections/c/c.yaml", "name: C\n");
	expect_failure(&env, "mb: holds both card/ (API responses) and "
	    "collections/");
	st_env_release(&env);
	st_env_init(&env, "metabase", "metabase", "mb");
	st_writes(env.project, "mb/readme.txt", "nothing\n");
	expect_failure(&env, "mb: no card/ or api/card/");
	st_env_release(&env);
}
END_TEST

START_TEST(test_huge_card)
{
	struct st_env	 env;
	char		*p;

	small_env(&env);
	st_writes(env.project, "mb/card/2.json", "");
	xasprintf(&p, "%s/mb/card/2.json", env.project);
	ck_assert_int_eq(truncate(p, (off_t)SOURCE_TEXT_MAX_BYTES + 1), 0);
	free(p);
	expect_failure(&env, "mb/card/2.json: file is 8388609 bytes, over the "
	    "limit of 8388608");
	st_env_release(&env);
}
END_TEST

START_TEST(test_symlink_out)
{
	struct st_env	 env;
	char		*out, *link;

	small_env(&env);
	st_writes(env.root, "x.json", "{}\n");
	xasprintf(&out, "%s/x.json", env.root);
	xasprintf(&link, "%s/mb/card/9.json", env.project);
	ck_assert_int_eq(symlink(out, link), 0);
	expect_failure(&env, "mb/card/9.json: symbolic link points outside the "
	    "source directory");
	free(out);
	free(link);
	st_env_release(&env);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("metabase");
	TCase	*sql = tcase_create("sql");
	TCase	*api = tcase_create("api");
	TCase	*ser = tcase_create("serialization");
	TCase	*bad = tcase_create("malformed");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(sql, test_sql_basic);
	tcase_add_test(sql, test_sql_skips_comments_and_strings);
	tcase_add_test(sql, test_sql_ctes_and_subqueries);
	tcase_add_test(sql, test_sql_not_tables);
	tcase_add_test(sql, test_sql_metabase_tags);
	suite_add_tcase(s, sql);
	tcase_add_test(api, test_api_mbql4);
	tcase_add_test(api, test_api_mbql5);
	tcase_add_test(api, test_api_missing_schema_context);
	tcase_add_test(api, test_api_partial_manifest);
	tcase_add_test(api, test_api_warehouse_mapping);
	suite_add_tcase(s, api);
	tcase_add_test(ser, test_serialization);
	tcase_add_test(ser, test_serialization_missing_schema_context);
	tcase_add_test(ser, test_deterministic_and_idempotent);
	tcase_set_timeout(ser, 120);
	suite_add_tcase(s, ser);
	tcase_add_test(bad, test_broken_card_json);
	tcase_add_test(bad, test_broken_yaml);
	tcase_add_test(bad, test_yaml_not_utf8);
	tcase_add_test(bad, test_not_a_card);
	tcase_add_test(bad, test_ambiguous_and_empty_layouts);
	tcase_add_test(bad, test_huge_card);
	tcase_add_test(bad, test_symlink_out);
	suite_add_tcase(s, bad);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
