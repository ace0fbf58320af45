#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktxconfig.h"
#include "util.h"

/* Each test writes its ktx.yaml into a fresh temp dir. */
static char	tmpdir[PATH_MAX];
static char	yaml_path[PATH_MAX + sizeof("/ktx.yaml")];

static void
setup(void)
{
	const char	*base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/check_config.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(yaml_path, sizeof(yaml_path), "%s/ktx.yaml", tmpdir);
}

static void
teardown(void)
{
	struct stat	sb;

	if (lstat(yaml_path, &sb) == 0) {
		if (S_ISDIR(sb.st_mode))
			rmdir(yaml_path);
		else
			unlink(yaml_path);
	}
	rmdir(tmpdir);
}

static void
write_yaml(const char *data, size_t len)
{
	FILE	*f;

	ck_assert_ptr_nonnull(f = fopen(yaml_path, "w"));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static int
load(const char *yaml, struct ktx_config *cfg, char **err)
{
	write_yaml(yaml, strlen(yaml));
	return config_load(yaml_path, cfg, err);
}

/* yaml loads, with no warning. */
static void
load_ok(const char *yaml, struct ktx_config *cfg)
{
	char	*err = NULL;
	int	 r;

	r = load(yaml, cfg, &err);
	ck_assert_msg(r == 0, "unexpected error: %s", err ? err : "(none)");
	ck_assert_ptr_null(err);
	ck_assert_msg(cfg->warnings.n == 0, "unexpected warning: %s",
	    cfg->warnings.v[0]);
}

/* config_load_buf: the bytes given, not past len; messages name path. */
START_TEST(test_load_buf)
{
	static const char	 text[] =
	    "connections: {wh: {driver: sqlite, path: a.db}}\n???";
	struct ktx_config	 cfg;
	char			*err = NULL, *big;

	ck_assert_msg(config_load_buf("mem/ktx.yaml", text, sizeof(text) - 4,
	    &cfg, &err) == 0, "%s", err);
	ck_assert_str_eq(cfg.path, "mem/ktx.yaml");
	ck_assert_uint_eq(cfg.nconnections, 1);
	ck_assert_str_eq(cfg.connections[0].path, "a.db");
	config_release(&cfg);

	ck_assert_int_eq(config_load_buf("mem/ktx.yaml", text, 0, &cfg, &err),
	    -1);
	ck_assert_str_eq(err, "mem/ktx.yaml:1:1: empty file");
	ck_assert_ptr_null(cfg.path);
	free(err);

	ck_assert_int_eq(config_load_buf("mem/ktx.yaml", "connections: [\n",
	    15, &cfg, &err), -1);
	ck_assert_int_eq(strncmp(err, "mem/ktx.yaml:2:1: ", 18), 0);
	free(err);

	big = xcalloc(KTX_CONFIG_MAX_BYTES + 1, 1);
	ck_assert_int_eq(config_load_buf("mem/ktx.yaml", big,
	    KTX_CONFIG_MAX_BYTES + 1, &cfg, &err), -1);
	ck_assert_str_eq(err,
	    "mem/ktx.yaml: too large (more than 1048576 bytes)");
	free(err);
	free(big);
}
END_TEST

/*
 * The load of data fails with exactly "<tmpdir>/<expected>", expected
 * being "ktx.yaml:L:C: message" or "ktx.yaml: message", and leaves the
 * config empty.
 */
static void
assert_error_bytes(const char *data, size_t len, const char *expected)
{
	struct ktx_config	 cfg;
	char			*err = NULL, *want;

	write_yaml(data, len);
	ck_assert_int_eq(config_load(yaml_path, &cfg, &err), -1);
	ck_assert_ptr_nonnull(err);
	xasprintf(&want, "%s/%s", tmpdir, expected);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_ptr_null(cfg.connections);
	ck_assert_uint_eq(cfg.nconnections, 0);
	ck_assert_ptr_null(cfg.path);
	free(want);
	free(err);
	config_release(&cfg);
}

static void
assert_error(const char *yaml, const char *expected)
{
	assert_error_bytes(yaml, strlen(yaml), expected);
}

/* The warning at index i is "<tmpdir>/<expected>". */
static void
assert_warning(const struct ktx_config *cfg, size_t i, const char *expected)
{
	char	*want;

	ck_assert_uint_gt(cfg->warnings.n, i);
	xasprintf(&want, "%s/%s", tmpdir, expected);
	ck_assert_str_eq(cfg->warnings.v[i], want);
	free(want);
}

/*
 * The file itself.
 */

START_TEST(test_missing_file)
{
	struct ktx_config	 cfg;
	char			*err = NULL, *want;

	ck_assert_int_eq(config_load(yaml_path, &cfg, &err), -1);
	xasprintf(&want, "%s: no such file", yaml_path);
	ck_assert_str_eq(err, want);
	free(want);
	free(err);
}
END_TEST

START_TEST(test_not_a_regular_file)
{
	struct ktx_config	 cfg;
	char			*err = NULL, *want;

	ck_assert_int_eq(mkdir(yaml_path, 0700), 0);
	ck_assert_int_eq(config_load(yaml_path, &cfg, &err), -1);
	xasprintf(&want, "%s: not a regular file", yaml_path);
	ck_assert_str_eq(err, want);
	free(want);
	free(err);
}
END_TEST

START_TEST(test_empty_file)
{
	assert_error("", "ktx.yaml:1:1: empty file");
	assert_error("# nothing here yet\n\n", "ktx.yaml:1:1: empty file");
}
END_TEST

START_TEST(test_top_level_not_a_mapping)
{
	assert_error("- wh\n- kb\n",
	    "ktx.yaml:1:1: top level must be a mapping, not a list");
	assert_error("connections\n",
	    "ktx.yaml:1:1: top level must be a mapping, not a string");
	assert_error("---\n",
	    "ktx.yaml:2:1: top level must be a mapping, not null");
}
END_TEST

START_TEST(test_invalid_yaml)
{
	assert_error("connections:\n  wh:\n    driver: sqlite\n   path: x.db\n",
	    "ktx.yaml:4:4: invalid YAML: did not find expected key"
	    " (while parsing a block mapping at 2:3)");
	assert_error("connections: {wh: {driver: sqlite}\n",
	    "ktx.yaml:2:1: invalid YAML: did not find expected ',' or '}'"
	    " (while parsing a flow mapping at 1:14)");
	assert_error("llm: a: b\n", "ktx.yaml:1:7: invalid YAML: mapping"
	    " values are not allowed in this context");
}
END_TEST

START_TEST(test_invalid_utf8)
{
	/* "é" is one column; the bad byte is the 16th character of line 4. */
	assert_error("connections:\n  db:\n    driver: sqlite\n"
	    "    path: caf\xc3\xa9-\xff.db\n", "ktx.yaml:4:16: invalid UTF-8");
	/* Truncated sequence at the end of the file. */
	assert_error("llm: \xe2\x82", "ktx.yaml:1:6: invalid UTF-8");
	/* Overlong encoding of "/". */
	assert_error("llm: \xc0\xaf\n", "ktx.yaml:1:6: invalid UTF-8");
	/* A UTF-16 surrogate encoded in UTF-8. */
	assert_error("a: b\nllm: \xed\xa0\x80\n", "ktx.yaml:2:6: invalid UTF-8");
}
END_TEST

/*
 * A bad byte is found before libyaml runs, so its position must be counted
 * as libyaml counts the positions of everything else: each pair of files
 * below differs only at the last value, and both errors stand at 3:14.
 */
START_TEST(test_line_breaks_counted_as_libyaml_does)
{
	static const char *const breaks[] = { "\r\n", "\r", "\xc2\x85",
	    "\xe2\x80\xa8", "\xe2\x80\xa9" };
	char	yaml[128];
	size_t	i;

	for (i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
		snprintf(yaml, sizeof(yaml),
		    "llm: \"a%sb\"\nconnections: 3\n", breaks[i]);
		assert_error(yaml, "ktx.yaml:3:14: \"connections\" must be a"
		    " mapping, not an integer");
		snprintf(yaml, sizeof(yaml),
		    "llm: \"a%sb\"\nconnections: \xff\n", breaks[i]);
		assert_error(yaml, "ktx.yaml:3:14: invalid UTF-8");
	}
}
END_TEST

START_TEST(test_control_character)
{
	assert_error("llm: b\x01\n",
	    "ktx.yaml:1:7: character U+0001 is not allowed in YAML");
	assert_error_bytes("llm: x\0y\n", 9,
	    "ktx.yaml:1:7: character U+0000 is not allowed in YAML");
}
END_TEST

START_TEST(test_positions_with_crlf_and_bom)
{
	assert_error("connections:\r\n  wh:\r\n    driver: postgress\r\n",
	    "ktx.yaml:3:13: unknown driver \"postgress\" for connection \"wh\""
	    " (known drivers: sqlite, postgres, mysql, snowflake,"
	    " bigquery, clickhouse, sqlserver, duckdb, mongodb, dbt,"
	    " notion, metabase, local_metabase, gdrive, sigma,"
	    " looker, lookml, metricflow)");
	assert_error("\xef\xbb\xbf" "connections:\n  wh: 3\n",
	    "ktx.yaml:2:7: connection \"wh\" must be a mapping, not an"
	    " integer");
}
END_TEST

START_TEST(test_too_large)
{
	const char		*head = "connections: {}\n";
	struct ktx_config	 cfg;
	char			*buf, *err = NULL;
	size_t			 len = KTX_CONFIG_MAX_BYTES;

	/* Exactly the limit loads. */
	buf = xmalloc(len + 1);
	memset(buf, '#', len);
	memcpy(buf, head, strlen(head));
	buf[len - 1] = '\n';
	write_yaml(buf, len);
	ck_assert_int_eq(config_load(yaml_path, &cfg, &err), 0);
	config_release(&cfg);

	/* One byte more does not. */
	buf[len - 1] = '#';
	buf[len] = '\n';
	assert_error_bytes(buf, len + 1,
	    "ktx.yaml: too large (more than 1048576 bytes)");
	free(buf);
}
END_TEST

/*
 * YAML features refused.
 */

START_TEST(test_duplicate_key_top_level)
{
	assert_error("ingest: {}\nllm: {}\ningest: {}\n",
	    "ktx.yaml:3:1: duplicate key \"ingest\" (first at 1:1)");
}
END_TEST

START_TEST(test_duplicate_key_in_connection)
{
	assert_error("connections:\n  wh:\n    driver: postgres\n"
	    "    url: postgres://a\n    url: postgres://b\n",
	    "ktx.yaml:5:5: duplicate key \"url\" (first at 4:5)");
}
END_TEST

START_TEST(test_duplicate_connection_id)
{
	assert_error("connections:\n  wh: {driver: postgres, url: a}\n"
	    "  kb: {driver: notion, source_dir: n}\n"
	    "  wh: {driver: sqlite, path: b}\n",
	    "ktx.yaml:4:3: duplicate key \"wh\" (first at 2:3)");
}
END_TEST

START_TEST(test_duplicate_key_in_ignored_block)
{
	assert_error("llm:\n  models: {default: a, default: b}\n",
	    "ktx.yaml:2:24: duplicate key \"default\" (first at 2:12)");
}
END_TEST

START_TEST(test_duplicate_key_earliest_is_reported)
{
	/* The inner mapping closes first; the outer repeat comes earlier. */
	assert_error("a: 1\na: 2\nb: {c: 1, c: 2}\n",
	    "ktx.yaml:2:1: duplicate key \"a\" (first at 1:1)");
	assert_error("a: 1\nb: {c: 1, c: 2}\na: 2\n",
	    "ktx.yaml:2:11: duplicate key \"c\" (first at 2:5)");
}
END_TEST

START_TEST(test_anchors_and_aliases)
{
	assert_error("llm:\n  a: &x 1\n  b: 2\n",
	    "ktx.yaml:2:6: anchors and aliases are not allowed in ktx.yaml");
	assert_error("llm:\n  b: *x\n",
	    "ktx.yaml:2:6: anchors and aliases are not allowed in ktx.yaml");
	assert_error("llm: &bomb [a, a]\n",
	    "ktx.yaml:1:6: anchors and aliases are not allowed in ktx.yaml");
}
END_TEST

/* "llm: [[...]]" with n lists nested.  Caller frees. */
static char *
nested_lists(int n)
{
	char	*yaml = xmalloc(strlen("llm: \n") + 2 * (size_t)n + 1);
	char	*p = yaml;

	p += sprintf(p, "llm: ");
	memset(p, '[', (size_t)n);
	memset(p + n, ']', (size_t)n);
	strcpy(p + 2 * n, "\n");
	return yaml;
}

START_TEST(test_nesting_depth)
{
	struct ktx_config	 cfg;
	char			*yaml;

	/* The top-level mapping is level 1; 63 lists below it reach 64. */
	yaml = nested_lists(KTX_CONFIG_MAX_DEPTH - 1);
	load_ok(yaml, &cfg);
	config_release(&cfg);
	free(yaml);

	/* The 64th "[" is level 65, at column 6 + 63. */
	yaml = nested_lists(KTX_CONFIG_MAX_DEPTH);
	assert_error(yaml, "ktx.yaml:1:69: nested deeper than 64 levels");
	free(yaml);
}
END_TEST

START_TEST(test_multiple_documents)
{
	assert_error("connections: {}\n---\nllm: {}\n",
	    "ktx.yaml:2:1: more than one YAML document");
}
END_TEST

START_TEST(test_key_not_a_string)
{
	assert_error("? [a]\n: 1\n",
	    "ktx.yaml:1:3: a mapping key must be a string, not a list");
}
END_TEST

/*
 * Connections.
 */

START_TEST(test_invalid_connection_id)
{
	struct ktx_config	 cfg;
	char			 id[KTX_CONNECTION_ID_MAX + 2], yaml[512];
	char			 want[512];

	assert_error("connections:\n  -wh: {driver: sqlite, path: a}\n",
	    "ktx.yaml:2:3: invalid connection id \"-wh\": use up to 128"
	    " letters, digits, \"_\" and \"-\", starting with a letter or"
	    " digit");
	assert_error("connections:\n  wh.prod: {driver: sqlite, path: a}\n",
	    "ktx.yaml:2:3: invalid connection id \"wh.prod\": use up to 128"
	    " letters, digits, \"_\" and \"-\", starting with a letter or"
	    " digit");
	assert_error("connections:\n  \"w h\": {driver: sqlite, path: a}\n",
	    "ktx.yaml:2:3: invalid connection id \"w h\": use up to 128"
	    " letters, digits, \"_\" and \"-\", starting with a letter or"
	    " digit");
	assert_error("connections:\n  \"\": {driver: sqlite, path: a}\n",
	    "ktx.yaml:2:3: invalid connection id \"\": use up to 128"
	    " letters, digits, \"_\" and \"-\", starting with a letter or"
	    " digit");
	assert_error("connections:\n  caf\xc3\xa9: {driver: sqlite, path: a}\n",
	    "ktx.yaml:2:3: invalid connection id \"caf\xc3\xa9\": use up to 128"
	    " letters, digits, \"_\" and \"-\", starting with a letter or"
	    " digit");

	/* 128 bytes is the limit. */
	memset(id, 'a', KTX_CONNECTION_ID_MAX);
	id[KTX_CONNECTION_ID_MAX] = '\0';
	snprintf(yaml, sizeof(yaml),
	    "connections:\n  %s: {driver: sqlite, path: a}\n", id);
	load_ok(yaml, &cfg);
	ck_assert_str_eq(cfg.connections[0].id, id);
	config_release(&cfg);

	id[KTX_CONNECTION_ID_MAX] = 'a';
	id[KTX_CONNECTION_ID_MAX + 1] = '\0';
	snprintf(yaml, sizeof(yaml),
	    "connections:\n  %s: {driver: sqlite, path: a}\n", id);
	/* Shown cut short after 95 bytes. */
	snprintf(want, sizeof(want), "ktx.yaml:2:3: invalid connection id"
	    " \"%.95s...\": use up to 128 letters, digits, \"_\" and \"-\","
	    " starting with a letter or digit", id);
	assert_error(yaml, want);
}
END_TEST

START_TEST(test_unknown_driver)
{
	assert_error("connections:\n  warehouse:\n    driver: postgress\n",
	    "ktx.yaml:3:13: unknown driver \"postgress\" for connection"
	    " \"warehouse\" (known drivers: sqlite, postgres, mysql, snowflake,"
	    " bigquery, clickhouse, sqlserver, duckdb, mongodb, dbt,"
	    " notion, metabase, local_metabase, gdrive, sigma,"
	    " looker, lookml, metricflow)");
}
END_TEST

START_TEST(test_missing_or_bad_driver)
{
	assert_error("connections:\n  wh:\n    url: postgres://x\n",
	    "ktx.yaml:2:3: connection \"wh\" has no \"driver\"");
	assert_error("connections:\n  wh:\n    driver: [postgres]\n",
	    "ktx.yaml:3:13: \"driver\" of connection \"wh\" must be a string,"
	    " not a list");
	assert_error("connections:\n  wh:\n    driver:\n",
	    "ktx.yaml:3:12: \"driver\" of connection \"wh\" must be a string,"
	    " not null");
}
END_TEST

START_TEST(test_required_fields)
{
	struct ktx_config	cfg;

	assert_error("connections:\n  wh:\n    driver: postgres\n",
	    "ktx.yaml:2:3: connection \"wh\" (driver \"postgres\") requires"
	    " \"url\"");
	assert_error("connections:\n  db:\n    driver: sqlite\n",
	    "ktx.yaml:2:3: connection \"db\" (driver \"sqlite\") requires"
	    " \"path\" or \"url\"");
	assert_error("connections:\n  db:\n    driver: sqlite\n"
	    "    path: a.db\n    url: sqlite:///a.db\n",
	    "ktx.yaml:2:3: connection \"db\" sets both \"path\" and \"url\";"
	    " keep one");
	assert_error("connections:\n  models:\n    driver: dbt\n",
	    "ktx.yaml:2:3: connection \"models\" (driver \"dbt\") requires"
	    " \"source_dir\" or \"adapter.command\"");
	assert_error("connections:\n  kb:\n    driver: notion\n"
	    "    crawl_mode: all_accessible\n",
	    "ktx.yaml:2:3: connection \"kb\" (driver \"notion\") requires"
	    " \"source_dir\" or \"adapter.command\"");

	/* Input ktx fetches itself loads; the worker reports it unsupported. */
	load_ok("connections:\n"
	    "  kb: {driver: notion, auth_token_ref: env:KB_NOTION_TOKEN}\n"
	    "  mb: {driver: metabase, api_url: https://metabase.example.com}\n"
	    "  models: {driver: dbt, repo_url: https://git.example.com/m}\n",
	    &cfg);
	ck_assert_uint_eq(cfg.nconnections, 3);
	ck_assert_str_eq(cfg.connections[0].remote_input, "auth_token_ref");
	ck_assert_str_eq(cfg.connections[1].remote_input, "api_url");
	ck_assert_str_eq(cfg.connections[2].remote_input, "repo_url");
	ck_assert_ptr_null(cfg.connections[2].source_dir);
	config_release(&cfg);

	/* adapter.command stands in for source_dir; other drivers need none. */
	load_ok("connections:\n"
	    "  models: {driver: dbt, adapter: {command: [dbt-adapter]}}\n"
	    "  my: {driver: mysql}\n"
	    "  lk: {driver: looker, base_url: https://l, client_id: c}\n",
	    &cfg);
	ck_assert_uint_eq(cfg.nconnections, 3);
	ck_assert_str_eq(cfg.connections[0].id, "lk");
	ck_assert_ptr_null(cfg.connections[0].source_dir);
	ck_assert_str_eq(cfg.connections[1].id, "models");
	ck_assert_ptr_null(cfg.connections[1].source_dir);
	ck_assert_str_eq(cfg.connections[1].adapter_command.v[0],
	    "dbt-adapter");
	ck_assert_str_eq(cfg.connections[2].id, "my");
	ck_assert_ptr_null(cfg.connections[2].url);
	config_release(&cfg);
}
END_TEST

START_TEST(test_wrong_types)
{
	assert_error("connections:\n  wh:\n    driver: postgres\n    url: [1]\n",
	    "ktx.yaml:4:10: \"url\" of connection \"wh\" must be a string,"
	    " not a list");
	assert_error("connections:\n  wh:\n    driver: postgres\n    url: \"\"\n",
	    "ktx.yaml:4:10: \"url\" of connection \"wh\" must not be empty");
	assert_error("connections:\n  db:\n    driver: sqlite\n"
	    "    path: \"a\\0b\"\n",
	    "ktx.yaml:4:11: \"path\" of connection \"db\" must not contain a"
	    " NUL character");
	assert_error("connections:\n  d:\n    driver: dbt\n"
	    "    source_dir: {a: 1}\n",
	    "ktx.yaml:4:17: \"source_dir\" of connection \"d\" must be a"
	    " string, not a mapping");
	assert_error("connections:\n  wh:\n    driver: postgres\n    url: x\n"
	    "    enabled_tables: public.orders\n",
	    "ktx.yaml:5:21: \"enabled_tables\" of connection \"wh\" must be a"
	    " non-empty list of strings, not a string");
	assert_error("connections:\n  wh:\n    driver: postgres\n    url: x\n"
	    "    enabled_tables: []\n",
	    "ktx.yaml:5:21: \"enabled_tables\" of connection \"wh\" must be a"
	    " non-empty list of strings, not an empty list");
	assert_error("connections:\n  wh:\n    driver: postgres\n    url: x\n"
	    "    enabled_tables: [a, {b: c}]\n",
	    "ktx.yaml:5:25: \"enabled_tables\" of connection \"wh\" must be a"
	    " list of strings, not of a mapping");
	assert_error("connections:\n  wh: postgres://x\n",
	    "ktx.yaml:2:7: connection \"wh\" must be a mapping, not a string");
	assert_error("connections: [wh]\n",
	    "ktx.yaml:1:14: \"connections\" must be a mapping, not a list");
	assert_error("ingest: fast\n",
	    "ktx.yaml:1:9: \"ingest\" must be a mapping, not a string");
	assert_error("ingest:\n  sources: 3\n",
	    "ktx.yaml:2:12: \"ingest.sources\" must be a mapping, not an"
	    " integer");
	assert_error("storage:\n  git: [a]\n",
	    "ktx.yaml:2:8: \"storage.git\" must be a mapping, not a list");
}
END_TEST

/*
 * Numbers.
 */

static void
assert_max_concurrency_error(const char *value, const char *what)
{
	char	yaml[256], want[256];

	snprintf(yaml, sizeof(yaml), "ingest:\n  sources:\n"
	    "    maxConcurrency: %s\n", value);
	snprintf(want, sizeof(want), "ktx.yaml:3:21: \"ingest.sources."
	    "maxConcurrency\" must be an integer from 1 to 64%s", what);
	assert_error(yaml, want);
}

START_TEST(test_max_concurrency_invalid)
{
	assert_max_concurrency_error("3.5", ", not a decimal number");
	assert_max_concurrency_error("\"3\"", ", not a string");
	assert_max_concurrency_error("'3'", ", not a string");
	assert_max_concurrency_error("three", ", not a string");
	assert_max_concurrency_error("true", ", not a boolean");
	assert_max_concurrency_error("[3]", ", not a list");
	assert_max_concurrency_error("0", "");
	assert_max_concurrency_error("65", "");
	assert_max_concurrency_error("-1", "");
	assert_max_concurrency_error("99999999999999999999", "");
	assert_max_concurrency_error("-99999999999999999999", "");
	assert_error("ingest:\n  sources:\n    maxConcurrency:\n",
	    "ktx.yaml:3:20: \"ingest.sources.maxConcurrency\" must be an"
	    " integer from 1 to 64, not null");
}
END_TEST

START_TEST(test_max_concurrency_bounds)
{
	struct ktx_config	cfg;

	load_ok("ingest: {sources: {maxConcurrency: 1}}\n", &cfg);
	ck_assert_int_eq(cfg.max_concurrency, 1);
	config_release(&cfg);
	load_ok("ingest: {sources: {maxConcurrency: 64}}\n", &cfg);
	ck_assert_int_eq(cfg.max_concurrency, 64);
	config_release(&cfg);
	load_ok("ingest: {sources: {maxConcurrency: +7}}\n", &cfg);
	ck_assert_int_eq(cfg.max_concurrency, 7);
	config_release(&cfg);
}
END_TEST

START_TEST(test_timeouts)
{
	struct ktx_config	cfg;

	assert_error("ingest:\n  sources: {timeoutSeconds: 0}\n",
	    "ktx.yaml:2:29: \"ingest.sources.timeoutSeconds\" must be a"
	    " positive integer (at most 2147483647)");
	assert_error("ingest:\n  sources: {timeoutSeconds: 2147483648}\n",
	    "ktx.yaml:2:29: \"ingest.sources.timeoutSeconds\" must be a"
	    " positive integer (at most 2147483647)");
	assert_error("ingest:\n  lock: {maxHoldSeconds: 1.5}\n",
	    "ktx.yaml:2:26: \"ingest.lock.maxHoldSeconds\" must be a"
	    " positive integer (at most 2147483647), not a decimal number");
	assert_error("ingest:\n  lock: {maxHoldSeconds: -600}\n",
	    "ktx.yaml:2:26: \"ingest.lock.maxHoldSeconds\" must be a"
	    " positive integer (at most 2147483647)");

	load_ok("ingest:\n  sources: {timeoutSeconds: 2147483647}\n"
	    "  lock: {maxHoldSeconds: 1}\n", &cfg);
	ck_assert_int_eq(cfg.sources_timeout, 2147483647);
	ck_assert_int_eq(cfg.lock_max_hold, 1);
	config_release(&cfg);
}
END_TEST

/*
 * adapter.
 */

START_TEST(test_adapter_invalid)
{
	const char	*head = "connections:\n  ext:\n    driver: looker\n";
	char		 yaml[512];

#define ADAPTER_ERROR(body, want) do {					\
	snprintf(yaml, sizeof(yaml), "%s%s", head, body);		\
	assert_error(yaml, want);					\
} while (0)
	ADAPTER_ERROR("    adapter: {command: run-looker}\n",
	    "ktx.yaml:4:24: \"adapter.command\" of connection \"ext\" must be"
	    " a non-empty list of strings, not a string");
	ADAPTER_ERROR("    adapter: {command: []}\n",
	    "ktx.yaml:4:24: \"adapter.command\" of connection \"ext\" must be"
	    " a non-empty list of strings, not an empty list");
	ADAPTER_ERROR("    adapter:\n      command:\n",
	    "ktx.yaml:5:15: \"adapter.command\" of connection \"ext\" must be"
	    " a non-empty list of strings, not null");
	ADAPTER_ERROR("    adapter: {command: [run, {a: 1}]}\n",
	    "ktx.yaml:4:30: \"adapter.command\" of connection \"ext\" must be"
	    " a list of strings, not of a mapping");
	ADAPTER_ERROR("    adapter: {command: [run, \"\"]}\n",
	    "ktx.yaml:4:30: \"adapter.command\" of connection \"ext\" must not"
	    " hold an empty string or a NUL character");
	ADAPTER_ERROR("    adapter: {timeout: 5}\n",
	    "ktx.yaml:4:5: \"adapter\" of connection \"ext\" has no"
	    " \"command\"");
	ADAPTER_ERROR("    adapter: [run]\n",
	    "ktx.yaml:4:14: \"adapter\" of connection \"ext\" must be a"
	    " mapping, not a list");
	ADAPTER_ERROR("    adapter: {command: [run], timeout: 0}\n",
	    "ktx.yaml:4:40: \"adapter.timeout\" of connection \"ext\" must be"
	    " a positive integer (at most 2147483647)");
	ADAPTER_ERROR("    adapter: {command: [run], timeout: \"30\"}\n",
	    "ktx.yaml:4:40: \"adapter.timeout\" of connection \"ext\" must be"
	    " a positive integer (at most 2147483647), not a string");
	ADAPTER_ERROR("    adapter: {command: [run], secrets: [TOKEN]}\n",
	    "ktx.yaml:4:40: \"adapter.secrets\" of connection \"ext\" must be"
	    " a mapping, not a list");
	ADAPTER_ERROR("    adapter: {command: [run], secrets: {1X: env:A}}\n",
	    "ktx.yaml:4:41: \"adapter.secrets\" of connection \"ext\": \"1X\""
	    " is not a variable name");
	ADAPTER_ERROR("    adapter: {command: [run], secrets: {A-B: env:A}}\n",
	    "ktx.yaml:4:41: \"adapter.secrets\" of connection \"ext\": \"A-B\""
	    " is not a variable name");
	ADAPTER_ERROR("    adapter: {command: [run], secrets: {PATH: env:A}}\n",
	    "ktx.yaml:4:41: \"adapter.secrets\" of connection \"ext\": \"PATH\""
	    " is set by the worker");
	ADAPTER_ERROR("    adapter: {command: [run], secrets: {KTX_X: env:A}}\n",
	    "ktx.yaml:4:41: \"adapter.secrets\" of connection \"ext\":"
	    " \"KTX_X\" is set by the worker");
	ADAPTER_ERROR("    adapter: {command: [run], secrets: {TOKEN: hunter2}}\n",
	    "ktx.yaml:4:48: \"adapter.secrets.TOKEN\" of connection \"ext\""
	    " must be a reference, env:NAME or file:PATH");
	ADAPTER_ERROR("    adapter: {command: [run], secrets: {TOKEN: \"env:\"}}\n",
	    "ktx.yaml:4:48: \"adapter.secrets.TOKEN\" of connection \"ext\""
	    " must be a reference, env:NAME or file:PATH");
	ADAPTER_ERROR("    adapter: {command: [run], secrets: {TOKEN: [a]}}\n",
	    "ktx.yaml:4:48: \"adapter.secrets.TOKEN\" of connection \"ext\""
	    " must be a reference, env:NAME or file:PATH");
#undef ADAPTER_ERROR
}
END_TEST

START_TEST(test_adapter_on_any_driver)
{
	struct ktx_config		 cfg;
	const struct ktx_connection	*c;

	load_ok("connections:\n"
	    "  wh:\n    driver: postgres\n    url: postgres://wh\n"
	    "    adapter:\n      command: [scan-wh, --fast, 3]\n"
	    "      timeout: 60\n", &cfg);
	c = config_find(&cfg, "wh");
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->kind, DRIVER_DATABASE);
	ck_assert_uint_eq(c->adapter_command.n, 3);
	ck_assert_str_eq(c->adapter_command.v[0], "scan-wh");
	ck_assert_str_eq(c->adapter_command.v[1], "--fast");
	ck_assert_str_eq(c->adapter_command.v[2], "3");
	ck_assert_ptr_null(c->adapter_command.v[3]);
	ck_assert_int_eq(c->adapter_timeout, 60);
	ck_assert_uint_eq(c->adapter_secrets.n, 0);
	config_release(&cfg);

	load_ok("connections:\n"
	    "  ext:\n    driver: looker\n"
	    "    adapter:\n      command: [run]\n"
	    "      secrets:\n        ZED: file:/run/secrets/zed\n"
	    "        API_TOKEN: env:LOOKER_TOKEN\n", &cfg);
	c = config_find(&cfg, "ext");
	ck_assert_uint_eq(c->adapter_secrets.n, 2);
	ck_assert_str_eq(c->adapter_secrets.v[0], "API_TOKEN=env:LOOKER_TOKEN");
	ck_assert_str_eq(c->adapter_secrets.v[1], "ZED=file:/run/secrets/zed");
	config_release(&cfg);
}
END_TEST

/*
 * Whole files.
 */

START_TEST(test_ktx_written_file)
{
	struct ktx_config		 cfg;
	const struct ktx_connection	*c;
	const char			*srcdir = getenv("KTX_TOP_SRCDIR");
	char				*path, *err = NULL;
	static const char *const	 ids[] = { "dbt_main", "flow", "kb",
	    "local", "looker_prod", "mb", "wh" };
	size_t				 i;

	ck_assert_msg(srcdir != NULL, "KTX_TOP_SRCDIR is not set");
	xasprintf(&path, "%s/tests/data/config/ktx-full.yaml", srcdir);
	ck_assert_msg(config_load(path, &cfg, &err) == 0, "%s", err);
	ck_assert_uint_eq(cfg.warnings.n, 0);
	ck_assert_str_eq(cfg.path, path);

	ck_assert_uint_eq(cfg.nconnections, 7);
	for (i = 0; i < 7; i++)
		ck_assert_str_eq(cfg.connections[i].id, ids[i]);

	c = config_find(&cfg, "wh");
	ck_assert_str_eq(c->driver, "postgres");
	ck_assert_int_eq(c->kind, DRIVER_DATABASE);
	ck_assert_str_eq(c->url, "env:WH_DATABASE_URL");
	ck_assert_uint_eq(c->enabled_tables.n, 2);
	ck_assert_str_eq(c->enabled_tables.v[0], "public.orders");
	ck_assert_str_eq(c->enabled_tables.v[1], "public.customers");
	ck_assert_uint_eq(c->adapter_command.n, 0);
	ck_assert_int_eq(c->line, 7);
	ck_assert_int_eq(c->column, 3);

	c = config_find(&cfg, "kb");
	ck_assert_int_eq(c->kind, DRIVER_SOURCE);
	ck_assert_str_eq(c->source_dir, "exports/notion");

	c = config_find(&cfg, "mb");
	ck_assert_str_eq(c->source_dir, "exports/metabase");
	ck_assert_str_eq(c->mappings_connection, "wh");

	c = config_find(&cfg, "dbt_main");
	ck_assert_str_eq(c->source_dir, "../analytics");
	ck_assert_ptr_null(c->path);

	c = config_find(&cfg, "local");
	ck_assert_str_eq(c->path, "data/warehouse.db");
	ck_assert_ptr_null(c->url);

	c = config_find(&cfg, "looker_prod");
	ck_assert_int_eq(c->kind, DRIVER_SOURCE);
	ck_assert_ptr_null(c->mappings_connection);
	ck_assert_uint_eq(c->adapter_command.n, 3);
	ck_assert_str_eq(c->adapter_command.v[2], "7");
	ck_assert_int_eq(c->adapter_timeout, 900);

	c = config_find(&cfg, "flow");
	ck_assert_str_eq(c->adapter_command.v[0], "./skills/metricflow/run");
	ck_assert_int_eq(c->adapter_timeout, 0);

	ck_assert_str_eq(cfg.author_name, "Data Bot");
	ck_assert_str_eq(cfg.author_email, "data-bot@example.com");
	ck_assert_int_eq(cfg.max_concurrency, 3);
	ck_assert_int_eq(cfg.sources_timeout, 1800);
	ck_assert_int_eq(cfg.lock_max_hold, 120);
	config_release(&cfg);
	free(path);
}
END_TEST

START_TEST(test_defaults)
{
	struct ktx_config	cfg;

	load_ok("connections:\n  db:\n    driver: sqlite\n    path: w.db\n",
	    &cfg);
	ck_assert_str_eq(cfg.path, yaml_path);
	ck_assert_str_eq(cfg.author_name, "ktx");
	ck_assert_str_eq(cfg.author_email, "ktx@example.com");
	ck_assert_int_eq(cfg.max_concurrency, 1);
	ck_assert_int_eq(cfg.sources_timeout, 0);
	ck_assert_int_eq(cfg.lock_max_hold, 600);
	ck_assert_uint_eq(cfg.nconnections, 1);
	ck_assert_int_eq(cfg.connections[0].adapter_timeout, 0);
	ck_assert_uint_eq(cfg.connections[0].enabled_tables.n, 0);
	ck_assert_ptr_null(cfg.connections[0].mappings_connection);
	config_release(&cfg);
}
END_TEST

START_TEST(test_empty_blocks)
{
	struct ktx_config	cfg;

	load_ok("connections:\nstorage:\n  git:\ningest:\n  sources:\n"
	    "  lock: ~\nllm:\n", &cfg);
	ck_assert_uint_eq(cfg.nconnections, 0);
	ck_assert_ptr_null(cfg.connections);
	ck_assert_int_eq(cfg.max_concurrency, 1);
	ck_assert_int_eq(cfg.lock_max_hold, 600);
	ck_assert_str_eq(cfg.author_name, "ktx");
	config_release(&cfg);
}
END_TEST

START_TEST(test_sorted_bytewise)
{
	struct ktx_config	 cfg;
	static const char *const want[] = { "0", "A", "B", "a", "a-1", "a_1",
	    "aa", "b" };
	static const int	 lines[] = { 8, 7, 3, 4, 5, 6, 9, 2 };
	size_t			 i;

	load_ok("connections:\n"
	    "  b: {driver: sqlite, path: b}\n"
	    "  B: {driver: sqlite, path: b}\n"
	    "  a: {driver: sqlite, path: a}\n"
	    "  a-1: {driver: sqlite, path: a}\n"
	    "  a_1: {driver: sqlite, path: a}\n"
	    "  A: {driver: sqlite, path: a}\n"
	    "  0: {driver: sqlite, path: a}\n"
	    "  aa: {driver: sqlite, path: a}\n", &cfg);
	ck_assert_uint_eq(cfg.nconnections, 8);
	for (i = 0; i < 8; i++) {
		ck_assert_str_eq(cfg.connections[i].id, want[i]);
		ck_assert_int_eq(cfg.connections[i].line, lines[i]);
		ck_assert_int_eq(cfg.connections[i].column, 3);
	}
	ck_assert_ptr_null(config_find(&cfg, "c"));
	ck_assert_ptr_null(config_find(&cfg, ""));
	ck_assert_str_eq(config_find(&cfg, "a_1")->id, "a_1");
	config_release(&cfg);
}
END_TEST

/*
 * Secrets.
 */

START_TEST(test_secret_refs_kept_verbatim)
{
	struct ktx_config		 cfg;
	const struct ktx_connection	*c;

	load_ok("connections:\n"
	    "  wh: {driver: postgres, url: \"env:WH_URL\"}\n"
	    "  db: {driver: sqlite, path: file:/run/secrets/db-path}\n"
	    "  kb:\n    driver: notion\n    source_dir: env:KB_DIR\n"
	    "    adapter: {command: [notion-sync, \"env:NOTION_TOKEN\"]}\n",
	    &cfg);
	c = config_find(&cfg, "wh");
	ck_assert_str_eq(c->url, "env:WH_URL");
	c = config_find(&cfg, "db");
	ck_assert_str_eq(c->path, "file:/run/secrets/db-path");
	c = config_find(&cfg, "kb");
	ck_assert_str_eq(c->source_dir, "env:KB_DIR");
	ck_assert_str_eq(c->adapter_command.v[1], "env:NOTION_TOKEN");
	config_release(&cfg);
}
END_TEST

static void
assert_secret_free(const char *yaml, const char *expected)
{
	struct ktx_config	 cfg;
	char			*err = NULL;

	assert_error(yaml, expected);
	ck_assert_int_eq(load(yaml, &cfg, &err), -1);
	ck_assert_ptr_null(strstr(err, "env:"));
	ck_assert_ptr_null(strstr(err, "file:"));
	ck_assert_ptr_null(strstr(err, "SECRET"));
	free(err);
}

START_TEST(test_secret_refs_never_in_messages)
{
	struct ktx_config	 cfg;
	char			*err = NULL;
	size_t			 i;

	assert_secret_free("connections:\n"
	    "  wh: {driver: postgres, url: [env:SECRET_URL]}\n",
	    "ktx.yaml:2:31: \"url\" of connection \"wh\" must be a string,"
	    " not a list");
	assert_secret_free("connections:\n  wh: {driver: env:SECRET_DRIVER}\n",
	    "ktx.yaml:2:16: unknown driver (a secret reference) for connection"
	    " \"wh\" (known drivers: sqlite, postgres, mysql, snowflake,"
	    " bigquery, clickhouse, sqlserver, duckdb, mongodb, dbt,"
	    " notion, metabase, local_metabase, gdrive, sigma,"
	    " looker, lookml, metricflow)");
	assert_secret_free("connections:\n  \"env:SECRET_ID\": {driver: sqlite}\n",
	    "ktx.yaml:2:3: invalid connection id (a secret reference): use up"
	    " to 128 letters, digits, \"_\" and \"-\", starting with a letter"
	    " or digit");
	assert_secret_free("connections:\n"
	    "  mb: {driver: metabase, source_dir: m,"
	    " mappings: {connection: file:/SECRET}}\n",
	    "ktx.yaml:2:64: \"mappings.connection\" of connection \"mb\" names"
	    " no connection: (a secret reference)");
	assert_secret_free("ingest:\n  sources: {maxConcurrency: env:SECRET_N}\n",
	    "ktx.yaml:2:29: \"ingest.sources.maxConcurrency\" must be an"
	    " integer from 1 to 64, not a string");
	assert_secret_free("storage:\n  git: {author: env:SECRET_AUTHOR}\n",
	    "ktx.yaml:2:17: \"storage.git.author\" must be \"Name <email>\"");

	/* An unknown key that looks like a reference is not echoed either. */
	ck_assert_int_eq(load("ingest:\n  env:SECRET_KEY: 1\n", &cfg, &err),
	    0);
	ck_assert_ptr_null(err);
	ck_assert_uint_eq(cfg.warnings.n, 1);
	assert_warning(&cfg, 0,
	    "ktx.yaml:2:3: unknown field (a secret reference) (ignored)");
	for (i = 0; i < cfg.warnings.n; i++)
		ck_assert_ptr_null(strstr(cfg.warnings.v[i], "SECRET"));
	config_release(&cfg);
}
END_TEST

/*
 * Warnings.
 */

START_TEST(test_unknown_field_warnings)
{
	struct ktx_config	 cfg;
	char			*err = NULL;

	ck_assert_int_eq(load(
	    "connections:\n"				/* 1 */
	    "  wh:\n"					/* 2 */
	    "    driver: postgres\n"			/* 3 */
	    "    url: postgres://wh\n"			/* 4 */
	    "    pth: x\n"				/* 5 */
	    "    path: y\n"				/* 6 */
	    "    context: {queryHistory: {enabled: true}}\n"	/* 7 */
	    "    adapter: {command: [a], env: {A: b}}\n"	/* 8 */
	    "  mb:\n"					/* 9 */
	    "    driver: metabase\n"			/* 10 */
	    "    source_dir: m\n"			/* 11 */
	    "    mappings: {connection: wh, conn: wh, syncEnabled: {}}\n" /* 12 */
	    "  kb: {driver: notion, source_dir: k, enabled_tables: [a]}\n" /* 13 */
	    "storage:\n"				/* 14 */
	    "  state: sqlite\n"				/* 15 */
	    "  future: 1\n"				/* 16 */
	    "  git: {author: \"A <a@b>\", email: a@b}\n"	/* 17 */
	    "ingest:\n"					/* 18 */
	    "  workUnits: {whatever: 1}\n"		/* 19 */
	    "  sourcse: {}\n"				/* 20 */
	    "  sources: {maxConcurency: 2}\n"		/* 21 */
	    "  lock: {hold: 5}\n"			/* 22 */
	    "llm: {anything: [1]}\n"			/* 23 */
	    "plugins: {}\n",				/* 24 */
	    &cfg, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_uint_eq(cfg.warnings.n, 10);
	assert_warning(&cfg, 0, "ktx.yaml:5:5: unknown field \"pth\" (ignored)");
	assert_warning(&cfg, 1,
	    "ktx.yaml:6:5: unknown field \"path\" (ignored)");
	assert_warning(&cfg, 2,
	    "ktx.yaml:8:29: unknown field \"env\" (ignored)");
	assert_warning(&cfg, 3,
	    "ktx.yaml:12:32: unknown field \"conn\" (ignored)");
	assert_warning(&cfg, 4,
	    "ktx.yaml:13:39: unknown field \"enabled_tables\" (ignored)");
	assert_warning(&cfg, 5,
	    "ktx.yaml:17:28: unknown field \"email\" (ignored)");
	assert_warning(&cfg, 6,
	    "ktx.yaml:20:3: unknown field \"sourcse\" (ignored)");
	assert_warning(&cfg, 7,
	    "ktx.yaml:21:13: unknown field \"maxConcurency\" (ignored)");
	assert_warning(&cfg, 8,
	    "ktx.yaml:22:10: unknown field \"hold\" (ignored)");
	assert_warning(&cfg, 9,
	    "ktx.yaml:24:1: unknown field \"plugins\" (ignored)");
	ck_assert_str_eq(cfg.author_name, "A");
	ck_assert_int_eq(cfg.max_concurrency, 1);
	ck_assert_str_eq(config_find(&cfg, "mb")->mappings_connection, "wh");
	ck_assert_ptr_null(config_find(&cfg, "wh")->path);
	config_release(&cfg);
}
END_TEST

/*
 * Cross-references and identity.
 */

START_TEST(test_mappings_connection)
{
	struct ktx_config	cfg;

	assert_error("connections:\n"
	    "  mb: {driver: metabase, source_dir: m, mappings: {connection: wh}}\n",
	    "ktx.yaml:2:64: \"mappings.connection\" of connection \"mb\" names"
	    " no connection: \"wh\"");
	assert_error("connections:\n"
	    "  kb: {driver: notion, source_dir: k}\n"
	    "  mb: {driver: local_metabase, mappings: {connection: kb}}\n",
	    "ktx.yaml:3:55: \"mappings.connection\" of connection \"mb\" names"
	    " \"kb\", which is not a database connection");
	assert_error("connections:\n"
	    "  mb: {driver: metabase, source_dir: m, mappings: [wh]}\n",
	    "ktx.yaml:2:51: \"mappings\" of connection \"mb\" must be a"
	    " mapping, not a list");

	load_ok("connections:\n"
	    "  mb: {driver: local_metabase, mappings: {connection: wh}}\n"
	    "  wh: {driver: snowflake}\n", &cfg);
	ck_assert_str_eq(cfg.connections[0].mappings_connection, "wh");
	config_release(&cfg);
}
END_TEST

START_TEST(test_author)
{
	struct ktx_config	 cfg;
	static const char *const bad[] = {
		"Bot", "<bot@example.com>", "Bot <bot@example.com> x",
		"Bot <>", "Bot <a<b>", "Bot bot@example.com>", "Bot <a@b",
		"\"Bot <a@b>\\n\"", "\"  <a@b>\"", "Bot> <a@b>",
	};
	char			 yaml[256];
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml), "storage:\n  git:\n"
		    "    author: %s\n", bad[i]);
		assert_error(yaml, "ktx.yaml:3:13: \"storage.git.author\" must"
		    " be \"Name <email>\"");
	}
	load_ok("storage: {git: {author: \"  Jane Q. Doe   <jane@example.com>\"}}\n",
	    &cfg);
	ck_assert_str_eq(cfg.author_name, "Jane Q. Doe");
	ck_assert_str_eq(cfg.author_email, "jane@example.com");
	config_release(&cfg);
	load_ok("storage: {git: {author: Bot<bot@x>}}\n", &cfg);
	ck_assert_str_eq(cfg.author_name, "Bot");
	ck_assert_str_eq(cfg.author_email, "bot@x");
	config_release(&cfg);
}
END_TEST

/*
 * The API around the loader.
 */

START_TEST(test_release_is_idempotent)
{
	struct ktx_config	cfg;

	memset(&cfg, 0, sizeof(cfg));
	config_release(&cfg);
	config_release(&cfg);
	load_ok("connections: {db: {driver: sqlite, path: a}}\n", &cfg);
	config_release(&cfg);
	ck_assert_ptr_null(cfg.connections);
	ck_assert_ptr_null(cfg.path);
	ck_assert_ptr_null(cfg.author_name);
	ck_assert_uint_eq(cfg.warnings.n, 0);
	config_release(&cfg);
	ck_assert_ptr_null(config_find(&cfg, "db"));
}
END_TEST

START_TEST(test_driver_tables)
{
	static const char *const databases[] = { "sqlite", "postgres", "mysql",
	    "snowflake", "bigquery", "clickhouse", "sqlserver", "duckdb",
	    "mongodb" };
	static const char *const sources[] = { "dbt", "notion", "metabase",
	    "local_metabase", "looker", "lookml", "metricflow", "gdrive",
	    "sigma" };
	static const char *const builtin[] = { "sqlite", "postgres", "dbt",
	    "notion", "metabase" };
	size_t	i;

	for (i = 0; i < 9; i++) {
		ck_assert_int_eq(driver_kind_of(databases[i]), DRIVER_DATABASE);
		ck_assert_int_eq(driver_kind_of(sources[i]), DRIVER_SOURCE);
		ck_assert_ptr_nonnull(strstr(driver_names(), databases[i]));
		ck_assert_ptr_nonnull(strstr(driver_names(), sources[i]));
	}
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(driver_is_builtin(builtin[i]), 1);
	ck_assert_int_eq(driver_is_builtin("mysql"), 0);
	ck_assert_int_eq(driver_is_builtin("local_metabase"), 0);
	ck_assert_int_eq(driver_is_builtin("looker"), 0);
	ck_assert_int_eq(driver_is_builtin("postgress"), 0);
	ck_assert_int_eq(driver_kind_of("postgress"), -1);
	ck_assert_int_eq(driver_kind_of(""), -1);
	ck_assert_int_eq(driver_kind_of(NULL), -1);
	ck_assert_str_eq(driver_names(), "sqlite, postgres, mysql, snowflake,"
	    " bigquery, clickhouse, sqlserver, duckdb, mongodb, dbt, notion,"
	    " metabase, local_metabase, gdrive, sigma, looker, lookml,"
	    " metricflow");
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
	Suite	*s = suite_create("config");
	TCase	*tc;
	SRunner	*sr;
	int	 failed;

	tc = tcase("file");
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_not_a_regular_file);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_top_level_not_a_mapping);
	tcase_add_test(tc, test_invalid_yaml);
	tcase_add_test(tc, test_invalid_utf8);
	tcase_add_test(tc, test_line_breaks_counted_as_libyaml_does);
	tcase_add_test(tc, test_control_character);
	tcase_add_test(tc, test_positions_with_crlf_and_bom);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_load_buf);
	suite_add_tcase(s, tc);

	tc = tcase("yaml");
	tcase_add_test(tc, test_duplicate_key_top_level);
	tcase_add_test(tc, test_duplicate_key_in_connection);
	tcase_add_test(tc, test_duplicate_connection_id);
	tcase_add_test(tc, test_duplicate_key_in_ignored_block);
	tcase_add_test(tc, test_duplicate_key_earliest_is_reported);
	tcase_add_test(tc, test_anchors_and_aliases);
	tcase_add_test(tc, test_nesting_depth);
	tcase_add_test(tc, test_multiple_documents);
	tcase_add_test(tc, test_key_not_a_string);
	suite_add_tcase(s, tc);

	tc = tcase("schema");
	tcase_add_test(tc, test_invalid_connection_id);
	tcase_add_test(tc, test_unknown_driver);
	tcase_add_test(tc, test_missing_or_bad_driver);
	tcase_add_test(tc, test_required_fields);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_max_concurrency_invalid);
	tcase_add_test(tc, test_max_concurrency_bounds);
	tcase_add_test(tc, test_timeouts);
	tcase_add_test(tc, test_adapter_invalid);
	tcase_add_test(tc, test_adapter_on_any_driver);
	tcase_add_test(tc, test_mappings_connection);
	tcase_add_test(tc, test_author);
	suite_add_tcase(s, tc);

	tc = tcase("files");
	tcase_add_test(tc, test_ktx_written_file);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_blocks);
	tcase_add_test(tc, test_sorted_bytewise);
	tcase_add_test(tc, test_secret_refs_kept_verbatim);
	tcase_add_test(tc, test_secret_refs_never_in_messages);
	tcase_add_test(tc, test_unknown_field_warnings);
	suite_add_tcase(s, tc);

	tc = tcase("api");
	tcase_add_test(tc, test_release_is_idempotent);
	tcase_add_test(tc, test_driver_tables);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
