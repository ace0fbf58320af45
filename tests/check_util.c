#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

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
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
