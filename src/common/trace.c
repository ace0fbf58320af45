#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "trace.h"
#include "util.h"

static const char *const level_names[] = {
	[TRACE_ERROR] = "error",
	[TRACE_INFO] = "info",
	[TRACE_DEBUG] = "debug",
	[TRACE_TRACE] = "trace",
};

int
trace_level_parse(const char *s, enum trace_level *level)
{
	size_t	i;

	if (s == NULL || *s == '\0') {
		*level = TRACE_DEBUG;
		return 0;
	}
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*level = i;
			return 0;
		}
	}
	return -1;
}

const char *
trace_level_name(enum trace_level level)
{
	return level_names[level];
}

char *
trace_path(const char *project_dir, const char *job_id)
{
	char	*path;

	xasprintf(&path, "%s/%s/%s/%s", project_dir, TRACE_DIR, job_id,
	    TRACE_FILE);
	return path;
}

int
trace_open(struct trace *t, const char *project_dir, const char *job_id,
    const char *connection_id, const char *source_key, const char *run_id,
    enum trace_level level, char **errmsg)
{
	char	*dir;
	int	 fd, rc = -1;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	t->level = level;
	t->path = trace_path(project_dir, job_id);
	t->job_id = xstrdup(job_id);
	t->connection_id = xstrdup(connection_id);
	t->source_key = xstrdup(source_key);
	t->run_id = run_id != NULL ? xstrdup(run_id) : NULL;
	dir = xstrndup(t->path, strrchr(t->path, '/') - t->path);
	if (mkpath(dir, 0755) == -1) {
		xasprintf(errmsg, "cannot create \"%s\": %s", dir,
		    strerror(errno));
		goto out;
	}
	fd = open(t->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1) {
		xasprintf(errmsg, "cannot open \"%s\": %s", t->path,
		    strerror(errno));
		goto out;
	}
	/* A zeroed trace has fd 0: never take it (nor stdout, stderr). */
	if (fd <= STDERR_FILENO) {
		t->fd = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		close(fd);
		if (t->fd == -1) {
			xasprintf(errmsg, "cannot open \"%s\": %s", t->path,
			    strerror(errno));
			goto out;
		}
	} else
		t->fd = fd;
	rc = 0;
out:
	free(dir);
	return rc;
}

void
trace_set_sync_id(struct trace *t, const char *sync_id)
{
	free(t->sync_id);
	t->sync_id = sync_id != NULL ? xstrdup(sync_id) : NULL;
}

void
trace_close(struct trace *t)
{
	if (t->fd > STDERR_FILENO)
		close(t->fd);
	free(t->path);
	free(t->job_id);
	free(t->connection_id);
	free(t->source_key);
	free(t->run_id);
	free(t->sync_id);
	memset(t, 0, sizeof(*t));
	t->fd = -1;
}

int
trace_enabled(const struct trace *t, enum trace_level level)
{
	return t->fd > STDERR_FILENO && level <= t->level;
}

/* Write the whole line; a short write is retried, an error stops the trace. */
static void
write_line(struct trace *t, const char *line, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(t->fd, line, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warn("trace \"%s\"; no more events are written",
			    t->path);
			close(t->fd);
			t->fd = -1;
			return;
		}
		line += n;
		len -= n;
	}
}

void
trace_event(struct trace *t, enum trace_level level, const char *phase,
    const char *event, int64_t duration_ms, cJSON *data, const char *error)
{
	cJSON	*obj, *err;
	char	 when[ISO_TIME_MAX], *text, *line;
	size_t	 len;

	if (!trace_enabled(t, level)) {
		cJSON_Delete(data);
		return;
	}
	obj = cJSON_CreateObject();
	cJSON_AddNumberToObject(obj, "schemaVersion", TRACE_SCHEMA_VERSION);
	cJSON_AddStringToObject(obj, "at", iso_time_ms(now_wall_ms(), when));
	cJSON_AddStringToObject(obj, "level", level_names[level]);
	cJSON_AddStringToObject(obj, "jobId", t->job_id);
	cJSON_AddStringToObject(obj, "connectionId", t->connection_id);
	cJSON_AddStringToObject(obj, "sourceKey", t->source_key);
	if (t->run_id != NULL)
		cJSON_AddStringToObject(obj, "runId", t->run_id);
	if (t->sync_id != NULL)
		cJSON_AddStringToObject(obj, "syncId", t->sync_id);
	cJSON_AddStringToObject(obj, "phase", phase);
	cJSON_AddStringToObject(obj, "event", event);
	if (duration_ms >= 0)
		cJSON_AddNumberToObject(obj, "durationMs", (double)duration_ms);
	if (data != NULL)
		cJSON_AddItemToObject(obj, "data", data);
	if (error != NULL) {
		err = cJSON_AddObjectToObject(obj, "error");
		cJSON_AddStringToObject(err, "name", "Error");
		cJSON_AddStringToObject(err, "message", error);
	}
	text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (text == NULL) {
		log_warnx("trace \"%s\": cannot encode event \"%s\"", t->path,
		    event);
		return;
	}
	len = xasprintf(&line, "%s\n", text);
	free(text);
	write_line(t, line, len);
	free(line);
}

void
trace_begin(struct trace *t, struct trace_span *s, const char *phase,
    const char *name, cJSON *data)
{
	char	*event;

	s->phase = phase;
	s->name = name;
	s->start_ms = now_monotonic_ms();
	xasprintf(&event, "%s_started", name);
	trace_event(t, TRACE_DEBUG, phase, event, -1, data, NULL);
	free(event);
}

int64_t
trace_elapsed(const struct trace_span *s)
{
	return now_monotonic_ms() - s->start_ms;
}

void
trace_end(struct trace *t, const struct trace_span *s, cJSON *data)
{
	char	*event;

	xasprintf(&event, "%s_finished", s->name);
	trace_event(t, TRACE_DEBUG, s->phase, event, trace_elapsed(s), data,
	    NULL);
	free(event);
}

void
trace_fail(struct trace *t, const struct trace_span *s, const char *error,
    cJSON *data)
{
	char	*event;

	xasprintf(&event, "%s_failed", s->name);
	trace_event(t, TRACE_ERROR, s->phase, event, trace_elapsed(s), data,
	    error);
	free(event);
}
