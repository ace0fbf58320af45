#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gates.h"
#include "reconcile.h"
#include "util.h"

static char	root[PATH_MAX];

static void
setup(void)
{
	const char	*base = getenv("TMPDIR");

	snprintf(root, sizeof(root), "%s/check_reconcile.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(root));
}

static void
teardown(void)
{
	char	cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

static void
put(const char *rel, const char *text)
{
	char	path[PATH_MAX * 2], *p;
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		ck_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static char *
get(const char *rel)
{
	char	path[PATH_MAX * 2], *buf;
	FILE	*f;
	long	 n;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
sl_tree(void)
{
	put("semantic-layer/wh/_schema/billing.yaml",
	    "tables:\n"
	    "  invoices:\n"
	    "    table: billing.invoices\n"
	    "    columns:\n"
	    "      - { name: invoice_id, type: string, pk: true }\n"
	    "      - { name: amount_cents, type: number }\n"
	    "  subscriptions:\n"
	    "    table: billing.subscriptions\n"
	    "    columns:\n"
	    "      - { name: subscription_id, type: string, pk: true }\n");
	put("semantic-layer/wh/invoices.yaml",
	    "name: invoices\n"
	    "measures:\n"
	    "  - { name: invoiced_total, expr: sum(amount_cents) }\n"
	    "segments:\n"
	    "  - { name: large, expr: amount_cents > 100000 }\n");
	put("wiki/global/churned-customer.md",
	    "---\nsummary: Churn\nusage_mode: auto\n---\n\nChurn.\n");
}

/*
 * Reconcile, the semantic layer loaded by reconcile_run when a page needs
 * it (as the pipeline does); 0 or -1.  (tests/srctest.c passes one.)
 */
static int
reconcile(struct reconcile_result *res, char **err)
{
	*err = NULL;
	return reconcile_run(root, NULL, NULL, res, err);
}

static void
reconcile_ok(struct reconcile_result *res)
{
	char	*err;
	int	 r = reconcile(res, &err);

	ck_assert_msg(r == 0, "reconcile failed: %s", err ? err : "");
}

START_TEST(test_page_requests)
{
	struct reconcile_result	 res;
	char			*text;

	sl_tree();
	put("wiki/global/notes.md",
	    "---\nsummary: Notes\nusage_mode: auto\n---\n\n"
	    "By key [[?page:churned-customer]], by title"
	    " [[?page: Churned Customer ]], labelled"
	    " [[?page:Churned customer|those who left]],\n"
	    "missing [[?page:Nowhere Land]] and [[?page:x|the x page]];"
	    " an explicit [[kept-as-is]].\n");
	reconcile_ok(&res);
	ck_assert_uint_eq(res.npages, 1);
	ck_assert_str_eq(res.pages[0].path, "wiki/global/notes.md");
	ck_assert_uint_eq(res.pages[0].links.n, 5);
	ck_assert_str_eq(res.pages[0].links.v[0],
	    "[[?page:churned-customer]] -> [[churned-customer]]");
	ck_assert_str_eq(res.pages[0].links.v[1],
	    "[[?page: Churned Customer ]] -> [[churned-customer|Churned"
	    " Customer]]");
	ck_assert_str_eq(res.pages[0].links.v[3],
	    "[[?page:Nowhere Land]] -> plain text");
	ck_assert_uint_eq(res.pages[0].removed_sl_refs.n, 0);
	ck_assert_uint_eq(res.pages[0].added_sl_refs.n, 0);
	text = get("wiki/global/notes.md");
	ck_assert_str_eq(text,
	    "---\nsummary: Notes\nusage_mode: auto\n---\n\n"
	    "By key [[churned-customer]], by title"
	    " [[churned-customer|Churned Customer]], labelled"
	    " [[churned-customer|those who left]],\n"
	    "missing Nowhere Land and the x page; an explicit"
	    " [[kept-as-is]].\n");
	free(text);
	reconcile_result_release(&res);
}
END_TEST

START_TEST(test_table_requests)
{
	struct reconcile_result	 res;
	char			*text;

	sl_tree();
	put("wiki/global/rows.md",
	    "---\nsummary: Rows\nusage_mode: auto\nsl_refs:\n  - invoices\n"
	    "tags: [x]\n---\n\n"
	    "Rows live in [[?table:wh/billing.invoices]] and"
	    " [[?table:BILLING.SUBSCRIPTIONS]]; not in"
	    " [[?table:wh/billing.ghosts]] nor [[?table:kb/invoices]].\n");
	reconcile_ok(&res);
	ck_assert_uint_eq(res.npages, 1);
	ck_assert_uint_eq(res.pages[0].added_sl_refs.n, 1);
	ck_assert_str_eq(res.pages[0].added_sl_refs.v[0], "subscriptions");
	ck_assert_str_eq(res.pages[0].links.v[0],
	    "[[?table:wh/billing.invoices]] -> `wh/table:billing.invoices`");
	ck_assert_str_eq(res.pages[0].links.v[2],
	    "[[?table:wh/billing.ghosts]] -> plain text");
	text = get("wiki/global/rows.md");
	ck_assert_str_eq(text,
	    "---\nsummary: Rows\nusage_mode: auto\nsl_refs:\n  - invoices\n"
	    "  - subscriptions\ntags:\n  - x\n---\n\n"
	    "Rows live in `wh/table:billing.invoices` and"
	    " `wh/table:BILLING.SUBSCRIPTIONS`; not in billing.ghosts nor"
	    " invoices.\n");
	free(text);
	reconcile_result_release(&res);
}
END_TEST

/* ktx's repairWikiSlRefs: keep source, measure and segment refs only. */
START_TEST(test_prune_sl_refs)
{
	struct reconcile_result	 res;
	char			*text;

	sl_tree();
	put("wiki/global/risk.md",
	    "---\nsummary: Risk\nsl_refs:\n"
	    "  - invoices\n  - invoices.invoiced_total\n"
	    "  - invoices.invoiced_total\n  - invoices.large\n"
	    "  - invoices.amount_cents\n  - wh/invoices\n  - nosuch\n"
	    "  - invoices.nosuch\n  - 42\n  - '  '\n"
	    "usage_mode: auto\n---\n\nRisk.\n");
	put("wiki/user/u1/mine.md",
	    "---\nsummary: Mine\nusage_mode: auto\nsl_refs: [gone]\n---\n\nM.\n");
	reconcile_ok(&res);
	ck_assert_uint_eq(res.npages, 2);
	ck_assert_str_eq(res.pages[0].path, "wiki/global/risk.md");
	ck_assert_uint_eq(res.pages[0].removed_sl_refs.n, 4);
	ck_assert_str_eq(res.pages[0].removed_sl_refs.v[0],
	    "invoices.amount_cents");
	ck_assert_str_eq(res.pages[0].removed_sl_refs.v[1], "wh/invoices");
	ck_assert_str_eq(res.pages[0].removed_sl_refs.v[2], "nosuch");
	ck_assert_str_eq(res.pages[0].removed_sl_refs.v[3],
	    "invoices.nosuch");
	ck_assert_uint_eq(res.pages[0].links.n, 0);
	text = get("wiki/global/risk.md");
	ck_assert_str_eq(text,
	    "---\nsummary: Risk\nsl_refs:\n  - invoices\n"
	    "  - invoices.invoiced_total\n  - invoices.large\n"
	    "usage_mode: auto\n---\n\nRisk.\n");
	free(text);
	ck_assert_str_eq(res.pages[1].path, "wiki/user/u1/mine.md");
	text = get("wiki/user/u1/mine.md");
	ck_assert_str_eq(text, "---\nsummary: Mine\nusage_mode: auto\n"
	    "sl_refs: []\n---\n\nM.\n");
	free(text);
	reconcile_result_release(&res);
}
END_TEST

/* A page with nothing to do is not rewritten, byte for byte. */
START_TEST(test_untouched_pages)
{
	static const char	*page = "---\nsummary:   hand   # written\n"
	    "usage_mode: auto\nsl_refs: [invoices, invoices]\ntags: [a]\n"
	    "---\n\n  Body with [[churned-customer]].  \n";
	struct reconcile_result	 res;
	char			*text;

	sl_tree();
	put("wiki/global/hand.md", page);
	put("wiki/global/broken.md", "no frontmatter\n");
	put("wiki/global/odd.md", "---\nsummary: s\nusage_mode: auto\n---\n\n"
	    "[[?pages:x]] stays.\n");
	reconcile_ok(&res);
	ck_assert_uint_eq(res.npages, 0);
	text = get("wiki/global/hand.md");
	ck_assert_str_eq(text, page);
	free(text);
	ck_assert_uint_eq(res.warnings.n, 2);
	ck_assert_str_eq(res.warnings.v[0], "wiki/global/broken.md: Invalid"
	    " wiki page: missing YAML frontmatter");
	ck_assert_str_eq(res.warnings.v[1], "wiki/global/odd.md: unknown link"
	    " request [[?pages:x]] (left as it is)");
	text = get("wiki/global/odd.md");
	ck_assert_ptr_nonnull(strstr(text, "[[?pages:x]] stays."));
	free(text);
	reconcile_result_release(&res);
}
END_TEST

/* A page behind a symbolic link is neither read nor replaced. */
START_TEST(test_symlinked_page_skipped)
{
	struct reconcile_result	 res;
	struct stat		 sb;
	char			 path[PATH_MAX * 2], target[PATH_MAX * 2];
	char			*text;

	sl_tree();
	put("outside/secret.md", "---\nsummary: s\nusage_mode: auto\n"
	    "sl_refs: [gone]\n---\n\nsecret\n");
	snprintf(target, sizeof(target), "%s/outside/secret.md", root);
	snprintf(path, sizeof(path), "%s/wiki/global/linked.md", root);
	ck_assert_int_eq(symlink(target, path), 0);
	reconcile_ok(&res);
	ck_assert_uint_eq(res.npages, 0);
	ck_assert_uint_eq(res.warnings.n, 1);
	ck_assert_str_eq(res.warnings.v[0], "wiki/global/linked.md: skipped"
	    " (not a regular file, or a symbolic link on its path)");
	ck_assert_int_eq(lstat(path, &sb), 0);
	ck_assert(S_ISLNK(sb.st_mode));
	text = get("outside/secret.md");
	ck_assert_ptr_nonnull(strstr(text, "sl_refs: [gone]"));
	free(text);
	reconcile_result_release(&res);
}
END_TEST

/*
 * The gate fails on a dangling sl_ref; reconciliation prunes it (and
 * resolves the requests); then the gate passes.
 */
START_TEST(test_prune_then_gates_pass)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "wiki/global/p.md" },
	};
	struct gate_input	 in;
	struct gate_report	 rep;
	struct reconcile_result	 res;
	char			*msg = NULL;

	sl_tree();
	put("wiki/global/p.md", "---\nsummary: s\nusage_mode: auto\n"
	    "sl_refs: [invoices, invoices.ghost]\n---\n\n"
	    "See [[?page:Churned Customer]] in [[?table:billing.invoices]].\n");
	memset(&in, 0, sizeof(in));
	in.worktree = root;
	in.changed = ch;
	in.nchanged = 1;
	ck_assert_int_eq(gates_run(&in, &rep, &msg), -1);
	ck_assert_str_eq(msg, "final artifact gates failed:\n"
	    "p: unknown sl_refs entity invoices.ghost");
	free(msg);
	msg = NULL;
	reconcile_ok(&res);
	ck_assert_uint_eq(res.npages, 1);
	ck_assert_int_eq(gates_run(&in, &rep, &msg), 0);
	ck_assert_ptr_null(msg);
	reconcile_result_release(&res);
}
END_TEST

static TCase *
tcase(const char *name)
{
	TCase	*tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	return tc;
}

int
main(void)
{
	Suite	*s = suite_create("reconcile");
	TCase	*tc;
	SRunner	*sr;
	int	 failed;

	tc = tcase("links");
	tcase_add_test(tc, test_page_requests);
	tcase_add_test(tc, test_table_requests);
	suite_add_tcase(s, tc);

	tc = tcase("sl_refs");
	tcase_add_test(tc, test_prune_sl_refs);
	tcase_add_test(tc, test_untouched_pages);
	tcase_add_test(tc, test_symlinked_page_skipped);
	tcase_add_test(tc, test_prune_then_gates_pass);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
