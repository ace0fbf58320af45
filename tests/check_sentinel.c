/* The sentinel of a kept session: ktx's layout, written whole. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sentinel.h"
#include "util.h"

START_TEST(test_text_with_conflicts)
{
	struct strv	 paths = { 0 };
	struct sentinel	 s = { 0 };
	char		*text;

	strv_push(&paths, "wiki/global/a.md");
	strv_push(&paths, "wiki/global/\"b\".md");
	s.outcome = "conflict";
	s.at_ms = 1717156800123LL;
	s.job_id = "job-1";
	s.base_sha = "0123456789012345678901234567890123456789";
	s.conflict_paths = &paths;
	s.reason = "source refresh conflict before before_reconciliation: "
	    "wiki/global/a.md";
	text = sentinel_text(&s);
	ck_assert_str_eq(text, "{\n"
	    "  \"outcome\": \"conflict\",\n"
	    "  \"at\": \"2024-05-31T12:00:00.123Z\",\n"
	    "  \"jobId\": \"job-1\",\n"
	    "  \"baseSha\": \"0123456789012345678901234567890123456789\",\n"
	    "  \"conflictPaths\": [\n"
	    "    \"wiki/global/a.md\",\n"
	    "    \"wiki/global/\\\"b\\\".md\"\n"
	    "  ],\n"
	    "  \"reason\": \"source refresh conflict before "
	    "before_reconciliation: wiki/global/a.md\"\n"
	    "}");
	free(text);
	strv_release(&paths);
}
END_TEST

START_TEST(test_text_without_conflicts)
{
	struct sentinel	 s = { 0 };
	char		*text;

	s.outcome = "crash";
	s.job_id = "job-2";
	text = sentinel_text(&s);
	ck_assert_str_eq(text, "{\n"
	    "  \"outcome\": \"crash\",\n"
	    "  \"at\": \"1970-01-01T00:00:00.000Z\",\n"
	    "  \"jobId\": \"job-2\",\n"
	    "  \"baseSha\": null,\n"
	    "  \"conflictPaths\": [],\n"
	    "  \"reason\": null\n"
	    "}");
	free(text);
}
END_TEST

START_TEST(test_write)
{
	struct sentinel	 s = { 0 };
	char		 tmpl[] = "/tmp/check-sentinel.XXXXXX", *path, *cmd;
	char		*err = NULL, buf[512];
	FILE		*f;
	size_t		 n;

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	s.outcome = "aborted";
	s.job_id = "job-3";
	s.reason = "aborted by SIGTERM";
	ck_assert_int_eq(sentinel_write(tmpl, &s, &err), 0);
	xasprintf(&path, "%s/.ktx-outcome", tmpl);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	ck_assert_int_eq(buf[n - 1], '}');
	ck_assert_ptr_nonnull(strstr(buf, "\"outcome\": \"aborted\""));
	free(path);
	xasprintf(&path, "%s/.ktx-outcome.tmp", tmpl);
	ck_assert_int_eq(access(path, F_OK), -1);
	free(path);
	xasprintf(&path, "%s/missing", tmpl);
	ck_assert_int_eq(sentinel_write(path, &s, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot write"));
	free(err);
	free(path);
	xasprintf(&cmd, "rm -rf '%s'", tmpl);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}
END_TEST

START_TEST(test_update)
{
	struct strv	 paths = { 0 };
	struct sentinel	 s = { 0 };
	char		 tmpl[] = "/tmp/check-sentinel.XXXXXX", *cmd, *text;
	char		*err = NULL, *path;
	FILE		*f;
	char		 buf[1024];
	size_t		 n;

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	strv_push(&paths, "wiki/global/a.md");
	s.outcome = "aborted";
	s.at_ms = 1;
	s.job_id = "job-4";
	s.base_sha = "0123456789012345678901234567890123456789";
	s.conflict_paths = &paths;
	s.reason = "aborted by SIGTERM";
	ck_assert_int_eq(sentinel_write(tmpl, &s, &err), 0);
	ck_assert_int_eq(sentinel_update(tmpl, "timeout", "timed out after 1 s",
	    &err), 0);
	xasprintf(&path, "%s/.ktx-outcome", tmpl);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	s.outcome = "timeout";
	s.reason = "timed out after 1 s";
	text = sentinel_text(&s);
	/* All but "at", which the update renews. */
	ck_assert_str_eq(strstr(buf, "\"jobId\""), strstr(text, "\"jobId\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"outcome\": \"timeout\""));
	free(text);
	free(path);
	xasprintf(&path, "%s/missing", tmpl);
	ck_assert_int_eq(sentinel_update(path, "crash", NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot read"));
	free(err);
	free(path);
	xasprintf(&path, "%s/.ktx-outcome", tmpl);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("[1]", f);
	fclose(f);
	ck_assert_int_eq(sentinel_update(tmpl, "crash", NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "is not a sentinel"));
	free(err);
	free(path);
	strv_release(&paths);
	xasprintf(&cmd, "rm -rf '%s'", tmpl);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("sentinel");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_text_with_conflicts);
	tcase_add_test(tc, test_text_without_conflicts);
	tcase_add_test(tc, test_write);
	tcase_add_test(tc, test_update);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
