/*
 * The tables a SQL query reads, for Metabase native cards.
 *
 * A small tokenizer, not a parser.  It skips -- and (nested) block
 * comments, '...' strings (with '' and, after E, backslash escapes) and
 * PostgreSQL $tag$ strings; it reads "...", `...` and [...] quoted
 * identifiers, Metabase's {{...}} tags and [[...]] optional clauses.  Then:
 *  - after FROM, JOIN, and a comma of a FROM list (same parenthesis level,
 *    until WHERE, GROUP, ORDER, a set operation, ...), a dotted name not
 *    followed by "(" is a table; LATERAL and ONLY are skipped; "(" opens a
 *    subquery or a parenthesized join, read the same way;
 *  - FROM inside a function's parentheses (EXTRACT(x FROM y),
 *    SUBSTRING(s FROM 1)) and IS [NOT] DISTINCT FROM are not table
 *    positions;
 *  - WITH [RECURSIVE] name [(cols)] AS [[NOT] MATERIALIZED] (...) declares
 *    CTE names; an unqualified reference to one is not a table;
 *  - {{#27}} or {{#27-slug}} in a table position is Metabase card 27.
 * Not understood: other template tags in table positions (a {{table}}
 * variable, {{snippet: ...}} contents), INSERT/UPDATE/MERGE targets,
 * DELETE ... USING, table-valued functions called without parentheses
 * (read as tables), and dialect keywords that take a table after them
 * (e.g. TABLESAMPLE is fine, but BigQuery's UNNEST without parentheses
 * is not).
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sources.h"

enum tok_type {
	T_END,
	T_WORD,		/* bare identifier or keyword */
	T_QUOTED,	/* quoted identifier, text without quotes */
	T_DOT,
	T_COMMA,
	T_LPAREN,
	T_RPAREN,
	T_SEMI,
	T_TAG,		/* {{...}}, text inside */
	T_OTHER
};

struct tok {
	enum tok_type	 type;
	char		*text;	/* T_WORD, T_QUOTED, T_TAG */
};

struct lexer {
	const char	*p;
};

static void
skip_space_comments(struct lexer *lx)
{
	const char	*p = lx->p;
	int		 depth;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (p[0] == '-' && p[1] == '-') {
			while (*p != '\0' && *p != '\n')
				p++;
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			depth = 1;
			p += 2;
			while (*p != '\0' && depth > 0) {
				if (p[0] == '/' && p[1] == '*') {
					depth++;
					p += 2;
				} else if (p[0] == '*' && p[1] == '/') {
					depth--;
					p += 2;
				} else
					p++;
			}
			continue;
		}
		/* Metabase optional clauses: the brackets are not SQL. */
		if ((p[0] == '[' && p[1] == '[') ||
		    (p[0] == ']' && p[1] == ']')) {
			p += 2;
			continue;
		}
		break;
	}
	lx->p = p;
}

/* A quoted identifier closed by q, doubled q escaping it. */
static char *
read_quoted(struct lexer *lx, char q)
{
	struct sbuf	 b = { 0 };
	const char	*p = lx->p + 1;

	while (*p != '\0') {
		if (*p == q) {
			if (p[1] == q && q != ']') {
				sbuf_addc(&b, q);
				p += 2;
				continue;
			}
			p++;
			break;
		}
		sbuf_addc(&b, *p++);
	}
	lx->p = p;
	return sbuf_take(&b);
}

/* Skip a '...' string; backslash escapes when escapes is set. */
static void
skip_string(struct lexer *lx, int escapes)
{
	const char	*p = lx->p + 1;

	while (*p != '\0') {
		if (escapes && *p == '\\' && p[1] != '\0') {
			p += 2;
			continue;
		}
		if (*p == '\'') {
			if (p[1] == '\'') {
				p += 2;
				continue;
			}
			p++;
			break;
		}
		p++;
	}
	lx->p = p;
}

/* A PostgreSQL dollar-quoted string at p ($$ or $tag$); 0 if it is not. */
static int
skip_dollar(struct lexer *lx)
{
	const char	*p = lx->p + 1, *end;
	size_t		 n;

	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	if (*p != '$' || (p > lx->p + 1 && isdigit((unsigned char)lx->p[1])))
		return 0;
	n = (size_t)(p - lx->p) + 1;
	for (end = p + 1; *end != '\0'; end++)
		if (strncmp(end, lx->p, n) == 0)
			break;
	lx->p = *end != '\0' ? end + n : end;
	return 1;
}

static int
word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$' ||
	    (unsigned char)c >= 0x80;
}

static void
next_tok(struct lexer *lx, struct tok *t)
{
	const char	*p, *start;

	free(t->text);
	t->text = NULL;
	for (;;) {
		skip_space_comments(lx);
		p = lx->p;
		if (*p == '\'') {
			skip_string(lx, 0);
			continue;
		}
		if ((*p == 'E' || *p == 'e') && p[1] == '\'') {
			lx->p++;
			skip_string(lx, 1);
			continue;
		}
		if (*p == '$' && skip_dollar(lx))
			continue;
		break;
	}
	p = lx->p;
	switch (*p) {
	case '\0':
		t->type = T_END;
		return;
	case '"':
	case '`':
		t->type = T_QUOTED;
		t->text = read_quoted(lx, *p);
		return;
	case '[':
		t->type = T_QUOTED;
		t->text = read_quoted(lx, ']');
		return;
	case '.':
		t->type = T_DOT;
		lx->p++;
		return;
	case ',':
		t->type = T_COMMA;
		lx->p++;
		return;
	case '(':
		t->type = T_LPAREN;
		lx->p++;
		return;
	case ')':
		t->type = T_RPAREN;
		lx->p++;
		return;
	case ';':
		t->type = T_SEMI;
		lx->p++;
		return;
	case '{':
		if (p[1] == '{') {
			start = p + 2;
			p = strstr(start, "}}");
			if (p == NULL)
				p = start + strlen(start);
			t->type = T_TAG;
			t->text = xstrndup(start, (size_t)(p - start));
			lx->p = *p != '\0' ? p + 2 : p;
			return;
		}
		break;
	default:
		break;
	}
	if (word_char(*p) && !isdigit((unsigned char)*p)) {
		start = p;
		while (word_char(*p))
			p++;
		t->type = T_WORD;
		t->text = xstrndup(start, (size_t)(p - start));
		lx->p = p;
		return;
	}
	if (isdigit((unsigned char)*p)) {
		while (word_char(*p) || *p == '.')
			p++;
		t->type = T_OTHER;
		lx->p = p;
		return;
	}
	t->type = T_OTHER;
	lx->p++;
}

static int
is_kw(const struct tok *t, const char *kw)
{
	return t->type == T_WORD && strcasecmp(t->text, kw) == 0;
}

/* Keywords that end a FROM list at its level. */
static const char *const from_enders[] = {
	"where", "group", "having", "order", "limit", "offset", "fetch",
	"union", "intersect", "except", "minus", "window", "qualify",
	"returning", "select", "into", "for", "connect", "start", "pivot",
	"unpivot", "set", "values", NULL
};

static int
ends_from(const struct tok *t)
{
	size_t	i;

	if (t->type != T_WORD)
		return 0;
	for (i = 0; from_enders[i] != NULL; i++)
		if (strcasecmp(t->text, from_enders[i]) == 0)
			return 1;
	return 0;
}

#define SQL_MAX_DEPTH	256

struct level {
	int	query;		/* holds a query (or a join group) */
	int	in_from;	/* inside its FROM list */
	int	cte;		/* the body of a CTE */
};

struct scan {
	struct lexer	 lx;
	struct tok	 t;
	struct level	 lv[SQL_MAX_DEPTH];
	int		 depth;
	struct strv	 ctes;
	struct strv	 tables;	/* as found, CTEs filtered later */
	struct strv	 cards;
};

static void
push_unique(struct strv *sv, const char *s)
{
	size_t	i;

	for (i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return;
	strv_push(sv, s);
}

/* A {{#27-name}} tag: the card id, or NULL. */
static char *
tag_card(const char *tag)
{
	const char	*p = tag, *d;

	while (isspace((unsigned char)*p))
		p++;
	if (*p != '#')
		return NULL;
	d = ++p;
	while (isdigit((unsigned char)*p))
		p++;
	if (p == d)
		return NULL;
	return xstrndup(d, (size_t)(p - d));
}

static void
open_level(struct scan *sc, int query, int in_from)
{
	if (sc->depth + 1 < SQL_MAX_DEPTH)
		sc->depth++;
	sc->lv[sc->depth].query = query;
	sc->lv[sc->depth].in_from = in_from;
	sc->lv[sc->depth].cte = 0;
}

/*
 * At a table position: read what stands there.  Returns with sc->t at the
 * token after it (or at the "(" that opened a level).
 */
static void
table_position(struct scan *sc)
{
	struct sbuf	 name = { 0 };
	char		*card;
	int		 parts = 0;

	while (is_kw(&sc->t, "lateral") || is_kw(&sc->t, "only"))
		next_tok(&sc->lx, &sc->t);
	if (sc->t.type == T_LPAREN) {
		/* A subquery or a parenthesized join: a table position too. */
		open_level(sc, 1, 1);
		next_tok(&sc->lx, &sc->t);
		if (sc->t.type == T_WORD || sc->t.type == T_QUOTED ||
		    sc->t.type == T_LPAREN || sc->t.type == T_TAG)
			if (!is_kw(&sc->t, "select") &&
			    !is_kw(&sc->t, "with") &&
			    !is_kw(&sc->t, "values"))
				table_position(sc);
		return;
	}
	if (sc->t.type == T_TAG) {
		if ((card = tag_card(sc->t.text)) != NULL) {
			push_unique(&sc->cards, card);
			free(card);
		}
		next_tok(&sc->lx, &sc->t);
		return;
	}
	while (sc->t.type == T_WORD || sc->t.type == T_QUOTED) {
		if (parts++ > 0)
			sbuf_addc(&name, '.');
		sbuf_adds(&name, sc->t.text);
		next_tok(&sc->lx, &sc->t);
		if (sc->t.type != T_DOT)
			break;
		next_tok(&sc->lx, &sc->t);
	}
	if (parts > 0 && sc->t.type != T_LPAREN) {
		/* An unqualified CTE name is not a table. */
		if (parts == 1) {
			size_t i;

			for (i = 0; i < sc->ctes.n; i++)
				if (strcasecmp(sc->ctes.v[i], name.s) == 0)
					break;
			if (i == sc->ctes.n)
				push_unique(&sc->tables, name.s);
		} else
			push_unique(&sc->tables, name.s);
	}
	sbuf_release(&name);
}

/* After WITH: name [(cols)] AS [[NOT] MATERIALIZED] (...), ... */
static void
cte_list(struct scan *sc)
{
	next_tok(&sc->lx, &sc->t);
	if (is_kw(&sc->t, "recursive"))
		next_tok(&sc->lx, &sc->t);
	while (sc->t.type == T_WORD || sc->t.type == T_QUOTED) {
		push_unique(&sc->ctes, sc->t.text);
		next_tok(&sc->lx, &sc->t);
		if (sc->t.type == T_LPAREN) {
			/* the column list */
			int d = 1;

			while (d > 0 && sc->t.type != T_END) {
				next_tok(&sc->lx, &sc->t);
				d += sc->t.type == T_LPAREN;
				d -= sc->t.type == T_RPAREN;
			}
			next_tok(&sc->lx, &sc->t);
		}
		if (!is_kw(&sc->t, "as"))
			return;
		next_tok(&sc->lx, &sc->t);
		if (is_kw(&sc->t, "not"))
			next_tok(&sc->lx, &sc->t);
		if (is_kw(&sc->t, "materialized"))
			next_tok(&sc->lx, &sc->t);
		if (sc->t.type != T_LPAREN)
			return;
		/* The body is read by the main loop; the list goes on after
		   its ")" if a comma follows.  Remember that at this level. */
		open_level(sc, 1, 0);
		sc->lv[sc->depth].cte = 1;
		next_tok(&sc->lx, &sc->t);
		return;
	}
}

void
sql_refs_scan(const char *sql, struct sql_refs *out)
{
	struct scan	 sc;
	int		 prev_distinct = 0, prev_func = 0, was_cte;
	size_t		 i, j;

	memset(&sc, 0, sizeof(sc));
	sc.lx.p = sql;
	sc.lv[0].query = 1;
	next_tok(&sc.lx, &sc.t);
	while (sc.t.type != T_END) {
		struct level *lv = &sc.lv[sc.depth];

		if (is_kw(&sc.t, "with")) {
			cte_list(&sc);
			prev_func = prev_distinct = 0;
			continue;
		}
		if (lv->query && !prev_distinct &&
		    (is_kw(&sc.t, "from") || is_kw(&sc.t, "join"))) {
			if (is_kw(&sc.t, "from"))
				lv->in_from = 1;
			next_tok(&sc.lx, &sc.t);
			prev_func = prev_distinct = 0;
			table_position(&sc);
			continue;
		}
		if (lv->query && lv->in_from && sc.t.type == T_COMMA) {
			next_tok(&sc.lx, &sc.t);
			prev_func = prev_distinct = 0;
			table_position(&sc);
			continue;
		}
		if (lv->in_from && ends_from(&sc.t))
			lv->in_from = 0;
		if (sc.t.type == T_LPAREN) {
			/* A function's arguments hold no FROM list; a
			   parenthesized query does. */
			open_level(&sc, !prev_func, 0);
			next_tok(&sc.lx, &sc.t);
			if (sc.lv[sc.depth].query == 0 &&
			    (is_kw(&sc.t, "select") || is_kw(&sc.t, "with")))
				sc.lv[sc.depth].query = 1;
			prev_func = prev_distinct = 0;
			continue;
		}
		if (sc.t.type == T_RPAREN) {
			was_cte = sc.lv[sc.depth].cte;
			if (sc.depth > 0)
				sc.depth--;
			next_tok(&sc.lx, &sc.t);
			prev_func = prev_distinct = 0;
			if (was_cte && sc.t.type == T_COMMA) {
				/* The next CTE of the list. */
				cte_list(&sc);
			}
			continue;
		}
		if (sc.t.type == T_SEMI) {
			sc.depth = 0;
			sc.lv[0].in_from = 0;
		}
		prev_distinct = is_kw(&sc.t, "distinct");
		prev_func = sc.t.type == T_WORD || sc.t.type == T_QUOTED;
		next_tok(&sc.lx, &sc.t);
	}
	free(sc.t.text);
	/* A table read before the CTE of its name was seen stays a table
	   only if it is qualified; drop late-declared CTE names. */
	for (i = 0; i < sc.tables.n; i++) {
		for (j = 0; j < sc.ctes.n; j++)
			if (strchr(sc.tables.v[i], '.') == NULL &&
			    strcasecmp(sc.tables.v[i], sc.ctes.v[j]) == 0)
				break;
		if (j == sc.ctes.n)
			strv_push(&out->tables, sc.tables.v[i]);
	}
	for (i = 0; i < sc.cards.n; i++)
		strv_push(&out->cards, sc.cards.v[i]);
	strv_release(&sc.tables);
	strv_release(&sc.cards);
	strv_release(&sc.ctes);
}

void
sql_refs_release(struct sql_refs *r)
{
	strv_release(&r->tables);
	strv_release(&r->cards);
}
