/*
 * Secret references in the worker: env: and file: resolved in place and
 * into the adapter's variables, messages without values, redaction.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

static char	*tmp;

static void
setup(void)
{
	char	tmpl[] = "/tmp/check-secrets.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	tmp = xstrdup(tmpl);
}

static void
teardown(void)
{
	char	*cmd;

	xasprintf(&cmd, "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	free(tmp);
}

static void
put(const char *rel, const char *data, size_t len)
{
	char	*path;
	FILE	*f;

	xasprintf(&path, "%s/%s", tmp, rel);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	free(path);
}

static void
conn_init(struct ktx_connection *c, const char *url)
{
	memset(c, 0, sizeof(*c));
	c->id = "wh";
	c->url = url != NULL ? xstrdup(url) : NULL;
}

START_TEST(test_env_and_file_references)
{
	struct ktx_connection	 c;
	struct secrets		 s;
	char			*err = NULL, *path;

	setenv("CHECK_SECRET_URL", "postgresql://u:pw-123@db/wh", 1);
	conn_init(&c, "env:CHECK_SECRET_URL");
	put("token", "tok-456\n", 8);
	put("crlf", "crlf-789\r\n", 10);
	xasprintf(&path, "TOKEN=file:%s/token", tmp);
	strv_push_owned(&c.adapter_secrets, path);
	strv_push(&c.adapter_secrets, "REL=file:crlf");
	ck_assert_msg(secrets_resolve(&c, tmp, &s, &err) == 0, "%s", err);
	ck_assert_str_eq(c.url, "postgresql://u:pw-123@db/wh");
	ck_assert_ptr_null(c.path);
	ck_assert_uint_eq(s.env.n, 2);
	ck_assert_str_eq(s.env.v[0], "TOKEN=tok-456");
	ck_assert_str_eq(s.env.v[1], "REL=crlf-789");
	ck_assert_uint_eq(s.values.n, 3);
	secrets_release(&s);
	free(c.url);
	strv_release(&c.adapter_secrets);
}
END_TEST

START_TEST(test_plain_values_stay)
{
	struct ktx_connection	 c;
	struct secrets		 s;
	char			*err = NULL;

	conn_init(&c, "sqlite:///data/wh.sqlite");
	c.path = xstrdup("wh.sqlite");
	ck_assert_int_eq(secrets_resolve(&c, tmp, &s, &err), 0);
	ck_assert_str_eq(c.url, "sqlite:///data/wh.sqlite");
	ck_assert_str_eq(c.path, "wh.sqlite");
	ck_assert_uint_eq(s.values.n, 0);
	secrets_release(&s);
	free(c.url);
	free(c.path);
}
END_TEST

/* resolve_error URL SECRET: the message of a failed resolve. */
static char *
resolve_error(const char *url, const char *secret)
{
	struct ktx_connection	 c;
	struct secrets		 s;
	char			*err = NULL;

	conn_init(&c, url);
	if (secret != NULL)
		strv_push(&c.adapter_secrets, secret);
	ck_assert_int_eq(secrets_resolve(&c, tmp, &s, &err), -1);
	secrets_release(&s);
	free(c.url);
	strv_release(&c.adapter_secrets);
	return err;
}

#define ck_error(url, secret, want) do {				\
	char	*e_ = resolve_error(url, secret);			\
	ck_assert_str_eq(e_, want);					\
	free(e_);							\
} while (0)

START_TEST(test_failures_name_the_reference_not_the_value)
{
	char	*want, *big;

	unsetenv("CHECK_SECRET_UNSET");
	setenv("CHECK_SECRET_EMPTY", "", 1);
	ck_error("env:CHECK_SECRET_UNSET", NULL, "connection \"wh\": \"url\" "
	    "names the environment variable \"CHECK_SECRET_UNSET\", which is "
	    "not set");
	ck_error("env:CHECK_SECRET_EMPTY", NULL, "connection \"wh\": \"url\" "
	    "names the environment variable \"CHECK_SECRET_EMPTY\", which is "
	    "not set");
	ck_error(NULL, "TOKEN=env:CHECK_SECRET_UNSET", "connection \"wh\": "
	    "\"adapter.secrets.TOKEN\" names the environment variable "
	    "\"CHECK_SECRET_UNSET\", which is not set");
	ck_error(NULL, "TOKEN=literal", "connection \"wh\": "
	    "\"adapter.secrets.TOKEN\" is not a reference");

	xasprintf(&want, "connection \"wh\": cannot read the secret file "
	    "\"%s/missing\" of \"url\": No such file or directory", tmp);
	ck_error("file:missing", NULL, want);
	free(want);
	put("empty", "\n", 1);
	xasprintf(&want, "connection \"wh\": the secret file \"%s/empty\" of "
	    "\"url\" is empty", tmp);
	ck_error("file:empty", NULL, want);
	free(want);
	put("nul", "a\0b", 3);
	xasprintf(&want, "connection \"wh\": the secret file \"%s/nul\" of "
	    "\"url\" is not text of at most 65536 bytes", tmp);
	ck_error("file:nul", NULL, want);
	free(want);
	big = xcalloc(1, 65537);
	memset(big, 'x', 65537);
	put("big", big, 65537);
	free(big);
	xasprintf(&want, "connection \"wh\": the secret file \"%s/big\" of "
	    "\"url\" is not a regular file of at most 65536 bytes", tmp);
	ck_error("file:big", NULL, want);
	free(want);
	xasprintf(&want, "connection \"wh\": the secret file \"%s\" of "
	    "\"url\" is not a regular file of at most 65536 bytes", tmp);
	xasprintf(&big, "file:%s", tmp);
	ck_error(big, NULL, want);
	free(big);
	free(want);
}
END_TEST

START_TEST(test_redact)
{
	struct secrets	 s = { 0 };
	char		*out;

	strv_push(&s.values, "hunter2");
	strv_push(&s.values, "secret");
	out = secrets_redact(&s, "pw=hunter2 again hunter2, and secret");
	ck_assert_str_eq(out, "pw=(secret) again (secret), and (secret)");
	free(out);
	out = secrets_redact(&s, "nothing here");
	ck_assert_str_eq(out, "nothing here");
	free(out);
	secrets_release(&s);
	/* A value that "(secret)" contains does not loop. */
	strv_push(&s.values, "(secret)");
	out = secrets_redact(&s, "x(secret)y");
	ck_assert_str_eq(out, "x(secret)y");
	free(out);
	secrets_release(&s);
	ck_assert_ptr_null(s.values.v);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("secrets");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_env_and_file_references);
	tcase_add_test(tc, test_plain_values_stay);
	tcase_add_test(tc, test_failures_name_the_reference_not_the_value);
	tcase_add_test(tc, test_redact);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
