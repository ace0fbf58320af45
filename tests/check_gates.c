#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gates.h"
#include "util.h"

#define N(a)	(sizeof(a) / sizeof((a)[0]))

static char	tmpdir[PATH_MAX];
static char	root[PATH_MAX + 8];	/* the worktree: tmpdir/wt */

static void
setup(void)
{
	const char	*base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/check_gates.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(root, sizeof(root), "%s/wt", tmpdir);
	ck_assert_int_eq(mkdir(root, 0755), 0);
}

static void
teardown(void)
{
	char	cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
mkdirs(const char *path)
{
	char	buf[PATH_MAX * 2], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST,
		    "mkdir %s", buf);
		*p = '/';
	}
}

/* Write rel (relative to the worktree) with len bytes of data. */
static void
put_bytes(const char *rel, const char *data, size_t len)
{
	char	path[PATH_MAX * 2];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	mkdirs(path);
	ck_assert_msg((f = fopen(path, "wb")) != NULL, "cannot write %s",
	    path);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void
put(const char *rel, const char *text)
{
	put_bytes(rel, text, strlen(text));
}

static void
rm(const char *rel)
{
	char	path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	ck_assert_int_eq(unlink(path), 0);
}

#define SHARD	"semantic-layer/wh/_schema/billing.yaml"
#define OVERLAY	"semantic-layer/wh/invoices.yaml"
#define SQLSRC	"semantic-layer/wh/open_invoices.yaml"
#define SNAP	"raw-sources/kb/notion/2026-03-01-101500-local-m1abc"

/*
 * The project of the reference's examples: a manifest shard, an overlay
 * on one of its entries, a standalone SQL source, two pages that link to
 * each other, and a raw snapshot.
 */
static void
base_tree(void)
{
	put(SHARD,
	    "tables:\n"
	    "  invoices:\n"
	    "    table: billing.invoices\n"
	    "    descriptions: { db: One row per issued invoice }\n"
	    "    columns:\n"
	    "      - { name: invoice_id, type: string, pk: true,"
	    " nullable: false }\n"
	    "      - { name: subscription_id, type: string }\n"
	    "      - { name: amount_cents, type: number }\n"
	    "      - { name: issued_at, type: time }\n"
	    "    joins:\n"
	    "      - { to: subscriptions, on: invoices.subscription_id ="
	    " subscriptions.subscription_id, relationship: many_to_one,"
	    " source: formal }\n"
	    "  subscriptions:\n"
	    "    table: billing.subscriptions\n"
	    "    columns:\n"
	    "      - { name: subscription_id, type: string, pk: true }\n"
	    "      - { name: ended_at, type: time }\n");
	put(OVERLAY,
	    "name: invoices\n"
	    "measures:\n"
	    "  - { name: invoiced_total, expr: sum(amount_cents) / 100.0 }\n"
	    "segments:\n"
	    "  - { name: large, expr: amount_cents > 100000 }\n"
	    "column_overrides:\n"
	    "  - { name: subscription_id, visibility: internal }\n");
	put(SQLSRC,
	    "name: open_invoices\n"
	    "sql: select invoice_id, amount_cents from billing.invoices"
	    " where paid_at is null\n"
	    "grain: [invoice_id]\n"
	    "columns:\n"
	    "  - { name: invoice_id, type: string }\n"
	    "  - { name: amount_cents, type: number }\n"
	    "measures:\n"
	    "  - { name: open_total, expr: sum(amount_cents) }\n"
	    "joins: []\n");
	put("wiki/global/churned-customer.md",
	    "---\n"
	    "summary: When a subscriber counts as churned\n"
	    "usage_mode: auto\n"
	    "tags:\n  - customers\n"
	    "refs:\n  - active-subscriber\n  - churned-customer\n"
	    "  - Not-A-Checked-Key\n"
	    "sl_refs:\n  - subscriptions\n  - invoices.invoiced_total\n"
	    "  - invoices.large\n  - invoices.issued_at\n"
	    "  - wh/open_invoices.open_total\n"
	    "---\n\n"
	    "See [[active-subscriber]] and [[Whatever Title]]. Totals in"
	    " `invoices.invoiced_total`, `source:open_invoices`,\n"
	    "`wh/table:billing.invoices`, `table:subscriptions`,"
	    " `unknown_src.x`.\n"
	    "```\n`source:not_checked_in_a_fence`\n```\n");
	put("wiki/global/active-subscriber.md",
	    "---\nsummary: Active subscribers\nusage_mode: always\n"
	    "refs: []\n---\n\nThe opposite of [[churned-customer|churn]].\n");
	put(SNAP "/pages/a.md", "# A\n");
	put(SNAP "/manifest.json", "{}\n");
}

static const struct gate_path base_changes[] = {
	{ GATE_ADDED, SNAP "/manifest.json" },
	{ GATE_ADDED, SNAP "/pages/a.md" },
	{ GATE_ADDED, OVERLAY },
	{ GATE_ADDED, SQLSRC },
	{ GATE_ADDED, SHARD },
	{ GATE_ADDED, "wiki/global/active-subscriber.md" },
	{ GATE_ADDED, "wiki/global/churned-customer.md" },
};

/* Run the gates; returns their result, *msg the message or NULL. */
static int
run(const struct gate_path *changed, size_t n, const struct strv *raw,
    struct gate_report *rep, char **msg)
{
	struct gate_input	in;

	memset(&in, 0, sizeof(in));
	in.worktree = root;
	in.changed = changed;
	in.nchanged = n;
	in.snapshot_dir = raw != NULL ? SNAP : NULL;
	in.raw_paths = raw;
	*msg = NULL;
	return gates_run(&in, rep, msg);
}

static void
expect_pass(const struct gate_path *changed, size_t n, const struct strv *raw,
    struct gate_report *rep)
{
	char	*msg;
	int	 r = run(changed, n, raw, rep, &msg);

	ck_assert_msg(r == 0, "gates failed: %s", msg ? msg : "(no message)");
	ck_assert_ptr_null(msg);
}

/* The gates fail with exactly "final artifact gates failed:\n" + items. */
static void
expect_fail(const struct gate_path *changed, size_t n, const struct strv *raw,
    const char *items)
{
	struct gate_report	 rep;
	char			*msg, *want;

	ck_assert_int_eq(run(changed, n, raw, &rep, &msg), -1);
	ck_assert_ptr_nonnull(msg);
	xasprintf(&want, "final artifact gates failed:\n%s", items);
	ck_assert_str_eq(msg, want);
	free(want);
	free(msg);
}

START_TEST(test_clean_tree_passes)
{
	struct gate_report	rep;
	struct strv		raw;

	memset(&raw, 0, sizeof(raw));
	strv_push(&raw, "manifest.json");
	strv_push(&raw, "pages/a.md");
	base_tree();
	expect_pass(base_changes, N(base_changes), &raw, &rep);
	ck_assert_int_eq(rep.all_pages, 1);
	ck_assert_int_eq(rep.sl_loaded, 1);
	ck_assert_uint_eq(rep.pages_checked, 2);
	ck_assert_uint_eq(rep.nerrors, 0);
	strv_release(&raw);
}
END_TEST

START_TEST(test_nothing_changed_passes)
{
	struct gate_report	rep;

	base_tree();
	expect_pass(NULL, 0, NULL, &rep);
	ck_assert_int_eq(rep.sl_loaded, 0);
	ck_assert_uint_eq(rep.pages_checked, 0);
}
END_TEST

START_TEST(test_ref_to_missing_page)
{
	static const struct gate_path ch[] = {
		{ GATE_MODIFIED, "wiki/global/active-subscriber.md" },
	};

	base_tree();
	put("wiki/global/active-subscriber.md",
	    "---\nsummary: s\nusage_mode: auto\nrefs: [gone-page, Upper]\n"
	    "---\n\nSee [[also-gone|label]], [[active-subscriber]].\n");
	expect_fail(ch, N(ch), NULL, "wiki references target missing"
	    " page(s): active-subscriber -> also-gone, active-subscriber ->"
	    " gone-page");
}
END_TEST

START_TEST(test_sl_ref_to_missing_source)
{
	static const struct gate_path ch[] = {
		{ GATE_MODIFIED, "wiki/global/active-subscriber.md" },
	};

	base_tree();
	put("wiki/global/active-subscriber.md",
	    "---\nsummary: s\nusage_mode: auto\n"
	    "sl_refs: [nosuch, invoices.nope, wh/ghost, invoices]\n---\n\nx\n");
	expect_fail(ch, N(ch), NULL,
	    "active-subscriber: unknown sl_refs entry nosuch\n"
	    "active-subscriber: unknown sl_refs entity invoices.nope\n"
	    "active-subscriber: unknown sl_refs entry wh/ghost");
}
END_TEST

START_TEST(test_body_refs)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "wiki/global/body.md" },
	};

	base_tree();
	put("wiki/global/body.md",
	    "---\nsummary: s\nusage_mode: auto\n---\n\n"
	    "`table:billing.nothing` `wh/table:invoices` `kb/table:invoices`"
	    " `source:nope` `wh/source:nope2` `invoices.nope`"
	    " `nosrc.whatever` `subscriptions.ended_at`\n");
	expect_fail(ch, N(ch), NULL,
	    "body: unknown raw table billing.nothing\n"
	    "body: unknown raw table kb/invoices\n"
	    "body: unknown semantic-layer source nope\n"
	    "body: unknown semantic-layer source wh/nope2\n"
	    "body: unknown semantic-layer entity invoices.nope");
}
END_TEST

START_TEST(test_overlay_without_manifest)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "semantic-layer/wh/ghost.yaml" },
	};

	base_tree();
	put("semantic-layer/wh/ghost.yaml",
	    "name: ghost\nmeasures:\n  - { name: n, expr: count(*) }\n");
	/* ktx drops such an overlay with a warning; the gate fails it. */
	expect_fail(ch, N(ch), NULL, "semantic-layer validation failed for"
	    " wh:ghost: semantic-layer/wh/ghost.yaml:1:7: overlay \"ghost\""
	    " has no manifest-backed source to compose onto");
}
END_TEST

START_TEST(test_join_to_missing_source)
{
	static const struct gate_path ch[] = {
		{ GATE_MODIFIED, SQLSRC },
	};

	base_tree();
	put(SQLSRC,
	    "name: open_invoices\nsql: select 1 as invoice_id\n"
	    "grain: [invoice_id]\ncolumns:\n  - { name: invoice_id }\n"
	    "measures:\n  - { name: open_total, expr: count(*) }\n"
	    "joins:\n  - { to: customers, on: open_invoices.invoice_id ="
	    " customers.id, relationship: many_to_one }\n"
	    "  - { to: Invoices, on: open_invoices.invoice_id ="
	    " invoices.invoice_id, relationship: one_to_one }\n");
	expect_fail(ch, N(ch), NULL,
	    "semantic-layer validation failed for wh:open_invoices: join"
	    " target \"customers\" does not exist; join target \"Invoices\""
	    " does not exist; join targets are case-sensitive \xe2\x80\x94"
	    " the source is named \"invoices\"");
}
END_TEST

START_TEST(test_duplicate_source)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "semantic-layer/wh/open_invoices_copy.yml" },
	};
	struct gate_report	 rep;
	char			*msg;

	base_tree();
	put("semantic-layer/wh/open_invoices_copy.yml",
	    "name: open_invoices\nsql: select 2 as invoice_id\n"
	    "grain: [invoice_id]\ncolumns:\n  - { name: invoice_id }\n");
	ck_assert_int_eq(run(ch, N(ch), NULL, &rep, &msg), -1);
	ck_assert_msg(strstr(msg, "Multiple semantic-layer files declare"
	    " source \"open_invoices\": " SQLSRC ", semantic-layer/wh/"
	    "open_invoices_copy.yml") != NULL, "unexpected: %s", msg);
	free(msg);
}
END_TEST

START_TEST(test_unparsable_sl_file)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "semantic-layer/wh/broken.yaml" },
	};

	base_tree();
	put("semantic-layer/wh/broken.yaml", "name: [unclosed\n");
	expect_fail(ch, N(ch), NULL, "semantic-layer/wh/broken.yaml:2:1:"
	    " invalid YAML: did not find expected ',' or ']' (while parsing a"
	    " flow sequence at 1:7)");
}
END_TEST

START_TEST(test_dotdot_and_absolute_paths)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "wiki/../../etc/passwd" },
		{ GATE_MODIFIED, "/etc/passwd" },
		{ GATE_DELETED, "wiki/global/../../ktx.yaml" },
		{ GATE_ADDED, "wiki//global/x.md" },
	};

	expect_fail(ch, N(ch), NULL,
	    "path escapes the repository: /etc/passwd (absolute path)\n"
	    "path escapes the repository: wiki/../../etc/passwd (\"..\""
	    " component)\n"
	    "path is not normalized: wiki//global/x.md\n"
	    "path escapes the repository: wiki/global/../../ktx.yaml (\"..\""
	    " component)");
}
END_TEST

/*
 * gates_regular_file refuses a path with a lexical problem before it
 * looks (it freed an uninitialised pointer then; clang found it).
 */
START_TEST(test_regular_file_lexical)
{
	put("wiki/global/a.md", "---\n{}\n---\n");
	ck_assert_int_eq(gates_regular_file(root, "wiki/global/a.md"), 1);
	ck_assert_int_eq(gates_regular_file(root, "wiki/../wiki/global/a.md"),
	    0);
	ck_assert_int_eq(gates_regular_file(root, "/etc/passwd"), 0);
	ck_assert_int_eq(gates_regular_file(root, "wiki//global/a.md"), 0);
}
END_TEST

START_TEST(test_symlinks)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "wiki/global/inside.md" },
		{ GATE_ADDED, "raw-sources/out/x.json" },
		{ GATE_MODIFIED, OVERLAY },	/* every page is validated */
	};
	char	path[PATH_MAX * 2], target[PATH_MAX * 2];

	base_tree();
	/*
	 * A link to a file inside the repository is refused too, and the
	 * page is not read through it (its dangling ref is not reported).
	 */
	put("wiki/global/target.txt", "---\nsummary: s\nusage_mode: auto\n"
	    "refs: [nowhere]\n---\n");
	snprintf(path, sizeof(path), "%s/wiki/global/inside.md", root);
	ck_assert_int_eq(symlink("target.txt", path), 0);
	/* A directory link leading out of the repository. */
	snprintf(target, sizeof(target), "%s/outside", tmpdir);
	ck_assert_int_eq(mkdir(target, 0755), 0);
	snprintf(path, sizeof(path), "%s/outside/x.json", tmpdir);
	ck_assert_int_eq(close(open(path, O_CREAT | O_WRONLY, 0644)), 0);
	snprintf(path, sizeof(path), "%s/raw-sources/out", root);
	ck_assert_int_eq(symlink(target, path), 0);
	expect_fail(ch, N(ch), NULL,
	    "symbolic link on changed path: raw-sources/out/x.json"
	    " (raw-sources/out is a symbolic link)\n"
	    "symbolic link on changed path: wiki/global/inside.md"
	    " (wiki/global/inside.md is a symbolic link)");
}
END_TEST

START_TEST(test_not_regular_files)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, SNAP "/fifo" },
		{ GATE_ADDED, SNAP "/pages" },
		{ GATE_MODIFIED, "wiki/global/vanished.md" },
	};
	char	path[PATH_MAX * 2];

	base_tree();
	snprintf(path, sizeof(path), "%s/%s/fifo", root, SNAP);
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	expect_fail(ch, N(ch), NULL,
	    "not a regular file: " SNAP "/fifo (a FIFO)\n"
	    "not a regular file: " SNAP "/pages (a directory)\n"
	    "cannot stat wiki/global/vanished.md: No such file or"
	    " directory");
}
END_TEST

START_TEST(test_outside_the_three_dirs)
{
	static const struct gate_path ch[] = {
		{ GATE_MODIFIED, "ktx.yaml" },
		{ GATE_MODIFIED, "ktx.yaml" },	/* listed twice, reported once */
		{ GATE_ADDED, ".ktx/hook.sh" },
		{ GATE_DELETED, "README.md" },
		{ GATE_ADDED, "wiki" },
		{ GATE_DELETED, "wiki/global/old.md" },
	};

	put("ktx.yaml", "connections: {}\n");
	put(".ktx/hook.sh", "#!/bin/sh\n");
	put("wiki/global/keep.md", "---\nsummary: s\nusage_mode: auto\n"
	    "---\n\nx\n");
	expect_fail(ch, N(ch), NULL,
	    "path outside wiki/, semantic-layer/ and raw-sources/:"
	    " .ktx/hook.sh\n"
	    "path outside wiki/, semantic-layer/ and raw-sources/:"
	    " README.md\n"
	    "path outside wiki/, semantic-layer/ and raw-sources/: ktx.yaml\n"
	    "path outside wiki/, semantic-layer/ and raw-sources/: wiki");
}
END_TEST

START_TEST(test_binary_and_encoding)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "wiki/global/img.md" },
		{ GATE_ADDED, "semantic-layer/wh/latin1.yaml" },
		{ GATE_ADDED, SNAP "/blob.bin" },
	};

	put_bytes("wiki/global/img.md", "\x89PNG\r\n\x1a\n\0\0", 10);
	put("semantic-layer/wh/latin1.yaml", "name: x\n# caf\xe9 au lait\n");
	put_bytes(SNAP "/blob.bin", "\0\1\2\3", 4);	/* raw: anything goes */
	expect_fail(ch, N(ch), NULL,
	    "not UTF-8 text: semantic-layer/wh/latin1.yaml (invalid byte"
	    " at 2:6)\n"
	    "binary file under wiki/: wiki/global/img.md");
}
END_TEST

START_TEST(test_too_large)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "wiki/global/huge.md" },
	};
	char	path[PATH_MAX * 2], *want;
	int	fd;

	snprintf(path, sizeof(path), "%s/wiki/global/huge.md", root);
	mkdirs(path);
	ck_assert_int_ne(fd = open(path, O_CREAT | O_WRONLY, 0644), -1);
	ck_assert_int_eq(ftruncate(fd, GATES_TEXT_MAX_BYTES + 1), 0);
	close(fd);
	xasprintf(&want, "file too large: wiki/global/huge.md (%d bytes; the"
	    " limit is %d)", GATES_TEXT_MAX_BYTES + 1, GATES_TEXT_MAX_BYTES);
	expect_fail(ch, N(ch), NULL, want);
	free(want);
}
END_TEST

START_TEST(test_provenance_outside_snapshot)
{
	struct strv	raw;
	char		*msg;
	struct gate_report rep;
	struct gate_input in;

	memset(&raw, 0, sizeof(raw));
	base_tree();
	put("raw-sources/kb/notion/2026-02-01-000000-local-old/pages/b.md",
	    "# old\n");
	strv_push(&raw, "pages/a.md");
	strv_push(&raw, "../2026-02-01-000000-local-old/pages/b.md");
	strv_push(&raw, "pages/never-written.md");
	strv_push(&raw, "/etc/passwd");
	expect_fail(NULL, 0, &raw,
	    "provenance row references raw path outside this snapshot:"
	    " ../2026-02-01-000000-local-old/pages/b.md\n"
	    "provenance row references raw path outside this snapshot:"
	    " pages/never-written.md\n"
	    "provenance row references raw path outside this snapshot:"
	    " /etc/passwd");

	memset(&in, 0, sizeof(in));
	in.worktree = root;
	in.snapshot_dir = "raw-sources/kb/../../wiki";
	in.raw_paths = &raw;
	ck_assert_int_eq(gates_run(&in, &rep, &msg), -1);
	ck_assert_str_eq(msg, "final artifact gates failed:\nprovenance"
	    " snapshot is not raw-sources/<conn>/<sourceKey>/<syncId>:"
	    " raw-sources/kb/../../wiki");
	free(msg);
	strv_release(&raw);
}
END_TEST

/* A target adds raw files to its own snapshot only, and removes none. */
START_TEST(test_raw_outside_own_snapshot)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, SNAP "/pages/a.md" },
		{ GATE_ADDED, "raw-sources/wh/live-database/2026-01-01-x/t.json" },
		{ GATE_MODIFIED,
		    "raw-sources/kb/notion/2026-02-01-000000-local-old/b.md" },
		{ GATE_DELETED, "raw-sources/kb/notion/old/gone.md" },
		{ GATE_ADDED, SNAP "-forged/x.md" },
	};
	struct strv	raw;

	memset(&raw, 0, sizeof(raw));
	strv_push(&raw, "pages/a.md");
	base_tree();
	put("raw-sources/wh/live-database/2026-01-01-x/t.json", "{}\n");
	put("raw-sources/kb/notion/2026-02-01-000000-local-old/b.md", "# b\n");
	put(SNAP "-forged/x.md", "# x\n");
	expect_fail(ch, N(ch), &raw,
	    "raw file outside this target's snapshot " SNAP ":"
	    " raw-sources/kb/notion/2026-02-01-000000-local-old/b.md\n"
	    "raw file outside this target's snapshot " SNAP ":"
	    " raw-sources/kb/notion/2026-03-01-101500-local-m1abc-forged/x.md\n"
	    "raw file outside this target's snapshot " SNAP ":"
	    " raw-sources/kb/notion/old/gone.md\n"
	    "raw file outside this target's snapshot " SNAP ":"
	    " raw-sources/wh/live-database/2026-01-01-x/t.json");
	strv_release(&raw);
}
END_TEST

START_TEST(test_changed_page_must_parse)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "wiki/global/no-fm.md" },
		{ GATE_ADDED, "wiki/global/bad-yaml.md" },
		{ GATE_ADDED, "wiki/global/no-summary.md" },
		{ GATE_ADDED, "wiki/global/Bad Key.md" },
	};

	put("wiki/global/no-fm.md", "just text\n");
	put("wiki/global/bad-yaml.md", "---\nsummary: [x\n---\n");
	put("wiki/global/no-summary.md", "---\nsummary: '  '\n"
	    "usage_mode: sometimes\n---\n");
	put("wiki/global/Bad Key.md", "---\nsummary: s\nusage_mode: auto\n"
	    "---\n");
	expect_fail(ch, N(ch), NULL,
	    "invalid wiki page name: wiki/global/Bad Key.md (keys must match"
	    " ^[a-zA-Z0-9][a-zA-Z0-9_-]*$)\n"
	    "wiki/global/bad-yaml.md:3:1: invalid YAML: did not find expected"
	    " ',' or ']'\n"
	    "wiki/global/no-fm.md: Invalid wiki page: missing YAML"
	    " frontmatter\n"
	    "wiki/global/no-summary.md:2:10: Front-matter field \"summary\" is"
	    " required\n"
	    "wiki/global/no-summary.md:3:13: Front-matter field \"usage_mode\""
	    " must be one of: always, auto, never");
}
END_TEST

/*
 * Only changed pages are validated, unless a semantic-layer file changed
 * or a page was removed: then every global page's references are.
 */
START_TEST(test_scope)
{
	static const struct gate_path page_only[] = {
		{ GATE_MODIFIED, "wiki/global/active-subscriber.md" },
	};
	static const struct gate_path sl_change[] = {
		{ GATE_MODIFIED, OVERLAY },
	};
	static const struct gate_path removal[] = {
		{ GATE_DELETED, "wiki/global/gone.md" },
	};
	struct gate_report	rep;

	base_tree();
	/* An old page with a dangling ref and a bad sl_ref. */
	put("wiki/global/old.md", "---\nsummary: s\nusage_mode: auto\n"
	    "refs: [nowhere]\nsl_refs: [invoices.invoiced_total]\n---\n\nx\n");
	expect_pass(page_only, N(page_only), NULL, &rep);
	ck_assert_int_eq(rep.all_pages, 0);
	ck_assert_uint_eq(rep.pages_checked, 1);
	ck_assert_int_eq(rep.sl_loaded, 0);

	expect_fail(removal, N(removal), NULL, "wiki references target"
	    " missing page(s): old -> nowhere");

	/* The overlay loses the measure the old page names. */
	put(OVERLAY, "name: invoices\n");
	expect_fail(sl_change, N(sl_change), NULL,
	    "churned-customer: unknown sl_refs entity invoices.invoiced_total\n"
	    "churned-customer: unknown sl_refs entity invoices.large\n"
	    "old: unknown sl_refs entity invoices.invoiced_total\n"
	    "wiki references target missing page(s): old -> nowhere\n"
	    "churned-customer: unknown semantic-layer entity"
	    " invoices.invoiced_total");
}
END_TEST

/* Every kind of problem at once: one message, groups in a fixed order. */
START_TEST(test_errors_aggregated_in_order)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "wiki/global/z-page.md" },
		{ GATE_ADDED, "wiki/global/a-page.md" },
		{ GATE_MODIFIED, "ktx.yaml" },
		{ GATE_ADDED, "semantic-layer/wh/broken.yaml" },
		{ GATE_ADDED, "raw-sources/../x" },
	};
	struct strv	raw;

	memset(&raw, 0, sizeof(raw));
	strv_push(&raw, "missing.json");
	base_tree();
	put("ktx.yaml", "x: 1\n");
	put("semantic-layer/wh/broken.yaml", "name: [\n");
	put("wiki/global/z-page.md", "---\nsummary: z\nusage_mode: auto\n"
	    "refs: [zz-missing]\nsl_refs: [zz]\n---\n\n`source:zsrc`\n");
	put("wiki/global/a-page.md", "---\nsummary: a\nusage_mode: auto\n"
	    "sl_refs: [aa]\n---\n\n[[aa-missing]] `table:aa`\n");
	expect_fail(ch, N(ch), &raw,
	    "path outside wiki/, semantic-layer/ and raw-sources/: ktx.yaml\n"
	    "path escapes the repository: raw-sources/../x (\"..\""
	    " component)\n"
	    "semantic-layer/wh/broken.yaml:2:1: invalid YAML: did not find"
	    " expected node content (while parsing a flow node at 2:1)\n"
	    "a-page: unknown sl_refs entry aa\n"
	    "z-page: unknown sl_refs entry zz\n"
	    "wiki references target missing page(s): a-page -> aa-missing,"
	    " z-page -> zz-missing\n"
	    "a-page: unknown raw table aa\n"
	    "z-page: unknown semantic-layer source zsrc\n"
	    "provenance row references raw path outside this snapshot:"
	    " missing.json");
	strv_release(&raw);
}
END_TEST

/* Connections limit where unprefixed references look. */
START_TEST(test_visible_connections)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "wiki/global/v.md" },
	};
	struct gate_input	 in;
	struct gate_report	 rep;
	struct strv		 conns;
	char			*msg = NULL;

	memset(&conns, 0, sizeof(conns));
	strv_push(&conns, "kb");
	base_tree();
	put("wiki/global/v.md", "---\nsummary: s\nusage_mode: auto\n"
	    "sl_refs: [invoices, wh/invoices]\n---\n\n`source:invoices`\n");
	memset(&in, 0, sizeof(in));
	in.worktree = root;
	in.changed = ch;
	in.nchanged = N(ch);
	in.connections = &conns;
	ck_assert_int_eq(gates_run(&in, &rep, &msg), -1);
	/* As ktx: a "<conn>/" prefix names a connection, visible or not. */
	ck_assert_str_eq(msg, "final artifact gates failed:\n"
	    "v: unknown sl_refs entry invoices\n"
	    "v: unknown sl_refs entry wh/invoices\n"
	    "v: unknown semantic-layer source invoices");
	free(msg);
	strv_release(&conns);
}
END_TEST

START_TEST(test_unparsable_shard)
{
	static const struct gate_path ch[] = {
		{ GATE_ADDED, "semantic-layer/crm/_schema/public.yaml" },
	};

	base_tree();
	put("semantic-layer/crm/_schema/public.yaml", "tables: {accounts\n");
	expect_fail(ch, N(ch), NULL, "semantic-layer/crm/_schema/public.yaml"
	    ":2:1: invalid YAML: did not find expected ',' or '}' (while"
	    " parsing a flow mapping at 1:9)");
}
END_TEST

START_TEST(test_deleted_sl_file_touches_connection)
{
	static const struct gate_path ch[] = {
		{ GATE_DELETED, SHARD },
	};
	struct gate_report	 rep;
	char			*msg;

	base_tree();
	rm(SHARD);
	ck_assert_int_eq(run(ch, N(ch), NULL, &rep, &msg), -1);
	/* The overlay lost its manifest entry; pages lost their sources. */
	ck_assert_ptr_nonnull(strstr(msg, "\nsemantic-layer validation failed"
	    " for wh:invoices: "));
	ck_assert_ptr_nonnull(strstr(msg, "\nchurned-customer: unknown"
	    " sl_refs entry subscriptions\n"));
	free(msg);
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
	Suite	*s = suite_create("gates");
	TCase	*tc;
	SRunner	*sr;
	int	 failed;

	tc = tcase("artifacts");
	tcase_add_test(tc, test_clean_tree_passes);
	tcase_add_test(tc, test_nothing_changed_passes);
	tcase_add_test(tc, test_ref_to_missing_page);
	tcase_add_test(tc, test_sl_ref_to_missing_source);
	tcase_add_test(tc, test_body_refs);
	tcase_add_test(tc, test_changed_page_must_parse);
	tcase_add_test(tc, test_scope);
	tcase_add_test(tc, test_visible_connections);
	suite_add_tcase(s, tc);

	tc = tcase("semantic-layer");
	tcase_add_test(tc, test_overlay_without_manifest);
	tcase_add_test(tc, test_join_to_missing_source);
	tcase_add_test(tc, test_duplicate_source);
	tcase_add_test(tc, test_unparsable_sl_file);
	tcase_add_test(tc, test_unparsable_shard);
	tcase_add_test(tc, test_deleted_sl_file_touches_connection);
	suite_add_tcase(s, tc);

	tc = tcase("paths");
	tcase_add_test(tc, test_dotdot_and_absolute_paths);
	tcase_add_test(tc, test_regular_file_lexical);
	tcase_add_test(tc, test_symlinks);
	tcase_add_test(tc, test_not_regular_files);
	tcase_add_test(tc, test_outside_the_three_dirs);
	tcase_add_test(tc, test_binary_and_encoding);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_provenance_outside_snapshot);
	tcase_add_test(tc, test_raw_outside_own_snapshot);
	suite_add_tcase(s, tc);

	tc = tcase("message");
	tcase_add_test(tc, test_errors_aggregated_in_order);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
