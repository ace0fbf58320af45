#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "srctest.h"

#define ROOT_ID		"0123456789abcdef0123456789abcd01"
#define CHILD_A		"aaaaaaaaaaaaaaaaaaaaaaaa11111111"
#define CHILD_B		"bbbbbbbbbbbbbbbbbbbbbbbb22222222"
#define DB_ID		"cccccccccccccccccccccccc33333333"

static const char root_md[] =
"# Root & Co's #1\n"
"\n"
"Start at [the first child](Root%20&%20Co's%20%231%20" ROOT_ID "/Child%20"
    CHILD_A ".md) or [Child](Root%20&%20Co's%20%231%20" ROOT_ID "/Child%20"
    CHILD_B ".md).\n"
"Tasks live in [Tasks](Tasks%20" DB_ID ".csv); see also [[not a link]].\n"
"\n"
"![Root%20&%20Co's%20%231%20" ROOT_ID "/diagram.png](Root%20&%20Co's%20%231%20"
    ROOT_ID "/diagram.png)\n"
"[The manual.pdf](Root%20&%20Co's%20%231%20" ROOT_ID "/manual.pdf) and "
    "[Gone](Gone%20dddddddddddddddddddddddd44444444.md), "
    "[web](https://example.com/a_(b)), [mail](mailto:x@example.com).\n"
"\n"
"Tables: `orders`, `public.orders`, `not_a_table` and `[x](y.md)`.\n"
"\n"
"```\n"
"[kept](Tasks%20" DB_ID ".csv)\n"
"```\n";

static const char child_a_md[] =
"# Child\n\nBack to [Root](../Root%20&%20Co's%20%231%20" ROOT_ID ".md).\n";
static const char child_b_md[] = "# Child\n\nThe other one.\n";

static const char tasks_all_csv[] =
"\xef\xbb\xbfName,Status,Notes\r\n"
"\"Write, then ship\",Done,\"two\r\nlines\"\r\n"
"Plan,Open,a | b\r\n";

static void
small_export(struct st_env *env)
{
	st_env_init(env, "kb", "notion", "export");
	st_writes(env->project, "export/Root & Co's #1 " ROOT_ID ".md",
	    root_md);
	st_writes(env->project, "export/Root & Co's #1 " ROOT_ID "/Child "
	    CHILD_A ".md", child_a_md);
	st_writes(env->project, "export/Root & Co's #1 " ROOT_ID "/Child "
	    CHILD_B ".md", child_b_md);
	st_writes(env->project, "export/Root & Co's #1 " ROOT_ID "/manual.pdf",
	    "%PDF-1.4\n");
	st_writes(env->project, "export/Tasks " DB_ID ".csv",
	    "\xef\xbb\xbfName,Status\r\nPlan,Open\r\n");
	st_writes(env->project, "export/Tasks " DB_ID "_all.csv",
	    tasks_all_csv);
	st_writes(env->project, "export/notes.md",
	    "Loose notes, no heading.\n");
	st_writes(env->project, "export/index.html", "<html></html>\n");
}

static void
orders_manifest(struct st_env *env)
{
	cJSON	*tables = cJSON_CreateObject(), *t, *cols, *c;

	t = cJSON_AddObjectToObject(tables, "orders");
	cJSON_AddStringToObject(t, "table", "public.orders");
	cols = cJSON_AddArrayToObject(t, "columns");
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", "id");
	cJSON_AddItemToArray(cols, c);
	st_shard(env->worktree, "wh", "public", tables);
	cJSON_Delete(tables);
	strv_push(&env->warehouses, "wh");
}

static const char root_page[] =
"---\n"
"summary: Start at the first child or Child. Tasks live in Tasks; see also "
    "[[not a link]].\n"
"tags:\n"
"  - notion\n"
"usage_mode: auto\n"
"source: kb\n"
"---\n"
"\n"
"# Root & Co's #1\n"
"\n"
"Start at [[kb-child-11111111|the first child]] or "
    "[[kb-child-22222222|Child]].\n"
"Tasks live in [[kb-tasks|Tasks]]; see also [\\[not a link]].\n"
"\n"
"diagram.png\n"
"The manual.pdf and Gone, [web](https://example.com/a_(b)), "
    "[mail](mailto:x@example.com).\n"
"\n"
"Tables: [[?table:orders]], [[?table:public.orders]], `not_a_table` and "
    "`[x](y.md)`.\n"
"\n"
"```\n"
"[kept](Tasks%20" DB_ID ".csv)\n"
"```\n";

static const char tasks_page[] =
"---\n"
"summary: Notion database Tasks (2 rows)\n"
"tags:\n"
"  - notion\n"
"  - database\n"
"usage_mode: auto\n"
"source: kb\n"
"---\n"
"\n"
"# Tasks\n"
"\n"
"| Name | Status | Notes |\n"
"| --- | --- | --- |\n"
"| Write, then ship | Done | two lines |\n"
"| Plan | Open | a \\| b |\n";

START_TEST(test_small_export)
{
	struct st_env			 env;
	const struct source_output	*o;
	const struct source_event	*ev;
	char				*s;

	small_export(&env);
	orders_manifest(&env);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	/* .md and the _all variant of the CSV; not the PDF or index.html. */
	ck_assert_uint_eq(env.res.staged.n, 5);
	ck_assert_str_eq(env.res.staged.v[4], "notes.md");
	ck_assert_str_eq(env.res.staged.v[3], "Tasks " DB_ID "_all.csv");
	ev = st_event(&env.res, "notion_csv_variant_ignored");
	ck_assert_ptr_nonnull(ev);
	ck_assert_str_eq(jstr(ev->data, "ignored"), "Tasks " DB_ID ".csv");

	s = st_read(env.worktree, "wiki/global/kb-root-co-s-1.md", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, root_page);
	free(s);
	s = st_read(env.worktree, "wiki/global/kb-tasks.md", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, tasks_page);
	free(s);
	s = st_read(env.worktree, "wiki/global/kb-child-11111111.md", NULL);
	ck_assert_ptr_nonnull(strstr(s, "Back to [[kb-root-co-s-1|Root]].\n"));
	free(s);
	s = st_read(env.worktree, "wiki/global/kb-notes.md", NULL);
	ck_assert_ptr_nonnull(strstr(s, "summary: Loose notes, no heading.\n"));
	free(s);
	ck_assert_uint_eq(env.res.noutputs, 5);
	o = st_output(&env.res, "wiki/global/kb-tasks.md");
	ck_assert_uint_eq(o->raw_paths.n, 1);
	ck_assert_str_eq(o->raw_paths.v[0], "Tasks " DB_ID "_all.csv");

	ev = st_event(&env.res, "notion_links_converted");
	s = cJSON_PrintUnformatted(ev->data);
	ck_assert_str_eq(s, "{\"pages\":5,\"links\":4,\"plainText\":3,"
	    "\"external\":2,\"tableRequests\":2}");
	free(s);

	/* Reconciliation turns the mentions into checked refs and sl_refs. */
	st_pipeline(&env, NULL);
	s = st_read(env.worktree, "wiki/global/kb-root-co-s-1.md", NULL);
	ck_assert_msg(strstr(s, "Tables: `wh/table:orders`, "
	    "`wh/table:public.orders`, `not_a_table`") != NULL, "%s", s);
	ck_assert_ptr_nonnull(strstr(s, "sl_refs:\n  - orders\n"));
	free(s);
	st_env_release(&env);
}
END_TEST

START_TEST(test_no_tables_without_manifest)
{
	struct st_env	 env;
	char		*s;

	small_export(&env);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	s = st_read(env.worktree, "wiki/global/kb-root-co-s-1.md", NULL);
	ck_assert_ptr_nonnull(strstr(s, "Tables: `orders`, `public.orders`,"));
	ck_assert_ptr_null(strstr(s, "[[?table:"));
	free(s);
	st_env_release(&env);
}
END_TEST

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

START_TEST(test_not_utf8)
{
	struct st_env	env;

	small_export(&env);
	st_writes(env.project, "export/Bad eeeeeeeeeeeeeeeeeeeeeeee55555555.md",
	    "# Bad\n\nline two\nna\xefve\n");
	expect_failure(&env,
	    "export/Bad eeeeeeeeeeeeeeeeeeeeeeee55555555.md:4: invalid UTF-8");
	st_env_release(&env);
}
END_TEST

START_TEST(test_huge_page)
{
	struct st_env	 env;
	char		*p;
	int		 fd;

	small_export(&env);
	st_writes(env.project, "export/Big.md", "");
	xasprintf(&p, "%s/export/Big.md", env.project);
	fd = open(p, O_WRONLY);
	ck_assert_int_eq(ftruncate(fd, (off_t)SOURCE_TEXT_MAX_BYTES + 1), 0);
	close(fd);
	free(p);
	expect_failure(&env, "export/Big.md: file is 8388609 bytes, over the "
	    "limit of 8388608");
	st_env_release(&env);
}
END_TEST

START_TEST(test_symlink_out)
{
	struct st_env	 env;
	char		*out, *link;

	small_export(&env);
	st_writes(env.root, "secret.md", "# Secret\n");
	xasprintf(&out, "%s/secret.md", env.root);
	xasprintf(&link, "%s/export/Secret.md", env.project);
	ck_assert_int_eq(symlink(out, link), 0);
	expect_failure(&env, "export/Secret.md: symbolic link points outside "
	    "the source directory");
	free(out);
	free(link);
	st_env_release(&env);
}
END_TEST

START_TEST(test_symlinked_dir_not_followed)
{
	struct st_env	 env;
	char		*link;

	small_export(&env);
	xasprintf(&link, "%s/export/loop", env.project);
	ck_assert_int_eq(symlink(".", link), 0);
	free(link);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_uint_eq(env.res.noutputs, 5);
	ck_assert_ptr_nonnull(st_event(&env.res,
	    "notion_directory_links_not_followed"));
	st_env_release(&env);
}
END_TEST

START_TEST(test_empty_export)
{
	struct st_env	env;

	st_env_init(&env, "kb", "notion", "export");
	st_writes(env.project, "export/index.html", "<html></html>\n");
	expect_failure(&env,
	    "export: no Notion pages (.md) or databases (.csv)");
	st_env_release(&env);
}
END_TEST

START_TEST(test_missing_source_dir)
{
	struct st_env	env;

	st_env_init(&env, "kb", "notion", "nowhere");
	expect_failure(&env, "nowhere: No such file or directory");
	st_env_release(&env);
}
END_TEST

/* Every [[key]] of every page names a page of the run. */
static size_t
check_links(struct st_env *env, size_t *links)
{
	struct strv	 files = { 0 };
	char		*s, *p, *end, *key, *path;
	size_t		 i, pages;

	st_list(env->worktree, "wiki/global", &files);
	*links = 0;
	for (i = 0; i < files.n; i++) {
		s = st_read(env->worktree, files.v[i], NULL);
		for (p = s; (p = strstr(p, "[[")) != NULL; p = end) {
			end = strstr(p, "]]");
			ck_assert_ptr_nonnull(end);
			key = xstrndup(p + 2, strcspn(p + 2, "|]"));
			xasprintf(&path, "wiki/global/%s.md", key);
			ck_assert_msg(st_output(&env->res, path) != NULL,
			    "%s links to %s", files.v[i], key);
			free(path);
			free(key);
			(*links)++;
		}
		free(s);
	}
	pages = files.n;
	strv_release(&files);
	return pages;
}

/* Markdown links left whose destination is not a URL or empty. */
static size_t
relative_links(const char *s)
{
	size_t	n = 0;

	while ((s = strstr(s, "](")) != NULL) {
		s += 2;
		if (strncmp(s, "http://", 7) != 0 &&
		    strncmp(s, "https://", 8) != 0 &&
		    strncmp(s, "mailto:", 7) != 0 && *s != ')')
			n++;
	}
	return n;
}

START_TEST(test_fixture_blendle)
{
	struct st_env			 env;
	const struct source_event	*ev;
	size_t				 links, i;
	char				*s, *src;

	src = st_fixture("notion-export/blendle-handbook");
	st_env_init(&env, "notion", "notion", src);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	ck_assert_uint_eq(env.res.staged.n, 50);
	ck_assert_uint_eq(check_links(&env, &links), 50);
	/*
	 * 77 of the 79 relative .md links resolve (2 name a page that is not
	 * in the export); none is left as a file link.
	 */
	ck_assert_uint_eq(links, 77);
	ev = st_event(&env.res, "notion_links_converted");
	ck_assert_int_eq(jget(ev->data, "links")->valueint, 77);
	/* 46 links to attachments that were not copied, 2 to a page that
	   is not in the export: plain text. */
	ck_assert_int_eq(jget(ev->data, "plainText")->valueint, 48);
	for (i = 0; i < env.res.noutputs; i++) {
		s = st_read(env.worktree, env.res.outputs[i].path, NULL);
		ck_assert_uint_eq(relative_links(s), 0);
		free(s);
	}
	/* Names with quotes, "&" and "#". */
	s = st_read(env.worktree,
	    "wiki/global/notion-blendle-s-employee-handbook.md", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(strstr(s,
	    "from [[notion-hiring|how we hire]] and [[notion-firing|fire]]"));
	ck_assert_ptr_nonnull(strstr(s, "[how our leaders lead]"
	    "(https://www.notion.so/ecfb7e647136468a9a0a32f1771a8f52)"));
	free(s);
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/notion-letstalkaboutstress.md"));
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/notion-culture-role-modelling.md"));
	/* One title, two pages: both keys carry the id's tail. */
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/notion-when-is-there-too-much-stress-21ab283c.md"));
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/notion-when-is-there-too-much-stress-3f2170d3.md"));
	ck_assert_ptr_null(st_output(&env.res,
	    "wiki/global/notion-when-is-there-too-much-stress.md"));
	s = st_read(env.worktree,
	    "wiki/global/notion-people-system-salarisbalie-"
	    "requesting-time-off-expensing.md", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(strstr(s, "Handleiding NMBRS.pdf"));
	free(s);
	free(src);
	st_pipeline(&env, NULL);
	st_env_release(&env);
}
END_TEST

/* The templates export, a zip inside a zip, as Notion delivers it. */
static char *
templates_export(struct st_env *env)
{
	char	*zip, *dir, *inner;

	zip = st_fixture("notion-export/notion-templates-md-export/"
	    "Notion.Test.Export.zip");
	xasprintf(&dir, "%s/zip", env->root);
	ck_assert_int_eq(st_unzip(zip, dir), 0);
	xasprintf(&inner, "%s/Export-d2b14fbf-86de-4508-a1b2-6515ff8d7aab-"
	    "Part-1.zip", dir);
	free(dir);
	xasprintf(&dir, "%s/export", env->project);
	ck_assert_int_eq(st_unzip(inner, dir), 0);
	free(inner);
	free(zip);
	free(dir);
	return xstrdup("export");
}

START_TEST(test_fixture_templates)
{
	struct st_env	 env;
	char		*s, *base;
	size_t		 links;

	st_env_init(&env, "notion", "notion", NULL);
	env.conn.source_dir = templates_export(&env);
	ck_assert_msg(st_run(&env) == 0, "%s", env.err);
	/* 278 pages and the _all.csv of the one database. */
	ck_assert_uint_eq(env.res.staged.n, 279);
	ck_assert_uint_eq(env.res.noutputs, 279);
	ck_assert_uint_eq(check_links(&env, &links), 279);
	ck_assert_uint_eq(links, 3);
	ck_assert_uint_eq(st_nevents(&env.res, "notion_csv_variant_ignored"),
	    1);

	s = st_read(env.worktree, "wiki/global/notion-habit-tracker.md", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(strstr(s, "\xef\xbb\xbf"));
	ck_assert_ptr_nonnull(strstr(s,
	    "summary: Notion database Habit Tracker (269 rows)\n"));
	ck_assert_ptr_nonnull(strstr(s, "# Habit Tracker\n\n| Date | Ran today "
	    "| Meditated | Practiced guitar | Full date |\n| --- | --- | --- | "
	    "--- | --- |\n| @December 1, 2024 | No | No | No | December 4, "
	    "2024 8:45 AM |\n"));
	/* The header, the rule and 269 rows (the last without a newline). */
	ck_assert_uint_eq(st_count(s, "\n| "), 271);
	free(s);
	/*
	 * Home links the CSVs of four inline databases the export left out:
	 * two of them have their page ("My tasks <id>.md" beside the missing
	 * "My tasks <id>.csv"), the other two stay text.
	 */
	s = st_read(env.worktree, "wiki/global/notion-home.md", NULL);
	ck_assert_str_eq(strstr(s, "# Home"),
	    "# Home\n\nUntitled\n\n[[notion-my-tasks|My tasks]]\n\n"
	    "[[notion-home-views|Home views]]\n\nUntitled\n");
	free(s);
	s = st_read(env.worktree,
	    "wiki/global/notion-getting-started-on-mobile.md",
	    NULL);
	ck_assert_ptr_nonnull(strstr(s, "[[notion-example-sub-page|Example sub "
	    "page]]"));
	free(s);
	/* Two row pages titled "@Today". */
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/notion-today-8869531a.md"));
	ck_assert_ptr_nonnull(st_output(&env.res,
	    "wiki/global/notion-today-449ee2cd.md"));
	s = st_read(env.worktree, "wiki/global/notion-april-1-2025.md", NULL);
	base = strstr(s, "\n---\n\n");
	ck_assert_str_eq(base,
	    "\n---\n\n# @April 1, 2025\n\nFull date: April 1, "
	    "2025 11:24 AM\nRan today: No\nMeditated: No\nPracticed guitar: "
	    "No\n");
	free(s);
	st_pipeline(&env, NULL);
	st_env_release(&env);
}
END_TEST

START_TEST(test_fixture_deterministic_and_idempotent)
{
	struct st_env	 a, b;
	char		*ta, *tb;
	size_t		 i;

	st_env_init(&a, "notion", "notion", NULL);
	st_env_init(&b, "notion", "notion", NULL);
	a.conn.source_dir = templates_export(&a);
	b.conn.source_dir = templates_export(&b);
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

int
main(void)
{
	Suite	*s = suite_create("notion");
	TCase	*tc = tcase_create("small");
	TCase	*bad = tcase_create("malformed");
	TCase	*fx = tcase_create("fixtures");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_small_export);
	tcase_add_test(tc, test_no_tables_without_manifest);
	suite_add_tcase(s, tc);
	tcase_add_test(bad, test_not_utf8);
	tcase_add_test(bad, test_huge_page);
	tcase_add_test(bad, test_symlink_out);
	tcase_add_test(bad, test_symlinked_dir_not_followed);
	tcase_add_test(bad, test_empty_export);
	tcase_add_test(bad, test_missing_source_dir);
	suite_add_tcase(s, bad);
	tcase_add_test(fx, test_fixture_blendle);
	tcase_add_test(fx, test_fixture_templates);
	tcase_add_test(fx, test_fixture_deterministic_and_idempotent);
	tcase_set_timeout(fx, 120);
	suite_add_tcase(s, fx);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
