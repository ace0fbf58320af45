#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "wiki.h"

static char	tmpdir[PATH_MAX];

static void
setup(void)
{
	const char	*base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/check_wiki.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char	cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *
slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf;
	long	 n;

	ck_assert_msg((f = fopen(path, "rb")) != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*lenp = (size_t)n;
	return buf;
}

static char *
fixture(const char *name)
{
	const char	*srcdir = getenv("KTX_TOP_SRCDIR");
	char		*path;

	ck_assert_msg(srcdir != NULL, "KTX_TOP_SRCDIR is not set");
	xasprintf(&path, "%s/tests/data/gates/wiki/%s", srcdir, name);
	return path;
}

static void
parse_ok(const char *text, struct wiki_page *page)
{
	char	*err = NULL;
	int	 r;

	r = wiki_parse("p.md", text, strlen(text), page, &err);
	ck_assert_msg(r == 0, "unexpected error: %s", err ? err : "(none)");
	ck_assert_ptr_null(err);
}

static void
parse_fails(const char *text, const char *expected)
{
	struct wiki_page	 page;
	char			*err = NULL;

	ck_assert_int_eq(wiki_parse("p.md", text, strlen(text), &page, &err),
	    -1);
	ck_assert_ptr_nonnull(err);
	ck_assert_str_eq(err, expected);
	free(err);
	wiki_page_release(&page);
}

static char *
emit(const struct wiki_page *page)
{
	size_t	len;
	char	*s = wiki_emit(page, &len);

	ck_assert_uint_eq(strlen(s), len);
	return s;
}

/* Pages ktx's serializer wrote come back byte for byte. */
START_TEST(test_round_trip_fixtures)
{
	static const char *const names[] = {
		"roundtrip-churned-customer.md", "roundtrip-quoting.md",
		"roundtrip-collections.md", "roundtrip-numbers.md",
		"roundtrip-multiline.md", "roundtrip-index-keys.md",
		"roundtrip-last-block.md", NULL
	};
	const char *const	*n;
	struct wiki_page	 page;
	char			*path, *text, *out, *err = NULL;
	size_t			 len, outlen;

	for (n = names; *n != NULL; n++) {
		path = fixture(*n);
		text = slurp(path, &len);
		ck_assert_msg(wiki_read(path, *n, &page, &err) == 0, "%s: %s",
		    *n, err ? err : "");
		out = wiki_emit(&page, &outlen);
		ck_assert_msg(outlen == len && memcmp(out, text, len) == 0,
		    "%s differs after parse and emit:\n%s", *n, out);
		free(out);
		free(text);
		free(path);
		wiki_page_release(&page);
	}
}
END_TEST

/*
 * Pages with random frontmatter (odd keys, strings that need quoting or
 * blocks, nested collections, numbers) written by ktx's serializer, one
 * after another, each ended by an ASCII RS byte.
 */
START_TEST(test_round_trip_generated)
{
	struct wiki_page	 page;
	char			*path, *all, *p, *end, *out, *err = NULL, name[32];
	size_t			 len, outlen;
	int			 n = 0;

	path = fixture("roundtrip-generated.txt");
	all = slurp(path, &len);
	for (p = all; p < all + len; p = end + 1) {
		ck_assert_ptr_nonnull(end = memchr(p, '\x1e',
		    (size_t)(all + len - p)));
		snprintf(name, sizeof(name), "page %d", ++n);
		ck_assert_msg(wiki_parse(name, p, (size_t)(end - p), &page,
		    &err) == 0, "%s", err ? err : "");
		out = wiki_emit(&page, &outlen);
		ck_assert_msg(outlen == (size_t)(end - p) &&
		    memcmp(out, p, outlen) == 0,
		    "%s differs after parse and emit:\n%.*s\nbecame\n%s", name,
		    (int)(end - p), p, out);
		free(out);
		wiki_page_release(&page);
	}
	ck_assert_int_eq(n, 250);
	free(all);
	free(path);
}
END_TEST

/* A hand-written page is rewritten exactly as ktx rewrites it. */
START_TEST(test_normalize_as_ktx)
{
	struct wiki_page	 page;
	char			*in, *exp_path, *expected, *out, *err = NULL;
	size_t			 len;

	in = fixture("normalize-handwritten.md");
	exp_path = fixture("normalize-handwritten.expected.md");
	expected = slurp(exp_path, &len);
	ck_assert_int_eq(wiki_read(in, "h.md", &page, &err), 0);
	out = emit(&page);
	ck_assert_str_eq(out, expected);
	free(out);
	free(expected);
	free(exp_path);
	free(in);
	wiki_page_release(&page);
}
END_TEST

START_TEST(test_emit_shapes)
{
	struct wiki_page	 page;
	char			*out;

	parse_ok("---\nsummary: s\nn: -0\nf: 0.000001\ng: 1.5e-7\n"
	    "e: []\nm: {}\nk: \"a: b\"\nq: \"it's \\\"x\\\"\"\n"
	    "c: \"a\\x01b\"\nnul: \"\"\nl: |\n  one\n  two\n---\nbody",
	    &page);
	out = emit(&page);
	ck_assert_str_eq(out, "---\nsummary: s\nn: -0\nf: 0.000001\n"
	    "g: 1.5e-7\ne: []\nm: {}\nk: \"a: b\"\nq: it's \"x\"\n"
	    "c: \"a\\x01b\"\nnul: \"\"\nl: |\n  one\n  two\n---\n\nbody\n");
	free(out);
	wiki_page_release(&page);
}
END_TEST

/*
 * A multi-line string with a double quote and no single one goes in
 * double quotes: in single quotes its line breaks would fold into spaces
 * (found by fuzz/fuzz_wiki: emit, parse, emit changed the value).
 */
START_TEST(test_emit_multiline_quoted)
{
	static const char	 want[] = "---\nsql: \"say \\\"hi\\\"\\n"
	    "  next\\n  \"\n\"a\\\"b\\nc\": 1\n---\n\nbody\n";
	struct wiki_page	 page, again;
	char			*out, *out2;

	parse_ok("---\nsql: \"say \\\"hi\\\"\\n  next\\n  \"\n"
	    "\"a\\\"b\\nc\": 1\n---\nbody", &page);
	ck_assert_str_eq(wiki_get(&page, "sql")->text, "say \"hi\"\n  next\n  ");
	out = emit(&page);
	ck_assert_str_eq(out, want);
	parse_ok(out, &again);
	ck_assert_str_eq(wiki_get(&again, "sql")->text,
	    "say \"hi\"\n  next\n  ");
	ck_assert_ptr_nonnull(wiki_get(&again, "a\"b\nc"));
	out2 = emit(&again);
	ck_assert_str_eq(out2, want);
	free(out);
	free(out2);
	wiki_page_release(&page);
	wiki_page_release(&again);
}
END_TEST

/*
 * A block whose first line starts with a tab gets an indentation
 * indicator, as one starting with a space does: without it libyaml, guessing
 * the indentation, refuses the tab (found by fuzz/fuzz_wiki: a double-quoted
 * value of tabs and CR runs emitted as "|+" that did not parse).
 */
START_TEST(test_emit_block_leading_tab)
{
	static const char *const	quoted[] = {
		"\\tr\\tt|\\n\\n\\n", "\\n\\tx\\ny", "\\ta\\nb\\n", " a\\nb", NULL
	};
	static const char *const	values[] = {
		"\tr\tt|\n\n\n", "\n\tx\ny", "\ta\nb\n", " a\nb"
	};
	static const char *const	headers[] = {
		"|2+\n", "|2-\n", "|2\n", "|2-\n"
	};
	struct wiki_page	 page, again;
	char			 text[128], *out, *out2;
	int			 i;

	for (i = 0; quoted[i] != NULL; i++) {
		snprintf(text, sizeof(text), "---\nx: \"%s\"\nz: 1\n---\nbody",
		    quoted[i]);
		parse_ok(text, &page);
		ck_assert_str_eq(wiki_get(&page, "x")->text, values[i]);
		out = emit(&page);
		ck_assert_msg(strncmp(out + 7, headers[i], strlen(headers[i]))
		    == 0, "value %d: %s", i, out);
		parse_ok(out, &again);
		ck_assert_str_eq(wiki_get(&again, "x")->text, values[i]);
		out2 = emit(&again);
		ck_assert_str_eq(out2, out);
		free(out);
		free(out2);
		wiki_page_release(&page);
		wiki_page_release(&again);
	}
}
END_TEST

/*
 * A plain value ending in a space only JavaScript trims stays plain, as ktx
 * writes it, except when written last: ktx's trimEnd of the YAML would cut
 * it there, and ":" left bare does not parse (found by fuzz/fuzz_wiki).
 */
START_TEST(test_emit_last_value_js_space)
{
	struct wiki_page	 page, again;
	char			*out;

	parse_ok("---\nE: \":\xc2\xa0\"\nz: \"a\xe3\x80\x80\"\n---\nb", &page);
	out = emit(&page);
	ck_assert_str_eq(out, "---\nE: :\xc2\xa0\nz: \"a\xe3\x80\x80\"\n"
	    "---\n\nb\n");
	parse_ok(out, &again);
	ck_assert_str_eq(wiki_get(&again, "E")->text, ":\xc2\xa0");
	ck_assert_str_eq(wiki_get(&again, "z")->text, "a\xe3\x80\x80");
	free(out);
	wiki_page_release(&page);
	wiki_page_release(&again);
}
END_TEST

/* s with every "<B>", "<E>" and "<S>" replaced by a run of key text. */
static char *
long_keys(const char *s)
{
	struct { const char *tag, *unit; int n; } runs[] = {
		{ "<B>", "b", 1024 },		/* 1,024 characters */
		{ "<E>", "\xc3\xa9", 1020 },	/* 2,040 bytes, 1,020 in JS */
		{ "<S>", "\xf0\x9f\x98\x80", 513 } /* 1,026 in JS: pairs */
	};
	char	*out = xmalloc(strlen(s) * 4 + 8192), *o = out;
	size_t	 r;
	int	 i;

	while (*s != '\0') {
		for (r = 0; r < 3; r++)
			if (strncmp(s, runs[r].tag, 3) == 0)
				break;
		if (r == 3) {
			*o++ = *s++;
			continue;
		}
		for (i = 0; i < runs[r].n; i++)
			o = stpcpy(o, runs[r].unit);
		s += 3;
	}
	*o = '\0';
	return out;
}

/*
 * A key longer than 1,024 characters (JavaScript's count, UTF-16 units) is
 * written explicit, "? key" then ": value", as the "yaml" package writes it
 * (this text is its output): libyaml refuses a longer implicit key (found
 * by fuzz/fuzz_wiki: a page with such a key emitted into one that did not
 * parse).
 */
START_TEST(test_emit_long_keys)
{
	char			*text, *out;
	struct wiki_page	 page;

	text = long_keys("---\n<B>: 1\n? <B>b\n: - 1\n  - - 2\n<E>:\n  a:\n"
	    "    b: 1\nlist:\n  - ? <S>\n    : |-\n      m\n      l\n"
	    "    z: 2\nt: 1\n---\n\nbody\n");
	parse_ok(text, &page);
	out = emit(&page);
	ck_assert_msg(strcmp(out, text) == 0, "became\n%s", out);
	free(out);
	free(text);
	wiki_page_release(&page);
}
END_TEST

/*
 * DEL, C1, LS and PS go out escaped: libyaml refuses the first two raw and
 * reads the others as line breaks (found by fuzz/fuzz_wiki: a page with
 * "\\x81" in a value emitted into one that did not parse).
 */
START_TEST(test_emit_escapes_unreadable)
{
	static const char	 text[] =
	    "---\nc: \"a\\x7fb\\x81c\\Ld\\Pe\\N\"\n---\nbody";
	static const char	 value[] =
	    "a\x7f" "b\xc2\x81" "c\xe2\x80\xa8" "d\xe2\x80\xa9" "e\xc2\x85";
	struct wiki_page	 page, again;
	char			*out;

	parse_ok(text, &page);
	ck_assert_str_eq(wiki_get(&page, "c")->text, value);
	out = emit(&page);
	ck_assert_str_eq(out, "---\nc: \"a\\x7fb\\x81c\\Ld\\Pe\\x85\"\n"
	    "---\n\nbody\n");
	parse_ok(out, &again);
	ck_assert_str_eq(wiki_get(&again, "c")->text, value);
	free(out);
	wiki_page_release(&page);
	wiki_page_release(&again);
}
END_TEST

START_TEST(test_missing_frontmatter)
{
	static const char *const texts[] = {
		"",
		"no frontmatter at all\n",
		"---\r\nsummary: x\r\n---\r\n",	/* CRLF: the regex wants \n */
		"---\nsummary: x\n",		/* never closed */
		"---\n---\nbody\n",		/* "\n---" must start at byte 4 */
		" ---\nsummary: x\n---\n",
		NULL
	};
	const char *const	*t;

	for (t = texts; *t != NULL; t++)
		parse_fails(*t, "p.md: Invalid wiki page: missing YAML"
		    " frontmatter");
}
END_TEST

/* ^---\n([\s\S]*?)\n---\n?([\s\S]*)$: the first marker ends the YAML. */
START_TEST(test_split_like_ktx)
{
	struct wiki_page	page;

	parse_ok("---\nsummary: x\n---body", &page);
	ck_assert_str_eq(page.body, "body");
	wiki_page_release(&page);

	parse_ok("---\nsummary: x\n---\n\n---\nmore\n", &page);
	ck_assert_str_eq(page.body, "---\nmore");
	wiki_page_release(&page);

	/* JavaScript's trim: NBSP, ideographic space, BOM are white space. */
	parse_ok("---\nsummary: x\n---\n\xc2\xa0 \t\nbody \xe3\x80\x80"
	    "\xef\xbb\xbf\n\n", &page);
	ck_assert_str_eq(page.body, "body");
	ck_assert_uint_eq(page.body_len, 4);
	wiki_page_release(&page);

	parse_ok("---\nsummary: x\n---", &page);
	ck_assert_str_eq(page.body, "");
	wiki_page_release(&page);
}
END_TEST

/*
 * A NUL byte in the body is kept with what follows it (found by
 * fuzz/fuzz_wiki: the body was copied up to the NUL only, and body_len
 * ran past the copy).
 */
START_TEST(test_body_with_nul)
{
	static const char	 text[] = "---\nsummary: x\n---\nab\0cd [[k]]\n";
	static const char	 body[] = "ab\0cd [[k]]";
	struct wiki_page	 page;
	struct wiki_links	 links;
	char			*err = NULL, *out;
	size_t			 len;

	memset(&links, 0, sizeof(links));
	ck_assert_int_eq(wiki_parse("p.md", text, sizeof(text) - 1, &page,
	    &err), 0);
	ck_assert_uint_eq(page.body_len, sizeof(body) - 1);
	ck_assert_mem_eq(page.body, body, sizeof(body));
	wiki_body_links(page.body, page.body_len, &links);
	ck_assert_uint_eq(links.n, 1);
	ck_assert_str_eq(links.v[0].target, "k");
	wiki_links_release(&links);
	out = wiki_emit(&page, &len);
	ck_assert_uint_eq(len, sizeof("---\nsummary: x\n---\n\n") - 1 +
	    sizeof(body) - 1 + 1);
	ck_assert_mem_eq(out + len - sizeof(body), body, sizeof(body) - 1);
	free(out);
	wiki_page_release(&page);
}
END_TEST

/*
 * A second YAML document after a CR line break is refused (found by
 * fuzz/fuzz_wiki: the first document's tree leaked).
 */
START_TEST(test_second_document)
{
	struct wiki_page	 page;
	char			*err = NULL;

	ck_assert_int_eq(wiki_parse("p.md", "---\na: 1\r---\nb: 2\n---\nx",
	    23, &page, &err), -1);
	ck_assert_str_eq(err, "p.md:4:1: the frontmatter holds more than one"
	    " YAML document");
	free(err);
	wiki_page_release(&page);
}
END_TEST

START_TEST(test_frontmatter_errors)
{
	parse_fails("---\n\n---\nbody", "p.md:2:1: the frontmatter must be a"
	    " mapping");
	parse_fails("---\n- a\n- b\n---\n", "p.md:2:1: the frontmatter must"
	    " be a mapping");
	parse_fails("---\nsummary: x\nrefs: [a\n---\n",
	    "p.md:4:1: invalid YAML: did not find expected ',' or ']'");
	parse_fails("---\na: 1\nb: 2\na: 3\n---\n",
	    "p.md:4:1: duplicate key \"a\" (first at 2:1)");
	parse_fails("---\na: &x 1\nb: *x\n---\n",
	    "p.md:2:4: anchors and aliases are not supported in wiki"
	    " frontmatter");
	parse_fails("---\n? [a]\n: 1\n---\n",
	    "p.md:2:3: a mapping key must be a scalar");
	/* YAML 1.2 allows a raw DEL in double quotes; libyaml does not. */
	parse_fails("---\nsummary: s\nk: \"a\x7f\"\n---\n",
	    "p.md:3:6: invalid YAML: control characters are not allowed");
	parse_fails("---\nsummary: caf\xc3\xa9 \xff\n---\n",
	    "p.md:2:15: invalid YAML: invalid leading UTF-8 octet");
	/* A second document: its "---" would end the frontmatter. */
	parse_fails("---\na: 1\n...\nb: 2\n---\n",
	    "p.md:4:1: invalid YAML: did not find expected <document start>");
}
END_TEST

START_TEST(test_nesting_limit)
{
	struct wiki_page	 page;
	char			 text[3 * WIKI_MAX_DEPTH], *err = NULL;
	size_t			 i, len;

	/* The top mapping and 63 lists fill the 64 levels; one more fails. */
	len = (size_t)snprintf(text, sizeof(text), "---\na: ");
	for (i = 0; i < WIKI_MAX_DEPTH; i++)
		text[len++] = '[';
	for (i = 0; i < WIKI_MAX_DEPTH; i++)
		text[len++] = ']';
	len += (size_t)snprintf(text + len, sizeof(text) - len, "\n---\n");
	ck_assert_int_eq(wiki_parse("p.md", text, len, &page, &err), -1);
	ck_assert_str_eq(err, "p.md:2:67: nested deeper than 64 levels");
	free(err);
	wiki_page_release(&page);

	/* One level less parses. */
	len = (size_t)snprintf(text, sizeof(text), "---\na: ");
	for (i = 0; i < WIKI_MAX_DEPTH - 1; i++)
		text[len++] = '[';
	for (i = 0; i < WIKI_MAX_DEPTH - 1; i++)
		text[len++] = ']';
	len += (size_t)snprintf(text + len, sizeof(text) - len, "\n---\n");
	err = NULL;
	ck_assert_int_eq(wiki_parse("p.md", text, len, &page, &err), 0);
	wiki_page_release(&page);
}
END_TEST

/* Fields keep the line and column of the page file. */
START_TEST(test_positions)
{
	struct wiki_page	 page;
	const struct wiki_value	*v;

	parse_ok("---\nsummary:   hello\nsl_refs:\n  - a\n  - b.c\n---\n",
	    &page);
	v = wiki_get(&page, "summary");
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(v->type, WIKI_STRING);
	ck_assert_int_eq(v->line, 2);
	ck_assert_int_eq(v->column, 12);
	v = wiki_get(&page, "sl_refs");
	ck_assert_int_eq(v->type, WIKI_SEQ);
	ck_assert_int_eq(v->kids[1]->line, 5);
	ck_assert_int_eq(v->kids[1]->column, 5);
	ck_assert_str_eq(v->kids[1]->text, "b.c");
	ck_assert_ptr_null(wiki_get(&page, "refs"));
	wiki_page_release(&page);
}
END_TEST

START_TEST(test_scalar_types)
{
	struct wiki_page	page;

	parse_ok("---\na: 007\nb: 0x1F\nc: 0o17\nd: 1.50\ne: .5\nf: -.inf\n"
	    "g: .NaN\nh: ~\ni: FALSE\nj: yes\nk: '1'\nl: 1e3\n"
	    "m: 12345678901234567890\n---\n",
	    &page);
	ck_assert_str_eq(wiki_get(&page, "a")->text, "7");
	ck_assert_int_eq(wiki_get(&page, "a")->type, WIKI_NUMBER);
	ck_assert_str_eq(wiki_get(&page, "b")->text, "31");
	ck_assert_str_eq(wiki_get(&page, "c")->text, "15");
	ck_assert_str_eq(wiki_get(&page, "d")->text, "1.5");
	ck_assert_str_eq(wiki_get(&page, "e")->text, "0.5");
	ck_assert_str_eq(wiki_get(&page, "f")->text, "-.inf");
	ck_assert_str_eq(wiki_get(&page, "g")->text, ".nan");
	ck_assert_int_eq(wiki_get(&page, "h")->type, WIKI_NULL);
	ck_assert_int_eq(wiki_get(&page, "i")->type, WIKI_BOOL);
	ck_assert_str_eq(wiki_get(&page, "i")->text, "false");
	ck_assert_int_eq(wiki_get(&page, "j")->type, WIKI_STRING);
	ck_assert_int_eq(wiki_get(&page, "k")->type, WIKI_STRING);
	ck_assert_str_eq(wiki_get(&page, "l")->text, "1000");
	ck_assert_str_eq(wiki_get(&page, "m")->text, "12345678901234567000");
	wiki_page_release(&page);
}
END_TEST

START_TEST(test_keys)
{
	static const char *const good[] = { "a", "A-b_c", "churned-customer",
	    "0x", "a--b", NULL };
	static const char *const bad[] = { "", "-a", "_a", "a/b", "a.b",
	    "a b", "caf\xc3\xa9", NULL };
	const char *const	*k;
	char			*key;

	for (k = good; *k != NULL; k++)
		ck_assert_msg(wiki_key_valid(*k), "%s should be valid", *k);
	for (k = bad; *k != NULL; k++)
		ck_assert_msg(!wiki_key_valid(*k), "%s should be invalid", *k);
	ck_assert(wiki_ref_key_valid("abc-1_x"));
	ck_assert(!wiki_ref_key_valid("Abc"));
	ck_assert(!wiki_ref_key_valid("-abc"));

	key = wiki_global_key("wiki/global/churned-customer.md");
	ck_assert_str_eq(key, "churned-customer");
	free(key);
	ck_assert_ptr_null(wiki_global_key("wiki/global/a b.md"));
	ck_assert_ptr_null(wiki_global_key("wiki/global/sub/x.md"));
	ck_assert_ptr_null(wiki_global_key("wiki/global/.md"));
	ck_assert_ptr_null(wiki_global_key("wiki/global/x.txt"));
	ck_assert_ptr_null(wiki_global_key("wiki/user/u/x.md"));
	ck_assert_ptr_null(wiki_global_key("wiki/globalx/x.md"));
}
END_TEST

START_TEST(test_body_links)
{
	const char	*body = "see [[a]], [[b|The B]] and [[ c |x]].\n"
	    "[[Upper]] [[d\n]] [[]] [[[e]] [[a]]\n"
	    "```\n[[f]] inside a fence counts too\n```\n[[x]y]] [[g";
	struct wiki_links	links;
	struct strv		keys;

	memset(&links, 0, sizeof(links));
	memset(&keys, 0, sizeof(keys));
	wiki_body_links(body, strlen(body), &links);
	ck_assert_uint_eq(links.n, 7);
	ck_assert_str_eq(links.v[0].target, "a");
	ck_assert_ptr_null(links.v[0].label);
	ck_assert_uint_eq(links.v[0].off, 4);
	ck_assert_uint_eq(links.v[0].len, 5);
	ck_assert_str_eq(links.v[1].target, "b");
	ck_assert_str_eq(links.v[1].label, "The B");
	ck_assert_str_eq(links.v[2].target, "c");
	ck_assert_str_eq(links.v[3].target, "Upper");
	ck_assert_str_eq(links.v[4].target, "[e");
	ck_assert_str_eq(links.v[5].target, "a");
	ck_assert_str_eq(links.v[6].target, "f");
	wiki_links_release(&links);

	wiki_body_link_keys(body, strlen(body), &keys);
	ck_assert_uint_eq(keys.n, 4);
	ck_assert_str_eq(keys.v[0], "a");
	ck_assert_str_eq(keys.v[1], "b");
	ck_assert_str_eq(keys.v[2], "c");
	ck_assert_str_eq(keys.v[3], "f");
	strv_release(&keys);
}
END_TEST

/* A long run of "[" without a closing "]]" is scanned in linear time. */
START_TEST(test_body_links_linear)
{
	size_t			n = 4 * 1024 * 1024;
	char			*body = xmalloc(n + 1);
	struct wiki_links	links;
	int64_t			t0 = now_monotonic_ms();

	memset(body, '[', n);
	body[n] = '\0';
	memset(&links, 0, sizeof(links));
	wiki_body_links(body, n, &links);
	ck_assert_uint_eq(links.n, 0);
	ck_assert_int_lt(now_monotonic_ms() - t0, 2000);
	free(body);
}
END_TEST

static void
assert_ref(const struct wiki_ref *r, enum wiki_ref_kind kind,
    const char *conn, const char *name, const char *entity)
{
	ck_assert_int_eq(r->kind, kind);
	if (conn == NULL)
		ck_assert_ptr_null(r->connection);
	else
		ck_assert_str_eq(r->connection, conn);
	ck_assert_str_eq(r->name, name);
	if (entity == NULL)
		ck_assert_ptr_null(r->entity);
	else
		ck_assert_str_eq(r->entity, entity);
}

START_TEST(test_body_refs)
{
	const char	*body =
	    "Uses `source:orders` and `wh/source: customers `.\n"
	    "Rows in `table:billing.invoices`, `wh/table:\"Sales\".x`.\n"
	    "Counts: `orders.total_count`, `wh/orders.n`, `a.b.c`, `1a.b`,\n"
	    "`plain`, `table:`, `source: `, `table:a/b`, ``x`` `y.z`\n"
	    "`_s.e2`\n"
	    "  ```sql\n"
	    "select `source:hidden` from `t.c`\n"
	    "```\n"
	    "after the fence `source:shown`";
	struct wiki_refs	refs;

	memset(&refs, 0, sizeof(refs));
	wiki_body_refs(body, strlen(body), &refs);
	ck_assert_uint_eq(refs.n, 8);
	assert_ref(&refs.v[0], WIKI_REF_SOURCE, NULL, "orders", NULL);
	assert_ref(&refs.v[1], WIKI_REF_SOURCE, "wh", "customers", NULL);
	assert_ref(&refs.v[2], WIKI_REF_TABLE, NULL, "billing.invoices",
	    NULL);
	assert_ref(&refs.v[3], WIKI_REF_TABLE, "wh", "\"Sales\".x", NULL);
	assert_ref(&refs.v[4], WIKI_REF_ENTITY, NULL, "orders",
	    "total_count");
	assert_ref(&refs.v[5], WIKI_REF_ENTITY, "wh", "orders", "n");
	assert_ref(&refs.v[6], WIKI_REF_ENTITY, NULL, "_s", "e2");
	assert_ref(&refs.v[7], WIKI_REF_SOURCE, NULL, "shown", NULL);
	wiki_refs_release(&refs);
}
END_TEST

START_TEST(test_fence_toggles)
{
	const char		*body = "```\n`source:a`\n```\n`source:b`\n"
	    "\t```\n`source:c`\n";
	struct wiki_refs	 refs;

	memset(&refs, 0, sizeof(refs));
	wiki_body_refs(body, strlen(body), &refs);
	ck_assert_uint_eq(refs.n, 1);
	ck_assert_str_eq(refs.v[0].name, "b");
	wiki_refs_release(&refs);
}
END_TEST

START_TEST(test_field_lists_and_set)
{
	struct wiki_page	 page;
	struct strv		 list, items;
	char			*out;

	memset(&list, 0, sizeof(list));
	memset(&items, 0, sizeof(items));
	parse_ok("---\nsummary: s\nsl_refs: [a, 1, {x: y}, null]\n"
	    "refs: solo\nusage_mode: auto\n---\nb", &page);
	wiki_field_list(&page, "sl_refs", &list);
	ck_assert_uint_eq(list.n, 3);
	ck_assert_str_eq(list.v[0], "a");
	ck_assert_str_eq(list.v[1], "1");
	ck_assert_str_eq(list.v[2], "null");
	strv_release(&list);
	wiki_field_list(&page, "refs", &list);
	ck_assert_uint_eq(list.n, 1);
	ck_assert_str_eq(list.v[0], "solo");
	strv_release(&list);
	wiki_field_list(&page, "tags", &list);
	ck_assert_uint_eq(list.n, 0);

	/* Replaced where it stands; a new field goes last. */
	strv_push(&items, "orders");
	strv_push(&items, "true");
	wiki_set(&page, "sl_refs", wiki_strlist_new(&items));
	wiki_set(&page, "tags", wiki_strlist_new(&list));
	out = emit(&page);
	ck_assert_str_eq(out, "---\nsummary: s\nsl_refs:\n  - orders\n"
	    "  - \"true\"\nrefs: solo\nusage_mode: auto\ntags: []\n---\n\nb\n");
	free(out);
	strv_release(&items);
	wiki_page_release(&page);
}
END_TEST

START_TEST(test_read_and_write)
{
	struct wiki_page	 page;
	struct stat		 sb;
	char			 path[PATH_MAX + 32], *err = NULL, *text;
	size_t			 len;

	snprintf(path, sizeof(path), "%s/missing.md", tmpdir);
	ck_assert_int_eq(wiki_read(path, "missing.md", &page, &err), 1);
	ck_assert_ptr_null(err);

	parse_ok("---\nusage_mode: auto\nsummary: s\n---\nBody.", &page);
	snprintf(path, sizeof(path), "%s/page.md", tmpdir);
	ck_assert_int_eq(wiki_write(path, &page, &err), 0);
	wiki_page_release(&page);
	text = slurp(path, &len);
	ck_assert_str_eq(text, "---\nusage_mode: auto\nsummary: s\n---\n\n"
	    "Body.\n");
	free(text);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0644);
	ck_assert_int_eq(wiki_read(path, "page.md", &page, &err), 0);
	ck_assert_str_eq(page.body, "Body.");
	wiki_page_release(&page);

	snprintf(path, sizeof(path), "%s/fifo.md", tmpdir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(wiki_read(path, "fifo.md", &page, &err), -1);
	ck_assert_str_eq(err, "fifo.md: not a regular file");
	free(err);
	wiki_page_release(&page);

	/* A directory in the way: the temporary file cannot be renamed. */
	snprintf(path, sizeof(path), "%s/dir.md", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	parse_ok("---\nsummary: s\n---\n", &page);
	err = NULL;
	ck_assert_int_eq(wiki_write(path, &page, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot rename into place"));
	free(err);
	wiki_page_release(&page);
}
END_TEST

START_TEST(test_release_is_idempotent)
{
	struct wiki_page	page;

	memset(&page, 0, sizeof(page));
	wiki_page_release(&page);
	wiki_page_release(&page);
	ck_assert_ptr_null(page.fm);
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
	Suite	*s = suite_create("wiki");
	TCase	*tc;
	SRunner	*sr;
	int	 failed;

	tc = tcase("format");
	tcase_add_test(tc, test_round_trip_fixtures);
	tcase_add_test(tc, test_round_trip_generated);
	tcase_add_test(tc, test_emit_block_leading_tab);
	tcase_add_test(tc, test_emit_last_value_js_space);
	tcase_add_test(tc, test_emit_long_keys);
	tcase_add_test(tc, test_normalize_as_ktx);
	tcase_add_test(tc, test_emit_shapes);
	tcase_add_test(tc, test_emit_multiline_quoted);
	tcase_add_test(tc, test_emit_escapes_unreadable);
	tcase_add_test(tc, test_missing_frontmatter);
	tcase_add_test(tc, test_split_like_ktx);
	tcase_add_test(tc, test_second_document);
	tcase_add_test(tc, test_body_with_nul);
	tcase_add_test(tc, test_frontmatter_errors);
	tcase_add_test(tc, test_nesting_limit);
	tcase_add_test(tc, test_positions);
	tcase_add_test(tc, test_scalar_types);
	suite_add_tcase(s, tc);

	tc = tcase("refs");
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_body_links);
	tcase_add_test(tc, test_body_links_linear);
	tcase_add_test(tc, test_body_refs);
	tcase_add_test(tc, test_fence_toggles);
	suite_add_tcase(s, tc);

	tc = tcase("api");
	tcase_add_test(tc, test_field_lists_and_set);
	tcase_add_test(tc, test_read_and_write);
	tcase_add_test(tc, test_release_is_idempotent);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
