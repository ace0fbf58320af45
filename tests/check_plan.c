#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

#define NCONN_MAX	16

/* A config built by hand, as config_load would leave it. */
struct fixture {
	struct ktx_config	cfg;
	struct ktx_connection	conns[NCONN_MAX];
};

static char	*agent_argv[] = { "agent-adapter", "--fast", NULL };

static struct ktx_connection *
add_conn(struct fixture *f, char *id, char *driver, enum driver_kind kind,
    char *source_dir)
{
	struct ktx_connection	*c;

	ck_assert_uint_lt(f->cfg.nconnections, NCONN_MAX);
	c = &f->conns[f->cfg.nconnections++];
	c->id = id;
	c->driver = driver;
	c->kind = kind;
	c->source_dir = source_dir;
	f->cfg.connections = f->conns;
	return c;
}

static void
fixture_init(struct fixture *f, int max_concurrency)
{
	memset(f, 0, sizeof(*f));
	f->cfg.path = "/srv/proj/ktx.yaml";
	f->cfg.max_concurrency = max_concurrency;
}

/* Connections deliberately out of order, kinds interleaved. */
static void
fixture_mixed(struct fixture *f)
{
	struct ktx_connection	*c;

	fixture_init(f, 3);
	add_conn(f, "notion", "notion", DRIVER_SOURCE, "exports/notion");
	c = add_conn(f, "warehouse", "postgres", DRIVER_DATABASE, NULL);
	c->url = "env:DATABASE_URL";
	add_conn(f, "Zeta", "metabase", DRIVER_SOURCE, "mb");
	add_conn(f, "dbt_main", "dbt", DRIVER_SOURCE, "dbt");
	c = add_conn(f, "local", "sqlite", DRIVER_DATABASE, NULL);
	c->path = "warehouse.sqlite";
	add_conn(f, "Analytics", "snowflake", DRIVER_DATABASE, NULL);
}

static char *
table_of(const struct plan *p)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	fp = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(fp);
	plan_print_table(p, fp);
	ck_assert_int_eq(fclose(fp), 0);
	return buf;
}

START_TEST(test_order_databases_then_sources_bytewise)
{
	static const char	*want[] = {
		"Analytics", "local", "warehouse", "Zeta", "dbt_main", "notion"
	};
	struct fixture	 f;
	struct plan	 p;
	char		*err;
	size_t		 i;

	fixture_mixed(&f);
	ck_assert_int_eq(plan_build(&f.cfg, "/srv/proj", NULL, 0, 0, &p, &err),
	    0);
	ck_assert_ptr_null(err);
	ck_assert_uint_eq(p.ntargets, 6);
	for (i = 0; i < p.ntargets; i++) {
		ck_assert_str_eq(p.targets[i].conn->id, want[i]);
		ck_assert_int_eq(p.targets[i].stage, i < 3 ? 1 : 2);
		ck_assert_int_eq(p.targets[i].operation,
		    i < 3 ? OP_DATABASE_INGEST : OP_SOURCE_INGEST);
	}
	ck_assert_str_eq(p.project_dir, "/srv/proj");
	plan_release(&p);
}
END_TEST

START_TEST(test_every_driver_gets_its_stage_and_adapter)
{
	static const struct {
		char		*driver;
		enum driver_kind kind;
		int		 stage;
		const char	*adapter;
	} cases[] = {
		{ "sqlite",	DRIVER_DATABASE, 1, "live-database" },
		{ "postgres",	DRIVER_DATABASE, 1, "live-database" },
		{ "mysql",	DRIVER_DATABASE, 1, "live-database" },
		{ "snowflake",	DRIVER_DATABASE, 1, "live-database" },
		{ "bigquery",	DRIVER_DATABASE, 1, "live-database" },
		{ "clickhouse",	DRIVER_DATABASE, 1, "live-database" },
		{ "sqlserver",	DRIVER_DATABASE, 1, "live-database" },
		{ "dbt",	DRIVER_SOURCE,	 2, "dbt" },
		{ "notion",	DRIVER_SOURCE,	 2, "notion" },
		{ "metabase",	DRIVER_SOURCE,	 2, "metabase" },
		{ "local_metabase", DRIVER_SOURCE, 2, "metabase" },
		{ "looker",	DRIVER_SOURCE,	 2, "looker" },
		{ "lookml",	DRIVER_SOURCE,	 2, "lookml" },
		{ "metricflow",	DRIVER_SOURCE,	 2, "metricflow" },
		{ "duckdb",	DRIVER_DATABASE, 1, "live-database" },
		{ "mongodb",	DRIVER_DATABASE, 1, "live-database" },
		{ "gdrive",	DRIVER_SOURCE,	 2, "gdrive" },
		{ "sigma",	DRIVER_SOURCE,	 2, "sigma" },
	};
	struct fixture	 f;
	struct plan	 p;
	char		*err;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fixture_init(&f, 1);
		add_conn(&f, "c", cases[i].driver, cases[i].kind, NULL);
		ck_assert_int_eq(plan_build(&f.cfg, "/p", NULL, 0, 0, &p, &err),
		    0);
		ck_assert_uint_eq(p.ntargets, 1);
		ck_assert_msg(p.targets[0].stage == cases[i].stage,
		    "%s: stage %d", cases[i].driver, p.targets[0].stage);
		ck_assert_msg(strcmp(p.targets[0].adapter, cases[i].adapter)
		    == 0, "%s: adapter %s", cases[i].driver,
		    p.targets[0].adapter);
		ck_assert_int_eq(p.targets[0].operation, cases[i].stage == 1 ?
		    OP_DATABASE_INGEST : OP_SOURCE_INGEST);
		plan_release(&p);
	}
}
END_TEST

START_TEST(test_adapter_command_keeps_the_stage)
{
	struct fixture		 f;
	struct ktx_connection	*c;
	struct plan		 p;
	char			*err;

	fixture_init(&f, 1);
	c = add_conn(&f, "agent_mb", "metabase", DRIVER_SOURCE, "mb");
	c->adapter_command.v = agent_argv;
	c->adapter_command.n = 2;
	c = add_conn(&f, "zz_db", "duckdb", DRIVER_DATABASE, NULL);
	c->adapter_command.v = agent_argv;
	c->adapter_command.n = 2;
	add_conn(&f, "aa_src", "dbt", DRIVER_SOURCE, "dbt");
	ck_assert_int_eq(plan_build(&f.cfg, "/p", NULL, 0, 0, &p, &err), 0);
	ck_assert_uint_eq(p.ntargets, 3);
	ck_assert_str_eq(p.targets[0].conn->id, "zz_db");
	ck_assert_str_eq(p.targets[0].adapter, "command");
	ck_assert_int_eq(p.targets[0].stage, 1);
	ck_assert_int_eq(p.targets[0].operation, OP_DATABASE_INGEST);
	ck_assert_str_eq(p.targets[1].conn->id, "aa_src");
	ck_assert_str_eq(p.targets[1].adapter, "dbt");
	ck_assert_str_eq(p.targets[2].conn->id, "agent_mb");
	ck_assert_str_eq(p.targets[2].adapter, "command");
	ck_assert_int_eq(p.targets[2].stage, 2);
	ck_assert_int_eq(p.targets[2].operation, OP_SOURCE_INGEST);
	/* The command replaces the adapter, not the snapshots' source key. */
	ck_assert_str_eq(plan_source_key(p.targets[0].conn), "live-database");
	ck_assert_str_eq(plan_source_key(p.targets[1].conn), "dbt");
	ck_assert_str_eq(plan_source_key(p.targets[2].conn), "metabase");
	plan_release(&p);
}
END_TEST

START_TEST(test_named_selection_keeps_plan_order)
{
	char		*names[] = { "notion", "local" };
	struct fixture	 f;
	struct plan	 p;
	char		*err;

	fixture_mixed(&f);
	ck_assert_int_eq(plan_build(&f.cfg, "/p", names, 2, 0, &p, &err), 0);
	ck_assert_uint_eq(p.ntargets, 2);
	ck_assert_str_eq(p.targets[0].conn->id, "local");
	ck_assert_str_eq(p.targets[1].conn->id, "notion");
	plan_release(&p);
}
END_TEST

START_TEST(test_duplicate_names_select_once)
{
	char		*names[] = {
		"dbt_main", "dbt_main", "local", "dbt_main"
	};
	struct fixture	 f;
	struct plan	 p;
	char		*err;

	fixture_mixed(&f);
	ck_assert_int_eq(plan_build(&f.cfg, "/p", names, 4, 0, &p, &err), 0);
	ck_assert_uint_eq(p.ntargets, 2);
	ck_assert_str_eq(p.targets[0].conn->id, "local");
	ck_assert_str_eq(p.targets[1].conn->id, "dbt_main");
	plan_release(&p);
}
END_TEST

START_TEST(test_names_match_exactly)
{
	char		*names[] = { "zeta" };
	struct fixture	 f;
	struct plan	 p;
	char		*err;

	fixture_mixed(&f);
	ck_assert_int_eq(plan_build(&f.cfg, "/p", names, 1, 0, &p, &err), -1);
	ck_assert_str_eq(err,
	    "connection \"zeta\" is not configured in ktx.yaml");
	free(err);
}
END_TEST

START_TEST(test_unknown_name_fails_the_whole_plan)
{
	char		*names[] = { "notion", "nope", "local" };
	struct fixture	 f;
	struct plan	 p;
	char		*err;

	fixture_mixed(&f);
	ck_assert_int_eq(plan_build(&f.cfg, "/p", names, 3, 0, &p, &err), -1);
	ck_assert_str_eq(err,
	    "connection \"nope\" is not configured in ktx.yaml");
	ck_assert_ptr_null(p.targets);
	ck_assert_ptr_null(p.project_dir);
	free(err);
}
END_TEST

START_TEST(test_no_connections_configured)
{
	char		*names[] = { "warehouse" };
	struct fixture	 f;
	struct plan	 p;
	char		*err;

	fixture_init(&f, 1);
	ck_assert_int_eq(plan_build(&f.cfg, "/p", NULL, 0, 0, &p, &err), -1);
	ck_assert_str_eq(err, "no connections are configured in ktx.yaml");
	free(err);
	ck_assert_int_eq(plan_build(&f.cfg, "/p", names, 1, 4, &p, &err), -1);
	ck_assert_str_eq(err,
	    "connection \"warehouse\" is not configured in ktx.yaml");
	free(err);
}
END_TEST

START_TEST(test_jobs_override_configured_concurrency)
{
	struct fixture	 f;
	struct plan	 p;
	char		*err;

	fixture_mixed(&f);
	ck_assert_int_eq(plan_build(&f.cfg, "/p", NULL, 0, 0, &p, &err), 0);
	ck_assert_int_eq(p.max_concurrency, 3);
	plan_release(&p);
	ck_assert_int_eq(plan_build(&f.cfg, "/p", NULL, 0, 7, &p, &err), 0);
	ck_assert_int_eq(p.max_concurrency, 7);
	plan_release(&p);
	f.cfg.max_concurrency = 0;
	ck_assert_int_eq(plan_build(&f.cfg, "/p", NULL, 0, 0, &p, &err), 0);
	ck_assert_int_eq(p.max_concurrency, 1);
	plan_release(&p);
}
END_TEST

START_TEST(test_operation_names)
{
	ck_assert_str_eq(plan_operation_name(OP_DATABASE_INGEST),
	    "database-ingest");
	ck_assert_str_eq(plan_operation_name(OP_SOURCE_INGEST),
	    "source-ingest");
}
END_TEST

static void
check_steps(const cJSON *t, const char *want)
{
	const cJSON	*steps = cJSON_GetObjectItemCaseSensitive(t, "steps");

	ck_assert(cJSON_IsArray(steps));
	ck_assert_int_eq(cJSON_GetArraySize(steps), 1);
	ck_assert_str_eq(cJSON_GetArrayItem(steps, 0)->valuestring, want);
}

static const char *
str_field(const cJSON *obj, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(obj, name);

	ck_assert_msg(cJSON_IsString(v), "%s is not a string", name);
	return v->valuestring;
}

START_TEST(test_json_round_trip)
{
	static const char	*keys[] = {
		"connectionId", "driver", "operation", "adapter", "sourceDir",
		"steps", "stage"
	};
	struct fixture	 f;
	struct plan	 p;
	char		*err, *text;
	cJSON		*doc, *targets, *t, *item;
	size_t		 k;

	fixture_mixed(&f);
	ck_assert_int_eq(plan_build(&f.cfg, "/srv/proj", NULL, 0, 5, &p, &err),
	    0);
	doc = plan_to_json(&p);
	text = cJSON_Print(doc);
	cJSON_Delete(doc);
	ck_assert_ptr_null(strstr(text, "DATABASE_URL"));
	ck_assert_ptr_null(strstr(text, "warehouse.sqlite"));

	doc = cJSON_Parse(text);
	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(cJSON_GetArraySize(doc), 3);
	ck_assert_str_eq(str_field(doc, "projectDir"), "/srv/proj");
	item = cJSON_GetObjectItemCaseSensitive(doc, "maxConcurrency");
	ck_assert(cJSON_IsNumber(item));
	ck_assert_int_eq(item->valueint, 5);
	targets = cJSON_GetObjectItemCaseSensitive(doc, "targets");
	ck_assert(cJSON_IsArray(targets));
	ck_assert_int_eq(cJSON_GetArraySize(targets), 6);

	/* Key order is part of the output: scripts and people diff it. */
	t = cJSON_GetArrayItem(targets, 0);
	ck_assert_int_eq(cJSON_GetArraySize(t), 7);
	for (k = 0, item = t->child; item != NULL; k++, item = item->next)
		ck_assert_str_eq(item->string, keys[k]);

	ck_assert_str_eq(str_field(t, "connectionId"), "Analytics");
	ck_assert_str_eq(str_field(t, "driver"), "snowflake");
	ck_assert_str_eq(str_field(t, "operation"), "database-ingest");
	ck_assert_str_eq(str_field(t, "adapter"), "live-database");
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(t,
	    "sourceDir")));
	check_steps(t, "database-schema");
	item = cJSON_GetObjectItemCaseSensitive(t, "stage");
	ck_assert(cJSON_IsNumber(item));
	ck_assert_int_eq(item->valueint, 1);

	t = cJSON_GetArrayItem(targets, 5);
	ck_assert_str_eq(str_field(t, "connectionId"), "notion");
	ck_assert_str_eq(str_field(t, "driver"), "notion");
	ck_assert_str_eq(str_field(t, "operation"), "source-ingest");
	ck_assert_str_eq(str_field(t, "adapter"), "notion");
	ck_assert_str_eq(str_field(t, "sourceDir"), "exports/notion");
	check_steps(t, "source-ingest");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(t, "stage")->valueint,
	    2);

	cJSON_Delete(doc);
	free(text);
	plan_release(&p);
}
END_TEST

START_TEST(test_empty_source_dir_is_none)
{
	struct fixture	 f;
	struct plan	 p;
	char		*err;
	cJSON		*doc, *t;

	fixture_init(&f, 1);
	add_conn(&f, "n", "notion", DRIVER_SOURCE, "");
	ck_assert_int_eq(plan_build(&f.cfg, "/p", NULL, 0, 0, &p, &err), 0);
	doc = plan_to_json(&p);
	t = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "targets"),
	    0);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(t,
	    "sourceDir")));
	cJSON_Delete(doc);
	plan_release(&p);
}
END_TEST

START_TEST(test_table_lists_targets_in_plan_order)
{
	struct fixture	 f;
	struct plan	 p;
	char		*err, *text, *a, *b;

	fixture_mixed(&f);
	ck_assert_int_eq(plan_build(&f.cfg, "/srv/proj", NULL, 0, 0, &p, &err),
	    0);
	text = table_of(&p);
	ck_assert_msg(strncmp(text, "project /srv/proj\n\n", 19) == 0, "%s",
	    text);
	ck_assert_ptr_nonnull(strstr(text,
	    "CONNECTION  STAGE  DRIVER     OPERATION        ADAPTER        "
	    "SOURCE DIR\n"
	    "Analytics   1      snowflake  database-ingest  live-database  -\n"
	    "local       1      sqlite     database-ingest  live-database  -\n"
	    "warehouse   1      postgres   database-ingest  live-database  -\n"
	    "Zeta        2      metabase   source-ingest    metabase       mb\n"
	    "dbt_main    2      dbt        source-ingest    dbt            "
	    "dbt\n"
	    "notion      2      notion     source-ingest    notion         "
	    "exports/notion\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n6 targets: stage 1 runs 3 "
	    "database targets one at a time, stage 2 runs 3 source targets"
	    " with maxConcurrency 3\n"));
	a = strstr(text, "warehouse");
	b = strstr(text, "Zeta");
	ck_assert(a != NULL && b != NULL && a < b);
	ck_assert_ptr_null(strstr(text, "DATABASE_URL"));
	ck_assert_ptr_null(strstr(text, "warehouse.sqlite"));
	free(text);
	plan_release(&p);
}
END_TEST

START_TEST(test_table_singular_counts)
{
	struct fixture	 f;
	struct plan	 p;
	char		*err, *text;

	fixture_init(&f, 2);
	add_conn(&f, "w", "sqlite", DRIVER_DATABASE, NULL);
	ck_assert_int_eq(plan_build(&f.cfg, "/p", NULL, 0, 0, &p, &err), 0);
	text = table_of(&p);
	ck_assert_ptr_nonnull(strstr(text, "\n1 target: stage 1 runs 1 "
	    "database target one at a time, stage 2 runs 0 source targets"
	    " with maxConcurrency 2\n"));
	free(text);
	plan_release(&p);
}
END_TEST

START_TEST(test_release_zeroed_plan)
{
	struct plan	p;

	memset(&p, 0, sizeof(p));
	plan_release(&p);
	plan_release(&p);
	ck_assert_ptr_null(p.targets);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("plan");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_order_databases_then_sources_bytewise);
	tcase_add_test(tc, test_every_driver_gets_its_stage_and_adapter);
	tcase_add_test(tc, test_adapter_command_keeps_the_stage);
	tcase_add_test(tc, test_named_selection_keeps_plan_order);
	tcase_add_test(tc, test_duplicate_names_select_once);
	tcase_add_test(tc, test_names_match_exactly);
	tcase_add_test(tc, test_unknown_name_fails_the_whole_plan);
	tcase_add_test(tc, test_no_connections_configured);
	tcase_add_test(tc, test_jobs_override_configured_concurrency);
	tcase_add_test(tc, test_operation_names);
	tcase_add_test(tc, test_json_round_trip);
	tcase_add_test(tc, test_empty_source_dir_is_none);
	tcase_add_test(tc, test_table_lists_targets_in_plan_order);
	tcase_add_test(tc, test_table_singular_counts);
	tcase_add_test(tc, test_release_zeroed_plan);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
