/*
 * The Notion adapter: an unzipped "Markdown & CSV" export becomes wiki
 * pages.
 *
 * Input: every .md and .csv file under source_dir, staged at the same
 * relative paths.  Notion names files "<Title> <32 hex id>.md"; a database
 * is "<Title> <id>.csv", often also "<Title> <id>_all.csv" (all
 * properties): when both exist only the _all variant is staged and read,
 * so a database is one page, never two.  Other files (attachments,
 * index.html) are not read.
 *
 * One page per Notion object (a .md page, a database, or both when they
 * share an id): key "<conn>-<slug of the title>", the title being the
 * page's "# " heading, else the file name without the id.  Titles whose
 * slugs collide all get "-<last 8 hex of the id>" (or of the sha256 of the
 * path, for files without an id), and the full id where that still
 * collides, so the keys depend only on the export.  The body is the page's
 * Markdown with:
 *  - relative links to exported pages and databases (URL-encoded, relative
 *    to the linking file) as [[key|label]] ([[key]] when the label is empty
 *    or cannot stand in a link); a link to the CSV of a database whose
 *    page was exported without it ("X <id>.md" beside a missing
 *    "X <id>.csv", as inline databases are) names that page;
 *  - links to files not in the export (attachments, missing pages) as their
 *    label in plain text (an image's alt text; the file name when empty);
 *  - external links and code (fenced blocks, inline spans) unchanged, "[["
 *    in prose written "[\[";
 *  - an inline code span that names a table a warehouse manifest has now
 *    (`orders`, `public.orders`) as a table link request, which
 *    reconciliation turns into a checked table reference and an sl_refs
 *    entry.
 * A database's CSV (UTF-8 BOM dropped) becomes a Markdown table of at most
 * SOURCE_CSV_MAX_ROWS rows.
 */
#include "config.h"

#include <ctype.h>
#include <sha2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sources.h"

#define NOTION_ID_LEN	32

static int
has_suffix(const char *s, const char *suf)
{
	size_t	n = strlen(s), m = strlen(suf);

	return n >= m && strcmp(s + n - m, suf) == 0;
}

/* The other name of a database CSV: X.csv <-> X_all.csv.  Caller frees. */
static char *
csv_twin(const char *rel, int want_all)
{
	char	*s;

	if (want_all) {
		xasprintf(&s, "%.*s_all.csv", (int)(strlen(rel) - 4), rel);
		return s;
	}
	xasprintf(&s, "%.*s.csv", (int)(strlen(rel) - 8), rel);
	return s;
}

int
source_stage_notion(const struct source_job *job, struct source_result *res,
    char **errmsg)
{
	struct source_input	 in;
	struct strv		 files = { 0 }, notes = { 0 };
	char			*twin;
	size_t			 i, n = 0;
	int			 rv = -1;

	if (source_input_open(job, &in, errmsg) == -1)
		return -1;
	if (source_input_walk(&in, "", &files, &notes, errmsg) == -1)
		goto out;
	if (source_staging_prepare(job, errmsg) == -1)
		goto out;
	for (i = 0; i < files.n; i++) {
		if (!has_suffix(files.v[i], ".md") &&
		    !has_suffix(files.v[i], ".csv"))
			continue;
		if (has_suffix(files.v[i], ".csv") &&
		    !has_suffix(files.v[i], "_all.csv")) {
			twin = csv_twin(files.v[i], 1);
			if (strv_has(&files, twin)) {
				cJSON *data = cJSON_CreateObject();

				cJSON_AddStringToObject(data, "used", twin);
				cJSON_AddStringToObject(data, "ignored",
				    files.v[i]);
				source_event_add(res,
				    "notion_csv_variant_ignored", data);
				free(twin);
				continue;
			}
			free(twin);
		}
		if (source_stage_file(job, &in, files.v[i], files.v[i],
		    SOURCE_TEXT_MAX_BYTES, SOURCE_FMT_TEXT, res, errmsg) == -1)
			goto out;
		n++;
	}
	if (n == 0) {
		xasprintf(errmsg, "%s: no Notion pages (.md) or databases "
		    "(.csv)", in.name);
		goto out;
	}
	if (notes.n > 0) {
		cJSON *data = cJSON_CreateObject(), *a = cJSON_CreateArray();

		for (i = 0; i < notes.n; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(notes.v[i]));
		cJSON_AddItemToObject(data, "paths", a);
		source_event_add(res, "notion_directory_links_not_followed",
		    data);
	}
	source_staged_sort(res);
	rv = 0;
out:
	strv_release(&files);
	strv_release(&notes);
	source_input_release(&in);
	return rv;
}

/* A Notion object: a page, a database, or both. */
struct item {
	char		*md;		/* staged path of its page, or NULL */
	char		*csv;		/* of its database, or NULL */
	char		*id;		/* 32 hex, or NULL */
	char		*title;
	char		*key;
	char		*text;		/* the page's Markdown */
};

/* A staged path (or a database's other CSV name) and its item. */
struct path_ent {
	char	*path;
	size_t	 idx;
};

struct notion {
	const struct source_job	*job;
	struct source_result	*res;
	struct item		*items;
	size_t			 nitems;
	struct path_ent		*paths;		/* sorted by path */
	size_t			 npaths;
	struct sl		 sl;		/* the worktree's */
	int			 links, plain, external, tables;
	struct source_plan	 plan;
};

static int
is_hex(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Split a file's base name (without extension) into title and id. */
static void
split_name(const char *rel, struct item *it)
{
	const char	*base = strrchr(rel, '/');
	size_t		 n;

	base = base != NULL ? base + 1 : rel;
	n = strlen(base);
	if (has_suffix(base, "_all.csv"))
		n -= 8;
	else if (has_suffix(base, ".csv"))
		n -= 4;
	else
		n -= 3;
	if (n > NOTION_ID_LEN + 1 && base[n - NOTION_ID_LEN - 1] == ' ' &&
	    is_hex(base + n - NOTION_ID_LEN, NOTION_ID_LEN)) {
		it->id = xstrndup(base + n - NOTION_ID_LEN, NOTION_ID_LEN);
		it->title = xstrndup(base, n - NOTION_ID_LEN - 1);
	} else
		it->title = xstrndup(base, n);
}

/* The "# " heading that opens a page, or NULL.  Caller frees. */
static char *
heading(const char *text)
{
	const char	*p = text, *eol;

	while (*p == '\n' || *p == '\r' || *p == ' ')
		p++;
	if (strncmp(p, "# ", 2) != 0)
		return NULL;
	p += 2;
	eol = p + strcspn(p, "\r\n");
	while (eol > p && (eol[-1] == ' ' || eol[-1] == '\t'))
		eol--;
	while (*p == ' ')
		p++;
	if (eol <= p)
		return NULL;
	return xstrndup(p, (size_t)(eol - p));
}

/* Two files are one Notion object when they carry the same id. */
static int
same_object(const struct item *it, const char *id)
{
	return id != NULL && it->id != NULL && strcmp(it->id, id) == 0;
}

static void
path_index_add(struct notion *n, char *path, size_t idx)
{
	n->paths = xreallocarray(n->paths, n->npaths + 1, sizeof(*n->paths));
	n->paths[n->npaths].path = path;
	n->paths[n->npaths].idx = idx;
	n->npaths++;
}

static int
path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct path_ent *)a)->path,
	    ((const struct path_ent *)b)->path);
}

/* The item a staged path (or its CSV twin) belongs to, or -1. */
static long
path_lookup(const struct notion *n, const char *path)
{
	struct path_ent	 key, *hit;

	key.path = (char *)path;
	hit = bsearch(&key, n->paths, n->npaths, sizeof(*n->paths), path_cmp);
	return hit != NULL ? (long)hit->idx : -1;
}

static char *
suffix_of(const struct item *it, int full)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	SHA2_CTX	 ctx;
	const char	*path = it->md != NULL ? it->md : it->csv;
	char		*s;
	size_t		 i;

	if (it->id != NULL)
		return xstrdup(full ? it->id : it->id + NOTION_ID_LEN - 8);
	SHA256Init(&ctx);
	SHA256Update(&ctx, (const unsigned char *)path, strlen(path));
	SHA256Final(md, &ctx);
	s = xmalloc(2 * SHA256_DIGEST_LENGTH + 1);
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(s + 2 * i, 3, "%02x", md[i]);
	if (!full)
		s[8] = '\0';
	return s;
}

static int
item_key_cmp(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a;
	const struct item *y = *(const struct item *const *)b;

	return strcmp(x->key, y->key);
}

/*
 * Keys: the slug of the title; a collision suffixes every member with the
 * id's tail, then (pass 2) with the full id.
 */
static void
assign_keys(struct notion *n)
{
	struct item	**by;
	char		 *suf, *k;
	size_t		  i, j, pass;

	for (i = 0; i < n->nitems; i++)
		n->items[i].key = source_key(n->job->conn->id,
		    n->items[i].title);
	by = xcalloc(n->nitems + 1, sizeof(*by));
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n->nitems; i++)
			by[i] = &n->items[i];
		qsort(by, n->nitems, sizeof(*by), item_key_cmp);
		for (i = 0; i < n->nitems; i = j) {
			for (j = i + 1; j < n->nitems &&
			    strcmp(by[i]->key, by[j]->key) == 0; j++)
				;
			if (j - i == 1)
				continue;
			for (; i < j; i++) {
				suf = suffix_of(by[i], (int)pass);
				k = source_key(n->job->conn->id, by[i]->title);
				free(by[i]->key);
				xasprintf(&by[i]->key, "%s-%s", k, suf);
				free(k);
				free(suf);
			}
		}
	}
	free(by);
}

/* Percent-decode s; NULL when the result is not a plausible path. */
static char *
url_decode(const char *s, size_t len)
{
	struct sbuf	 b = { 0 };
	size_t		 i;
	int		 hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len &&
		    isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			hi = isdigit((unsigned char)s[i + 1]) ? s[i + 1] - '0' :
			    (tolower((unsigned char)s[i + 1]) - 'a' + 10);
			lo = isdigit((unsigned char)s[i + 2]) ? s[i + 2] - '0' :
			    (tolower((unsigned char)s[i + 2]) - 'a' + 10);
			if (hi * 16 + lo == 0) {
				sbuf_release(&b);
				return NULL;
			}
			sbuf_addc(&b, (char)(hi * 16 + lo));
			i += 2;
		} else
			sbuf_addc(&b, s[i]);
	}
	return sbuf_take(&b);
}

/* dir/target with "." and ".." resolved; NULL when it leaves the root. */
static char *
join_path(const char *from, const char *target)
{
	struct strv	 parts = { 0 };
	struct sbuf	 b = { 0 };
	char		*all, *p, *tok, *save = NULL;
	const char	*slash = strrchr(from, '/');
	size_t		 i;
	int		 bad = 0;

	if (*target == '/')
		return NULL;
	if (slash != NULL)
		xasprintf(&all, "%.*s/%s", (int)(slash - from), from, target);
	else
		all = xstrdup(target);
	for (p = all; (tok = strtok_r(p, "/", &save)) != NULL; p = NULL) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			if (parts.n == 0) {
				bad = 1;
				break;
			}
			free(parts.v[--parts.n]);
			parts.v[parts.n] = NULL;
			continue;
		}
		strv_push(&parts, tok);
	}
	for (i = 0; !bad && i < parts.n; i++) {
		if (i > 0)
			sbuf_addc(&b, '/');
		sbuf_adds(&b, parts.v[i]);
	}
	free(all);
	strv_release(&parts);
	if (bad || b.len == 0) {
		sbuf_release(&b);
		return NULL;
	}
	return sbuf_take(&b);
}

static int
has_scheme(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || !isalpha((unsigned char)s[0]))
		return 0;
	for (i = 1; i < len; i++) {
		if (s[i] == ':')
			return 1;
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' &&
		    s[i] != '-' && s[i] != '.')
			return 0;
	}
	return 0;
}

/* Where the "]" closing the label opened at s[0] == '[' is, or NULL. */
static const char *
label_end(const char *s, const char *end)
{
	int	depth = 0;

	for (; s < end; s++) {
		if (*s == '\\' && s + 1 < end) {
			s++;
			continue;
		}
		if (*s == '\n' && s + 1 < end && s[1] == '\n')
			return NULL;
		if (*s == '[')
			depth++;
		else if (*s == ']' && --depth == 0)
			return s;
	}
	return NULL;
}

/* The ")" closing a link destination that starts at s, or NULL. */
static const char *
dest_end(const char *s, const char *end)
{
	int	depth = 1;

	if (s < end && *s == '<') {
		for (; s < end && *s != '\n'; s++)
			if (*s == '>')
				return s + 1 < end && s[1] == ')' ? s + 1 :
				    NULL;
		return NULL;
	}
	for (; s < end && *s != '\n'; s++) {
		if (*s == '\\' && s + 1 < end) {
			s++;
			continue;
		}
		if (*s == '(')
			depth++;
		else if (*s == ')' && --depth == 0)
			return s;
	}
	return NULL;
}

/* A label that can stand after "|" in [[key|label]]. */
static int
label_ok(const char *s, size_t n)
{
	size_t	i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] == ']' || s[i] == '[' || s[i] == '|' || s[i] == '\n')
			return 0;
	return 1;
}

/* Whether s is a table reference: ident(.ident){0,2}. */
static int
table_like(const char *s, size_t n)
{
	size_t	i;
	int	parts = 0, start = 1;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (start)
				return 0;
			start = 1;
			continue;
		}
		if (start) {
			if (!isalpha((unsigned char)s[i]) && s[i] != '_')
				return 0;
			start = 0;
			parts++;
		} else if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	}
	return !start && parts <= 3;
}

static int
table_known(const struct notion *n, const char *ref)
{
	const struct strv	*whs = n->job->warehouses;
	size_t			 i;

	for (i = 0; whs != NULL && i < whs->n; i++)
		if (sl_table_find(&n->sl, whs->v[i], ref) != NULL)
			return 1;
	return 0;
}

/* Write one link, resolved.  plain gets its text for the summary. */
static void
add_link(struct notion *n, const char *from, const char *label, size_t llen,
    const char *dest, size_t dlen, const char *raw, size_t rawlen,
    struct sbuf *body, struct sbuf *plain)
{
	char		*decoded = NULL, *path = NULL;
	const char	*q, *base;
	size_t		 tlen = dlen;
	long		 idx;

	if (dlen > 0 && dest[0] == '<') {
		dest++;
		tlen = dlen >= 2 ? dlen - 2 : 0;
	} else if ((q = memchr(dest, ' ', dlen)) != NULL)
		tlen = (size_t)(q - dest);
	if (tlen == 0 || has_scheme(dest, tlen)) {
		/* External or mailto: unchanged. */
		if (tlen > 0)
			n->external++;
		source_add_prose(body, raw, rawlen);
		sbuf_add(plain, label, llen);
		return;
	}
	/*
	 * Notion leaves "#" unencoded in names ("#letstalkaboutstress <id>"):
	 * the whole destination is tried as a path first, then without a
	 * "#fragment" or "?query".
	 */
	idx = -1;
	for (q = dest + tlen; idx < 0 && q != NULL; ) {
		free(decoded);
		free(path);
		path = NULL;
		decoded = url_decode(dest, (size_t)(q - dest));
		if (decoded != NULL)
			path = join_path(from, decoded);
		idx = path != NULL ? path_lookup(n, path) : -1;
		for (q--; q > dest && *q != '#' && *q != '?'; q--)
			;
		if (q <= dest)
			q = NULL;
	}
	if (idx < 0 && dest[0] == '#') {
		/* An anchor in this page. */
		source_add_prose(body, raw, rawlen);
		sbuf_add(plain, label, llen);
		free(decoded);
		free(path);
		return;
	}
	if (idx >= 0) {
		n->links++;
		sbuf_adds(body, "[[");
		sbuf_adds(body, n->items[idx].key);
		if (label_ok(label, llen) && !(llen == strlen(
		    n->items[idx].key) && strncmp(label, n->items[idx].key,
		    llen) == 0)) {
			sbuf_addc(body, '|');
			sbuf_add(body, label, llen);
		}
		sbuf_adds(body, "]]");
		sbuf_add(plain, label, llen);
	} else {
		n->plain++;
		/* Notion writes an image's path as its alt text too. */
		if (llen == tlen && strncmp(label, dest, llen) == 0)
			llen = 0;
		if (llen > 0) {
			source_add_prose(body, label, llen);
			sbuf_add(plain, label, llen);
		} else if (decoded != NULL) {
			base = strrchr(decoded, '/');
			base = base != NULL ? base + 1 : decoded;
			source_add_prose(body, base, strlen(base));
		}
	}
	free(decoded);
	free(path);
}

/* A fence line (``` or ~~~ after at most 3 spaces): its marker, or 0. */
static char
fence_of(const char *line, const char *eol, size_t *lenp)
{
	const char	*p = line;
	size_t		 n = 0;

	while (p < eol && *p == ' ' && p - line < 3)
		p++;
	if (p < eol && (*p == '`' || *p == '~')) {
		while (p + n < eol && p[n] == *p)
			n++;
		if (n >= 3) {
			*lenp = n;
			return *p;
		}
	}
	return 0;
}

/*
 * Convert one line outside fences: inline code, links, prose.  plain gets
 * the text with links reduced to their labels.
 */
static void
convert_span(struct notion *n, const char *from, const char *s,
    const char *end, struct sbuf *body, struct sbuf *plain)
{
	const char	*p = s, *start = s, *lend, *dend, *q;
	size_t		 ticks, k;
	int		 image;

	while (p < end) {
		if (*p == '\\' && p + 1 < end) {
			p += 2;
			continue;
		}
		if (*p == '`') {
			ticks = 0;
			while (p + ticks < end && p[ticks] == '`')
				ticks++;
			/* The closing run of as many backticks. */
			for (q = p + ticks; q < end; q++) {
				if (*q != '`')
					continue;
				for (k = 0; q + k < end && q[k] == '`'; k++)
					;
				if (k == ticks)
					break;
				q += k - 1;
			}
			if (q >= end) {
				p += ticks;
				continue;
			}
			source_add_prose(body, start, (size_t)(p - start));
			sbuf_add(plain, start, (size_t)(p - start));
			{
				const char *c = p + ticks;
				size_t clen = (size_t)(q - c);
				char *ref;

				while (clen > 0 && *c == ' ') {
					c++;
					clen--;
				}
				while (clen > 0 && c[clen - 1] == ' ')
					clen--;
				ref = xstrndup(c, clen);
				if (table_like(c, clen) &&
				    table_known(n, ref)) {
					n->tables++;
					source_link_table(body, NULL, ref);
				} else
					sbuf_add(body, p,
					    (size_t)(q + ticks - p));
				sbuf_add(plain, c, clen);
				free(ref);
			}
			p = start = q + ticks;
			continue;
		}
		image = *p == '!' && p + 1 < end && p[1] == '[';
		if (*p == '[' || image) {
			const char *lb = image ? p + 1 : p;

			lend = label_end(lb, end);
			if (lend != NULL && lend + 1 < end && lend[1] == '(' &&
			    (dend = dest_end(lend + 2, end)) != NULL) {
				source_add_prose(body, start,
				    (size_t)(p - start));
				sbuf_add(plain, start,
				    (size_t)(p - start));
				add_link(n, from, lb + 1,
				    (size_t)(lend - lb - 1), lend + 2,
				    (size_t)(dend - lend - 2), p,
				    (size_t)(dend + 1 - p), body, plain);
				p = start = dend + 1;
				continue;
			}
		}
		p++;
	}
	source_add_prose(body, start, (size_t)(end - start));
	sbuf_add(plain, start, (size_t)(end - start));
}

static void
convert(struct notion *n, const char *from, const char *text,
    struct sbuf *body, struct sbuf *plain)
{
	const char	*p = text, *eol, *para;
	size_t		 flen = 0, len;
	char		 fence = 0, f;

	/* Paragraphs (a link label may span lines) outside fences. */
	para = p;
	while (*p != '\0') {
		eol = strchr(p, '\n');
		eol = eol != NULL ? eol + 1 : p + strlen(p);
		f = fence_of(p, eol, &len);
		if (fence == 0 && f != 0) {
			convert_span(n, from, para, p, body, plain);
			fence = f;
			flen = len;
			sbuf_add(body, p, (size_t)(eol - p));
			p = eol;
			continue;
		}
		if (fence != 0) {
			sbuf_add(body, p, (size_t)(eol - p));
			if (f == fence && len >= flen)
				fence = 0;
			p = para = eol;
			continue;
		}
		p = eol;
		if (*p == '\n' || *p == '\0') {
			convert_span(n, from, para, p, body, plain);
			para = p;
		}
	}
	if (fence == 0)
		convert_span(n, from, para, p, body, plain);
}

/* ---- CSV ---- */

/* Records of a CSV text (RFC 4180, LF or CRLF); the BOM dropped. */
static void
csv_parse(const char *s, struct strv **rowsp, size_t *nrowsp)
{
	struct strv	*rows = NULL, row = { 0 };
	struct sbuf	 cell = { 0 };
	size_t		 nrows = 0;
	int		 quoted = 0, any = 0;

	if ((unsigned char)s[0] == 0xef && (unsigned char)s[1] == 0xbb &&
	    (unsigned char)s[2] == 0xbf)
		s += 3;
	for (;; s++) {
		if (quoted) {
			if (*s == '\0')
				quoted = 0;
			else if (*s == '"' && s[1] == '"') {
				sbuf_addc(&cell, '"');
				s++;
				continue;
			} else if (*s == '"') {
				quoted = 0;
				continue;
			} else {
				sbuf_addc(&cell, *s);
				continue;
			}
		}
		if (*s == '"' && cell.len == 0) {
			quoted = any = 1;
			continue;
		}
		if (*s == ',' ) {
			strv_push_owned(&row, sbuf_take(&cell));
			any = 1;
			continue;
		}
		if (*s == '\r' && s[1] == '\n')
			continue;
		if (*s == '\n' || *s == '\0') {
			if (any || cell.len > 0 || row.n > 0) {
				strv_push_owned(&row, sbuf_take(&cell));
				rows = xreallocarray(rows, nrows + 1,
				    sizeof(*rows));
				rows[nrows++] = row;
				memset(&row, 0, sizeof(row));
			}
			any = 0;
			if (*s == '\0')
				break;
			continue;
		}
		sbuf_addc(&cell, *s);
		any = 1;
	}
	sbuf_release(&cell);
	strv_release(&row);
	*rowsp = rows;
	*nrowsp = nrows;
}

static void
add_table_cell(struct sbuf *b, const char *s)
{
	struct sbuf	 t = { 0 };
	size_t		 i = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\r')
			continue;
		if (*s == '\n' || *s == '\t')
			sbuf_addc(&t, ' ');
		else if (*s == '|')
			sbuf_adds(&t, "\\|");
		else
			sbuf_addc(&t, *s);
	}
	while (i < t.len && t.s[i] == ' ')
		i++;
	while (t.len > i && t.s[t.len - 1] == ' ')
		t.s[--t.len] = '\0';
	if (t.len > i)
		source_add_prose(b, t.s + i, t.len - i);
	sbuf_release(&t);
}

/* The CSV as a Markdown table; returns the number of data rows. */
static size_t
csv_table(const char *text, struct sbuf *b)
{
	struct strv	*rows;
	size_t		 nrows, i, j, cols = 0, shown;

	csv_parse(text, &rows, &nrows);
	for (i = 0; i < nrows; i++)
		if (rows[i].n > cols)
			cols = rows[i].n;
	shown = nrows > SOURCE_CSV_MAX_ROWS + 1 ? SOURCE_CSV_MAX_ROWS + 1 :
	    nrows;
	for (i = 0; i < shown; i++) {
		sbuf_addc(b, '|');
		for (j = 0; j < cols; j++) {
			sbuf_addc(b, ' ');
			if (j < rows[i].n)
				add_table_cell(b, rows[i].v[j]);
			sbuf_adds(b, " |");
		}
		sbuf_addc(b, '\n');
		if (i == 0) {
			sbuf_addc(b, '|');
			for (j = 0; j < cols; j++)
				sbuf_adds(b, " --- |");
			sbuf_addc(b, '\n');
		}
	}
	if (nrows > shown)
		sbuf_addf(b, "\n(%zu more rows not shown)\n", nrows - shown);
	for (i = 0; i < nrows; i++)
		strv_release(&rows[i]);
	free(rows);
	return nrows > 0 ? nrows - 1 : 0;
}

/* ---- ingest ---- */

static int
load_items(struct notion *n, const struct strv *files, char **errmsg)
{
	struct item	 it;
	size_t		 i, j, len;
	char		*text, *h;
	const char	*md;
	int		 csv;

	for (i = 0; i < files->n; i++) {
		csv = has_suffix(files->v[i], ".csv");
		if (!csv && !has_suffix(files->v[i], ".md"))
			continue;
		memset(&it, 0, sizeof(it));
		split_name(files->v[i], &it);
		if (!csv) {
			if (source_snapshot_text(n->job, files->v[i],
			    SOURCE_TEXT_MAX_BYTES, &text, &len, errmsg) == -1) {
				free(it.id);
				free(it.title);
				return -1;
			}
			it.text = text;
			if ((h = heading(text)) != NULL) {
				free(it.title);
				it.title = h;
			}
		}
		for (j = 0; j < n->nitems; j++)
			if (same_object(&n->items[j], it.id) &&
			    (csv ? n->items[j].csv == NULL :
			    n->items[j].md == NULL))
				break;
		if (j < n->nitems) {
			/* The page and the database of one object. */
			if (csv)
				n->items[j].csv = xstrdup(files->v[i]);
			else {
				n->items[j].md = xstrdup(files->v[i]);
				n->items[j].text = it.text;
				free(n->items[j].title);
				n->items[j].title = it.title;
				it.title = NULL;
			}
			free(it.id);
			free(it.title);
			continue;
		}
		if (csv)
			it.csv = xstrdup(files->v[i]);
		else
			it.md = xstrdup(files->v[i]);
		n->items = xreallocarray(n->items, n->nitems + 1,
		    sizeof(*n->items));
		n->items[n->nitems++] = it;
	}
	for (i = 0; i < n->nitems; i++) {
		if (n->items[i].md != NULL)
			path_index_add(n, xstrdup(n->items[i].md), i);
		if (n->items[i].csv != NULL) {
			path_index_add(n, xstrdup(n->items[i].csv), i);
			/* Links name either variant of a database. */
			path_index_add(n, csv_twin(n->items[i].csv,
			    !has_suffix(n->items[i].csv, "_all.csv")), i);
		} else if (n->items[i].md != NULL && n->items[i].id != NULL) {
			/* A database exported as its page alone. */
			md = n->items[i].md;
			len = strlen(md) - 3;
			xasprintf(&h, "%.*s.csv", (int)len, md);
			path_index_add(n, h, i);
			xasprintf(&h, "%.*s_all.csv", (int)len, md);
			path_index_add(n, h, i);
		}
	}
	if (n->npaths > 1)
		qsort(n->paths, n->npaths, sizeof(*n->paths), path_cmp);
	return 0;
}

static int
project_item(struct notion *n, const struct item *it, char **errmsg)
{
	struct source_page	 pg = { 0 };
	struct sbuf		 body = { 0 }, plain = { 0 };
	char			*csv = NULL, *fallback;
	size_t			 len, rows;
	int			 rv = -1;

	pg.key = xstrdup(it->key);
	strv_push(&pg.tags, "notion");
	if (it->md != NULL) {
		strv_push(&pg.raw_paths, it->md);
		convert(n, it->md, it->text, &body, &plain);
	} else {
		sbuf_adds(&body, "# ");
		source_add_prose(&body, it->title, strlen(it->title));
		sbuf_adds(&body, "\n");
	}
	if (it->csv != NULL) {
		strv_push(&pg.tags, "database");
		strv_push(&pg.raw_paths, it->csv);
		if (source_snapshot_text(n->job, it->csv, SOURCE_TEXT_MAX_BYTES,
		    &csv, &len, errmsg) == -1)
			goto out;
		while (body.len > 0 && body.s[body.len - 1] == '\n')
			body.s[--body.len] = '\0';
		sbuf_adds(&body, it->md != NULL ? "\n\n## Database\n\n" :
		    "\n\n");
		rows = csv_table(csv, &body);
		xasprintf(&fallback, "Notion database %s (%zu rows)", it->title,
		    rows);
	} else
		xasprintf(&fallback, "Notion page %s", it->title);
	pg.summary = source_summary(plain.s != NULL ? plain.s : "", fallback);
	free(fallback);
	pg.body = sbuf_take(&body);
	source_plan_page(&n->plan, &pg, n->job->conn->id);
	rv = 0;
out:
	free(csv);
	sbuf_release(&body);
	sbuf_release(&plain);
	source_page_release(&pg);
	return rv;
}

int
source_ingest_notion(const struct source_job *job, struct source_result *res,
    char **errmsg)
{
	struct notion	 n;
	struct strv	 files = { 0 };
	cJSON		*data;
	size_t		 i;
	int		 rv = -1;

	memset(&n, 0, sizeof(n));
	n.job = job;
	n.res = res;
	if (source_snapshot_list(job, &files, errmsg) == -1)
		goto out;
	if (load_items(&n, &files, errmsg) == -1)
		goto out;
	if (n.nitems == 0) {
		xasprintf(errmsg, "%s: no Notion pages (.md) or databases "
		    "(.csv) staged", job->staging_dir);
		goto out;
	}
	if (sl_load(&n.sl, job->worktree, errmsg) == -1)
		goto out;
	assign_keys(&n);
	for (i = 0; i < n.nitems; i++)
		if (project_item(&n, &n.items[i], errmsg) == -1)
			goto out;
	data = cJSON_CreateObject();
	cJSON_AddNumberToObject(data, "pages", (double)n.nitems);
	cJSON_AddNumberToObject(data, "links", n.links);
	cJSON_AddNumberToObject(data, "plainText", n.plain);
	cJSON_AddNumberToObject(data, "external", n.external);
	cJSON_AddNumberToObject(data, "tableRequests", n.tables);
	source_event_add(res, "notion_links_converted", data);
	if (source_plan_write(&n.plan, job->worktree, res, errmsg) == -1)
		goto out;
	rv = 0;
out:
	for (i = 0; i < n.nitems; i++) {
		free(n.items[i].md);
		free(n.items[i].csv);
		free(n.items[i].id);
		free(n.items[i].title);
		free(n.items[i].key);
		free(n.items[i].text);
	}
	free(n.items);
	for (i = 0; i < n.npaths; i++)
		free(n.paths[i].path);
	free(n.paths);
	sl_release(&n.sl);
	strv_release(&files);
	source_plan_release(&n.plan);
	return rv;
}
