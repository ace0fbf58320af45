/*
 * libFuzzer target: the wiki page parser (frontmatter and body).  The input
 * is a page file's bytes.  A page that parses is emitted as ktx writes it;
 * that text must parse, and emit to the same bytes again.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "wiki.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What the gates and the reconciliation read from a page. */
static void
read_page(const struct wiki_page *page)
{
	struct wiki_links	links = { 0 };
	struct wiki_refs	refs = { 0 };
	struct strv		list = { 0 };
	size_t			i;

	wiki_body_links(page->body, page->body_len, &links);
	wiki_body_link_keys(page->body, page->body_len, &list);
	wiki_body_refs(page->body, page->body_len, &refs);
	wiki_field_list(page, "refs", &list);
	wiki_field_list(page, "sl_refs", &list);
	for (i = 0; page->fm != NULL && i < page->fm->nkids; i += 2)
		(void)wiki_get(page, page->fm->kids[i]->text);
	wiki_links_release(&links);
	wiki_refs_release(&refs);
	strv_release(&list);
}

/* wiki.c's index_key: the keys a JavaScript object lists first. */
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

/*
 * The value written last: ktx trims the end of the YAML it writes, so a
 * last string ending in several line breaks keeps one (the format's own
 * rule, not ours to fix).  Trim it here first, for the emit, parse, emit
 * check to hold.
 */
static void
trim_last_value(struct wiki_value *v)
{
	struct wiki_value	*last, *byindex = NULL;
	long long		 best, k;
	size_t			 i;

	while (v != NULL && v->nkids > 0) {
		if (v->type == WIKI_SEQ) {
			v = v->kids[v->nkids - 1];
			continue;
		}
		/* The last other key, else the greatest index key. */
		last = NULL;
		for (i = 0; i + 1 < v->nkids; i += 2)
			if (index_key(v->kids[i]) < 0)
				last = v->kids[i + 1];
		for (i = 0, best = -1; last == NULL && i + 1 < v->nkids;
		    i += 2)
			if ((k = index_key(v->kids[i])) > best) {
				best = k;
				byindex = v->kids[i + 1];
			}
		v = last != NULL ? last : byindex;
		if (v->type != WIKI_SEQ && v->type != WIKI_MAP)
			break;
	}
	if (v == NULL || v->type != WIKI_STRING)
		return;
	while (v->len >= 2 && v->text[v->len - 1] == '\n' &&
	    v->text[v->len - 2] == '\n')
		v->text[--v->len] = '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wiki_page	 page, again;
	char			*err = NULL, *text = NULL, *text2 = NULL;
	size_t			 len, len2;

	memset(&again, 0, sizeof(again));
	if (wiki_parse("wiki/global/fuzz.md", (const char *)data, size, &page,
	    &err) == -1) {
		if (err == NULL)
			abort();
		goto out;
	}
	read_page(&page);
	trim_last_value(page.fm);
	text = wiki_emit(&page, &len);
	if (wiki_parse("wiki/global/fuzz.md", text, len, &again, &err) == -1)
		abort();	/* what we write we must read */
	text2 = wiki_emit(&again, &len2);
	if (len2 != len || memcmp(text, text2, len) != 0)
		abort();	/* emit, parse, emit must be stable */
out:
	free(err);
	free(text);
	free(text2);
	wiki_page_release(&page);
	wiki_page_release(&again);
	return 0;
}
