#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "adapters.h"
#include "sl.h"
#include "util.h"

static char	tmpdir[PATH_MAX];

static void
setup(void)
{
	const char	*base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/check_dbscan.XXXXXX",
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

/* A path under the temp dir.  Caller frees. */
static char *
tmp(const char *rel)
{
	char	*p;

	xasprintf(&p, "%s/%s", tmpdir, rel);
	return p;
}

static char *
slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf;
	long	 n;

	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (lenp != NULL)
		*lenp = (size_t)n;
	return buf;
}

static char *
slurp_tmp(const char *rel)
{
	char	*p = tmp(rel), *s;

	s = slurp(p, NULL);
	free(p);
	return s;
}

static void
put(const char *rel, const char *data)
{
	char	*path, *slash;
	FILE	*f;

	path = tmp(rel);
	for (slash = path + strlen(tmpdir) + 1;
	    (slash = strchr(slash, '/')) != NULL; slash++) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_int_ge(fputs(data, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	free(path);
}

static int
exists_tmp(const char *rel)
{
	char	*p = tmp(rel);
	int	 e = access(p, F_OK) == 0;

	free(p);
	return e;
}

/* Every file under dir: "path\n<bytes>\n" in path order. */
static struct strv	 walked;
static size_t		 walk_prefix;

static int
walk_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	char	*content, *rec;

	(void)sb;
	(void)ftw;
	if (flag != FTW_F)
		return 0;
	content = slurp(path, NULL);
	xasprintf(&rec, "%s\n%s", path + walk_prefix, content);
	strv_push_owned(&walked, rec);
	free(content);
	return 0;
}

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
tree_text(const char *dir)
{
	char	*all = NULL, *p;
	size_t	 i;

	memset(&walked, 0, sizeof(walked));
	walk_prefix = strlen(dir);
	ck_assert_int_eq(nftw(dir, walk_entry, 16, FTW_PHYS), 0);
	qsort(walked.v, walked.n, sizeof(*walked.v), strp_cmp);
	for (i = 0; i < walked.n; i++) {
		xasprintf(&p, "%s%s\n", all != NULL ? all : "", walked.v[i]);
		free(all);
		all = p;
	}
	strv_release(&walked);
	return all != NULL ? all : xstrdup("");
}

static void
make_db(const char *rel, const char *sql)
{
	sqlite3	*db;
	char	*path = tmp(rel), *err = NULL;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK,
	    "sqlite: %s", err);
	sqlite3_close(db);
	free(path);
}

static void
sqlite_conn(struct ktx_connection *c, const char *path)
{
	memset(c, 0, sizeof(*c));
	c->id = xstrdup("wh");
	c->driver = xstrdup("sqlite");
	c->kind = DRIVER_DATABASE;
	c->path = path != NULL ? xstrdup(path) : NULL;
}

static void
conn_release(struct ktx_connection *c)
{
	free(c->id);
	free(c->driver);
	free(c->path);
	free(c->url);
	strv_release(&c->enabled_tables);
}

/* Scan conn in the temp dir as the project and write into worktree. */
static void
scan_write(const struct ktx_connection *c, const char *worktree,
    const char *sync_id, char **used)
{
	struct dbscan	 scan;
	char		*err = NULL, *wt = tmp(worktree);

	ck_assert_msg(dbscan_sqlite(c, tmpdir, &scan, &err) == 0, "scan: %s",
	    err);
	ck_assert_msg(dbscan_write(&scan, wt, "wh", sync_id, used, &err) == 0,
	    "write: %s", err);
	dbscan_release(&scan);
	free(wt);
}

static const char small_schema[] =
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL,"
    " created_at DATETIME);"
    "CREATE TABLE orders (id INTEGER PRIMARY KEY,"
    " customer_id INTEGER REFERENCES customers(id), total NUMERIC(10,2),"
    " paid BOOLEAN);";

START_TEST(test_sqlite_small_shard_exact)
{
	struct ktx_connection	 c;
	char			*used = NULL, *text;

	make_db("wh.db", small_schema);
	sqlite_conn(&c, "wh.db");
	scan_write(&c, "wt", "2026-01-01-000000-local-a", &used);
	ck_assert_str_eq(used, "2026-01-01-000000-local-a");
	text = slurp_tmp("wt/semantic-layer/wh/_schema/main.yaml");
	ck_assert_str_eq(text,
	    "tables:\n"
	    "  customers:\n"
	    "    table: main.customers\n"
	    "    columns:\n"
	    "      - name: id\n"
	    "        type: number\n"
	    "        pk: true\n"
	    "        nullable: false\n"
	    "      - name: email\n"
	    "        type: string\n"
	    "        nullable: false\n"
	    "      - name: created_at\n"
	    "        type: time\n"
	    "    joins:\n"
	    "      - to: orders\n"
	    "        on: customers.id = orders.customer_id\n"
	    "        relationship: one_to_many\n"
	    "        source: formal\n"
	    "  orders:\n"
	    "    table: main.orders\n"
	    "    columns:\n"
	    "      - name: id\n"
	    "        type: number\n"
	    "        pk: true\n"
	    "        nullable: false\n"
	    "      - name: customer_id\n"
	    "        type: number\n"
	    "      - name: total\n"
	    "        type: number\n"
	    "      - name: paid\n"
	    "        type: boolean\n"
	    "    joins:\n"
	    "      - to: customers\n"
	    "        on: orders.customer_id = customers.id\n"
	    "        relationship: many_to_one\n"
	    "        source: formal\n");
	free(text);
	text = slurp_tmp("wt/raw-sources/wh/live-database/"
	    "2026-01-01-000000-local-a/connection.json");
	ck_assert_str_eq(text,
	    "{\n"
	    "  \"connectionId\": \"wh\",\n"
	    "  \"driver\": \"sqlite\",\n"
	    "  \"scope\": {\n"
	    "    \"enabledTables\": null\n"
	    "  },\n"
	    "  \"metadata\": {\n"
	    "    \"database\": \"wh.db\"\n"
	    "  },\n"
	    "  \"tableCount\": 2\n"
	    "}\n");
	free(text);
	/* b64url("_") . b64url("main") . b64url("orders") */
	text = slurp_tmp("wt/raw-sources/wh/live-database/"
	    "2026-01-01-000000-local-a/tables/Xw.bWFpbg.b3JkZXJz.json");
	ck_assert_str_eq(text,
	    "{\n"
	    "  \"catalog\": null,\n"
	    "  \"db\": \"main\",\n"
	    "  \"name\": \"orders\",\n"
	    "  \"kind\": \"table\",\n"
	    "  \"comment\": null,\n"
	    "  \"estimatedRows\": null,\n"
	    "  \"columns\": [\n"
	    "    {\n"
	    "      \"name\": \"id\",\n"
	    "      \"nativeType\": \"INTEGER\",\n"
	    "      \"normalizedType\": \"integer\",\n"
	    "      \"dimensionType\": \"number\",\n"
	    "      \"nullable\": false,\n"
	    "      \"primaryKey\": true,\n"
	    "      \"comment\": null\n"
	    "    },\n"
	    "    {\n"
	    "      \"name\": \"customer_id\",\n"
	    "      \"nativeType\": \"INTEGER\",\n"
	    "      \"normalizedType\": \"integer\",\n"
	    "      \"dimensionType\": \"number\",\n"
	    "      \"nullable\": true,\n"
	    "      \"primaryKey\": false,\n"
	    "      \"comment\": null\n"
	    "    },\n"
	    "    {\n"
	    "      \"name\": \"total\",\n"
	    "      \"nativeType\": \"NUMERIC(10,2)\",\n"
	    "      \"normalizedType\": \"numeric\",\n"
	    "      \"dimensionType\": \"number\",\n"
	    "      \"nullable\": true,\n"
	    "      \"primaryKey\": false,\n"
	    "      \"comment\": null\n"
	    "    },\n"
	    "    {\n"
	    "      \"name\": \"paid\",\n"
	    "      \"nativeType\": \"BOOLEAN\",\n"
	    "      \"normalizedType\": \"boolean\",\n"
	    "      \"dimensionType\": \"boolean\",\n"
	    "      \"nullable\": true,\n"
	    "      \"primaryKey\": false,\n"
	    "      \"comment\": null\n"
	    "    }\n"
	    "  ],\n"
	    "  \"foreignKeys\": [\n"
	    "    {\n"
	    "      \"fromTable\": \"orders\",\n"
	    "      \"fromTablePath\": \"main.orders\",\n"
	    "      \"fromColumn\": \"customer_id\",\n"
	    "      \"toCatalog\": null,\n"
	    "      \"toDb\": \"main\",\n"
	    "      \"toTable\": \"customers\",\n"
	    "      \"toColumn\": \"id\",\n"
	    "      \"constraintName\": null\n"
	    "    }\n"
	    "  ]\n"
	    "}\n");
	free(text);
	text = slurp_tmp("wt/raw-sources/wh/live-database/"
	    "2026-01-01-000000-local-a/warnings.json");
	ck_assert_str_eq(text, "{\n  \"warnings\": []\n}\n");
	free(text);
	free(used);
	conn_release(&c);
}
END_TEST

static const char rich_schema[] =
    "CREATE TABLE customers (customer_id TEXT PRIMARY KEY, email VARCHAR(200)"
    " NOT NULL UNIQUE, signup_date DATE, score REAL, avatar BLOB, misc);"
    "CREATE TABLE profiles (customer_id TEXT PRIMARY KEY"
    " REFERENCES customers, bio CLOB);"
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner_email TEXT UNIQUE"
    " REFERENCES customers(email));"
    "CREATE TABLE orders (order_id INTEGER, region TEXT, customer_id TEXT"
    " REFERENCES customers(customer_id), placed_at TIMESTAMP,"
    " PRIMARY KEY (region, order_id));"
    "CREATE TABLE order_lines (region TEXT, order_id INTEGER,"
    " line_no INTEGER, qty DECIMAL(8, 3), sku CHARACTER(8),"
    " PRIMARY KEY (region, order_id, line_no),"
    " FOREIGN KEY (region, order_id) REFERENCES orders(region, order_id));"
    "CREATE TABLE employees (id INTEGER PRIMARY KEY, manager_id INTEGER"
    " REFERENCES employees(id), badge TEXT);"
    "CREATE UNIQUE INDEX employees_badge_partial ON employees(badge)"
    " WHERE badge IS NOT NULL;"
    "CREATE TABLE dangling (id INTEGER PRIMARY KEY, x INTEGER"
    " REFERENCES nowhere);"
    "CREATE VIEW big_orders AS SELECT order_id, region FROM orders"
    " WHERE order_id > 100;"
    "INSERT INTO customers VALUES ('c1', 'a@example.com', '2024-01-01', 1.5,"
    " NULL, NULL);";

static const struct sl_shard_table *
shard_table(const struct sl_shard *sh, const char *key)
{
	size_t	i;

	for (i = 0; i < sh->ntables; i++)
		if (strcmp(sh->tables[i].key, key) == 0)
			return &sh->tables[i];
	return NULL;
}

static int
has_join(const struct sl_shard_table *t, const char *to, const char *on,
    const char *relationship)
{
	size_t	i;

	for (i = 0; i < t->njoins; i++)
		if (strcmp(t->joins[i].to, to) == 0 &&
		    strcmp(t->joins[i].on, on) == 0 &&
		    strcmp(t->joins[i].relationship, relationship) == 0)
			return 1;
	return 0;
}

static const struct dbscan_table *
scan_table(const struct dbscan *scan, const char *name)
{
	size_t	i;

	for (i = 0; i < scan->ntables; i++)
		if (strcmp(scan->tables[i].name, name) == 0)
			return &scan->tables[i];
	return NULL;
}

START_TEST(test_sqlite_model_and_joins)
{
	struct ktx_connection		 c;
	struct dbscan			 scan;
	const struct dbscan_table	*t;
	struct sl_shard			 sh;
	const struct sl_shard_table	*st;
	char				*err = NULL, *used = NULL, *path;

	make_db("rich.db", rich_schema);
	sqlite_conn(&c, "rich.db");
	ck_assert_msg(dbscan_sqlite(&c, tmpdir, &scan, &err) == 0, "%s", err);
	ck_assert_uint_eq(scan.ntables, 8);
	ck_assert_str_eq(scan.tables[0].name, "accounts");
	ck_assert_str_eq(scan.tables[1].name, "big_orders");
	ck_assert_str_eq(scan.tables[1].kind, "view");
	ck_assert_str_eq(scan.tables[2].kind, "table");

	ck_assert_ptr_nonnull(t = scan_table(&scan, "customers"));
	ck_assert_str_eq(t->db, "main");
	ck_assert_ptr_null(t->catalog);
	ck_assert_uint_eq(t->ncolumns, 6);
	ck_assert_str_eq(t->columns[2].dimension_type, "time");
	ck_assert_str_eq(t->columns[3].dimension_type, "number");
	ck_assert_str_eq(t->columns[4].dimension_type, "string");
	ck_assert_str_eq(t->columns[5].native_type, "");
	ck_assert_str_eq(t->columns[5].dimension_type, "string");

	ck_assert_ptr_nonnull(t = scan_table(&scan, "orders"));
	ck_assert_int_eq(t->columns[0].pk, 2);
	ck_assert_int_eq(t->columns[1].pk, 1);
	ck_assert_int_eq(t->columns[2].pk, 0);
	ck_assert_str_eq(t->columns[3].dimension_type, "time");

	/* Implicit parent columns resolve to the parent's primary key. */
	ck_assert_ptr_nonnull(t = scan_table(&scan, "profiles"));
	ck_assert_uint_eq(t->nfks, 1);
	ck_assert_str_eq(t->fks[0].to_columns.v[0], "customer_id");
	ck_assert_int_eq(t->fks[0].unique, 1);
	ck_assert_ptr_nonnull(t = scan_table(&scan, "accounts"));
	ck_assert_int_eq(t->fks[0].unique, 1);
	/* A partial unique index does not make a key unique. */
	ck_assert_ptr_nonnull(t = scan_table(&scan, "employees"));
	ck_assert_int_eq(t->fks[0].unique, 0);
	ck_assert_ptr_nonnull(t = scan_table(&scan, "order_lines"));
	ck_assert_uint_eq(t->fks[0].from_columns.n, 2);
	ck_assert_int_eq(t->fks[0].unique, 0);
	/* A key to a missing table with implicit columns is a warning. */
	ck_assert_ptr_nonnull(t = scan_table(&scan, "dangling"));
	ck_assert_uint_eq(t->nfks, 0);
	ck_assert_uint_eq(scan.nwarnings, 1);
	ck_assert_str_eq(scan.warnings[0].code, "foreign_key_unresolved");

	path = tmp("wt");
	ck_assert_int_eq(dbscan_write(&scan, path, "wh", "s1", &used, &err), 0);
	free(path);
	path = tmp("wt/semantic-layer/wh/_schema/main.yaml");
	ck_assert_int_eq(sl_shard_read(path, "main.yaml", &sh, &err), 0);
	ck_assert_uint_eq(sh.ntables, 8);
	ck_assert_ptr_nonnull(st = shard_table(&sh, "profiles"));
	ck_assert(has_join(st, "customers", "profiles.customer_id ="
	    " customers.customer_id", "one_to_one"));
	ck_assert_ptr_nonnull(st = shard_table(&sh, "customers"));
	ck_assert(has_join(st, "profiles", "customers.customer_id ="
	    " profiles.customer_id", "one_to_one"));
	ck_assert(has_join(st, "orders", "customers.customer_id ="
	    " orders.customer_id", "one_to_many"));
	ck_assert(has_join(st, "accounts", "customers.email ="
	    " accounts.owner_email", "one_to_one"));
	ck_assert_ptr_nonnull(st = shard_table(&sh, "order_lines"));
	ck_assert(has_join(st, "orders", "order_lines.region = orders.region"
	    " AND order_lines.order_id = orders.order_id", "many_to_one"));
	ck_assert_ptr_nonnull(st = shard_table(&sh, "employees"));
	ck_assert_uint_eq(st->njoins, 2);
	ck_assert(has_join(st, "employees", "employees.manager_id ="
	    " employees.id", "many_to_one"));
	ck_assert(has_join(st, "employees", "employees.id ="
	    " employees.manager_id", "one_to_many"));
	ck_assert_ptr_nonnull(st = shard_table(&sh, "orders"));
	ck_assert_uint_eq(st->njoins, 2);
	ck_assert_str_eq(st->columns[0].name, "order_id");
	ck_assert(st->columns[0].pk && st->columns[1].pk);
	ck_assert_ptr_nonnull(st = shard_table(&sh, "big_orders"));
	ck_assert_uint_eq(st->njoins, 0);
	ck_assert_str_eq(st->table, "main.big_orders");
	sl_shard_release(&sh);
	free(path);
	free(used);
	dbscan_release(&scan);
	conn_release(&c);
}
END_TEST

START_TEST(test_raw_files_are_valid_json)
{
	struct ktx_connection	 c;
	char			*used = NULL, *text, *rel;
	cJSON			*j, *arr;
	const char *const	 files[] = {
		"connection.json", "foreign-keys.json", "warnings.json",
		"tables/Xw.bWFpbg.ZW1wbG95ZWVz.json", NULL
	};
	size_t			 i;

	make_db("rich.db", rich_schema);
	sqlite_conn(&c, "rich.db");
	scan_write(&c, "wt", "s1", &used);
	for (i = 0; files[i] != NULL; i++) {
		xasprintf(&rel, "wt/raw-sources/wh/live-database/s1/%s",
		    files[i]);
		text = slurp_tmp(rel);
		ck_assert_msg((j = cJSON_Parse(text)) != NULL, "%s is not"
		    " JSON", files[i]);
		ck_assert(text[strlen(text) - 1] == '\n');
		ck_assert(strchr(text, '\t') == NULL);
		cJSON_Delete(j);
		free(text);
		free(rel);
	}
	text = slurp_tmp("wt/raw-sources/wh/live-database/s1/"
	    "foreign-keys.json");
	j = cJSON_Parse(text);
	arr = cJSON_GetObjectItem(j, "foreignKeys");
	/* accounts, employees, order_lines (two columns), orders, profiles:
	   6 rows, sorted by the referencing table's path. */
	ck_assert_int_eq(cJSON_GetArraySize(arr), 6);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(arr, 0), "fromTablePath")), "main.accounts");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(arr, 5), "fromTablePath")), "main.profiles");
	cJSON_Delete(j);
	free(text);
	text = slurp_tmp("wt/raw-sources/wh/live-database/s1/warnings.json");
	ck_assert_ptr_nonnull(strstr(text,
	    "\"code\": \"foreign_key_unresolved\""));
	ck_assert_ptr_nonnull(strstr(text, "\"table\": \"dangling\""));
	free(text);
	free(used);
	conn_release(&c);
}
END_TEST

START_TEST(test_rescan_is_byte_identical)
{
	struct ktx_connection	 c;
	char			*used = NULL, *a, *b, *p;

	make_db("rich.db", rich_schema);
	sqlite_conn(&c, "rich.db");
	scan_write(&c, "wt1", "2026-01-01-000000-local-a", &used);
	free(used);
	scan_write(&c, "wt2", "2026-01-01-000000-local-a", &used);
	free(used);
	p = tmp("wt1");
	a = tree_text(p);
	free(p);
	p = tmp("wt2");
	b = tree_text(p);
	free(p);
	ck_assert_str_eq(a, b);
	free(b);

	/* In the same worktree, an unchanged schema reuses the snapshot. */
	scan_write(&c, "wt1", "2026-01-02-000000-local-b", &used);
	ck_assert_str_eq(used, "2026-01-01-000000-local-a");
	free(used);
	ck_assert(!exists_tmp("wt1/raw-sources/wh/live-database/"
	    "2026-01-02-000000-local-b"));
	p = tmp("wt1");
	b = tree_text(p);
	free(p);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);

	/* A changed schema gets a new snapshot. */
	make_db("rich.db", "ALTER TABLE orders ADD COLUMN note TEXT;");
	scan_write(&c, "wt1", "2026-01-03-000000-local-c", &used);
	ck_assert_str_eq(used, "2026-01-03-000000-local-c");
	free(used);
	ck_assert(exists_tmp("wt1/raw-sources/wh/live-database/"
	    "2026-01-03-000000-local-c/connection.json"));
	a = slurp_tmp("wt1/semantic-layer/wh/_schema/main.yaml");
	ck_assert_ptr_nonnull(strstr(a, "      - name: note\n"));
	free(a);
	conn_release(&c);
}
END_TEST

START_TEST(test_rescan_preserves_user_additions)
{
	struct ktx_connection	 c;
	char			*used = NULL, *text, *edited;
	const char		*at;

	make_db("wh.db", small_schema);
	sqlite_conn(&c, "wh.db");
	scan_write(&c, "wt", "s1", &used);
	free(used);
	text = slurp_tmp("wt/semantic-layer/wh/_schema/main.yaml");
	/*
	 * A user describes orders and joins it by hand (orders comes last, so
	 * its joins end the file); an old "ai" key goes.
	 */
	at = strstr(text, "    table: main.orders\n") +
	    strlen("    table: main.orders\n");
	xasprintf(&edited, "%.*s    descriptions:\n      owner: Sales team\n"
	    "      ai: stale guess\n    usage:\n      executions: 7\n%s"
	    "      - to: customers\n        on: orders.id = customers.id\n"
	    "        relationship: one_to_one\n        source: manual\n"
	    "      - to: ghosts\n        on: orders.id = ghosts.id\n"
	    "        relationship: one_to_one\n        source: manual\n",
	    (int)(at - text), text, at);
	put("wt/semantic-layer/wh/_schema/main.yaml", edited);
	free(edited);
	free(text);
	put("wt/semantic-layer/wh/_schema/stale.yaml", "tables: {}\n");

	scan_write(&c, "wt", "s2", &used);
	ck_assert_str_eq(used, "s1");
	free(used);
	text = slurp_tmp("wt/semantic-layer/wh/_schema/main.yaml");
	ck_assert_ptr_nonnull(strstr(text,
	    "  orders:\n"
	    "    table: main.orders\n"
	    "    descriptions:\n"
	    "      owner: Sales team\n"
	    "    usage:\n"
	    "      executions: 7\n"
	    "    columns:\n"));
	ck_assert_ptr_nonnull(strstr(text,
	    "    joins:\n"
	    "      - to: customers\n"
	    "        on: orders.id = customers.id\n"
	    "        relationship: one_to_one\n"
	    "        source: manual\n"
	    "      - to: customers\n"
	    "        on: orders.customer_id = customers.id\n"
	    "        relationship: many_to_one\n"
	    "        source: formal\n"));
	ck_assert_ptr_null(strstr(text, "ghosts"));
	ck_assert_ptr_null(strstr(text, "stale guess"));
	free(text);
	ck_assert(!exists_tmp("wt/semantic-layer/wh/_schema/stale.yaml"));
	conn_release(&c);
}
END_TEST

START_TEST(test_enabled_tables_filter)
{
	struct ktx_connection	 c;
	struct dbscan		 scan;
	char			*err = NULL, *used = NULL, *text, *wt;

	make_db("rich.db", rich_schema);
	sqlite_conn(&c, "rich.db");
	strv_push(&c.enabled_tables, "ORDERS");
	strv_push(&c.enabled_tables, "main.order_lines");
	strv_push(&c.enabled_tables, "other.customers");
	strv_push(&c.enabled_tables, "nope");
	ck_assert_msg(dbscan_sqlite(&c, tmpdir, &scan, &err) == 0, "%s", err);
	ck_assert_uint_eq(scan.ntables, 2);
	ck_assert_str_eq(scan.tables[0].name, "order_lines");
	ck_assert_str_eq(scan.tables[1].name, "orders");
	ck_assert_uint_eq(scan.nwarnings, 2);
	ck_assert_str_eq(scan.warnings[0].code, "enabled_table_not_found");
	ck_assert_str_eq(scan.warnings[0].message, "enabled_tables names"
	    " \"nope\", which is not in the database");
	ck_assert_str_eq(scan.warnings[1].message, "enabled_tables names"
	    " \"other.customers\", which is not in the database");
	wt = tmp("wt");
	ck_assert_int_eq(dbscan_write(&scan, wt, "wh", "s1", &used, &err), 0);
	text = slurp_tmp("wt/semantic-layer/wh/_schema/main.yaml");
	/* orders' key to customers is out of scope: no join for it. */
	ck_assert_ptr_null(strstr(text, "to: customers"));
	ck_assert_ptr_nonnull(strstr(text, "      - to: order_lines\n"
	    "        on: orders.region = order_lines.region AND"
	    " orders.order_id = order_lines.order_id\n"
	    "        relationship: one_to_many\n"));
	free(text);
	text = slurp_tmp("wt/raw-sources/wh/live-database/s1/"
	    "connection.json");
	ck_assert_ptr_nonnull(strstr(text, "  \"scope\": {\n"
	    "    \"enabledTables\": [\n      \"ORDERS\",\n"));
	ck_assert_ptr_nonnull(strstr(text, "\"tableCount\": 2\n"));
	free(text);
	text = slurp_tmp("wt/raw-sources/wh/live-database/s1/"
	    "foreign-keys.json");
	ck_assert_ptr_nonnull(strstr(text, "\"toTable\": \"customers\""));
	free(text);
	free(wt);
	free(used);
	dbscan_release(&scan);
	conn_release(&c);
}
END_TEST

START_TEST(test_sqlite_is_read_only)
{
	struct ktx_connection	 c;
	struct stat		 before, after;
	sqlite3			*db;
	char			*path, *dbpath = NULL, *err = NULL;
	char			*used = NULL;
	char			*bytes_before, *bytes_after;
	size_t			 lb, la;

	make_db("wh.db", small_schema);
	path = tmp("wh.db");
	ck_assert_int_eq(stat(path, &before), 0);
	bytes_before = slurp(path, &lb);
	sleep(1);
	sqlite_conn(&c, "wh.db");
	scan_write(&c, "wt", "s1", &used);
	ck_assert_int_eq(stat(path, &after), 0);
	bytes_after = slurp(path, &la);
	ck_assert_uint_eq(lb, la);
	ck_assert_mem_eq(bytes_before, bytes_after, lb);
	ck_assert_int_eq(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
	ck_assert_int_eq(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	ck_assert(!exists_tmp("wh.db-journal"));
	ck_assert(!exists_tmp("wh.db-wal"));

	ck_assert_int_eq(dbscan_sqlite_open(&c, tmpdir, &db, &dbpath, &err), 0);
	ck_assert_str_eq(dbpath, path);
	ck_assert_int_ne(sqlite3_exec(db, "CREATE TABLE intruder (a)", NULL,
	    NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_errcode(db), SQLITE_READONLY);
	ck_assert_int_ne(sqlite3_exec(db, "DELETE FROM orders", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	free(bytes_after);
	bytes_after = slurp(path, &la);
	ck_assert_uint_eq(lb, la);
	ck_assert_mem_eq(bytes_before, bytes_after, lb);
	free(bytes_before);
	free(bytes_after);
	free(dbpath);
	free(path);
	free(used);
	conn_release(&c);
}
END_TEST

START_TEST(test_sqlite_paths_and_errors)
{
	struct ktx_connection	 c;
	struct dbscan		 scan;
	char			*err = NULL, *expect, *abs;

	sqlite_conn(&c, "missing.db");
	ck_assert_int_eq(dbscan_sqlite(&c, tmpdir, &scan, &err), -1);
	xasprintf(&expect, "connection \"wh\": SQLite database"
	    " \"%s/missing.db\" does not exist", tmpdir);
	ck_assert_str_eq(err, expect);
	ck_assert_uint_eq(scan.ntables, 0);
	free(expect);
	free(err);
	conn_release(&c);

	put("notadb.db", "hello, this is not a database file at all\n");
	sqlite_conn(&c, "notadb.db");
	ck_assert_int_eq(dbscan_sqlite(&c, tmpdir, &scan, &err), -1);
	xasprintf(&expect, "connection \"wh\": cannot open SQLite database"
	    " \"%s/notadb.db\": file is not a database", tmpdir);
	ck_assert_str_eq(err, expect);
	free(expect);
	free(err);
	conn_release(&c);

	/* url forms: sqlite:///<absolute>, sqlite://<relative>, a plain path */
	put("sub/.keep", "");
	make_db("sub/w h#1.db", small_schema);
	sqlite_conn(&c, NULL);
	xasprintf(&abs, "sqlite://%s/sub/w h#1.db", tmpdir);
	c.url = abs;
	ck_assert_msg(dbscan_sqlite(&c, "/nonexistent", &scan, &err) == 0,
	    "%s", err);
	ck_assert_uint_eq(scan.ntables, 2);
	ck_assert_str_eq(scan.database, abs);
	dbscan_release(&scan);
	free(c.url);
	c.url = xstrdup("sqlite://sub/w h#1.db");
	ck_assert_msg(dbscan_sqlite(&c, tmpdir, &scan, &err) == 0, "%s", err);
	dbscan_release(&scan);
	free(c.url);
	c.url = xstrdup("sub/w h#1.db");
	ck_assert_msg(dbscan_sqlite(&c, tmpdir, &scan, &err) == 0, "%s", err);
	dbscan_release(&scan);
	free(c.url);
	c.url = xstrdup("sqlite://sub/x.db?mode=rw");
	ck_assert_int_eq(dbscan_sqlite(&c, tmpdir, &scan, &err), -1);
	ck_assert_str_eq(err, "connection \"wh\": query parameters in a SQLite"
	    " url are not supported");
	free(err);
	free(c.url);
	c.url = xstrdup("env:WH_SQLITE");
	ck_assert_int_eq(dbscan_sqlite(&c, tmpdir, &scan, &err), -1);
	ck_assert_str_eq(err, "connection \"wh\": \"url\" is a secret"
	    " reference the worker has not resolved");
	free(err);
	conn_release(&c);
}
END_TEST

START_TEST(test_dimension_types)
{
	static const struct {
		const char	*driver, *native, *want;
	} cases[] = {
		{ "sqlite", "INTEGER", "number" },
		{ "sqlite", "BIGINT", "number" },
		{ "sqlite", "VARCHAR(20)", "string" },
		{ "sqlite", "TEXT", "string" },
		{ "sqlite", "BLOB", "string" },
		{ "sqlite", "", "string" },
		{ "sqlite", "REAL", "number" },
		{ "sqlite", "DOUBLE PRECISION", "number" },
		{ "sqlite", "NUMERIC(10,2)", "number" },
		{ "sqlite", "DECIMAL", "number" },
		{ "sqlite", "BOOLEAN", "boolean" },
		{ "sqlite", "DATE", "time" },
		{ "sqlite", "DATETIME", "time" },
		{ "sqlite", "TIMESTAMP", "time" },
		/* affinity first: "INT" in the name wins, as in SQLite */
		{ "sqlite", "DATEINT", "number" },
		{ "sqlite", "CHARDATE", "string" },
		{ "postgres", "integer", "number" },
		{ "postgres", "bigint", "number" },
		{ "postgres", "smallint", "number" },
		{ "postgres", "numeric(10,2)", "number" },
		{ "postgres", "double precision", "number" },
		{ "postgres", "real", "number" },
		{ "postgres", "money", "number" },
		{ "postgres", "boolean", "boolean" },
		{ "postgres", "date", "time" },
		{ "postgres", "timestamp without time zone", "time" },
		{ "postgres", "timestamp(3) with time zone", "time" },
		{ "postgres", "time without time zone", "time" },
		{ "postgres", "interval", "string" },
		{ "postgres", "text", "string" },
		{ "postgres", "character varying(20)", "string" },
		{ "postgres", "uuid", "string" },
		{ "postgres", "jsonb", "string" },
		{ "postgres", "bytea", "string" },
		{ "postgres", "integer[]", "string" },
		{ "postgres", "\"MyEnum\"", "string" },
		{ "postgres", "internal_int", "string" },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(strcmp(dbscan_dimension_type(cases[i].driver,
		    cases[i].native), cases[i].want) == 0, "%s %s: %s, not %s",
		    cases[i].driver, cases[i].native,
		    dbscan_dimension_type(cases[i].driver, cases[i].native),
		    cases[i].want);
}
END_TEST

/*
 * PostgreSQL, for real: tests/pg.sh starts a private server once for the
 * test case and stops it afterwards.
 */
static char	*pg_dir;
static char	*pg_super;		/* conninfo of the superuser */
static char	*pg_sock;
static char	 pg_failure[512];

/* Run sql; on failure note why in pg_failure (no assertion: fixtures). */
static int
pg_exec(const char *conninfo, const char *sql)
{
	PGconn		*pg = PQconnectdb(conninfo);
	PGresult	*res = NULL;
	int		 rv = -1;

	if (PQstatus(pg) != CONNECTION_OK) {
		snprintf(pg_failure, sizeof(pg_failure), "connect: %s",
		    PQerrorMessage(pg));
		goto out;
	}
	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(pg_failure, sizeof(pg_failure), "%.60s...: %s", sql,
		    PQresultErrorMessage(res));
		goto out;
	}
	rv = 0;
out:
	PQclear(res);
	PQfinish(pg);
	return rv;
}

static void
pg_start(void)
{
	const char	*srcdir = getenv("KTX_TOP_SRCDIR");
	char		*cmd, line[PATH_MAX + 128];
	FILE		*p;
	size_t		 len;
	int		 status;

	if (srcdir == NULL) {
		snprintf(pg_failure, sizeof(pg_failure),
		    "KTX_TOP_SRCDIR is not set");
		return;
	}
	xasprintf(&cmd, "sh '%s/tests/pg.sh' start", srcdir);
	if ((p = popen(cmd, "r")) == NULL) {
		snprintf(pg_failure, sizeof(pg_failure), "cannot run %s", cmd);
		free(cmd);
		return;
	}
	if (fgets(line, sizeof(line), p) != NULL) {
		len = strcspn(line, "\n");
		pg_dir = xstrndup(line, len);
	}
	if (fgets(line, sizeof(line), p) != NULL) {
		len = strcspn(line, "\n");
		pg_super = xstrndup(line, len);
	}
	status = pclose(p);
	if (status != 0 || pg_dir == NULL || pg_super == NULL)
		snprintf(pg_failure, sizeof(pg_failure), "tests/pg.sh could not"
		    " start a PostgreSQL server (status %d); its messages are"
		    " on stderr", status);
	else
		xasprintf(&pg_sock, "%s/sock", pg_dir);
	free(cmd);
}

static void
pg_stop(void)
{
	const char	*srcdir = getenv("KTX_TOP_SRCDIR");
	char		*cmd;

	if (pg_dir != NULL && srcdir != NULL) {
		xasprintf(&cmd, "sh '%s/tests/pg.sh' stop '%s'", srcdir,
		    pg_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "check_dbscan: %s failed\n", cmd);
		free(cmd);
	}
	free(pg_dir);
	free(pg_super);
	free(pg_sock);
	pg_dir = pg_super = pg_sock = NULL;
}

#define PG_PASSWORD	"Sup3r-Secret-pw"

static const char pg_schema[] =
    "CREATE SCHEMA billing; CREATE SCHEMA crm;"
    "CREATE TABLE crm.customers (customer_id uuid PRIMARY KEY,"
    " email text NOT NULL, created_at timestamptz);"
    "COMMENT ON TABLE crm.customers IS 'People who pay';"
    "COMMENT ON COLUMN crm.customers.email IS 'Primary contact: billing';"
    "CREATE TABLE crm.profiles (customer_id uuid PRIMARY KEY"
    " REFERENCES crm.customers, bio text);"
    "CREATE TABLE billing.subscriptions (subscription_id bigint PRIMARY KEY,"
    " customer_id uuid NOT NULL REFERENCES crm.customers, plan varchar(20),"
    " active boolean, started_on date, price numeric(10,2), tags text[],"
    " period interval);"
    "CREATE TABLE billing.invoices (invoice_id bigserial PRIMARY KEY,"
    " subscription_id bigint CONSTRAINT inv_sub_fk"
    " REFERENCES billing.subscriptions, amount_cents integer NOT NULL,"
    " issued_at timestamp);"
    "COMMENT ON TABLE billing.invoices IS 'One row per issued invoice';"
    "CREATE TABLE billing.lines (invoice_id bigint, line_no int,"
    " PRIMARY KEY (invoice_id, line_no),"
    " FOREIGN KEY (invoice_id) REFERENCES billing.invoices);"
    "CREATE TABLE billing.line_notes (invoice_id bigint, line_no int,"
    " note text, FOREIGN KEY (invoice_id, line_no) REFERENCES billing.lines);"
    "CREATE VIEW billing.open_invoices AS SELECT invoice_id, amount_cents"
    " FROM billing.invoices WHERE amount_cents > 0;"
    "CREATE TABLE crm.invoices (id int PRIMARY KEY);"
    "INSERT INTO crm.customers SELECT gen_random_uuid(), 'x' || g, now()"
    " FROM generate_series(1, 25) g;"
    "ANALYZE crm.customers;"
    "CREATE ROLE ktx_password LOGIN PASSWORD '" PG_PASSWORD "';"
    "GRANT USAGE ON SCHEMA billing, crm TO ktx_password;";

/* The test database, as the superuser.  Caller frees. */
static char *
pg_db(void)
{
	char	*c;

	xasprintf(&c, "%.*sktxtest", (int)(strlen(pg_super) -
	    strlen("postgres")), pg_super);
	return c;
}

/* Start the server and make the test database, once for the test case. */
static void
pg_setup(void)
{
	char	*db;

	pg_start();
	if (pg_failure[0] != '\0' ||
	    pg_exec(pg_super, "CREATE DATABASE ktxtest") == -1)
		return;
	db = pg_db();
	pg_exec(db, pg_schema);
	free(db);
}

static void
pg_require(void)
{
	ck_assert_msg(pg_failure[0] == '\0', "PostgreSQL: %s", pg_failure);
	ck_assert_msg(pg_dir != NULL, "no PostgreSQL server");
}

static void
pg_conn(struct ktx_connection *c)
{
	memset(c, 0, sizeof(*c));
	c->id = xstrdup("wh");
	c->driver = xstrdup("postgres");
	c->kind = DRIVER_DATABASE;
	c->url = xstrdup("env:WH_URL");
}

/* The written file at rel contains no trace of the password or socket. */
static void
assert_no_secrets(const char *dir)
{
	char	*all = tree_text(dir);

	ck_assert_ptr_null(strstr(all, PG_PASSWORD));
	ck_assert_ptr_null(strstr(all, pg_sock));
	ck_assert_ptr_null(strstr(all, "ktx_password"));
	free(all);
}

START_TEST(test_postgres_scan)
{
	struct ktx_connection		 c;
	struct dbscan			 scan;
	const struct dbscan_table	*t;
	char				*url, *err = NULL, *used = NULL;
	char				*wt;
	char				*text;

	pg_require();
	pg_conn(&c);
	xasprintf(&url, "postgresql://ktx_password:%s@/ktxtest?host=%s",
	    PG_PASSWORD, pg_sock);
	ck_assert_msg(dbscan_postgres(&c, url, &scan, &err) == 0, "%s", err);
	ck_assert_str_eq(scan.database, "ktxtest");
	ck_assert_uint_eq(scan.ntables, 8);
	ck_assert_str_eq(scan.tables[0].db, "billing");
	ck_assert_str_eq(scan.tables[0].name, "invoices");
	ck_assert_ptr_null(scan.tables[0].catalog);
	ck_assert_str_eq(scan.tables[0].comment, "One row per issued invoice");
	ck_assert_str_eq(scan.tables[3].name, "open_invoices");
	ck_assert_str_eq(scan.tables[3].kind, "view");
	ck_assert_int_eq(scan.tables[3].estimated_rows, -1);
	ck_assert_ptr_nonnull(t = scan_table(&scan, "customers"));
	ck_assert_int_eq(t->estimated_rows, 25);
	ck_assert_str_eq(t->columns[1].comment, "Primary contact: billing");
	ck_assert_int_eq(t->columns[1].nullable, 0);
	ck_assert_str_eq(t->columns[2].native_type,
	    "timestamp with time zone");
	ck_assert_ptr_nonnull(t = scan_table(&scan, "subscriptions"));
	ck_assert_str_eq(t->columns[2].native_type, "character varying(20)");
	ck_assert_str_eq(t->columns[2].normalized_type, "character varying");
	ck_assert_str_eq(t->columns[3].dimension_type, "boolean");
	ck_assert_str_eq(t->columns[4].dimension_type, "time");
	ck_assert_str_eq(t->columns[5].dimension_type, "number");
	ck_assert_str_eq(t->columns[6].dimension_type, "string");
	ck_assert_str_eq(t->columns[7].dimension_type, "string");
	ck_assert_uint_eq(t->nfks, 1);
	ck_assert_str_eq(t->fks[0].to_db, "crm");
	ck_assert_str_eq(t->fks[0].name, "subscriptions_customer_id_fkey");
	ck_assert_ptr_nonnull(t = scan_table(&scan, "profiles"));
	ck_assert_int_eq(t->fks[0].unique, 1);
	ck_assert_ptr_nonnull(t = scan_table(&scan, "line_notes"));
	ck_assert_uint_eq(t->fks[0].from_columns.n, 2);
	ck_assert_str_eq(t->fks[0].to_columns.v[1], "line_no");
	ck_assert_int_eq(t->fks[0].unique, 0);
	/* invoices in two schemas: a warning, and prefixed keys */
	ck_assert_uint_eq(scan.nwarnings, 2);
	ck_assert_str_eq(scan.warnings[0].code, "duplicate_table_name");

	wt = tmp("wt");
	ck_assert_int_eq(dbscan_write(&scan, wt, "wh", "s1", &used, &err), 0);
	text = slurp_tmp("wt/semantic-layer/wh/_schema/crm.yaml");
	ck_assert_str_eq(text,
	    "tables:\n"
	    "  crm__invoices:\n"
	    "    table: crm.invoices\n"
	    "    columns:\n"
	    "      - name: id\n"
	    "        type: number\n"
	    "        pk: true\n"
	    "        nullable: false\n"
	    "  customers:\n"
	    "    table: crm.customers\n"
	    "    descriptions:\n"
	    "      db: People who pay\n"
	    "    columns:\n"
	    "      - name: customer_id\n"
	    "        type: string\n"
	    "        pk: true\n"
	    "        nullable: false\n"
	    "      - name: email\n"
	    "        type: string\n"
	    "        nullable: false\n"
	    "        descriptions:\n"
	    "          db: \"Primary contact: billing\"\n"
	    "      - name: created_at\n"
	    "        type: time\n"
	    "    joins:\n"
	    "      - to: profiles\n"
	    "        on: customers.customer_id = profiles.customer_id\n"
	    "        relationship: one_to_one\n"
	    "        source: formal\n"
	    "      - to: subscriptions\n"
	    "        on: customers.customer_id = subscriptions.customer_id\n"
	    "        relationship: one_to_many\n"
	    "        source: formal\n"
	    "  profiles:\n"
	    "    table: crm.profiles\n"
	    "    columns:\n"
	    "      - name: customer_id\n"
	    "        type: string\n"
	    "        pk: true\n"
	    "        nullable: false\n"
	    "      - name: bio\n"
	    "        type: string\n"
	    "    joins:\n"
	    "      - to: customers\n"
	    "        on: profiles.customer_id = customers.customer_id\n"
	    "        relationship: one_to_one\n"
	    "        source: formal\n");
	free(text);
	text = slurp_tmp("wt/semantic-layer/wh/_schema/billing.yaml");
	ck_assert_ptr_nonnull(strstr(text, "  billing__invoices:\n"
	    "    table: billing.invoices\n"
	    "    descriptions:\n"
	    "      db: One row per issued invoice\n"));
	ck_assert_ptr_nonnull(strstr(text, "      - to: lines\n"
	    "        on: line_notes.invoice_id = lines.invoice_id AND"
	    " line_notes.line_no = lines.line_no\n"
	    "        relationship: many_to_one\n"));
	ck_assert_ptr_nonnull(strstr(text, "      - to: billing__invoices\n"
	    "        on: subscriptions.subscription_id ="
	    " billing__invoices.subscription_id\n"
	    "        relationship: one_to_many\n"));
	ck_assert_ptr_nonnull(strstr(text, "      - to: customers\n"
	    "        on: subscriptions.customer_id = customers.customer_id\n"
	    "        relationship: many_to_one\n"));
	free(text);
	text = slurp_tmp("wt/raw-sources/wh/live-database/s1/connection.json");
	ck_assert_ptr_nonnull(strstr(text, "\"database\": \"ktxtest\""));
	free(text);
	/* customers: 25 rows, estimated at the power of ten below */
	text = slurp_tmp("wt/raw-sources/wh/live-database/s1/tables/"
	    "Xw.Y3Jt.Y3VzdG9tZXJz.json");
	ck_assert_ptr_nonnull(strstr(text, "\"estimatedRows\": 10,\n"));
	ck_assert_ptr_nonnull(strstr(text, "\"comment\": \"People who pay\""));
	free(text);
	assert_no_secrets(wt);
	dbscan_release(&scan);
	free(used);

	/* Rescan: the same bytes, the snapshot reused. */
	ck_assert_msg(dbscan_postgres(&c, url, &scan, &err) == 0, "%s", err);
	text = tree_text(wt);
	ck_assert_int_eq(dbscan_write(&scan, wt, "wh", "s2", &used, &err), 0);
	ck_assert_str_eq(used, "s1");
	{
		char	*again = tree_text(wt);

		ck_assert_str_eq(text, again);
		free(again);
	}
	free(text);
	free(used);
	dbscan_release(&scan);
	free(wt);
	free(url);
	conn_release(&c);
}
END_TEST

START_TEST(test_postgres_enabled_tables)
{
	struct ktx_connection	 c;
	struct dbscan		 scan;
	char			*url, *err = NULL;

	pg_require();
	pg_conn(&c);
	strv_push(&c.enabled_tables, "billing.invoices");
	strv_push(&c.enabled_tables, "customers");
	strv_push(&c.enabled_tables, "Customers");
	url = pg_db();
	ck_assert_msg(dbscan_postgres(&c, url, &scan, &err) == 0, "%s", err);
	ck_assert_uint_eq(scan.ntables, 2);
	ck_assert_str_eq(scan.tables[0].name, "invoices");
	ck_assert_str_eq(scan.tables[0].db, "billing");
	ck_assert_str_eq(scan.tables[1].name, "customers");
	/* PostgreSQL names are case-sensitive. */
	ck_assert_uint_eq(scan.nwarnings, 1);
	ck_assert_str_eq(scan.warnings[0].message, "enabled_tables names"
	    " \"Customers\", which is not in the database");
	dbscan_release(&scan);
	free(url);
	conn_release(&c);
}
END_TEST

START_TEST(test_postgres_errors_hide_secrets)
{
	struct ktx_connection	 c;
	struct dbscan		 scan;
	char			*url, *err = NULL;

	pg_require();
	pg_conn(&c);

	xasprintf(&url, "postgresql://ktx_password:Wr0ng-Secret-pw@/ktxtest"
	    "?host=%s", pg_sock);
	ck_assert_int_eq(dbscan_postgres(&c, url, &scan, &err), -1);
	ck_assert_msg(strncmp(err, "connection \"wh\": could not connect to"
	    " the PostgreSQL server: ", 61) == 0, "%s", err);
	ck_assert_msg(strstr(err, "password authentication failed") != NULL,
	    "%s", err);
	ck_assert_ptr_null(strstr(err, "Wr0ng-Secret-pw"));
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_uint_eq(scan.ntables, 0);
	free(err);
	free(url);

	/* Nothing listens there. */
	xasprintf(&url, "postgresql://ktx_password:" PG_PASSWORD "@/ktxtest"
	    "?host=%s/nowhere", pg_dir);
	ck_assert_int_eq(dbscan_postgres(&c, url, &scan, &err), -1);
	ck_assert_msg(strncmp(err, "connection \"wh\": could not connect to"
	    " the PostgreSQL server: ", 61) == 0, "%s", err);
	ck_assert_ptr_null(strstr(err, PG_PASSWORD));
	free(err);
	free(url);

	/* libpq quotes a bad URL's parts: none of it is shown. */
	ck_assert_int_eq(dbscan_postgres(&c, "postgresql://u:Secr%zzet@/db",
	    &scan, &err), -1);
	ck_assert_str_eq(err, "connection \"wh\": invalid PostgreSQL"
	    " connection string");
	free(err);
	ck_assert_int_eq(dbscan_postgres(&c, "host=/x password=Pw-9z"
	    " bogus_option=1", &scan, &err), -1);
	ck_assert_str_eq(err, "connection \"wh\": invalid PostgreSQL"
	    " connection string");
	free(err);

	/* A password libpq echoes back is masked. */
	xasprintf(&url, "host=%s dbname=Pw-echo-9z user=Pw-echo-9z"
	    " password=Pw-echo-9z", pg_sock);
	ck_assert_int_eq(dbscan_postgres(&c, url, &scan, &err), -1);
	ck_assert_ptr_null(strstr(err, "Pw-echo-9z"));
	ck_assert_msg(strstr(err, "***") != NULL, "%s", err);
	free(err);
	free(url);
	conn_release(&c);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("dbscan");
	TCase	*tc = tcase_create("sqlite");
	TCase	*pg = tcase_create("postgres");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sqlite_small_shard_exact);
	tcase_add_test(tc, test_sqlite_model_and_joins);
	tcase_add_test(tc, test_raw_files_are_valid_json);
	tcase_add_test(tc, test_rescan_is_byte_identical);
	tcase_add_test(tc, test_rescan_preserves_user_additions);
	tcase_add_test(tc, test_enabled_tables_filter);
	tcase_add_test(tc, test_sqlite_is_read_only);
	tcase_add_test(tc, test_sqlite_paths_and_errors);
	tcase_add_test(tc, test_dimension_types);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(pg, pg_setup, pg_stop);
	tcase_add_checked_fixture(pg, setup, teardown);
	tcase_set_timeout(pg, 120);
	tcase_add_test(pg, test_postgres_scan);
	tcase_add_test(pg, test_postgres_enabled_tables);
	tcase_add_test(pg, test_postgres_errors_hide_secrets);
	suite_add_tcase(s, pg);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
