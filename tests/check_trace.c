/*
 * Traces: the level filter, ktx's fields in ktx's order, timed steps, and
 * appending from a second writer.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "trace.h"
#include "util.h"

static char	*tmp;

static void
setup(void)
{
	char	tmpl[] = "/tmp/check-trace.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	tmp = xstrdup(tmpl);
}

static void
teardown(void)
{
	char	*cmd;

	if (getenv("KTX_KEEP_TMP") == NULL) {
		xasprintf(&cmd, "rm -rf '%s'", tmp);
		ck_assert_int_eq(system(cmd), 0);
		free(cmd);
	}
	free(tmp);
}

/* The trace's lines, parsed. */
static size_t
read_lines(const char *path, cJSON **lines, size_t max)
{
	FILE	*f = fopen(path, "r");
	char	 buf[4096];
	size_t	 n = 0;

	ck_assert_ptr_nonnull(f);
	while (n < max && fgets(buf, sizeof(buf), f) != NULL) {
		ck_assert_int_eq(buf[strlen(buf) - 1], '\n');
		lines[n] = cJSON_Parse(buf);
		ck_assert_ptr_nonnull(lines[n]);
		n++;
	}
	fclose(f);
	return n;
}

static const char *
str(const cJSON *o, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

START_TEST(test_level_parse)
{
	enum trace_level	l;

	ck_assert_int_eq(trace_level_parse(NULL, &l), 0);
	ck_assert_int_eq(l, TRACE_DEBUG);
	ck_assert_int_eq(trace_level_parse("", &l), 0);
	ck_assert_int_eq(l, TRACE_DEBUG);
	ck_assert_int_eq(trace_level_parse("error", &l), 0);
	ck_assert_int_eq(l, TRACE_ERROR);
	ck_assert_int_eq(trace_level_parse("INFO", &l), 0);
	ck_assert_int_eq(l, TRACE_INFO);
	ck_assert_int_eq(trace_level_parse("trace", &l), 0);
	ck_assert_int_eq(l, TRACE_TRACE);
	ck_assert_int_eq(trace_level_parse("verbose", &l), -1);
	ck_assert_str_eq(trace_level_name(TRACE_INFO), "info");
}
END_TEST

START_TEST(test_fields_in_order)
{
	struct trace	 t;
	cJSON		*lines[8], *data, *item;
	char		*err = NULL, *path;
	const char	*order[] = { "schemaVersion", "at", "level", "jobId",
			    "connectionId", "sourceKey", "runId", "syncId",
			    "phase", "event", "durationMs", "data", "error" };
	size_t		 n, i;

	ck_assert_int_eq(trace_open(&t, tmp, "job-1", "wh", "live-database",
	    "run-1", TRACE_DEBUG, &err), 0);
	path = trace_path(tmp, "job-1");
	ck_assert_str_eq(t.path, path);
	trace_event(&t, TRACE_INFO, "run", "ingest_started", -1, NULL, NULL);
	trace_set_sync_id(&t, "2024-05-31-120000-job-1");
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "phase", "before_final_squash");
	trace_event(&t, TRACE_ERROR, "refresh", "session_refreshed_from_root",
	    12, data, "conflict");
	trace_close(&t);

	n = read_lines(path, lines, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(str(lines[0], "level"), "info");
	ck_assert_ptr_null(cJSON_GetObjectItem(lines[0], "syncId"));
	ck_assert_ptr_null(cJSON_GetObjectItem(lines[0], "durationMs"));
	ck_assert_ptr_null(cJSON_GetObjectItem(lines[0], "data"));
	ck_assert_ptr_null(cJSON_GetObjectItem(lines[0], "error"));
	ck_assert_int_eq(cJSON_GetObjectItem(lines[0],
	    "schemaVersion")->valueint, 1);
	ck_assert_str_eq(str(lines[0], "runId"), "run-1");
	ck_assert(strlen(str(lines[0], "at")) == 24 &&
	    str(lines[0], "at")[23] == 'Z');
	/* Every member, in ktx's order. */
	for (i = 0, item = lines[1]->child; item != NULL; item = item->next, i++)
		ck_assert_str_eq(item->string, order[i]);
	ck_assert_uint_eq(i, 13);
	ck_assert_str_eq(str(lines[1], "syncId"), "2024-05-31-120000-job-1");
	ck_assert_int_eq(cJSON_GetObjectItem(lines[1], "durationMs")->valueint,
	    12);
	ck_assert_str_eq(str(cJSON_GetObjectItem(lines[1], "data"), "phase"),
	    "before_final_squash");
	ck_assert_str_eq(str(cJSON_GetObjectItem(lines[1], "error"), "message"),
	    "conflict");
	for (i = 0; i < n; i++)
		cJSON_Delete(lines[i]);
	free(path);
}
END_TEST

START_TEST(test_level_filter_and_spans)
{
	struct trace		 t;
	struct trace_span	 s;
	cJSON			*lines[8];
	char			*err = NULL, *path;
	size_t			 n, i;

	ck_assert_int_eq(trace_open(&t, tmp, "job-2", "docs", "notion", NULL,
	    TRACE_INFO, &err), 0);
	ck_assert(!trace_enabled(&t, TRACE_DEBUG));
	ck_assert(trace_enabled(&t, TRACE_INFO));
	trace_begin(&t, &s, "stage_raw_files", "stage_raw_files", NULL);
	trace_end(&t, &s, cJSON_CreateObject());
	trace_event(&t, TRACE_TRACE, "x", "y", -1, NULL, NULL);
	trace_fail(&t, &s, "boom", NULL);
	trace_close(&t);
	ck_assert_int_eq(trace_open(&t, tmp, "job-2", "docs", "notion", NULL,
	    TRACE_TRACE, &err), 0);
	trace_begin(&t, &s, "squash", "squash", NULL);
	trace_end(&t, &s, NULL);
	trace_close(&t);

	path = trace_path(tmp, "job-2");
	n = read_lines(path, lines, 8);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(str(lines[0], "event"), "stage_raw_files_failed");
	ck_assert_str_eq(str(lines[0], "level"), "error");
	ck_assert_ptr_null(cJSON_GetObjectItem(lines[0], "runId"));
	ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(lines[0], "durationMs")));
	ck_assert_str_eq(str(lines[1], "event"), "squash_started");
	ck_assert_str_eq(str(lines[1], "level"), "debug");
	ck_assert_str_eq(str(lines[2], "event"), "squash_finished");
	ck_assert_str_eq(str(lines[2], "phase"), "squash");
	for (i = 0; i < n; i++)
		cJSON_Delete(lines[i]);
	free(path);
}
END_TEST

START_TEST(test_unwritable_trace_is_quiet)
{
	struct trace	 t;
	char		*err = NULL, *blocker;
	FILE		*f;

	xasprintf(&blocker, "%s/.ktx", tmp);
	ck_assert_ptr_nonnull(f = fopen(blocker, "w"));
	fclose(f);
	ck_assert_int_eq(trace_open(&t, tmp, "job-3", "c", "dbt", NULL,
	    TRACE_TRACE, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot create"));
	ck_assert(!trace_enabled(&t, TRACE_ERROR));
	trace_event(&t, TRACE_ERROR, "run", "ingest_failed", -1,
	    cJSON_CreateObject(), "x");
	trace_close(&t);
	memset(&t, 0, sizeof(t));
	trace_close(&t);
	free(err);
	free(blocker);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("trace");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_level_parse);
	tcase_add_test(tc, test_fields_in_order);
	tcase_add_test(tc, test_level_filter_and_spans);
	tcase_add_test(tc, test_unwritable_trace_is_quiet);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
