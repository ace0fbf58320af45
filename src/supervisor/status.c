/*
 * The run's status, for the control socket's "status", for SIGUSR1 and
 * for people: the snapshot message built from the run (targets, the
 * locks' holders and queues, paused/draining/aborting), how it prints,
 * and how a finished run's record prints when no supervisor runs.
 */
#include "config.h"

#include <sys/param.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "engine.h"
#include "log.h"
#include "ktxconfig.h"
#include "lockd.h"
#include "plan.h"
#include "proto.h"
#include "util.h"

/* Bytes of a phase name shown in status. */
#define SNAPSHOT_MAX_PHASE	80

static cJSON *
nullable_string(const char *s)
{
	return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *
nullable_int(int64_t n, int present)
{
	return present ? cJSON_CreateNumber((double)n) : cJSON_CreateNull();
}

/* The phase as status shows it: bounded, cut on a UTF-8 boundary. */
static cJSON *
phase_json(const char *phase)
{
	char	buf[SNAPSHOT_MAX_PHASE + 1];
	size_t	len;

	if (phase == NULL)
		return cJSON_CreateNull();
	len = strlen(phase);
	if (len <= SNAPSHOT_MAX_PHASE)
		return cJSON_CreateString(phase);
	len = SNAPSHOT_MAX_PHASE;
	while (len > 0 && ((unsigned char)phase[len] & 0xc0) == 0x80)
		len--;
	memcpy(buf, phase, len);
	buf[len] = '\0';
	return cJSON_CreateString(buf);
}

/* queued, running, stopping (told to end), stopped (frozen), finished. */
static const char *
state_name(const struct target *t)
{
	switch (t->state) {
	case TARGET_QUEUED:
		return "queued";
	case TARGET_RUNNING:
		return t->stopped ? "stopped" : t->stop != STOP_NONE ?
		    "stopping" : "running";
	case TARGET_FINISHED:
		break;
	}
	return "finished";
}

static cJSON *
target_json(const struct target *t, int64_t now)
{
	cJSON	*obj = cJSON_CreateObject();
	int	 running = t->state == TARGET_RUNNING;
	int	 finished = t->state == TARGET_FINISHED;

	cJSON_AddStringToObject(obj, "target", t->pt->conn->id);
	cJSON_AddNumberToObject(obj, "stage", t->pt->stage);
	cJSON_AddStringToObject(obj, "state", state_name(t));
	cJSON_AddItemToObject(obj, "status", nullable_string(finished ?
	    target_status_name(t->status) : NULL));
	cJSON_AddItemToObject(obj, "phase",
	    phase_json(running ? t->phase : NULL));
	cJSON_AddItemToObject(obj, "percent", nullable_int(t->percent,
	    running && t->percent >= 0));
	cJSON_AddItemToObject(obj, "pid", nullable_int(t->pid, running));
	cJSON_AddItemToObject(obj, "elapsed_ms", nullable_int(running ?
	    now - t->started_mono : t->finished_mono - t->started_mono,
	    t->started_mono != 0 && (running || finished)));
	return obj;
}

static cJSON *
request_json(const struct run *r, const struct lockd_request *q,
    const char *ms_name, int64_t ms)
{
	cJSON	*obj = cJSON_CreateObject();

	cJSON_AddStringToObject(obj, "target",
	    r->targets[q->client].pt->conn->id);
	cJSON_AddNumberToObject(obj, "id", (double)q->id);
	cJSON_AddStringToObject(obj, "purpose", q->purpose);
	cJSON_AddNumberToObject(obj, ms_name, (double)ms);
	return obj;
}

cJSON *
status_snapshot(const struct run *r)
{
	const struct lockd_lock		*l;
	const struct lockd_request	*q;
	cJSON				*msg, *arr, *lock, *waiters;
	int64_t				 now = now_monotonic_ms();
	int64_t				 clock = run_clock(r);
	size_t				 i;

	msg = proto_new(PROTO_SNAPSHOT);
	cJSON_AddStringToObject(msg, "run_id", r->id);
	cJSON_AddNumberToObject(msg, "pid", getpid());
	cJSON_AddBoolToObject(msg, "paused", r->frozen);
	cJSON_AddBoolToObject(msg, "draining", r->draining);
	cJSON_AddBoolToObject(msg, "aborting", r->aborting != 0);
	arr = cJSON_AddArrayToObject(msg, "targets");
	for (i = 0; i < r->ntargets; i++)
		cJSON_AddItemToArray(arr, target_json(&r->targets[i], now));
	arr = cJSON_AddArrayToObject(msg, "locks");
	TAILQ_FOREACH(l, &r->locks.locks, entry) {
		lock = cJSON_CreateObject();
		cJSON_AddStringToObject(lock, "lock", l->name);
		cJSON_AddItemToObject(lock, "holder", l->holder == NULL ?
		    cJSON_CreateNull() : request_json(r, l->holder, "held_ms",
		    clock - l->holder->granted));
		waiters = cJSON_AddArrayToObject(lock, "waiters");
		TAILQ_FOREACH(q, &l->waiters, entry)
			cJSON_AddItemToArray(waiters, request_json(r, q,
			    "waited_ms", clock - q->queued));
		cJSON_AddItemToArray(arr, lock);
	}
	return msg;
}

static const char *
str_member(const cJSON *obj, const char *name)
{
	const cJSON	*item = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

static int
int_member(const cJSON *obj, const char *name, int64_t *out)
{
	const cJSON	*item = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (!cJSON_IsNumber(item))
		return 0;
	*out = (int64_t)item->valuedouble;
	return 1;
}

static void
print_target(FILE *f, const cJSON *t, int width)
{
	const char	*state = str_member(t, "state");
	const char	*phase = str_member(t, "phase");
	char		 dur[32];
	int64_t		 stage = 0, pid = 0, ms = 0, percent;

	int_member(t, "stage", &stage);
	log_fprintf(f, "  %-*s  stage %lld  ", width, str_member(t, "target"),
	    (long long)stage);
	if (strcmp(state, "queued") == 0) {
		log_fprintf(f, "queued\n");
		return;
	}
	if (strcmp(state, "finished") == 0) {
		log_fprintf(f, "%-8s  %s\n", str_member(t, "status"),
		    int_member(t, "elapsed_ms", &ms) ?
		    render_duration(ms, dur) : "-");
		return;
	}
	int_member(t, "pid", &pid);
	int_member(t, "elapsed_ms", &ms);
	log_fprintf(f, "%-8s  pid %lld  %s  %s", state, (long long)pid,
	    render_duration(ms, dur), phase != NULL ? phase : "");
	if (int_member(t, "percent", &percent))
		log_fprintf(f, " %lld%%", (long long)percent);
	fputc('\n', f);
}

static void
print_request(FILE *f, const char *what, const cJSON *req, const char *ms_name)
{
	char	dur[32];
	int64_t	ms = 0, id = 0;

	int_member(req, ms_name, &ms);
	int_member(req, "id", &id);
	log_fprintf(f, "  %s %s for %s (%s, request %lld)\n", what,
	    str_member(req, "target"), render_duration(ms, dur),
	    str_member(req, "purpose"), (long long)id);
}

/* text when the member name of snap is true, else "". */
static const char *
flag(const cJSON *snap, const char *name, const char *text)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(snap, name)) ?
	    text : "";
}

void
status_print(const cJSON *snap, FILE *f)
{
	const cJSON	*targets, *t, *l, *holder, *w;
	const char	*state;
	size_t		 width = 0, ntargets = 0, queued = 0, finished = 0;

	targets = cJSON_GetObjectItemCaseSensitive(snap, "targets");
	cJSON_ArrayForEach(t, targets) {
		state = str_member(t, "state");
		ntargets++;
		queued += strcmp(state, "queued") == 0;
		finished += strcmp(state, "finished") == 0;
		width = MAX(width, strlen(str_member(t, "target")));
	}
	log_fprintf(f, "ktx-supervisor: run %s: %zu targets, %zu running, "
	    "%zu queued, %zu finished%s%s%s\n", str_member(snap, "run_id"),
	    ntargets, ntargets - queued - finished, queued, finished,
	    flag(snap, "paused", ", paused"),
	    flag(snap, "draining", ", draining"),
	    flag(snap, "aborting", ", aborting"));
	cJSON_ArrayForEach(t, targets)
		print_target(f, t, (int)width);
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(snap, "locks")) {
		holder = cJSON_GetObjectItemCaseSensitive(l, "holder");
		log_fprintf(f, "lock %s: %s\n", str_member(l, "lock"),
		    cJSON_IsNull(holder) ? "free" : "held");
		if (!cJSON_IsNull(holder))
			print_request(f, "held by", holder, "held_ms");
		cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(l,
		    "waiters"))
			print_request(f, "waited on by", w, "waited_ms");
	}
	fflush(f);
}

void
status_print_record(const cJSON *record, const char *name, FILE *f)
{
	const cJSON	*res;
	char		 buf[32];
	int64_t		 ms;
	size_t		 width = strlen("TARGET");

	cJSON_ArrayForEach(res, cJSON_GetObjectItem(record, "results"))
		if (str_member(res, "connectionId") != NULL &&
		    strlen(str_member(res, "connectionId")) > width)
			width = strlen(str_member(res, "connectionId"));
	log_fprintf(f, "the last run, recorded in .ktx/runs/%s:\n", name);
	log_fprintf(f, "  %-*s  STATUS    TIME    DETAIL\n", (int)width, "TARGET");
	cJSON_ArrayForEach(res, cJSON_GetObjectItem(record, "results")) {
		buf[0] = '\0';
		if (int_member(res, "durationMs", &ms))
			render_duration(ms, buf);
		log_fprintf(f, "  %-*s  %-8s  %-6s  %s\n", (int)width,
		    str_member(res, "connectionId"), str_member(res, "status"),
		    buf, str_member(res, "detail") ? str_member(res, "detail") :
		    "");
	}
}
