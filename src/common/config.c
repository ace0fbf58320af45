/*
 * Loading and validating a project's ktx.yaml.
 *
 * Route: libyaml's event parser builds a small tree in which every node
 * keeps the line and column where it starts in the file, and the schema
 * walker below checks that tree.  libcyaml is not used for any part of the
 * file, although it is the library the issue names, because it cannot keep
 * the positions every message must carry:
 *  - it cannot load a mapping whose keys are not known up front (libcyaml
 *    issues #66 and #161), and "connections" is such a map.  The work-around
 *    of turning that map into a sequence of {id: key, ...} means emitting a
 *    new document for libcyaml to load from a buffer, so its positions would
 *    be those of the rewrite, not of the user's file;
 *  - even for the fixed blocks (storage, ingest) its errors are a bare
 *    cyaml_err_t plus log text without line or column, and the log text of a
 *    bad number quotes the value, which may be a secret;
 *  - CYAML_CFG_IGNORE_UNKNOWN_KEYS drops unknown keys without telling us
 *    where they were, and we must warn about them with their position.
 * The event API is used rather than yaml_parser_load so that anchors and
 * aliases are refused where they stand and nesting is bounded while the
 * file is read, before any tree exists to be expanded or recursed into.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "ktxconfig.h"
#include "util.h"

/* A YAML node and where it starts, 1-based as editors count. */
enum ynode_type {
	YN_SCALAR,
	YN_SEQUENCE,
	YN_MAPPING
};

struct ynode {
	enum ynode_type	  type;
	int		  line;
	int		  column;
	char		 *value;	/* scalar text, NUL-terminated */
	size_t		  len;		/* may hold NULs written as escapes */
	int		  plain;	/* plain and untagged: typed by its text */
	struct ynode	**kids;		/* items; for a mapping key, value, ... */
	size_t		  nkids;
	size_t		  cap;
};

/* A metabase connection's mappings.connection, checked once all are known. */
struct mapping_ref {
	const char		*owner;		/* the metabase connection's id */
	const struct ynode	*node;		/* the value naming the warehouse */
};

struct loader {
	const char		*path;
	struct ktx_config	*cfg;
	char			*errmsg;	/* the first error; later ones are dropped */
	struct mapping_ref	*refs;
	size_t			 nrefs;
};

/* The tree under construction while events arrive. */
struct builder {
	struct loader		*ld;
	struct ynode		*root;
	struct ynode		*stack[KTX_CONFIG_MAX_DEPTH];
	size_t			 depth;
	int			 ndocuments;
	const struct ynode	*dup;		/* earliest repeated key */
	const struct ynode	*dup_first;	/* where that key stood first */
};

/* Fields ktx writes that this program accepts without reading them. */
static const char *const warehouse_fields[] = {
	"context", "query_timeout_ms", NULL
};
static const char *const metabase_fields[] = {
	"api_url", "api_key", "api_key_ref", "network_proxy", "networkProxy",
	NULL
};
static const char *const duckdb_fields[] = {
	"context", "query_timeout_ms", "path", NULL
};
static const char *const gdrive_fields[] = {
	"auth_token_ref", "credentials_ref", "folder_ids", "root_folder_ids",
	NULL
};
static const char *const sigma_fields[] = {
	"base_url", "client_id", "client_secret", "client_secret_ref",
	"mappings", NULL
};
static const char *const looker_fields[] = {
	"base_url", "client_id", "client_secret", "client_secret_ref",
	"mappings", NULL
};
static const char *const lookml_fields[] = {
	"repoUrl", "branch", "path", "auth_token_ref", "mappings", NULL
};
static const char *const notion_fields[] = {
	"auth_token", "auth_token_ref", "crawl_mode", "root_page_ids",
	"root_database_ids", "root_data_source_ids", "max_pages_per_run",
	"max_knowledge_creates_per_run", "max_knowledge_updates_per_run", NULL
};
static const char *const dbt_fields[] = {
	"repo_url", "branch", "path", "auth_token_ref", "profiles_path",
	"target", "project_name", NULL
};
/*
 * Fields with which ktx fetches a source's input itself (an API, a git
 * repository): such a connection loads without source_dir, and the worker
 * names the field when it reports that this build reads local input only.
 */
static const char *const metabase_remote[] = { "api_url", NULL };
static const char *const notion_remote[] = {
	"auth_token", "auth_token_ref", NULL
};
static const char *const dbt_remote[] = { "repo_url", NULL };

static const char *const metricflow_fields[] = {
	"metricflow", NULL
};

#define DRV_BUILTIN		0x01	/* ingested by a built-in adapter */
#define DRV_SQLITE_PATH		0x02	/* reads "path"; needs "path" or "url" */
#define DRV_NEEDS_URL		0x04
#define DRV_NEEDS_SOURCE_DIR	0x08	/* unless adapter.command is given */
#define DRV_MAPPINGS		0x10	/* reads mappings.connection */

static const struct driver_info {
	const char		*name;
	enum driver_kind	 kind;
	unsigned		 flags;
	const char *const	*ktx_fields;
	const char *const	*remote_fields;	/* ktx fetches the input itself */
} drivers[] = {
	{ "sqlite", DRIVER_DATABASE, DRV_BUILTIN | DRV_SQLITE_PATH,
	    warehouse_fields, NULL },
	{ "postgres", DRIVER_DATABASE, DRV_BUILTIN | DRV_NEEDS_URL,
	    warehouse_fields, NULL },
	{ "mysql", DRIVER_DATABASE, 0, warehouse_fields, NULL },
	{ "snowflake", DRIVER_DATABASE, 0, warehouse_fields, NULL },
	{ "bigquery", DRIVER_DATABASE, 0, warehouse_fields, NULL },
	{ "clickhouse", DRIVER_DATABASE, 0, warehouse_fields, NULL },
	{ "sqlserver", DRIVER_DATABASE, 0, warehouse_fields, NULL },
	{ "duckdb", DRIVER_DATABASE, 0, duckdb_fields, NULL },
	{ "mongodb", DRIVER_DATABASE, 0, warehouse_fields, NULL },
	{ "dbt", DRIVER_SOURCE, DRV_BUILTIN | DRV_NEEDS_SOURCE_DIR,
	    dbt_fields, dbt_remote },
	{ "notion", DRIVER_SOURCE, DRV_BUILTIN | DRV_NEEDS_SOURCE_DIR,
	    notion_fields, notion_remote },
	{ "metabase", DRIVER_SOURCE,
	    DRV_BUILTIN | DRV_NEEDS_SOURCE_DIR | DRV_MAPPINGS,
	    metabase_fields, metabase_remote },
	{ "local_metabase", DRIVER_SOURCE, DRV_MAPPINGS, metabase_fields,
	    NULL },
	{ "gdrive", DRIVER_SOURCE, 0, gdrive_fields, NULL },
	{ "sigma", DRIVER_SOURCE, 0, sigma_fields, NULL },
	{ "looker", DRIVER_SOURCE, 0, looker_fields, NULL },
	{ "lookml", DRIVER_SOURCE, 0, lookml_fields, NULL },
	{ "metricflow", DRIVER_SOURCE, 0, metricflow_fields, NULL },
};
#define NDRIVERS	(sizeof(drivers) / sizeof(drivers[0]))

/* Blocks of ktx.yaml and of ingest that ktx uses and this program does not. */
static const char *const ignored_top_blocks[] = {
	"llm", "agent", "scan", "setup", NULL
};
static const char *const ignored_ingest_blocks[] = {
	"adapters", "embeddings", "workUnits", "rateLimit", "profile", NULL
};
static const char *const ignored_metabase_mappings[] = {
	"databaseMappings", "syncEnabled", NULL
};

/* Room for a value quoted by show(). */
#define SHOW_SIZE	128
#define SHOW_LIMIT	96

static const struct driver_info *
driver_lookup(const char *name)
{
	size_t	i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < NDRIVERS; i++)
		if (strcmp(drivers[i].name, name) == 0)
			return &drivers[i];
	return NULL;
}

int
driver_kind_of(const char *driver)
{
	const struct driver_info	*d = driver_lookup(driver);

	return d == NULL ? -1 : (int)d->kind;
}

int
driver_is_builtin(const char *driver)
{
	const struct driver_info	*d = driver_lookup(driver);

	return d != NULL && (d->flags & DRV_BUILTIN);
}

const char *
driver_names(void)
{
	static char	names[256];
	size_t		i;

	if (names[0] == '\0') {
		for (i = 0; i < NDRIVERS; i++) {
			if (i > 0)
				strlcat(names, ", ", sizeof(names));
			strlcat(names, drivers[i].name, sizeof(names));
		}
	}
	return names;
}

static int
is_secret_ref(const char *s, size_t len)
{
	return (len >= 4 && strncmp(s, "env:", 4) == 0) ||
	    (len >= 5 && strncmp(s, "file:", 5) == 0);
}

/*
 * A scalar for a message: quoted, control bytes escaped, cut short, and a
 * secret reference replaced so that it never reaches a log.  Returns buf,
 * which holds SHOW_SIZE bytes.
 */
static const char *
show(char *buf, const struct ynode *n)
{
	size_t		i, o = 0;
	unsigned char	c;

	if (is_secret_ref(n->value, n->len)) {
		snprintf(buf, SHOW_SIZE, "(a secret reference)");
		return buf;
	}
	buf[o++] = '"';
	for (i = 0; i < n->len; i++) {
		c = (unsigned char)n->value[i];
		if (o >= SHOW_LIMIT && (c & 0xc0) != 0x80) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(buf + o, 5, "\\x%02x", c);
			o += 4;
		} else
			buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static void
fail_at(struct loader *ld, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void
fail_at(struct loader *ld, int line, int column, const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	if (ld->errmsg != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	xasprintf(&ld->errmsg, "%s:%d:%d: %s", ld->path, line, column, msg);
}

/* An error about the file as a whole: no position. */
static void
fail_file(struct loader *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
fail_file(struct loader *ld, const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	if (ld->errmsg != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	xasprintf(&ld->errmsg, "%s: %s", ld->path, msg);
}

#define fail_node(ld, n, ...) \
	fail_at((ld), (n)->line, (n)->column, __VA_ARGS__)

static void
warn_unknown(struct loader *ld, const struct ynode *key)
{
	char	b[SHOW_SIZE];
	char	*w;

	xasprintf(&w, "%s:%d:%d: unknown field %s (ignored)", ld->path,
	    key->line, key->column, show(b, key));
	strv_push_owned(&ld->cfg->warnings, w);
}

/*
 * What a node holds.
 */

static int
text_is(const struct ynode *n, const char *s)
{
	size_t	len = strlen(s);

	return n->type == YN_SCALAR && n->len == len &&
	    memcmp(n->value, s, len) == 0;
}

/* The entry of list that n's text equals, or NULL. */
static const char *
text_in(const struct ynode *n, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (text_is(n, *list))
			return *list;
	return NULL;
}

static int
is_null(const struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL",
	    NULL };

	return n->type == YN_SCALAR && n->plain && text_in(n, nulls) != NULL;
}

/*
 * A plain scalar written as a decimal integer.  *out saturates at
 * LLONG_MIN and LLONG_MAX, far outside any range we accept.
 */
static int
is_integer(const struct ynode *n, long long *out)
{
	size_t	sign;

	if (n->type != YN_SCALAR || !n->plain)
		return 0;
	sign = n->len > 0 && (n->value[0] == '-' || n->value[0] == '+');
	if (n->len == sign ||
	    strspn(n->value + sign, "0123456789") != n->len - sign)
		return 0;
	*out = strtoll(n->value, NULL, 10);
	return 1;
}

/* What a node is, for "must be X, not Y". */
static const char *
kind_of(const struct ynode *n)
{
	static const char *const bools[] = { "true", "True", "TRUE", "false",
	    "False", "FALSE", NULL };
	long long	 v;
	char		*end;

	if (n->type == YN_MAPPING)
		return "a mapping";
	if (n->type == YN_SEQUENCE)
		return "a list";
	if (!n->plain)
		return "a string";
	if (is_null(n))
		return "null";
	if (text_in(n, bools))
		return "a boolean";
	if (is_integer(n, &v))
		return "an integer";
	if (strspn(n->value, "0123456789+-.eE") == n->len) {
		strtod(n->value, &end);
		if (end == n->value + n->len)
			return "a decimal number";
	}
	return "a string";
}

/*
 * Reading the file.
 */

/* Read up to one byte past the limit, for config_load_buf to refuse. */
static int
read_file(struct loader *ld, unsigned char **bufp, size_t *lenp)
{
	struct stat	 sb;
	unsigned char	*buf = NULL;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, rv = -1;

	/* O_NONBLOCK: a FIFO in its place must not hang the load. */
	if ((fd = open(ld->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		if (errno == ENOENT)
			fail_file(ld, "no such file");
		else
			fail_file(ld, "cannot open: %s", strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) == -1) {
		fail_file(ld, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		fail_file(ld, "not a regular file");
		goto out;
	}
	/* One byte past the limit: the size may change under us. */
	buf = xmalloc(KTX_CONFIG_MAX_BYTES + 1);
	while (len <= KTX_CONFIG_MAX_BYTES) {
		n = read(fd, buf + len, KTX_CONFIG_MAX_BYTES + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fail_file(ld, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	rv = 0;
out:
	free(buf);
	if (fd != -1)
		close(fd);
	return rv;
}

/* The characters YAML 1.1 allows in a stream, as libyaml checks them. */
static int
yaml_printable(uint32_t cp)
{
	return cp == 0x09 || cp == 0x0a || cp == 0x0d ||
	    (cp >= 0x20 && cp <= 0x7e) || cp == 0x85 ||
	    (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) ||
	    cp >= 0x10000;
}

/*
 * libyaml reports a bad byte by its offset only.  Find it first, at the
 * line and column libyaml would give: characters counted, not bytes, the
 * same line breaks (LF, CR, CR LF, NEL, LS, PS), and a leading byte order
 * mark not counted.
 */
static int
check_text(struct loader *ld, const unsigned char *buf, size_t len)
{
	size_t		i = 0, n;
	uint32_t	cp;
	int		line = 1, column = 1;

	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	for (; i < len; i += n) {
		if ((n = utf8_char(buf + i, len - i, &cp)) == 0) {
			fail_at(ld, line, column, "invalid UTF-8");
			return -1;
		}
		if (!yaml_printable(cp)) {
			fail_at(ld, line, column,
			    "character U+%04X is not allowed in YAML", cp);
			return -1;
		}
		if (cp == 0x0d && i + 1 < len && buf[i + 1] == 0x0a)
			n = 2;
		if (cp == 0x0a || cp == 0x0d || cp == 0x85 || cp == 0x2028 ||
		    cp == 0x2029) {
			line++;
			column = 1;
		} else
			column++;
	}
	return 0;
}

/*
 * The tree.
 */

static struct ynode *
node_new(enum ynode_type type, const yaml_mark_t *mark)
{
	struct ynode	*n = xcalloc(1, sizeof(*n));

	n->type = type;
	n->line = (int)mark->line + 1;
	n->column = (int)mark->column + 1;
	return n;
}

/* Recursion is bounded: the builder refuses to nest deeper than the limit. */
static void
node_free(struct ynode *n)
{
	size_t	i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->value);
	free(n);
}

static void
node_add(struct ynode *parent, struct ynode *kid)
{
	if (parent->nkids == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->kids = xreallocarray(parent->kids, parent->cap,
		    sizeof(*parent->kids));
	}
	parent->kids[parent->nkids++] = kid;
}

static int
node_before(const struct ynode *a, const struct ynode *b)
{
	return a->line < b->line ||
	    (a->line == b->line && a->column < b->column);
}

static int
key_cmp(const void *pa, const void *pb)
{
	const struct ynode	*a = *(const struct ynode *const *)pa;
	const struct ynode	*b = *(const struct ynode *const *)pb;
	int			 c;

	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if ((c = memcmp(a->value, b->value, a->len)) != 0)
		return c;
	return node_before(a, b) ? -1 : node_before(b, a);
}

/*
 * Remember the earliest key of this mapping that repeats an earlier one.
 * Sorting keeps this O(n log n) however many keys a hostile file has.
 */
static void
find_duplicate(struct builder *b, const struct ynode *map)
{
	const struct ynode	**keys;
	size_t			  i, nkeys = map->nkids / 2;

	if (nkeys < 2)
		return;
	keys = xreallocarray(NULL, nkeys, sizeof(*keys));
	for (i = 0; i < nkeys; i++)
		keys[i] = map->kids[2 * i];
	qsort(keys, nkeys, sizeof(*keys), key_cmp);
	for (i = 1; i < nkeys; i++) {
		if (keys[i]->len != keys[i - 1]->len ||
		    memcmp(keys[i]->value, keys[i - 1]->value, keys[i]->len))
			continue;
		/* Equal keys sort by position: keys[i - 1] comes first. */
		if (b->dup == NULL || node_before(keys[i], b->dup)) {
			b->dup = keys[i];
			b->dup_first = keys[i - 1];
		}
	}
	free(keys);
}

static void
yaml_failure(struct loader *ld, const yaml_parser_t *p)
{
	const char	*problem;

	problem = p->problem != NULL ? p->problem : "cannot be parsed";

	if (p->context != NULL)
		fail_at(ld, (int)p->problem_mark.line + 1,
		    (int)p->problem_mark.column + 1,
		    "invalid YAML: %s (%s at %d:%d)", problem,
		    p->context, (int)p->context_mark.line + 1,
		    (int)p->context_mark.column + 1);
	else
		fail_at(ld, (int)p->problem_mark.line + 1,
		    (int)p->problem_mark.column + 1, "invalid YAML: %s",
		    problem);
}

/* Attach a new node where the parser is; a collection becomes the parent. */
static int
builder_add(struct builder *b, struct ynode *n, const yaml_char_t *anchor)
{
	struct ynode	*parent;

	if (anchor != NULL) {
		fail_node(b->ld, n,
		    "anchors and aliases are not allowed in ktx.yaml");
		goto bad;
	}
	if (b->depth == 0)
		b->root = n;
	else {
		parent = b->stack[b->depth - 1];
		if (parent->type == YN_MAPPING && parent->nkids % 2 == 0 &&
		    n->type != YN_SCALAR) {
			fail_node(b->ld, n, "a mapping key must be a string,"
			    " not %s", kind_of(n));
			goto bad;
		}
		node_add(parent, n);
	}
	if (n->type == YN_SCALAR)
		return 0;
	if (b->depth == KTX_CONFIG_MAX_DEPTH) {
		fail_node(b->ld, n, "nested deeper than %d levels",
		    KTX_CONFIG_MAX_DEPTH);
		return -1;	/* attached: freed with the tree */
	}
	b->stack[b->depth++] = n;
	return 0;
bad:
	node_free(n);	/* not attached yet */
	return -1;
}

/* Returns 1 at the end of the stream, 0 to go on, -1 on error. */
static int
builder_event(struct builder *b, const yaml_event_t *ev)
{
	struct ynode	*n;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (b->ndocuments++ > 0) {
			fail_at(b->ld, (int)ev->start_mark.line + 1,
			    (int)ev->start_mark.column + 1,
			    "more than one YAML document");
			return -1;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		fail_at(b->ld, (int)ev->start_mark.line + 1,
		    (int)ev->start_mark.column + 1,
		    "anchors and aliases are not allowed in ktx.yaml");
		return -1;
	case YAML_SCALAR_EVENT:
		n = node_new(YN_SCALAR, &ev->start_mark);
		n->len = ev->data.scalar.length;
		n->value = xmalloc(n->len + 1);
		memcpy(n->value, ev->data.scalar.value, n->len);
		n->value[n->len] = '\0';
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    ev->data.scalar.tag == NULL;
		return builder_add(b, n, ev->data.scalar.anchor);
	case YAML_SEQUENCE_START_EVENT:
		n = node_new(YN_SEQUENCE, &ev->start_mark);
		return builder_add(b, n, ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		n = node_new(YN_MAPPING, &ev->start_mark);
		return builder_add(b, n, ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		n = b->stack[--b->depth];
		if (n->type == YN_MAPPING)
			find_duplicate(b, n);
		return 0;
	default:
		return 0;
	}
}

/* Parse buf into a tree.  Caller frees *rootp with node_free. */
static int
parse(struct loader *ld, const unsigned char *buf, size_t len,
    struct ynode **rootp)
{
	struct builder	b;
	yaml_parser_t	parser;
	yaml_event_t	ev;
	char		show_buf[SHOW_SIZE];
	int		r = 0, rv = -1;

	memset(&b, 0, sizeof(b));
	b.ld = ld;
	if (!yaml_parser_initialize(&parser)) {
		fail_file(ld, "cannot initialise the YAML parser");
		return -1;
	}
	yaml_parser_set_input_string(&parser, buf, len);
	while (r == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			yaml_failure(ld, &parser);
			goto out;
		}
		r = builder_event(&b, &ev);
		yaml_event_delete(&ev);
	}
	if (r == -1)
		goto out;
	if (b.dup != NULL) {
		fail_node(ld, b.dup, "duplicate key %s (first at %d:%d)",
		    show(show_buf, b.dup), b.dup_first->line,
		    b.dup_first->column);
		goto out;
	}
	if (b.root == NULL) {
		fail_at(ld, 1, 1, "empty file");
		goto out;
	}
	*rootp = b.root;
	b.root = NULL;
	rv = 0;
out:
	node_free(b.root);
	yaml_parser_delete(&parser);
	return rv;
}

/*
 * Reading values.
 */

/* How messages name a field: "url" of connection "wh", or "ingest.lock". */
static const char *
field_name(char *buf, size_t size, const char *conn, const char *field)
{
	if (conn != NULL)
		snprintf(buf, size, "\"%s\" of connection \"%s\"", field, conn);
	else
		snprintf(buf, size, "\"%s\"", field);
	return buf;
}

/* A non-empty string without NUL bytes.  Replaces *out. */
static int
get_string(struct loader *ld, const struct ynode *n, const char *conn,
    const char *field, char **out)
{
	char	name[256];

	field_name(name, sizeof(name), conn, field);
	if (n->type != YN_SCALAR || is_null(n)) {
		fail_node(ld, n, "%s must be a string, not %s", name,
		    kind_of(n));
		return -1;
	}
	if (n->len == 0) {
		fail_node(ld, n, "%s must not be empty", name);
		return -1;
	}
	if (strlen(n->value) != n->len) {
		fail_node(ld, n, "%s must not contain a NUL character", name);
		return -1;
	}
	free(*out);
	*out = xstrdup(n->value);
	return 0;
}

static int
get_int(struct loader *ld, const struct ynode *n, const char *conn,
    const char *field, int min, int max, int *out)
{
	char		name[256], range[64];
	long long	v;

	field_name(name, sizeof(name), conn, field);
	if (max == INT_MAX)
		snprintf(range, sizeof(range),
		    "a positive integer (at most %d)", INT_MAX);
	else
		snprintf(range, sizeof(range), "an integer from %d to %d",
		    min, max);
	if (!is_integer(n, &v)) {
		fail_node(ld, n, "%s must be %s, not %s", name, range,
		    kind_of(n));
		return -1;
	}
	if (v < min || v > max) {
		fail_node(ld, n, "%s must be %s", name, range);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* A non-empty list of non-empty strings.  Appends to *out. */
static int
get_strv(struct loader *ld, const struct ynode *n, const char *conn,
    const char *field, struct strv *out)
{
	const struct ynode	*item;
	char			 name[256];
	size_t			 i;

	field_name(name, sizeof(name), conn, field);
	if (n->type != YN_SEQUENCE || n->nkids == 0) {
		fail_node(ld, n, "%s must be a non-empty list of strings,"
		    " not %s", name,
		    n->type == YN_SEQUENCE ? "an empty list" : kind_of(n));
		return -1;
	}
	for (i = 0; i < n->nkids; i++) {
		item = n->kids[i];
		if (item->type != YN_SCALAR || is_null(item)) {
			fail_node(ld, item, "%s must be a list of strings,"
			    " not of %s", name, kind_of(item));
			return -1;
		}
		if (item->len == 0 || strlen(item->value) != item->len) {
			fail_node(ld, item, "%s must not hold an empty string"
			    " or a NUL character", name);
			return -1;
		}
		strv_push(out, item->value);
	}
	return 0;
}

/*
 * A block: a mapping, or nothing at all ("ingest:" with no value is the
 * same as no ingest block).  Returns 1 for a mapping, 0 for nothing.
 */
static int
get_block(struct loader *ld, const struct ynode *n, const char *conn,
    const char *field)
{
	char	name[256];

	if (n->type == YN_MAPPING)
		return 1;
	if (is_null(n))
		return 0;
	fail_node(ld, n, "%s must be a mapping, not %s",
	    field_name(name, sizeof(name), conn, field), kind_of(n));
	return -1;
}

static const struct ynode *
map_get(const struct ynode *map, const char *key)
{
	size_t	i;

	for (i = 0; i + 1 < map->nkids; i += 2)
		if (text_is(map->kids[i], key))
			return map->kids[i + 1];
	return NULL;
}

/*
 * The schema.
 */

static int
valid_id(const struct ynode *key)
{
	size_t	i;
	char	c;

	if (key->len == 0 || key->len > KTX_CONNECTION_ID_MAX)
		return 0;
	for (i = 0; i < key->len; i++) {
		c = key->value[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (i > 0 && (c == '_' || c == '-'))))
			return 0;
	}
	return 1;
}

/*
 * Variables an adapter always gets from the worker, which adapter.secrets
 * must not replace: the environment's own and the ktx ones.
 */
static const char *const reserved_env[] = {
	"PATH", "HOME", "LANG", "TZ", NULL
};

static int
valid_env_name(const struct ynode *k)
{
	size_t	i;
	char	c;

	if (k->type != YN_SCALAR || k->len == 0 || k->len > 128 ||
	    strlen(k->value) != k->len)
		return 0;
	for (i = 0; i < k->len; i++) {
		c = k->value[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    c == '_' || (i > 0 && c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

static int
reserved_env_name(const char *name)
{
	size_t	i;

	if (strncmp(name, "KTX_", 4) == 0)
		return 1;
	for (i = 0; reserved_env[i] != NULL; i++)
		if (strcmp(name, reserved_env[i]) == 0)
			return 1;
	return 0;
}

/* env:NAME or file:PATH with a name or path after the colon. */
static int
full_secret_ref(const struct ynode *v)
{
	return is_secret_ref(v->value, v->len) &&
	    v->len > (strncmp(v->value, "env:", 4) == 0 ? 4u : 5u);
}

static int
cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * adapter.secrets: a mapping of variable names to secret references.  A
 * literal value is refused: ktx.yaml is committed, a secret must not be.
 */
static int
load_secrets(struct loader *ld, struct ktx_connection *c,
    const struct ynode *map)
{
	const struct ynode	*k, *v;
	char			 b[SHOW_SIZE], *entry;
	size_t			 i;
	int			 r;

	if ((r = get_block(ld, map, c->id, "adapter.secrets")) <= 0)
		return r;
	for (i = 0; i < map->nkids; i += 2) {
		k = map->kids[i];
		v = map->kids[i + 1];
		if (!valid_env_name(k)) {
			fail_node(ld, k, "\"adapter.secrets\" of connection"
			    " \"%s\": %s is not a variable name", c->id,
			    show(b, k));
			return -1;
		}
		if (reserved_env_name(k->value)) {
			fail_node(ld, k, "\"adapter.secrets\" of connection"
			    " \"%s\": %s is set by the worker", c->id,
			    show(b, k));
			return -1;
		}
		if (v->type != YN_SCALAR || is_null(v) ||
		    strlen(v->value) != v->len || !full_secret_ref(v)) {
			fail_node(ld, v, "\"adapter.secrets.%s\" of connection"
			    " \"%s\" must be a reference, env:NAME or"
			    " file:PATH", k->value, c->id);
			return -1;
		}
		xasprintf(&entry, "%s=%s", k->value, v->value);
		strv_push_owned(&c->adapter_secrets, entry);
	}
	if (c->adapter_secrets.n > 1)
		qsort(c->adapter_secrets.v, c->adapter_secrets.n,
		    sizeof(*c->adapter_secrets.v), cmp_strp);
	return 0;
}

static int
load_adapter(struct loader *ld, struct ktx_connection *c,
    const struct ynode *key, const struct ynode *map)
{
	const struct ynode	*k, *v;
	size_t			 i;
	int			 r;

	if ((r = get_block(ld, map, c->id, "adapter")) <= 0)
		return r;
	for (i = 0; i < map->nkids; i += 2) {
		k = map->kids[i];
		v = map->kids[i + 1];
		if (text_is(k, "command")) {
			if (get_strv(ld, v, c->id, "adapter.command",
			    &c->adapter_command) == -1)
				return -1;
		} else if (text_is(k, "timeout")) {
			if (get_int(ld, v, c->id, "adapter.timeout", 1, INT_MAX,
			    &c->adapter_timeout) == -1)
				return -1;
		} else if (text_is(k, "secrets")) {
			if (load_secrets(ld, c, v) == -1)
				return -1;
		} else
			warn_unknown(ld, k);
	}
	if (c->adapter_command.n == 0) {
		fail_node(ld, key, "\"adapter\" of connection \"%s\" has no"
		    " \"command\"", c->id);
		return -1;
	}
	return 0;
}

static int
load_mappings(struct loader *ld, struct ktx_connection *c,
    const struct ynode *map)
{
	const struct ynode	*k, *v;
	size_t			 i;
	int			 r;

	if ((r = get_block(ld, map, c->id, "mappings")) <= 0)
		return r;
	for (i = 0; i < map->nkids; i += 2) {
		k = map->kids[i];
		v = map->kids[i + 1];
		if (text_is(k, "connection")) {
			if (get_string(ld, v, c->id, "mappings.connection",
			    &c->mappings_connection) == -1)
				return -1;
			ld->refs = xreallocarray(ld->refs, ld->nrefs + 1,
			    sizeof(*ld->refs));
			ld->refs[ld->nrefs].owner = c->id;
			ld->refs[ld->nrefs].node = v;
			ld->nrefs++;
		} else if (!text_in(k, ignored_metabase_mappings))
			warn_unknown(ld, k);
	}
	return 0;
}

/* The fields a driver requires, checked once the whole entry is read. */
static int
check_required(struct loader *ld, const struct ktx_connection *c,
    const struct driver_info *d, const struct ynode *key)
{
	if ((d->flags & DRV_SQLITE_PATH) && c->path == NULL && c->url == NULL) {
		fail_node(ld, key, "connection \"%s\" (driver \"%s\") requires"
		    " \"path\" or \"url\"", c->id, d->name);
		return -1;
	}
	if ((d->flags & DRV_SQLITE_PATH) && c->path != NULL && c->url != NULL) {
		fail_node(ld, key, "connection \"%s\" sets both \"path\" and"
		    " \"url\"; keep one", c->id);
		return -1;
	}
	if ((d->flags & DRV_NEEDS_URL) && c->url == NULL) {
		fail_node(ld, key, "connection \"%s\" (driver \"%s\") requires"
		    " \"url\"", c->id, d->name);
		return -1;
	}
	if ((d->flags & DRV_NEEDS_SOURCE_DIR) && c->source_dir == NULL &&
	    c->adapter_command.n == 0 && c->remote_input == NULL) {
		fail_node(ld, key, "connection \"%s\" (driver \"%s\") requires"
		    " \"source_dir\" or \"adapter.command\"", c->id, d->name);
		return -1;
	}
	return 0;
}

static int
load_connection(struct loader *ld, const struct ynode *key,
    const struct ynode *map)
{
	struct ktx_config		*cfg = ld->cfg;
	struct ktx_connection		*c;
	const struct driver_info	*d;
	const struct ynode		*k, *v, *dn;
	char				 b[SHOW_SIZE], *id;
	size_t				 i;
	int				 rv;

	if (!valid_id(key)) {
		fail_node(ld, key, "invalid connection id %s: use up to %d"
		    " letters, digits, \"_\" and \"-\", starting with a letter"
		    " or digit", show(b, key), KTX_CONNECTION_ID_MAX);
		return -1;
	}
	id = key->value;
	if (map->type != YN_MAPPING) {
		fail_node(ld, map, "connection \"%s\" must be a mapping,"
		    " not %s", id, kind_of(map));
		return -1;
	}
	if ((dn = map_get(map, "driver")) == NULL) {
		fail_node(ld, key, "connection \"%s\" has no \"driver\"", id);
		return -1;
	}
	if (dn->type != YN_SCALAR || is_null(dn)) {
		fail_node(ld, dn, "\"driver\" of connection \"%s\" must be a"
		    " string, not %s", id, kind_of(dn));
		return -1;
	}
	if (strlen(dn->value) != dn->len ||
	    (d = driver_lookup(dn->value)) == NULL) {
		fail_node(ld, dn, "unknown driver %s for connection \"%s\""
		    " (known drivers: %s)", show(b, dn), id, driver_names());
		return -1;
	}

	cfg->connections = xreallocarray(cfg->connections,
	    cfg->nconnections + 1, sizeof(*cfg->connections));
	c = &cfg->connections[cfg->nconnections++];
	memset(c, 0, sizeof(*c));
	c->id = xstrdup(id);
	c->driver = xstrdup(d->name);
	c->kind = d->kind;
	c->line = key->line;
	c->column = key->column;

	for (i = 0; i < map->nkids; i += 2) {
		k = map->kids[i];
		v = map->kids[i + 1];
		rv = 0;
		if (text_is(k, "driver"))
			continue;
		if (text_is(k, "adapter"))
			rv = load_adapter(ld, c, k, v);
		else if (d->kind == DRIVER_DATABASE && text_is(k, "url"))
			rv = get_string(ld, v, c->id, "url", &c->url);
		else if (d->kind == DRIVER_DATABASE &&
		    text_is(k, "enabled_tables"))
			rv = get_strv(ld, v, c->id, "enabled_tables",
			    &c->enabled_tables);
		else if ((d->flags & DRV_SQLITE_PATH) && text_is(k, "path"))
			rv = get_string(ld, v, c->id, "path", &c->path);
		else if (d->kind == DRIVER_SOURCE && text_is(k, "source_dir"))
			rv = get_string(ld, v, c->id, "source_dir",
			    &c->source_dir);
		else if ((d->flags & DRV_MAPPINGS) && text_is(k, "mappings"))
			rv = load_mappings(ld, c, v);
		else if (text_in(k, d->remote_fields) != NULL) {
			if (c->remote_input == NULL)
				c->remote_input = text_in(k, d->remote_fields);
		} else if (!text_in(k, d->ktx_fields))
			warn_unknown(ld, k);
		if (rv == -1)
			return -1;
	}
	return check_required(ld, c, d, key);
}

static int
load_connections(struct loader *ld, const struct ynode *map)
{
	size_t	i;
	int	r;

	if ((r = get_block(ld, map, NULL, "connections")) <= 0)
		return r;
	for (i = 0; i < map->nkids; i += 2)
		if (load_connection(ld, map->kids[i], map->kids[i + 1]) == -1)
			return -1;
	return 0;
}

/*
 * "Name <email>", as git writes an identity: a name, an address in angle
 * brackets, nothing after it, and no control characters that could break
 * a commit header.
 */
static int
load_author(struct loader *ld, const struct ynode *n)
{
	struct ktx_config	*cfg = ld->cfg;
	char			*s = NULL, *name, *name_end, *lt, *gt, *p;
	int			 rv = -1;

	if (get_string(ld, n, NULL, "storage.git.author", &s) == -1)
		goto out;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			goto bad;
	lt = strchr(s, '<');
	gt = strchr(s, '>');
	if (lt == NULL || gt == NULL || gt[1] != '\0' || gt < lt + 2 ||
	    strchr(lt + 1, '<') != NULL)
		goto bad;
	name = s + strspn(s, " ");
	for (name_end = lt; name_end > name && name_end[-1] == ' '; name_end--)
		continue;
	if (name_end == name)
		goto bad;
	*name_end = '\0';
	*gt = '\0';
	free(cfg->author_name);
	cfg->author_name = xstrdup(name);
	free(cfg->author_email);
	cfg->author_email = xstrdup(lt + 1);
	rv = 0;
	goto out;
bad:
	fail_node(ld, n, "\"storage.git.author\" must be \"Name <email>\"");
out:
	free(s);
	return rv;
}

static int
load_storage(struct loader *ld, const struct ynode *map)
{
	const struct ynode	*k, *v, *git;
	size_t			 i;
	int			 r;

	if ((r = get_block(ld, map, NULL, "storage")) <= 0)
		return r;
	if ((git = map_get(map, "git")) == NULL)
		return 0;
	if ((r = get_block(ld, git, NULL, "storage.git")) <= 0)
		return r;
	for (i = 0; i < git->nkids; i += 2) {
		k = git->kids[i];
		v = git->kids[i + 1];
		if (text_is(k, "author")) {
			if (load_author(ld, v) == -1)
				return -1;
		} else
			warn_unknown(ld, k);
	}
	return 0;
}

static int
load_ingest_sources(struct loader *ld, const struct ynode *map)
{
	struct ktx_config	*cfg = ld->cfg;
	const struct ynode	*k, *v;
	size_t			 i;
	int			 r;

	if ((r = get_block(ld, map, NULL, "ingest.sources")) <= 0)
		return r;
	for (i = 0; i < map->nkids; i += 2) {
		k = map->kids[i];
		v = map->kids[i + 1];
		r = 0;
		if (text_is(k, "maxConcurrency"))
			r = get_int(ld, v, NULL,
			    "ingest.sources.maxConcurrency",
			    KTX_MAX_CONCURRENCY_MIN, KTX_MAX_CONCURRENCY_MAX,
			    &cfg->max_concurrency);
		else if (text_is(k, "timeoutSeconds"))
			r = get_int(ld, v, NULL,
			    "ingest.sources.timeoutSeconds", 1, INT_MAX,
			    &cfg->sources_timeout);
		else
			warn_unknown(ld, k);
		if (r == -1)
			return -1;
	}
	return 0;
}

static int
load_ingest_lock(struct loader *ld, const struct ynode *map)
{
	const struct ynode	*k, *v;
	size_t			 i;
	int			 r;

	if ((r = get_block(ld, map, NULL, "ingest.lock")) <= 0)
		return r;
	for (i = 0; i < map->nkids; i += 2) {
		k = map->kids[i];
		v = map->kids[i + 1];
		if (text_is(k, "maxHoldSeconds")) {
			if (get_int(ld, v, NULL, "ingest.lock.maxHoldSeconds",
			    1, INT_MAX, &ld->cfg->lock_max_hold) == -1)
				return -1;
		} else
			warn_unknown(ld, k);
	}
	return 0;
}

static int
load_ingest(struct loader *ld, const struct ynode *map)
{
	const struct ynode	*k, *v;
	size_t			 i;
	int			 r;

	if ((r = get_block(ld, map, NULL, "ingest")) <= 0)
		return r;
	for (i = 0; i < map->nkids; i += 2) {
		k = map->kids[i];
		v = map->kids[i + 1];
		r = 0;
		if (text_is(k, "sources"))
			r = load_ingest_sources(ld, v);
		else if (text_is(k, "lock"))
			r = load_ingest_lock(ld, v);
		else if (!text_in(k, ignored_ingest_blocks))
			warn_unknown(ld, k);
		if (r == -1)
			return -1;
	}
	return 0;
}

static int
load_root(struct loader *ld, const struct ynode *root)
{
	const struct ynode	*k, *v;
	size_t			 i;
	int			 r;

	if (root->type != YN_MAPPING) {
		fail_node(ld, root, "top level must be a mapping, not %s",
		    kind_of(root));
		return -1;
	}
	for (i = 0; i < root->nkids; i += 2) {
		k = root->kids[i];
		v = root->kids[i + 1];
		r = 0;
		if (text_is(k, "connections"))
			r = load_connections(ld, v);
		else if (text_is(k, "storage"))
			r = load_storage(ld, v);
		else if (text_is(k, "ingest"))
			r = load_ingest(ld, v);
		else if (!text_in(k, ignored_top_blocks))
			warn_unknown(ld, k);
		if (r == -1)
			return -1;
	}
	return 0;
}

static int
connection_cmp(const void *pa, const void *pb)
{
	const struct ktx_connection	*a = pa, *b = pb;

	return strcmp(a->id, b->id);
}

/* A metabase connection maps its databases onto a warehouse we know. */
static int
check_mapping_refs(struct loader *ld)
{
	const struct ktx_connection	*target;
	const struct mapping_ref	*ref;
	char				 b[SHOW_SIZE];
	size_t				 i;

	for (i = 0; i < ld->nrefs; i++) {
		ref = &ld->refs[i];
		target = config_find(ld->cfg, ref->node->value);
		if (target == NULL) {
			fail_node(ld, ref->node, "\"mappings.connection\" of"
			    " connection \"%s\" names no connection: %s",
			    ref->owner, show(b, ref->node));
			return -1;
		}
		if (target->kind != DRIVER_DATABASE) {
			fail_node(ld, ref->node, "\"mappings.connection\" of"
			    " connection \"%s\" names \"%s\", which is not a"
			    " database connection", ref->owner, target->id);
			return -1;
		}
	}
	return 0;
}

int
config_load(const char *path, struct ktx_config *cfg, char **errmsg)
{
	struct loader	 ld;
	unsigned char	*buf = NULL;
	size_t		 len = 0;
	int		 rv;

	memset(cfg, 0, sizeof(*cfg));
	memset(&ld, 0, sizeof(ld));
	ld.path = path;
	if (read_file(&ld, &buf, &len) == -1) {
		*errmsg = ld.errmsg;
		return -1;
	}
	rv = config_load_buf(path, (const char *)buf, len, cfg, errmsg);
	free(buf);
	return rv;
}

int
config_load_buf(const char *path, const char *text, size_t len,
    struct ktx_config *cfg, char **errmsg)
{
	const unsigned char *buf = (const unsigned char *)text;
	struct loader	 ld;
	struct ynode	*root = NULL;
	int		 rv = -1;

	memset(cfg, 0, sizeof(*cfg));
	memset(&ld, 0, sizeof(ld));
	*errmsg = NULL;
	ld.path = path;
	ld.cfg = cfg;
	cfg->path = xstrdup(path);
	cfg->author_name = xstrdup(KTX_DEFAULT_AUTHOR_NAME);
	cfg->author_email = xstrdup(KTX_DEFAULT_AUTHOR_EMAIL);
	cfg->max_concurrency = 1;
	cfg->sources_timeout = 0;
	cfg->lock_max_hold = KTX_DEFAULT_LOCK_MAX_HOLD;

	if (len > KTX_CONFIG_MAX_BYTES) {
		fail_file(&ld, "too large (more than %d bytes)",
		    KTX_CONFIG_MAX_BYTES);
		goto out;
	}
	if (len == 0) {
		fail_at(&ld, 1, 1, "empty file");
		goto out;
	}
	if (check_text(&ld, buf, len) == -1 ||
	    parse(&ld, buf, len, &root) == -1 ||
	    load_root(&ld, root) == -1)
		goto out;
	if (cfg->nconnections > 1)
		qsort(cfg->connections, cfg->nconnections,
		    sizeof(*cfg->connections), connection_cmp);
	if (check_mapping_refs(&ld) == -1)
		goto out;
	rv = 0;
out:
	if (rv == -1) {
		*errmsg = ld.errmsg;
		ld.errmsg = NULL;
		config_release(cfg);
	}
	node_free(root);
	free(ld.refs);
	return rv;
}

static void
connection_release(struct ktx_connection *c)
{
	free(c->id);
	free(c->driver);
	free(c->path);
	free(c->url);
	free(c->source_dir);
	strv_release(&c->enabled_tables);
	strv_release(&c->adapter_command);
	strv_release(&c->adapter_secrets);
	free(c->mappings_connection);
}

void
config_release(struct ktx_config *cfg)
{
	size_t	i;

	for (i = 0; i < cfg->nconnections; i++)
		connection_release(&cfg->connections[i]);
	free(cfg->connections);
	free(cfg->path);
	free(cfg->author_name);
	free(cfg->author_email);
	strv_release(&cfg->warnings);
	memset(cfg, 0, sizeof(*cfg));
}

const struct ktx_connection *
config_find(const struct ktx_config *cfg, const char *id)
{
	struct ktx_connection	key;

	if (cfg->nconnections == 0)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.id = (char *)(uintptr_t)id;
	return bsearch(&key, cfg->connections, cfg->nconnections,
	    sizeof(*cfg->connections), connection_cmp);
}
