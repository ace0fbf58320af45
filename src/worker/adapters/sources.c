/*
 * What the built-in source adapters share: results, staging the input,
 * reading the snapshot, page keys and summaries, link requests, rendering
 * pages, writing the worktree all or nothing, and warehouse lookups.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sha2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sources.h"
#include "wiki.h"

static const struct source_adapter adapters[] = {
	{ "dbt", source_stage_dbt, source_ingest_dbt },
	{ "metabase", source_stage_metabase, source_ingest_metabase },
	{ "notion", source_stage_notion, source_ingest_notion },
};

const struct source_adapter *
source_adapter_find(const char *driver)
{
	size_t	i;

	for (i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++)
		if (strcmp(adapters[i].driver, driver) == 0)
			return &adapters[i];
	return NULL;
}

/* ---- results ---- */

void
source_event_add(struct source_result *res, const char *event, cJSON *data)
{
	res->events = xreallocarray(res->events, res->nevents + 1,
	    sizeof(*res->events));
	res->events[res->nevents].event = xstrdup(event);
	res->events[res->nevents].data = data;
	res->nevents++;
}

static void
strv_copy(struct strv *dst, const struct strv *src)
{
	size_t	i;

	for (i = 0; src != NULL && i < src->n; i++)
		strv_push(dst, src->v[i]);
}

void
source_skip_add(struct source_result *res, const char *item,
    const char *reason, const struct strv *raw_paths)
{
	struct source_skip	*sk;

	res->skips = xreallocarray(res->skips, res->nskips + 1,
	    sizeof(*res->skips));
	sk = &res->skips[res->nskips++];
	memset(sk, 0, sizeof(*sk));
	sk->item = xstrdup(item);
	sk->reason = xstrdup(reason);
	strv_copy(&sk->raw_paths, raw_paths);
}

void
source_result_release(struct source_result *res)
{
	size_t	i;

	strv_release(&res->staged);
	for (i = 0; i < res->noutputs; i++) {
		free(res->outputs[i].path);
		free(res->outputs[i].key);
		strv_release(&res->outputs[i].raw_paths);
	}
	free(res->outputs);
	for (i = 0; i < res->nskips; i++) {
		free(res->skips[i].item);
		free(res->skips[i].reason);
		strv_release(&res->skips[i].raw_paths);
	}
	free(res->skips);
	for (i = 0; i < res->nevents; i++) {
		free(res->events[i].event);
		cJSON_Delete(res->events[i].data);
	}
	free(res->events);
	memset(res, 0, sizeof(*res));
}

/* ---- reading text ---- */

/*
 * Offset of the first byte that breaks UTF-8 (or is NUL), or len.
 * Overlong forms, surrogates and code points past U+10FFFF break it.
 */
static size_t
utf8_check(const unsigned char *p, size_t len)
{
	size_t		i = 0, n;
	uint32_t	cp;

	while (i < len) {
		if (p[i] == 0 || (n = utf8_char(p + i, len - i, &cp)) == 0)
			return i;
		i += n;
	}
	return len;
}

static int
line_of(const char *buf, size_t off)
{
	size_t	i;
	int	line = 1;

	for (i = 0; i < off; i++)
		if (buf[i] == '\n')
			line++;
	return line;
}

int
source_read_text(const char *path, const char *name, size_t max,
    char **bufp, size_t *lenp, char **errmsg)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len = 0, bad;
	ssize_t		 n;
	int		 fd = -1, rv = -1;

	*bufp = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		xasprintf(errmsg, "%s: %s", name, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		xasprintf(errmsg, "%s: %s", name, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(errmsg, "%s: not a regular file", name);
		goto out;
	}
	if ((unsigned long long)st.st_size > max) {
		xasprintf(errmsg, "%s: file is %lld bytes, over the limit of "
		    "%zu", name, (long long)st.st_size, max);
		goto out;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(errmsg, "%s: %s", name, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if ((bad = utf8_check((unsigned char *)buf, len)) != len) {
		xasprintf(errmsg, "%s:%d: %s", name, line_of(buf, bad),
		    buf[bad] == '\0' ? "NUL byte in text" : "invalid UTF-8");
		goto out;
	}
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	rv = 0;
out:
	if (fd != -1)
		close(fd);
	free(buf);
	return rv;
}

/* ---- JSON ---- */

int
source_json_parse(const char *name, const char *buf, size_t len, cJSON **out,
    char **errmsg)
{
	const char	*end = NULL, *p;
	int		 line = 1, col = 1;

	*out = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (*out != NULL)
		return 0;
	if (end == NULL || end < buf || end > buf + len)
		end = buf + len;
	for (p = buf; p < end; p++) {
		if (*p == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)*p & 0xc0) != 0x80)
			col++;
	}
	xasprintf(errmsg, "%s:%d:%d: invalid JSON", name, line, col);
	return -1;
}

const cJSON *
jget(const cJSON *obj, const char *key)
{
	if (obj == NULL || !cJSON_IsObject(obj))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

const char *
jstr(const cJSON *obj, const char *key)
{
	const cJSON	*v = jget(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int
jint(const cJSON *item, long long *out)
{
	char	*end;
	double	 d;

	if (cJSON_IsNumber(item)) {
		d = item->valuedouble;
		if (d != (double)(long long)d)
			return 0;
		*out = (long long)d;
		return 1;
	}
	if (cJSON_IsRaw(item) && item->valuestring != NULL) {
		errno = 0;
		*out = strtoll(item->valuestring, &end, 10);
		return errno == 0 && *end == '\0' && end != item->valuestring;
	}
	return 0;
}

/* ---- staging ---- */

/* Whether real lies inside root (or is root). */
static int
path_inside(const char *root, const char *real)
{
	size_t	n = strlen(root);

	if (strcmp(root, "/") == 0)
		return 1;
	return strncmp(root, real, n) == 0 &&
	    (real[n] == '\0' || real[n] == '/');
}

int
source_input_open(const struct source_job *job, struct source_input *in,
    char **errmsg)
{
	const char	*dir = job->conn->source_dir;
	char		*path = NULL, *real, *wt = NULL;
	struct stat	 st;
	int		 rv = -1;

	memset(in, 0, sizeof(*in));
	if (dir == NULL || *dir == '\0') {
		xasprintf(errmsg, "connection \"%s\" has no source_dir",
		    job->conn->id);
		goto out;
	}
	if (*dir == '/')
		path = xstrdup(dir);
	else
		xasprintf(&path, "%s/%s", job->project_dir, dir);
	if ((real = realpath(path, NULL)) == NULL) {
		xasprintf(errmsg, "%s: %s", dir, strerror(errno));
		goto out;
	}
	in->root = real;
	in->name = xstrdup(dir);
	if (stat(real, &st) == -1 || !S_ISDIR(st.st_mode)) {
		xasprintf(errmsg, "%s: not a directory", dir);
		goto out;
	}
	/* Reading the worktree as input would read our own output. */
	if ((wt = realpath(job->worktree, NULL)) != NULL &&
	    path_inside(real, wt)) {
		xasprintf(errmsg, "%s: holds the session worktree; point "
		    "source_dir at the export itself", dir);
		goto out;
	}
	rv = 0;
out:
	free(wt);
	free(path);
	if (rv == -1)
		source_input_release(in);
	return rv;
}

void
source_input_release(struct source_input *in)
{
	free(in->root);
	free(in->name);
	memset(in, 0, sizeof(*in));
}

static char *
input_path(const struct source_input *in, const char *rel)
{
	char	*p;

	if (*rel == '\0')
		return xstrdup(in->root);
	xasprintf(&p, "%s/%s", in->root, rel);
	return p;
}

static char *
input_name(const struct source_input *in, const char *rel)
{
	char	*p;

	if (*rel == '\0')
		return xstrdup(in->name);
	xasprintf(&p, "%s/%s", in->name, rel);
	return p;
}

int
source_input_kind(const struct source_input *in, const char *rel,
    char **errmsg)
{
	char		*path, *name, *real = NULL;
	struct stat	 st;
	int		 rv = -1;

	path = input_path(in, rel);
	name = input_name(in, rel);
	if (lstat(path, &st) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			rv = 0;
		else
			xasprintf(errmsg, "%s: %s", name, strerror(errno));
		goto out;
	}
	if ((real = realpath(path, NULL)) == NULL) {
		if (errno == ENOENT && S_ISLNK(st.st_mode))
			xasprintf(errmsg, "%s: dangling symbolic link", name);
		else
			xasprintf(errmsg, "%s: %s", name, strerror(errno));
		goto out;
	}
	if (!path_inside(in->root, real)) {
		xasprintf(errmsg, "%s: symbolic link points outside the "
		    "source directory", name);
		goto out;
	}
	if (stat(real, &st) == -1) {
		xasprintf(errmsg, "%s: %s", name, strerror(errno));
		goto out;
	}
	rv = S_ISREG(st.st_mode) ? 1 : S_ISDIR(st.st_mode) ? 2 : 0;
out:
	free(real);
	free(path);
	free(name);
	return rv;
}

static int
name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
strv_sort(struct strv *sv)
{
	if (sv->n > 1)
		qsort(sv->v, sv->n, sizeof(*sv->v), str_cmp);
}

static int
walk(const struct source_input *in, const char *rel, int depth,
    struct strv *files, struct strv *notes, char **errmsg)
{
	struct dirent	**ents = NULL;
	char		 *path, *sub, *name;
	struct stat	  st;
	int		  i, n, kind, rv = -1;

	path = input_path(in, rel);
	if (depth > SOURCE_MAX_DEPTH) {
		name = input_name(in, rel);
		xasprintf(errmsg, "%s: directories nested deeper than %d",
		    name, SOURCE_MAX_DEPTH);
		free(name);
		free(path);
		return -1;
	}
	if ((n = scandir(path, &ents, NULL, name_cmp)) == -1) {
		name = input_name(in, rel);
		xasprintf(errmsg, "%s: %s", name, strerror(errno));
		free(name);
		free(path);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") == 0 ||
		    strcmp(ents[i]->d_name, "..") == 0)
			continue;
		if (*rel == '\0')
			sub = xstrdup(ents[i]->d_name);
		else
			xasprintf(&sub, "%s/%s", rel, ents[i]->d_name);
		name = input_path(in, sub);
		if (lstat(name, &st) == -1) {
			free(name);
			name = input_name(in, sub);
			xasprintf(errmsg, "%s: %s", name, strerror(errno));
			free(name);
			free(sub);
			goto out;
		}
		free(name);
		if (S_ISDIR(st.st_mode)) {
			if (walk(in, sub, depth + 1, files, notes,
			    errmsg) == -1) {
				free(sub);
				goto out;
			}
			free(sub);
			continue;
		}
		if (S_ISREG(st.st_mode))
			kind = 1;
		else if (S_ISLNK(st.st_mode)) {
			if ((kind = source_input_kind(in, sub, errmsg)) == -1) {
				free(sub);
				goto out;
			}
			if (kind == 2) {
				name = input_name(in, sub);
				strv_push_owned(notes, name);
			}
		} else
			kind = 0;
		if (kind == 1) {
			if (files->n >= SOURCE_MAX_FILES) {
				xasprintf(errmsg, "%s: more than %d files",
				    in->name, SOURCE_MAX_FILES);
				free(sub);
				goto out;
			}
			strv_push_owned(files, sub);
		} else
			free(sub);
	}
	rv = 0;
out:
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	free(path);
	return rv;
}

int
source_input_walk(const struct source_input *in, const char *rel,
    struct strv *files, struct strv *notes, char **errmsg)
{
	size_t	first = files->n;

	if (walk(in, rel, 0, files, notes, errmsg) == -1)
		return -1;
	if (files->n - first > 1)
		qsort(files->v + first, files->n - first, sizeof(*files->v),
		    str_cmp);
	return 0;
}

int
source_staging_prepare(const struct source_job *job, char **errmsg)
{
	DIR		*d;
	struct dirent	*e;

	if (mkpath(job->staging_dir, 0777) == -1) {
		xasprintf(errmsg, "%s: %s", job->staging_dir, strerror(errno));
		return -1;
	}
	if ((d = opendir(job->staging_dir)) == NULL) {
		xasprintf(errmsg, "%s: %s", job->staging_dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			break;
	closedir(d);
	if (e != NULL) {
		xasprintf(errmsg, "%s: staging directory is not empty",
		    job->staging_dir);
		return -1;
	}
	return 0;
}

/* Write len bytes to a new file path (it must not exist). */
static int
write_new(const char *path, const char *data, size_t len, char **errmsg)
{
	size_t	off = 0;
	ssize_t	n;
	int	fd, rv = -1;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd == -1) {
		xasprintf(errmsg, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(errmsg, "%s: %s", path, strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	rv = 0;
out:
	if (close(fd) == -1 && rv == 0) {
		xasprintf(errmsg, "%s: %s", path, strerror(errno));
		rv = -1;
	}
	if (rv == -1)
		unlink(path);
	return rv;
}

int
source_stage_file(const struct source_job *job, const struct source_input *in,
    const char *src, const char *dst, size_t max, enum source_format fmt,
    struct source_result *res, char **errmsg)
{
	char	*path = NULL, *name = NULL, *real = NULL, *buf = NULL;
	char	*out = NULL, *dir = NULL, *slash;
	cJSON	*doc = NULL;
	size_t	 len;
	int	 kind, rv = -1;

	if ((kind = source_input_kind(in, src, errmsg)) == -1)
		goto out;
	name = input_name(in, src);
	if (kind != 1) {
		xasprintf(errmsg, "%s: not a regular file", name);
		goto out;
	}
	path = input_path(in, src);
	if ((real = realpath(path, NULL)) == NULL) {
		xasprintf(errmsg, "%s: %s", name, strerror(errno));
		goto out;
	}
	if (source_read_text(real, name, max, &buf, &len, errmsg) == -1)
		goto out;
	if (fmt == SOURCE_FMT_JSON &&
	    source_json_parse(name, buf, len, &doc, errmsg) == -1)
		goto out;
	if (fmt == SOURCE_FMT_YAML &&
	    source_yaml_parse(name, buf, len, &doc, errmsg) == -1)
		goto out;
	xasprintf(&out, "%s/%s", job->staging_dir, dst);
	dir = xstrdup(out);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if (mkpath(dir, 0777) == -1) {
			xasprintf(errmsg, "%s: %s", dir, strerror(errno));
			goto out;
		}
	}
	if (write_new(out, buf, len, errmsg) == -1)
		goto out;
	strv_push(&res->staged, dst);
	rv = 0;
out:
	cJSON_Delete(doc);
	free(dir);
	free(out);
	free(buf);
	free(real);
	free(path);
	free(name);
	return rv;
}

void
source_staged_sort(struct source_result *res)
{
	strv_sort(&res->staged);
}

/* ---- the snapshot ---- */

static int
snap_walk(const char *root, const char *rel, int depth, struct strv *files,
    char **errmsg)
{
	struct dirent	**ents = NULL;
	struct stat	  st;
	char		 *path, *sub, *p;
	int		  i, n, rv = -1;

	if (*rel == '\0')
		path = xstrdup(root);
	else
		xasprintf(&path, "%s/%s", root, rel);
	if (depth > SOURCE_MAX_DEPTH) {
		xasprintf(errmsg, "%s: directories nested too deep", path);
		free(path);
		return -1;
	}
	if ((n = scandir(path, &ents, NULL, name_cmp)) == -1) {
		xasprintf(errmsg, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") == 0 ||
		    strcmp(ents[i]->d_name, "..") == 0)
			continue;
		if (*rel == '\0')
			sub = xstrdup(ents[i]->d_name);
		else
			xasprintf(&sub, "%s/%s", rel, ents[i]->d_name);
		xasprintf(&p, "%s/%s", root, sub);
		if (lstat(p, &st) == -1) {
			xasprintf(errmsg, "%s: %s", p, strerror(errno));
			free(p);
			free(sub);
			goto out;
		}
		free(p);
		if (S_ISDIR(st.st_mode)) {
			rv = snap_walk(root, sub, depth + 1, files, errmsg);
			free(sub);
			if (rv == -1)
				goto out;
			rv = -1;
		} else if (S_ISREG(st.st_mode))
			strv_push_owned(files, sub);
		else {
			xasprintf(errmsg, "%s/%s: not a regular file", root,
			    sub);
			free(sub);
			goto out;
		}
	}
	rv = 0;
out:
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	free(path);
	return rv;
}

int
source_snapshot_list(const struct source_job *job, struct strv *files,
    char **errmsg)
{
	if (snap_walk(job->staging_dir, "", 0, files, errmsg) == -1)
		return -1;
	strv_sort(files);
	return 0;
}

/* Whether the regular files a and b hold the same bytes. */
static int
same_file(const char *a, const char *b)
{
	struct stat	 sa, sb;
	char		 ba[65536], bb[65536];
	ssize_t		 na, nb;
	int		 fa, fb = -1, same = 0;

	if ((fa = open(a, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    (fb = open(b, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(fa, &sa) == -1 || fstat(fb, &sb) == -1 ||
	    !S_ISREG(sa.st_mode) || !S_ISREG(sb.st_mode) ||
	    sa.st_size != sb.st_size)
		goto out;
	for (;;) {
		na = read(fa, ba, sizeof(ba));
		nb = na > 0 ? read(fb, bb, (size_t)na) : 0;
		if (na < 0 || nb != na || memcmp(ba, bb, (size_t)na) != 0)
			goto out;
		if (na == 0)
			break;
	}
	same = 1;
out:
	if (fa != -1)
		close(fa);
	if (fb != -1)
		close(fb);
	return same;
}

char *
source_snapshot_reusable(const struct source_job *job,
    const char *source_key, const struct strv *staged)
{
	struct dirent	**ents = NULL;
	struct strv	  files = { 0 };
	char		 *base, *dir = NULL, *latest = NULL, *err = NULL;
	char		 *a, *b;
	size_t		  i;
	int		  j, n, same;

	xasprintf(&base, "%s/raw-sources/%s/%s", job->worktree,
	    job->conn->id, source_key);
	n = scandir(base, &ents, NULL, name_cmp);
	for (j = n - 1; j >= 0 && latest == NULL; j--)
		if (ents[j]->d_name[0] != '.')
			latest = xstrdup(ents[j]->d_name);
	for (j = 0; j < n; j++)
		free(ents[j]);
	free(ents);
	if (latest == NULL)
		goto out;
	xasprintf(&dir, "%s/%s", base, latest);
	same = snap_walk(dir, "", 0, &files, &err) == 0 &&
	    files.n == staged->n;
	strv_sort(&files);
	for (i = 0; same && i < files.n; i++) {
		if (strcmp(files.v[i], staged->v[i]) != 0) {
			same = 0;
			break;
		}
		xasprintf(&a, "%s/%s", dir, files.v[i]);
		xasprintf(&b, "%s/%s", job->staging_dir, staged->v[i]);
		same = same_file(a, b);
		free(a);
		free(b);
	}
	if (!same) {
		free(latest);
		latest = NULL;
	}
out:
	strv_release(&files);
	free(err);
	free(dir);
	free(base);
	return latest;
}

int
source_snapshot_text(const struct source_job *job, const char *rel,
    size_t max, char **bufp, size_t *lenp, char **errmsg)
{
	char	*path;
	int	 rv;

	xasprintf(&path, "%s/%s", job->staging_dir, rel);
	rv = source_read_text(path, rel, max, bufp, lenp, errmsg);
	free(path);
	return rv;
}

int
source_snapshot_json(const struct source_job *job, const char *rel,
    size_t max, cJSON **out, char **errmsg)
{
	char	*buf;
	size_t	 len;
	int	 rv;

	*out = NULL;
	if (source_snapshot_text(job, rel, max, &buf, &len, errmsg) == -1)
		return -1;
	rv = source_json_parse(rel, buf, len, out, errmsg);
	free(buf);
	return rv;
}

int
source_snapshot_yaml(const struct source_job *job, const char *rel,
    size_t max, cJSON **out, char **errmsg)
{
	char	*buf;
	size_t	 len;
	int	 rv;

	*out = NULL;
	if (source_snapshot_text(job, rel, max, &buf, &len, errmsg) == -1)
		return -1;
	rv = source_yaml_parse(rel, buf, len, out, errmsg);
	free(buf);
	return rv;
}

/* ---- keys, summaries, prose ---- */

char *
source_slug(const char *text, size_t max)
{
	struct sbuf	 b = { 0 };
	const char	*p;
	size_t		 cut;
	int		 dash = 0;

	for (p = text; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    (*p >= 'A' && *p <= 'Z')) {
			if (dash && b.len > 0)
				sbuf_addc(&b, '-');
			dash = 0;
			sbuf_addc(&b, (char)tolower((unsigned char)*p));
		} else
			dash = 1;
	}
	if (b.len > max) {
		cut = max;
		while (cut > 0 && b.s[cut] != '-')
			cut--;
		if (cut == 0)
			cut = max;
		b.s[cut] = '\0';
		b.len = cut;
	}
	return sbuf_take(&b);
}

#define KEY_NAME_MAX	80

char *
source_key(const char *conn_id, const char *name)
{
	char	*c, *n, *key;

	c = source_slug(conn_id, KEY_NAME_MAX);
	n = source_slug(name, KEY_NAME_MAX);
	xasprintf(&key, "%s-%s", *c != '\0' ? c : "source",
	    *n != '\0' ? n : "untitled");
	free(c);
	free(n);
	return key;
}

/* Length of the UTF-8 sequence starting at p (1 for a stray byte). */
static size_t
u8len(const unsigned char *p)
{
	if (*p >= 0xf0)
		return 4;
	if (*p >= 0xe0)
		return 3;
	if (*p >= 0xc0)
		return 2;
	return 1;
}

/* A thematic break: three or more "-", "*" or "_" and spaces. */
static int
rule(const char *s, const char *eol)
{
	int	n = 0;
	char	c = *s;

	if (c != '-' && c != '*' && c != '_')
		return 0;
	for (; s < eol; s++) {
		if (*s == c)
			n++;
		else if (*s != ' ' && *s != '\t' && *s != '\r')
			return 0;
	}
	return n >= 3;
}

/* Past a line's heading, quote and list markers. */
static const char *
line_text(const char *s, const char *eol)
{
	const char	*p;

	for (;;) {
		while (s < eol && (*s == '#' || *s == '>' || *s == ' '))
			s++;
		if (s + 1 < eol && (*s == '-' || *s == '*' || *s == '+') &&
		    s[1] == ' ') {
			s += 2;
			continue;
		}
		for (p = s; p < eol && *p >= '0' && *p <= '9'; p++)
			;
		if (p > s && p + 1 < eol && (*p == '.' || *p == ')') &&
		    p[1] == ' ') {
			s = p + 2;
			continue;
		}
		return s;
	}
}

char *
source_summary(const char *text, const char *fallback)
{
	struct sbuf	 b = { 0 };
	const char	*p = text, *eol, *s;
	size_t		 cut, i;
	int		 space = 0, started = 0;

	/* The first paragraph: lines up to a blank line, headings skipped
	   until some text has been seen. */
	while (p != NULL && *p != '\0') {
		eol = strchr(p, '\n');
		if (eol == NULL)
			eol = p + strlen(p);
		s = p;
		while (s < eol && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		if (s == eol) {
			if (started)
				break;
		} else if (!started && (*s == '#' || rule(s, eol))) {
			/* a heading or a rule before the text */
		} else {
			s = line_text(s, eol);
			started = 1;
			for (; s < eol; s++) {
				if (*s == '*' || *s == '`' || *s == '\r')
					continue;
				if (*s == ' ' || *s == '\t') {
					space = 1;
					continue;
				}
				if (space && b.len > 0)
					sbuf_addc(&b, ' ');
				space = 0;
				sbuf_addc(&b, *s);
			}
			space = 1;
		}
		p = *eol == '\n' ? eol + 1 : eol;
	}
	if (b.len == 0) {
		sbuf_release(&b);
		return xstrdup(fallback);
	}
	if (b.len > SOURCE_SUMMARY_MAX) {
		cut = 0;
		for (i = 0; i < SOURCE_SUMMARY_MAX - 3;
		    i += u8len((unsigned char *)b.s + i)) {
			if (i + u8len((unsigned char *)b.s + i) >
			    SOURCE_SUMMARY_MAX - 3)
				break;
			if (b.s[i] == ' ')
				cut = i;
		}
		if (cut == 0)
			cut = i;
		b.len = cut;
		b.s[cut] = '\0';
		sbuf_adds(&b, "...");
	}
	return sbuf_take(&b);
}

void
source_add_prose(struct sbuf *b, const char *text, size_t len)
{
	size_t	i, start = 0;

	for (i = 0; i + 1 < len; i++) {
		if (text[i] == '[' && text[i + 1] == '[') {
			sbuf_add(b, text + start, i + 1 - start);
			sbuf_addc(b, '\\');
			start = i + 1;
		}
	}
	sbuf_add(b, text + start, len - start);
}

/*
 * Text inside a link request must not end it: "]", "|" and line breaks
 * become spaces.
 */
static void
add_request_text(struct sbuf *b, const char *s)
{
	for (; *s != '\0'; s++)
		sbuf_addc(b, (*s == ']' || *s == '|' || *s == '\n' ||
		    *s == '\r' || *s == '[') ? ' ' : *s);
}

void
source_link_page(struct sbuf *b, const char *key_or_title, const char *label)
{
	sbuf_adds(b, "[[?page:");
	add_request_text(b, key_or_title);
	if (label != NULL && *label != '\0') {
		sbuf_addc(b, '|');
		add_request_text(b, label);
	}
	sbuf_adds(b, "]]");
}

void
source_link_table(struct sbuf *b, const char *conn, const char *table_ref)
{
	sbuf_adds(b, "[[?table:");
	if (conn != NULL) {
		add_request_text(b, conn);
		sbuf_addc(b, '/');
	}
	add_request_text(b, table_ref);
	sbuf_adds(b, "]]");
}

/* ---- pages and the plan ---- */

void
source_page_release(struct source_page *pg)
{
	free(pg->key);
	free(pg->summary);
	strv_release(&pg->tags);
	strv_release(&pg->sl_refs);
	free(pg->body);
	strv_release(&pg->raw_paths);
	memset(pg, 0, sizeof(*pg));
}

static struct source_file *
plan_add(struct source_plan *plan, enum source_output_kind kind, char *path,
    char *key, char *data, const struct strv *raw_paths)
{
	struct source_file	*f;

	if (plan->n == plan->cap) {
		plan->cap = plan->cap ? plan->cap * 2 : 32;
		plan->v = xreallocarray(plan->v, plan->cap, sizeof(*plan->v));
	}
	f = &plan->v[plan->n++];
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->path = path;
	f->key = key;
	f->data = data;
	f->len = strlen(data);
	strv_copy(&f->raw_paths, raw_paths);
	return f;
}

static struct wiki_value *
wiki_string(const char *s)
{
	struct wiki_value	*v = xcalloc(1, sizeof(*v));

	v->type = WIKI_STRING;
	v->text = xstrdup(s);
	v->len = strlen(s);
	return v;
}

/*
 * The page as ktx serializes it (wiki_emit).  The frontmatter's field
 * order: summary, tags, sl_refs, usage_mode, source.
 */
void
source_plan_page(struct source_plan *plan, const struct source_page *pg,
    const char *conn_id)
{
	struct wiki_page	 page = { 0 };
	const char		*body = pg->body;
	char			*path, *data;
	size_t			 len;

	wiki_set(&page, "summary", wiki_string(pg->summary));
	if (pg->tags.n > 0)
		wiki_set(&page, "tags", wiki_strlist_new(&pg->tags));
	if (pg->sl_refs.n > 0)
		wiki_set(&page, "sl_refs", wiki_strlist_new(&pg->sl_refs));
	wiki_set(&page, "usage_mode", wiki_string("auto"));
	wiki_set(&page, "source", wiki_string(conn_id));
	/* ktx trims the body. */
	while (*body == ' ' || *body == '\n' || *body == '\t' || *body == '\r')
		body++;
	len = strlen(body);
	while (len > 0 && (body[len - 1] == ' ' || body[len - 1] == '\n' ||
	    body[len - 1] == '\t' || body[len - 1] == '\r'))
		len--;
	page.body = xstrndup(body, len);
	page.body_len = len;
	data = wiki_emit(&page, &len);
	wiki_page_release(&page);
	xasprintf(&path, "wiki/global/%s.md", pg->key);
	plan_add(plan, SOURCE_WIKI, path, xstrdup(pg->key), data,
	    &pg->raw_paths);
}

void
source_plan_overlay(struct source_plan *plan, char *path, const char *key,
    char *data, const struct strv *raw_paths)
{
	plan_add(plan, SOURCE_OVERLAY, path, xstrdup(key), data, raw_paths);
}

void
source_plan_release(struct source_plan *plan)
{
	size_t	i;

	for (i = 0; i < plan->n; i++) {
		free(plan->v[i].path);
		free(plan->v[i].key);
		free(plan->v[i].data);
		strv_release(&plan->v[i].raw_paths);
	}
	free(plan->v);
	memset(plan, 0, sizeof(*plan));
}

static const char *const reserved[] = {
	"con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5",
	"com6", "com7", "com8", "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5",
	"lpt6", "lpt7", "lpt8", "lpt9",
};

/* ktx's slug for file names: lower case, runs of [^a-z0-9_] one "_",
   "_" trimmed, at most 64 bytes; "src" when empty.  Caller frees. */
static char *
sl_slug(const char *name)
{
	struct sbuf	 b = { 0 };
	const char	*p;
	char		 c;
	int		 us = 0;

	for (p = name; *p != '\0'; p++) {
		c = (char)tolower((unsigned char)*p);
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_') {
			if (us && b.len > 0)
				sbuf_addc(&b, '_');
			us = 0;
			sbuf_addc(&b, c);
		} else
			us = 1;
	}
	if (b.len > 64)
		b.len = 64;
	while (b.len > 0 && b.s[b.len - 1] == '_')
		b.len--;
	if (b.len == 0) {
		sbuf_release(&b);
		return xstrdup("src");
	}
	b.s[b.len] = '\0';
	return sbuf_take(&b);
}

char *
source_sl_filename(const char *name)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	SHA2_CTX	 ctx;
	const char	*p;
	char		*slug, *file;
	int		 plain;
	size_t		 i;

	plain = strlen(name) <= 64 &&
	    ((*name >= 'a' && *name <= 'z') || (*name >= '0' && *name <= '9'));
	for (p = name; *p != '\0' && plain; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '_'))
			plain = 0;
	for (i = 0; plain && i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcmp(name, reserved[i]) == 0)
			plain = 0;
	if (plain) {
		xasprintf(&file, "%s.yaml", name);
		return file;
	}
	slug = sl_slug(name);
	SHA256Init(&ctx);
	SHA256Update(&ctx, (const unsigned char *)name, strlen(name));
	SHA256Final(md, &ctx);
	xasprintf(&file, "%s-%02x%02x%02x%02x.yaml", slug, md[0], md[1], md[2],
	    md[3]);
	free(slug);
	return file;
}

/* ---- writing the worktree ---- */

/*
 * Create the directories of rel (a file path) below root, refusing any
 * component that exists and is not a directory (a symbolic link
 * included).  Directories it creates are pushed on made, deepest last.
 */
static int
safe_dirs(const char *root, const char *rel, struct strv *made, char **errmsg)
{
	struct stat	 st;
	char		*p, *s, *start;
	int		 rv = -1;

	xasprintf(&p, "%s/%s", root, rel);
	start = p + strlen(root) + 1;
	for (s = start; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (lstat(p, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				xasprintf(errmsg, "%s: not a directory (a "
				    "symbolic link or a file)", start);
				goto out;
			}
		} else if (errno == ENOENT) {
			if (mkdir(p, 0777) == -1) {
				xasprintf(errmsg, "%s: %s", start,
				    strerror(errno));
				goto out;
			}
			strv_push(made, p);
		} else {
			xasprintf(errmsg, "%s: %s", start, strerror(errno));
			goto out;
		}
		*s = '/';
	}
	if (lstat(p, &st) == 0 && !S_ISREG(st.st_mode)) {
		xasprintf(errmsg, "%s: not a regular file", rel);
		goto out;
	}
	rv = 0;
out:
	free(p);
	return rv;
}

/* Whether path holds exactly data. */
static int
same_bytes(const char *path, const char *data, size_t len)
{
	struct stat	 st;
	char		*buf;
	size_t		 got = 0;
	ssize_t		 n;
	int		 fd, same = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (size_t)st.st_size == len) {
		buf = xmalloc(len + 1);
		while (got < len) {
			n = read(fd, buf + got, len - got);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		same = got == len && memcmp(buf, data, len) == 0;
		free(buf);
	}
	close(fd);
	return same;
}

/*
 * Pages and overlays over the gates' size limit are not written: each is
 * a skipped item.
 */
static void
drop_oversized(struct source_plan *plan, struct source_result *res)
{
	struct source_file	*f;
	char			*why;
	size_t			 i, kept = 0;

	for (i = 0; i < plan->n; i++) {
		f = &plan->v[i];
		if (f->len <= SOURCE_TEXT_MAX_BYTES) {
			plan->v[kept++] = *f;
			continue;
		}
		xasprintf(&why, "%zu bytes, over the limit of %d", f->len,
		    SOURCE_TEXT_MAX_BYTES);
		source_skip_add(res, f->path, why, &f->raw_paths);
		free(why);
		free(f->path);
		free(f->key);
		free(f->data);
		strv_release(&f->raw_paths);
	}
	plan->n = kept;
}

static int
file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct source_file *)a)->path,
	    ((const struct source_file *)b)->path);
}

int
source_plan_write(struct source_plan *plan, const char *worktree,
    struct source_result *res, char **errmsg)
{
	struct strv	 made = { 0 }, tmps = { 0 }, olds = { 0 };
	char		*path, *tmp, *old;
	char		*changed;
	size_t		 i, j, renamed = 0;
	int		 rv = -1;

	if (plan->n > 1)
		qsort(plan->v, plan->n, sizeof(*plan->v), file_cmp);
	for (i = 0; i + 1 < plan->n; i++) {
		if (strcmp(plan->v[i].path, plan->v[i + 1].path) == 0) {
			xasprintf(errmsg, "%s: written twice", plan->v[i].path);
			return -1;
		}
	}
	changed = xcalloc(plan->n + 1, 1);
	drop_oversized(plan, res);
	/*
	 * First every new content into a temporary file beside its target,
	 * and a second name (a hard link) for each file it replaces.
	 */
	for (i = 0; i < plan->n; i++) {
		if (safe_dirs(worktree, plan->v[i].path, &made, errmsg) == -1)
			goto out;
		xasprintf(&path, "%s/%s", worktree, plan->v[i].path);
		if (same_bytes(path, plan->v[i].data, plan->v[i].len)) {
			strv_push(&tmps, "");
			strv_push(&olds, "");
			free(path);
			continue;
		}
		changed[i] = 1;
		xasprintf(&tmp, "%s.ktx-new-%ld", path, (long)getpid());
		xasprintf(&old, "%s.ktx-old-%ld", path, (long)getpid());
		unlink(tmp);
		unlink(old);
		strv_push_owned(&tmps, tmp);
		if (link(path, old) == 0)
			strv_push_owned(&olds, old);
		else if (errno == ENOENT) {
			strv_push(&olds, "");
			free(old);
		} else {
			xasprintf(errmsg, "%s: %s", plan->v[i].path,
			    strerror(errno));
			strv_push_owned(&olds, old);
			free(path);
			goto out;
		}
		free(path);
		if (write_new(tmp, plan->v[i].data, plan->v[i].len,
		    errmsg) == -1)
			goto out;
	}
	/* Then the renames. */
	for (i = 0; i < plan->n; i++) {
		if (!changed[i])
			continue;
		xasprintf(&path, "%s/%s", worktree, plan->v[i].path);
		if (rename(tmps.v[i], path) == -1) {
			xasprintf(errmsg, "%s: %s", plan->v[i].path,
			    strerror(errno));
			free(path);
			goto out;
		}
		free(path);
		renamed = i + 1;
	}
	res->outputs = xreallocarray(res->outputs, res->noutputs + plan->n,
	    sizeof(*res->outputs));
	for (i = 0; i < plan->n; i++) {
		struct source_output *o = &res->outputs[res->noutputs++];

		memset(o, 0, sizeof(*o));
		o->kind = plan->v[i].kind;
		o->path = xstrdup(plan->v[i].path);
		o->key = xstrdup(plan->v[i].key);
		o->changed = changed[i];
		strv_copy(&o->raw_paths, &plan->v[i].raw_paths);
	}
	rv = 0;
out:
	for (j = 0; rv == -1 && j < renamed; j++) {
		/* Put back what the renames replaced. */
		if (!changed[j])
			continue;
		xasprintf(&path, "%s/%s", worktree, plan->v[j].path);
		if (*olds.v[j] != '\0')
			rename(olds.v[j], path);
		else
			unlink(path);
		free(path);
	}
	for (j = 0; j < tmps.n; j++)
		if (*tmps.v[j] != '\0')
			unlink(tmps.v[j]);
	for (j = 0; j < olds.n; j++)
		if (*olds.v[j] != '\0')
			unlink(olds.v[j]);
	for (j = made.n; rv == -1 && j > 0; j--)
		rmdir(made.v[j - 1]);
	free(changed);
	strv_release(&made);
	strv_release(&tmps);
	strv_release(&olds);
	return rv;
}

/* ---- the warehouse side ---- */

int
source_has_manifest(const struct sl *sl, const char *conn)
{
	size_t	i;

	for (i = 0; i < sl->nfiles; i++)
		if (sl->files[i].kind == SL_FILE_SHARD &&
		    strcmp(sl->files[i].conn, conn) == 0)
			return 1;
	return 0;
}

const char *
source_column(const struct sl_source *src, const char *col)
{
	size_t	i;

	for (i = 0; i < src->ncolumns; i++)
		if (src->columns[i].expr == NULL &&
		    strcasecmp(src->columns[i].name, col) == 0)
			return src->columns[i].name;
	return NULL;
}
