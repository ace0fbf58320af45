#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "sentinel.h"
#include "util.h"

/* The largest sentinel sentinel_update reads back. */
#define SENTINEL_MAX_BYTES	(1024 * 1024)

/* s as a JSON string, or null.  Caller frees. */
static char *
quoted(const char *s)
{
	cJSON	*item;
	char	*text;

	if (s == NULL)
		return xstrdup("null");
	item = cJSON_CreateString(s);
	text = cJSON_PrintUnformatted(item);
	cJSON_Delete(item);
	if (text == NULL)
		return xstrdup("null");
	return text;
}

/* Append "  \"name\": value" and the separator. */
static void
member(char **out, const char *name, const char *value, int last)
{
	char	*prev = *out;

	xasprintf(out, "%s  \"%s\": %s%s\n", prev, name, value,
	    last ? "" : ",");
	free(prev);
}

static void
string_member(char **out, const char *name, const char *s, int last)
{
	char	*q = quoted(s);

	member(out, name, q, last);
	free(q);
}

char *
sentinel_text(const struct sentinel *s)
{
	char	 when[ISO_TIME_MAX], *out = xstrdup("{\n"), *list, *q, *prev;
	size_t	 i, n = s->conflict_paths != NULL ? s->conflict_paths->n : 0;

	string_member(&out, "outcome", s->outcome, 0);
	string_member(&out, "at", iso_time_ms(s->at_ms, when), 0);
	string_member(&out, "jobId", s->job_id, 0);
	string_member(&out, "baseSha", s->base_sha, 0);
	list = xstrdup(n == 0 ? "[]" : "[\n");
	for (i = 0; i < n; i++) {
		q = quoted(s->conflict_paths->v[i]);
		prev = list;
		xasprintf(&list, "%s    %s%s\n%s", prev, q, i + 1 < n ? "," : "",
		    i + 1 < n ? "" : "  ]");
		free(prev);
		free(q);
	}
	member(&out, "conflictPaths", list, 0);
	free(list);
	string_member(&out, "reason", s->reason, 1);
	prev = out;
	xasprintf(&out, "%s}", prev);
	free(prev);
	return out;
}

int
sentinel_write(const char *worktree, const struct sentinel *s,
    char **errmsg)
{
	char	*text = sentinel_text(s), *path, *tmp;
	size_t	 len = strlen(text), off = 0;
	ssize_t	 n;
	int	 fd, rc = -1;

	xasprintf(&path, "%s/%s", worktree, SENTINEL_FILE);
	xasprintf(&tmp, "%s/%s.tmp", worktree, SENTINEL_FILE);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd == -1) {
		xasprintf(errmsg, "cannot write \"%s\": %s", tmp,
		    strerror(errno));
		goto out;
	}
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		off += n;
	}
	if (off < len || fsync(fd) == -1) {
		xasprintf(errmsg, "cannot write \"%s\": %s", tmp,
		    strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		xasprintf(errmsg, "cannot rename \"%s\" to \"%s\": %s", tmp,
		    path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(text);
	free(path);
	free(tmp);
	return rc;
}

/* The sentinel's bytes: a small file.  Caller frees. */
static char *
read_sentinel(const char *path, char **errmsg)
{
	char	*buf = NULL;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		xasprintf(errmsg, "cannot read \"%s\": %s", path,
		    strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len + 1 >= cap) {
			cap = cap ? cap * 2 : 1024;
			if (cap > SENTINEL_MAX_BYTES) {
				xasprintf(errmsg, "\"%s\" is too large", path);
				goto fail;
			}
			buf = xreallocarray(buf, cap, 1);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(errmsg, "cannot read \"%s\": %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

static const char *
member_string(const cJSON *obj, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int
sentinel_update(const char *worktree, const char *outcome,
    const char *reason, char **errmsg)
{
	struct sentinel	 s;
	struct strv	 paths = { 0 };
	const cJSON	*item;
	cJSON		*doc = NULL;
	char		*path, *text;
	int		 rc = -1;

	xasprintf(&path, "%s/%s", worktree, SENTINEL_FILE);
	if ((text = read_sentinel(path, errmsg)) == NULL)
		goto out;
	doc = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(doc) || member_string(doc, "jobId") == NULL) {
		xasprintf(errmsg, "\"%s\" is not a sentinel", path);
		goto out;
	}
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc,
	    "conflictPaths"))
		if (cJSON_IsString(item))
			strv_push(&paths, item->valuestring);
	memset(&s, 0, sizeof(s));
	s.outcome = outcome;
	s.at_ms = now_wall_ms();
	s.job_id = member_string(doc, "jobId");
	s.base_sha = member_string(doc, "baseSha");
	s.conflict_paths = &paths;
	s.reason = reason;
	rc = sentinel_write(worktree, &s, errmsg);
out:
	cJSON_Delete(doc);
	strv_release(&paths);
	free(path);
	return rc;
}

void
sentinel_info_release(struct sentinel_info *si)
{
	free(si->outcome);
	free(si->job_id);
	free(si->base_sha);
	strv_release(&si->conflict_paths);
	free(si->reason);
	memset(si, 0, sizeof(*si));
}

static char *
member_dup(const cJSON *obj, const char *name)
{
	const char	*s = member_string(obj, name);

	return s != NULL ? xstrdup(s) : NULL;
}

/* "2024-05-31T12:00:00.000Z" as wall-clock milliseconds, -1 if not that. */
static int64_t
parse_iso_ms(const char *s)
{
	struct tm	tm;
	int		ms, n = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n",
	    &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	    &tm.tm_sec, &ms, &n) != 7 || n == 0 || s[n] != '\0')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

int
sentinel_load(const char *worktree, struct sentinel_info *si, char **errmsg)
{
	const cJSON	*item;
	cJSON		*doc = NULL;
	char		*path, *text;
	int		 rc = -1;

	memset(si, 0, sizeof(*si));
	si->at_ms = -1;
	xasprintf(&path, "%s/%s", worktree, SENTINEL_FILE);
	if (access(path, F_OK) == -1 && errno == ENOENT) {
		rc = 1;
		goto out;
	}
	if ((text = read_sentinel(path, errmsg)) == NULL)
		goto out;
	doc = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(doc) || member_string(doc, "jobId") == NULL) {
		xasprintf(errmsg, "\"%s\" is not a sentinel", path);
		goto out;
	}
	si->outcome = member_dup(doc, "outcome");
	si->at_ms = parse_iso_ms(member_string(doc, "at"));
	si->job_id = member_dup(doc, "jobId");
	si->base_sha = member_dup(doc, "baseSha");
	si->reason = member_dup(doc, "reason");
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc,
	    "conflictPaths"))
		if (cJSON_IsString(item))
			strv_push(&si->conflict_paths, item->valuestring);
	rc = 0;
out:
	cJSON_Delete(doc);
	free(path);
	return rc;
}
