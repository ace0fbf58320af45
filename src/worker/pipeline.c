/*
 * The steps of one target (DESIGN section 4): its changes land on main as
 * one squash commit, or not at all.
 *
 *   session         under the repo lock: main's HEAD, the session worktree
 *                   .ktx/worktrees/session-<jobId> on session/<jobId>
 *   stage           the input, fetched into .ktx/cache/local-ingest/<jobId>/
 *                   staged, copied to raw-sources/<conn>/<sourceKey>/<syncId>/
 *                   (a database scan writes its snapshot there itself);
 *                   commit "ingest(<src>): stage raw files syncId=<syncId>"
 *   projection      wiki pages and semantic-layer files written in the
 *                   session; commit "... deterministic projection ..."
 *   refresh         under the repo lock: main merged into the session
 *                   (before_reconciliation)
 *   reconciliation  sl_refs pruned, link requests resolved; commit
 *   final window    one hold of the repo lock: refresh again
 *                   (before_final_squash), the gates, the clean check, the
 *                   squash into main
 *   cleanup         success: worktree and branch removed; failure: both
 *                   kept with the sentinel .ktx-outcome
 *
 * An external adapter command (adapter.command) does the stage and the
 * projection in one run.  Between steps the worker looks for SIGTERM and
 * for the supervisor's hang-up and stops there; inside the final window it
 * stops before the squash, never in the middle of it.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters.h"
#include "gates.h"
#include "gitops.h"
#include "lockclient.h"
#include "log.h"
#include "plan.h"
#include "reconcile.h"
#include "sentinel.h"
#include "sources.h"
#include "trace.h"
#include "worker.h"

#define STAGING_ROOT	".ktx/cache/local-ingest"
/* The longest failure detail a result carries; the trace has all of it. */
#define DETAIL_MAX	(16 * 1024)
/* Bytes copied at a time from the staging dir. */
#define COPY_CHUNK	(64 * 1024)

/* The environment an adapter command gets from the worker's own. */
static const char *const passed_env[] = { "PATH", "HOME", "LANG", "TZ", NULL };

struct pipeline {
	struct worker		*w;
	struct assignment	*a;
	struct ktx_connection	*conn;		/* a->conn, secrets resolved */
	struct outcome		*out;
	const char		*source_key;
	char			*sync_id;
	char			*job_cache;	/* .ktx/cache/local-ingest/<jobId> */
	char			*staging_dir;	/* <job_cache>/staged */
	char			*snapshot_dir;	/* raw-sources/<conn>/<key>/<syncId> */
	struct secrets		 secrets;
	struct trace		 trace;
	struct gitops_ident	 author;
	struct gitops_repo	 project;
	struct gitops_session	 session;
	struct gitops_repo	 wt;		/* the session worktree */
	int			 git_ready;	/* gitops_init done */
	int			 have_session;
	char			 root_head[GITOPS_HEXSZ + 1];	/* last refresh */
	struct strv		 raw_paths;	/* provenance, snapshot-relative */
	const char		*phase;		/* the step running, for traces */

	struct lock_request	 lock;
	const char		*lock_purpose;	/* held, or NULL */
	int64_t			 lock_held_at;

	const char		*failed_outcome;	/* the sentinel's outcome */
	struct strv		 conflicts;
};

/*
 * Failing.
 */

/* detail as a result carries it: at most DETAIL_MAX bytes.  Caller frees. */
static char *
cap_detail(const char *detail)
{
	size_t	len = strlen(detail), cut = DETAIL_MAX;
	char	*s;

	if (len <= DETAIL_MAX)
		return xstrdup(detail);
	while (cut > 0 && ((unsigned char)detail[cut] & 0xc0) == 0x80)
		cut--;
	xasprintf(&s, "%.*s\n... (%zu more bytes in the trace)", (int)cut,
	    detail, len - cut);
	return s;
}

/*
 * The target fails with status and detail; outcome is the sentinel's
 * (a session kept).  The first failure wins.
 */
static void
fail(struct pipeline *p, const char *status, const char *outcome,
    const char *detail)
{
	if (p->out->status != NULL)
		return;
	p->out->status = status;
	p->out->detail = cap_detail(detail);
	p->failed_outcome = outcome;
}

static int
step_failed(struct pipeline *p, const struct trace_span *sp,
    const char *detail)
{
	if (detail == NULL)
		detail = "failed without a message";
	trace_fail(&p->trace, sp, detail, NULL);
	fail(p, "failed", "crash", detail);
	return -1;
}

/* Why the worker stops: the supervisor's hang-up or a SIGTERM. */
static const char *
stop_reason(const struct worker *w)
{
	return w->gone ? "the supervisor is gone" : "aborted by SIGTERM";
}

/*
 * SIGTERM or the supervisor's hang-up since the last look: stop here.
 * Once the target failed or stopped, it stays stopped.
 */
static int
stopped(struct pipeline *p)
{
	if (p->out->status != NULL)
		return 1;
	if (!worker_check(p->w))
		return 0;
	trace_event(&p->trace, TRACE_ERROR, p->phase, "ingest_aborted", -1,
	    NULL, stop_reason(p->w));
	fail(p, "aborted", "aborted", stop_reason(p->w));
	return 1;
}

static void
enter(struct pipeline *p, const char *phase, const char *message)
{
	p->phase = phase;
	worker_phase(p->w, phase, message);
}

/*
 * The repo lock (LOCK_REPO, served by the supervisor).  Every region that
 * reads main to act on it or moves it goes through these two: the
 * session's base, the refreshes, the final window and the session's
 * removal.  A SIGTERM while waiting gives the wait up (but for the
 * removal): the supervisor cancels it when our connection ends.
 */
static int
repo_lock(struct pipeline *p, const char *purpose)
{
	cJSON	*data;
	char	*err = NULL;
	int64_t	 start = now_monotonic_ms();
	/* A landed target's clean-up is not given up for a SIGTERM. */
	int	 patient = strcmp(purpose, "cleanup") == 0;
	int	 rc;

	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "lock", LOCK_REPO);
	cJSON_AddStringToObject(data, "purpose", purpose);
	trace_event(&p->trace, TRACE_DEBUG, "lock", "repo_lock_wait_started", -1,
	    data, NULL);
	rc = lock_acquire(&p->w->conn, &p->lock, LOCK_REPO, purpose, &err);
	while (rc == -1 && errno == EINTR &&
	    (!worker_check(p->w) || (patient && !p->w->gone))) {
		free(err);
		rc = lock_wait(&p->w->conn, &p->lock, &err);
	}
	if (rc == -1) {
		if (errno == EPIPE)
			p->w->gone = 1;
		if (p->w->aborting || p->w->gone) {
			trace_event(&p->trace, TRACE_ERROR, "lock",
			    "repo_lock_wait_abandoned", now_monotonic_ms() - start,
			    NULL, "aborted while waiting for the repository lock");
			fail(p, "aborted", "aborted", stop_reason(p->w));
		} else {
			trace_event(&p->trace, TRACE_ERROR, "lock",
			    "repo_lock_failed", now_monotonic_ms() - start, NULL,
			    err);
			fail(p, "failed", "crash", err);
		}
		free(err);
		return -1;
	}
	p->lock_purpose = purpose;
	p->lock_held_at = now_monotonic_ms();
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "lock", LOCK_REPO);
	cJSON_AddStringToObject(data, "purpose", purpose);
	cJSON_AddNumberToObject(data, "waitedMs", (double)p->lock.waited_ms);
	trace_event(&p->trace, TRACE_INFO, "lock", "repo_lock_acquired",
	    p->lock_held_at - start, data, NULL);
	return 0;
}

static void
repo_unlock(struct pipeline *p)
{
	cJSON	*data;
	char	*err = NULL;
	int64_t	 held = now_monotonic_ms() - p->lock_held_at;

	/* Traced first: the next holder's grant may be traced at once. */
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "lock", LOCK_REPO);
	cJSON_AddStringToObject(data, "purpose", p->lock_purpose);
	cJSON_AddNumberToObject(data, "heldMs", (double)held);
	trace_event(&p->trace, TRACE_INFO, "lock", "repo_lock_released", held,
	    data, NULL);
	p->lock_purpose = NULL;
	/* A release that cannot be sent ends with our connection. */
	if (lock_release(&p->w->conn, &p->lock, &err) == -1) {
		log_debug("release of the repository lock: %s", err);
		free(err);
		p->w->gone = 1;
	}
}

/*
 * Files.
 */

/* Copy the regular file src to dst (created, parents too). */
static int
copy_file(const char *src, const char *dst, char **errmsg)
{
	struct stat	 st;
	char		*buf = NULL, *dir;
	ssize_t		 n, w;
	size_t		 off;
	int		 in, out = -1, rc = -1;

	/* O_NONBLOCK: a FIFO put there since it was listed cannot hang us. */
	if ((in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)) ==
	    -1 ||
	    fstat(in, &st) == -1) {
		xasprintf(errmsg, "cannot read \"%s\": %s", src, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		xasprintf(errmsg, "\"%s\" is not a regular file", src);
		goto out;
	}
	dir = xstrndup(dst, strrchr(dst, '/') - dst);
	if (mkpath(dir, 0755) == -1) {
		xasprintf(errmsg, "cannot create \"%s\": %s", dir,
		    strerror(errno));
		free(dir);
		goto out;
	}
	free(dir);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (out == -1) {
		xasprintf(errmsg, "cannot write \"%s\": %s", dst,
		    strerror(errno));
		goto out;
	}
	buf = xmalloc(COPY_CHUNK);
	for (;;) {
		n = read(in, buf, COPY_CHUNK);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(errmsg, "cannot read \"%s\": %s", src,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		for (off = 0; off < (size_t)n; off += w) {
			w = write(out, buf + off, n - off);
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w == -1) {
				xasprintf(errmsg, "cannot write \"%s\": %s",
				    dst, strerror(errno));
				goto out;
			}
		}
	}
	rc = 0;
out:
	if (in != -1)
		close(in);
	if (out != -1 && close(out) == -1 && rc == 0) {
		xasprintf(errmsg, "cannot write \"%s\": %s", dst,
		    strerror(errno));
		rc = -1;
	}
	free(buf);
	return rc;
}

/*
 * The regular files under dir, relative, sorted; anything else fails, and
 * so does a file the final gates would refuse for its size, before it is
 * copied and committed.  A FIFO is refused here, never opened.
 */
static struct {
	size_t		 skip;		/* strlen(dir) + 1 */
	struct strv	*files;
	char		*err;
} walk;

static int
walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_D || type == FTW_DP)
		return 0;
	if (type != FTW_F || !S_ISREG(st->st_mode)) {
		xasprintf(&walk.err, "\"%s\" is not a regular file or directory",
		    path);
		return 1;
	}
	if (st->st_size > GATES_RAW_MAX_BYTES) {
		xasprintf(&walk.err, "\"%s\" is too large (%lld bytes; the"
		    " limit is %lld)", path, (long long)st->st_size,
		    (long long)GATES_RAW_MAX_BYTES);
		return 1;
	}
	if (strlen(path) > walk.skip)
		strv_push(walk.files, path + walk.skip);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
list_files(const char *dir, struct strv *files, char **errmsg)
{
	struct stat	st;
	int		rc;

	if (lstat(dir, &st) == -1 && errno == ENOENT)
		return 0;
	walk.skip = strlen(dir) + 1;
	walk.files = files;
	walk.err = NULL;
	rc = nftw(dir, walk_one, 16, FTW_PHYS);
	if (walk.err != NULL) {
		*errmsg = walk.err;
		return -1;
	}
	if (rc == -1) {
		xasprintf(errmsg, "cannot list \"%s\": %s", dir,
		    strerror(errno));
		return -1;
	}
	if (files->n > 1)
		qsort(files->v, files->n, sizeof(*files->v), cmp_str);
	return 0;
}

static void
remove_tree(const char *dir)
{
	if (rmtree(dir) == -1)
		log_warn("cannot remove \"%s\"", dir);
}

/*
 * Remove what a landed session holds but its ".git": the files are many
 * and the removal need not hold the repo lock; the worktree stays valid
 * for gitops_session_remove, or for a sentinel.
 */
static void
empty_worktree(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	char		*path;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, ".git") == 0)
			continue;
		xasprintf(&path, "%s/%s", dir, de->d_name);
		remove_tree(path);
		free(path);
	}
	closedir(d);
}

static cJSON *
string_array(const struct strv *sv)
{
	cJSON	*a = cJSON_CreateArray();
	size_t	 i;

	for (i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
	return a;
}

static char *
joined(const struct strv *sv, const char *sep)
{
	char	*s = xstrdup(""), *prev;
	size_t	 i;

	for (i = 0; i < sv->n; i++) {
		prev = s;
		xasprintf(&s, "%s%s%s", prev, i > 0 ? sep : "", sv->v[i]);
		free(prev);
	}
	return s;
}

static void
add_raw_paths(struct pipeline *p, const struct strv *paths)
{
	size_t	i, j;

	for (i = 0; i < paths->n; i++) {
		for (j = 0; j < p->raw_paths.n; j++)
			if (strcmp(p->raw_paths.v[j], paths->v[i]) == 0)
				break;
		if (j == p->raw_paths.n)
			strv_push(&p->raw_paths, paths->v[i]);
	}
}

/* "ingest(<src>): <what> syncId=<syncId>".  Caller frees. */
static char *
commit_message(const struct pipeline *p, const char *what)
{
	char	*msg;

	xasprintf(&msg, "ingest(%s): %s syncId=%s", p->source_key, what,
	    p->sync_id);
	return msg;
}

static void
trace_commit(struct pipeline *p, const char *hex, const char *msg)
{
	cJSON	*data = cJSON_CreateObject();

	cJSON_AddStringToObject(data, "commit", hex);
	cJSON_AddStringToObject(data, "message", msg);
	trace_event(&p->trace, TRACE_DEBUG, p->phase, "committed", -1, data,
	    NULL);
}

/* Commit everything the step changed in the session; trace the commit. */
static int
commit_step(struct pipeline *p, const char *what, int *created,
    char **errmsg)
{
	char	 hex[GITOPS_HEXSZ + 1], *msg = commit_message(p, what);
	int	 rc;

	rc = gitops_commit_all(&p->wt, msg, &p->author, hex, created, errmsg);
	if (rc == 0 && *created)
		trace_commit(p, hex, msg);
	free(msg);
	return rc;
}

/* The stage commit: the snapshot's files (paths in the worktree). */
static int
commit_paths(struct pipeline *p, const struct strv *paths, char **errmsg)
{
	char	 hex[GITOPS_HEXSZ + 1], *msg;
	int	 created = 0, rc = 0;

	if (paths->n == 0)
		return 0;
	failpoint("stage");
	msg = commit_message(p, "stage raw files");
	rc = gitops_commit_paths(&p->wt, (const char *const *)paths->v,
	    paths->n, msg, &p->author, hex, &created, errmsg);
	if (rc == 0 && created)
		trace_commit(p, hex, msg);
	free(msg);
	return rc;
}

/*
 * Copy the staged files into the snapshot and commit them (the stage
 * commit); files is relative to the staging dir.
 */
static int
commit_snapshot(struct pipeline *p, const struct strv *files,
    char **errmsg)
{
	struct strv	 paths = { 0 };
	char		*src, *dst;
	size_t		 i;
	int		 rc = 0;

	for (i = 0; i < files->n; i++) {
		xasprintf(&src, "%s/%s", p->staging_dir, files->v[i]);
		xasprintf(&dst, "%s/%s/%s", p->session.path, p->snapshot_dir,
		    files->v[i]);
		rc = copy_file(src, dst, errmsg);
		free(src);
		free(dst);
		if (rc == -1)
			goto out;
		xasprintf(&dst, "%s/%s", p->snapshot_dir, files->v[i]);
		strv_push_owned(&paths, dst);
	}
	rc = commit_paths(p, &paths, errmsg);
out:
	strv_release(&paths);
	return rc;
}

/*
 * Steps.
 */

static int
step_session(struct pipeline *p)
{
	struct trace_span	 sp;
	cJSON			*msg, *data;
	char			 head[GITOPS_HEXSZ + 1], *err = NULL;
	int			 rc;

	enter(p, "session", "creating the session worktree");
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "jobId", p->a->job_id);
	trace_begin(&p->trace, &sp, "worktree", "session_worktree_created",
	    data);
	if (repo_lock(p, "session") == -1)
		return -1;
	rc = gitops_open_project(&p->project, p->a->project_dir, &p->author, 0,
	    NULL, &err);
	if (rc == 0)
		rc = gitops_head(&p->project, head, &err);
	if (rc == 0)
		rc = gitops_session_create(&p->project, p->a->job_id, head,
		    &p->session, &err);
	if (rc == 0)
		failpoint("session");
	repo_unlock(p);
	if (rc == -1) {
		step_failed(p, &sp, err);
		free(err);
		return -1;
	}
	p->have_session = 1;
	msg = proto_new(PROTO_SESSION);
	cJSON_AddStringToObject(msg, "path", p->session.path);
	cJSON_AddStringToObject(msg, "branch", p->session.branch);
	cJSON_AddStringToObject(msg, "base", p->session.base);
	worker_send(p->w, msg);
	if (gitops_open_worktree(&p->wt, p->session.path, &p->author,
	    &err) == -1) {
		step_failed(p, &sp, err);
		free(err);
		return -1;
	}
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "path", p->session.path);
	cJSON_AddStringToObject(data, "branch", p->session.branch);
	cJSON_AddStringToObject(data, "baseSha", p->session.base);
	trace_end(&p->trace, &sp, data);
	return 0;
}

/* The events a built-in adapter recorded since the last call. */
static void
trace_source_events(struct pipeline *p, const struct source_result *res,
    size_t *done)
{
	const struct source_event	*ev;

	for (; *done < res->nevents; (*done)++) {
		ev = &res->events[*done];
		trace_event(&p->trace, TRACE_INFO, p->phase, ev->event, -1,
		    cJSON_Duplicate(ev->data, 1), NULL);
	}
}

/* Nothing changed since snapshot used: it stands for this run's. */
static void
reuse_snapshot(struct pipeline *p, const char *used)
{
	cJSON	*data;

	free(p->sync_id);
	p->sync_id = xstrdup(used);
	trace_set_sync_id(&p->trace, used);
	free(p->snapshot_dir);
	xasprintf(&p->snapshot_dir, "raw-sources/%s/%s/%s", p->conn->id,
	    p->source_key, used);
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "syncId", used);
	trace_event(&p->trace, TRACE_INFO, "stage_raw_files",
	    "snapshot_reused", -1, data, NULL);
}

/* A built-in source adapter: stage, commit the snapshot, project. */
static int
run_source_adapter(struct pipeline *p, const struct source_adapter *ad)
{
	struct source_job	 job;
	struct source_result	 res;
	struct trace_span	 sp;
	cJSON			*data, *skip;
	char			*err = NULL, *detail, *used;
	size_t			 i, nevents = 0, written = 0;
	int			 created, rc = -1;

	memset(&res, 0, sizeof(res));
	memset(&job, 0, sizeof(job));
	job.conn = p->conn;
	job.project_dir = p->a->project_dir;
	job.worktree = p->session.path;
	job.staging_dir = p->staging_dir;
	job.sync_id = p->sync_id;
	job.warehouses = &p->a->warehouses;

	enter(p, "stage", "staging the input");
	trace_begin(&p->trace, &sp, "stage_raw_files", "stage_raw_files", NULL);
	used = NULL;
	if (ad->stage(&job, &res, &err) == -1 ||
	    ((used = source_snapshot_reusable(&job, p->source_key,
	    &res.staged)) == NULL &&
	    commit_snapshot(p, &res.staged, &err) == -1)) {
		trace_source_events(p, &res, &nevents);
		step_failed(p, &sp, err);
		goto out;
	}
	if (used != NULL) {
		reuse_snapshot(p, used);
		job.sync_id = p->sync_id;
		free(used);
	}
	trace_source_events(p, &res, &nevents);
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "snapshot", p->snapshot_dir);
	cJSON_AddNumberToObject(data, "files", res.staged.n);
	trace_end(&p->trace, &sp, data);
	if (stopped(p))
		goto out;

	enter(p, "projection", "writing pages and semantic-layer files");
	trace_begin(&p->trace, &sp, "projection", "deterministic_projection",
	    NULL);
	if (ad->ingest(&job, &res, &err) == -1) {
		trace_source_events(p, &res, &nevents);
		xasprintf(&detail, "deterministic projection failed: %s",
		    err != NULL ? err : "no message");
		step_failed(p, &sp, detail);
		free(detail);
		goto out;
	}
	trace_source_events(p, &res, &nevents);
	for (i = 0; i < res.nskips; i++) {
		skip = cJSON_CreateObject();
		cJSON_AddStringToObject(skip, "item", res.skips[i].item);
		cJSON_AddStringToObject(skip, "reason", res.skips[i].reason);
		cJSON_AddItemToObject(skip, "rawPaths",
		    string_array(&res.skips[i].raw_paths));
		trace_event(&p->trace, TRACE_INFO, "projection", "item_skipped",
		    -1, skip, NULL);
	}
	for (i = 0; i < res.noutputs; i++) {
		add_raw_paths(p, &res.outputs[i].raw_paths);
		written += res.outputs[i].changed;
	}
	failpoint("projection");
	if (commit_step(p, "deterministic projection", &created, &err) == -1) {
		step_failed(p, &sp, err);
		goto out;
	}
	data = cJSON_CreateObject();
	cJSON_AddNumberToObject(data, "outputs", res.noutputs);
	cJSON_AddNumberToObject(data, "changed", written);
	cJSON_AddNumberToObject(data, "skipped", res.nskips);
	trace_end(&p->trace, &sp, data);
	rc = 0;
out:
	free(err);
	source_result_release(&res);
	return rc;
}

/* A built-in database adapter: scan, write the snapshot and the shards. */
static int
run_database_scan(struct pipeline *p)
{
	struct dbscan		 scan;
	struct strv		 files = { 0 };
	struct trace_span	 sp;
	cJSON			*data;
	char			*err = NULL, *used = NULL, *dir, *redacted;
	size_t			 i;
	int			 created, rc = -1;

	dbscan_init(&scan);
	enter(p, "stage", "scanning the database");
	trace_begin(&p->trace, &sp, "stage_raw_files", "stage_raw_files", NULL);
	if (strcmp(p->conn->driver, "sqlite") == 0)
		rc = dbscan_sqlite(p->conn, p->a->project_dir, &scan, &err);
	else
		rc = dbscan_postgres(p->conn, p->conn->url, &scan, &err);
	if (rc == 0 && scan.database != NULL) {
		/* A path or url from a secret reference is committed redacted. */
		redacted = secrets_redact(&p->secrets, scan.database);
		free(scan.database);
		scan.database = redacted;
	}
	if (rc == 0)
		rc = dbscan_write(&scan, p->session.path, p->conn->id,
		    p->sync_id, &used, &err);
	if (rc == -1) {
		step_failed(p, &sp, err);
		goto out;
	}
	rc = -1;
	for (i = 0; i < scan.nwarnings; i++) {
		data = cJSON_CreateObject();
		cJSON_AddStringToObject(data, "code", scan.warnings[i].code);
		cJSON_AddStringToObject(data, "message",
		    scan.warnings[i].message);
		trace_event(&p->trace, TRACE_INFO, "stage_raw_files",
		    "scan_warning", -1, data, NULL);
	}
	if (strcmp(used, p->sync_id) != 0)
		reuse_snapshot(p, used);
	xasprintf(&dir, "%s/%s", p->session.path, p->snapshot_dir);
	rc = list_files(dir, &files, &err);
	free(dir);
	for (i = 0; rc == 0 && i < files.n; i++) {
		xasprintf(&dir, "%s/%s", p->snapshot_dir, files.v[i]);
		free(files.v[i]);
		files.v[i] = dir;
	}
	if (rc == 0)
		rc = commit_paths(p, &files, &err);
	if (rc == -1) {
		step_failed(p, &sp, err);
		goto out;
	}
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "snapshot", p->snapshot_dir);
	cJSON_AddNumberToObject(data, "tables", scan.ntables);
	cJSON_AddNumberToObject(data, "files", files.n);
	trace_end(&p->trace, &sp, data);
	rc = -1;
	if (stopped(p))
		goto out;

	enter(p, "projection", "writing the manifest shards");
	trace_begin(&p->trace, &sp, "projection", "deterministic_projection",
	    NULL);
	failpoint("projection");
	if (commit_step(p, "deterministic projection", &created, &err) == -1) {
		step_failed(p, &sp, err);
		goto out;
	}
	data = cJSON_CreateObject();
	cJSON_AddBoolToObject(data, "changed", created);
	trace_end(&p->trace, &sp, data);
	rc = 0;
out:
	free(err);
	free(used);
	strv_release(&files);
	dbscan_release(&scan);
	return rc;
}

/* The adapter command's environment.  Caller releases. */
static void
command_env(struct pipeline *p, struct strv *env)
{
	const char	*v;
	char		*s;
	size_t		 i;

	for (i = 0; passed_env[i] != NULL; i++) {
		if ((v = getenv(passed_env[i])) == NULL)
			continue;
		xasprintf(&s, "%s=%s", passed_env[i], v);
		strv_push_owned(env, s);
	}
	v = getenv("KTX_SKILLS_DIR");
	xasprintf(&s, "KTX_SKILLS_DIR=%s", v != NULL && *v != '\0' ? v :
	    KTX_SKILLS_PATH);
	strv_push_owned(env, s);
	xasprintf(&s, "KTX_PROJECT_DIR=%s", p->a->project_dir);
	strv_push_owned(env, s);
	xasprintf(&s, "KTX_WORKTREE=%s", p->session.path);
	strv_push_owned(env, s);
	xasprintf(&s, "KTX_STAGING_DIR=%s", p->staging_dir);
	strv_push_owned(env, s);
	xasprintf(&s, "KTX_CONNECTION_ID=%s", p->conn->id);
	strv_push_owned(env, s);
	xasprintf(&s, "KTX_SYNC_ID=%s", p->sync_id);
	strv_push_owned(env, s);
	xasprintf(&s, "KTX_JOB_ID=%s", p->a->job_id);
	strv_push_owned(env, s);
	xasprintf(&s, "KTX_RUN_ID=%s", p->a->run_id);
	strv_push_owned(env, s);
	for (i = 0; i < p->secrets.env.n; i++)
		strv_push(env, p->secrets.env.v[i]);
}

/*
 * The external adapter command: it fetches into the staging dir and
 * writes pages and semantic-layer files into the session.
 */
static int
run_adapter_command(struct pipeline *p)
{
	struct command_run	 cr;
	struct strv		 env = { 0 }, files = { 0 };
	struct trace_span	 sp;
	struct outcome		 res;
	cJSON			*data;
	char			*err = NULL;
	size_t			 i;
	int			 created, rc = -1;

	memset(&cr, 0, sizeof(cr));
	memset(&res, 0, sizeof(res));
	res.exit_code = -1;
	enter(p, "stage", "running the adapter command");
	data = cJSON_CreateObject();
	cJSON_AddItemToObject(data, "command",
	    string_array(&p->conn->adapter_command));
	cJSON_AddNumberToObject(data, "timeout", p->conn->adapter_timeout);
	trace_begin(&p->trace, &sp, "adapter", "adapter_command", data);
	if (mkpath(p->staging_dir, 0755) == -1) {
		xasprintf(&err, "cannot create \"%s\": %s", p->staging_dir,
		    strerror(errno));
		step_failed(p, &sp, err);
		goto out;
	}
	command_env(p, &env);
	cr.argv = (const char *const *)p->conn->adapter_command.v;
	cr.env = (const char *const *)env.v;
	cr.cwd = p->session.path;
	cr.timeout = p->conn->adapter_timeout;
	cr.grace = p->a->grace;
	cr.secrets = &p->secrets;
	cr.trace = &p->trace;
	command_run(p->w, &cr, &res);
	p->out->exit_code = res.exit_code;
	p->out->signal = res.signal;
	data = cJSON_CreateObject();
	if (res.exit_code >= 0)
		cJSON_AddNumberToObject(data, "exitCode", res.exit_code);
	if (res.signal > 0)
		cJSON_AddNumberToObject(data, "signal", res.signal);
	if (res.status == NULL || strcmp(res.status, "done") != 0) {
		trace_fail(&p->trace, &sp, res.detail != NULL ? res.detail :
		    "the supervisor is gone", data);
		if (res.status == NULL || strcmp(res.status, "aborted") == 0)
			fail(p, "aborted", "aborted", res.status == NULL ?
			    "the supervisor is gone" : stop_reason(p->w));
		else
			fail(p, res.status, strcmp(res.status, "timeout") == 0 ?
			    "timeout" : "crash", res.detail != NULL ?
			    res.detail : res.status);
		goto out;
	}
	trace_end(&p->trace, &sp, data);
	add_raw_paths(p, &cr.raw_paths);
	if (stopped(p))
		goto out;

	trace_begin(&p->trace, &sp, "stage_raw_files", "stage_raw_files", NULL);
	if (list_files(p->staging_dir, &files, &err) == -1 ||
	    commit_snapshot(p, &files, &err) == -1) {
		step_failed(p, &sp, err);
		goto out;
	}
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "snapshot", p->snapshot_dir);
	cJSON_AddNumberToObject(data, "files", files.n);
	trace_end(&p->trace, &sp, data);

	enter(p, "projection", "committing what the adapter wrote");
	trace_begin(&p->trace, &sp, "projection", "deterministic_projection",
	    NULL);
	failpoint("projection");
	if (commit_step(p, "deterministic projection", &created, &err) == -1) {
		step_failed(p, &sp, err);
		goto out;
	}
	data = cJSON_CreateObject();
	cJSON_AddBoolToObject(data, "changed", created);
	cJSON_AddItemToObject(data, "rawPaths", string_array(&cr.raw_paths));
	trace_end(&p->trace, &sp, data);
	rc = 0;
out:
	for (i = 0; i < env.n; i++)
		explicit_bzero(env.v[i], strlen(env.v[i]));
	strv_release(&env);
	strv_release(&files);
	strv_release(&cr.raw_paths);
	free(res.detail);
	free(err);
	return rc;
}

/*
 * Merge main's HEAD into the session, the repo lock held.  A conflict
 * fails the target; the session stays at its pre-merge HEAD.
 */
static int
refresh(struct pipeline *p, const char *phase)
{
	struct gitops_refresh	 res;
	cJSON			*data, *result;
	char			*err = NULL, *paths, *detail;
	size_t			 i;
	int			 rc = -1;

	memset(&res, 0, sizeof(res));
	if (gitops_head(&p->project, p->root_head, &err) == -1 ||
	    gitops_refresh(&p->wt, p->root_head, &res, &err) == -1) {
		xasprintf(&detail, "source refresh before %s failed: %s", phase,
		    err);
		trace_event(&p->trace, TRACE_ERROR, "refresh",
		    "session_refresh_failed", -1, NULL, detail);
		fail(p, "failed", "crash", detail);
		free(detail);
		goto out;
	}
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "phase", phase);
	result = cJSON_AddObjectToObject(data, "result");
	cJSON_AddBoolToObject(result, "ok",
	    res.status != GITOPS_REFRESH_CONFLICT);
	cJSON_AddStringToObject(result, "rootHead", p->root_head);
	if (res.status == GITOPS_REFRESH_CONFLICT) {
		cJSON_AddBoolToObject(result, "conflict", 1);
		cJSON_AddItemToObject(result, "conflictPaths",
		    string_array(&res.conflicts));
		paths = joined(&res.conflicts, ", ");
		xasprintf(&detail, "source refresh conflict before %s: %s",
		    phase, paths);
		free(paths);
		trace_event(&p->trace, TRACE_ERROR, "refresh",
		    "session_refreshed_from_root", -1, data, detail);
		fail(p, "conflict", "conflict", detail);
		free(detail);
		for (i = 0; i < res.conflicts.n; i++)
			strv_push(&p->conflicts, res.conflicts.v[i]);
		goto out;
	}
	cJSON_AddStringToObject(result, "headSha", res.head);
	cJSON_AddBoolToObject(result, "changed",
	    res.status == GITOPS_REFRESH_CHANGED);
	cJSON_AddBoolToObject(result, "fastForward", res.fast_forward);
	trace_event(&p->trace, TRACE_DEBUG, "refresh",
	    "session_refreshed_from_root", -1, data, NULL);
	rc = 0;
out:
	free(err);
	gitops_refresh_release(&res);
	return rc;
}

static int
step_refresh(struct pipeline *p)
{
	int	rc;

	enter(p, "refresh", "merging main into the session");
	if (repo_lock(p, "before_reconciliation") == -1)
		return -1;
	rc = refresh(p, "before_reconciliation");
	if (rc == 0)
		failpoint("refresh");
	repo_unlock(p);
	return rc;
}

static int
step_reconcile(struct pipeline *p)
{
	struct reconcile_result	 res;
	struct trace_span	 sp;
	const struct reconcile_page *pg;
	cJSON			*data;
	char			*err = NULL;
	size_t			 i;
	int			 created = 0, rc = -1;

	memset(&res, 0, sizeof(res));
	enter(p, "reconciliation", "resolving links and sl_refs");
	trace_begin(&p->trace, &sp, "reconciliation", "reconciliation", NULL);
	if (reconcile_run(p->session.path, NULL, NULL, &res, &err) == -1) {
		step_failed(p, &sp, err);
		goto out;
	}
	for (i = 0; i < res.npages; i++) {
		pg = &res.pages[i];
		if (pg->removed_sl_refs.n > 0) {
			data = cJSON_CreateObject();
			cJSON_AddStringToObject(data, "path", pg->path);
			cJSON_AddItemToObject(data, "removed",
			    string_array(&pg->removed_sl_refs));
			trace_event(&p->trace, TRACE_INFO, "reconciliation",
			    "sl_refs_pruned", -1, data, NULL);
		}
		if (pg->links.n > 0 || pg->added_sl_refs.n > 0) {
			data = cJSON_CreateObject();
			cJSON_AddStringToObject(data, "path", pg->path);
			cJSON_AddItemToObject(data, "links",
			    string_array(&pg->links));
			cJSON_AddItemToObject(data, "addedSlRefs",
			    string_array(&pg->added_sl_refs));
			trace_event(&p->trace, TRACE_INFO, "reconciliation",
			    "link_requests_resolved", -1, data, NULL);
		}
	}
	for (i = 0; i < res.warnings.n; i++) {
		data = cJSON_CreateObject();
		cJSON_AddStringToObject(data, "message", res.warnings.v[i]);
		trace_event(&p->trace, TRACE_INFO, "reconciliation",
		    "reconciliation_warning", -1, data, NULL);
	}
	failpoint("reconciliation");
	if (res.npages > 0 &&
	    commit_step(p, "reconciliation", &created, &err) == -1) {
		step_failed(p, &sp, err);
		goto out;
	}
	data = cJSON_CreateObject();
	cJSON_AddNumberToObject(data, "pages", res.npages);
	cJSON_AddBoolToObject(data, "committed", created);
	trace_end(&p->trace, &sp, data);
	rc = 0;
out:
	free(err);
	reconcile_result_release(&res);
	return rc;
}

static int
run_gates(struct pipeline *p, const char *session_head)
{
	struct gitops_changes	 changes;
	struct gate_path	*changed = NULL;
	struct gate_input	 in;
	struct gate_report	 rep;
	struct trace_span	 sp;
	cJSON			*data;
	char			*err = NULL;
	size_t			 i;
	int			 rc = -1;

	memset(&changes, 0, sizeof(changes));
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "rootHead", p->root_head);
	cJSON_AddStringToObject(data, "sessionHead", session_head);
	cJSON_AddStringToObject(data, "snapshot", p->snapshot_dir);
	cJSON_AddNumberToObject(data, "rawPaths", p->raw_paths.n);
	trace_begin(&p->trace, &sp, "final_gates", "final_artifact_gates", data);
	if (gitops_diff(&p->wt, p->root_head, session_head, &changes,
	    &err) == -1) {
		step_failed(p, &sp, err);
		goto out;
	}
	changed = xcalloc(changes.n, sizeof(*changed));
	for (i = 0; i < changes.n; i++) {
		changed[i].path = changes.v[i].path;
		changed[i].change = changes.v[i].kind == GITOPS_ADDED ?
		    GATE_ADDED : changes.v[i].kind == GITOPS_MODIFIED ?
		    GATE_MODIFIED : GATE_DELETED;
	}
	memset(&in, 0, sizeof(in));
	in.worktree = p->session.path;
	in.changed = changed;
	in.nchanged = changes.n;
	in.snapshot_dir = p->snapshot_dir;
	in.raw_paths = &p->raw_paths;
	rc = gates_run(&in, &rep, &err);
	data = cJSON_CreateObject();
	cJSON_AddNumberToObject(data, "changedPaths", changes.n);
	cJSON_AddNumberToObject(data, "pagesChecked", rep.pages_checked);
	cJSON_AddBoolToObject(data, "allPages", rep.all_pages);
	cJSON_AddNumberToObject(data, "errors", rep.nerrors);
	if (rc == -1) {
		trace_fail(&p->trace, &sp, err, data);
		fail(p, "failed", "crash", err);
		goto out;
	}
	trace_end(&p->trace, &sp, data);
out:
	free(err);
	free(changed);
	gitops_changes_release(&changes);
	return rc;
}

static int
squash(struct pipeline *p, const char *session_head)
{
	struct gitops_diffstat	 ds;
	struct gitops_squash	 sq;
	struct trace_span	 sp;
	cJSON			*data;
	char			*err = NULL, *msg, *parent, *paths;
	size_t			 i;
	int			 rc = -1;

	memset(&sq, 0, sizeof(sq));
	trace_begin(&p->trace, &sp, "squash", "squash", NULL);
	xasprintf(&parent, "raw-sources/%s/%s", p->conn->id, p->source_key);
	if (gitops_snapshot_diff(&p->wt, session_head, parent, p->sync_id, &ds,
	    &err) == -1) {
		/* A target that staged nothing has no snapshot to count. */
		memset(&ds, 0, sizeof(ds));
		free(err);
		err = NULL;
	}
	free(parent);
	msg = gitops_squash_message(p->source_key, p->a->job_id, p->sync_id,
	    &ds);
	if (gitops_squash(&p->project, session_head, msg, &p->author, &sq,
	    &err) == -1) {
		step_failed(p, &sp, err);
		goto out;
	}
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "parent", sq.parent);
	cJSON_AddNumberToObject(data, "touchedPaths", sq.touched.n);
	if (sq.status == GITOPS_SQUASH_CONFLICT) {
		cJSON_AddItemToObject(data, "conflictPaths",
		    string_array(&sq.conflicts));
		paths = joined(&sq.conflicts, ", ");
		xasprintf(&err, "squash merge conflict: %s", paths);
		free(paths);
		trace_fail(&p->trace, &sp, err, data);
		fail(p, "conflict", "conflict", err);
		for (i = 0; i < sq.conflicts.n; i++)
			strv_push(&p->conflicts, sq.conflicts.v[i]);
		goto out;
	}
	if (sq.status == GITOPS_SQUASH_COMMITTED) {
		p->out->commit = xstrdup(sq.commit);
		cJSON_AddStringToObject(data, "commit", sq.commit);
		cJSON_AddStringToObject(data, "message", msg);
	} else {
		cJSON_AddNullToObject(data, "commit");
		cJSON_AddStringToObject(data, "message", "no changes");
	}
	trace_end(&p->trace, &sp, data);
	rc = 0;
out:
	free(msg);
	free(err);
	gitops_squash_release(&sq);
	return rc;
}

/*
 * The final window: one hold of the repo lock from the refresh to the
 * squash, so that the gates judge the tree that lands.
 */
static int
step_final(struct pipeline *p)
{
	struct trace_span	 sp;
	char			 head[GITOPS_HEXSZ + 1], *err = NULL;
	int			 rc = -1;

	enter(p, "final", "refresh, gates and squash into main");
	if (repo_lock(p, "before_final_squash") == -1)
		return -1;
	if (refresh(p, "before_final_squash") == -1)
		goto out;
	failpoint("final-refresh");
	if (gitops_head(&p->wt, head, &err) == -1) {
		trace_event(&p->trace, TRACE_ERROR, "final_gates",
		    "session_head_failed", -1, NULL, err);
		fail(p, "failed", "crash", err);
		goto out;
	}
	if (run_gates(p, head) == -1)
		goto out;
	failpoint("gates");
	trace_begin(&p->trace, &sp, "squash", "worktree_clean_check", NULL);
	if (gitops_check_clean(&p->wt, &err) == -1) {
		step_failed(p, &sp, err);
		goto out;
	}
	trace_end(&p->trace, &sp, NULL);
	/* The last safe point: after it the squash runs to its end. */
	if (stopped(p))
		goto out;
	rc = squash(p, head);
out:
	repo_unlock(p);
	free(err);
	return rc;
}

/*
 * Remove the session of a target that landed.  When it cannot be, the
 * result says why and the session is kept like a failed one's (the
 * sentinel's outcome "aborted"), for `recover`.
 */
static int
step_cleanup(struct pipeline *p)
{
	struct trace_span	 sp;
	char			*err = NULL;
	int			 rc = -1;

	enter(p, "cleanup", "removing the session worktree");
	trace_begin(&p->trace, &sp, "worktree", "session_worktree_removed",
	    NULL);
	gitops_repo_release(&p->wt);
	empty_worktree(p->session.path);
	if (repo_lock(p, "cleanup") == -1)
		err = xstrdup(p->w->gone || p->w->aborting ?
		    stop_reason(p->w) : "the repository lock was not granted");
	else {
		failpoint("cleanup");
		if (gitops_session_remove(&p->project, p->session.path,
		    p->session.branch, &err) == 0)
			rc = 0;
		repo_unlock(p);
	}
	if (rc == -1) {
		log_warnx("%s", err);
		trace_fail(&p->trace, &sp, err, NULL);
		xasprintf(&p->out->detail, "landed, but its session was not "
		    "removed: %s", err);
		p->failed_outcome = "aborted";
	} else {
		trace_end(&p->trace, &sp, NULL);
		p->have_session = 0;
	}
	free(err);
	remove_tree(p->job_cache);
	return rc;
}

/* Keep the session for the operator: sentinel, result, trace. */
static void
keep_session(struct pipeline *p)
{
	struct sentinel	 s;
	cJSON		*data;
	char		*err = NULL;

	memset(&s, 0, sizeof(s));
	s.outcome = p->failed_outcome;
	s.at_ms = now_wall_ms();
	s.job_id = p->a->job_id;
	s.base_sha = p->session.base;
	s.conflict_paths = &p->conflicts;
	s.reason = p->out->detail;
	if (sentinel_write(p->session.path, &s, &err) == -1) {
		log_warnx("%s", err);
		free(err);
	}
	p->out->worktree = xstrdup(p->session.path);
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "path", p->session.path);
	cJSON_AddStringToObject(data, "branch", p->session.branch);
	cJSON_AddStringToObject(data, "outcome", s.outcome);
	trace_event(&p->trace, TRACE_INFO, "worktree", "session_worktree_kept",
	    -1, data, NULL);
}

/*
 * What may run: the connection's secrets resolve, and it has an adapter.
 * Nothing has run when this fails.
 */
static int
step_prepare(struct pipeline *p, const struct source_adapter **ad)
{
	struct trace_span	 sp;
	char			*err = NULL;
	int			 builtin_db;

	trace_begin(&p->trace, &sp, "run", "resolve_secrets", NULL);
	if (secrets_resolve(p->conn, p->a->project_dir, &p->secrets,
	    &err) == -1) {
		step_failed(p, &sp, err);
		free(err);
		return -1;
	}
	trace_end(&p->trace, &sp, NULL);
	*ad = NULL;
	if (p->conn->adapter_command.n > 0)
		return 0;
	builtin_db = p->conn->kind == DRIVER_DATABASE &&
	    (strcmp(p->conn->driver, "sqlite") == 0 ||
	    strcmp(p->conn->driver, "postgres") == 0);
	if (p->conn->kind == DRIVER_SOURCE)
		*ad = source_adapter_find(p->conn->driver);
	if (p->a->remote_input != NULL && p->conn->source_dir == NULL)
		xasprintf(&err, "input from \"%s\" is not supported yet: this "
		    "build reads local input only", p->a->remote_input);
	else if (!builtin_db && *ad == NULL)
		xasprintf(&err, "driver \"%s\" is not supported yet",
		    p->conn->driver);
	if (err != NULL) {
		trace_event(&p->trace, TRACE_ERROR, "run", "adapter_unavailable",
		    -1, NULL, err);
		fail(p, "failed", "crash", err);
		free(err);
		return -1;
	}
	return 0;
}

/* YYYY-MM-DD-HHMMSS-<jobId>, UTC.  Caller frees. */
static char *
new_sync_id(const char *job_id)
{
	char		 stamp[32], *id;
	time_t		 now = time(NULL);
	struct tm	 tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d-%H%M%S", &tm);
	xasprintf(&id, "%s-%s", stamp, job_id);
	return id;
}

void
pipeline_run(struct worker *w, struct assignment *a, struct outcome *out)
{
	struct pipeline			 p;
	const struct source_adapter	*ad = NULL;
	enum trace_level		 level;
	cJSON				*data;
	char				*err = NULL;
	int64_t				 start = now_monotonic_ms();
	int				 rc;

	memset(&p, 0, sizeof(p));
	p.w = w;
	p.a = a;
	p.conn = &a->conn;
	p.out = out;
	p.phase = "run";
	p.source_key = plan_source_key(p.conn);
	p.author.name = a->author_name;
	p.author.email = a->author_email;
	p.sync_id = new_sync_id(a->job_id);
	xasprintf(&p.job_cache, "%s/%s/%s", a->project_dir, STAGING_ROOT,
	    a->job_id);
	xasprintf(&p.staging_dir, "%s/staged", p.job_cache);
	xasprintf(&p.snapshot_dir, "raw-sources/%s/%s/%s", p.conn->id,
	    p.source_key, p.sync_id);
	if (trace_level_parse(getenv(TRACE_LEVEL_ENV), &level) == -1) {
		log_warnx("%s=\"%s\" is not error, info, debug or trace; using "
		    "debug", TRACE_LEVEL_ENV, getenv(TRACE_LEVEL_ENV));
		level = TRACE_DEBUG;
	}
	if (trace_open(&p.trace, a->project_dir, a->job_id, p.conn->id,
	    p.source_key, a->run_id, level, &err) == -1) {
		log_warnx("%s", err);
		free(err);
		err = NULL;
	} else
		out->trace = xstrdup(p.trace.path);
	trace_set_sync_id(&p.trace, p.sync_id);
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "trigger", "scheduled_pull");
	cJSON_AddStringToObject(data, "driver", p.conn->driver);
	cJSON_AddStringToObject(data, "adapter",
	    p.conn->adapter_command.n > 0 ? "command" : "built-in");
	trace_event(&p.trace, TRACE_INFO, "run", "ingest_started", -1, data,
	    NULL);

	rc = step_prepare(&p, &ad);
	if (rc == 0 && gitops_init(&err) == -1) {
		trace_event(&p.trace, TRACE_ERROR, "run", "git_init_failed", -1,
		    NULL, err);
		fail(&p, "failed", "crash", err);
		free(err);
		rc = -1;
	} else if (rc == 0)
		p.git_ready = 1;
	if (rc == 0 && !stopped(&p))
		rc = step_session(&p);
	if (rc == 0 && !stopped(&p)) {
		if (p.conn->adapter_command.n > 0)
			rc = run_adapter_command(&p);
		else if (ad != NULL)
			rc = run_source_adapter(&p, ad);
		else
			rc = run_database_scan(&p);
	}
	if (rc == 0 && !stopped(&p))
		rc = step_refresh(&p);
	if (rc == 0 && !stopped(&p))
		rc = step_reconcile(&p);
	if (rc == 0 && !stopped(&p))
		rc = step_final(&p);

	if (out->status == NULL) {
		out->status = "done";
		if (step_cleanup(&p) == -1)
			keep_session(&p);
		data = cJSON_CreateObject();
		if (out->commit != NULL)
			cJSON_AddStringToObject(data, "commit", out->commit);
		else
			cJSON_AddNullToObject(data, "commit");
		trace_event(&p.trace, TRACE_INFO, "run", "ingest_finished",
		    now_monotonic_ms() - start, data, NULL);
	} else {
		if (p.have_session)
			keep_session(&p);
		data = cJSON_CreateObject();
		cJSON_AddStringToObject(data, "phase", p.phase);
		cJSON_AddStringToObject(data, "status", out->status);
		if (out->trace != NULL)
			cJSON_AddStringToObject(data, "tracePath", out->trace);
		trace_event(&p.trace, TRACE_ERROR, "run", "ingest_failed",
		    now_monotonic_ms() - start, data, out->detail);
	}

	gitops_repo_release(&p.wt);
	gitops_session_release(&p.session);
	gitops_repo_release(&p.project);
	if (p.git_ready)
		gitops_shutdown();
	secrets_release(&p.secrets);
	trace_close(&p.trace);
	strv_release(&p.raw_paths);
	strv_release(&p.conflicts);
	free(p.sync_id);
	free(p.job_cache);
	free(p.staging_dir);
	free(p.snapshot_dir);
}
