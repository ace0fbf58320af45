/*
 * Reconciliation of a session's wiki against its refreshed tree: link
 * requests resolved, then sl_refs pruned as ktx prunes them (reconcile.h
 * gives the syntax and the rules).
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gates.h"
#include "reconcile.h"
#include "sl.h"
#include "util.h"
#include "wiki.h"

#define WIKI_USER_DIR	"wiki/user"

/* The layer reconcile_run loads itself, on the first page that needs it. */
struct lazy_sl {
	struct sl	 sl;
	int		 state;		/* 0 not loaded, 1 loaded, -1 failed */
	char		*err;
};

struct reconciler {
	const char		*worktree;
	const struct sl		*sl;		/* NULL: lazy's */
	struct lazy_sl		*lazy;
	const struct strv	*conns;
	struct strv		 keys;		/* wiki/global page keys, sorted */
	struct reconcile_result	*res;
};

/*
 * The semantic layer; loaded now if reconcile_run was given none.  After
 * a failure to load, an empty one (reconcile_run reports the failure).
 */
static const struct sl *
layer(const struct reconciler *rc)
{
	struct lazy_sl	*lz = rc->lazy;

	if (rc->sl != NULL)
		return rc->sl;
	if (lz->state == 0) {
		if (sl_load(&lz->sl, rc->worktree, &lz->err) == 0)
			lz->state = 1;
		else {
			sl_release(&lz->sl);
			lz->state = -1;
		}
	}
	return &lz->sl;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The page keys of dir (relative to the worktree), sorted; entries that
 * are not <key>.md with a valid key are ignored, as ktx lists pages.
 */
static int
list_pages(const char *worktree, const char *dir, struct strv *keys,
    char **errmsg)
{
	DIR		*d;
	struct dirent	*de;
	char		*full, *key;
	size_t		 len;

	xasprintf(&full, "%s/%s", worktree, dir);
	d = opendir(full);
	free(full);
	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		xasprintf(errmsg, "cannot list %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_type == DT_DIR || len <= 3 ||
		    strcmp(de->d_name + len - 3, ".md") != 0)
			continue;
		key = xstrndup(de->d_name, len - 3);
		if (wiki_key_valid(key))
			strv_push_owned(keys, key);
		else
			free(key);
	}
	closedir(d);
	if (keys->n > 1)
		qsort(keys->v, keys->n, sizeof(*keys->v), str_cmp);
	return 0;
}

/* The user ids under wiki/user/, sorted. */
static int
list_users(const char *worktree, struct strv *users, char **errmsg)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 sb;
	char		*full, *sub;

	xasprintf(&full, "%s/%s", worktree, WIKI_USER_DIR);
	d = opendir(full);
	if (d == NULL) {
		free(full);
		if (errno == ENOENT)
			return 0;
		xasprintf(errmsg, "cannot list %s: %s", WIKI_USER_DIR,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		xasprintf(&sub, "%s/%s", full, de->d_name);
		if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode))
			strv_push(users, de->d_name);
		free(sub);
	}
	closedir(d);
	free(full);
	if (users->n > 1)
		qsort(users->v, users->n, sizeof(*users->v), str_cmp);
	return 0;
}

static char *
trim_dup(const char *s, size_t len)
{
	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	return xstrndup(s, len);
}

/* "Churned Customer" -> "churned-customer"; "" when nothing is left. */
static char *
slug(const char *s)
{
	char	*out = xmalloc(strlen(s) + 1), *o = out;

	for (; *s != '\0'; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))
			*o++ = *s;
		else if (*s >= 'A' && *s <= 'Z')
			*o++ = (char)(*s - 'A' + 'a');
		else if (o > out && o[-1] != '-')
			*o++ = '-';
	}
	if (o > out && o[-1] == '-')
		o--;
	*o = '\0';
	return out;
}

static int
key_exists(const struct reconciler *rc, const char *key)
{
	return rc->keys.n > 0 && bsearch(&key, rc->keys.v, rc->keys.n,
	    sizeof(*rc->keys.v), str_cmp) != NULL;
}

/*
 * [[?page:text|label]]: the replacement; *found says whether the page
 * exists.  Caller frees.
 */
static char *
resolve_page(const struct reconciler *rc, const char *text, const char *label,
    int *found)
{
	const char	*key = NULL;
	char		*s, *out;

	s = slug(text);
	if (wiki_key_valid(text) && key_exists(rc, text))
		key = text;
	else if (*s != '\0' && key_exists(rc, s))
		key = s;
	if (label == NULL)
		label = text;
	*found = key != NULL;
	if (key == NULL)
		out = xstrdup(label);
	else if (strcmp(key, label) == 0)
		xasprintf(&out, "[[%s]]", key);
	else
		xasprintf(&out, "[[%s|%s]]", key, label);
	free(s);
	return out;
}

/*
 * [[?table:[conn/]ref|label]]: the replacement, *found whether the table
 * exists and *src the source it resolves to (NULL if none).  Caller frees.
 */
static char *
resolve_table(const struct reconciler *rc, const char *text,
    const char *label, int *found, const struct sl_source **src)
{
	const char	*slash, *ref = text, *in = NULL;
	char		*conn = NULL, *out;
	size_t		 i;

	*src = NULL;
	*found = 0;
	if ((slash = strchr(text, '/')) != NULL && slash > text) {
		conn = xstrndup(text, (size_t)(slash - text));
		ref = slash + 1;
	}
	if (conn != NULL || rc->conns == NULL) {
		*found = (*src = sl_table_find(layer(rc), conn, ref)) != NULL;
		in = conn;
	} else
		for (i = 0; i < rc->conns->n && !*found; i++) {
			*found = (*src = sl_table_find(layer(rc),
			    rc->conns->v[i], ref)) != NULL;
			in = rc->conns->v[i];
		}
	/* The connection the gates will look in: the one it was found in. */
	if (*found && in == NULL && *src != NULL)
		in = (*src)->conn;
	if (*found && in != NULL)
		xasprintf(&out, "`%s/table:%s`", in, ref);
	else if (*found)
		xasprintf(&out, "`table:%s`", ref);
	else
		out = xstrdup(label != NULL ? label : ref);
	free(conn);
	return out;
}

/*
 * Resolve the link requests of body.  Returns the new body (NULL when
 * there was none), with what became of each request in rp->links and the
 * sources of resolved tables in sources.
 */
static char *
resolve_requests(struct reconciler *rc, const char *path, const char *body,
    size_t len, struct reconcile_page *rp, struct strv *sources)
{
	const struct sl_source	*src;
	struct wiki_links	 links;
	const struct wiki_link	*l;
	char			*text, *label, *repl, *out = NULL, *tmp;
	size_t			 i, at = 0, outlen = 0;
	int			 any = 0, found;

	memset(&links, 0, sizeof(links));
	wiki_body_links(body, len, &links);
	for (i = 0; i < links.n; i++) {
		l = &links.v[i];
		if (l->target[0] != '?')
			continue;
		label = l->label != NULL ? trim_dup(l->label,
		    strlen(l->label)) : NULL;
		if (strncmp(l->target, "?page:", 6) == 0) {
			text = trim_dup(l->target + 6, strlen(l->target + 6));
			repl = resolve_page(rc, text, label, &found);
		} else if (strncmp(l->target, "?table:", 7) == 0) {
			text = trim_dup(l->target + 7, strlen(l->target + 7));
			repl = resolve_table(rc, text, label, &found, &src);
			if (src != NULL && sl_ref_keep(layer(rc), rc->conns,
			    src->name) && !strv_has(sources, src->name))
				strv_push(sources, src->name);
		} else {
			xasprintf(&tmp, "%s: unknown link request %.*s (left"
			    " as it is)", path, (int)l->len, body + l->off);
			strv_push_owned(&rc->res->warnings, tmp);
			free(label);
			continue;
		}
		xasprintf(&tmp, "%.*s -> %s", (int)l->len, body + l->off,
		    found ? repl : "plain text");
		strv_push_owned(&rp->links, tmp);
		/* Copy what precedes the request, then its replacement. */
		out = xreallocarray(out, outlen + (l->off - at) +
		    strlen(repl) + 1, 1);
		memcpy(out + outlen, body + at, l->off - at);
		outlen += l->off - at;
		memcpy(out + outlen, repl, strlen(repl));
		outlen += strlen(repl);
		at = l->off + l->len;
		any = 1;
		free(repl);
		free(text);
		free(label);
	}
	if (any) {
		out = xreallocarray(out, outlen + (len - at) + 1, 1);
		memcpy(out + outlen, body + at, len - at);
		out[outlen + len - at] = '\0';
	}
	wiki_links_release(&links);
	return out;
}

static int
js_blank(const char *s)
{
	return strspn(s, " \t\r\n\f\v") == strlen(s);
}

/* One page: resolve, prune, write back if anything changed. */
static int
reconcile_page(struct reconciler *rc, const char *path, char **errmsg)
{
	const struct wiki_value	*v;
	struct reconcile_page	 rp, *slot;
	struct wiki_page	 page;
	struct strv		 refs, kept, sources;
	char			*full, *err = NULL, *body = NULL;
	size_t			 i;
	int			 r, rv = -1;

	memset(&rp, 0, sizeof(rp));
	memset(&refs, 0, sizeof(refs));
	memset(&kept, 0, sizeof(kept));
	memset(&sources, 0, sizeof(sources));
	memset(&page, 0, sizeof(page));
	xasprintf(&full, "%s/%s", rc->worktree, path);
	/*
	 * Never read through a link: the rewrite would replace the link
	 * with a regular file holding whatever it pointed at, where the
	 * gates would no longer see a link.
	 */
	if (!gates_regular_file(rc->worktree, path)) {
		xasprintf(&err, "%s: skipped (not a regular file, or a symbolic"
		    " link on its path)", path);
		strv_push_owned(&rc->res->warnings, err);
		err = NULL;
		rv = 0;
		goto out;
	}
	if ((r = wiki_read(full, path, &page, &err)) != 0) {
		if (r == -1)
			strv_push_owned(&rc->res->warnings, err);
		err = NULL;
		rv = 0;
		goto out;
	}
	if (strstr(page.body, "[[") != NULL)
		body = resolve_requests(rc, path, page.body, page.body_len,
		    &rp, &sources);
	/* ktx keeps the strings that are not blank, each once. */
	if ((v = wiki_get(&page, "sl_refs")) != NULL && v->type == WIKI_SEQ)
		for (i = 0; i < v->nkids; i++)
			if (v->kids[i]->type == WIKI_STRING &&
			    !js_blank(v->kids[i]->text) &&
			    !strv_has(&refs, v->kids[i]->text))
				strv_push(&refs, v->kids[i]->text);
	for (i = 0; i < refs.n; i++) {
		if (sl_ref_keep(layer(rc), rc->conns, refs.v[i]))
			strv_push(&kept, refs.v[i]);
		else
			strv_push(&rp.removed_sl_refs, refs.v[i]);
	}
	for (i = 0; i < sources.n; i++)
		if (!strv_has(&kept, sources.v[i])) {
			strv_push(&kept, sources.v[i]);
			strv_push(&rp.added_sl_refs, sources.v[i]);
		}
	if (body == NULL && rp.removed_sl_refs.n == 0 &&
	    rp.added_sl_refs.n == 0) {
		rv = 0;
		goto out;
	}
	if (rp.removed_sl_refs.n > 0 || rp.added_sl_refs.n > 0)
		wiki_set(&page, "sl_refs", wiki_strlist_new(&kept));
	if (body != NULL) {
		free(page.body);
		page.body = body;
		page.body_len = strlen(body);
		body = NULL;
	}
	if (wiki_write(full, &page, errmsg) == -1)
		goto out;
	rc->res->pages = xreallocarray(rc->res->pages, rc->res->npages + 1,
	    sizeof(*rc->res->pages));
	slot = &rc->res->pages[rc->res->npages++];
	*slot = rp;
	slot->path = xstrdup(path);
	memset(&rp, 0, sizeof(rp));
	rv = 0;
out:
	strv_release(&rp.removed_sl_refs);
	strv_release(&rp.added_sl_refs);
	strv_release(&rp.links);
	strv_release(&refs);
	strv_release(&kept);
	strv_release(&sources);
	wiki_page_release(&page);
	free(body);
	free(full);
	return rv;
}

static int
reconcile_dir(struct reconciler *rc, const char *dir, const struct strv *keys,
    char **errmsg)
{
	char	*path;
	size_t	 i;
	int	 r;

	for (i = 0; i < keys->n; i++) {
		xasprintf(&path, "%s/%s.md", dir, keys->v[i]);
		r = reconcile_page(rc, path, errmsg);
		free(path);
		if (r == -1)
			return -1;
	}
	return 0;
}

int
reconcile_run(const char *worktree, const struct sl *sl,
    const struct strv *connections, struct reconcile_result *res,
    char **errmsg)
{
	struct reconciler	 rc;
	struct lazy_sl		 lazy;
	struct strv		 users, keys;
	char			*dir;
	size_t			 i;
	int			 rv = -1;

	memset(res, 0, sizeof(*res));
	memset(&rc, 0, sizeof(rc));
	memset(&users, 0, sizeof(users));
	rc.worktree = worktree;
	memset(&lazy, 0, sizeof(lazy));
	rc.sl = sl;
	rc.lazy = &lazy;
	rc.conns = connections;
	rc.res = res;
	if (list_pages(worktree, WIKI_GLOBAL_DIR, &rc.keys, errmsg) == -1 ||
	    reconcile_dir(&rc, WIKI_GLOBAL_DIR, &rc.keys, errmsg) == -1 ||
	    list_users(worktree, &users, errmsg) == -1)
		goto out;
	for (i = 0; i < users.n; i++) {
		memset(&keys, 0, sizeof(keys));
		xasprintf(&dir, "%s/%s", WIKI_USER_DIR, users.v[i]);
		if (list_pages(worktree, dir, &keys, errmsg) == -1 ||
		    reconcile_dir(&rc, dir, &keys, errmsg) == -1) {
			strv_release(&keys);
			free(dir);
			goto out;
		}
		strv_release(&keys);
		free(dir);
	}
	if (lazy.state == -1) {
		*errmsg = lazy.err;
		lazy.err = NULL;
		goto out;
	}
	rv = 0;
out:
	strv_release(&users);
	strv_release(&rc.keys);
	sl_release(&lazy.sl);
	free(lazy.err);
	return rv;
}

void
reconcile_result_release(struct reconcile_result *res)
{
	size_t	i;

	for (i = 0; i < res->npages; i++) {
		free(res->pages[i].path);
		strv_release(&res->pages[i].removed_sl_refs);
		strv_release(&res->pages[i].added_sl_refs);
		strv_release(&res->pages[i].links);
	}
	free(res->pages);
	strv_release(&res->warnings);
	memset(res, 0, sizeof(*res));
}
