#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl.h"
#include "util.h"

/* Fixture trees live in tests/data/sl/<name>; scratch trees in a temp dir. */
static char	tmpdir[PATH_MAX];

static void
setup(void)
{
	const char	*base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/check_sl.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void
teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
fixture(const char *name)
{
	const char	*srcdir = getenv("KTX_TOP_SRCDIR");
	char		*p;

	ck_assert_msg(srcdir != NULL, "KTX_TOP_SRCDIR is not set");
	xasprintf(&p, "%s/tests/data/sl/%s", srcdir, name);
	return p;
}

/* Write data at rel under the temp dir, creating directories. */
static void
put(const char *rel, const char *data)
{
	char	*path, *slash;
	FILE	*f;

	xasprintf(&path, "%s/%s", tmpdir, rel);
	for (slash = path + strlen(tmpdir) + 1;
	    (slash = strchr(slash, '/')) != NULL; slash++) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_int_eq(fputs(data, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	free(path);
}

static void
load_tree(const char *root, struct sl *sl)
{
	char	*err = NULL;

	ck_assert_msg(sl_load(sl, root, &err) == 0, "sl_load: %s",
	    err != NULL ? err : "(none)");
	ck_assert_ptr_null(err);
}

static void
load_fixture(const char *name, struct sl *sl)
{
	char	*root = fixture(name);

	load_tree(root, sl);
	free(root);
}

static int
has_line(const struct strv *sv, const char *line)
{
	size_t	i;

	for (i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], line) == 0)
			return 1;
	return 0;
}

static int
has_error(const struct sl *sl, const char *text)
{
	size_t	i;

	for (i = 0; i < sl->nerrors; i++)
		if (strcmp(sl->errors[i].text, text) == 0)
			return 1;
	return 0;
}

static void
dump_errors(const struct sl *sl)
{
	size_t	i;

	for (i = 0; i < sl->nerrors; i++)
		fprintf(stderr, "error: %s\n", sl->errors[i].text);
	for (i = 0; i < sl->warnings.n; i++)
		fprintf(stderr, "warning: %s\n", sl->warnings.v[i]);
}

static const struct sl_column *
column(const struct sl_source *s, const char *name)
{
	size_t	i;

	for (i = 0; i < s->ncolumns; i++)
		if (strcmp(s->columns[i].name, name) == 0)
			return &s->columns[i];
	return NULL;
}

START_TEST(test_compose_reference_examples)
{
	struct sl		 sl;
	const struct sl_source	*inv, *cust, *open, *acc;
	const struct sl_column	*c;

	load_fixture("basic", &sl);
	if (sl.nerrors != 0)
		dump_errors(&sl);
	ck_assert_uint_eq(sl.nerrors, 0);
	ck_assert_uint_eq(sl.connections.n, 2);
	ck_assert_str_eq(sl.connections.v[0], "crm");
	ck_assert_str_eq(sl.connections.v[1], "wh");
	ck_assert(sl_has_connection(&sl, "wh"));
	ck_assert(!sl_has_connection(&sl, "nope"));
	/* crm: accounts; wh: customers, invoices, open_invoices and
	   subscriptions */
	ck_assert_uint_eq(sl.nsources, 5);
	ck_assert_str_eq(sl.sources[0].name, "accounts");
	ck_assert_str_eq(sl.sources[1].name, "customers");
	ck_assert_str_eq(sl.sources[4].name, "subscriptions");

	inv = sl_source_find(&sl, "wh", "invoices");
	ck_assert_ptr_nonnull(inv);
	ck_assert_int_eq(inv->kind, SL_SOURCE_MANIFEST);
	ck_assert_str_eq(inv->table, "billing.invoices");
	ck_assert_str_eq(sl_desc_get(&inv->descriptions, "db"),
	    "One row per issued invoice");
	ck_assert_str_eq(inv->pos.path,
	    "semantic-layer/wh/_schema/billing.yaml");
	ck_assert_int_eq(inv->pos.line, 2);
	ck_assert_int_eq(inv->pos.column, 3);
	ck_assert_str_eq(inv->overlay_path, "semantic-layer/wh/invoices.yaml");
	ck_assert_uint_eq(inv->grain.n, 1);
	ck_assert_str_eq(inv->grain.v[0], "invoice_id");
	ck_assert_uint_eq(inv->ncolumns, 4);
	ck_assert_ptr_nonnull(c = column(inv, "subscription_id"));
	ck_assert_str_eq(c->visibility, "internal");
	ck_assert_ptr_nonnull(c = column(inv, "issued_at"));
	ck_assert_str_eq(c->role, "time");
	ck_assert_ptr_nonnull(c = column(inv, "invoice_id"));
	ck_assert(c->pk && c->notnull);
	ck_assert_uint_eq(inv->nmeasures, 1);
	ck_assert_str_eq(inv->measures[0].name, "invoiced_total");
	ck_assert_str_eq(inv->measures[0].expr, "sum(amount_cents) / 100.0");
	ck_assert_uint_eq(inv->njoins, 1);
	ck_assert_str_eq(inv->joins[0].to, "subscriptions");
	ck_assert_str_eq(inv->joins[0].origin, "formal");

	ck_assert_uint_eq(sl_entity_kind(&sl, inv, "invoiced_total"),
	    SL_ENTITY_MEASURE);
	ck_assert_uint_eq(sl_entity_kind(&sl, inv, "large"), SL_ENTITY_SEGMENT);
	ck_assert_uint_eq(sl_entity_kind(&sl, inv, "amount_cents"),
	    SL_ENTITY_COLUMN);
	ck_assert_uint_eq(sl_entity_kind(&sl, inv, "nope"), 0);

	/* A standalone replaces the manifest entry; blanks are inherited. */
	cust = sl_source_find(&sl, "wh", "customers");
	ck_assert_ptr_nonnull(cust);
	ck_assert_int_eq(cust->kind, SL_SOURCE_STANDALONE);
	ck_assert_str_eq(cust->pos.path, "semantic-layer/wh/customers_v2.yml");
	ck_assert_ptr_nonnull(c = column(cust, "customer_id"));
	ck_assert_str_eq(c->type, "string");
	ck_assert_ptr_nonnull(c = column(cust, "email"));
	ck_assert_str_eq(c->type, "string");
	ck_assert_str_eq(sl_desc_get(&c->descriptions, "user"),
	    "Primary contact");
	ck_assert(has_line(&sl.warnings, "semantic-layer/wh/customers_v2.yml:"
	    "1:7: standalone source \"customers\" replaces the manifest entry"
	    " in semantic-layer/wh/_schema/billing.yaml"));

	open = sl_source_find(&sl, NULL, "open_invoices");
	ck_assert_ptr_nonnull(open);
	ck_assert_str_eq(open->conn, "wh");
	ck_assert_ptr_null(open->table);
	ck_assert_uint_eq(sl_entity_kind(&sl, open, "open_total"),
	    SL_ENTITY_MEASURE);

	acc = sl_source_find(&sl, NULL, "accounts");
	ck_assert_ptr_nonnull(acc);
	ck_assert_str_eq(acc->conn, "crm");
	ck_assert_ptr_null(sl_source_find(&sl, "wh", "accounts"));
	ck_assert_ptr_null(sl_source_find(&sl, "wh", "Invoices"));
	ck_assert_ptr_eq(sl_source_find_nocase(&sl, "wh", "Invoices"), inv);
	sl_release(&sl);
}
END_TEST

START_TEST(test_orphan_overlay_dropped_and_gated)
{
	struct sl		 sl;
	struct strv		 touched = { 0 }, errors = { 0 };
	const struct sl_file	*f;

	load_fixture("basic", &sl);
	ck_assert_ptr_null(sl_source_find(&sl, NULL, "ghost"));
	ck_assert_uint_eq(sl.norphans, 1);
	ck_assert_str_eq(sl.orphans[0].name, "ghost");
	ck_assert_str_eq(sl.orphans[0].pos.path,
	    "semantic-layer/wh/ghost.yaml");
	ck_assert(has_line(&sl.warnings, "semantic-layer/wh/ghost.yaml:1:7:"
	    " overlay \"ghost\" has no manifest entry to compose onto"
	    " (dropped)"));
	ck_assert_ptr_nonnull(f = sl_file_find(&sl,
	    "semantic-layer/wh/ghost.yaml"));
	ck_assert_int_eq(f->kind, SL_FILE_OVERLAY);
	ck_assert_str_eq(f->names.v[0], "ghost");

	strv_push(&touched, "ghost");
	sl_validate(&sl, "wh", &touched, &errors);
	ck_assert_uint_eq(errors.n, 1);
	ck_assert_str_eq(errors.v[0], "semantic-layer validation failed for"
	    " wh:ghost: semantic-layer/wh/ghost.yaml:1:7: overlay \"ghost\""
	    " has no manifest-backed source to compose onto");
	strv_release(&touched);
	strv_release(&errors);
	sl_release(&sl);
}
END_TEST

START_TEST(test_table_exists)
{
	struct sl	sl;

	load_fixture("basic", &sl);
	ck_assert(sl_table_exists(&sl, "wh", "invoices"));
	ck_assert(sl_table_exists(&sl, "wh", "billing.invoices"));
	ck_assert(sl_table_exists(&sl, "wh", "BILLING.Invoices"));
	ck_assert(sl_table_exists(&sl, "wh", "\"billing\".\"invoices\""));
	ck_assert(sl_table_exists(&sl, "wh", "[billing].[subscriptions]"));
	ck_assert(sl_table_exists(&sl, "wh", "`billing`.subscriptions"));
	ck_assert(!sl_table_exists(&sl, "wh", "illing.invoices"));
	ck_assert(!sl_table_exists(&sl, "wh", "billing"));
	/* The standalone's quoted table, matched without quotes and case. */
	ck_assert(sl_table_exists(&sl, "wh", "billing.customers"));
	/* By name, for a SQL source. */
	ck_assert(sl_table_exists(&sl, "wh", "open_invoices"));
	ck_assert(!sl_table_exists(&sl, "wh", "accounts"));
	ck_assert(sl_table_exists(&sl, "crm", "accounts"));
	ck_assert(sl_table_exists(&sl, "crm", "public.accounts"));
	ck_assert(sl_table_exists(&sl, "crm", "crm.public.accounts"));
	ck_assert(sl_table_exists(&sl, NULL, "public.accounts"));
	ck_assert(sl_table_exists(&sl, NULL, "billing.invoices"));
	ck_assert(!sl_table_exists(&sl, NULL, "billing.ghost"));
	ck_assert(!sl_table_exists(&sl, "nope", "invoices"));
	sl_release(&sl);
}
END_TEST

START_TEST(test_sl_refs)
{
	struct sl	sl;
	struct strv	crm = { 0 };

	load_fixture("basic", &sl);
	ck_assert_int_eq(sl_ref_check(&sl, NULL, "invoices"), SL_REF_OK);
	ck_assert_int_eq(sl_ref_check(&sl, NULL, "invoices.invoiced_total"),
	    SL_REF_OK);
	ck_assert_int_eq(sl_ref_check(&sl, NULL, "invoices.amount_cents"),
	    SL_REF_OK);
	ck_assert_int_eq(sl_ref_check(&sl, NULL, "invoices.large"), SL_REF_OK);
	ck_assert_int_eq(sl_ref_check(&sl, NULL, "wh/invoices.large"),
	    SL_REF_OK);
	ck_assert_int_eq(sl_ref_check(&sl, NULL, "invoices.nope"),
	    SL_REF_UNKNOWN_ENTITY);
	ck_assert_int_eq(sl_ref_check(&sl, NULL, "nope"),
	    SL_REF_UNKNOWN_SOURCE);
	ck_assert_int_eq(sl_ref_check(&sl, NULL, "crm/invoices"),
	    SL_REF_UNKNOWN_SOURCE);
	ck_assert_int_eq(sl_ref_check(&sl, NULL, "ghost"),
	    SL_REF_UNKNOWN_SOURCE);
	/* ktx's docs write "warehouse.orders": source "warehouse". */
	ck_assert_int_eq(sl_ref_check(&sl, NULL, "wh.invoices"),
	    SL_REF_UNKNOWN_SOURCE);
	strv_push(&crm, "crm");
	ck_assert_int_eq(sl_ref_check(&sl, &crm, "invoices"),
	    SL_REF_UNKNOWN_SOURCE);
	ck_assert_int_eq(sl_ref_check(&sl, &crm, "accounts.name"), SL_REF_OK);

	ck_assert(sl_ref_keep(&sl, NULL, "invoices"));
	ck_assert(sl_ref_keep(&sl, NULL, "invoices.invoiced_total"));
	ck_assert(sl_ref_keep(&sl, NULL, "invoices.large"));
	ck_assert(!sl_ref_keep(&sl, NULL, "invoices.amount_cents"));
	ck_assert(!sl_ref_keep(&sl, NULL, "wh/invoices"));
	ck_assert(!sl_ref_keep(&sl, NULL, "nope"));
	ck_assert(!sl_ref_keep(&sl, &crm, "invoices"));
	strv_release(&crm);
	sl_release(&sl);
}
END_TEST

/*
 * sl_load_for reads only the files that can bear on the names asked, and
 * answers for them as a full load does: sources, entities, tables.
 */
#define N(a)	(sizeof(a) / sizeof((a)[0]))

START_TEST(test_load_for_names)
{
	static const char *const refs[] = {
		"invoices", "invoices.invoiced_total", "invoices.large",
		"invoices.amount_cents", "invoices.nope", "wh/invoices.large",
		"crm/invoices", "accounts.name", "open_invoices.open_total",
		"ghost", "nope",
	};
	static const char *const tables[] = {
		"billing.invoices", "BILLING.Invoices", "[billing].[subscriptions]",
		"public.accounts", "billing.ghost", "accounts",
	};
	struct sl	 full, part;
	struct strv	 words = { 0 };
	char		*root = fixture("basic"), *err = NULL;
	size_t		 i;

	load_tree(root, &full);
	for (i = 0; i < N(refs); i++) {
		strv_push_owned(&words, sl_ref_word(refs[i], 0));
		ck_assert_int_eq(sl_load_for(&part, root, &words, &err), 0);
		ck_assert_msg(sl_ref_check(&part, NULL, refs[i]) ==
		    sl_ref_check(&full, NULL, refs[i]), "%s", refs[i]);
		sl_release(&part);
		strv_release(&words);
	}
	for (i = 0; i < N(tables); i++) {
		strv_push_owned(&words, sl_ref_word(tables[i], 1));
		ck_assert_int_eq(sl_load_for(&part, root, &words, &err), 0);
		ck_assert_msg(sl_table_exists(&part, NULL, tables[i]) ==
		    sl_table_exists(&full, NULL, tables[i]), "%s", tables[i]);
		sl_release(&part);
		strv_release(&words);
	}
	/* "accounts": crm's shard alone is read. */
	strv_push_owned(&words, sl_ref_word("crm/accounts.name", 0));
	ck_assert_str_eq(words.v[0], "accounts");
	ck_assert_int_eq(sl_load_for(&part, root, &words, &err), 0);
	ck_assert_uint_eq(part.nfiles, 1);
	ck_assert_str_eq(part.files[0].path,
	    "semantic-layer/crm/_schema/public.yaml");
	ck_assert_ptr_nonnull(sl_source_find(&part, "crm", "accounts"));
	sl_release(&part);
	strv_release(&words);
	/* A file that inherits columns: every file is read. */
	strv_push_owned(&words, sl_ref_word("customers.email", 0));
	ck_assert_int_eq(sl_load_for(&part, root, &words, &err), 0);
	ck_assert_uint_eq(part.nfiles, full.nfiles);
	sl_release(&part);
	strv_release(&words);
	err = sl_ref_word("\"Billing\".\"Invoices\"", 1);
	ck_assert_str_eq(err, "invoices");
	free(err);
	sl_release(&full);
	free(root);
}
END_TEST

START_TEST(test_validate_join_targets)
{
	struct sl	sl;
	struct strv	touched = { 0 }, errors = { 0 };

	load_fixture("basic", &sl);
	/* invoices joins subscriptions, whose join to "Customers" is wrong. */
	strv_push(&touched, "invoices");
	sl_validate(&sl, "wh", &touched, &errors);
	ck_assert_uint_eq(errors.n, 1);
	ck_assert_str_eq(errors.v[0], "semantic-layer validation failed for"
	    " wh:subscriptions: join target \"Customers\" does not exist;"
	    " join targets are case-sensitive \xe2\x80\x94 the source is named"
	    " \"customers\"");
	strv_release(&errors);
	strv_release(&touched);

	/* open_invoices has no joins and no neighbour with problems. */
	strv_push(&touched, "open_invoices");
	sl_validate(&sl, "wh", &touched, &errors);
	ck_assert_uint_eq(errors.n, 0);
	strv_release(&touched);
	sl_release(&sl);
}
END_TEST

START_TEST(test_duplicate_names)
{
	struct sl		 sl;
	struct strv		 touched = { 0 }, errors = { 0 };
	const struct sl_source	*s;

	load_fixture("dup", &sl);
	ck_assert_uint_eq(sl.nerrors, 1);
	ck_assert_str_eq(sl.errors[0].text, "semantic-layer/wh/b.yml:2:7:"
	    " Multiple semantic-layer files declare source \"orders\":"
	    " semantic-layer/wh/a.yaml, semantic-layer/wh/b.yml");
	ck_assert_str_eq(sl.errors[0].source, "orders");
	/* The first file in path order keeps the name. */
	ck_assert_ptr_nonnull(s = sl_source_find(&sl, "wh", "orders"));
	ck_assert_str_eq(s->table, "shop.orders");

	/* items joins orders: orders is validated as its neighbour. */
	strv_push(&touched, "items");
	sl_validate(&sl, "wh", &touched, &errors);
	ck_assert_uint_eq(errors.n, 1);
	ck_assert_str_eq(errors.v[0], "semantic-layer validation failed for"
	    " wh:orders: semantic-layer/wh/b.yml:2:7: Multiple semantic-layer"
	    " files declare source \"orders\": semantic-layer/wh/a.yaml,"
	    " semantic-layer/wh/b.yml");
	strv_release(&touched);
	strv_release(&errors);
	sl_release(&sl);
}
END_TEST

START_TEST(test_load_errors_with_positions)
{
	struct sl		 sl;
	struct strv		 touched = { 0 }, errors = { 0 };
	const struct sl_file	*f;
	const struct sl_source	*s;

	load_fixture("bad", &sl);
	if (sl.nerrors != 4)
		dump_errors(&sl);
	ck_assert_uint_eq(sl.nerrors, 4);
	ck_assert(has_error(&sl, "semantic-layer/wh/_schema/app.yaml:5:39:"
	    " \"pk\" must be true or false, not a string"));
	ck_assert(has_error(&sl, "semantic-layer/wh/broken.yaml:3:1: invalid"
	    " YAML: did not find expected ',' or '}' (while parsing a flow"
	    " mapping at 2:12)"));
	ck_assert(has_error(&sl, "semantic-layer/wh/typo.yaml:6:11: \"type\""
	    " must be one of string, number, time, boolean, not"
	    " \"integer\""));
	ck_assert(has_error(&sl, "semantic-layer/wh/typo.yaml:10:32: unknown"
	    " field \"colour\" in a measure"));

	ck_assert_ptr_nonnull(f = sl_file_find(&sl,
	    "semantic-layer/wh/broken.yaml"));
	ck_assert_int_eq(f->kind, SL_FILE_UNREADABLE);
	ck_assert_uint_eq(f->names.n, 0);
	ck_assert_uint_eq(f->errors.n, 1);
	ck_assert_ptr_nonnull(f = sl_file_find(&sl,
	    "semantic-layer/wh/typo.yaml"));
	ck_assert_int_eq(f->kind, SL_FILE_STANDALONE);
	ck_assert_uint_eq(f->errors.n, 2);
	/* A shard declares its entries with errors too, for the gates. */
	ck_assert_ptr_nonnull(f = sl_file_find(&sl,
	    "semantic-layer/wh/_schema/app.yaml"));
	ck_assert_uint_eq(f->names.n, 2);
	ck_assert_str_eq(f->names.v[0], "users");
	ck_assert_str_eq(f->names.v[1], "sessions");

	/* A file with errors still contributes what could be read. */
	ck_assert_ptr_nonnull(s = sl_source_find(&sl, "wh", "events"));
	ck_assert_uint_eq(s->ncolumns, 1);
	ck_assert_uint_eq(s->nmeasures, 0);
	/* A shard entry with errors is left out. */
	ck_assert_ptr_null(sl_source_find(&sl, "wh", "users"));
	ck_assert_ptr_nonnull(sl_source_find(&sl, "wh", "sessions"));

	strv_push(&touched, "sessions");
	strv_push(&touched, "events");
	sl_validate(&sl, "wh", &touched, &errors);
	ck_assert_uint_eq(errors.n, 2);
	ck_assert_str_eq(errors.v[0], "semantic-layer validation failed for"
	    " wh:events: semantic-layer/wh/typo.yaml:6:11: \"type\" must be"
	    " one of string, number, time, boolean, not \"integer\";"
	    " semantic-layer/wh/typo.yaml:10:32: unknown field \"colour\" in"
	    " a measure");
	ck_assert_str_eq(errors.v[1], "semantic-layer validation failed for"
	    " wh:sessions: join target \"users\" does not exist; join target"
	    " \"devices\" does not exist");
	strv_release(&errors);
	strv_release(&touched);

	/* The entry that was left out still has its error. */
	strv_push(&touched, "users");
	sl_validate(&sl, "wh", &touched, &errors);
	ck_assert_uint_eq(errors.n, 2);
	ck_assert_str_eq(errors.v[1], "semantic-layer validation failed for"
	    " wh:users: semantic-layer/wh/_schema/app.yaml:5:39: \"pk\" must"
	    " be true or false, not a string");
	strv_release(&errors);
	strv_release(&touched);
	sl_release(&sl);
}
END_TEST

START_TEST(test_strict_schema_errors)
{
	struct sl	sl;
	char		link[PATH_MAX + 64];

	put("semantic-layer/wh/a.yaml", "name: a\ntable: t\nsql: select 1\n"
	    "grain: [a.id]\ncolumns: []\njoins:\n  - {to: b, on: x}\n");
	put("semantic-layer/wh/b.yaml", "- not a mapping\n");
	put("semantic-layer/wh/c.yaml", "table: t\n");
	put("semantic-layer/wh/d.yaml", "name: d\nname: e\n");
	put("semantic-layer/wh/e.yaml", "name: &x e\n");
	put("semantic-layer/wh/f.yaml", "");
	put("semantic-layer/wh/g.yaml", "name: g\ncolumns:\n"
	    "  - {name: c, type: number}\n");
	put("semantic-layer/wh/h.yaml", "name: h\nmeasures: [{name: m}]\n"
	    "column_overrides: [{name: c, type: number}]\n");
	snprintf(link, sizeof(link), "%s/semantic-layer/wh/link.yaml", tmpdir);
	ck_assert_int_eq(symlink("a.yaml", link), 0);
	load_tree(tmpdir, &sl);
	ck_assert(has_error(&sl, "semantic-layer/wh/a.yaml:3:6: a source has"
	    " either \"table\" or \"sql\", not both"));
	ck_assert(has_error(&sl, "semantic-layer/wh/a.yaml:4:9: \"grain\""
	    " names columns without a table: \"a.id\""));
	ck_assert(has_error(&sl, "semantic-layer/wh/a.yaml:5:10: \"columns\""
	    " must list at least one column"));
	ck_assert(has_error(&sl, "semantic-layer/wh/a.yaml:7:5: a join has no"
	    " \"relationship\""));
	ck_assert(has_error(&sl, "semantic-layer/wh/b.yaml:1:1: a"
	    " semantic-layer source must be a mapping, not a list"));
	ck_assert(has_error(&sl, "semantic-layer/wh/c.yaml:1:1: a"
	    " semantic-layer source has no \"name\""));
	ck_assert(has_error(&sl, "semantic-layer/wh/d.yaml:2:1: duplicate key"
	    " \"name\" (first at 1:1)"));
	ck_assert(has_error(&sl, "semantic-layer/wh/e.yaml:1:7: anchors and"
	    " aliases are not allowed"));
	ck_assert(has_error(&sl, "semantic-layer/wh/f.yaml:1:1: empty file"));
	/* An overlay's columns are computed: type and expr. */
	ck_assert(has_error(&sl, "semantic-layer/wh/g.yaml:3:5: a computed"
	    " column needs \"type\" and \"expr\""));
	ck_assert(has_error(&sl, "semantic-layer/wh/h.yaml:2:12: a measure has"
	    " no \"expr\""));
	ck_assert(has_error(&sl, "semantic-layer/wh/h.yaml:3:30: unknown field"
	    " \"type\" in a column"));
	ck_assert(has_error(&sl, "semantic-layer/wh/link.yaml: is a symbolic"
	    " link"));
	sl_release(&sl);
}
END_TEST

START_TEST(test_overlay_composition_rules)
{
	struct sl		 sl;
	const struct sl_source	*s;
	const struct sl_column	*c;

	put("semantic-layer/wh/_schema/public.yaml",
	    "tables:\n"
	    "  t:\n"
	    "    table: public.t\n"
	    "    descriptions: {db: from db, dbt: from dbt}\n"
	    "    columns:\n"
	    "      - {name: id, type: number}\n"
	    "      - {name: secret, type: string}\n"
	    "      - {name: at, type: time, descriptions: {db: when}}\n"
	    "    joins:\n"
	    "      - {to: u, on: t.id = u.t_id, relationship: one_to_many,"
	    " source: formal}\n"
	    "      - {to: v, on: t.id = v.t_id, relationship: one_to_many,"
	    " source: formal}\n"
	    "  u:\n"
	    "    table: public.u\n"
	    "    columns: [{name: t_id, type: number}]\n"
	    "  v:\n"
	    "    table: public.v\n"
	    "    columns: [{name: t_id, type: number}]\n");
	put("semantic-layer/wh/t.yaml",
	    "name: t\n"
	    "descriptions: {dbt: overlay wins, user: mine}\n"
	    "grain: [id]\n"
	    "columns:\n"
	    "  - {name: id_x2, type: number, expr: id * 2}\n"
	    "  - {name: id, type: number, expr: id}\n"
	    "column_overrides:\n"
	    "  - {name: at, role: default, descriptions: {user: local time}}\n"
	    "  - {name: gone, visibility: hidden}\n"
	    "exclude_columns: [secret]\n"
	    "disable_joins: ['T.ID  =  v.t_id']\n"
	    "joins:\n"
	    "  - {to: w, on: t.id = w.id, relationship: one_to_one}\n"
	    "default_time_dimension: at\n");
	load_tree(tmpdir, &sl);
	ck_assert_ptr_nonnull(s = sl_source_find(&sl, "wh", "t"));
	ck_assert_str_eq(sl_desc_get(&s->descriptions, "db"), "from db");
	ck_assert_str_eq(sl_desc_get(&s->descriptions, "dbt"), "overlay wins");
	ck_assert_str_eq(sl_desc_get(&s->descriptions, "user"), "mine");
	ck_assert_uint_eq(s->grain.n, 1);
	ck_assert_ptr_null(column(s, "secret"));
	ck_assert_uint_eq(sl_entity_kind(&sl, s, "secret"), 0);
	ck_assert_ptr_nonnull(c = column(s, "id_x2"));
	ck_assert_str_eq(c->expr, "id * 2");
	ck_assert_ptr_nonnull(c = column(s, "at"));
	ck_assert_str_eq(c->role, "default");
	ck_assert_str_eq(sl_desc_get(&c->descriptions, "db"), "when");
	ck_assert_str_eq(sl_desc_get(&c->descriptions, "user"), "local time");
	ck_assert_uint_eq(s->njoins, 2);
	ck_assert_str_eq(s->joins[0].to, "u");
	ck_assert_str_eq(s->joins[1].to, "w");
	ck_assert_str_eq(s->default_time_dimension, "at");
	ck_assert_uint_eq(sl.nerrors, 2);
	ck_assert(has_error(&sl, "semantic-layer/wh/t.yaml:6:5: column \"id\""
	    " already exists on source \"t\""));
	ck_assert(has_error(&sl, "semantic-layer/wh/t.yaml:9:5:"
	    " column_overrides: column \"gone\" does not exist on source"
	    " \"t\""));
	sl_release(&sl);
}
END_TEST

/* The whole file at path, NUL-terminated.  Caller frees. */
static char *
slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf;
	long	 n;

	ck_assert_ptr_nonnull(f = fopen(path, "rb"));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	ck_assert_int_ge(n = ftell(f), 0);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*lenp = (size_t)n;
	return buf;
}

/* The fixture's files given in memory, in reverse order: the same model. */
static void
assert_texts_load_as_tree(const char *name)
{
	struct sl		 tree, mem;
	struct sl_text		*texts;
	char			*root = fixture(name), *path, *err = NULL;
	size_t			 i, n;

	load_tree(root, &tree);
	n = tree.nfiles;
	texts = xcalloc(n, sizeof(*texts));
	for (i = 0; i < n; i++) {
		texts[n - 1 - i].path = tree.files[i].path;
		xasprintf(&path, "%s/%s", root, tree.files[i].path);
		texts[n - 1 - i].buf = slurp(path, &texts[n - 1 - i].len);
		free(path);
	}
	ck_assert_msg(sl_load_texts(&mem, texts, n, &err) == 0, "%s", err);
	ck_assert_ptr_null(mem.root);
	ck_assert_uint_eq(mem.connections.n, tree.connections.n);
	for (i = 0; i < tree.connections.n; i++)
		ck_assert_str_eq(mem.connections.v[i], tree.connections.v[i]);
	ck_assert_uint_eq(mem.nfiles, n);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(mem.files[i].path, tree.files[i].path);
		ck_assert_int_eq(mem.files[i].kind, tree.files[i].kind);
	}
	ck_assert_uint_eq(mem.nsources, tree.nsources);
	for (i = 0; i < tree.nsources; i++) {
		ck_assert_str_eq(mem.sources[i].conn, tree.sources[i].conn);
		ck_assert_str_eq(mem.sources[i].name, tree.sources[i].name);
		ck_assert_uint_eq(mem.sources[i].ncolumns,
		    tree.sources[i].ncolumns);
	}
	ck_assert_uint_eq(mem.nerrors, tree.nerrors);
	for (i = 0; i < tree.nerrors; i++)
		ck_assert_str_eq(mem.errors[i].text, tree.errors[i].text);
	ck_assert_uint_eq(mem.warnings.n, tree.warnings.n);
	ck_assert_uint_eq(mem.norphans, tree.norphans);
	for (i = 0; i < n; i++)
		free((char *)texts[i].buf);
	free(texts);
	sl_release(&mem);
	sl_release(&tree);
	free(root);
}

static void
assert_texts_refused(const char *path1, const char *path2,
    const char *expected)
{
	struct sl_text	 texts[2] = {
		{ path1, "name: a\n", 8 }, { path2, "name: b\n", 8 }
	};
	struct sl	 sl;
	char		*err = NULL;

	ck_assert_int_eq(sl_load_texts(&sl, texts, 2, &err), -1);
	ck_assert_str_eq(err, expected);
	free(err);
	sl_release(&sl);
}

START_TEST(test_load_texts)
{
	assert_texts_load_as_tree("basic");
	assert_texts_load_as_tree("bad");
	assert_texts_load_as_tree("dup");

	assert_texts_refused("semantic-layer/wh/a.yaml",
	    "semantic-layer/wh/a.yaml",
	    "semantic-layer/wh/a.yaml: given twice");
	assert_texts_refused("semantic-layer/wh/a.yaml", "wh/b.yaml",
	    "wh/b.yaml: not a semantic-layer file path");
	assert_texts_refused("semantic-layer/wh/a.txt",
	    "semantic-layer/wh/b.yaml",
	    "semantic-layer/wh/a.txt: not a semantic-layer file path");
	assert_texts_refused("semantic-layer/.wh/a.yaml",
	    "semantic-layer/wh/b.yaml",
	    "semantic-layer/.wh/a.yaml: not a semantic-layer file path");
	assert_texts_refused("semantic-layer/wh/.a.yaml",
	    "semantic-layer/wh/b.yaml",
	    "semantic-layer/wh/.a.yaml: not a semantic-layer file path");
	assert_texts_refused("semantic-layer/wh/sub/a.yaml",
	    "semantic-layer/wh/b.yaml",
	    "semantic-layer/wh/sub/a.yaml: not a semantic-layer file path");
	assert_texts_refused("semantic-layer//a.yaml",
	    "semantic-layer/wh/b.yaml",
	    "semantic-layer//a.yaml: not a semantic-layer file path");
	assert_texts_refused("semantic-layer/wh/_schema/a.yml",
	    "semantic-layer/wh/b.yaml",
	    "semantic-layer/wh/_schema/a.yml: not a semantic-layer file path");
}
END_TEST

START_TEST(test_missing_tree_is_empty)
{
	struct sl	sl;

	load_tree(tmpdir, &sl);
	ck_assert_uint_eq(sl.nsources, 0);
	ck_assert_uint_eq(sl.connections.n, 0);
	ck_assert_ptr_null(sl_source_find(&sl, NULL, "x"));
	ck_assert(!sl_table_exists(&sl, NULL, "x"));
	sl_release(&sl);
}
END_TEST

/* A shard exercising every quoting rule of the emitter. */
static void
tricky_shard(struct sl_shard *sh)
{
	static const char *const values[] = {
		"plain words", "has: colon", "has #hash", "#start", "true",
		"No", "null", "~", "123", "1.5e3", "-7", ".5", "0x1f", "",
		" lead",
		"trail ", "quote \" inside", "both ' and \"", "it's",
		"line\nbreak", "tab\there", "caf\xc3\xa9 \xe2\x82\xac",
		"- dash", "-dash", "? q", "key:", "[x]", "{y}", "*star", "&amp",
		"!bang", "|pipe", ">gt", "%pct", "@at", "`tick", ",comma",
		"--- doc", "2024-01-01", "a\x01" "b", "nel\xc2\x85", "<<", "=",
		"ls\xe2\x80\xa8", NULL
	};
	struct sl_shard_table	*t;
	struct sl_column	*c;
	char			 key[16];
	size_t			 i;

	memset(sh, 0, sizeof(*sh));
	t = sl_shard_add_table(sh, "zeta", "db.zeta");
	sl_desc_set(&t->descriptions, "db", "Zeta: the last one");
	for (i = 0; values[i] != NULL; i++) {
		snprintf(key, sizeof(key), "k%02zu", i);
		sl_desc_set(&t->descriptions, key, values[i]);
		c = sl_shard_add_column(t, values[i][0] != '\0' ? values[i] :
		    "empty", "string");
		sl_desc_set(&c->descriptions, "db", values[i]);
	}
	t = sl_shard_add_table(sh, "alpha", "db.alpha");
	c = sl_shard_add_column(t, "id", "number");
	c->pk = 1;
	c->notnull = 1;
	sl_shard_add_join(t, "zeta", "alpha.id = zeta.id", "one_to_many",
	    "formal");
	sl_shard_add_table(sh, "empty", "db.empty");
}

START_TEST(test_emit_round_trip_is_byte_stable)
{
	struct sl_shard	 sh, back, back2;
	char		*a, *b, *c, *err = NULL, *path;
	size_t		 alen, blen, clen, i, k;

	tricky_shard(&sh);
	xasprintf(&path, "%s/shard.yaml", tmpdir);
	ck_assert_int_eq(sl_shard_write(path, &sh, &err), 0);
	a = slurp(path, &alen);
	ck_assert_int_eq(sl_shard_read(path, "shard.yaml", &back, &err), 0);
	ck_assert_ptr_null(err);
	/* Every value reads back as the very string that was written. */
	ck_assert_uint_eq(back.ntables, 3);
	ck_assert_str_eq(back.tables[2].key, "zeta");
	for (i = 0; i < sh.tables[0].descriptions.n; i++)
		ck_assert_str_eq(sl_desc_get(&back.tables[2].descriptions,
		    sh.tables[0].descriptions.v[i].key),
		    sh.tables[0].descriptions.v[i].value);
	for (k = 0; k < sh.tables[0].ncolumns; k++)
		ck_assert_str_eq(back.tables[2].columns[k].name,
		    sh.tables[0].columns[k].name);
	ck_assert(back.tables[0].columns[0].pk);
	ck_assert(back.tables[0].columns[0].notnull);
	ck_assert_str_eq(back.tables[0].joins[0].origin, "formal");
	b = sl_shard_emit(&back, &blen);
	ck_assert_uint_eq(alen, blen);
	ck_assert_mem_eq(a, b, alen);
	ck_assert_int_eq(sl_shard_write(path, &back, &err), 0);
	ck_assert_int_eq(sl_shard_read(path, "shard.yaml", &back2, &err), 0);
	c = sl_shard_emit(&back2, &clen);
	ck_assert_uint_eq(alen, clen);
	ck_assert_mem_eq(a, c, alen);
	free(a);
	free(b);
	free(c);
	free(path);
	sl_shard_release(&sh);
	sl_shard_release(&back);
	sl_shard_release(&back2);
}
END_TEST

START_TEST(test_emit_exact_text)
{
	struct sl_shard	 sh;
	char		*path, *text, *err = NULL;
	size_t		 len;

	path = fixture("basic/semantic-layer/wh/_schema/billing.yaml");
	ck_assert_int_eq(sl_shard_read(path, "billing.yaml", &sh, &err), 0);
	text = sl_shard_emit(&sh, &len);
	ck_assert_str_eq(text,
	    "tables:\n"
	    "  customers:\n"
	    "    table: billing.customers\n"
	    "    columns:\n"
	    "      - name: customer_id\n"
	    "        type: string\n"
	    "        pk: true\n"
	    "      - name: email\n"
	    "        type: string\n"
	    "  invoices:\n"
	    "    table: billing.invoices\n"
	    "    descriptions:\n"
	    "      db: One row per issued invoice\n"
	    "    columns:\n"
	    "      - name: invoice_id\n"
	    "        type: string\n"
	    "        pk: true\n"
	    "        nullable: false\n"
	    "      - name: subscription_id\n"
	    "        type: string\n"
	    "      - name: amount_cents\n"
	    "        type: number\n"
	    "      - name: issued_at\n"
	    "        type: time\n"
	    "    joins:\n"
	    "      - to: subscriptions\n"
	    "        on: invoices.subscription_id ="
	    " subscriptions.subscription_id\n"
	    "        relationship: many_to_one\n"
	    "        source: formal\n"
	    "  subscriptions:\n"
	    "    table: billing.subscriptions\n"
	    "    columns:\n"
	    "      - name: subscription_id\n"
	    "        type: string\n"
	    "        pk: true\n"
	    "        nullable: false\n"
	    "      - name: customer_id\n"
	    "        type: string\n"
	    "      - name: started_at\n"
	    "        type: time\n"
	    "    joins:\n"
	    "      - to: invoices\n"
	    "        on: subscriptions.subscription_id ="
	    " invoices.subscription_id\n"
	    "        relationship: one_to_many\n"
	    "        source: formal\n"
	    "      - to: Customers\n"
	    "        on: subscriptions.customer_id = customers.customer_id\n"
	    "        relationship: many_to_one\n"
	    "        source: manual\n");
	ck_assert_uint_eq(len, strlen(text));
	free(text);
	free(path);
	sl_shard_release(&sh);

	memset(&sh, 0, sizeof(sh));
	text = sl_shard_emit(&sh, &len);
	ck_assert_str_eq(text, "tables: {}\n");
	free(text);
}
END_TEST

START_TEST(test_usage_kept_as_read)
{
	struct sl_shard	 sh;
	char		*path, *err = NULL, *text;
	size_t		 len;

	put("s.yaml",
	    "tables:\n"
	    "  t:\n"
	    "    table: t\n"
	    "    usage: {executions: 12, frequencyTier: hot, users: [a, 'b'],"
	    " nested: {deep: [[1, 2], {x: \"y: z\"}]}, none: [], empty: {},"
	    " flag: 'true', 3: three}\n"
	    "    columns: []\n");
	xasprintf(&path, "%s/s.yaml", tmpdir);
	ck_assert_int_eq(sl_shard_read(path, "s.yaml", &sh, &err), 0);
	text = sl_shard_emit(&sh, &len);
	ck_assert_str_eq(text,
	    "tables:\n"
	    "  t:\n"
	    "    table: t\n"
	    "    usage:\n"
	    "      executions: 12\n"
	    "      frequencyTier: hot\n"
	    "      users:\n"
	    "        - a\n"
	    "        - b\n"
	    "      nested:\n"
	    "        deep:\n"
	    "          - - 1\n"
	    "            - 2\n"
	    "          - x: \"y: z\"\n"
	    "      none: []\n"
	    "      empty: {}\n"
	    "      flag: \"true\"\n"
	    "      3: three\n"
	    "    columns: []\n");
	free(text);
	free(path);
	sl_shard_release(&sh);
}
END_TEST

static int
exists_but_gone(const char *to, void *arg)
{
	(void)arg;
	return strcmp(to, "gone") != 0;
}

START_TEST(test_preserve_on_rescan)
{
	struct sl_shard		 old, fresh;
	struct sl_shard_table	*t, *o;
	struct sl_column	*c;
	char			*path, *err = NULL;

	put("old.yaml",
	    "tables:\n"
	    "  orders:\n"
	    "    table: main.orders\n"
	    "    descriptions: {db: old comment, ai: guessed, owner: sales}\n"
	    "    usage: {executions: 3}\n"
	    "    columns:\n"
	    "      - {name: id, type: number,"
	    " descriptions: {db: x, note: key}}\n"
	    "      - {name: dropped, type: string, descriptions: {note: n}}\n"
	    "    joins:\n"
	    "      - {to: customers, on: orders.cid = customers.id,"
	    " relationship: many_to_one, source: formal}\n"
	    "      - {to: notes, on: orders.id = notes.oid,"
	    " relationship: one_to_many, source: inferred}\n"
	    "      - {to: gone, on: orders.gid = gone.id,"
	    " relationship: many_to_one, source: manual}\n"
	    "      - {to: people, on: orders.pid = people.id,"
	    " relationship: many_to_one, source: manual}\n"
	    "      - {to: items, on: orders.id = items.oid,"
	    " relationship: one_to_many, source: manual}\n"
	    "  vanished:\n"
	    "    table: main.vanished\n"
	    "    descriptions: {owner: nobody}\n"
	    "    columns: []\n");
	xasprintf(&path, "%s/old.yaml", tmpdir);
	ck_assert_int_eq(sl_shard_read(path, "old.yaml", &old, &err), 0);

	memset(&fresh, 0, sizeof(fresh));
	t = sl_shard_add_table(&fresh, "orders", "main.orders");
	sl_desc_set(&t->descriptions, "db", "new comment");
	c = sl_shard_add_column(t, "id", "number");
	c->pk = 1;
	sl_shard_add_join(t, "items", "orders.id = items.oid", "one_to_many",
	    "formal");
	sl_shard_add_join(t, "customers", "orders.cid = customers.id",
	    "many_to_one", "formal");
	sl_shard_add_table(&fresh, "other", "main.other");

	sl_shard_preserve(&fresh, &old, exists_but_gone, NULL);
	t = &fresh.tables[0];
	ck_assert_uint_eq(t->descriptions.n, 2);
	ck_assert_str_eq(sl_desc_get(&t->descriptions, "db"), "new comment");
	ck_assert_str_eq(sl_desc_get(&t->descriptions, "owner"), "sales");
	ck_assert_ptr_null(sl_desc_get(&t->descriptions, "ai"));
	ck_assert_ptr_nonnull(t->usage);
	ck_assert_uint_eq(t->columns[0].descriptions.n, 1);
	ck_assert_str_eq(sl_desc_get(&t->columns[0].descriptions, "note"),
	    "key");
	/* manual first (the valid one and the one that shadows a formal join),
	   then the scan's, then inferred. */
	ck_assert_uint_eq(t->njoins, 4);
	ck_assert_str_eq(t->joins[0].to, "people");
	ck_assert_str_eq(t->joins[0].origin, "manual");
	ck_assert_str_eq(t->joins[1].to, "items");
	ck_assert_str_eq(t->joins[1].origin, "manual");
	ck_assert_str_eq(t->joins[2].to, "customers");
	ck_assert_str_eq(t->joins[2].origin, "formal");
	ck_assert_str_eq(t->joins[3].to, "notes");
	ck_assert_str_eq(t->joins[3].origin, "inferred");
	o = &fresh.tables[1];
	ck_assert_uint_eq(o->descriptions.n, 0);
	ck_assert_uint_eq(o->njoins, 0);
	free(path);
	sl_shard_release(&old);
	sl_shard_release(&fresh);
}
END_TEST

START_TEST(test_shard_read_reports_first_error)
{
	struct sl_shard	 sh;
	char		*path, *err = NULL;

	xasprintf(&path, "%s/nope.yaml", tmpdir);
	ck_assert_int_eq(sl_shard_read(path, "nope.yaml", &sh, &err), 1);
	ck_assert_ptr_null(err);
	ck_assert_uint_eq(sh.ntables, 0);
	free(path);
	put("bad.yaml", "tables:\n  t:\n    columns: [{name: a, type: int}]\n");
	xasprintf(&path, "%s/bad.yaml", tmpdir);
	ck_assert_int_eq(sl_shard_read(path, "_schema/bad.yaml", &sh, &err),
	    -1);
	ck_assert_str_eq(err, "_schema/bad.yaml:2:3: manifest entry \"t\" has"
	    " no \"table\"");
	ck_assert_uint_eq(sh.ntables, 0);
	free(err);
	free(path);
}
END_TEST

/* Many sources: every lookup goes through the index. */
START_TEST(test_many_sources)
{
	struct sl		 sl;
	const struct sl_source	*s;
	char			 rel[128], body[256], ref[64];
	int			 i;

	for (i = 0; i < 2000; i++) {
		snprintf(rel, sizeof(rel), "semantic-layer/c%d/s%04d.yaml",
		    i % 3, i);
		snprintf(body, sizeof(body), "name: s%04d\ntable: db.t%04d\n"
		    "grain: [id]\ncolumns: [{name: id, type: number}]\n"
		    "measures: [{name: m%d, expr: count(*)}]\n", i, i, i);
		put(rel, body);
	}
	load_tree(tmpdir, &sl);
	ck_assert_uint_eq(sl.nerrors, 0);
	ck_assert_uint_eq(sl.nsources, 2000);
	for (i = 0; i < 2000; i += 7) {
		snprintf(ref, sizeof(ref), "s%04d", i);
		ck_assert_ptr_nonnull(s = sl_source_find(&sl, NULL, ref));
		snprintf(body, sizeof(body), "c%d", i % 3);
		ck_assert_str_eq(s->conn, body);
		snprintf(ref, sizeof(ref), "m%d", i);
		ck_assert_uint_eq(sl_entity_kind(&sl, s, ref),
		    SL_ENTITY_MEASURE);
		snprintf(ref, sizeof(ref), "DB.T%04d", i);
		ck_assert(sl_table_exists(&sl, body, ref));
	}
	sl_release(&sl);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("sl");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_compose_reference_examples);
	tcase_add_test(tc, test_orphan_overlay_dropped_and_gated);
	tcase_add_test(tc, test_table_exists);
	tcase_add_test(tc, test_sl_refs);
	tcase_add_test(tc, test_load_for_names);
	tcase_add_test(tc, test_validate_join_targets);
	tcase_add_test(tc, test_duplicate_names);
	tcase_add_test(tc, test_load_errors_with_positions);
	tcase_add_test(tc, test_strict_schema_errors);
	tcase_add_test(tc, test_overlay_composition_rules);
	tcase_add_test(tc, test_missing_tree_is_empty);
	tcase_add_test(tc, test_load_texts);
	tcase_add_test(tc, test_emit_round_trip_is_byte_stable);
	tcase_add_test(tc, test_emit_exact_text);
	tcase_add_test(tc, test_usage_kept_as_read);
	tcase_add_test(tc, test_preserve_on_rescan);
	tcase_add_test(tc, test_shard_read_reports_first_error);
	tcase_add_test(tc, test_many_sources);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
