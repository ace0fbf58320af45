/*
 * Wiki pages: parse, emit and the references a page's body holds.
 *
 * The frontmatter is read with libyaml's event parser, as config.c reads
 * ktx.yaml, so that every value keeps the line and column where it stands
 * in the page file.  Plain scalars are typed the way the "yaml" package
 * ktx uses types them (YAML 1.2 core schema), because that decides how a
 * value is written back: the string "42" must come out quoted, the number
 * 42 bare.  Numbers are kept as the text JavaScript prints for them, which
 * is what ktx writes after a parse.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "util.h"
#include "wiki.h"

/* A growing byte buffer for the emitter. */
struct wbuf {
	char		*p;
	size_t		 len;
	size_t		 cap;
	/* The plain value written last: where, and its text (wiki_emit). */
	size_t		 plain_at;
	const char	*plain;
	size_t		 plain_len;
};

static void
wbuf_add(struct wbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		while (b->len + n + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 256;
		b->p = xreallocarray(b->p, b->cap, 1);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
wbuf_str(struct wbuf *b, const char *s)
{
	wbuf_add(b, s, strlen(s));
}

static void
wbuf_spaces(struct wbuf *b, int n)
{
	for (; n > 0; n--)
		wbuf_add(b, " ", 1);
}

/*
 * JavaScript's notion of white space (String.prototype.trim, \s), which
 * decides how ktx trims a body and what it takes for a fence line.
 */
static int
js_space(uint32_t cp)
{
	return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0xa0 ||
	    cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
	    cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000 ||
	    cp == 0xfeff;
}

/* The length of the white space character at s, or 0. */
static size_t
space_at(const char *s, size_t avail)
{
	uint32_t	cp;
	size_t		n;

	n = utf8_char((const unsigned char *)s, avail, &cp);
	return n > 0 && js_space(cp) ? n : 0;
}

/* A UTF-8 text's JavaScript length: UTF-16 code units. */
static size_t
js_length(const char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i, n = 0;

	for (i = 0; i < len; i++)
		if ((u[i] & 0xc0) != 0x80)
			n += u[i] >= 0xf0 ? 2 : 1;
	return n;
}

/* The length of s[0..len) once JavaScript's trimEnd has trimmed it. */
static size_t
js_trim_end(const char *s, size_t len)
{
	size_t	n, k;

	while (len > 0) {
		/* Back up to the start of the last character. */
		k = len - 1;
		while (k > 0 && len - k < 4 &&
		    ((unsigned char)s[k] & 0xc0) == 0x80)
			k--;
		if ((n = space_at(s + k, len - k)) == 0 || k + n != len)
			break;
		len = k;
	}
	return len;
}

/* Trim s[0..*len) as JavaScript trims; returns the new start. */
static const char *
js_trim(const char *s, size_t *len)
{
	size_t	n, end = *len;

	while (end > 0 && (n = space_at(s, end)) > 0) {
		s += n;
		end -= n;
	}
	*len = js_trim_end(s, end);
	return s;
}

/*
 * Values.
 */

static struct wiki_value *
value_new(enum wiki_type type, int line, int column)
{
	struct wiki_value	*v = xcalloc(1, sizeof(*v));

	v->type = type;
	v->line = line;
	v->column = column;
	return v;
}

static void
value_set_text(struct wiki_value *v, const char *s, size_t len)
{
	free(v->text);
	v->text = xmalloc(len + 1);
	memcpy(v->text, s, len);
	v->text[len] = '\0';
	v->len = len;
}

static void
value_add(struct wiki_value *parent, struct wiki_value *kid)
{
	if (parent->nkids == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->kids = xreallocarray(parent->kids, parent->cap,
		    sizeof(*parent->kids));
	}
	parent->kids[parent->nkids++] = kid;
}

/* Recursion is bounded: the parser refuses to nest deeper than the limit. */
void
wiki_value_free(struct wiki_value *v)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nkids; i++)
		wiki_value_free(v->kids[i]);
	free(v->kids);
	free(v->text);
	free(v);
}

struct wiki_value *
wiki_strlist_new(const struct strv *items)
{
	struct wiki_value	*seq, *s;
	size_t			 i;

	seq = value_new(WIKI_SEQ, 0, 0);
	for (i = 0; i < items->n; i++) {
		s = value_new(WIKI_STRING, 0, 0);
		value_set_text(s, items->v[i], strlen(items->v[i]));
		value_add(seq, s);
	}
	return seq;
}

/*
 * Numbers as JavaScript prints them (Number.prototype.toString): the
 * shortest digits that read back as the same double, positional notation
 * for decimal exponents from -6 to 20, else d.ddde+N.
 */
static void
js_number_text(double x, char *out, size_t size)
{
	char	 e[40], digits[24];
	char	*p;
	int	 prec, exp10, ndigits, point, i;
	size_t	 o = 0;

	if (isnan(x)) {
		snprintf(out, size, ".nan");
		return;
	}
	if (isinf(x)) {
		snprintf(out, size, "%s", x < 0 ? "-.inf" : ".inf");
		return;
	}
	if (x == 0) {
		snprintf(out, size, "%s", signbit(x) ? "-0" : "0");
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec - 1, x);
		if (strtod(e, NULL) == x)
			break;
	}
	/* e is "[-]d[.ddd]e[+-]XX". */
	p = e;
	if (*p == '-') {
		out[o++] = '-';
		p++;
	}
	ndigits = 0;
	for (; *p != 'e'; p++)
		if (*p != '.')
			digits[ndigits++] = *p;
	while (ndigits > 1 && digits[ndigits - 1] == '0')
		ndigits--;
	digits[ndigits] = '\0';
	exp10 = atoi(p + 1);
	point = exp10 + 1;	/* digits before the decimal point */
	if (point >= ndigits && point <= 21) {
		o += (size_t)snprintf(out + o, size - o, "%s", digits);
		for (i = ndigits; i < point && o + 1 < size; i++)
			out[o++] = '0';
		out[o] = '\0';
	} else if (point > 0 && point <= 21)
		snprintf(out + o, size - o, "%.*s.%s", point, digits,
		    digits + point);
	else if (point > -6 && point <= 0) {
		o += (size_t)snprintf(out + o, size - o, "0.");
		for (i = point; i < 0 && o + 1 < size; i++)
			out[o++] = '0';
		snprintf(out + o, size - o, "%s", digits);
	} else
		snprintf(out + o, size - o, "%c%s%se%c%d", digits[0],
		    ndigits > 1 ? "." : "", digits + 1,
		    exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
}

static int
all_of(const char *s, size_t len, const char *set)
{
	size_t	i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return 0;
	return 1;
}

static int
text_in(const char *s, size_t len, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strlen(*list) == len && memcmp(*list, s, len) == 0)
			return 1;
	return 0;
}

/*
 * A decimal float of the core schema:
 * [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
 */
static int
is_core_float(const char *s, size_t len)
{
	size_t	i = 0, int_digits = 0, frac_digits = 0, exp_digits = 0;
	int	dot = 0, exp = 0;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		int_digits++;
	if (i < len && s[i] == '.') {
		dot = 1;
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			frac_digits++;
	}
	if (int_digits == 0 && frac_digits == 0)
		return 0;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		exp = 1;
		i++;
		if (i < len && (s[i] == '-' || s[i] == '+'))
			i++;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			exp_digits++;
		if (exp_digits == 0)
			return 0;
	}
	/* Digits alone are an integer; a float needs a dot or an exponent. */
	return i == len && (dot || exp);
}

/*
 * Type a plain scalar as the YAML 1.2 core schema does.  Returns the type
 * and, for anything but a string, the text ktx would write in out.
 */
static enum wiki_type
resolve_plain(const char *s, size_t len, char *out, size_t size)
{
	static const char *const nulls[] = { "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", NULL };
	static const char *const infs[] = { ".inf", ".Inf", ".INF", "+.inf",
	    "+.Inf", "+.INF", NULL };
	static const char *const ninfs[] = { "-.inf", "-.Inf", "-.INF", NULL };
	static const char *const nans[] = { ".nan", ".NaN", ".NAN", NULL };
	char	 tmp[64];
	double	 x = 0;
	size_t	 i, sign;

	if (len == 0 || text_in(s, len, nulls)) {
		snprintf(out, size, "null");
		return WIKI_NULL;
	}
	if (text_in(s, len, trues) || text_in(s, len, falses)) {
		snprintf(out, size, "%s", text_in(s, len, trues) ? "true" :
		    "false");
		return WIKI_BOOL;
	}
	if (text_in(s, len, infs) || text_in(s, len, ninfs) ||
	    text_in(s, len, nans)) {
		snprintf(out, size, "%s", text_in(s, len, nans) ? ".nan" :
		    text_in(s, len, infs) ? ".inf" : "-.inf");
		return WIKI_NUMBER;
	}
	if (len > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
		if (!all_of(s + 2, len - 2, s[1] == 'o' ? "01234567" :
		    "0123456789abcdefABCDEF"))
			return WIKI_STRING;
		for (i = 2; i < len; i++) {
			x = x * (s[1] == 'o' ? 8 : 16);
			if (s[i] <= '9')
				x += s[i] - '0';
			else
				x += (s[i] | 0x20) - 'a' + 10;
		}
		js_number_text(x, out, size);
		return WIKI_NUMBER;
	}
	sign = s[0] == '-' || s[0] == '+';
	if (all_of(s + sign, len - sign, "0123456789") ||
	    is_core_float(s, len)) {
		if (len >= sizeof(tmp)) {
			/* Long digit strings: strtod needs a NUL. */
			char	*copy = xstrndup(s, len);

			x = strtod(copy, NULL);
			free(copy);
		} else {
			memcpy(tmp, s, len);
			tmp[len] = '\0';
			x = strtod(tmp, NULL);
		}
		js_number_text(x, out, size);
		return WIKI_NUMBER;
	}
	return WIKI_STRING;
}

/*
 * Parsing.
 */

struct parser {
	const char		*name;
	char			*errmsg;
	struct wiki_value	*root;
	struct wiki_value	*stack[WIKI_MAX_DEPTH];
	size_t			 depth;
	int			 line0;		/* file line of frontmatter line 1 */
};

static void
parse_fail(struct parser *ps, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void
parse_fail(struct parser *ps, int line, int column, const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	if (ps->errmsg != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	xasprintf(&ps->errmsg, "%s:%d:%d: %s", ps->name, line, column, msg);
}

static int
mark_line(const struct parser *ps, const yaml_mark_t *m)
{
	return (int)m->line + ps->line0;
}

static int
key_cmp(const void *pa, const void *pb)
{
	const struct wiki_value	*a = *(const struct wiki_value *const *)pa;
	const struct wiki_value	*b = *(const struct wiki_value *const *)pb;
	int			 c;

	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if ((c = memcmp(a->text, b->text, a->len)) != 0)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return a->column < b->column ? -1 : a->column > b->column;
}

/* The "yaml" package refuses a mapping with a repeated key; so do we. */
static int
check_duplicates(struct parser *ps, const struct wiki_value *map)
{
	const struct wiki_value	**keys, *dup = NULL, *first = NULL;
	size_t			  i, nkeys = map->nkids / 2;

	if (nkeys < 2)
		return 0;
	keys = xreallocarray(NULL, nkeys, sizeof(*keys));
	for (i = 0; i < nkeys; i++)
		keys[i] = map->kids[2 * i];
	qsort(keys, nkeys, sizeof(*keys), key_cmp);
	for (i = 1; i < nkeys; i++) {
		if (keys[i]->len != keys[i - 1]->len ||
		    memcmp(keys[i]->text, keys[i - 1]->text, keys[i]->len))
			continue;
		if (dup == NULL || keys[i]->line < dup->line ||
		    (keys[i]->line == dup->line &&
		    keys[i]->column < dup->column)) {
			dup = keys[i];
			first = keys[i - 1];
		}
	}
	if (dup != NULL)
		parse_fail(ps, dup->line, dup->column,
		    "duplicate key \"%s\" (first at %d:%d)", dup->text,
		    first->line, first->column);
	free(keys);
	return dup != NULL ? -1 : 0;
}

static int
attach(struct parser *ps, struct wiki_value *v, const yaml_char_t *anchor)
{
	struct wiki_value	*parent;

	if (anchor != NULL) {
		parse_fail(ps, v->line, v->column,
		    "anchors and aliases are not supported in wiki frontmatter");
		wiki_value_free(v);
		return -1;
	}
	if (ps->depth == 0 && ps->root != NULL) {
		/* A "\r---" line: libyaml takes CR for a line break. */
		parse_fail(ps, v->line, v->column,
		    "the frontmatter holds more than one YAML document");
		wiki_value_free(v);
		return -1;
	}
	if (ps->depth == 0)
		ps->root = v;
	else {
		parent = ps->stack[ps->depth - 1];
		if (parent->type == WIKI_MAP && parent->nkids % 2 == 0 &&
		    v->type != WIKI_NULL && v->type != WIKI_BOOL &&
		    v->type != WIKI_NUMBER && v->type != WIKI_STRING) {
			parse_fail(ps, v->line, v->column,
			    "a mapping key must be a scalar");
			wiki_value_free(v);
			return -1;
		}
		/*
		 * JavaScript object keys are strings: 1: x is key "1",
		 * a null key is "".
		 */
		if (parent->type == WIKI_MAP && parent->nkids % 2 == 0) {
			if (v->type == WIKI_NULL)
				value_set_text(v, "", 0);
			v->type = WIKI_STRING;
		}
		value_add(parent, v);
	}
	if (v->type != WIKI_SEQ && v->type != WIKI_MAP)
		return 0;
	if (ps->depth == WIKI_MAX_DEPTH) {
		parse_fail(ps, v->line, v->column,
		    "nested deeper than %d levels", WIKI_MAX_DEPTH);
		return -1;
	}
	ps->stack[ps->depth++] = v;
	return 0;
}

static struct wiki_value *
scalar_value(struct parser *ps, const yaml_event_t *ev)
{
	struct wiki_value	*v;
	const char		*s = (const char *)ev->data.scalar.value;
	const char		*tag = (const char *)ev->data.scalar.tag;
	size_t			 len = ev->data.scalar.length;
	char			 canon[64];
	enum wiki_type		 type = WIKI_STRING;

	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (tag == NULL || strcmp(tag, YAML_STR_TAG) != 0))
		type = resolve_plain(s, len, canon, sizeof(canon));
	v = value_new(type, mark_line(ps, &ev->start_mark),
	    (int)ev->start_mark.column + 1);
	if (type == WIKI_STRING)
		value_set_text(v, s, len);
	else
		value_set_text(v, canon, strlen(canon));
	return v;
}

/* Returns 1 at the end of the stream, 0 to go on, -1 on error. */
static int
parse_event(struct parser *ps, const yaml_event_t *ev)
{
	struct wiki_value	*v;
	int			 line = mark_line(ps, &ev->start_mark);
	int			 column = (int)ev->start_mark.column + 1;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 1;
	case YAML_ALIAS_EVENT:
		parse_fail(ps, line, column,
		    "anchors and aliases are not supported in wiki frontmatter");
		return -1;
	case YAML_SCALAR_EVENT:
		return attach(ps, scalar_value(ps, ev),
		    ev->data.scalar.anchor);
	case YAML_SEQUENCE_START_EVENT:
		return attach(ps, value_new(WIKI_SEQ, line, column),
		    ev->data.sequence_start.anchor);
	case YAML_MAPPING_START_EVENT:
		return attach(ps, value_new(WIKI_MAP, line, column),
		    ev->data.mapping_start.anchor);
	case YAML_SEQUENCE_END_EVENT:
		ps->depth--;
		return 0;
	case YAML_MAPPING_END_EVENT:
		v = ps->stack[--ps->depth];
		return check_duplicates(ps, v);
	default:
		return 0;
	}
}

/*
 * libyaml gives the byte offset of a bad character (a reader error), not
 * its mark: count the lines and characters before it instead.
 */
static void
yaml_failure(struct parser *ps, const yaml_parser_t *p, const char *yaml,
    size_t len)
{
	const char	*problem = p->problem != NULL ? p->problem :
			    "cannot be parsed";
	size_t		 i, off = p->problem_offset;
	int		 line = ps->line0, column = 1;

	if (p->error != YAML_READER_ERROR) {
		parse_fail(ps, mark_line(ps, &p->problem_mark),
		    (int)p->problem_mark.column + 1, "invalid YAML: %s",
		    problem);
		return;
	}
	for (i = 0; i < off && i < len; i++) {
		if (yaml[i] == '\n') {
			line++;
			column = 1;
		} else if (((unsigned char)yaml[i] & 0xc0) != 0x80)
			column++;
	}
	parse_fail(ps, line, column, "invalid YAML: %s", problem);
}

static int
parse_frontmatter(struct parser *ps, const char *yaml, size_t len)
{
	yaml_parser_t	parser;
	yaml_event_t	ev;
	int		r = 0, rv = -1;

	if (!yaml_parser_initialize(&parser)) {
		xasprintf(&ps->errmsg, "%s: cannot initialise the YAML parser",
		    ps->name);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml,
	    len);
	while (r == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			yaml_failure(ps, &parser, yaml, len);
			goto out;
		}
		r = parse_event(ps, &ev);
		yaml_event_delete(&ev);
	}
	if (r == 1)
		rv = 0;
out:
	yaml_parser_delete(&parser);
	return rv;
}

int
wiki_parse(const char *name, const char *buf, size_t len,
    struct wiki_page *page, char **errmsg)
{
	struct parser	 ps;
	const char	*end = NULL, *body;
	size_t		 i, body_len;
	int		 rv = -1;

	memset(&ps, 0, sizeof(ps));
	ps.name = name;
	ps.line0 = 2;
	memset(page, 0, sizeof(*page));
	/* ^---\n([\s\S]*?)\n---: the first "\n---" from byte 4 on. */
	if (len >= 4 && memcmp(buf, "---\n", 4) == 0) {
		for (i = 4; i + 4 <= len; i++)
			if (memcmp(buf + i, "\n---", 4) == 0) {
				end = buf + i;
				break;
			}
	}
	if (end == NULL) {
		xasprintf(&ps.errmsg,
		    "%s: Invalid wiki page: missing YAML frontmatter", name);
		goto out;
	}
	/*
	 * The YAML is handed over with the line break before the closing
	 * marker: the "yaml" package ends a block scalar that stops at the
	 * end of its input as if a line break followed, libyaml does not.
	 */
	if (parse_frontmatter(&ps, buf + 4, (size_t)(end - (buf + 4)) + 1) ==
	    -1)
		goto out;
	if (ps.root == NULL || ps.root->type != WIKI_MAP) {
		parse_fail(&ps, ps.root != NULL ? ps.root->line : 2,
		    ps.root != NULL ? ps.root->column : 1,
		    "the frontmatter must be a mapping");
		goto out;
	}
	page->fm = ps.root;
	ps.root = NULL;
	body = end + 4;
	if (body < buf + len && *body == '\n')
		body++;
	body_len = (size_t)(buf + len - body);
	body = js_trim(body, &body_len);
	/* All of it: a NUL byte in the body must not cut the copy short. */
	page->body = xmalloc(body_len + 1);
	memcpy(page->body, body, body_len);
	page->body[body_len] = '\0';
	page->body_len = body_len;
	rv = 0;
out:
	wiki_value_free(ps.root);
	if (rv == -1)
		*errmsg = ps.errmsg;
	else
		free(ps.errmsg);
	return rv;
}

int
wiki_read(const char *path, const char *name, struct wiki_page *page,
    char **errmsg)
{
	struct stat	 sb;
	char		*buf = NULL;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, rv = -1;

	memset(page, 0, sizeof(*page));
	/* O_NONBLOCK: a FIFO in the page's place must not hang the read. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		if (errno == ENOENT)
			return 1;
		xasprintf(errmsg, "%s: cannot open: %s", name,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		xasprintf(errmsg, "%s: cannot stat: %s", name,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		xasprintf(errmsg, "%s: not a regular file", name);
		goto out;
	}
	if (sb.st_size > WIKI_PAGE_MAX_BYTES) {
		xasprintf(errmsg, "%s: too large (more than %d bytes)", name,
		    WIKI_PAGE_MAX_BYTES);
		goto out;
	}
	/* One byte past the limit: the file may grow under us. */
	buf = xmalloc((size_t)sb.st_size + 2);
	while (len <= (size_t)sb.st_size) {
		n = read(fd, buf + len, (size_t)sb.st_size + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(errmsg, "%s: cannot read: %s", name,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > (size_t)sb.st_size) {
		xasprintf(errmsg, "%s: changed while it was read", name);
		goto out;
	}
	rv = wiki_parse(name, buf, len, page, errmsg);
out:
	free(buf);
	close(fd);
	return rv;
}

void
wiki_page_release(struct wiki_page *page)
{
	wiki_value_free(page->fm);
	free(page->body);
	memset(page, 0, sizeof(*page));
}

/*
 * Emitting, as the "yaml" package's stringify does with indent 2 and line
 * width 0: block collections, sequences indented under their key, strings
 * plain where that reads back as the same string, else quoted, and
 * multi-line strings as literal blocks.
 */

/*
 * The bytes of a character libyaml does not read back as itself: C0
 * controls but tab and newline, DEL and C1 (it refuses them raw), LS and
 * PS (it takes them for line breaks).  Escaped in double quotes.  0 for
 * any other character.
 */
static size_t
unreadable_at(const char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;

	if ((u[0] < 0x20 && u[0] != '\t' && u[0] != '\n') || u[0] == 0x7f)
		return 1;
	if (u[0] == 0xc2 && len >= 2 && u[1] >= 0x80 && u[1] <= 0x9f)
		return 2;
	if (u[0] == 0xe2 && len >= 3 && u[1] == 0x80 &&
	    (u[2] == 0xa8 || u[2] == 0xa9))
		return 3;
	return 0;
}

/* Characters only double quotes can carry force them. */
static int
needs_double_quotes(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (unreadable_at(s + i, len - i) != 0)
			return 1;
	return 0;
}

static int
has(const char *s, size_t len, const char *needle)
{
	return memmem(s, len, needle, strlen(needle)) != NULL;
}

/* Text that plain style would misread: indicators, ": ", " #", ... */
static int
plain_unsafe(const char *s, size_t len)
{
	char	last;

	if (len == 0)
		return 0;
	if (strchr("\n\t ,[]{}#&*!|>'\"%@`", s[0]) != NULL)
		return 1;
	if ((s[0] == '-' || s[0] == '?') &&
	    (len == 1 || s[1] == ' ' || s[1] == '\t'))
		return 1;
	if (has(s, len, "\n ") || has(s, len, "\n\t") || has(s, len, ": ") ||
	    has(s, len, ":\t") || has(s, len, " \n") || has(s, len, "\t\n") ||
	    has(s, len, "\n#") || has(s, len, "\t#") || has(s, len, " #"))
		return 1;
	last = s[len - 1];
	return last == '\n' || last == '\t' || last == ' ' || last == ':';
}

static void
emit_double_quoted(struct wbuf *b, const char *s, size_t len)
{
	char	esc[8];
	size_t	i;

	wbuf_add(b, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char	c = (unsigned char)s[i];

		switch (c) {
		case '"':
			wbuf_str(b, "\\\"");
			break;
		case '\\':
			wbuf_str(b, "\\\\");
			break;
		case '\0':
			wbuf_str(b, "\\0");
			break;
		case 0x07:
			wbuf_str(b, "\\a");
			break;
		case '\b':
			wbuf_str(b, "\\b");
			break;
		case '\t':
			wbuf_str(b, "\\t");
			break;
		case '\n':
			wbuf_str(b, "\\n");
			break;
		case 0x0b:
			wbuf_str(b, "\\v");
			break;
		case '\f':
			wbuf_str(b, "\\f");
			break;
		case '\r':
			wbuf_str(b, "\\r");
			break;
		case 0x1b:
			wbuf_str(b, "\\e");
			break;
		default:
			/*
			 * The "yaml" package leaves DEL, C1, LS and PS raw;
			 * libyaml would not read them back.
			 */
			switch (unreadable_at(s + i, len - i)) {
			case 1:
				snprintf(esc, sizeof(esc), "\\x%02x", c);
				wbuf_str(b, esc);
				break;
			case 2:
				snprintf(esc, sizeof(esc), "\\x%02x",
				    (unsigned char)s[++i]);
				wbuf_str(b, esc);
				break;
			case 3:
				wbuf_str(b, (unsigned char)s[i + 2] == 0xa8 ?
				    "\\L" : "\\P");
				i += 2;
				break;
			default:
				wbuf_add(b, (const char *)&c, 1);
			}
		}
	}
	wbuf_add(b, "\"", 1);
}

/*
 * Single quotes for text with a double quote and no single one, as the
 * "yaml" package does, but never across a line break: in single quotes a
 * break folds into a space.  The package takes double quotes there too,
 * since a multi-line string comes here only as a key or with blanks after
 * its last break (literal_unfit), and it keeps single quotes for neither.
 */
static void
emit_quoted(struct wbuf *b, const char *s, size_t len)
{
	size_t	i;

	if (needs_double_quotes(s, len) || memchr(s, '"', len) == NULL ||
	    memchr(s, '\'', len) != NULL || memchr(s, '\n', len) != NULL) {
		emit_double_quoted(b, s, len);
		return;
	}
	wbuf_add(b, "'", 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '\'')
			wbuf_add(b, "'", 1);
		wbuf_add(b, s + i, 1);
	}
	wbuf_add(b, "'", 1);
}

/*
 * A literal block.  The chomping indicator follows the trailing line
 * breaks ("-" none, "" one, "+" more), an indentation indicator is given
 * when the text starts with a space or a tab, and every line that has text
 * is indented to indent.  The "yaml" package gives none for a tab, and
 * libyaml, guessing the indentation, refuses the tab ("found a tab
 * character where an indentation space is expected").
 */
static void
emit_literal(struct wbuf *b, const char *s, size_t len, int indent)
{
	size_t	end = len, i, nl_first = len;
	int	keep = 0, at_line_start;

	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\t' ||
	    s[end - 1] == ' '))
		end--;
	for (i = end; i < len; i++)
		if (s[i] == '\n') {
			nl_first = i;
			break;
		}
	if (nl_first != len && (end == 0 || nl_first != len - 1))
		keep = 1;
	for (i = 0; i < len && s[i] == '\n'; i++)
		;
	wbuf_add(b, "|", 1);
	if (i < len && (s[i] == ' ' || s[i] == '\t'))
		wbuf_add(b, "2", 1);
	if (nl_first == len)
		wbuf_add(b, "-", 1);
	else if (keep)
		wbuf_add(b, "+", 1);
	/* A last line break is the block's own. */
	if (s[len - 1] == '\n')
		len--;
	wbuf_add(b, "\n", 1);
	wbuf_spaces(b, indent);
	at_line_start = 0;
	for (i = 0; i < len; i++) {
		if (s[i] != '\n' && at_line_start)
			wbuf_spaces(b, indent);
		at_line_start = s[i] == '\n';
		wbuf_add(b, s + i, 1);
	}
}

/* A literal block cannot end in a line of blanks; such a string is quoted. */
static int
literal_unfit(const char *s, size_t len)
{
	size_t	i = len;

	while (i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
		i--;
	return i < len && i > 0 && s[i - 1] == '\n';
}

/*
 * A string.  indent is where a literal block's lines start; a key can
 * never be a block.
 */
static void
emit_string(struct wbuf *b, const char *s, size_t len, int indent,
    int is_key)
{
	char	canon[64];
	int	multiline = memchr(s, '\n', len) != NULL;

	if (needs_double_quotes(s, len)) {
		emit_double_quoted(b, s, len);
		return;
	}
	if (plain_unsafe(s, len) || (is_key && multiline)) {
		if (is_key || !multiline || literal_unfit(s, len))
			emit_quoted(b, s, len);
		else
			emit_literal(b, s, len, indent);
		return;
	}
	if (multiline) {
		emit_literal(b, s, len, indent);
		return;
	}
	if (is_key && len >= 3 && (memcmp(s, "---", 3) == 0 ||
	    memcmp(s, "...", 3) == 0)) {
		emit_quoted(b, s, len);
		return;
	}
	if (resolve_plain(s, len, canon, sizeof(canon)) != WIKI_STRING) {
		emit_quoted(b, s, len);
		return;
	}
	if (!is_key) {
		b->plain_at = b->len;
		b->plain = s;
		b->plain_len = len;
	}
	wbuf_add(b, s, len);
}

static void emit_map(struct wbuf *, const struct wiki_value *, int, int);
static void emit_seq(struct wbuf *, const struct wiki_value *, int, int);

static int
is_block(const struct wiki_value *v)
{
	return (v->type == WIKI_SEQ || v->type == WIKI_MAP) && v->nkids > 0;
}

/* A value that follows "key:" or "- " on the same line. */
static void
emit_inline(struct wbuf *b, const struct wiki_value *v, int indent)
{
	if (v->type == WIKI_SEQ)
		wbuf_str(b, "[]");
	else if (v->type == WIKI_MAP)
		wbuf_str(b, "{}");
	else if (v->type == WIKI_STRING)
		emit_string(b, v->text, v->len, indent, 0);
	else
		wbuf_add(b, v->text, v->len);
}

/*
 * A key JavaScript takes for an array index ("0", "17", below 2^32 - 1):
 * an object lists those first, in numeric order, then the other keys in
 * the order they were added; ktx's parse and stringify reorder so.
 * Returns the index or -1.
 */
static long long
index_key(const struct wiki_value *k)
{
	long long	n = 0;
	size_t		i;

	if (k->len == 0 || k->len > 10 || (k->text[0] == '0' && k->len > 1))
		return -1;
	for (i = 0; i < k->len; i++) {
		if (k->text[i] < '0' || k->text[i] > '9')
			return -1;
		n = n * 10 + (k->text[i] - '0');
	}
	return n < 4294967295LL ? n : -1;
}

static int
index_pair_cmp(const void *pa, const void *pb)
{
	long long	a = index_key(*(const struct wiki_value *const *)pa);
	long long	b = index_key(*(const struct wiki_value *const *)pb);

	return a < b ? -1 : a > b;
}

/*
 * A mapping whose keys start at column indent.  first_inline: the first
 * key follows a "- " already written.
 */
static void
emit_map(struct wbuf *b, const struct wiki_value *map, int indent,
    int first_inline)
{
	const struct wiki_value	**order, *k, *v;
	size_t			  i, key_at, n = 0, npairs = map->nkids / 2;

	/* order holds key, value pointer pairs: index keys, then the rest. */
	order = xreallocarray(NULL, npairs * 2 + 1, sizeof(*order));
	for (i = 0; i < npairs; i++)
		if (index_key(map->kids[2 * i]) >= 0) {
			order[2 * n] = map->kids[2 * i];
			order[2 * n + 1] = map->kids[2 * i + 1];
			n++;
		}
	if (n > 1)
		qsort(order, n, 2 * sizeof(*order), index_pair_cmp);
	for (i = 0; i < npairs; i++)
		if (index_key(map->kids[2 * i]) < 0) {
			order[2 * n] = map->kids[2 * i];
			order[2 * n + 1] = map->kids[2 * i + 1];
			n++;
		}
	for (i = 0; i < npairs; i++) {
		k = order[2 * i];
		v = order[2 * i + 1];
		if (i > 0 || !first_inline)
			wbuf_spaces(b, indent);
		key_at = b->len;
		emit_string(b, k->text, k->len, indent, 1);
		if (b->len - key_at > 1024 &&
		    js_length(b->p + key_at, b->len - key_at) > 1024) {
			/*
			 * An implicit key spans at most 1024 characters
			 * (libyaml refuses more): "? key", then ": value",
			 * as the "yaml" package writes it.
			 */
			wbuf_add(b, "  ", 2);
			memmove(b->p + key_at + 2, b->p + key_at,
			    b->len - key_at - 2);
			memcpy(b->p + key_at, "? ", 2);
			wbuf_add(b, "\n", 1);
			wbuf_spaces(b, indent);
			wbuf_add(b, ": ", 2);
			if (v->type == WIKI_SEQ && v->nkids > 0)
				emit_seq(b, v, indent + 2, 1);
			else if (v->type == WIKI_MAP && v->nkids > 0)
				emit_map(b, v, indent + 2, 1);
			else {
				emit_inline(b, v, indent + 2);
				wbuf_add(b, "\n", 1);
			}
			continue;
		}
		wbuf_add(b, ":", 1);
		if (v->type == WIKI_SEQ && v->nkids > 0) {
			wbuf_add(b, "\n", 1);
			emit_seq(b, v, indent + 2, 0);
		} else if (v->type == WIKI_MAP && v->nkids > 0) {
			wbuf_add(b, "\n", 1);
			emit_map(b, v, indent + 2, 0);
		} else {
			wbuf_add(b, " ", 1);
			emit_inline(b, v, indent + 2);
			wbuf_add(b, "\n", 1);
		}
	}
	free(order);
}

static void
emit_seq(struct wbuf *b, const struct wiki_value *seq, int indent,
    int first_inline)
{
	const struct wiki_value	*v;
	size_t			 i;

	for (i = 0; i < seq->nkids; i++) {
		v = seq->kids[i];
		if (i > 0 || !first_inline)
			wbuf_spaces(b, indent);
		wbuf_add(b, "- ", 2);
		if (v->type == WIKI_MAP && is_block(v))
			emit_map(b, v, indent + 2, 1);
		else if (v->type == WIKI_SEQ && is_block(v))
			emit_seq(b, v, indent + 2, 1);
		else {
			emit_inline(b, v, indent + 2);
			wbuf_add(b, "\n", 1);
		}
	}
}

char *
wiki_emit(const struct wiki_page *page, size_t *lenp)
{
	struct wbuf	 b;
	size_t		 start;

	memset(&b, 0, sizeof(b));
	wbuf_str(&b, "---\n");
	start = b.len;
	if (page->fm == NULL || page->fm->nkids == 0)
		wbuf_str(&b, "{}");
	else
		emit_map(&b, page->fm, 0, 0);
	/*
	 * ktx trims the YAML's trailing white space (trimEnd).  A plain value
	 * written last that ends in space only JavaScript trims (NBSP, U+3000,
	 * ...) would lose it, and a ":" or "-" left bare reads back as no
	 * string at all: that value is quoted instead.
	 */
	if (b.plain != NULL && b.plain_at + b.plain_len + 1 == b.len &&
	    js_trim_end(b.plain, b.plain_len) != b.plain_len) {
		b.len = b.plain_at;
		emit_quoted(&b, b.plain, b.plain_len);
		wbuf_add(&b, "\n", 1);
	}
	b.len = start + js_trim_end(b.p + start, b.len - start);
	wbuf_str(&b, "\n---\n\n");
	if (page->body != NULL)
		wbuf_add(&b, page->body, page->body_len);
	wbuf_str(&b, "\n");
	*lenp = b.len;
	return b.p;
}

int
wiki_write(const char *path, const struct wiki_page *page, char **errmsg)
{
	char	*text, *tmp = NULL;
	size_t	 len, off = 0;
	ssize_t	 n;
	int	 fd = -1, rv = -1;

	text = wiki_emit(page, &len);
	xasprintf(&tmp, "%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) == -1) {
		xasprintf(errmsg, "%s: cannot create a temporary file: %s",
		    path, strerror(errno));
		goto out;
	}
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(errmsg, "%s: cannot write: %s", tmp,
			    strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	/* Pages are ordinary tracked files: 0644 as git checks them out. */
	if (fchmod(fd, 0644) == -1 || close(fd) == -1) {
		fd = -1;
		xasprintf(errmsg, "%s: cannot write: %s", tmp,
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

/*
 * Fields.
 */

static int
text_eq(const struct wiki_value *v, const char *s)
{
	size_t	len = strlen(s);

	return v->len == len && memcmp(v->text, s, len) == 0;
}

const struct wiki_value *
wiki_get(const struct wiki_page *page, const char *field)
{
	size_t	i;

	if (page->fm == NULL)
		return NULL;
	for (i = 0; i + 1 < page->fm->nkids; i += 2)
		if (text_eq(page->fm->kids[i], field))
			return page->fm->kids[i + 1];
	return NULL;
}

void
wiki_set(struct wiki_page *page, const char *field, struct wiki_value *value)
{
	struct wiki_value	*key;
	size_t			 i;

	if (page->fm == NULL)
		page->fm = value_new(WIKI_MAP, 0, 0);
	for (i = 0; i + 1 < page->fm->nkids; i += 2)
		if (text_eq(page->fm->kids[i], field)) {
			wiki_value_free(page->fm->kids[i + 1]);
			page->fm->kids[i + 1] = value;
			return;
		}
	key = value_new(WIKI_STRING, 0, 0);
	value_set_text(key, field, strlen(field));
	value_add(page->fm, key);
	value_add(page->fm, value);
}

void
wiki_field_list(const struct wiki_page *page, const char *field,
    struct strv *out)
{
	const struct wiki_value	*v = wiki_get(page, field), *item;
	size_t			 i;

	if (v == NULL || v->type == WIKI_NULL || v->type == WIKI_MAP)
		return;
	if (v->type != WIKI_SEQ) {
		strv_push(out, v->text);
		return;
	}
	for (i = 0; i < v->nkids; i++) {
		item = v->kids[i];
		if (item->type != WIKI_SEQ && item->type != WIKI_MAP)
			strv_push(out, item->text);
	}
}

/*
 * Keys.
 */

static int
key_valid(const char *key, int lower_only)
{
	const char	*p;

	for (p = key; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
			continue;
		if (!lower_only && *p >= 'A' && *p <= 'Z')
			continue;
		if (p > key && (*p == '_' || *p == '-'))
			continue;
		return 0;
	}
	return p > key;
}

int
wiki_key_valid(const char *key)
{
	return key_valid(key, 0);
}

int
wiki_ref_key_valid(const char *key)
{
	return key_valid(key, 1);
}

char *
wiki_global_key(const char *path)
{
	const char	*name;
	char		*key;
	size_t		 len, plen = strlen(WIKI_GLOBAL_DIR);

	if (strncmp(path, WIKI_GLOBAL_DIR, plen) != 0 || path[plen] != '/')
		return NULL;
	name = path + plen + 1;
	len = strlen(name);
	if (len <= 3 || strcmp(name + len - 3, ".md") != 0)
		return NULL;
	key = xstrndup(name, len - 3);
	if (!wiki_key_valid(key)) {
		free(key);
		return NULL;
	}
	return key;
}

/*
 * Body references.
 */

void
wiki_body_links(const char *body, size_t len, struct wiki_links *out)
{
	struct wiki_link	*l;
	const char		*t, *bar;
	size_t			 i = 0, j, tlen;

	while (i + 1 < len) {
		if (body[i] != '[' || body[i + 1] != '[') {
			i++;
			continue;
		}
		for (j = i + 2; j < len && body[j] != ']' && body[j] != '\n';
		    j++)
			;
		if (j == i + 2) {
			i++;
			continue;
		}
		if (j + 1 >= len || body[j] != ']' || body[j + 1] != ']') {
			/* Every start before j - 1 stops at the same j. */
			i = j - 1 > i + 1 ? j - 1 : i + 1;
			continue;
		}
		out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
		l = &out->v[out->n++];
		l->off = i;
		l->len = j + 2 - i;
		t = body + i + 2;
		tlen = j - (i + 2);
		l->label = NULL;
		if ((bar = memchr(t, '|', tlen)) != NULL) {
			l->label = xstrndup(bar + 1, (size_t)(t + tlen - bar - 1));
			tlen = (size_t)(bar - t);
		}
		t = js_trim(t, &tlen);
		l->target = xstrndup(t, tlen);
		i = j + 2;
	}
}

void
wiki_links_release(struct wiki_links *links)
{
	size_t	i;

	for (i = 0; i < links->n; i++) {
		free(links->v[i].target);
		free(links->v[i].label);
	}
	free(links->v);
	memset(links, 0, sizeof(*links));
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
wiki_body_link_keys(const char *body, size_t len, struct strv *out)
{
	struct wiki_links	links;
	struct strv		keys;
	size_t			i;

	memset(&links, 0, sizeof(links));
	memset(&keys, 0, sizeof(keys));
	wiki_body_links(body, len, &links);
	for (i = 0; i < links.n; i++)
		if (wiki_ref_key_valid(links.v[i].target))
			strv_push(&keys, links.v[i].target);
	if (keys.n > 1)
		qsort(keys.v, keys.n, sizeof(*keys.v), str_cmp);
	for (i = 0; i < keys.n; i++)
		if (i == 0 || strcmp(keys.v[i], keys.v[i - 1]) != 0)
			strv_push(out, keys.v[i]);
	strv_release(&keys);
	wiki_links_release(&links);
}

static int
is_identifier(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

static void
ref_add(struct wiki_refs *out, enum wiki_ref_kind kind, const char *conn,
    size_t conn_len, const char *name, size_t name_len, const char *entity,
    size_t entity_len)
{
	struct wiki_ref	*r;

	out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
	r = &out->v[out->n++];
	r->kind = kind;
	r->connection = conn != NULL ? xstrndup(conn, conn_len) : NULL;
	r->name = xstrndup(name, name_len);
	r->entity = entity != NULL ? xstrndup(entity, entity_len) : NULL;
}

/* One `...` span's text, as ktx's parseWikiBodyRefs reads it. */
static void
code_span_ref(const char *s, size_t len, struct wiki_refs *out)
{
	const char	*conn = NULL, *slash, *dot, *rest;
	size_t		 conn_len = 0, rlen;

	s = js_trim(s, &len);
	if (len == 0)
		return;
	/* "<conn>/..." when a '/' follows at least one byte. */
	if ((slash = memchr(s, '/', len)) != NULL && slash > s) {
		conn = s;
		conn_len = (size_t)(slash - s);
		s = slash + 1;
		len -= conn_len + 1;
	}
	if (len >= 7 && memcmp(s, "source:", 7) == 0) {
		rlen = len - 7;
		rest = js_trim(s + 7, &rlen);
		if (rlen > 0)
			ref_add(out, WIKI_REF_SOURCE, conn, conn_len, rest,
			    rlen, NULL, 0);
		return;
	}
	if (len >= 6 && memcmp(s, "table:", 6) == 0) {
		rlen = len - 6;
		rest = js_trim(s + 6, &rlen);
		if (rlen > 0)
			ref_add(out, WIKI_REF_TABLE, conn, conn_len, rest,
			    rlen, NULL, 0);
		return;
	}
	/* Exactly two identifiers joined by one '.'. */
	if ((dot = memchr(s, '.', len)) == NULL ||
	    memchr(dot + 1, '.', (size_t)(s + len - dot - 1)) != NULL)
		return;
	if (is_identifier(s, (size_t)(dot - s)) &&
	    is_identifier(dot + 1, (size_t)(s + len - dot - 1)))
		ref_add(out, WIKI_REF_ENTITY, conn, conn_len, s,
		    (size_t)(dot - s), dot + 1, (size_t)(s + len - dot - 1));
}

/* A line that opens or closes a fence: ^\s*``` */
static int
is_fence(const char *line, size_t len)
{
	size_t	n;

	while (len > 0 && (n = space_at(line, len)) > 0) {
		line += n;
		len -= n;
	}
	return len >= 3 && memcmp(line, "```", 3) == 0;
}

void
wiki_body_refs(const char *body, size_t len, struct wiki_refs *out)
{
	const char	*line = body, *nl, *end = body + len, *p, *close;
	size_t		 llen;
	int		 fenced = 0;

	while (line <= end) {
		nl = memchr(line, '\n', (size_t)(end - line));
		llen = nl != NULL ? (size_t)(nl - line) : (size_t)(end - line);
		if (is_fence(line, llen))
			fenced = !fenced;
		else if (!fenced) {
			for (p = line; p < line + llen; p++) {
				if (*p != '`')
					continue;
				close = memchr(p + 1, '`',
				    (size_t)(line + llen - p - 1));
				if (close == NULL)
					break;
				if (close == p + 1)
					continue;
				code_span_ref(p + 1, (size_t)(close - p - 1),
				    out);
				p = close;
			}
		}
		if (nl == NULL)
			break;
		line = nl + 1;
	}
}

void
wiki_refs_release(struct wiki_refs *refs)
{
	size_t	i;

	for (i = 0; i < refs->n; i++) {
		free(refs->v[i].connection);
		free(refs->v[i].name);
		free(refs->v[i].entity);
	}
	free(refs->v);
	memset(refs, 0, sizeof(*refs));
}
