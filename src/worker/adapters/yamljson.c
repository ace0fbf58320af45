/*
 * YAML documents read into cJSON trees (libyaml events), and cJSON trees
 * written back as block YAML: the Metabase serialization export, the
 * warehouse manifests and the overlays the dbt adapter writes.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "sources.h"

/* How YAML's core schema reads a plain scalar: 0 string, else the type. */
enum plain_type { PLAIN_STRING, PLAIN_NULL, PLAIN_TRUE, PLAIN_FALSE,
    PLAIN_NUMBER };

static int
in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
static const char *const trues[] = { "true", "True", "TRUE", NULL };
static const char *const falses[] = { "false", "False", "FALSE", NULL };

static int
core_number(const char *s)
{
	const char	*p = s;
	int		 digits = 0;

	if (in_list(s, (const char *const[]){ ".inf", ".Inf", ".INF", "+.inf",
	    "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
	    NULL }))
		return 1;
	if (strncmp(s, "0o", 2) == 0 || strncmp(s, "0x", 2) == 0) {
		for (p = s + 2; *p != '\0'; p++) {
			if (s[1] == 'o' && !(*p >= '0' && *p <= '7'))
				return 0;
			if (s[1] == 'x' &&
			    !strchr("0123456789abcdefABCDEF", *p))
				return 0;
		}
		return p > s + 2;
	}
	if (*p == '-' || *p == '+')
		p++;
	for (; *p >= '0' && *p <= '9'; p++)
		digits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	if (digits == 0)
		return 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

static enum plain_type
plain_type(const char *s)
{
	if (in_list(s, nulls))
		return PLAIN_NULL;
	if (in_list(s, trues))
		return PLAIN_TRUE;
	if (in_list(s, falses))
		return PLAIN_FALSE;
	if (core_number(s))
		return PLAIN_NUMBER;
	return PLAIN_STRING;
}

struct frame {
	cJSON	*node;
	char	*key;		/* a mapping's pending key, or NULL */
};

static int
attach(struct frame *top, cJSON *item, const yaml_mark_t *mark,
    const char *name, char **errmsg)
{
	if (cJSON_IsArray(top->node)) {
		cJSON_AddItemToArray(top->node, item);
		return 0;
	}
	if (cJSON_GetObjectItemCaseSensitive(top->node, top->key) != NULL) {
		xasprintf(errmsg, "%s:%zu:%zu: duplicate key \"%s\"", name,
		    mark->line + 1, mark->column + 1, top->key);
		cJSON_Delete(item);
		return -1;
	}
	cJSON_AddItemToObject(top->node, top->key, item);
	free(top->key);
	top->key = NULL;
	return 0;
}

static cJSON *
scalar_item(const yaml_event_t *ev)
{
	const char	*s = (const char *)ev->data.scalar.value;
	const char	*tag = (const char *)ev->data.scalar.tag;

	if (tag != NULL && strcmp(tag, YAML_STR_TAG) == 0)
		return cJSON_CreateString(s);
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return cJSON_CreateString(s);
	switch (plain_type(s)) {
	case PLAIN_NULL:
		return cJSON_CreateNull();
	case PLAIN_TRUE:
		return cJSON_CreateTrue();
	case PLAIN_FALSE:
		return cJSON_CreateFalse();
	case PLAIN_NUMBER:
		return cJSON_CreateRaw(s);
	default:
		return cJSON_CreateString(s);
	}
}

int
source_yaml_parse(const char *name, const char *buf, size_t len, cJSON **out,
    char **errmsg)
{
	yaml_parser_t	 parser;
	yaml_event_t	 ev;
	struct frame	 stack[SOURCE_MAX_DEPTH + 1];
	cJSON		*root = NULL, *item;
	int		 depth = 0, done = 0, docs = 0, rv = -1, have_ev = 0;

	*out = NULL;
	memset(stack, 0, sizeof(stack));
	if (!yaml_parser_initialize(&parser)) {
		xasprintf(errmsg, "%s: cannot initialize the YAML parser",
		    name);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			xasprintf(errmsg, "%s:%zu:%zu: invalid YAML: %s", name,
			    parser.problem_mark.line + 1,
			    parser.problem_mark.column + 1,
			    parser.problem != NULL ? parser.problem : "error");
			goto out;
		}
		have_ev = 1;
		item = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				xasprintf(errmsg, "%s:%zu:%zu: more than one "
				    "YAML document", name,
				    ev.start_mark.line + 1,
				    ev.start_mark.column + 1);
				goto out;
			}
			break;
		case YAML_ALIAS_EVENT:
			xasprintf(errmsg, "%s:%zu:%zu: YAML aliases are not "
			    "supported", name, ev.start_mark.line + 1,
			    ev.start_mark.column + 1);
			goto out;
		case YAML_SCALAR_EVENT:
			if (depth > 0 &&
			    cJSON_IsObject(stack[depth - 1].node) &&
			    stack[depth - 1].key == NULL) {
				stack[depth - 1].key = xstrdup(
				    (const char *)ev.data.scalar.value);
				break;
			}
			item = scalar_item(&ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (depth > 0 &&
			    cJSON_IsObject(stack[depth - 1].node) &&
			    stack[depth - 1].key == NULL) {
				xasprintf(errmsg, "%s:%zu:%zu: a mapping key "
				    "must be a scalar", name,
				    ev.start_mark.line + 1,
				    ev.start_mark.column + 1);
				goto out;
			}
			if (depth == SOURCE_MAX_DEPTH) {
				xasprintf(errmsg, "%s:%zu:%zu: nested deeper "
				    "than %d", name, ev.start_mark.line + 1,
				    ev.start_mark.column + 1, SOURCE_MAX_DEPTH);
				goto out;
			}
			stack[depth].node =
			    ev.type == YAML_SEQUENCE_START_EVENT ?
			    cJSON_CreateArray() : cJSON_CreateObject();
			stack[depth].key = NULL;
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			item = stack[--depth].node;
			stack[depth].node = NULL;
			break;
		default:
			break;
		}
		if (item != NULL) {
			if (depth == 0)
				root = item;
			else if (attach(&stack[depth - 1], item, &ev.start_mark,
			    name, errmsg) == -1)
				goto out;
		}
		yaml_event_delete(&ev);
		have_ev = 0;
	}
	*out = root != NULL ? root : cJSON_CreateNull();
	root = NULL;
	rv = 0;
out:
	if (have_ev)
		yaml_event_delete(&ev);
	while (depth > 0) {
		depth--;
		cJSON_Delete(stack[depth].node);
		free(stack[depth].key);
	}
	cJSON_Delete(root);
	yaml_parser_delete(&parser);
	return rv;
}

/* ---- emitting ---- */

/* YAML 1.1 spellings a reader may take for something else than a string. */
static const char *const yaml11[] = { "y", "Y", "yes", "Yes", "YES", "n", "N",
	"no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "=", "<<",
	NULL };

static int
looks_typed(const char *s)
{
	const char	*p;
	int		 digit = 0;

	if (plain_type(s) != PLAIN_STRING || in_list(s, yaml11))
		return 1;
	/* YAML 1.1 numbers (1_000, 1:30, 0b1) and timestamps (2024-01-31). */
	if (strchr("0123456789+-.", *s) == NULL)
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (*p >= '0' && *p <= '9')
			digit = 1;
		else if (strchr("+-._:eExXoObB", *p) == NULL &&
		    !(*p >= 'a' && *p <= 'f') && !(*p >= 'A' && *p <= 'F') &&
		    *p != 'T' && *p != 't' && *p != 'Z' && *p != ' ')
			return 0;
	}
	return digit;
}

/* Bytes that make a string unfit for a plain or literal scalar. */
static int
special_at(const unsigned char *p)
{
	if (*p < 0x20 && *p != '\n' && *p != '\t')
		return 1;
	if (*p == 0x7f)
		return 1;
	if (p[0] == 0xc2 && p[1] == 0x85)			/* NEL */
		return 2;
	if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
		return 3;					/* LS, PS */
	if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)	/* BOM */
		return 3;
	return 0;
}

static int
plain_ok(const char *s)
{
	const unsigned char	*p;
	size_t			 len = strlen(s);

	if (len == 0 || looks_typed(s))
		return 0;
	if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0]) != NULL)
		return 0;
	if (s[0] == ' ' || s[len - 1] == ' ' || s[len - 1] == ':')
		return 0;
	if (strstr(s, ": ") != NULL || strstr(s, " #") != NULL)
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p == '\n' || *p == '\t' || special_at(p))
			return 0;
	return 1;
}

/* A multi-line string a literal block keeps exactly. */
static int
literal_ok(const char *s)
{
	const unsigned char	*p;
	const char		*q;

	if (strchr(s, '\n') == NULL)
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (special_at(p) || (*p == '\t' &&
		    (p == (const unsigned char *)s || p[-1] == '\n')))
			return 0;
	/* The first non-empty line sets the indentation: no leading space. */
	for (q = s; *q == '\n'; q++)
		;
	if (*q == ' ' || *q == '\0')
		return 0;
	return 1;
}

static void
emit_quoted(const char *s, struct sbuf *b)
{
	const unsigned char	*p;
	int			 n;

	sbuf_addc(b, '"');
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
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
		default:
			break;
		}
		if ((n = special_at(p)) == 1)
			sbuf_addf(b, "\\x%02x", *p);
		else if (n == 2) {
			sbuf_adds(b, "\\N");
			p++;
		} else if (n == 3) {
			sbuf_adds(b, p[0] == 0xef ? "\\uFEFF" :
			    p[2] == 0xa8 ? "\\L" : "\\P");
			p += 2;
		} else
			sbuf_addc(b, (char)*p);
	}
	sbuf_addc(b, '"');
}

static void
emit_indent(int n, struct sbuf *b)
{
	while (n-- > 0)
		sbuf_addc(b, ' ');
}

/* A string scalar after "key:" or "-"; ends the line. */
static void
emit_string(const char *s, int indent, struct sbuf *b)
{
	const char	*line, *eol;
	size_t		 len, nl = 0;

	if (plain_ok(s)) {
		sbuf_addc(b, ' ');
		sbuf_adds(b, s);
		sbuf_addc(b, '\n');
		return;
	}
	if (!literal_ok(s)) {
		sbuf_addc(b, ' ');
		emit_quoted(s, b);
		sbuf_addc(b, '\n');
		return;
	}
	len = strlen(s);
	while (nl < len && s[len - 1 - nl] == '\n')
		nl++;
	sbuf_adds(b, nl == 0 ? " |-\n" : nl == 1 ? " |\n" : " |+\n");
	/* The lines of the text without its final line breaks. */
	for (line = s; ; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(s + len - nl - line));
		if (eol == NULL)
			eol = s + len - nl;
		if (eol > line) {
			emit_indent(indent, b);
			sbuf_add(b, line, (size_t)(eol - line));
		}
		sbuf_addc(b, '\n');
		if (eol == s + len - nl)
			break;
	}
	/* Keep chomping: the breaks past the first are empty lines. */
	for (; nl > 1; nl--)
		sbuf_addc(b, '\n');
}

static void
emit_number(const cJSON *v, struct sbuf *b)
{
	double	d = v->valuedouble;
	char	buf[64];

	if (isnan(d) || isinf(d)) {
		sbuf_adds(b, isnan(d) ? ".nan" : d > 0 ? ".inf" : "-.inf");
		return;
	}
	if (d == floor(d) && fabs(d) < 9007199254740992.0) {
		sbuf_addf(b, "%.0f", d);
		return;
	}
	snprintf(buf, sizeof(buf), "%.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, sizeof(buf), "%.17g", d);
	sbuf_adds(b, buf);
}

static void emit_node(const cJSON *, int, struct sbuf *);

/* A value after "key:" or "- ": scalars on the line, collections below. */
static void
emit_value(const cJSON *v, int indent, struct sbuf *b)
{
	if (cJSON_IsString(v))
		emit_string(v->valuestring, indent, b);
	else if (cJSON_IsRaw(v)) {
		sbuf_addc(b, ' ');
		sbuf_adds(b, v->valuestring);
		sbuf_addc(b, '\n');
	} else if (cJSON_IsNumber(v)) {
		sbuf_addc(b, ' ');
		emit_number(v, b);
		sbuf_addc(b, '\n');
	} else if (cJSON_IsTrue(v))
		sbuf_adds(b, " true\n");
	else if (cJSON_IsFalse(v))
		sbuf_adds(b, " false\n");
	else if (cJSON_IsObject(v) && v->child == NULL)
		sbuf_adds(b, " {}\n");
	else if (cJSON_IsArray(v) && v->child == NULL)
		sbuf_adds(b, " []\n");
	else if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		sbuf_addc(b, '\n');
		emit_node(v, indent, b);
	} else
		sbuf_adds(b, " null\n");
}

static void
emit_key(const char *k, struct sbuf *b)
{
	if (plain_ok(k))
		sbuf_adds(b, k);
	else
		emit_quoted(k, b);
	sbuf_addc(b, ':');
}

/*
 * A collection whose lines start at column indent.  first: the first line
 * is already indented (after "- ").
 */
static void
emit_coll(const cJSON *v, int indent, int first, struct sbuf *b)
{
	const cJSON	*c;

	cJSON_ArrayForEach(c, v) {
		if (!first)
			emit_indent(indent, b);
		first = 0;
		if (cJSON_IsObject(v)) {
			emit_key(c->string, b);
			emit_value(c, indent + 2, b);
			continue;
		}
		sbuf_addc(b, '-');
		if ((cJSON_IsObject(c) || cJSON_IsArray(c)) &&
		    c->child != NULL) {
			sbuf_addc(b, ' ');
			emit_coll(c, indent + 2, 1, b);
		} else
			emit_value(c, indent + 2, b);
	}
}

static void
emit_node(const cJSON *v, int indent, struct sbuf *b)
{
	emit_coll(v, indent, 0, b);
}

void
source_yaml_emit(const cJSON *v, struct sbuf *b)
{
	if ((cJSON_IsObject(v) || cJSON_IsArray(v)) && v->child != NULL)
		emit_node(v, 0, b);
	else if (cJSON_IsObject(v))
		sbuf_adds(b, "{}\n");
	else if (cJSON_IsArray(v))
		sbuf_adds(b, "[]\n");
	else {
		struct sbuf tmp = { 0 };

		emit_value(v, 0, &tmp);
		sbuf_adds(b, tmp.s + (tmp.s[0] == ' '));
		sbuf_release(&tmp);
	}
}
