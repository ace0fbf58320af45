/*
 * libFuzzer target: the wiki page parser (frontmatter and body).  The input
 * is a page file's bytes.  A page that parses is emitted as ktx writes it;
 * that text must parse, and emit to the same bytes again (see last_entry).
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

/*
 * Where the last top-level entry starts in an emitted page: the last line
 * with text at column 0 before the closing "---".  ktx trims the end of
 * the YAML it writes, so the value written last may lose trailing line
 * breaks on the next read (the format's own rule, in ktx as here): only
 * that entry may change between the first and the second emit.
 */
static size_t
last_entry(const char *t, size_t len)
{
	const char	*end;
	size_t		 i;

	if ((end = memmem(t + 3, len - 3, "\n---\n", 5)) == NULL)
		abort();
	for (i = (size_t)(end - t); i > 4; i--)
		if (t[i - 1] == '\n' && t[i] != ' ' && t[i] != '\n')
			return i;
	return 4;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wiki_page	 page, again;
	char			*err = NULL, *text = NULL, *text2 = NULL;
	char			*text3 = NULL;
	size_t			 len, len2, len3, k;

	memset(&again, 0, sizeof(again));
	if (wiki_parse("wiki/global/fuzz.md", (const char *)data, size, &page,
	    &err) == -1) {
		if (err == NULL)
			abort();
		goto out;
	}
	read_page(&page);
	text = wiki_emit(&page, &len);
	if (wiki_parse("wiki/global/fuzz.md", text, len, &again, &err) == -1)
		abort();	/* what we write we must read */
	text2 = wiki_emit(&again, &len2);
	k = last_entry(text, len);
	if (len2 < k || memcmp(text, text2, k) != 0)
		abort();	/* emit, parse, emit keeps all but the last */
	wiki_page_release(&again);
	if (wiki_parse("wiki/global/fuzz.md", text2, len2, &again, &err) == -1)
		abort();
	text3 = wiki_emit(&again, &len3);
	if (len3 != len2 || memcmp(text2, text3, len2) != 0)
		abort();	/* and is stable from then on */
out:
	free(err);
	free(text);
	free(text2);
	free(text3);
	wiki_page_release(&page);
	wiki_page_release(&again);
	return 0;
}
