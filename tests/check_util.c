#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

START_TEST(test_strv_grows_and_stays_null_terminated)
{
	struct strv	sv = { 0 };
	char		buf[16];
	int		i;

	for (i = 0; i < 100; i++) {
		snprintf(buf, sizeof(buf), "s%d", i);
		strv_push(&sv, buf);
		ck_assert_ptr_null(sv.v[sv.n]);
	}
	ck_assert_uint_eq(sv.n, 100);
	ck_assert_str_eq(sv.v[0], "s0");
	ck_assert_str_eq(sv.v[99], "s99");
	strv_release(&sv);
	ck_assert_ptr_null(sv.v);
	ck_assert_uint_eq(sv.n, 0);
}
END_TEST

START_TEST(test_xasprintf_formats)
{
	char	*s;

	ck_assert_int_eq(xasprintf(&s, "%s:%d:%d", "ktx.yaml", 12, 5), 13);
	ck_assert_str_eq(s, "ktx.yaml:12:5");
	free(s);
}
END_TEST

START_TEST(test_monotonic_clock_advances)
{
	int64_t	a, b;

	a = now_monotonic_ms();
	b = now_monotonic_ms();
	ck_assert_int_ge(b, a);
	ck_assert_int_gt(now_wall_ms(), 1600000000000LL);
}
END_TEST

START_TEST(test_iso_time_ms)
{
	char	buf[ISO_TIME_MAX];

	ck_assert_str_eq(iso_time_ms(0, buf), "1970-01-01T00:00:00.000Z");
	ck_assert_str_eq(iso_time_ms(1717156800123LL, buf),
	    "2024-05-31T12:00:00.123Z");
}
END_TEST

START_TEST(test_mkpath)
{
	char		 tmpl[] = "/tmp/check-util.XXXXXX", *path, *file;
	struct stat	 st;
	FILE		*f;

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	xasprintf(&path, "%s/a/b/c/", tmpl);
	ck_assert_int_eq(mkpath(path, 0755), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(mkpath(path, 0755), 0);
	xasprintf(&file, "%s/a/f", tmpl);
	ck_assert_ptr_nonnull(f = fopen(file, "w"));
	fclose(f);
	ck_assert_int_eq(mkpath(file, 0755), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	free(path);
	xasprintf(&path, "%s/a/f/g", tmpl);
	ck_assert_int_eq(mkpath(path, 0755), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	ck_assert_int_eq(mkpath("", 0755), -1);
	free(path);
	xasprintf(&path, "rm -rf '%s'", tmpl);
	ck_assert_int_eq(system(path), 0);
	free(path);
	free(file);
}
END_TEST

/* What log_fprintf writes for fmt "%s" and s.  Caller frees. */
static char *
escaped(const char *s)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f;

	f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	log_fprintf(f, "%s", s);
	fclose(f);
	return buf;
}

START_TEST(test_log_escapes_what_steers_a_terminal)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "plain \xc3\xa9t\xc3\xa9 \xe2\x82\xac",
		    "plain \xc3\xa9t\xc3\xa9 \xe2\x82\xac" },
		{ "two\nlines\tand a tab", "two\nlines\tand a tab" },
		{ "a\033[2Jb", "a\\x1b[2Jb" },
		{ "bell\a cr\r del\177", "bell\\x07 cr\\x0d del\\x7f" },
		{ "c1 \xc2\x9b" "31m", "c1 \\xc2\\x9b" "31m" },
		{ "bad \xff \xc0\xaf \xed\xa0\x80",
		    "bad \\xff \\xc0\\xaf \\xed\\xa0\\x80" },
		{ "cut \xe2\x82", "cut \\xe2\\x82" },
	};
	char	*got;
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = escaped(cases[i].in);
		ck_assert_str_eq(got, cases[i].out);
		free(got);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_strv_grows_and_stays_null_terminated);
	tcase_add_test(tc, test_xasprintf_formats);
	tcase_add_test(tc, test_monotonic_clock_advances);
	tcase_add_test(tc, test_iso_time_ms);
	tcase_add_test(tc, test_mkpath);
	tcase_add_test(tc, test_log_escapes_what_steers_a_terminal);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
