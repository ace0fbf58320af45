/*
 * What a run shows: progress lines on stderr while it runs, the results
 * table or the {plan, results} document at the end, and the SIGUSR1
 * snapshot.
 */
#include "config.h"

#include <sys/param.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "log.h"
#include "ktxconfig.h"
#include "plan.h"
#include "proc.h"
#include "supervisor.h"
#include "util.h"

/* Hex digits of a commit id in the table. */
#define COMMIT_SHORT	12

/* Characters a shell word may hold unquoted. */
#define SHELL_SAFE \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@%+=:,./_-"

/* s as one shell word.  Caller frees. */
static char *
shell_quote(const char *s)
{
	char	*out, *o;

	if (*s != '\0' && strspn(s, SHELL_SAFE) == strlen(s))
		return xstrdup(s);
	o = out = xmalloc(strlen(s) * 4 + 3);
	*o++ = '\'';
	for (; *s != '\0'; s++) {
		if (*s == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else
			*o++ = *s;
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

char *
render_retry_command(const struct run *r, const struct target *t)
{
	char	*dir = shell_quote(r->project_dir);
	char	*id = shell_quote(t->pt->conn->id);
	char	*cmd;

	xasprintf(&cmd, "ktx-supervisor -C %s ingest %s", dir, id);
	free(dir);
	free(id);
	return cmd;
}

/* "1.2s", "3m04s", "2h05m".  buf of 32. */
const char *
render_duration(int64_t ms, char *buf)
{
	if (ms < 60000)
		snprintf(buf, 32, "%lld.%llds", (long long)(ms / 1000),
		    (long long)(ms % 1000 / 100));
	else if (ms < 3600000)
		snprintf(buf, 32, "%lldm%02llds", (long long)(ms / 60000),
		    (long long)(ms % 60000 / 1000));
	else
		snprintf(buf, 32, "%lldh%02lldm", (long long)(ms / 3600000),
		    (long long)(ms % 3600000 / 60000));
	return buf;
}

/* Wall-clock milliseconds as ISO-8601 UTC.  buf of 32. */
static const char *
format_time(int64_t ms, char *buf)
{
	time_t		secs = ms / 1000;
	struct tm	tm;
	char		base[24];

	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, 32, "%s.%03lldZ", base, (long long)(ms % 1000));
	return buf;
}

/* The first line of s, at most 200 bytes.  buf of 256. */
static const char *
first_line(const char *s, char *buf)
{
	size_t	n = s != NULL ? strcspn(s, "\n") : 0;

	if (n > 200)
		n = 200;
	if (n > 0)
		memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

/* No progress lines: --json, or the live view shows it. */
static int
quiet(const struct run *r)
{
	return r->opts->json || r->live.on;
}

static void
print_header(struct run *r, struct target *t)
{
	log_fprintf(stderr, "[%zu/%zu] %s \xc2\xb7 %s\n", t->number, r->ntargets,
	    t->pt->conn->id, t->phase);
	r->last_printed = t->number;
}

void
render_start(struct run *r, struct target *t)
{
	if (!quiet(r))
		print_header(r, t);
}

void
render_progress(struct run *r, struct target *t, const char *phase,
    int percent, const char *message)
{
	if (strcmp(t->phase, phase) != 0) {
		free(t->phase);
		t->phase = xstrdup(phase);
		t->percent = -1;
		if (!quiet(r))
			print_header(r, t);
	}
	if (percent <= t->percent)
		return;
	t->percent = percent;
	if (quiet(r))
		return;
	if (r->last_printed != t->number)
		print_header(r, t);
	log_fprintf(stderr, "  [%d%%] %s\n", percent, message);
}

void
render_end(struct run *r, struct target *t)
{
	char	line[256];

	if (quiet(r))
		return;
	if (r->last_printed != t->number)
		print_header(r, t);
	if (t->status == STATUS_DONE || t->detail == NULL)
		log_fprintf(stderr, "  %s\n", target_status_name(t->status));
	else
		log_fprintf(stderr, "  %s \xc2\xb7 %s\n", target_status_name(t->status),
		    first_line(t->detail, line));
}

static int
is_failure(const struct target *t)
{
	return t->status != STATUS_DONE && t->status != STATUS_SKIPPED;
}

static void
print_row(FILE *f, const char *const cells[7], const size_t width[7])
{
	size_t	c;

	for (c = 0; c < 6; c++)
		log_fprintf(f, "%-*s  ", (int)width[c], cells[c]);
	log_fprintf(f, "%s\n", cells[6]);
}

void
render_table(const struct run *r, FILE *f)
{
	static const char *const head[] = {
		"Connection", "Stage", "Driver", "Status", "Duration", "Commit",
		"Detail"
	};
	const struct target	*t;
	char			 cells[7][256];
	const char		*row[7];
	size_t			 width[7], i, c, nfailed = 0;

	for (c = 0; c < 7; c++) {
		width[c] = strlen(head[c]);
		row[c] = cells[c];
	}
	for (i = 0; i < r->ntargets; i++) {
		t = &r->targets[i];
		nfailed += is_failure(t);
		width[0] = MAX(width[0], strlen(t->pt->conn->id));
		width[2] = MAX(width[2], strlen(t->pt->conn->driver));
		width[3] = MAX(width[3], strlen(target_status_name(t->status)));
		width[4] = MAX(width[4], 7u);
		if (t->commit != NULL)
			width[5] = MAX(width[5], (size_t)COMMIT_SHORT);
	}
	if (r->aborting)
		log_fprintf(f, "Ingest aborted\n\n");
	else if (nfailed > 0)
		log_fprintf(f, "Ingest finished with %zu of %zu targets not done\n\n",
		    nfailed, r->ntargets);
	else
		log_fprintf(f, "Ingest finished\n\n");
	print_row(f, head, width);
	for (i = 0; i < r->ntargets; i++) {
		t = &r->targets[i];
		snprintf(cells[0], sizeof(cells[0]), "%s", t->pt->conn->id);
		snprintf(cells[1], sizeof(cells[1]), "%d", t->pt->stage);
		snprintf(cells[2], sizeof(cells[2]), "%s", t->pt->conn->driver);
		snprintf(cells[3], sizeof(cells[3]), "%s",
		    target_status_name(t->status));
		if (t->started_mono == 0)
			snprintf(cells[4], sizeof(cells[4]), "-");
		else
			render_duration(t->finished_mono - t->started_mono, cells[4]);
		if (t->commit != NULL)
			snprintf(cells[5], sizeof(cells[5]), "%.*s", COMMIT_SHORT,
			    t->commit);
		else
			snprintf(cells[5], sizeof(cells[5]), "-");
		first_line(t->status == STATUS_DONE ? NULL : t->detail, cells[6]);
		print_row(f, row, width);
	}
	if (nfailed == 0)
		return;
	log_fprintf(f, "\nFailed targets:\n");
	for (i = 0; i < r->ntargets; i++) {
		const char	*p, *nl;
		char		*retry;

		t = &r->targets[i];
		if (!is_failure(t))
			continue;
		log_fprintf(f, "  %s: %s\n", t->pt->conn->id,
		    target_status_name(t->status));
		for (p = t->detail; p != NULL && *p != '\0'; p = nl + 1) {
			nl = strchr(p, '\n');
			log_fprintf(f, "    %.*s\n", nl ? (int)(nl - p) : (int)strlen(p), p);
			if (nl == NULL)
				break;
		}
		if (t->worktree != NULL)
			log_fprintf(f, "    kept: %s\n", t->worktree);
		if (t->trace != NULL)
			log_fprintf(f, "    trace: %s\n", t->trace);
		retry = render_retry_command(r, t);
		log_fprintf(f, "    retry: %s\n", retry);
		free(retry);
	}
}

static void
add_string_or_null(cJSON *obj, const char *name, const char *s)
{
	if (s != NULL)
		cJSON_AddStringToObject(obj, name, s);
	else
		cJSON_AddNullToObject(obj, name);
}

static void
add_int_or_null(cJSON *obj, const char *name, int64_t n, int present)
{
	if (present)
		cJSON_AddNumberToObject(obj, name, n);
	else
		cJSON_AddNullToObject(obj, name);
}

static cJSON *
result_json(const struct run *r, const struct target *t)
{
	cJSON	*res = cJSON_CreateObject();
	char	 sig[PROC_SIGNAME_MAX], when[32], *retry;
	int	 ran = t->started_mono != 0;

	cJSON_AddStringToObject(res, "connectionId", t->pt->conn->id);
	cJSON_AddNumberToObject(res, "stage", t->pt->stage);
	cJSON_AddStringToObject(res, "driver", t->pt->conn->driver);
	cJSON_AddStringToObject(res, "status", target_status_name(t->status));
	cJSON_AddStringToObject(res, "jobId", t->job_id);
	add_int_or_null(res, "exitCode", t->exit_code, t->exit_code >= 0);
	add_string_or_null(res, "signal",
	    t->signal > 0 ? proc_signame(t->signal, sig) : NULL);
	add_string_or_null(res, "startedAt",
	    ran ? format_time(t->started_wall, when) : NULL);
	add_string_or_null(res, "finishedAt",
	    ran ? format_time(t->finished_wall, when) : NULL);
	add_int_or_null(res, "durationMs", t->finished_mono - t->started_mono, ran);
	add_string_or_null(res, "detail", t->detail);
	add_string_or_null(res, "commit", t->commit);
	add_string_or_null(res, "trace", t->trace);
	add_string_or_null(res, "worktree", t->worktree);
	retry = is_failure(t) ? render_retry_command(r, t) : NULL;
	add_string_or_null(res, "retryCommand", retry);
	free(retry);
	cJSON_AddItemToObject(res, "lock", lockserv_result(r, t));
	return res;
}

cJSON *
render_document(const struct run *r)
{
	cJSON	*doc = cJSON_CreateObject();
	cJSON	*results;
	size_t	 i;

	cJSON_AddItemToObject(doc, "plan", plan_to_json(r->plan));
	results = cJSON_AddArrayToObject(doc, "results");
	for (i = 0; i < r->ntargets; i++)
		cJSON_AddItemToArray(results, result_json(r, &r->targets[i]));
	return doc;
}

void
render_snapshot(const struct run *r, FILE *f)
{
	cJSON	*snap = status_snapshot(r);

	status_print(snap, f);
	cJSON_Delete(snap);
}
