/*
 * The final artifact gates over a session worktree on disk.
 *
 * Every check appends items to one of a few lists, kept apart so that the
 * message lists them in a fixed order whatever order the work was done in;
 * nothing stops at the first problem.  The semantic layer is loaded at
 * most once and only when a check needs it.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gates.h"
#include "sl.h"
#include "util.h"
#include "wiki.h"

#define RAW_DIR		"raw-sources"

struct gates {
	const struct gate_input	*in;
	struct gate_report	*report;
	struct sl		 sl;
	int			 sl_state;	/* 0 not loaded, 1 loaded, -1 failed */
	/*
	 * When only pages changed: the names their references use, all the
	 * semantic layer has to be read for (sl_load_for).
	 */
	struct strv		 words;
	int			 scoped;
	struct strv		 bad;		/* changed paths that failed a path check */
	struct strv		 keys;		/* wiki/global page keys, sorted */
	/* Items, by group. */
	struct strv		 e_paths;
	struct strv		 e_sl;
	struct strv		 e_pages;
	struct strv		 e_slrefs;
	struct strv		 e_links;	/* "<page> -> <ref>" */
	struct strv		 e_body;
	struct strv		 e_prov;
};

static void
item(struct strv *list, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
item(struct strv *list, const char *fmt, ...)
{
	char	*s;
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = xmalloc(n > 0 ? (size_t)n + 1 : 1);
	va_start(ap, fmt);
	vsnprintf(s, n > 0 ? (size_t)n + 1 : 1, fmt, ap);
	va_end(ap);
	strv_push_owned(list, s);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
strv_has_sorted(const struct strv *sv, const char *s)
{
	return sv->n > 0 &&
	    bsearch(&s, sv->v, sv->n, sizeof(*sv->v), str_cmp) != NULL;
}

static int
under(const char *path, const char *dir)
{
	size_t	len = strlen(dir);

	return strncmp(path, dir, len) == 0 && path[len] == '/' &&
	    path[len + 1] != '\0';
}

static char *
join_path(const char *root, const char *rel)
{
	char	*p;

	xasprintf(&p, "%s/%s", root, rel);
	return p;
}

static struct sl *
need_sl(struct gates *g)
{
	char	*err = NULL;

	if (g->sl_state == 0) {
		g->report->sl_loaded = 1;
		if ((g->scoped ? sl_load_for(&g->sl, g->in->worktree,
		    &g->words, &err) : sl_load(&g->sl, g->in->worktree,
		    &err)) == 0)
			g->sl_state = 1;
		else {
			item(&g->e_sl, "semantic layer: %s", err);
			g->sl_state = -1;
		}
		free(err);
	}
	return g->sl_state == 1 ? &g->sl : NULL;
}

/*
 * Paths.
 */

/*
 * Why a path is not a clean relative one inside the tree, or NULL:
 * "absolute path" and "\"..\" component" escape it, "not normalized"
 * (an empty or "." component) does not but is no path git reports.
 */
static const char *
lexical_problem(const char *path)
{
	const char	*c = path, *slash;
	size_t		 len;

	if (*path == '/')
		return "absolute path";
	for (;;) {
		slash = strchr(c, '/');
		len = slash != NULL ? (size_t)(slash - c) : strlen(c);
		if (len == 2 && memcmp(c, "..", 2) == 0)
			return "\"..\" component";
		if (len == 0 || (len == 1 && *c == '.'))
			return "not normalized";
		if (slash == NULL)
			break;
		c = slash + 1;
	}
	return NULL;
}

static const char *
file_type_name(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "not a regular file";
}

enum walk_result {
	WALK_REGULAR,
	WALK_CANNOT_STAT,	/* *detail: "<component>: <strerror>" */
	WALK_SYMLINK,		/* *detail: the component that is a link */
	WALK_NOT_REGULAR	/* *detail: what the file is instead */
};

/*
 * lstat every component of rel under root: none may be a symbolic link
 * and the last must be a regular file, whose status goes in *sb.
 * *detail says what went wrong otherwise.  Caller frees *detail.
 */
static enum walk_result
walk(const char *root, const char *rel, struct stat *sb, char **detail)
{
	enum walk_result	 res = WALK_REGULAR;
	char			*full, *cut;
	size_t			 rootlen = strlen(root);

	*detail = NULL;
	full = join_path(root, rel);
	cut = full + rootlen + 1;
	for (;;) {
		cut = strchr(cut, '/');
		if (cut != NULL)
			*cut = '\0';
		if (lstat(full, sb) == -1) {
			xasprintf(detail, "%s: %s", full + rootlen + 1,
			    strerror(errno));
			res = WALK_CANNOT_STAT;
			goto out;
		}
		if (S_ISLNK(sb->st_mode)) {
			*detail = xstrdup(full + rootlen + 1);
			res = WALK_SYMLINK;
			goto out;
		}
		if (cut == NULL)
			break;
		*cut++ = '/';
	}
	if (!S_ISREG(sb->st_mode)) {
		*detail = xstrdup(file_type_name(sb->st_mode));
		res = WALK_NOT_REGULAR;
	}
out:
	free(full);
	return res;
}

int
gates_regular_file(const char *root, const char *rel)
{
	struct stat	 sb;
	char		*detail = NULL;
	int		 ok;

	ok = lexical_problem(rel) == NULL &&
	    walk(root, rel, &sb, &detail) == WALK_REGULAR;
	free(detail);
	return ok;
}

/* NUL bytes and invalid UTF-8 in a text file; size is already checked. */
static void
check_text(struct gates *g, const char *rel, const char *topdir)
{
	unsigned char	*buf = NULL;
	char		*full;
	uint32_t	 cp;
	size_t		 len = 0, i, n;
	ssize_t		 r;
	int		 fd, line = 1, column = 1;

	full = join_path(g->in->worktree, rel);
	fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	free(full);
	if (fd == -1) {
		item(&g->e_paths, "cannot read %s: %s", rel, strerror(errno));
		return;
	}
	buf = xmalloc(GATES_TEXT_MAX_BYTES + 1);
	while (len <= GATES_TEXT_MAX_BYTES) {
		r = read(fd, buf + len, GATES_TEXT_MAX_BYTES + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			item(&g->e_paths, "cannot read %s: %s", rel,
			    strerror(errno));
			close(fd);
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > GATES_TEXT_MAX_BYTES) {
		item(&g->e_paths, "file too large: %s (over %d bytes)", rel,
		    GATES_TEXT_MAX_BYTES);
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		item(&g->e_paths, "binary file under %s/: %s", topdir, rel);
		goto out;
	}
	for (i = 0; i < len; i += n) {
		if ((n = utf8_char(buf + i, len - i, &cp)) == 0) {
			item(&g->e_paths, "not UTF-8 text: %s (invalid byte"
			    " at %d:%d)", rel, line, column);
			goto out;
		}
		if (cp == '\n') {
			line++;
			column = 1;
		} else
			column++;
	}
out:
	free(buf);
}

static int
path_cmp(const void *pa, const void *pb)
{
	const struct gate_path	*a = *(const struct gate_path *const *)pa;
	const struct gate_path	*b = *(const struct gate_path *const *)pb;

	return strcmp(a->path, b->path);
}

/* Returns 0 if the path passed, -1 if an item was added. */
static int
check_path(struct gates *g, const struct gate_path *c)
{
	struct stat	 sb;
	const char	*why, *topdir = NULL;
	char		*detail;
	off_t		 limit;

	if ((why = lexical_problem(c->path)) != NULL) {
		if (strcmp(why, "not normalized") == 0)
			item(&g->e_paths, "path is not normalized: %s",
			    c->path);
		else
			item(&g->e_paths, "path escapes the repository: %s"
			    " (%s)", c->path, why);
		return -1;
	}
	if (under(c->path, WIKI_DIR))
		topdir = WIKI_DIR;
	else if (under(c->path, SL_DIR))
		topdir = SL_DIR;
	else if (!under(c->path, RAW_DIR)) {
		item(&g->e_paths, "path outside wiki/, semantic-layer/ and"
		    " raw-sources/: %s", c->path);
		return -1;
	} else if (g->in->snapshot_dir != NULL &&
	    !under(c->path, g->in->snapshot_dir)) {
		/* Raw files come from the staging dir, into this snapshot. */
		item(&g->e_paths, "raw file outside this target's snapshot"
		    " %s: %s", g->in->snapshot_dir, c->path);
		return -1;
	}
	if (c->change == GATE_DELETED)
		return 0;
	switch (walk(g->in->worktree, c->path, &sb, &detail)) {
	case WALK_REGULAR:
		break;
	case WALK_CANNOT_STAT:
		item(&g->e_paths, "cannot stat %s", detail);
		break;
	case WALK_SYMLINK:
		item(&g->e_paths, "symbolic link on changed path: %s (%s is a"
		    " symbolic link)", c->path, detail);
		break;
	case WALK_NOT_REGULAR:
		item(&g->e_paths, "not a regular file: %s (%s)", c->path,
		    detail);
		break;
	}
	if (detail != NULL) {
		free(detail);
		return -1;
	}
	limit = topdir != NULL ? GATES_TEXT_MAX_BYTES : GATES_RAW_MAX_BYTES;
	if (sb.st_size > limit) {
		item(&g->e_paths, "file too large: %s (%lld bytes; the limit"
		    " is %lld)", c->path, (long long)sb.st_size,
		    (long long)limit);
		return -1;
	}
	if (topdir != NULL) {
		size_t	before = g->e_paths.n;

		check_text(g, c->path, topdir);
		if (g->e_paths.n != before)
			return -1;
	}
	return 0;
}

static void
check_paths(struct gates *g)
{
	const struct gate_path	**sorted;
	size_t			  i, n = g->in->nchanged;

	sorted = xreallocarray(NULL, n + 1, sizeof(*sorted));
	for (i = 0; i < n; i++)
		sorted[i] = &g->in->changed[i];
	qsort(sorted, n, sizeof(*sorted), path_cmp);
	for (i = 0; i < n; i++) {
		/* A path listed twice is checked once. */
		if (i > 0 && strcmp(sorted[i]->path, sorted[i - 1]->path) == 0)
			continue;
		if (check_path(g, sorted[i]) == -1)
			strv_push(&g->bad, sorted[i]->path);
	}
	strv_sort_unique(&g->bad);
	free(sorted);
}

/*
 * The semantic layer.
 */

/* The connection of "semantic-layer/<conn>/...". */
static char *
sl_path_conn(const char *path)
{
	const char	*c = path + strlen(SL_DIR) + 1, *slash;

	if ((slash = strchr(c, '/')) == NULL)
		return NULL;
	return xstrndup(c, (size_t)(slash - c));
}

static int
sl_path_is_shard(const char *path)
{
	const char	*c = path + strlen(SL_DIR) + 1;

	c = strchr(c, '/');
	return c != NULL && strncmp(c + 1, SL_SCHEMA_DIR "/",
	    strlen(SL_SCHEMA_DIR) + 1) == 0;
}

struct touched {
	char		*conn;
	int		 all;		/* every source of conn */
	struct strv	 names;
};

static struct touched *
touched_get(struct touched **t, size_t *n, const char *conn)
{
	size_t	i;

	for (i = 0; i < *n; i++)
		if (strcmp((*t)[i].conn, conn) == 0)
			return &(*t)[i];
	*t = xreallocarray(*t, *n + 1, sizeof(**t));
	memset(&(*t)[*n], 0, sizeof(**t));
	(*t)[*n].conn = xstrdup(conn);
	return &(*t)[(*n)++];
}

static int
touched_cmp(const void *a, const void *b)
{
	return strcmp(((const struct touched *)a)->conn,
	    ((const struct touched *)b)->conn);
}

static void
check_sl(struct gates *g)
{
	const struct gate_path	*c;
	const struct sl_file	*f;
	struct touched		*t = NULL, *tc;
	struct sl		*sl;
	char			*conn;
	size_t			 i, j, nt = 0;

	for (i = 0; i < g->in->nchanged; i++) {
		c = &g->in->changed[i];
		if (!under(c->path, SL_DIR) || strv_has_sorted(&g->bad, c->path))
			continue;
		if ((conn = sl_path_conn(c->path)) == NULL)
			continue;
		tc = touched_get(&t, &nt, conn);
		free(conn);
		if (c->change == GATE_DELETED || sl_path_is_shard(c->path))
			tc->all = 1;
		if (c->change == GATE_DELETED)
			continue;
		if ((sl = need_sl(g)) == NULL)
			goto out;
		if ((f = sl_file_find(sl, c->path)) == NULL)
			continue;
		for (j = 0; j < f->names.n; j++)
			strv_push(&tc->names, f->names.v[j]);
		/* Nothing declared: no validation line will carry these. */
		if (f->names.n == 0)
			for (j = 0; j < f->errors.n; j++)
				strv_push(&g->e_sl, f->errors.v[j]);
	}
	if (nt == 0 || (sl = need_sl(g)) == NULL)
		goto out;
	qsort(t, nt, sizeof(*t), touched_cmp);
	for (i = 0; i < nt; i++) {
		tc = &t[i];
		if (tc->all) {
			for (j = 0; j < sl->nsources; j++)
				if (strcmp(sl->sources[j].conn, tc->conn) == 0)
					strv_push(&tc->names,
					    sl->sources[j].name);
			for (j = 0; j < sl->norphans; j++)
				if (strcmp(sl->orphans[j].conn, tc->conn) == 0)
					strv_push(&tc->names,
					    sl->orphans[j].name);
		}
		strv_sort_unique(&tc->names);
		if (tc->names.n > 0)
			sl_validate(sl, tc->conn, &tc->names, &g->e_sl);
	}
out:
	for (i = 0; i < nt; i++) {
		free(t[i].conn);
		strv_release(&t[i].names);
	}
	free(t);
}

/*
 * Wiki pages.
 */

/* The keys of wiki/global/<key>.md files, sorted. */
static void
list_keys(struct gates *g)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 sb;
	char		*dir, *full, *key;
	size_t		 len;

	dir = join_path(g->in->worktree, WIKI_GLOBAL_DIR);
	if ((d = opendir(dir)) == NULL) {
		if (errno != ENOENT)
			item(&g->e_pages, "cannot list %s: %s",
			    WIKI_GLOBAL_DIR, strerror(errno));
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 3 || strcmp(de->d_name + len - 3, ".md") != 0)
			continue;
		key = xstrndup(de->d_name, len - 3);
		if (!wiki_key_valid(key)) {
			free(key);
			continue;
		}
		if (de->d_type == DT_DIR) {
			free(key);
			continue;
		}
		if (de->d_type == DT_UNKNOWN) {
			full = join_path(dir, de->d_name);
			if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) {
				free(full);
				free(key);
				continue;
			}
			free(full);
		}
		strv_push_owned(&g->keys, key);
	}
	closedir(d);
	free(dir);
	strv_sort_unique(&g->keys);
}

static int
blank(const char *s)
{
	size_t	len = strlen(s);

	return strspn(s, " \t\r\n\f\v") == len;
}

/* Frontmatter fields ktx requires of a page it writes. */
static void
check_required(struct gates *g, const char *path, const struct wiki_page *p)
{
	const struct wiki_value	*v;

	v = wiki_get(p, "summary");
	if (v == NULL)
		item(&g->e_pages, "%s: Front-matter field \"summary\" is"
		    " required", path);
	else if (v->type == WIKI_NULL || (v->type != WIKI_SEQ &&
	    v->type != WIKI_MAP && blank(v->text)))
		item(&g->e_pages, "%s:%d:%d: Front-matter field \"summary\""
		    " is required", path, v->line, v->column);
	v = wiki_get(p, "usage_mode");
	if (v == NULL || v->type != WIKI_STRING ||
	    (strcmp(v->text, "always") != 0 && strcmp(v->text, "auto") != 0 &&
	    strcmp(v->text, "never") != 0)) {
		if (v == NULL)
			item(&g->e_pages, "%s: Front-matter field"
			    " \"usage_mode\" must be one of: always, auto,"
			    " never", path);
		else
			item(&g->e_pages, "%s:%d:%d: Front-matter field"
			    " \"usage_mode\" must be one of: always, auto,"
			    " never", path, v->line, v->column);
	}
}

static void
check_sl_refs(struct gates *g, const char *key, const struct wiki_page *p)
{
	struct strv	 refs;
	struct sl	*sl;
	size_t		 i;

	memset(&refs, 0, sizeof(refs));
	wiki_field_list(p, "sl_refs", &refs);
	if (refs.n > 0 && (sl = need_sl(g)) != NULL) {
		for (i = 0; i < refs.n; i++) {
			switch (sl_ref_check(sl, g->in->connections,
			    refs.v[i])) {
			case SL_REF_UNKNOWN_SOURCE:
				item(&g->e_slrefs, "%s: unknown sl_refs entry"
				    " %s", key, refs.v[i]);
				break;
			case SL_REF_UNKNOWN_ENTITY:
				item(&g->e_slrefs, "%s: unknown sl_refs entity"
				    " %s", key, refs.v[i]);
				break;
			case SL_REF_OK:
				break;
			}
		}
	}
	strv_release(&refs);
}

/*
 * Whether wiki/global/<key>.md is a page: in the list when every page is
 * validated, else asked of the file system, so that checking one page
 * costs the same in a project of ten pages or of ten thousand.
 */
static int
page_exists(struct gates *g, const char *key)
{
	struct stat	 sb;
	char		*full;
	int		 yes;

	if (g->report->all_pages)
		return strv_has_sorted(&g->keys, key);
	if (!wiki_key_valid(key))
		return 0;
	xasprintf(&full, "%s/%s/%s.md", g->in->worktree, WIKI_GLOBAL_DIR, key);
	yes = lstat(full, &sb) == 0 && !S_ISDIR(sb.st_mode);
	free(full);
	return yes;
}

static void
check_links(struct gates *g, const char *key, const struct wiki_page *p)
{
	struct strv	cand;
	size_t		i;

	memset(&cand, 0, sizeof(cand));
	wiki_field_list(p, "refs", &cand);
	for (i = 0; i < cand.n; i++)
		if (!wiki_ref_key_valid(cand.v[i])) {
			free(cand.v[i]);
			cand.v[i] = cand.v[--cand.n];
			cand.v[cand.n] = NULL;
			i--;
		}
	wiki_body_link_keys(p->body, p->body_len, &cand);
	strv_sort_unique(&cand);
	for (i = 0; i < cand.n; i++)
		if (strcmp(cand.v[i], key) != 0 && !page_exists(g, cand.v[i]))
			item(&g->e_links, "%s -> %s", key, cand.v[i]);
	strv_release(&cand);
}

/* The source ref names in conn, or in the visible connections. */
static const struct sl_source *
find_source(struct gates *g, struct sl *sl, const struct wiki_ref *r)
{
	const struct sl_source	*src;
	const struct strv	*conns = g->in->connections;
	size_t			 i;

	if (r->connection != NULL || conns == NULL)
		return sl_source_find(sl, r->connection, r->name);
	for (i = 0; i < conns->n; i++)
		if ((src = sl_source_find(sl, conns->v[i], r->name)) != NULL)
			return src;
	return NULL;
}

static int
table_exists(struct gates *g, struct sl *sl, const struct wiki_ref *r)
{
	const struct strv	*conns = g->in->connections;
	size_t			 i;

	if (r->connection != NULL || conns == NULL)
		return sl_table_exists(sl, r->connection, r->name);
	for (i = 0; i < conns->n; i++)
		if (sl_table_exists(sl, conns->v[i], r->name))
			return 1;
	return 0;
}

static void
check_body(struct gates *g, const char *key, const struct wiki_page *p)
{
	const struct sl_source	*src;
	const struct wiki_ref	*r;
	struct wiki_refs	 refs;
	struct sl		*sl;
	size_t			 i;

	memset(&refs, 0, sizeof(refs));
	wiki_body_refs(p->body, p->body_len, &refs);
	if (refs.n == 0 || (sl = need_sl(g)) == NULL)
		goto out;
	for (i = 0; i < refs.n; i++) {
		r = &refs.v[i];
		if (r->kind == WIKI_REF_TABLE) {
			if (!table_exists(g, sl, r))
				item(&g->e_body, "%s: unknown raw table %s%s%s",
				    key, r->connection ? r->connection : "",
				    r->connection ? "/" : "", r->name);
			continue;
		}
		src = find_source(g, sl, r);
		if (src == NULL) {
			if (r->kind == WIKI_REF_SOURCE)
				item(&g->e_body, "%s: unknown semantic-layer"
				    " source %s%s%s", key,
				    r->connection ? r->connection : "",
				    r->connection ? "/" : "", r->name);
			continue;
		}
		if (r->kind == WIKI_REF_ENTITY &&
		    sl_entity_kind(sl, src, r->entity) == 0)
			item(&g->e_body, "%s: unknown semantic-layer entity"
			    " %s.%s", key, r->name, r->entity);
	}
out:
	wiki_refs_release(&refs);
}

/* The names the references of the page at path need from the layer. */
static void
page_words(struct gates *g, const char *path)
{
	struct wiki_page	 page;
	struct wiki_refs	 refs;
	struct strv		 sl_refs;
	char			*full, *err = NULL;
	size_t			 i;

	memset(&refs, 0, sizeof(refs));
	memset(&sl_refs, 0, sizeof(sl_refs));
	full = join_path(g->in->worktree, path);
	if (wiki_read(full, path, &page, &err) == 0) {
		wiki_field_list(&page, "sl_refs", &sl_refs);
		for (i = 0; i < sl_refs.n; i++)
			strv_push_owned(&g->words, sl_ref_word(sl_refs.v[i],
			    0));
		wiki_body_refs(page.body, page.body_len, &refs);
		for (i = 0; i < refs.n; i++)
			strv_push_owned(&g->words, sl_ref_word(refs.v[i].name,
			    refs.v[i].kind == WIKI_REF_TABLE));
	}
	wiki_page_release(&page);
	wiki_refs_release(&refs);
	strv_release(&sl_refs);
	free(full);
	free(err);
}

/* "wiki/global/<name>.md", whatever the name. */
static int
is_global_page_file(const char *path)
{
	const char	*name = path + strlen(WIKI_GLOBAL_DIR) + 1;
	size_t		 len;

	if (!under(path, WIKI_GLOBAL_DIR) || strchr(name, '/') != NULL)
		return 0;
	len = strlen(name);
	return len > 3 && strcmp(name + len - 3, ".md") == 0;
}

static void
check_pages(struct gates *g)
{
	const struct gate_path	*c;
	struct wiki_page	 page;
	struct strv		 changed, *todo;
	char			*key, *path, *full, *err;
	size_t			 i;
	int			 sl_changed = 0, removed = 0, is_changed, r;

	memset(&changed, 0, sizeof(changed));
	for (i = 0; i < g->in->nchanged; i++) {
		c = &g->in->changed[i];
		if (strv_has_sorted(&g->bad, c->path))
			continue;
		if (under(c->path, SL_DIR))
			sl_changed = 1;
		if ((key = wiki_global_key(c->path)) == NULL) {
			if (c->change != GATE_DELETED &&
			    is_global_page_file(c->path))
				item(&g->e_pages, "invalid wiki page name: %s"
				    " (keys must match"
				    " ^[a-zA-Z0-9][a-zA-Z0-9_-]*$)", c->path);
			continue;
		}
		if (c->change == GATE_DELETED) {
			removed = 1;
			free(key);
		} else
			strv_push_owned(&changed, key);
	}
	strv_sort_unique(&changed);
	if (changed.n == 0 && !sl_changed && !removed)
		goto out;
	g->report->all_pages = sl_changed || removed;
	if (g->report->all_pages)
		list_keys(g);
	todo = g->report->all_pages ? &g->keys : &changed;
	if (!g->report->all_pages && g->sl_state == 0) {
		/* Read of the layer only what these pages name. */
		g->scoped = 1;
		for (i = 0; i < changed.n; i++) {
			xasprintf(&path, "%s/%s.md", WIKI_GLOBAL_DIR,
			    changed.v[i]);
			if (!strv_has_sorted(&g->bad, path))
				page_words(g, path);
			free(path);
		}
		strv_sort_unique(&g->words);
	}
	for (i = 0; i < todo->n; i++) {
		key = todo->v[i];
		is_changed = strv_has_sorted(&changed, key);
		xasprintf(&path, "%s/%s.md", WIKI_GLOBAL_DIR, key);
		/* A page that failed a path check is not read through. */
		if (strv_has_sorted(&g->bad, path)) {
			free(path);
			continue;
		}
		full = join_path(g->in->worktree, path);
		err = NULL;
		r = wiki_read(full, path, &page, &err);
		free(full);
		if (r == -1 && is_changed)
			strv_push(&g->e_pages, err);
		if (r == 0) {
			g->report->pages_checked++;
			if (is_changed)
				check_required(g, path, &page);
			check_sl_refs(g, key, &page);
			check_links(g, key, &page);
			check_body(g, key, &page);
		}
		wiki_page_release(&page);
		free(err);
		free(path);
	}
out:
	strv_release(&changed);
}

/*
 * Provenance.
 */

static int
snapshot_dir_valid(const char *dir)
{
	const char	*c;
	int		 n = 1;

	if (lexical_problem(dir) != NULL || !under(dir, RAW_DIR))
		return 0;
	for (c = dir; *c != '\0'; c++)
		if (*c == '/')
			n++;
	return n == 4;
}

static void
check_provenance(struct gates *g)
{
	const struct strv	*raw = g->in->raw_paths;
	struct stat		 sb;
	char			*rel, *detail = NULL;
	size_t			 i;

	if (raw == NULL || raw->n == 0)
		return;
	if (g->in->snapshot_dir == NULL ||
	    !snapshot_dir_valid(g->in->snapshot_dir)) {
		item(&g->e_prov, "provenance snapshot is not"
		    " raw-sources/<conn>/<sourceKey>/<syncId>: %s",
		    g->in->snapshot_dir ? g->in->snapshot_dir : "(none)");
		return;
	}
	/* Inside: a clean relative path to a regular file of the snapshot. */
	for (i = 0; i < raw->n; i++) {
		xasprintf(&rel, "%s/%s", g->in->snapshot_dir, raw->v[i]);
		if (raw->v[i][0] == '\0' ||
		    lexical_problem(raw->v[i]) != NULL ||
		    walk(g->in->worktree, rel, &sb, &detail) != WALK_REGULAR)
			item(&g->e_prov, "provenance row references raw path"
			    " outside this snapshot: %s", raw->v[i]);
		free(detail);
		detail = NULL;
		free(rel);
	}
}

static void
add_all(struct strv *to, struct strv *from)
{
	size_t	i;

	for (i = 0; i < from->n; i++)
		strv_push_owned(to, from->v[i]);
	free(from->v);
	memset(from, 0, sizeof(*from));
}

int
gates_run(const struct gate_input *in, struct gate_report *report,
    char **errmsg)
{
	struct gates	 g;
	struct strv	 all;
	char		*links = NULL, *msg, *p;
	size_t		 i, len;

	memset(&g, 0, sizeof(g));
	memset(report, 0, sizeof(*report));
	memset(&all, 0, sizeof(all));
	g.in = in;
	g.report = report;

	check_paths(&g);
	check_sl(&g);
	check_pages(&g);
	check_provenance(&g);

	if (g.e_links.n > 0) {
		len = strlen("wiki references target missing page(s): ") + 1;
		for (i = 0; i < g.e_links.n; i++)
			len += strlen(g.e_links.v[i]) + 2;
		links = xmalloc(len);
		strlcpy(links, "wiki references target missing page(s): ",
		    len);
		for (i = 0; i < g.e_links.n; i++) {
			if (i > 0)
				strlcat(links, ", ", len);
			strlcat(links, g.e_links.v[i], len);
		}
	}
	add_all(&all, &g.e_paths);
	add_all(&all, &g.e_sl);
	add_all(&all, &g.e_pages);
	add_all(&all, &g.e_slrefs);
	if (links != NULL)
		strv_push_owned(&all, links);
	add_all(&all, &g.e_body);
	add_all(&all, &g.e_prov);
	report->nerrors = all.n;
	if (all.n > 0) {
		len = strlen(GATES_PREFIX) + 1;
		for (i = 0; i < all.n; i++)
			len += strlen(all.v[i]) + 1;
		msg = p = xmalloc(len);
		p += snprintf(p, len, "%s", GATES_PREFIX);
		for (i = 0; i < all.n; i++)
			p += snprintf(p, len - (size_t)(p - msg), "\n%s",
			    all.v[i]);
		*errmsg = msg;
	}
	strv_release(&all);
	strv_release(&g.e_links);
	strv_release(&g.bad);
	strv_release(&g.keys);
	strv_release(&g.words);
	if (g.sl_state != 0)
		sl_release(&g.sl);
	return report->nerrors > 0 ? -1 : 0;
}
