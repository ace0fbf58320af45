/*
 * The semantic layer: loading, composing and querying the semantic-layer
 * files of a tree, and reading and writing manifest shards.
 *
 * Files are read as config.c reads ktx.yaml: libyaml's event parser builds
 * a small tree in which every node keeps the line and column where it
 * starts in the file, and the schema walkers below check that tree, so
 * every message carries a position in the user's file.  libcyaml is not
 * used: "tables:" and every "descriptions:" are maps whose keys are not
 * known up front (libcyaml issues #66 and #161), and its errors carry no
 * position.  Anchors and aliases are refused where they stand; nesting is
 * bounded while the file is read.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "sl.h"
#include "util.h"

/*
 * A small hash table from byte strings to pointers: open addressing,
 * linear probing, FNV-1a.  Keys are copied.
 */
struct ht_slot {
	char		*key;	/* NULL: empty */
	size_t		 len;
	uint64_t	 hash;
	void		*val;
};

struct ht {
	struct ht_slot	*slots;
	size_t		 cap;	/* a power of two, or 0 */
	size_t		 n;
};

static uint64_t
ht_hash(const void *key, size_t len)
{
	const unsigned char	*p = key;
	uint64_t		 h = 0xcbf29ce484222325ULL;
	size_t			 i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static struct ht_slot *
ht_find(const struct ht *ht, const void *key, size_t len, uint64_t h)
{
	struct ht_slot	*s;
	size_t		 i;

	for (i = h & (ht->cap - 1);; i = (i + 1) & (ht->cap - 1)) {
		s = &ht->slots[i];
		if (s->key == NULL || (s->hash == h && s->len == len &&
		    memcmp(s->key, key, len) == 0))
			return s;
	}
}

static void
ht_grow(struct ht *ht)
{
	struct ht_slot	*old = ht->slots, *s;
	size_t		 oldcap = ht->cap, i;

	ht->cap = oldcap ? oldcap * 2 : 64;
	ht->slots = xcalloc(ht->cap, sizeof(*ht->slots));
	for (i = 0; i < oldcap; i++) {
		if (old[i].key == NULL)
			continue;
		s = ht_find(ht, old[i].key, old[i].len, old[i].hash);
		*s = old[i];
	}
	free(old);
}

/* The value stored under key, or NULL. */
static void *
ht_get(const struct ht *ht, const void *key, size_t len)
{
	struct ht_slot	*s;

	if (ht->cap == 0)
		return NULL;
	s = ht_find(ht, key, len, ht_hash(key, len));
	return s->key != NULL ? s->val : NULL;
}

/* The slot of key's value, created (holding NULL) if need be. */
static void **
ht_slot(struct ht *ht, const void *key, size_t len)
{
	struct ht_slot	*s;
	uint64_t	 h = ht_hash(key, len);

	if ((ht->n + 1) * 4 > ht->cap * 3)
		ht_grow(ht);
	s = ht_find(ht, key, len, h);
	if (s->key == NULL) {
		s->key = xmalloc(len + 1);
		memcpy(s->key, key, len);
		s->key[len] = '\0';
		s->len = len;
		s->hash = h;
		s->val = NULL;
		ht->n++;
	}
	return &s->val;
}

static void
ht_release(struct ht *ht, void (*free_val)(void *))
{
	size_t	i;

	for (i = 0; i < ht->cap; i++) {
		if (ht->slots[i].key == NULL)
			continue;
		free(ht->slots[i].key);
		if (free_val != NULL)
			free_val(ht->slots[i].val);
	}
	free(ht->slots);
	memset(ht, 0, sizeof(*ht));
}

/* A key of two or three strings joined by NUL bytes.  Caller frees. */
static char *
key2(const char *a, const char *b, size_t *lenp)
{
	size_t	la = strlen(a), lb = strlen(b);
	char	*k = xmalloc(la + lb + 2);

	memcpy(k, a, la + 1);
	memcpy(k + la + 1, b, lb + 1);
	*lenp = la + lb + 1;
	return k;
}

static char *
key3(const char *a, const char *b, const char *c, size_t *lenp)
{
	size_t	la = strlen(a), lb = strlen(b), lc = strlen(c);
	char	*k = xmalloc(la + lb + lc + 3);

	memcpy(k, a, la + 1);
	memcpy(k + la + 1, b, lb + 1);
	memcpy(k + la + lb + 2, c, lc + 1);
	*lenp = la + lb + lc + 2;
	return k;
}

/*
 * The YAML tree.
 */
enum sl_node_type {
	SN_SCALAR,
	SN_SEQUENCE,
	SN_MAPPING
};

/*
 * A scalar's value is NUL-terminated, and len may count NULs written as
 * escapes; kids are a sequence's items, or a mapping's keys and values
 * in turn.
 */
struct sl_node {
	enum sl_node_type	  type;
	int			  line;
	int			  column;
	char			 *value;
	size_t			  len;
	int			  plain;	/* plain and untagged */
	struct sl_node		**kids;
	size_t			  nkids;
	size_t			  cap;
};

/* Recursion is bounded: trees are never deeper than SL_MAX_DEPTH. */
static void
node_free(struct sl_node *n)
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
node_add(struct sl_node *parent, struct sl_node *kid)
{
	if (parent->nkids == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->kids = xreallocarray(parent->kids, parent->cap,
		    sizeof(*parent->kids));
	}
	parent->kids[parent->nkids++] = kid;
}

static struct sl_node *
node_dup(const struct sl_node *n)
{
	struct sl_node	*d = xcalloc(1, sizeof(*d));
	size_t		 i;

	d->type = n->type;
	d->line = n->line;
	d->column = n->column;
	d->len = n->len;
	d->plain = n->plain;
	if (n->value != NULL) {
		d->value = xmalloc(n->len + 1);
		memcpy(d->value, n->value, n->len + 1);
	}
	for (i = 0; i < n->nkids; i++)
		node_add(d, node_dup(n->kids[i]));
	return d;
}

/* Where messages go while one file is read. */
struct ctx {
	const char	*path;		/* how messages name the file */
	struct strv	 errors;	/* "<path>:<l>:<c>: ..." */
	struct strv	 warnings;
	struct strv	 sources;	/* each error's source, or "" */
	const char	*source;	/* the one being read, or NULL */
};

static void
ctx_release(struct ctx *c)
{
	strv_release(&c->errors);
	strv_release(&c->warnings);
	strv_release(&c->sources);
}

static void
err_at(struct ctx *c, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void
err_at(struct ctx *c, int line, int column, const char *fmt, ...)
{
	char	*msg, *text;
	va_list	 ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	xasprintf(&text, "%s:%d:%d: %s", c->path, line, column,
	    msg != NULL ? msg : "(no memory for the message)");
	free(msg);
	strv_push_owned(&c->errors, text);
	strv_push(&c->sources, c->source != NULL ? c->source : "");
}

#define err_node(c, n, ...) err_at((c), (n)->line, (n)->column, __VA_ARGS__)

static void
warn_at(struct ctx *c, const struct sl_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
warn_at(struct ctx *c, const struct sl_node *n, const char *fmt, ...)
{
	char	*msg, *text;
	va_list	 ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	xasprintf(&text, "%s:%d:%d: %s", c->path, n->line, n->column,
	    msg != NULL ? msg : "(no memory for the message)");
	free(msg);
	strv_push_owned(&c->warnings, text);
}

/* A scalar for a message: quoted, control bytes escaped, cut short. */
#define SHOW_SIZE	96
static const char *
show(char *buf, const struct sl_node *n)
{
	size_t		i, o = 0;
	unsigned char	ch;

	if (n->type != SN_SCALAR) {
		snprintf(buf, SHOW_SIZE, "%s",
		    n->type == SN_MAPPING ? "a mapping" : "a list");
		return buf;
	}
	buf[o++] = '"';
	for (i = 0; i < n->len; i++) {
		ch = (unsigned char)n->value[i];
		if (o >= SHOW_SIZE - 10 && (ch & 0xc0) != 0x80) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			snprintf(buf + o, 5, "\\x%02x", ch);
			o += 4;
		} else
			buf[o++] = (char)ch;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* The tree under construction while events arrive. */
struct builder {
	struct ctx	*c;
	struct sl_node	*root;
	struct sl_node	*stack[SL_MAX_DEPTH];
	size_t		 depth;
	int		 ndocuments;
};

static struct sl_node *
node_new(enum sl_node_type type, const yaml_mark_t *mark)
{
	struct sl_node	*n = xcalloc(1, sizeof(*n));

	n->type = type;
	n->line = (int)mark->line + 1;
	n->column = (int)mark->column + 1;
	return n;
}

static int
builder_add(struct builder *b, struct sl_node *n, const yaml_char_t *anchor)
{
	struct sl_node	*parent;

	if (anchor != NULL) {
		err_node(b->c, n, "anchors and aliases are not allowed");
		node_free(n);
		return -1;
	}
	if (b->depth == 0)
		b->root = n;
	else {
		parent = b->stack[b->depth - 1];
		if (parent->type == SN_MAPPING && parent->nkids % 2 == 0 &&
		    n->type != SN_SCALAR) {
			err_node(b->c, n, "a mapping key must be a string");
			node_free(n);
			return -1;
		}
		node_add(parent, n);
	}
	if (n->type == SN_SCALAR)
		return 0;
	if (b->depth == SL_MAX_DEPTH) {
		err_node(b->c, n, "nested deeper than %d levels", SL_MAX_DEPTH);
		return -1;	/* attached: freed with the tree */
	}
	b->stack[b->depth++] = n;
	return 0;
}

static int
key_cmp(const void *pa, const void *pb)
{
	const struct sl_node	*a = *(const struct sl_node *const *)pa;
	const struct sl_node	*b = *(const struct sl_node *const *)pb;
	int			 r;

	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if ((r = memcmp(a->value, b->value, a->len)) != 0)
		return r;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return (a->column > b->column) - (a->column < b->column);
}

/* A key repeated in a mapping: sorted, so O(n log n) for any file. */
static int
check_duplicates(struct ctx *c, const struct sl_node *map)
{
	const struct sl_node	**keys;
	size_t			  i, nkeys = map->nkids / 2;
	int			  rv = 0;
	char			  b[SHOW_SIZE];

	if (nkeys < 2)
		return 0;
	keys = xreallocarray(NULL, nkeys, sizeof(*keys));
	for (i = 0; i < nkeys; i++)
		keys[i] = map->kids[2 * i];
	qsort(keys, nkeys, sizeof(*keys), key_cmp);
	for (i = 1; i < nkeys; i++) {
		if (keys[i]->len == keys[i - 1]->len &&
		    memcmp(keys[i]->value, keys[i - 1]->value,
		    keys[i]->len) == 0) {
			err_node(c, keys[i], "duplicate key %s (first at"
			    " %d:%d)", show(b, keys[i]), keys[i - 1]->line,
			    keys[i - 1]->column);
			rv = -1;
			break;
		}
	}
	free(keys);
	return rv;
}

/* libyaml reports a bad byte by offset only: find its line and column. */
static void
offset_position(const unsigned char *buf, size_t len, size_t off, int *line,
    int *column)
{
	size_t	i;

	*line = 1;
	*column = 1;
	for (i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*column = 1;
		} else if ((buf[i] & 0xc0) != 0x80)
			(*column)++;
	}
}

static void
yaml_failure(struct ctx *c, const yaml_parser_t *p, const unsigned char *buf,
    size_t len)
{
	const char	*problem;
	int		 line, column;

	problem = p->problem != NULL ? p->problem : "cannot be parsed";
	if (p->error == YAML_READER_ERROR) {
		offset_position(buf, len, p->problem_offset, &line, &column);
		err_at(c, line, column, "invalid YAML: %s", problem);
	} else if (p->context != NULL)
		err_at(c, (int)p->problem_mark.line + 1,
		    (int)p->problem_mark.column + 1,
		    "invalid YAML: %s (%s at %d:%d)", problem, p->context,
		    (int)p->context_mark.line + 1,
		    (int)p->context_mark.column + 1);
	else
		err_at(c, (int)p->problem_mark.line + 1,
		    (int)p->problem_mark.column + 1, "invalid YAML: %s",
		    problem);
}

/* Returns 1 at the end of the stream, 0 to go on, -1 on error. */
static int
builder_event(struct builder *b, const yaml_event_t *ev)
{
	struct sl_node	*n;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_DOCUMENT_START_EVENT:
		if (b->ndocuments++ > 0) {
			err_at(b->c, (int)ev->start_mark.line + 1,
			    (int)ev->start_mark.column + 1,
			    "more than one YAML document");
			return -1;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		err_at(b->c, (int)ev->start_mark.line + 1,
		    (int)ev->start_mark.column + 1,
		    "anchors and aliases are not allowed");
		return -1;
	case YAML_SCALAR_EVENT:
		n = node_new(SN_SCALAR, &ev->start_mark);
		n->len = ev->data.scalar.length;
		n->value = xmalloc(n->len + 1);
		memcpy(n->value, ev->data.scalar.value, n->len);
		n->value[n->len] = '\0';
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    ev->data.scalar.tag == NULL;
		return builder_add(b, n, ev->data.scalar.anchor);
	case YAML_SEQUENCE_START_EVENT:
		n = node_new(SN_SEQUENCE, &ev->start_mark);
		return builder_add(b, n, ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		n = node_new(SN_MAPPING, &ev->start_mark);
		return builder_add(b, n, ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		n = b->stack[--b->depth];
		if (n->type == SN_MAPPING)
			return check_duplicates(b->c, n);
		return 0;
	default:
		return 0;
	}
}

/* Parse buf into a tree; NULL (and an error in c) when it cannot be. */
static struct sl_node *
parse_yaml(struct ctx *c, const unsigned char *buf, size_t len)
{
	struct builder	 b;
	struct sl_node	*root = NULL;
	yaml_parser_t	 parser;
	yaml_event_t	 ev;
	int		 r = 0;

	memset(&b, 0, sizeof(b));
	b.c = c;
	if (!yaml_parser_initialize(&parser)) {
		err_at(c, 1, 1, "cannot initialise the YAML parser");
		return NULL;
	}
	yaml_parser_set_input_string(&parser, buf, len);
	while (r == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			yaml_failure(c, &parser, buf, len);
			r = -1;
			break;
		}
		r = builder_event(&b, &ev);
		yaml_event_delete(&ev);
	}
	if (r == 1 && b.root == NULL)
		err_at(c, 1, 1, "empty file");
	else if (r == 1) {
		root = b.root;
		b.root = NULL;
	}
	node_free(b.root);
	yaml_parser_delete(&parser);
	return root;
}

/*
 * Read a regular file of at most SL_FILE_MAX_BYTES.  0, 1 when it does not
 * exist, -1 with an error "<path>: ..." in c.
 */
static int
read_whole(struct ctx *c, const char *fspath, unsigned char **bufp,
    size_t *lenp)
{
	struct stat	 sb;
	unsigned char	*buf = NULL;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, rv = -1;
	char		*text;

	/* O_NOFOLLOW: a symlink could lead out of the repository. */
	fd = open(fspath, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd == -1) {
		if (errno == ENOENT)
			return 1;
		xasprintf(&text, "%s: %s", c->path, errno == ELOOP ?
		    "is a symbolic link" : strerror(errno));
		goto fail;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		xasprintf(&text, "%s: not a regular file", c->path);
		goto fail;
	}
	if (sb.st_size > SL_FILE_MAX_BYTES) {
		xasprintf(&text, "%s: too large (more than %d bytes)", c->path,
		    SL_FILE_MAX_BYTES);
		goto fail;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (len <= (size_t)sb.st_size) {
		n = read(fd, buf + len, (size_t)sb.st_size + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(&text, "%s: %s", c->path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > (size_t)sb.st_size) {
		xasprintf(&text, "%s: changed while it was read", c->path);
		goto fail;
	}
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	rv = 0;
	goto out;
fail:
	strv_push_owned(&c->errors, text);
	strv_push(&c->sources, c->source != NULL ? c->source : "");
out:
	free(buf);
	if (fd != -1)
		close(fd);
	return rv;
}

/*
 * Reading values.
 */

static int
text_is(const struct sl_node *n, const char *s)
{
	return n->type == SN_SCALAR && n->len == strlen(s) &&
	    memcmp(n->value, s, n->len) == 0;
}

static int
is_null(const struct sl_node *n)
{
	return n->type == SN_SCALAR && n->plain && (n->len == 0 ||
	    text_is(n, "~") || text_is(n, "null") || text_is(n, "Null") ||
	    text_is(n, "NULL"));
}

static const struct sl_node *
map_get(const struct sl_node *map, const char *key)
{
	size_t	i;

	for (i = 0; i + 1 < map->nkids; i += 2)
		if (text_is(map->kids[i], key))
			return map->kids[i + 1];
	return NULL;
}

static const char *
kind_of(const struct sl_node *n)
{
	if (n->type == SN_MAPPING)
		return "a mapping";
	if (n->type == SN_SEQUENCE)
		return "a list";
	if (is_null(n))
		return "null";
	return "a string";
}

/* A string: any non-null scalar without NUL bytes.  Caller frees. */
static char *
get_str(struct ctx *c, const struct sl_node *n, const char *field)
{
	if (n->type != SN_SCALAR || is_null(n)) {
		err_node(c, n, "\"%s\" must be a string, not %s", field,
		    kind_of(n));
		return NULL;
	}
	if (strlen(n->value) != n->len) {
		err_node(c, n, "\"%s\" must not contain a NUL character",
		    field);
		return NULL;
	}
	return xstrdup(n->value);
}

/* A non-empty string, or NULL after an error. */
static char *
get_name(struct ctx *c, const struct sl_node *n, const char *field)
{
	char	*s;

	if ((s = get_str(c, n, field)) != NULL && *s == '\0') {
		err_node(c, n, "\"%s\" must not be empty", field);
		free(s);
		s = NULL;
	}
	return s;
}

/* One of list; the entry of list, or NULL after an error. */
static const char *
get_enum(struct ctx *c, const struct sl_node *n, const char *field,
    const char *const *list)
{
	const char *const	*p;
	char			 b[SHOW_SIZE], names[256] = "";

	if (n->type == SN_SCALAR)
		for (p = list; *p != NULL; p++)
			if (text_is(n, *p))
				return *p;
	for (p = list; *p != NULL; p++) {
		if (p != list)
			strlcat(names, ", ", sizeof(names));
		strlcat(names, *p, sizeof(names));
	}
	err_node(c, n, "\"%s\" must be one of %s, not %s", field, names,
	    n->type == SN_SCALAR && !is_null(n) ? show(b, n) : kind_of(n));
	return NULL;
}

/* A YAML boolean; -1 after an error. */
static int
get_bool(struct ctx *c, const struct sl_node *n, const char *field)
{
	if (n->type == SN_SCALAR && n->plain) {
		if (text_is(n, "true") || text_is(n, "True") ||
		    text_is(n, "TRUE"))
			return 1;
		if (text_is(n, "false") || text_is(n, "False") ||
		    text_is(n, "FALSE"))
			return 0;
	}
	err_node(c, n, "\"%s\" must be true or false, not %s", field,
	    n->type == SN_SCALAR && !is_null(n) ? "a string" : kind_of(n));
	return -1;
}

static int
get_map(struct ctx *c, const struct sl_node *n, const char *field)
{
	if (n->type == SN_MAPPING)
		return 0;
	err_node(c, n, "\"%s\" must be a mapping, not %s", field, kind_of(n));
	return -1;
}

static int
get_seq(struct ctx *c, const struct sl_node *n, const char *field)
{
	if (n->type == SN_SEQUENCE)
		return 0;
	err_node(c, n, "\"%s\" must be a list, not %s", field, kind_of(n));
	return -1;
}

static const char *
desc_get_kv(const struct sl_desc *d, const char *key, size_t *idx)
{
	size_t	i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->v[i].key, key) == 0) {
			if (idx != NULL)
				*idx = i;
			return d->v[i].value;
		}
	return NULL;
}

const char *
sl_desc_get(const struct sl_desc *d, const char *key)
{
	return desc_get_kv(d, key, NULL);
}

void
sl_desc_set(struct sl_desc *d, const char *key, const char *value)
{
	size_t	i;

	if (desc_get_kv(d, key, &i) != NULL) {
		free(d->v[i].value);
		d->v[i].value = xstrdup(value);
		return;
	}
	d->v = xreallocarray(d->v, d->n + 1, sizeof(*d->v));
	d->v[d->n].key = xstrdup(key);
	d->v[d->n].value = xstrdup(value);
	d->n++;
}

void
sl_desc_release(struct sl_desc *d)
{
	size_t	i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].key);
		free(d->v[i].value);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* descriptions: a map of strings.  Adds to d. */
static int
get_desc(struct ctx *c, const struct sl_node *n, const char *field,
    struct sl_desc *d)
{
	char	*k, *v;
	size_t	 i;
	int	 rv = 0;

	if (get_map(c, n, field) == -1)
		return -1;
	for (i = 0; i < n->nkids; i += 2) {
		k = get_name(c, n->kids[i], field);
		v = get_str(c, n->kids[i + 1], field);
		if (k != NULL && v != NULL)
			sl_desc_set(d, k, v);
		else
			rv = -1;
		free(k);
		free(v);
	}
	return rv;
}

/* A list of non-empty strings.  Appends to out. */
static int
get_strlist(struct ctx *c, const struct sl_node *n, const char *field,
    struct strv *out)
{
	char	*s;
	size_t	 i;
	int	 rv = 0;

	if (get_seq(c, n, field) == -1)
		return -1;
	for (i = 0; i < n->nkids; i++) {
		if ((s = get_name(c, n->kids[i], field)) != NULL)
			strv_push_owned(out, s);
		else
			rv = -1;
	}
	return rv;
}

/* Whether key is one of list. */
static int
key_in(const struct sl_node *key, const char *const *list)
{
	for (; *list != NULL; list++)
		if (text_is(key, *list))
			return 1;
	return 0;
}

/* Strict objects: an unknown field is an error; 0 or -1. */
static int
check_fields(struct ctx *c, const struct sl_node *map, const char *what,
    const char *const *allowed, int strict)
{
	char	b[SHOW_SIZE];
	size_t	i;
	int	rv = 0;

	for (i = 0; i < map->nkids; i += 2) {
		if (key_in(map->kids[i], allowed))
			continue;
		if (strict) {
			err_node(c, map->kids[i], "unknown field %s in %s",
			    show(b, map->kids[i]), what);
			rv = -1;
		} else
			warn_at(c, map->kids[i], "unknown field %s in %s"
			    " (ignored)", show(b, map->kids[i]), what);
	}
	return rv;
}

static int
require(struct ctx *c, const struct sl_node *map, const char *what,
    const char *field, const struct sl_node **out)
{
	if ((*out = map_get(map, field)) != NULL)
		return 0;
	err_node(c, map, "%s has no \"%s\"", what, field);
	return -1;
}

static const char *const column_types[] = {
	"string", "number", "time", "boolean", NULL
};
static const char *const column_roles[] = { "time", "default", NULL };
static const char *const visibilities[] = {
	"public", "internal", "hidden", NULL
};
static const char *const relationships[] = {
	"many_to_one", "one_to_many", "one_to_one", NULL
};
static const char *const join_origins[] = {
	"formal", "inferred", "manual", NULL
};

/* Optional string field: replaces *out when present. */
static int
opt_str(struct ctx *c, const struct sl_node *map, const char *field,
    char **out)
{
	const struct sl_node	*v;
	char			*s;

	if ((v = map_get(map, field)) == NULL)
		return 0;
	if ((s = get_str(c, v, field)) == NULL)
		return -1;
	free(*out);
	*out = s;
	return 0;
}

static int
opt_enum(struct ctx *c, const struct sl_node *map, const char *field,
    const char *const *list, char **out)
{
	const struct sl_node	*v;
	const char		*e;

	if ((v = map_get(map, field)) == NULL)
		return 0;
	if ((e = get_enum(c, v, field, list)) == NULL)
		return -1;
	free(*out);
	*out = xstrdup(e);
	return 0;
}

static void
column_release(struct sl_column *col)
{
	free(col->name);
	free(col->type);
	free(col->role);
	free(col->visibility);
	free(col->expr);
	sl_desc_release(&col->descriptions);
}

static void
join_release(struct sl_join *j)
{
	free(j->to);
	free(j->on);
	free(j->relationship);
	free(j->origin);
	free(j->alias);
}

static void
measure_release(struct sl_measure *m)
{
	free(m->name);
	free(m->expr);
	free(m->filter);
	free(m->description);
}

static void
segment_release(struct sl_segment *s)
{
	free(s->name);
	free(s->expr);
	free(s->description);
}

static void
source_release(struct sl_source *s)
{
	size_t	i;

	free(s->conn);
	free(s->name);
	free(s->table);
	free(s->sql);
	sl_desc_release(&s->descriptions);
	strv_release(&s->grain);
	for (i = 0; i < s->ncolumns; i++)
		column_release(&s->columns[i]);
	free(s->columns);
	for (i = 0; i < s->njoins; i++)
		join_release(&s->joins[i]);
	free(s->joins);
	for (i = 0; i < s->nmeasures; i++)
		measure_release(&s->measures[i]);
	free(s->measures);
	for (i = 0; i < s->nsegments; i++)
		segment_release(&s->segments[i]);
	free(s->segments);
	free(s->default_time_dimension);
	memset(s, 0, sizeof(*s));
}

static struct sl_pos
pos_of(const char *path, const struct sl_node *n)
{
	struct sl_pos	p;

	p.path = path;
	p.line = n->line;
	p.column = n->column;
	return p;
}

/*
 * Items of the standalone and overlay schemas.  Each reader fills one item
 * and returns 0, or -1 after at least one error.
 */
enum column_schema {
	COLUMN_STANDALONE,	/* name, type?, role?, ... */
	COLUMN_COMPUTED,	/* overlay "columns": name, type and expr */
	COLUMN_OVERRIDE,	/* overlay "column_overrides" */
	COLUMN_MANIFEST		/* name, type?, pk?, nullable?, ... */
};

static const char *const standalone_column_fields[] = {
	"name", "type", "role", "visibility", "descriptions", "expr",
	"natural_granularity", "constraints", "enum_values", "tests", NULL
};
static const char *const computed_column_fields[] = {
	"name", "type", "expr", "role", "visibility", "descriptions", NULL
};
static const char *const override_column_fields[] = {
	"name", "role", "visibility", "descriptions", "constraints",
	"enum_values", "tests", NULL
};
static const char *const manifest_column_fields[] = {
	"name", "type", "pk", "nullable", "descriptions", NULL
};

static int
read_column(struct ctx *c, const struct sl_node *n, enum column_schema schema,
    struct sl_column *col)
{
	static const char *const *fields[] = {
		standalone_column_fields, computed_column_fields,
		override_column_fields, manifest_column_fields
	};
	const struct sl_node	*v;
	int			 rv = 0, b;

	memset(col, 0, sizeof(*col));
	col->pos = pos_of(c->path, n);
	if (get_map(c, n, "columns") == -1)
		return -1;
	if (check_fields(c, n, "a column", fields[schema],
	    schema != COLUMN_MANIFEST) == -1)
		rv = -1;
	if (require(c, n, "a column", "name", &v) == -1 ||
	    (col->name = get_name(c, v, "name")) == NULL)
		rv = -1;
	if (schema != COLUMN_OVERRIDE &&
	    opt_enum(c, n, "type", column_types, &col->type) == -1)
		rv = -1;
	if (schema == COLUMN_COMPUTED && (map_get(n, "type") == NULL ||
	    map_get(n, "expr") == NULL)) {
		err_node(c, n, "a computed column needs \"type\" and \"expr\"");
		rv = -1;
	}
	if (schema != COLUMN_MANIFEST &&
	    (opt_enum(c, n, "role", column_roles, &col->role) == -1 ||
	    opt_enum(c, n, "visibility", visibilities, &col->visibility) == -1))
		rv = -1;
	if ((schema == COLUMN_STANDALONE || schema == COLUMN_COMPUTED) &&
	    opt_str(c, n, "expr", &col->expr) == -1)
		rv = -1;
	if ((v = map_get(n, "descriptions")) != NULL &&
	    get_desc(c, v, "descriptions", &col->descriptions) == -1)
		rv = -1;
	if (schema == COLUMN_MANIFEST) {
		if ((v = map_get(n, "pk")) != NULL) {
			if ((b = get_bool(c, v, "pk")) == -1)
				rv = -1;
			col->pk = b == 1;
		}
		if ((v = map_get(n, "nullable")) != NULL) {
			if ((b = get_bool(c, v, "nullable")) == -1)
				rv = -1;
			col->notnull = b == 0;
		}
	}
	return rv;
}

static int
read_join(struct ctx *c, const struct sl_node *n, int manifest,
    struct sl_join *j)
{
	static const char *const join_fields[] = {
		"to", "on", "relationship", "alias", NULL
	};
	static const char *const manifest_join_fields[] = {
		"to", "on", "relationship", "source", NULL
	};
	const struct sl_node	*v;
	int			 rv = 0;

	memset(j, 0, sizeof(*j));
	j->pos = pos_of(c->path, n);
	if (get_map(c, n, "joins") == -1)
		return -1;
	if (check_fields(c, n, "a join", manifest ? manifest_join_fields :
	    join_fields, !manifest) == -1)
		rv = -1;
	if (require(c, n, "a join", "to", &v) == -1 ||
	    (j->to = get_name(c, v, "to")) == NULL)
		rv = -1;
	if (require(c, n, "a join", "on", &v) == -1 ||
	    (j->on = get_name(c, v, "on")) == NULL)
		rv = -1;
	if (require(c, n, "a join", "relationship", &v) == -1 ||
	    opt_enum(c, n, "relationship", relationships,
	    &j->relationship) == -1)
		rv = -1;
	if (manifest && opt_enum(c, n, "source", join_origins,
	    &j->origin) == -1)
		rv = -1;
	if (!manifest && opt_str(c, n, "alias", &j->alias) == -1)
		rv = -1;
	return rv;
}

static int
read_measure(struct ctx *c, const struct sl_node *n, struct sl_measure *m)
{
	static const char *const fields[] = {
		"name", "expr", "filter", "segments", "description", NULL
	};
	const struct sl_node	*v;
	struct strv		 segs = { 0 };
	int			 rv = 0;

	memset(m, 0, sizeof(*m));
	m->pos = pos_of(c->path, n);
	if (get_map(c, n, "measures") == -1)
		return -1;
	if (check_fields(c, n, "a measure", fields, 1) == -1)
		rv = -1;
	if (require(c, n, "a measure", "name", &v) == -1 ||
	    (m->name = get_name(c, v, "name")) == NULL)
		rv = -1;
	if (require(c, n, "a measure", "expr", &v) == -1 ||
	    (m->expr = get_name(c, v, "expr")) == NULL)
		rv = -1;
	if (opt_str(c, n, "filter", &m->filter) == -1 ||
	    opt_str(c, n, "description", &m->description) == -1)
		rv = -1;
	if ((v = map_get(n, "segments")) != NULL &&
	    get_strlist(c, v, "segments", &segs) == -1)
		rv = -1;
	strv_release(&segs);
	return rv;
}

static int
read_segment(struct ctx *c, const struct sl_node *n, struct sl_segment *s)
{
	static const char *const fields[] = {
		"name", "expr", "description", NULL
	};
	const struct sl_node	*v;
	int			 rv = 0;

	memset(s, 0, sizeof(*s));
	s->pos = pos_of(c->path, n);
	if (get_map(c, n, "segments") == -1)
		return -1;
	if (check_fields(c, n, "a segment", fields, 1) == -1)
		rv = -1;
	if (require(c, n, "a segment", "name", &v) == -1 ||
	    (s->name = get_name(c, v, "name")) == NULL)
		rv = -1;
	if (require(c, n, "a segment", "expr", &v) == -1 ||
	    (s->expr = get_name(c, v, "expr")) == NULL)
		rv = -1;
	if (opt_str(c, n, "description", &s->description) == -1)
		rv = -1;
	return rv;
}

/* Lists of items: each good item is kept, bad ones are reported. */
static int
read_columns(struct ctx *c, const struct sl_node *n, enum column_schema schema,
    struct sl_column **out, size_t *nout)
{
	size_t	i;
	int	rv = 0;

	if (get_seq(c, n, "columns") == -1)
		return -1;
	*out = xreallocarray(*out, *nout + n->nkids, sizeof(**out));
	for (i = 0; i < n->nkids; i++) {
		if (read_column(c, n->kids[i], schema, &(*out)[*nout]) == 0)
			(*nout)++;
		else {
			column_release(&(*out)[*nout]);
			rv = -1;
		}
	}
	return rv;
}

static int
read_joins(struct ctx *c, const struct sl_node *n, int manifest,
    struct sl_join **out, size_t *nout)
{
	size_t	i;
	int	rv = 0;

	if (get_seq(c, n, "joins") == -1)
		return -1;
	*out = xreallocarray(*out, *nout + n->nkids, sizeof(**out));
	for (i = 0; i < n->nkids; i++) {
		if (read_join(c, n->kids[i], manifest, &(*out)[*nout]) == 0)
			(*nout)++;
		else {
			join_release(&(*out)[*nout]);
			rv = -1;
		}
	}
	return rv;
}

static int
read_measures(struct ctx *c, const struct sl_node *n, struct sl_source *s)
{
	size_t	i;
	int	rv = 0;

	if (get_seq(c, n, "measures") == -1)
		return -1;
	s->measures = xreallocarray(s->measures, s->nmeasures + n->nkids,
	    sizeof(*s->measures));
	for (i = 0; i < n->nkids; i++) {
		if (read_measure(c, n->kids[i],
		    &s->measures[s->nmeasures]) == 0)
			s->nmeasures++;
		else {
			measure_release(&s->measures[s->nmeasures]);
			rv = -1;
		}
	}
	return rv;
}

static int
read_segments(struct ctx *c, const struct sl_node *n, struct sl_source *s)
{
	size_t	i;
	int	rv = 0;

	if (get_seq(c, n, "segments") == -1)
		return -1;
	s->segments = xreallocarray(s->segments, s->nsegments + n->nkids,
	    sizeof(*s->segments));
	for (i = 0; i < n->nkids; i++) {
		if (read_segment(c, n->kids[i],
		    &s->segments[s->nsegments]) == 0)
			s->nsegments++;
		else {
			segment_release(&s->segments[s->nsegments]);
			rv = -1;
		}
	}
	return rv;
}

/* grain: unqualified column names. */
static int
read_grain(struct ctx *c, const struct sl_node *n, int required,
    struct strv *grain)
{
	size_t	i;
	int	rv;

	rv = get_strlist(c, n, "grain", grain);
	if (rv == 0 && required && grain->n == 0) {
		err_node(c, n, "\"grain\" must name at least one column");
		rv = -1;
	}
	for (i = 0; rv == 0 && i < grain->n; i++)
		if (strchr(grain->v[i], '.') != NULL) {
			err_node(c, n->kids[i], "\"grain\" names columns"
			    " without a table: \"%s\"", grain->v[i]);
			rv = -1;
		}
	return rv;
}

/*
 * Manifest shards.
 */

static void
shard_table_release(struct sl_shard_table *t)
{
	size_t	k;

	free(t->key);
	free(t->table);
	sl_desc_release(&t->descriptions);
	node_free(t->usage);
	for (k = 0; k < t->ncolumns; k++)
		column_release(&t->columns[k]);
	free(t->columns);
	for (k = 0; k < t->njoins; k++)
		join_release(&t->joins[k]);
	free(t->joins);
	memset(t, 0, sizeof(*t));
}

void
sl_shard_release(struct sl_shard *shard)
{
	size_t	i;

	for (i = 0; i < shard->ntables; i++)
		shard_table_release(&shard->tables[i]);
	free(shard->tables);
	memset(shard, 0, sizeof(*shard));
}

struct sl_shard_table *
sl_shard_add_table(struct sl_shard *shard, const char *key, const char *table)
{
	struct sl_shard_table	*t;

	shard->tables = xreallocarray(shard->tables, shard->ntables + 1,
	    sizeof(*shard->tables));
	t = &shard->tables[shard->ntables++];
	memset(t, 0, sizeof(*t));
	t->key = xstrdup(key);
	t->table = xstrdup(table);
	return t;
}

struct sl_column *
sl_shard_add_column(struct sl_shard_table *t, const char *name,
    const char *type)
{
	struct sl_column	*col;

	t->columns = xreallocarray(t->columns, t->ncolumns + 1,
	    sizeof(*t->columns));
	col = &t->columns[t->ncolumns++];
	memset(col, 0, sizeof(*col));
	col->name = xstrdup(name);
	col->type = type != NULL ? xstrdup(type) : NULL;
	return col;
}

static struct sl_join *
join_append(struct sl_join **joins, size_t *njoins, const char *to,
    const char *on, const char *relationship, const char *origin)
{
	struct sl_join	*j;

	*joins = xreallocarray(*joins, *njoins + 1, sizeof(**joins));
	j = &(*joins)[(*njoins)++];
	memset(j, 0, sizeof(*j));
	j->to = xstrdup(to);
	j->on = xstrdup(on);
	j->relationship = xstrdup(relationship);
	j->origin = origin != NULL ? xstrdup(origin) : NULL;
	return j;
}

struct sl_join *
sl_shard_add_join(struct sl_shard_table *t, const char *to, const char *on,
    const char *relationship, const char *origin)
{
	return join_append(&t->joins, &t->njoins, to, on, relationship,
	    origin);
}

static int
read_shard_entry(struct ctx *c, const struct sl_node *key,
    const struct sl_node *n, struct sl_shard_table *t)
{
	static const char *const fields[] = {
		"table", "descriptions", "usage", "columns", "joins", NULL
	};
	const struct sl_node	*v;
	int			 rv = 0;

	memset(t, 0, sizeof(*t));
	t->line = key->line;
	t->column = key->column;
	if ((t->key = get_name(c, key, "tables")) == NULL)
		return -1;
	c->source = t->key;
	if (get_map(c, n, t->key) == -1) {
		rv = -1;
		goto out;
	}
	if (check_fields(c, n, "a manifest entry", fields, 0) == -1)
		rv = -1;
	if ((v = map_get(n, "table")) == NULL) {
		err_node(c, key, "manifest entry \"%s\" has no \"table\"",
		    t->key);
		rv = -1;
	} else if ((t->table = get_name(c, v, "table")) == NULL)
		rv = -1;
	if ((v = map_get(n, "descriptions")) != NULL &&
	    get_desc(c, v, "descriptions", &t->descriptions) == -1)
		rv = -1;
	if ((v = map_get(n, "usage")) != NULL && !is_null(v))
		t->usage = node_dup(v);
	if ((v = map_get(n, "columns")) != NULL &&
	    read_columns(c, v, COLUMN_MANIFEST, &t->columns,
	    &t->ncolumns) == -1)
		rv = -1;
	if ((v = map_get(n, "joins")) != NULL &&
	    read_joins(c, v, 1, &t->joins, &t->njoins) == -1)
		rv = -1;
out:
	c->source = NULL;
	return rv;
}

/*
 * A shard's entries; an entry with errors is left out (its errors stay in
 * c), but its key, like every other, goes to keys when keys is not NULL.
 * Returns -1 when anything was wrong.
 */
static int
read_shard(struct ctx *c, const struct sl_node *root, struct sl_shard *shard,
    struct strv *keys)
{
	static const char *const fields[] = { "tables", NULL };
	const struct sl_node	*tables;
	struct sl_shard_table	 t;
	size_t			 i;
	int			 rv = 0;

	if (root->type != SN_MAPPING) {
		err_node(c, root, "a manifest shard must be a mapping, not %s",
		    kind_of(root));
		return -1;
	}
	if (check_fields(c, root, "a manifest shard", fields, 0) == -1)
		rv = -1;
	if ((tables = map_get(root, "tables")) == NULL || is_null(tables))
		return rv;
	if (get_map(c, tables, "tables") == -1)
		return -1;
	for (i = 0; i < tables->nkids; i += 2) {
		if (keys != NULL && tables->kids[i]->len > 0 &&
		    strlen(tables->kids[i]->value) == tables->kids[i]->len)
			strv_push(keys, tables->kids[i]->value);
		if (read_shard_entry(c, tables->kids[i], tables->kids[i + 1],
		    &t) == -1) {
			shard_table_release(&t);
			rv = -1;
			continue;
		}
		shard->tables = xreallocarray(shard->tables,
		    shard->ntables + 1, sizeof(*shard->tables));
		shard->tables[shard->ntables++] = t;
	}
	return rv;
}

/*
 * Standalone sources and overlays.
 */
static const char *const standalone_fields[] = {
	"name", "descriptions", "source_type", "table", "sql",
	"inherits_columns_from", "grain", "columns", "joins", "measures",
	"segments", "default_time_dimension", "tags", "freshness", "usage",
	NULL
};
static const char *const overlay_fields[] = {
	"name", "descriptions", "grain", "columns", "column_overrides",
	"joins", "measures", "segments", "exclude_columns", "disable_joins",
	"default_time_dimension", "usage", NULL
};

/* What one standalone or overlay file holds. */
struct sfile {
	struct sl_source	 src;		/* an overlay's own */
	int			 has_grain;
	char			*inherits;
	struct sl_pos		 inherits_pos;
	struct sl_column	*overrides;	/* column_overrides */
	size_t			 noverrides;
	struct strv		 exclude;	/* exclude_columns */
	struct strv		 disable;	/* disable_joins */
};

static void
sfile_release(struct sfile *f)
{
	size_t	i;

	source_release(&f->src);
	free(f->inherits);
	for (i = 0; i < f->noverrides; i++)
		column_release(&f->overrides[i]);
	free(f->overrides);
	strv_release(&f->exclude);
	strv_release(&f->disable);
	memset(f, 0, sizeof(*f));
}

/*
 * Read a standalone or overlay file's root.  What could be read is kept in
 * f even after errors; *kind tells which schema the file follows.
 */
static int
read_source_file(struct ctx *c, const struct sl_node *root,
    enum sl_file_kind *kind, struct sfile *f)
{
	static const char *const source_types[] = { "table", "sql", NULL };
	const struct sl_node	*v, *tn, *qn;
	struct sl_source	*s = &f->src;
	int			 rv = 0, standalone;

	if (root->type != SN_MAPPING) {
		err_node(c, root, "a semantic-layer source must be a mapping,"
		    " not %s", kind_of(root));
		*kind = SL_FILE_UNREADABLE;
		return -1;
	}
	tn = map_get(root, "table");
	qn = map_get(root, "sql");
	standalone = tn != NULL || qn != NULL;
	*kind = standalone ? SL_FILE_STANDALONE : SL_FILE_OVERLAY;
	s->kind = SL_SOURCE_STANDALONE;
	if ((v = map_get(root, "name")) == NULL) {
		err_node(c, root, "a semantic-layer source has no \"name\"");
		return -1;
	}
	if ((s->name = get_name(c, v, "name")) == NULL)
		return -1;
	s->pos = pos_of(c->path, v);
	c->source = s->name;
	if (check_fields(c, root, standalone ? "a standalone source" :
	    "an overlay", standalone ? standalone_fields : overlay_fields,
	    1) == -1)
		rv = -1;
	if (tn != NULL && qn != NULL) {
		err_node(c, qn, "a source has either \"table\" or \"sql\","
		    " not both");
		rv = -1;
	}
	if (tn != NULL && (s->table = get_name(c, tn, "table")) == NULL)
		rv = -1;
	if (qn != NULL && tn == NULL &&
	    (s->sql = get_name(c, qn, "sql")) == NULL)
		rv = -1;
	if ((v = map_get(root, "source_type")) != NULL &&
	    get_enum(c, v, "source_type", source_types) == NULL)
		rv = -1;
	if ((v = map_get(root, "descriptions")) != NULL &&
	    get_desc(c, v, "descriptions", &s->descriptions) == -1)
		rv = -1;
	if ((v = map_get(root, "grain")) != NULL) {
		f->has_grain = 1;
		if (read_grain(c, v, standalone, &s->grain) == -1)
			rv = -1;
	} else if (standalone) {
		err_node(c, root, "a standalone source has no \"grain\"");
		rv = -1;
	}
	if ((v = map_get(root, "columns")) != NULL) {
		if (read_columns(c, v, standalone ? COLUMN_STANDALONE :
		    COLUMN_COMPUTED, &s->columns, &s->ncolumns) == -1)
			rv = -1;
		else if (standalone && s->ncolumns == 0) {
			err_node(c, v, "\"columns\" must list at least one"
			    " column");
			rv = -1;
		}
	} else if (standalone) {
		err_node(c, root, "a standalone source has no \"columns\"");
		rv = -1;
	}
	if ((v = map_get(root, "joins")) != NULL &&
	    read_joins(c, v, 0, &s->joins, &s->njoins) == -1)
		rv = -1;
	if ((v = map_get(root, "measures")) != NULL &&
	    read_measures(c, v, s) == -1)
		rv = -1;
	if ((v = map_get(root, "segments")) != NULL &&
	    read_segments(c, v, s) == -1)
		rv = -1;
	if (opt_str(c, root, "default_time_dimension",
	    &s->default_time_dimension) == -1)
		rv = -1;
	if ((v = map_get(root, "tags")) != NULL) {
		struct strv	tags = { 0 };

		if (get_strlist(c, v, "tags", &tags) == -1)
			rv = -1;
		strv_release(&tags);
	}
	if ((v = map_get(root, "inherits_columns_from")) != NULL) {
		if ((f->inherits = get_name(c, v,
		    "inherits_columns_from")) == NULL)
			rv = -1;
		f->inherits_pos = pos_of(c->path, v);
	}
	if ((v = map_get(root, "column_overrides")) != NULL &&
	    read_columns(c, v, COLUMN_OVERRIDE, &f->overrides,
	    &f->noverrides) == -1)
		rv = -1;
	if ((v = map_get(root, "exclude_columns")) != NULL &&
	    get_strlist(c, v, "exclude_columns", &f->exclude) == -1)
		rv = -1;
	if ((v = map_get(root, "disable_joins")) != NULL &&
	    get_strlist(c, v, "disable_joins", &f->disable) == -1)
		rv = -1;
	c->source = NULL;
	return rv;
}

/*
 * Loading a tree.
 */

/*
 * Keys join their parts with NUL bytes.  conns: conn -> 1; files: path ->
 * struct sl_file *; src: conn, name -> struct sl_source *, src_any: name
 * -> the first such source in conn order, and the same with the name in
 * lower case; entities: conn, source, entity -> SL_ENTITY_* mask; tables:
 * conn, ref -> 1 and ref -> 1 (refs normalized); errors: conn, source ->
 * struct strv * of texts; orphans: conn, name -> struct sl_orphan *.
 */
struct sl_index {
	struct ht	conns;
	struct ht	files;
	struct ht	src;
	struct ht	src_any;
	struct ht	src_nocase;
	struct ht	src_nocase_any;
	struct ht	entities;
	struct ht	tables;
	struct ht	tables_any;
	struct ht	errors;
	struct ht	orphans;
};

/* One parsed file: a shard, or a standalone or overlay source. */
struct parsed {
	struct sl_shard	shard;
	struct sfile	sf;
};

/* A name and every place that declares it in one connection. */
struct decl {
	const char	*conn;
	const char	*name;
	size_t		*shards;	/* file indexes of shards */
	size_t		*entries;	/* the entry in each shard */
	size_t		 nshards;
	size_t		*files;		/* the other files */
	size_t		 nfiles;
};

struct loader {
	struct sl	*sl;
	struct parsed	*parsed;	/* one per sl->files entry */
	struct decl	*decls;
	size_t		 ndecls;
	struct ht	 decl_index;	/* conn, name -> index+1 */
	size_t		 capsources;
};

static void
add_error(struct sl *sl, const char *conn, const char *path,
    const char *source, char *text)
{
	struct sl_error	*e;

	sl->errors = xreallocarray(sl->errors, sl->nerrors + 1,
	    sizeof(*sl->errors));
	e = &sl->errors[sl->nerrors++];
	e->conn = xstrdup(conn);
	e->path = xstrdup(path);
	e->source = source != NULL && *source != '\0' ? xstrdup(source) : NULL;
	e->text = text;
}

static void
add_error_at(struct sl *sl, const char *conn, const struct sl_pos *pos,
    const char *source, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void
add_error_at(struct sl *sl, const char *conn, const struct sl_pos *pos,
    const char *source, const char *fmt, ...)
{
	char	*msg, *text;
	va_list	 ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	xasprintf(&text, "%s:%d:%d: %s", pos->path, pos->line, pos->column,
	    msg != NULL ? msg : "(no memory for the message)");
	free(msg);
	add_error(sl, conn, pos->path, source, text);
}

static int
has_suffix(const char *s, const char *suffix)
{
	size_t	ls = strlen(s), lx = strlen(suffix);

	return ls > lx && strcmp(s + ls - lx, suffix) == 0;
}

static int
strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The names in a directory, sorted, hidden ones left out.  0, 1 when it
 * does not exist, -1 with *errmsg.
 */
static int
list_dir(const char *dir, const char *shown, struct strv *out, char **errmsg)
{
	DIR		*d;
	struct dirent	*de;

	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		xasprintf(errmsg, "%s: cannot list: %s", shown,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			strv_push(out, de->d_name);
	closedir(d);
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), strp_cmp);
	return 0;
}

static int
is_dir_nofollow(const char *path)
{
	struct stat	sb;

	return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The .yaml/.yml files of each semantic-layer/<conn>/ and its _schema/. */
static int
gather_files(struct sl *sl, struct strv *paths, struct strv *conns,
    char **errmsg)
{
	struct strv	 cdirs = { 0 }, names = { 0 }, shards = { 0 };
	char		*top = NULL, *cdir = NULL, *sdir = NULL;
	char		*shown = NULL;
	char		*p;
	size_t		 i, k, m;
	int		 rv = -1;

	xasprintf(&top, "%s/%s", sl->root, SL_DIR);
	if (list_dir(top, SL_DIR, &cdirs, errmsg) == -1)
		goto out;
	for (i = 0; i < cdirs.n; i++) {
		free(cdir);
		xasprintf(&cdir, "%s/%s", top, cdirs.v[i]);
		if (!is_dir_nofollow(cdir))
			continue;
		strv_push(conns, cdirs.v[i]);
		strv_release(&names);
		free(shown);
		xasprintf(&shown, "%s/%s", SL_DIR, cdirs.v[i]);
		if (list_dir(cdir, shown, &names, errmsg) == -1)
			goto out;
		for (k = 0; k < names.n; k++) {
			if (has_suffix(names.v[k], ".yaml") ||
			    has_suffix(names.v[k], ".yml")) {
				xasprintf(&p, "%s/%s/%s", SL_DIR, cdirs.v[i],
				    names.v[k]);
				strv_push_owned(paths, p);
				continue;
			}
			if (strcmp(names.v[k], SL_SCHEMA_DIR) != 0)
				continue;
			free(sdir);
			xasprintf(&sdir, "%s/%s", cdir, SL_SCHEMA_DIR);
			if (!is_dir_nofollow(sdir))
				continue;
			strv_release(&shards);
			free(shown);
			xasprintf(&shown, "%s/%s/%s", SL_DIR, cdirs.v[i],
			    SL_SCHEMA_DIR);
			if (list_dir(sdir, shown, &shards, errmsg) == -1)
				goto out;
			for (m = 0; m < shards.n; m++) {
				if (!has_suffix(shards.v[m], ".yaml"))
					continue;
				xasprintf(&p, "%s/%s/%s/%s", SL_DIR,
				    cdirs.v[i], SL_SCHEMA_DIR, shards.v[m]);
				strv_push_owned(paths, p);
			}
		}
	}
	if (paths->n > 1)
		qsort(paths->v, paths->n, sizeof(*paths->v), strp_cmp);
	rv = 0;
out:
	strv_release(&cdirs);
	strv_release(&names);
	strv_release(&shards);
	free(top);
	free(cdir);
	free(sdir);
	free(shown);
	return rv;
}

/* "semantic-layer/<conn>/_schema/x.yaml" is a shard. */
static int
is_shard_path(const char *path)
{
	const char	*p = path + strlen(SL_DIR) + 1;

	p = strchr(p, '/');
	return p != NULL && strncmp(p + 1, SL_SCHEMA_DIR "/",
	    strlen(SL_SCHEMA_DIR) + 1) == 0;
}

/*
 * Parse one file into ld->parsed[i], its text t, or the file itself when t
 * is NULL; collect its messages.
 */
static void
load_file(struct loader *ld, size_t i, const struct sl_text *t)
{
	struct sl	*sl = ld->sl;
	struct sl_file	*f = &sl->files[i];
	struct parsed	*pf = &ld->parsed[i];
	struct ctx	 c;
	struct sl_node	*root = NULL;
	unsigned char	*buf = NULL;
	char		*fspath = NULL, *text;
	size_t		 len, k;
	int		 r;

	memset(&c, 0, sizeof(c));
	c.path = f->path;
	f->kind = SL_FILE_UNREADABLE;
	if (t == NULL) {
		xasprintf(&fspath, "%s/%s", sl->root, f->path);
		if ((r = read_whole(&c, fspath, &buf, &len)) == 1) {
			/* Removed since the directory was listed. */
			xasprintf(&text, "%s: no such file", f->path);
			strv_push_owned(&c.errors, text);
			strv_push(&c.sources, "");
		}
		if (r != 0)
			goto out;
		root = parse_yaml(&c, buf, len);
	} else
		root = parse_yaml(&c, (const unsigned char *)t->buf, t->len);
	if (root == NULL)
		goto out;
	if (is_shard_path(f->path)) {
		f->kind = SL_FILE_SHARD;
		read_shard(&c, root, &pf->shard, &f->names);
	} else {
		read_source_file(&c, root, &f->kind, &pf->sf);
		if (pf->sf.src.name != NULL)
			strv_push(&f->names, pf->sf.src.name);
		else
			f->kind = SL_FILE_UNREADABLE;
	}
out:
	for (k = 0; k < c.errors.n; k++) {
		add_error(sl, f->conn, f->path, c.sources.v[k], c.errors.v[k]);
		c.errors.v[k] = NULL;
	}
	c.errors.n = 0;
	for (k = 0; k < c.warnings.n; k++)
		strv_push(&sl->warnings, c.warnings.v[k]);
	ctx_release(&c);
	node_free(root);
	free(buf);
	free(fspath);
}

static struct decl *
decl_get(struct loader *ld, const char *conn, const char *name)
{
	struct decl	*d;
	void		**slot;
	char		*k;
	size_t		 klen;

	k = key2(conn, name, &klen);
	slot = ht_slot(&ld->decl_index, k, klen);
	free(k);
	if (*slot != NULL)
		return &ld->decls[(uintptr_t)*slot - 1];
	ld->decls = xreallocarray(ld->decls, ld->ndecls + 1,
	    sizeof(*ld->decls));
	d = &ld->decls[ld->ndecls++];
	memset(d, 0, sizeof(*d));
	d->conn = conn;
	d->name = name;
	*slot = (void *)(uintptr_t)ld->ndecls;
	return d;
}

static const struct decl *
decl_find(const struct loader *ld, const char *conn, const char *name)
{
	void	*v;
	char	*k;
	size_t	 klen;

	k = key2(conn, name, &klen);
	v = ht_get(&ld->decl_index, k, klen);
	free(k);
	return v != NULL ? &ld->decls[(uintptr_t)v - 1] : NULL;
}

static void
collect_decls(struct loader *ld)
{
	struct sl	*sl = ld->sl;
	struct sl_file	*f;
	struct sl_shard	*shard;
	struct decl	*d;
	size_t		 i, k;

	for (i = 0; i < sl->nfiles; i++) {
		f = &sl->files[i];
		if (f->kind == SL_FILE_UNREADABLE)
			continue;
		if (f->kind != SL_FILE_SHARD) {
			d = decl_get(ld, f->conn, f->names.v[0]);
			d->files = xreallocarray(d->files, d->nfiles + 1,
			    sizeof(*d->files));
			d->files[d->nfiles++] = i;
			continue;
		}
		/* The entries that were read; names also has the others. */
		shard = &ld->parsed[i].shard;
		for (k = 0; k < shard->ntables; k++) {
			d = decl_get(ld, f->conn, shard->tables[k].key);
			d->shards = xreallocarray(d->shards, d->nshards + 1,
			    sizeof(*d->shards));
			d->entries = xreallocarray(d->entries, d->nshards + 1,
			    sizeof(*d->entries));
			d->shards[d->nshards] = i;
			d->entries[d->nshards++] = k;
		}
	}
}

/* Lower case, quotes, backticks and brackets removed.  Caller frees. */
static char *
norm_ref(const char *s)
{
	char	*out = xmalloc(strlen(s) + 1), *o = out;

	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '`' || *s == '[' || *s == ']')
			continue;
		*o++ = (char)tolower((unsigned char)*s);
	}
	*o = '\0';
	return out;
}

/* Whether a table ref names ref: equal, or ends with "." ref. */
static int
ref_matches(const char *table, const char *ref)
{
	char	*t = norm_ref(table), *r = norm_ref(ref);
	size_t	 lt = strlen(t), lr = strlen(r);
	int	 m;

	m = strcmp(t, r) == 0 || (lr > 0 && lt > lr &&
	    t[lt - lr - 1] == '.' && strcmp(t + lt - lr, r) == 0);
	free(t);
	free(r);
	return m;
}

static struct sl_source *
new_source(struct loader *ld)
{
	struct sl	*sl = ld->sl;
	struct sl_source *s;

	if (sl->nsources == ld->capsources) {
		ld->capsources = ld->capsources ? ld->capsources * 2 : 64;
		sl->sources = xreallocarray(sl->sources, ld->capsources,
		    sizeof(*sl->sources));
	}
	s = &sl->sources[sl->nsources++];
	memset(s, 0, sizeof(*s));
	return s;
}

static void
desc_copy(struct sl_desc *dst, const struct sl_desc *src)
{
	size_t	i;

	for (i = 0; i < src->n; i++)
		sl_desc_set(dst, src->v[i].key, src->v[i].value);
}

static void
column_copy(struct sl_column *dst, const struct sl_column *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->name = xstrdup(src->name);
#define DUP(f)	dst->f = src->f != NULL ? xstrdup(src->f) : NULL
	DUP(type);
	DUP(role);
	DUP(visibility);
	DUP(expr);
	dst->pk = src->pk;
	dst->notnull = src->notnull;
	desc_copy(&dst->descriptions, &src->descriptions);
	dst->pos = src->pos;
}

static void
join_copy(struct sl_join *dst, const struct sl_join *src)
{
	memset(dst, 0, sizeof(*dst));
	DUP(to);
	DUP(on);
	DUP(relationship);
	DUP(origin);
	DUP(alias);
	dst->pos = src->pos;
}
#undef DUP

/* A manifest entry as a source (ktx's projection). */
static void
project_entry(struct sl_source *s, const char *conn, const char *path,
    const struct sl_shard_table *t)
{
	size_t	i;

	s->conn = xstrdup(conn);
	s->name = xstrdup(t->key);
	s->kind = SL_SOURCE_MANIFEST;
	s->table = xstrdup(t->table);
	desc_copy(&s->descriptions, &t->descriptions);
	s->columns = xreallocarray(NULL, t->ncolumns, sizeof(*s->columns));
	for (i = 0; i < t->ncolumns; i++) {
		column_copy(&s->columns[i], &t->columns[i]);
		if (s->columns[i].type != NULL &&
		    strcmp(s->columns[i].type, "time") == 0 &&
		    s->columns[i].role == NULL)
			s->columns[i].role = xstrdup("time");
		if (t->columns[i].pk)
			strv_push(&s->grain, t->columns[i].name);
	}
	s->ncolumns = t->ncolumns;
	if (s->grain.n == 0)
		for (i = 0; i < t->ncolumns; i++)
			strv_push(&s->grain, t->columns[i].name);
	s->joins = xreallocarray(NULL, t->njoins, sizeof(*s->joins));
	for (i = 0; i < t->njoins; i++)
		join_copy(&s->joins[i], &t->joins[i]);
	s->njoins = t->njoins;
	s->pos.path = path;
	s->pos.line = t->line;
	s->pos.column = t->column;
}

/* Move the parts of a standalone file into s. */
static void
take_standalone(struct sl_source *s, const char *conn, struct sfile *sf)
{
	*s = sf->src;
	memset(&sf->src, 0, sizeof(sf->src));
	s->conn = xstrdup(conn);
	s->kind = SL_SOURCE_STANDALONE;
}

static const struct sl_shard_table *
decl_entry(const struct loader *ld, const struct decl *d)
{
	return &ld->parsed[d->shards[0]].shard.tables[d->entries[0]];
}

/* inherits_columns_from: a manifest key, or a table ref of an entry. */
static void
apply_inherits(struct loader *ld, struct sl_source *s, const struct sfile *sf)
{
	const struct sl_shard_table	*t = NULL, *cand;
	const struct sl_column		*mc;
	const struct decl		*d;
	struct sl_column		*col;
	size_t				 i, k;

	if ((d = decl_find(ld, s->conn, sf->inherits)) != NULL &&
	    d->nshards > 0)
		t = decl_entry(ld, d);
	for (i = 0; t == NULL && i < ld->ndecls; i++) {
		d = &ld->decls[i];
		if (d->nshards == 0 || strcmp(d->conn, s->conn) != 0)
			continue;
		cand = decl_entry(ld, d);
		if (ref_matches(cand->table, sf->inherits))
			t = cand;
	}
	if (t == NULL) {
		add_error_at(ld->sl, s->conn, &sf->inherits_pos, s->name,
		    "inherits_columns_from: no manifest entry \"%s\" in"
		    " connection \"%s\"", sf->inherits, s->conn);
		return;
	}
	for (i = 0; i < s->ncolumns; i++) {
		col = &s->columns[i];
		for (k = 0, mc = NULL; k < t->ncolumns && mc == NULL; k++)
			if (strcmp(t->columns[k].name, col->name) == 0)
				mc = &t->columns[k];
		if (mc == NULL)
			continue;
		if (col->type == NULL && mc->type != NULL)
			col->type = xstrdup(mc->type);
		if (col->descriptions.n == 0)
			desc_copy(&col->descriptions, &mc->descriptions);
		if (col->role == NULL && mc->type != NULL &&
		    strcmp(mc->type, "time") == 0)
			col->role = xstrdup("time");
	}
}

static ssize_t
column_index(const struct sl_source *s, const char *name)
{
	size_t	i;

	for (i = 0; i < s->ncolumns; i++)
		if (strcmp(s->columns[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* A join's "on" compared without white space and case. */
static char *
norm_on(const char *on)
{
	char	*out = xmalloc(strlen(on) + 1), *o = out;

	for (; *on != '\0'; on++)
		if (!isspace((unsigned char)*on))
			*o++ = (char)tolower((unsigned char)*on);
	*o = '\0';
	return out;
}

/* Compose an overlay onto the projected manifest source s. */
static void
compose_overlay(struct sl *sl, struct sl_source *s, struct sfile *sf)
{
	struct sl_source	*o = &sf->src;
	struct sl_column	*ov, *col;
	char			*a, *b;
	size_t			 i, k, n;
	ssize_t			 ci;
	int			 used;

	desc_copy(&s->descriptions, &o->descriptions);
	if (sf->has_grain) {
		strv_release(&s->grain);
		s->grain = o->grain;
		memset(&o->grain, 0, sizeof(o->grain));
	}
	for (i = 0; i < o->ncolumns; i++) {
		if (column_index(s, o->columns[i].name) != -1) {
			add_error_at(sl, s->conn, &o->columns[i].pos, s->name,
			    "column \"%s\" already exists on source \"%s\"",
			    o->columns[i].name, s->name);
			continue;
		}
		s->columns = xreallocarray(s->columns, s->ncolumns + 1,
		    sizeof(*s->columns));
		column_copy(&s->columns[s->ncolumns++], &o->columns[i]);
	}
	for (i = 0; i < sf->noverrides; i++) {
		ov = &sf->overrides[i];
		if ((ci = column_index(s, ov->name)) == -1) {
			add_error_at(sl, s->conn, &ov->pos, s->name,
			    "column_overrides: column \"%s\" does not exist on"
			    " source \"%s\"", ov->name, s->name);
			continue;
		}
		col = &s->columns[ci];
		if (ov->role != NULL) {
			free(col->role);
			col->role = xstrdup(ov->role);
		}
		if (ov->visibility != NULL) {
			free(col->visibility);
			col->visibility = xstrdup(ov->visibility);
		}
		desc_copy(&col->descriptions, &ov->descriptions);
	}
	for (i = 0; i < sf->exclude.n; i++) {
		if ((ci = column_index(s, sf->exclude.v[i])) == -1) {
			xasprintf(&a, "%s: exclude_columns: column \"%s\" does"
			    " not exist on source \"%s\"", o->pos.path,
			    sf->exclude.v[i], s->name);
			strv_push_owned(&sl->warnings, a);
			continue;
		}
		column_release(&s->columns[ci]);
		memmove(&s->columns[ci], &s->columns[ci + 1],
		    (s->ncolumns - (size_t)ci - 1) * sizeof(*s->columns));
		s->ncolumns--;
	}
	for (i = 0; i < sf->disable.n; i++) {
		a = norm_on(sf->disable.v[i]);
		for (k = 0, n = 0, used = 0; k < s->njoins; k++) {
			b = norm_on(s->joins[k].on);
			if (strcmp(a, b) == 0) {
				join_release(&s->joins[k]);
				used = 1;
			} else
				s->joins[n++] = s->joins[k];
			free(b);
		}
		s->njoins = n;
		free(a);
		if (!used) {
			xasprintf(&a, "%s: disable_joins: no join of source"
			    " \"%s\" is on \"%s\"", o->pos.path, s->name,
			    sf->disable.v[i]);
			strv_push_owned(&sl->warnings, a);
		}
	}
	s->joins = xreallocarray(s->joins, s->njoins + o->njoins,
	    sizeof(*s->joins));
	for (i = 0; i < o->njoins; i++)
		join_copy(&s->joins[s->njoins++], &o->joins[i]);
	s->measures = xreallocarray(s->measures, s->nmeasures + o->nmeasures,
	    sizeof(*s->measures));
	if (o->nmeasures > 0)
		memcpy(s->measures + s->nmeasures, o->measures,
		    o->nmeasures * sizeof(*o->measures));
	s->nmeasures += o->nmeasures;
	o->nmeasures = 0;
	s->segments = xreallocarray(s->segments, s->nsegments + o->nsegments,
	    sizeof(*s->segments));
	if (o->nsegments > 0)
		memcpy(s->segments + s->nsegments, o->segments,
		    o->nsegments * sizeof(*o->segments));
	s->nsegments += o->nsegments;
	o->nsegments = 0;
	if (o->default_time_dimension != NULL) {
		free(s->default_time_dimension);
		s->default_time_dimension = o->default_time_dimension;
		o->default_time_dimension = NULL;
	}
	s->overlay_path = o->pos.path;
}

/* "Multiple semantic-layer files declare source ..." for n > 1 files. */
static void
duplicate_error(struct sl *sl, const char *conn, const char *name,
    const char *const *paths, size_t n, const struct sl_pos *second)
{
	char	*list = NULL, *p;
	size_t	 i;

	for (i = 0; i < n; i++) {
		xasprintf(&p, "%s%s%s", list != NULL ? list : "",
		    i > 0 ? ", " : "", paths[i]);
		free(list);
		list = p;
	}
	add_error_at(sl, conn, second, name,
	    "Multiple semantic-layer files declare source \"%s\": %s", name,
	    list);
	free(list);
}

static void
compose_decl(struct loader *ld, const struct decl *d)
{
	struct sl			*sl = ld->sl;
	const struct sl_shard_table	*entry = NULL, *t2;
	const char			**paths;
	struct sl_source		*s;
	struct sfile			*sf = NULL;
	struct sl_pos			 pos;
	const char			*shard_path = NULL;
	char				*w;
	size_t				 i;

	if (d->nshards > 1) {
		paths = xreallocarray(NULL, d->nshards, sizeof(*paths));
		for (i = 0; i < d->nshards; i++)
			paths[i] = sl->files[d->shards[i]].path;
		t2 = &ld->parsed[d->shards[1]].shard.tables[d->entries[1]];
		pos.path = paths[1];
		pos.line = t2->line;
		pos.column = t2->column;
		duplicate_error(sl, d->conn, d->name, paths, d->nshards, &pos);
		free(paths);
	}
	if (d->nfiles > 1) {
		paths = xreallocarray(NULL, d->nfiles, sizeof(*paths));
		for (i = 0; i < d->nfiles; i++)
			paths[i] = sl->files[d->files[i]].path;
		duplicate_error(sl, d->conn, d->name, paths, d->nfiles,
		    &ld->parsed[d->files[1]].sf.src.pos);
		free(paths);
	}
	if (d->nshards > 0) {
		entry = decl_entry(ld, d);
		shard_path = sl->files[d->shards[0]].path;
	}
	if (d->nfiles > 0)
		sf = &ld->parsed[d->files[0]].sf;

	if (sf != NULL && sl->files[d->files[0]].kind == SL_FILE_STANDALONE) {
		if (entry != NULL) {
			xasprintf(&w, "%s:%d:%d: standalone source \"%s\""
			    " replaces the manifest entry in %s",
			    sf->src.pos.path, sf->src.pos.line,
			    sf->src.pos.column, d->name, shard_path);
			strv_push_owned(&sl->warnings, w);
		}
		s = new_source(ld);
		take_standalone(s, d->conn, sf);
		if (sf->inherits != NULL)
			apply_inherits(ld, s, sf);
		return;
	}
	if (sf != NULL && entry == NULL) {
		xasprintf(&w, "%s:%d:%d: overlay \"%s\" has no manifest entry"
		    " to compose onto (dropped)", sf->src.pos.path,
		    sf->src.pos.line, sf->src.pos.column, d->name);
		strv_push_owned(&sl->warnings, w);
		sl->orphans = xreallocarray(sl->orphans, sl->norphans + 1,
		    sizeof(*sl->orphans));
		sl->orphans[sl->norphans].conn = xstrdup(d->conn);
		sl->orphans[sl->norphans].name = xstrdup(d->name);
		sl->orphans[sl->norphans].pos = sf->src.pos;
		sl->norphans++;
		return;
	}
	s = new_source(ld);
	project_entry(s, d->conn, shard_path, entry);
	if (sf != NULL)
		compose_overlay(sl, s, sf);
}

static int
source_cmp(const void *pa, const void *pb)
{
	const struct sl_source	*a = pa, *b = pb;
	int			 r;

	if ((r = strcmp(a->conn, b->conn)) != 0)
		return r;
	return strcmp(a->name, b->name);
}

/*
 * The index.
 */

static void
lower_in_place(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Put val under conn\0name in a and under name in any, first one wins. */
static void
index_pair(struct ht *a, struct ht *any, const char *conn, const char *name,
    void *val)
{
	void	**slot;
	char	 *k;
	size_t	  klen;

	k = key2(conn, name, &klen);
	slot = ht_slot(a, k, klen);
	if (*slot == NULL)
		*slot = val;
	free(k);
	slot = ht_slot(any, name, strlen(name));
	if (*slot == NULL)
		*slot = val;
}

static void
index_entity(struct sl *sl, const struct sl_source *s, const char *entity,
    unsigned bit, const struct sl_pos *pos, const char *what)
{
	void	**slot;
	char	 *k;
	size_t	  klen;
	unsigned  mask;

	k = key3(s->conn, s->name, entity, &klen);
	slot = ht_slot(&sl->index->entities, k, klen);
	free(k);
	mask = (unsigned)(uintptr_t)*slot;
	if (mask & bit)
		add_error_at(sl, s->conn, pos, s->name, "duplicate %s \"%s\" in"
		    " source \"%s\"", what, entity, s->name);
	*slot = (void *)(uintptr_t)(mask | bit);
}

static void
index_tables(struct sl_index *ix, const struct sl_source *s)
{
	char		*n;
	const char	*p;

	n = norm_ref(s->name);
	index_pair(&ix->tables, &ix->tables_any, s->conn, n, (void *)s);
	free(n);
	if (s->table == NULL)
		return;
	n = norm_ref(s->table);
	for (p = n; p != NULL; p = strchr(p, '.')) {
		if (*p == '.')
			p++;
		if (*p != '\0')
			index_pair(&ix->tables, &ix->tables_any, s->conn, p,
			    (void *)s);
	}
	free(n);
}

static void
build_index(struct sl *sl)
{
	struct sl_index		*ix = sl->index;
	struct sl_source	*s;
	struct sl_error		*e;
	struct strv		*errs;
	void			**slot;
	char			*k;
	size_t			 i, j, klen;

	for (i = 0; i < sl->nfiles; i++)
		*ht_slot(&ix->files, sl->files[i].path,
		    strlen(sl->files[i].path)) = &sl->files[i];
	for (i = 0; i < sl->connections.n; i++)
		*ht_slot(&ix->conns, sl->connections.v[i],
		    strlen(sl->connections.v[i])) = (void *)1;
	for (i = 0; i < sl->nsources; i++) {
		s = &sl->sources[i];
		index_pair(&ix->src, &ix->src_any, s->conn, s->name, s);
		k = xstrdup(s->name);
		lower_in_place(k);
		index_pair(&ix->src_nocase, &ix->src_nocase_any, s->conn, k,
		    s);
		free(k);
		for (j = 0; j < s->ncolumns; j++)
			index_entity(sl, s, s->columns[j].name,
			    SL_ENTITY_COLUMN, &s->columns[j].pos, "column");
		for (j = 0; j < s->nmeasures; j++)
			index_entity(sl, s, s->measures[j].name,
			    SL_ENTITY_MEASURE, &s->measures[j].pos, "measure");
		for (j = 0; j < s->nsegments; j++)
			index_entity(sl, s, s->segments[j].name,
			    SL_ENTITY_SEGMENT, &s->segments[j].pos, "segment");
		index_tables(ix, s);
	}
	for (i = 0; i < sl->norphans; i++) {
		k = key2(sl->orphans[i].conn, sl->orphans[i].name, &klen);
		slot = ht_slot(&ix->orphans, k, klen);
		if (*slot == NULL)
			*slot = &sl->orphans[i];
		free(k);
	}
	for (i = 0; i < sl->nerrors; i++) {
		e = &sl->errors[i];
		if (e->source != NULL) {
			k = key2(e->conn, e->source, &klen);
			slot = ht_slot(&ix->errors, k, klen);
			free(k);
			if (*slot == NULL)
				*slot = xcalloc(1, sizeof(struct strv));
			errs = *slot;
			strv_push(errs, e->text);
		}
		slot = ht_slot(&ix->files, e->path, strlen(e->path));
		if (*slot != NULL)
			strv_push(&((struct sl_file *)*slot)->errors, e->text);
	}
}

static void
free_strv(void *p)
{
	strv_release(p);
	free(p);
}

static void
index_free(struct sl_index *ix)
{
	if (ix == NULL)
		return;
	ht_release(&ix->conns, NULL);
	ht_release(&ix->files, NULL);
	ht_release(&ix->src, NULL);
	ht_release(&ix->src_any, NULL);
	ht_release(&ix->src_nocase, NULL);
	ht_release(&ix->src_nocase_any, NULL);
	ht_release(&ix->entities, NULL);
	ht_release(&ix->tables, NULL);
	ht_release(&ix->tables_any, NULL);
	ht_release(&ix->errors, free_strv);
	ht_release(&ix->orphans, NULL);
	free(ix);
}

static void
loader_release(struct loader *ld)
{
	size_t	i;

	for (i = 0; ld->parsed != NULL && i < ld->sl->nfiles; i++) {
		sl_shard_release(&ld->parsed[i].shard);
		sfile_release(&ld->parsed[i].sf);
	}
	free(ld->parsed);
	for (i = 0; i < ld->ndecls; i++) {
		free(ld->decls[i].shards);
		free(ld->decls[i].entries);
		free(ld->decls[i].files);
	}
	free(ld->decls);
	ht_release(&ld->decl_index, NULL);
}

/*
 * Load sl->files (paths sorted, connections set), each from texts[i], or
 * from the tree under sl->root when texts is NULL; then compose.
 */
static void
load_files(struct loader *ld, const struct sl_text *const *texts)
{
	struct sl	*sl = ld->sl;
	const char	*p;
	size_t		 i;

	for (i = 0; i < sl->nfiles; i++) {
		p = sl->files[i].path + strlen(SL_DIR) + 1;
		sl->files[i].conn = xstrndup(p, strcspn(p, "/"));
	}
	ld->parsed = xcalloc(sl->nfiles, sizeof(*ld->parsed));
	for (i = 0; i < sl->nfiles; i++)
		load_file(ld, i, texts != NULL ? texts[i] : NULL);
	collect_decls(ld);
	for (i = 0; i < ld->ndecls; i++)
		compose_decl(ld, &ld->decls[i]);
	if (sl->nsources > 1)
		qsort(sl->sources, sl->nsources, sizeof(*sl->sources),
		    source_cmp);
	build_index(sl);
}

/* Whether len bytes at buf hold needle, ASCII case ignored. */
static int
has_word(const unsigned char *buf, size_t len, const char *needle)
{
	size_t	n = strlen(needle), i, k;
	int	c0;

	if (n == 0 || n > len)
		return n == 0;
	c0 = tolower((unsigned char)needle[0]);
	for (i = 0; i + n <= len; i++) {
		if (tolower(buf[i]) != c0)
			continue;
		for (k = 1; k < n && tolower(buf[i + k]) ==
		    tolower((unsigned char)needle[k]); k++)
			;
		if (k == n)
			return 1;
	}
	return 0;
}

/*
 * Whether the file at path (relative to root) may declare or add to one of
 * names: its bytes hold one of them, or they could say it in a way the
 * bytes do not show (a YAML escape), or the file inherits from another
 * (*inherits set: then every file is needed).  A file that cannot be read
 * is kept, for load_file to report.
 */
static int
may_declare(const struct sl *sl, const char *path, const struct strv *names,
    int *inherits)
{
	struct ctx	 c;
	unsigned char	*buf = NULL;
	char		*fspath;
	size_t		 len, i;
	int		 keep = 1;

	memset(&c, 0, sizeof(c));
	c.path = path;
	xasprintf(&fspath, "%s/%s", sl->root, path);
	if (read_whole(&c, fspath, &buf, &len) == 0) {
		keep = memchr(buf, '\\', len) != NULL;
		for (i = 0; !keep && i < names->n; i++)
			keep = has_word(buf, len, names->v[i]);
		if (keep && has_word(buf, len, "inherits_columns_from"))
			*inherits = 1;
	}
	ctx_release(&c);
	free(buf);
	free(fspath);
	return keep;
}

static int
load(struct sl *sl, const char *root, const struct strv *names, char **errmsg)
{
	struct loader	 ld;
	struct strv	 paths = { 0 }, kept = { 0 };
	size_t		 i;
	int		 rv = -1, inherits = 0;

	memset(sl, 0, sizeof(*sl));
	memset(&ld, 0, sizeof(ld));
	*errmsg = NULL;
	ld.sl = sl;
	sl->root = xstrdup(root);
	sl->index = xcalloc(1, sizeof(*sl->index));
	if (gather_files(sl, &paths, &sl->connections, errmsg) == -1)
		goto out;
	for (i = 0; names != NULL && i < paths.n && !inherits; i++)
		if (may_declare(sl, paths.v[i], names, &inherits))
			strv_push(&kept, paths.v[i]);
	if (names != NULL && !inherits) {
		strv_release(&paths);
		paths = kept;
		memset(&kept, 0, sizeof(kept));
	}
	sl->files = xcalloc(paths.n, sizeof(*sl->files));
	sl->nfiles = paths.n;
	for (i = 0; i < paths.n; i++) {
		sl->files[i].path = paths.v[i];
		paths.v[i] = NULL;
	}
	load_files(&ld, NULL);
	rv = 0;
out:
	loader_release(&ld);
	strv_release(&paths);
	strv_release(&kept);
	return rv;
}

int
sl_load(struct sl *sl, const char *root, char **errmsg)
{
	return load(sl, root, NULL, errmsg);
}

int
sl_load_for(struct sl *sl, const char *root, const struct strv *names,
    char **errmsg)
{
	return load(sl, root, names, errmsg);
}

/*
 * A path gather_files could list: "semantic-layer/<conn>/<name>.yaml" or
 * ".yml", or "semantic-layer/<conn>/_schema/<name>.yaml", no component
 * empty or hidden.
 */
static int
text_path_ok(const char *path)
{
	const char	*p, *slash;
	size_t		 n;

	n = strlen(SL_DIR);
	if (strncmp(path, SL_DIR "/", n + 1) != 0)
		return 0;
	p = path + n + 1;
	if ((slash = strchr(p, '/')) == NULL || slash == p || *p == '.')
		return 0;
	p = slash + 1;
	n = strlen(SL_SCHEMA_DIR);
	if (strncmp(p, SL_SCHEMA_DIR "/", n + 1) == 0) {
		p += n + 1;
		return *p != '.' && strchr(p, '/') == NULL &&
		    has_suffix(p, ".yaml");
	}
	return *p != '.' && strchr(p, '/') == NULL &&
	    (has_suffix(p, ".yaml") || has_suffix(p, ".yml"));
}

static int
text_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct sl_text *const *)a)->path,
	    (*(const struct sl_text *const *)b)->path);
}

int
sl_load_texts(struct sl *sl, const struct sl_text *texts, size_t n,
    char **errmsg)
{
	struct loader		  ld;
	const struct sl_text	**order;
	const char		 *p;
	char			 *conn;
	size_t			  i, k;
	int			  rv = -1;

	memset(sl, 0, sizeof(*sl));
	memset(&ld, 0, sizeof(ld));
	*errmsg = NULL;
	ld.sl = sl;
	sl->index = xcalloc(1, sizeof(*sl->index));
	order = xcalloc(n, sizeof(*order));
	for (i = 0; i < n; i++) {
		if (!text_path_ok(texts[i].path)) {
			xasprintf(errmsg, "%s: not a semantic-layer file path",
			    texts[i].path);
			goto out;
		}
		order[i] = &texts[i];
	}
	if (n > 1)
		qsort(order, n, sizeof(*order), text_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(order[i - 1]->path, order[i]->path) == 0) {
			xasprintf(errmsg, "%s: given twice", order[i]->path);
			goto out;
		}
	sl->files = xcalloc(n, sizeof(*sl->files));
	sl->nfiles = n;
	for (i = 0; i < n; i++) {
		sl->files[i].path = xstrdup(order[i]->path);
		/* Sorted: the files of one connection are together. */
		p = order[i]->path + strlen(SL_DIR) + 1;
		conn = xstrndup(p, strcspn(p, "/"));
		k = sl->connections.n;
		if (k > 0 && strcmp(sl->connections.v[k - 1], conn) == 0)
			free(conn);
		else
			strv_push_owned(&sl->connections, conn);
	}
	if (sl->connections.n > 1)
		qsort(sl->connections.v, sl->connections.n,
		    sizeof(*sl->connections.v), strp_cmp);
	load_files(&ld, order);
	rv = 0;
out:
	loader_release(&ld);
	free(order);
	return rv;
}

void
sl_release(struct sl *sl)
{
	size_t	i;

	index_free(sl->index);
	for (i = 0; i < sl->nsources; i++)
		source_release(&sl->sources[i]);
	free(sl->sources);
	for (i = 0; i < sl->nfiles; i++) {
		free(sl->files[i].path);
		free(sl->files[i].conn);
		strv_release(&sl->files[i].names);
		strv_release(&sl->files[i].errors);
	}
	free(sl->files);
	for (i = 0; i < sl->nerrors; i++) {
		free(sl->errors[i].conn);
		free(sl->errors[i].path);
		free(sl->errors[i].source);
		free(sl->errors[i].text);
	}
	free(sl->errors);
	for (i = 0; i < sl->norphans; i++) {
		free(sl->orphans[i].conn);
		free(sl->orphans[i].name);
	}
	free(sl->orphans);
	strv_release(&sl->warnings);
	strv_release(&sl->connections);
	free(sl->root);
	memset(sl, 0, sizeof(*sl));
}

/*
 * Queries.
 */

int
sl_has_connection(const struct sl *sl, const char *conn)
{
	return sl->index != NULL &&
	    ht_get(&sl->index->conns, conn, strlen(conn)) != NULL;
}

static const struct sl_source *
find_in(const struct ht *a, const struct ht *any, const char *conn,
    const char *name)
{
	const struct sl_source	*s;
	char			*k;
	size_t			 klen;

	if (conn == NULL)
		return ht_get(any, name, strlen(name));
	k = key2(conn, name, &klen);
	s = ht_get(a, k, klen);
	free(k);
	return s;
}

const struct sl_source *
sl_source_find(const struct sl *sl, const char *conn, const char *name)
{
	if (sl->index == NULL)
		return NULL;
	return find_in(&sl->index->src, &sl->index->src_any, conn, name);
}

const struct sl_source *
sl_source_find_nocase(const struct sl *sl, const char *conn, const char *name)
{
	const struct sl_source	*s;
	char			*k;

	if (sl->index == NULL)
		return NULL;
	k = xstrdup(name);
	lower_in_place(k);
	s = find_in(&sl->index->src_nocase, &sl->index->src_nocase_any, conn,
	    k);
	free(k);
	return s;
}

unsigned
sl_entity_kind(const struct sl *sl, const struct sl_source *src,
    const char *entity)
{
	void	*v;
	char	*k;
	size_t	 klen;

	if (sl->index == NULL)
		return 0;
	k = key3(src->conn, src->name, entity, &klen);
	v = ht_get(&sl->index->entities, k, klen);
	free(k);
	return (unsigned)(uintptr_t)v;
}

const struct sl_source *
sl_table_find(const struct sl *sl, const char *conn, const char *ref)
{
	const struct sl_source	*found;
	char			*n, *k;
	size_t			 klen;

	if (sl->index == NULL)
		return NULL;
	n = norm_ref(ref);
	if (conn == NULL)
		found = ht_get(&sl->index->tables_any, n, strlen(n));
	else {
		k = key2(conn, n, &klen);
		found = ht_get(&sl->index->tables, k, klen);
		free(k);
	}
	free(n);
	return found;
}

int
sl_table_exists(const struct sl *sl, const char *conn, const char *ref)
{
	return sl_table_find(sl, conn, ref) != NULL;
}

const struct sl_file *
sl_file_find(const struct sl *sl, const char *path)
{
	if (sl->index == NULL)
		return NULL;
	return ht_get(&sl->index->files, path, strlen(path));
}

/*
 * Look source up in conn, or in every connection searched: *found says
 * whether it exists; the result is the union of entity's SL_ENTITY_* bits
 * on the sources found (0 when entity is NULL).
 */
static unsigned
ref_lookup(const struct sl *sl, const struct strv *conns, const char *conn,
    const char *source, const char *entity, int *found)
{
	const struct strv	*search = conns != NULL ? conns :
				    &sl->connections;
	const struct sl_source	*s;
	unsigned		 mask = 0;
	size_t			 i;

	*found = 0;
	for (i = 0; i < search->n; i++) {
		if (conn != NULL && strcmp(conn, search->v[i]) != 0)
			continue;
		if ((s = sl_source_find(sl, search->v[i], source)) == NULL)
			continue;
		*found = 1;
		if (entity != NULL)
			mask |= sl_entity_kind(sl, s, entity);
	}
	return mask;
}

/* Split "[<conn>/]<source>[.<entity>]".  Caller frees the three. */
static void
ref_split(const char *ref, char **conn, char **source, char **entity)
{
	const char	*slash, *dot;

	*conn = *entity = NULL;
	if ((slash = strchr(ref, '/')) != NULL) {
		*conn = xstrndup(ref, (size_t)(slash - ref));
		ref = slash + 1;
	}
	if ((dot = strchr(ref, '.')) != NULL) {
		*source = xstrndup(ref, (size_t)(dot - ref));
		*entity = xstrdup(dot + 1);
	} else
		*source = xstrdup(ref);
}

char *
sl_ref_word(const char *ref, int table)
{
	char	*conn, *source, *entity, *n, *dot;

	if (table) {
		n = norm_ref(ref);
		if ((dot = strrchr(n, '.')) != NULL)
			memmove(n, dot + 1, strlen(dot + 1) + 1);
		return n;
	}
	ref_split(ref, &conn, &source, &entity);
	free(conn);
	free(entity);
	return source;
}

enum sl_ref_status
sl_ref_check(const struct sl *sl, const struct strv *conns, const char *ref)
{
	enum sl_ref_status	 st;
	char			*conn, *source, *entity;
	unsigned		 mask;
	int			 found;

	ref_split(ref, &conn, &source, &entity);
	mask = ref_lookup(sl, conns, conn, source, entity, &found);
	if (!found)
		st = SL_REF_UNKNOWN_SOURCE;
	else if (entity != NULL && mask == 0)
		st = SL_REF_UNKNOWN_ENTITY;
	else
		st = SL_REF_OK;
	free(conn);
	free(source);
	free(entity);
	return st;
}

int
sl_ref_keep(const struct sl *sl, const struct strv *conns, const char *ref)
{
	char		*conn, *source, *entity;
	unsigned	 mask;
	int		 found, keep;

	ref_split(ref, &conn, &source, &entity);
	mask = ref_lookup(sl, conns, NULL, source, entity, &found);
	keep = conn == NULL && found && (entity == NULL ||
	    (mask & (SL_ENTITY_MEASURE | SL_ENTITY_SEGMENT)) != 0);
	free(conn);
	free(source);
	free(entity);
	return keep;
}

/* Add name to the set (and the list) once. */
static void
set_add(struct ht *set, struct strv *list, const char *name)
{
	void	**slot = ht_slot(set, name, strlen(name));

	if (*slot == NULL) {
		*slot = (void *)1;
		strv_push(list, name);
	}
}

static void
join_problems(const struct sl *sl, const struct sl_source *s, struct strv *out)
{
	const struct sl_source	*alt;
	char			*msg;
	size_t			 i;

	for (i = 0; i < s->njoins; i++) {
		if (sl_source_find(sl, s->conn, s->joins[i].to) != NULL)
			continue;
		alt = sl_source_find_nocase(sl, s->conn, s->joins[i].to);
		if (alt != NULL)
			xasprintf(&msg, "join target \"%s\" does not exist;"
			    " join targets are case-sensitive \xe2\x80\x94 the"
			    " source is named \"%s\"", s->joins[i].to,
			    alt->name);
		else
			xasprintf(&msg, "join target \"%s\" does not exist",
			    s->joins[i].to);
		strv_push_owned(out, msg);
	}
}

void
sl_validate(const struct sl *sl, const char *conn, const struct strv *touched,
    struct strv *errors)
{
	const struct sl_source	*s;
	const struct sl_orphan	*o;
	const struct strv	*errs;
	struct ht		 tset = { 0 }, vset = { 0 };
	struct strv		 names = { 0 }, problems = { 0 };
	char			*k, *line, *joined, *p;
	size_t			 i, j, klen;

	if (sl->index == NULL)
		return;
	for (i = 0; i < touched->n; i++) {
		*ht_slot(&tset, touched->v[i], strlen(touched->v[i])) =
		    (void *)1;
		set_add(&vset, &names, touched->v[i]);
		if ((s = sl_source_find(sl, conn, touched->v[i])) == NULL)
			continue;
		for (j = 0; j < s->njoins; j++)
			if (sl_source_find(sl, conn, s->joins[j].to) != NULL)
				set_add(&vset, &names, s->joins[j].to);
	}
	for (i = 0; i < sl->nsources; i++) {
		s = &sl->sources[i];
		if (strcmp(s->conn, conn) != 0)
			continue;
		for (j = 0; j < s->njoins; j++)
			if (ht_get(&tset, s->joins[j].to,
			    strlen(s->joins[j].to)) != NULL)
				set_add(&vset, &names, s->name);
	}
	if (names.n > 1)
		qsort(names.v, names.n, sizeof(*names.v), strp_cmp);
	for (i = 0; i < names.n; i++) {
		k = key2(conn, names.v[i], &klen);
		if ((errs = ht_get(&sl->index->errors, k, klen)) != NULL)
			for (j = 0; j < errs->n; j++)
				strv_push(&problems, errs->v[j]);
		if ((o = ht_get(&sl->index->orphans, k, klen)) != NULL) {
			xasprintf(&p, "%s:%d:%d: overlay \"%s\" has no"
			    " manifest-backed source to compose onto",
			    o->pos.path, o->pos.line, o->pos.column, o->name);
			strv_push_owned(&problems, p);
		}
		free(k);
		if ((s = sl_source_find(sl, conn, names.v[i])) != NULL)
			join_problems(sl, s, &problems);
		if (problems.n == 0)
			continue;
		joined = NULL;
		for (j = 0; j < problems.n; j++) {
			xasprintf(&p, "%s%s%s", joined != NULL ? joined : "",
			    j > 0 ? "; " : "", problems.v[j]);
			free(joined);
			joined = p;
		}
		xasprintf(&line, "semantic-layer validation failed for %s:%s:"
		    " %s", conn, names.v[i], joined);
		free(joined);
		strv_push_owned(errors, line);
		strv_release(&problems);
	}
	strv_release(&names);
	ht_release(&tset, NULL);
	ht_release(&vset, NULL);
}

/*
 * Emitting manifest shards.
 */

static void
buf_indent(struct sbuf *b, int n)
{
	static const char	spaces[] = "                                ";

	while (n > 0) {
		sbuf_add(b, spaces, n < 32 ? (size_t)n : 32);
		n -= 32;
	}
}

/* Printable in a plain or single-quoted scalar, and not a line break. */
static int
printable_inline(uint32_t cp)
{
	return (cp >= 0x20 && cp <= 0x7e) ||
	    (cp >= 0xa0 && cp <= 0xd7ff && cp != 0x2028 && cp != 0x2029) ||
	    (cp >= 0xe000 && cp <= 0xfffd && cp != 0xfeff) || cp >= 0x10000;
}

/* Every character printable on one line; no invalid UTF-8. */
static int
all_printable(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	size_t			 i, n;

	for (i = 0; i < len; i += n)
		if ((n = utf8_char(p + i, len - i, &cp)) == 0 ||
		    !printable_inline(cp))
			return 0;
	return 1;
}

/* Plain scalars that YAML 1.1 or 1.2 would read as something else. */
static int
looks_typed(const char *s, size_t len)
{
	static const char *const words[] = {
		"~", "null", "true", "false", "yes", "no", "on", "off", "y",
		"n", ".inf", "-.inf", "+.inf", ".nan", "<<", "=", NULL
	};
	const char *const	*w;
	char			 low[8];
	size_t			 i;

	if (len < sizeof(low)) {
		for (i = 0; i < len; i++)
			low[i] = (char)tolower((unsigned char)s[i]);
		low[len] = '\0';
		for (w = words; *w != NULL; w++)
			if (strcmp(low, *w) == 0)
				return 1;
	}
	if (isdigit((unsigned char)s[0]))
		return 1;
	return len > 1 && strchr("+-.", s[0]) != NULL &&
	    (isdigit((unsigned char)s[1]) || s[1] == '.');
}

static int
plain_ok(const char *s, size_t len)
{
	if (len == 0 || !all_printable(s, len) || looks_typed(s, len))
		return 0;
	if (s[0] == ' ' || s[len - 1] == ' ' || s[len - 1] == ':')
		return 0;
	if (strchr("[]{}#&*!|>'\"%@`,", s[0]) != NULL)
		return 0;
	if (strchr("-?:", s[0]) != NULL && (len == 1 || s[1] == ' '))
		return 0;
	if (len >= 3 && (strncmp(s, "---", 3) == 0 ||
	    strncmp(s, "...", 3) == 0))
		return 0;
	return memmem(s, len, ": ", 2) == NULL &&
	    memmem(s, len, " #", 2) == NULL;
}

static void
emit_double_quoted(struct sbuf *b, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	size_t			 i, n;
	char			 esc[16];

	sbuf_add(b, "\"", 1);
	for (i = 0; i < len; i += n) {
		if ((n = utf8_char(p + i, len - i, &cp)) == 0) {
			/* Not UTF-8: the byte, as a code point */
			snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
			sbuf_adds(b, esc);
			n = 1;
			continue;
		}
		switch (cp) {
		case '"':
			sbuf_adds(b, "\\\"");
			continue;
		case '\\':
			sbuf_adds(b, "\\\\");
			continue;
		case '\n':
			sbuf_adds(b, "\\n");
			continue;
		case '\t':
			sbuf_adds(b, "\\t");
			continue;
		case '\r':
			sbuf_adds(b, "\\r");
			continue;
		case 0:
			sbuf_adds(b, "\\0");
			continue;
		default:
			break;
		}
		if (printable_inline(cp)) {
			sbuf_add(b, s + i, n);
			continue;
		}
		if (cp <= 0xff)
			snprintf(esc, sizeof(esc), "\\x%02x", cp);
		else if (cp <= 0xffff)
			snprintf(esc, sizeof(esc), "\\u%04x", cp);
		else
			snprintf(esc, sizeof(esc), "\\U%08x", cp);
		sbuf_adds(b, esc);
	}
	sbuf_add(b, "\"", 1);
}

/* A string scalar, plain when YAML reads it back as the same string. */
static void
emit_string(struct sbuf *b, const char *s, size_t len)
{
	if (plain_ok(s, len))
		sbuf_add(b, s, len);
	else if (memchr(s, '"', len) != NULL && memchr(s, '\'', len) == NULL &&
	    all_printable(s, len)) {
		sbuf_add(b, "'", 1);
		sbuf_add(b, s, len);
		sbuf_add(b, "'", 1);
	} else
		emit_double_quoted(b, s, len);
}

static void
emit_cstr(struct sbuf *b, const char *s)
{
	emit_string(b, s, strlen(s));
}

static void emit_node_value(struct sbuf *, const struct sl_node *, int, int);

/* A scalar read from a file: plain ones as written, to keep their type. */
static void
emit_node_scalar(struct sbuf *b, const struct sl_node *n)
{
	if (n->plain && n->len > 0 && memchr(n->value, '\n', n->len) == NULL)
		sbuf_add(b, n->value, n->len);
	else
		emit_string(b, n->value, n->len);
}

/* Entries of a mapping at indent; the first one on the current line. */
static void
emit_node_entries(struct sbuf *b, const struct sl_node *n, int indent,
    int first_inline)
{
	size_t	i;

	for (i = 0; i + 1 < n->nkids; i += 2) {
		if (i > 0 || !first_inline)
			buf_indent(b, indent);
		emit_node_scalar(b, n->kids[i]);
		sbuf_add(b, ":", 1);
		emit_node_value(b, n->kids[i + 1], indent, 0);
	}
}

static void
emit_node_items(struct sbuf *b, const struct sl_node *n, int indent,
    int first_inline)
{
	size_t	i;

	for (i = 0; i < n->nkids; i++) {
		if (i > 0 || !first_inline)
			buf_indent(b, indent);
		sbuf_add(b, "-", 1);
		emit_node_value(b, n->kids[i], indent, 1);
	}
}

/*
 * A value after "key:" (whose key stands at indent) or after "-" (at
 * indent): scalars on the same line, collections below or inline.
 */
static void
emit_node_value(struct sbuf *b, const struct sl_node *n, int indent,
    int after_dash)
{
	if (n->type == SN_SCALAR) {
		sbuf_add(b, " ", 1);
		emit_node_scalar(b, n);
		sbuf_add(b, "\n", 1);
	} else if (n->nkids == 0)
		sbuf_adds(b, n->type == SN_MAPPING ? " {}\n" : " []\n");
	else if (after_dash) {
		sbuf_add(b, " ", 1);
		if (n->type == SN_MAPPING)
			emit_node_entries(b, n, indent + 2, 1);
		else
			emit_node_items(b, n, indent + 2, 1);
	} else {
		sbuf_add(b, "\n", 1);
		if (n->type == SN_MAPPING)
			emit_node_entries(b, n, indent + 2, 0);
		else
			emit_node_items(b, n, indent + 2, 0);
	}
}

static int
kv_cmp(const void *pa, const void *pb)
{
	const struct sl_kv	*a = *(const struct sl_kv *const *)pa;
	const struct sl_kv	*b = *(const struct sl_kv *const *)pb;

	return strcmp(a->key, b->key);
}

/* "key: value" at indent. */
static void
emit_field(struct sbuf *b, int indent, const char *key, const char *value)
{
	buf_indent(b, indent);
	sbuf_adds(b, key);
	sbuf_adds(b, ": ");
	emit_cstr(b, value);
	sbuf_add(b, "\n", 1);
}

static void
emit_desc(struct sbuf *b, int indent, const struct sl_desc *d)
{
	const struct sl_kv	**kv;
	size_t			  i;

	if (d->n == 0)
		return;
	kv = xreallocarray(NULL, d->n, sizeof(*kv));
	for (i = 0; i < d->n; i++)
		kv[i] = &d->v[i];
	qsort(kv, d->n, sizeof(*kv), kv_cmp);
	buf_indent(b, indent);
	sbuf_adds(b, "descriptions:\n");
	for (i = 0; i < d->n; i++)
		emit_field(b, indent + 2, kv[i]->key, kv[i]->value);
	free(kv);
}

static void
emit_column(struct sbuf *b, const struct sl_column *col)
{
	sbuf_adds(b, "      - name: ");
	emit_cstr(b, col->name);
	sbuf_add(b, "\n", 1);
	if (col->type != NULL)
		emit_field(b, 8, "type", col->type);
	if (col->pk)
		sbuf_adds(b, "        pk: true\n");
	if (col->notnull)
		sbuf_adds(b, "        nullable: false\n");
	emit_desc(b, 8, &col->descriptions);
}

static void
emit_join(struct sbuf *b, const struct sl_join *j)
{
	sbuf_adds(b, "      - to: ");
	emit_cstr(b, j->to);
	sbuf_add(b, "\n", 1);
	emit_field(b, 8, "on", j->on);
	emit_field(b, 8, "relationship", j->relationship);
	if (j->origin != NULL)
		emit_field(b, 8, "source", j->origin);
}

static int
table_cmp(const void *pa, const void *pb)
{
	const struct sl_shard_table *const	*a = pa, *const *b = pb;

	return strcmp((*a)->key, (*b)->key);
}

char *
sl_shard_emit(const struct sl_shard *shard, size_t *lenp)
{
	const struct sl_shard_table	**tables, *t;
	struct sbuf			  b = { 0 };
	size_t				  i, k;

	if (shard->ntables == 0)
		sbuf_adds(&b, "tables: {}\n");
	else
		sbuf_adds(&b, "tables:\n");
	tables = xreallocarray(NULL, shard->ntables, sizeof(*tables));
	for (i = 0; i < shard->ntables; i++)
		tables[i] = &shard->tables[i];
	qsort(tables, shard->ntables, sizeof(*tables), table_cmp);
	for (i = 0; i < shard->ntables; i++) {
		t = tables[i];
		sbuf_adds(&b, "  ");
		emit_cstr(&b, t->key);
		sbuf_adds(&b, ":\n");
		emit_field(&b, 4, "table", t->table);
		emit_desc(&b, 4, &t->descriptions);
		if (t->usage != NULL) {
			sbuf_adds(&b, "    usage:");
			emit_node_value(&b, t->usage, 4, 0);
		}
		if (t->ncolumns == 0)
			sbuf_adds(&b, "    columns: []\n");
		else
			sbuf_adds(&b, "    columns:\n");
		for (k = 0; k < t->ncolumns; k++)
			emit_column(&b, &t->columns[k]);
		if (t->njoins > 0)
			sbuf_adds(&b, "    joins:\n");
		for (k = 0; k < t->njoins; k++)
			emit_join(&b, &t->joins[k]);
	}
	free(tables);
	*lenp = b.len;
	return b.s;
}

int
sl_shard_read(const char *path, const char *name, struct sl_shard *shard,
    char **errmsg)
{
	struct ctx	 c;
	struct sl_node	*root = NULL;
	unsigned char	*buf = NULL;
	size_t		 len;
	int		 r, rv = -1;

	memset(shard, 0, sizeof(*shard));
	memset(&c, 0, sizeof(c));
	*errmsg = NULL;
	c.path = name;
	if ((r = read_whole(&c, path, &buf, &len)) == 1)
		rv = 1;
	if (r != 0)
		goto out;
	if ((root = parse_yaml(&c, buf, len)) == NULL)
		goto out;
	read_shard(&c, root, shard, NULL);
	if (c.errors.n == 0)
		rv = 0;
out:
	if (rv == -1) {
		*errmsg = c.errors.v[0];
		c.errors.v[0] = NULL;
		sl_shard_release(shard);
	}
	ctx_release(&c);
	node_free(root);
	free(buf);
	return rv;
}

int
sl_shard_write(const char *path, const struct sl_shard *shard, char **errmsg)
{
	char	*text, *tmp = NULL;
	size_t	 len, off = 0;
	ssize_t	 n;
	int	 fd = -1, rv = -1;

	*errmsg = NULL;
	text = sl_shard_emit(shard, &len);
	xasprintf(&tmp, "%s.tmpXXXXXX", path);
	if ((fd = mkstemp(tmp)) == -1) {
		xasprintf(errmsg, "%s: cannot create: %s", path,
		    strerror(errno));
		goto out;
	}
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(errmsg, "%s: cannot write: %s", path,
			    strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	/* mkstemp makes 0600; a tracked file is 0644 like any other. */
	if (fchmod(fd, 0644) == -1 || close(fd) == -1) {
		fd = -1;
		xasprintf(errmsg, "%s: cannot write: %s", path,
		    strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		xasprintf(errmsg, "%s: cannot rename into place: %s", path,
		    strerror(errno));
		goto out;
	}
	rv = 0;
out:
	if (fd != -1)
		close(fd);
	if (rv == -1 && tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(text);
	return rv;
}

static int
is_scan_key(const char *key)
{
	return strcmp(key, "db") == 0 || strcmp(key, "ai") == 0;
}

static void
keep_descriptions(struct sl_desc *fresh, const struct sl_desc *old)
{
	size_t	i;

	for (i = 0; i < old->n; i++)
		if (!is_scan_key(old->v[i].key) &&
		    sl_desc_get(fresh, old->v[i].key) == NULL)
			sl_desc_set(fresh, old->v[i].key, old->v[i].value);
}

/* Append j to the list unless its (to, on) is already in seen. */
static void
keep_join(struct sl_join **joins, size_t *njoins, struct ht *seen,
    const struct sl_join *j)
{
	void	**slot;
	char	 *k;
	size_t	  klen;

	k = key2(j->to, j->on, &klen);
	slot = ht_slot(seen, k, klen);
	free(k);
	if (*slot != NULL)
		return;
	*slot = (void *)1;
	*joins = xreallocarray(*joins, *njoins + 1, sizeof(**joins));
	join_copy(&(*joins)[(*njoins)++], j);
}

static int
kept_origin(const struct sl_join *j, const char *origin,
    int (*target_exists)(const char *, void *), void *arg)
{
	return j->origin != NULL && strcmp(j->origin, origin) == 0 &&
	    target_exists(j->to, arg);
}

static void
preserve_table(struct sl_shard_table *t, const struct sl_shard_table *o,
    int (*target_exists)(const char *, void *), void *arg)
{
	struct ht		 cols = { 0 }, seen = { 0 };
	const struct sl_column	*oc;
	struct sl_join		*joins = NULL;
	size_t			 i, njoins = 0;

	keep_descriptions(&t->descriptions, &o->descriptions);
	for (i = 0; i < o->ncolumns; i++)
		*ht_slot(&cols, o->columns[i].name,
		    strlen(o->columns[i].name)) = &o->columns[i];
	for (i = 0; i < t->ncolumns; i++)
		if ((oc = ht_get(&cols, t->columns[i].name,
		    strlen(t->columns[i].name))) != NULL)
			keep_descriptions(&t->columns[i].descriptions,
			    &oc->descriptions);
	if (t->usage == NULL && o->usage != NULL)
		t->usage = node_dup(o->usage);
	for (i = 0; i < o->njoins; i++)
		if (kept_origin(&o->joins[i], "manual", target_exists, arg))
			keep_join(&joins, &njoins, &seen, &o->joins[i]);
	for (i = 0; i < t->njoins; i++)
		keep_join(&joins, &njoins, &seen, &t->joins[i]);
	for (i = 0; i < o->njoins; i++)
		if (kept_origin(&o->joins[i], "inferred", target_exists, arg))
			keep_join(&joins, &njoins, &seen, &o->joins[i]);
	for (i = 0; i < t->njoins; i++)
		join_release(&t->joins[i]);
	free(t->joins);
	t->joins = joins;
	t->njoins = njoins;
	ht_release(&cols, NULL);
	ht_release(&seen, NULL);
}

void
sl_shard_preserve(struct sl_shard *fresh, const struct sl_shard *old,
    int (*target_exists)(const char *to, void *arg), void *arg)
{
	struct ht			 olds = { 0 };
	const struct sl_shard_table	*o;
	size_t				 i;

	for (i = 0; i < old->ntables; i++)
		*ht_slot(&olds, old->tables[i].key,
		    strlen(old->tables[i].key)) = &old->tables[i];
	for (i = 0; i < fresh->ntables; i++)
		if ((o = ht_get(&olds, fresh->tables[i].key,
		    strlen(fresh->tables[i].key))) != NULL)
			preserve_table(&fresh->tables[i], o, target_exists,
			    arg);
	ht_release(&olds, NULL);
}
