/*
 * One ingest run: the poll loop that dispatches targets to workers (stage
 * 1 one at a time, then stage 2 up to max_concurrency), talks to them,
 * reaps them, enforces timeouts, acts on signals, and reports.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "ktxconfig.h"
#include "log.h"
#include "plan.h"
#include "proc.h"
#include "proto.h"
#include "selfpipe.h"
#include "sentinel.h"
#include "supervisor.h"
#include "trace.h"
#include "util.h"

/* How long a worker that hung up without a result has to exit. */
#define HANGUP_GRACE_MS	2000

static const char *const status_names[] = {
	[STATUS_DONE] = "done",
	[STATUS_FAILED] = "failed",
	[STATUS_CONFLICT] = "conflict",
	[STATUS_TIMEOUT] = "timeout",
	[STATUS_ABORTED] = "aborted",
	[STATUS_NOT_RUN] = "not-run",
	[STATUS_SKIPPED] = "skipped",
};

const char *
target_status_name(enum target_status status)
{
	return status_names[status];
}

static int
status_from_name(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strcmp(status_names[i], name) == 0)
			return i;
	return STATUS_FAILED;
}

int64_t
run_clock(const struct run *r)
{
	int64_t	now = r->frozen ? r->frozen_at : now_monotonic_ms();

	return now - r->frozen_ms;
}

/*
 * The UTC time to the second and its microseconds in six hex digits.  Runs
 * of a project never overlap (the pidfile), so their ids, their job ids
 * and the syncIds made of them sort in the order the runs started even
 * within one second: ktx takes the greatest sync dir as the latest, and a
 * random suffix made a rerun's snapshot sort before the one it repeats.
 * Caller frees.
 */
static char *
new_run_id(void)
{
	char		 stamp[32], *id;
	struct timespec	 ts;
	struct tm	 tm;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		fatal("clock_gettime");
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	xasprintf(&id, "%s-%06lx", stamp, (unsigned long)(ts.tv_nsec / 1000));
	return id;
}

static void
update_title(const struct run *r)
{
	setproctitle("run %s, %zu targets left", r->id, r->ntargets - r->nfinished);
}

static void
kill_now(struct target *t)
{
	if (t->reaped)
		return;
	proc_kill_group(t->pid, SIGKILL);
	if (t->adapter_pgid)
		proc_kill_group(t->adapter_pgid, SIGKILL);
	t->kill_at = 0;
	t->killed = 1;
}

/* TERM, CONT in case it is stopped, KILL after the grace period. */
static void
terminate(struct run *r, struct target *t, enum stop_reason why)
{
	if (t->stop == STOP_NONE || why == STOP_PROTOCOL)
		t->stop = why;
	if (t->kill_at || t->killed || t->reaped)
		return;
	proc_kill_group(t->pid, SIGTERM);
	proc_kill_group(t->pid, SIGCONT);
	t->kill_at = run_clock(r) + r->grace_ms;
}

void
run_drop(struct run *r, struct target *t, const char *why)
{
	cJSON	*msg;
	char	*errmsg;

	if (t->stop == STOP_PROTOCOL)
		return;
	/*
	 * A worker we are stopping may die in the middle of a frame: what
	 * it sends now does not change why it stopped.
	 */
	if (t->stop != STOP_NONE && (t->kill_at || t->killed)) {
		log_debug("%s: worker stopping: %s", t->pt->conn->id, why);
		proto_conn_release(&t->conn);
		return;
	}
	log_warnx("%s: dropping the worker: %s", t->pt->conn->id, why);
	if (t->conn.fd != -1) {
		msg = proto_new(PROTO_ERROR);
		cJSON_AddStringToObject(msg, "code", "protocol");
		cJSON_AddStringToObject(msg, "message", why);
		if (proto_send(t->conn.fd, msg, &errmsg) != 0)
			free(errmsg);
		cJSON_Delete(msg);
		proto_conn_release(&t->conn);
	}
	free(t->detail);
	xasprintf(&t->detail, "protocol error: %s", why);
	terminate(r, t, STOP_PROTOCOL);
}

static cJSON *
string_or_null(const char *s)
{
	return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* cJSON_CreateStringArray refuses an empty list. */
static cJSON *
string_array(const struct strv *sv)
{
	cJSON	*a = cJSON_CreateArray();
	size_t	 i;

	for (i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
	return a;
}

static void
send_assign(struct run *r, struct target *t)
{
	const struct ktx_connection	*c = t->pt->conn;
	cJSON				*msg, *conn, *adapter, *author;
	cJSON				*warehouses;
	char				*errmsg, *why;
	size_t				 i;

	msg = proto_new(PROTO_ASSIGN);
	cJSON_AddStringToObject(msg, "target", c->id);
	cJSON_AddStringToObject(msg, "run_id", r->id);
	cJSON_AddStringToObject(msg, "job_id", t->job_id);
	cJSON_AddStringToObject(msg, "project_dir", r->project_dir);
	cJSON_AddNumberToObject(msg, "grace", r->grace_ms / 1000);
	author = cJSON_AddObjectToObject(msg, "author");
	cJSON_AddStringToObject(author, "name", r->cfg->author_name);
	cJSON_AddStringToObject(author, "email", r->cfg->author_email);
	warehouses = cJSON_AddArrayToObject(msg, "warehouses");
	for (i = 0; i < r->cfg->nconnections; i++)
		if (r->cfg->connections[i].kind == DRIVER_DATABASE)
			cJSON_AddItemToArray(warehouses, cJSON_CreateString(
			    r->cfg->connections[i].id));
	conn = cJSON_AddObjectToObject(msg, "connection");
	cJSON_AddStringToObject(conn, "id", c->id);
	cJSON_AddStringToObject(conn, "driver", c->driver);
	cJSON_AddStringToObject(conn, "kind",
	    c->kind == DRIVER_DATABASE ? "database" : "source");
	cJSON_AddItemToObject(conn, "path", string_or_null(c->path));
	cJSON_AddItemToObject(conn, "url", string_or_null(c->url));
	cJSON_AddItemToObject(conn, "source_dir", string_or_null(c->source_dir));
	cJSON_AddItemToObject(conn, "mappings_connection",
	    string_or_null(c->mappings_connection));
	cJSON_AddItemToObject(conn, "remote_input",
	    string_or_null(c->remote_input));
	cJSON_AddItemToObject(conn, "enabled_tables",
	    string_array(&c->enabled_tables));
	adapter = cJSON_AddObjectToObject(conn, "adapter");
	cJSON_AddItemToObject(adapter, "command",
	    string_array(&c->adapter_command));
	cJSON_AddNumberToObject(adapter, "timeout", c->adapter_timeout);
	cJSON_AddItemToObject(adapter, "secrets",
	    string_array(&c->adapter_secrets));
	if (proto_send(t->conn.fd, msg, &errmsg) != 0) {
		xasprintf(&why, "cannot send the assignment: %s", errmsg);
		run_drop(r, t, why);
		free(why);
		free(errmsg);
	}
	cJSON_Delete(msg);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
take_result(struct target *t, const struct proto_msg *msg)
{
	t->has_result = 1;
	t->status = status_from_name(proto_str(msg, "status"));
	free(t->detail);
	t->detail = dup_or_null(proto_str(msg, "detail"));
	t->exit_code = proto_int(msg, "exit_code", -1);
	t->signal = proto_int(msg, "signal", 0);
	t->commit = dup_or_null(proto_str(msg, "commit"));
	t->trace = dup_or_null(proto_str(msg, "trace"));
	t->worktree = dup_or_null(proto_str(msg, "worktree"));
	/* The worker reports only after its adapter's group is gone. */
	t->adapter_pgid = 0;
}

static int
is_hex(const char *s, size_t len)
{
	return strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

/*
 * The session a worker announces must be where sessions live, since the
 * supervisor may write a sentinel into it: <project>/.ktx/worktrees/
 * session-<key>, the key one path component.  NULL when it is, else why
 * not (caller frees).
 */
static char *
check_session(const struct run *r, const struct proto_msg *msg)
{
	const char	*path = proto_str(msg, "path");
	const char	*branch = proto_str(msg, "branch");
	char		*prefix, *why = NULL;
	size_t		 len;

	xasprintf(&prefix, "%s/.ktx/worktrees/session-", r->project_dir);
	len = strlen(prefix);
	if (strncmp(path, prefix, len) != 0 || path[len] == '\0' ||
	    strchr(path + len, '/') != NULL)
		xasprintf(&why, "session worktree \"%s\" is not in \"%s\"",
		    path, r->project_dir);
	else if (strncmp(branch, "session/", 8) != 0 ||
	    strcmp(branch + 8, path + len) != 0)
		xasprintf(&why, "session branch \"%s\" does not match \"%s\"",
		    branch, path);
	else if (!is_hex(proto_str(msg, "base"), 40))
		xasprintf(&why, "session base \"%s\" is not a commit id",
		    proto_str(msg, "base"));
	free(prefix);
	return why;
}

void
target_left_session(struct run *r, struct target *t)
{
	const struct ktx_connection	*c = t->pt->conn;
	struct sentinel			 s;
	struct trace			 tr;
	struct stat			 st;
	enum trace_level		 level;
	cJSON				*data;
	char				*path, *errmsg = NULL;

	if (t->has_result) {
		/* Stopped for a timeout, it could only tell it was aborted. */
		if (t->worktree != NULL && t->status == STATUS_TIMEOUT &&
		    (t->stop == STOP_TIMEOUT || t->stop == STOP_LOCK_HOLD) &&
		    sentinel_update(t->worktree, "timeout", t->detail,
		    &errmsg) == -1) {
			log_warnx("%s: %s", c->id, errmsg);
			free(errmsg);
		}
		return;
	}
	if (t->session_path == NULL) {
		/*
		 * Dead between the creation of its session and the message
		 * naming it: the session is where the job id puts it.
		 */
		xasprintf(&path, "%s/.ktx/worktrees/session-%s", r->project_dir,
		    t->job_id);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			t->session_path = path;
		else
			free(path);
	}
	if (trace_level_parse(getenv(TRACE_LEVEL_ENV), &level) == -1)
		level = TRACE_DEBUG;
	if (trace_open(&tr, r->project_dir, t->job_id, c->id,
	    plan_source_key(c), r->id, level, &errmsg) == -1) {
		log_warnx("%s: %s", c->id, errmsg);
		free(errmsg);
		errmsg = NULL;
	}
	data = cJSON_CreateObject();
	cJSON_AddNumberToObject(data, "pid", t->pid);
	cJSON_AddItemToObject(data, "worktree", string_or_null(
	    t->session_path));
	trace_event(&tr, TRACE_ERROR, "run", "worker_died", -1, data,
	    t->detail);
	if (access(tr.path, F_OK) == 0)
		t->trace = xstrdup(tr.path);
	trace_close(&tr);

	if (t->session_path == NULL || lstat(t->session_path, &st) == -1 ||
	    !S_ISDIR(st.st_mode))
		return;
	t->worktree = xstrdup(t->session_path);
	xasprintf(&path, "%s/%s", t->session_path, SENTINEL_FILE);
	/* Whoever saw the death first (the lock server) may have written it. */
	if (access(path, F_OK) == -1) {
		memset(&s, 0, sizeof(s));
		s.outcome = t->stop == STOP_TIMEOUT ||
		    t->stop == STOP_LOCK_HOLD ? "timeout" :
		    t->stop == STOP_ABORT ? "aborted" : "crash";
		s.at_ms = now_wall_ms();
		s.job_id = t->job_id;
		s.base_sha = t->session_base;
		s.reason = t->detail;
		if (sentinel_write(t->session_path, &s, &errmsg) == -1) {
			log_warnx("%s: %s", c->id, errmsg);
			free(errmsg);
		}
	}
	free(path);
}

static void
handle_message(struct run *r, struct target *t, const struct proto_msg *msg)
{
	const char	*name = proto_type_name(msg->type);
	char		*why = NULL;
	pid_t		 pgid;

	if (msg->type != PROTO_HELLO && msg->type != PROTO_ERROR &&
	    !t->said_hello)
		xasprintf(&why, "\"%s\" before \"hello\"", name);
	else if (t->has_result)
		xasprintf(&why, "\"%s\" after the result", name);
	if (why != NULL)
		goto drop;

	switch (msg->type) {
	case PROTO_HELLO:
		if (t->said_hello)
			xasprintf(&why, "a second \"hello\"");
		else if (strcmp(proto_str(msg, "target"), t->pt->conn->id) != 0 ||
		    proto_int(msg, "pid", 0) != t->pid)
			xasprintf(&why, "\"hello\" from \"%s\" pid %lld, expected "
			    "\"%s\" pid %d", proto_str(msg, "target"),
			    (long long)proto_int(msg, "pid", 0), t->pt->conn->id,
			    (int)t->pid);
		if (why != NULL)
			goto drop;
		t->said_hello = 1;
		send_assign(r, t);
		return;
	case PROTO_SPAWNED:
		pgid = proto_int(msg, "pgid", 0);
		/* An adapter that is already gone has nothing left to signal. */
		if (!children_owns_group(t->pid, pgid)) {
			log_debug("%s: ignoring process group %d", t->pt->conn->id,
			    (int)pgid);
			return;
		}
		t->adapter_pgid = pgid;
		if (t->killed)
			proc_kill_group(pgid, SIGKILL);
		else if (r->frozen)
			proc_kill_group(pgid, SIGSTOP);
		return;
	case PROTO_PROGRESS:
		render_progress(r, t, proto_str(msg, "phase"),
		    proto_int(msg, "percent", -1), proto_str(msg, "message"));
		return;
	case PROTO_RESULT:
		take_result(t, msg);
		return;
	case PROTO_ACQUIRE:
	case PROTO_RELEASE:
		if (lockserv_message(r, t, msg, &why) != 0)
			goto drop;
		return;
	case PROTO_SESSION:
		if (t->session_path != NULL)
			xasprintf(&why, "a second \"session\"");
		else
			why = check_session(r, msg);
		if (why != NULL)
			goto drop;
		t->session_path = xstrdup(proto_str(msg, "path"));
		t->session_base = xstrdup(proto_str(msg, "base"));
		return;
	case PROTO_ERROR:
		xasprintf(&why, "the worker reported %s: %s",
		    proto_str(msg, "code"), proto_str(msg, "message"));
		goto drop;
	default:
		xasprintf(&why, "unexpected \"%s\"", name);
		goto drop;
	}
drop:
	run_drop(r, t, why);
	free(why);
}

/* Read and handle everything the worker has sent so far. */
static void
read_target(struct run *r, struct target *t)
{
	struct proto_msg	 msg;
	char			*errmsg;
	ssize_t			 n;
	int			 rc;

	while (t->conn.fd != -1) {
		n = proto_conn_fill(&t->conn);
		while (t->conn.fd != -1 &&
		    (rc = proto_next(&t->conn, &msg, &errmsg)) != 0) {
			if (rc == -1) {
				run_drop(r, t, errmsg);
				free(errmsg);
				return;
			}
			handle_message(r, t, &msg);
			proto_msg_release(&msg);
		}
		if (t->conn.fd == -1 || (n == -1 && errno == EAGAIN))
			return;
		if (n == -1)
			log_warn("%s: read from the worker", t->pt->conn->id);
		if (n <= 0) {
			proto_conn_release(&t->conn);
			/* A worker exits after its result; one that hangs up
			 * and lives on can neither report nor take a lock. */
			if (!t->has_result && t->stop == STOP_NONE)
				t->hangup_at = run_clock(r) + HANGUP_GRACE_MS;
			return;
		}
	}
}

/* The target's status, from its result, why we stopped it, or its exit. */
static void
settle(struct run *r, struct target *t, int wstatus)
{
	char	sig[PROC_SIGNAME_MAX], abortsig[PROC_SIGNAME_MAX];
	char	*detail = NULL;

	proc_signame(r->aborting, abortsig);
	if (!t->has_result) {
		t->exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
		t->signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
	}
	if (t->stop == STOP_PROTOCOL) {
		t->status = STATUS_FAILED;
		return;
	}
	if (t->has_result && !(t->status == STATUS_ABORTED && t->stop != STOP_NONE))
		return;
	if (t->stop == STOP_TIMEOUT) {
		t->status = STATUS_TIMEOUT;
		xasprintf(&detail, "timed out after %lld s",
		    (long long)(t->timeout_ms / 1000));
	} else if (t->stop == STOP_LOCK_HOLD) {
		t->status = STATUS_TIMEOUT;
		xasprintf(&detail, "held the repository lock longer than %lld s "
		    "(ingest.lock.maxHoldSeconds)",
		    (long long)(r->locks.max_hold_ms / 1000));
	} else if (t->stop == STOP_ABORT) {
		t->status = STATUS_ABORTED;
		xasprintf(&detail, "aborted by %s", abortsig);
	} else {
		t->status = STATUS_FAILED;
		if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127 &&
		    !t->said_hello)
			xasprintf(&detail, "cannot run the worker \"%s\"",
			    r->worker_path);
		else if (WIFEXITED(wstatus))
			xasprintf(&detail, "the worker exited with status %d "
			    "without a result", WEXITSTATUS(wstatus));
		else
			xasprintf(&detail, "the worker was killed by %s without "
			    "a result", proc_signame(WTERMSIG(wstatus), sig));
	}
	free(t->detail);
	t->detail = detail;
}

static void
finish_target(struct run *r, struct target *t)
{
	t->state = TARGET_FINISHED;
	t->finished_mono = now_monotonic_ms();
	t->finished_wall = now_wall_ms();
	r->nfinished++;
	render_end(r, t);
	update_title(r);
}

static void
target_exited(struct run *r, struct target *t, int wstatus)
{
	t->reaped = 1;
	/* What it sent before it exited is still in the socket. */
	read_target(r, t);
	if (t->conn.fd != -1)
		proto_conn_release(&t->conn);
	/* It died without cleaning up after its adapter. */
	if (t->adapter_pgid) {
		proc_kill_group(t->adapter_pgid, SIGKILL);
		proc_kill_group(t->adapter_pgid, SIGCONT);
		t->adapter_pgid = 0;
	}
	settle(r, t, wstatus);
	/* Its sentinel before the next holder of its lock is granted. */
	target_left_session(r, t);
	/* Dead for sure: what it held can be cleaned up and handed on. */
	lockserv_gone(r, t);
	r->nrunning--;
	finish_target(r, t);
}

static void
start_target(struct run *r, struct target *t)
{
	char	*errmsg;
	int	 fd;

	t->started_mono = now_monotonic_ms();
	t->started_wall = now_wall_ms();
	t->phase = xstrdup("starting");
	t->percent = -1;
	render_start(r, t);
	t->pid = children_spawn(r->worker_path, t->pt->conn->id, &fd, &errmsg);
	if (t->pid == -1) {
		t->status = STATUS_FAILED;
		xasprintf(&t->detail, "cannot start the worker: %s", errmsg);
		free(errmsg);
		finish_target(r, t);
		return;
	}
	proto_conn_init(&t->conn, fd);
	t->state = TARGET_RUNNING;
	r->nrunning++;
	t->timeout_ms = r->timeout_ms;
	if (t->timeout_ms == 0 && t->pt->conn->kind == DRIVER_SOURCE)
		t->timeout_ms = r->sources_timeout_ms;
	if (t->timeout_ms > 0)
		t->deadline = run_clock(r) + t->timeout_ms;
	update_title(r);
}

static int
stage1_running(const struct run *r)
{
	size_t	i;

	for (i = 0; i < r->ntargets; i++)
		if (r->targets[i].state == TARGET_RUNNING &&
		    r->targets[i].pt->stage == 1)
			return 1;
	return 0;
}

/*
 * Start what may start: a database target only when nothing runs, a
 * source target only once every database worker has been reaped and
 * fewer than max_concurrency workers run.
 */
static void
dispatch(struct run *r)
{
	struct target	*t;
	size_t		 max = r->plan->max_concurrency > 0 ?
			    (size_t)r->plan->max_concurrency : 1;

	while (!r->draining && !r->aborting && !r->frozen &&
	    r->next < r->ntargets) {
		t = &r->targets[r->next];
		if (t->pt->stage == 1 ? r->nrunning > 0 :
		    stage1_running(r) || r->nrunning >= max)
			return;
		r->next++;
		start_target(r, t);
	}
}

static void
reap(struct run *r)
{
	struct target	*t;
	pid_t		 pid;
	size_t		 i;
	int		 status;

	while (children_reap(&pid, &status)) {
		for (i = 0, t = NULL; i < r->ntargets; i++)
			if (r->targets[i].state == TARGET_RUNNING &&
			    r->targets[i].pid == pid)
				t = &r->targets[i];
		if (t == NULL) {
			log_debug("reaped unknown pid %d", (int)pid);
			continue;
		}
		if (WIFSTOPPED(status))
			t->stopped = 1;
		else if (WIFCONTINUED(status))
			t->stopped = 0;
		else
			target_exited(r, t, status);
	}
}

static void
signal_groups(struct run *r, int sig)
{
	size_t	i;

	for (i = 0; i < r->ntargets; i++) {
		if (r->targets[i].state != TARGET_RUNNING)
			continue;
		proc_kill_group(r->targets[i].pid, sig);
		if (r->targets[i].adapter_pgid)
			proc_kill_group(r->targets[i].adapter_pgid, sig);
	}
}

void
run_thaw(struct run *r)
{
	if (!r->frozen)
		return;
	r->frozen_ms += now_monotonic_ms() - r->frozen_at;
	r->frozen = 0;
	signal_groups(r, SIGCONT);
	log_info("thawed: %zu workers continue", r->nrunning);
}

void
run_freeze(struct run *r)
{
	size_t	i;

	if (r->frozen)
		return;
	r->frozen = 1;
	r->frozen_at = now_monotonic_ms();
	signal_groups(r, SIGSTOP);
	/* A "spawned" on its way names a group to stop as well. */
	for (i = 0; i < r->ntargets; i++)
		if (r->targets[i].state == TARGET_RUNNING)
			read_target(r, &r->targets[i]);
	log_info("frozen: %zu workers stopped; SIGCONT thaws", r->nrunning);
}

static void
abort_run(struct run *r, int sig)
{
	char	name[PROC_SIGNAME_MAX];
	size_t	i;

	r->aborting = sig;
	run_thaw(r);
	log_info("%s: aborting %zu running targets (grace %lld s; again to kill "
	    "them now)", proc_signame(sig, name), r->nrunning,
	    (long long)(r->grace_ms / 1000));
	for (i = 0; i < r->ntargets; i++)
		if (r->targets[i].state == TARGET_RUNNING)
			terminate(r, &r->targets[i], STOP_ABORT);
}

static void
escalate(struct run *r)
{
	struct target	*t;
	size_t		 i;

	r->escalated = 1;
	log_info("killing %zu running targets now", r->nrunning);
	for (i = 0; i < r->ntargets; i++) {
		t = &r->targets[i];
		if (t->state != TARGET_RUNNING)
			continue;
		if (t->stop == STOP_NONE)
			t->stop = STOP_ABORT;
		kill_now(t);
	}
}

void
run_abort(struct run *r, int sig)
{
	if (!r->aborting)
		abort_run(r, sig);
	else if (!r->escalated)
		escalate(r);
}

void
run_drain(struct run *r, const char *why)
{
	if (r->draining)
		return;
	log_info("%s: draining: %zu running targets finish, %zu queued are not "
	    "run", why, r->nrunning, r->ntargets - r->next);
	r->draining = 1;
	r->drained_by = why;
}

static void
handle_signals(struct run *r)
{
	int	sigs[64], n = 0, i, j, cont_follows;

	while (n < (int)(sizeof(sigs) / sizeof(sigs[0])) &&
	    (sigs[n] = selfpipe_next()) != 0)
		n++;
	for (i = 0; i < n; i++) {
		switch (sigs[i]) {
		case SIGINT:
		case SIGTERM:
			run_abort(r, sigs[i]);
			break;
		case SIGTSTP:
			run_freeze(r);
			for (j = i + 1, cont_follows = 0; j < n; j++)
				cont_follows |= sigs[j] == SIGCONT;
			/* Stop like a shell job; SIGCONT lands in the pipe. */
			if (!cont_follows) {
				live_paint_now(r);
				r->live.stopped_self = 1;
				raise(SIGSTOP);
			}
			break;
		case SIGCONT:
			/* The shell said "Stopped" under the view: keep both. */
			if (r->live.stopped_self)
				live_forget(r);
			r->live.stopped_self = 0;
			run_thaw(r);
			break;
		case SIGWINCH:
			live_resize(r);
			break;
		case SIGHUP:
			run_drain(r, "SIGHUP");
			break;
		case SIGUSR1:
			live_erase(r);
			render_snapshot(r, stderr);
			break;
		}
	}
}

static void
run_timers(struct run *r)
{
	struct target	*t;
	int64_t		 now = run_clock(r);
	size_t		 i;

	if (r->frozen)
		return;
	for (i = 0; i < r->ntargets; i++) {
		t = &r->targets[i];
		if (t->state != TARGET_RUNNING)
			continue;
		if (t->deadline && t->stop == STOP_NONE && now >= t->deadline)
			terminate(r, t, STOP_TIMEOUT);
		if (t->kill_at && now >= t->kill_at)
			kill_now(t);
		if (t->hangup_at && now >= t->hangup_at) {
			t->hangup_at = 0;
			run_drop(r, t, "the worker closed its connection without"
			    " a result and did not exit");
		}
	}
	while ((t = lockserv_overdue(r)) != NULL)
		terminate(r, t, STOP_LOCK_HOLD);
}

static int
poll_timeout(const struct run *r)
{
	const struct target	*t;
	int64_t			 next = 0, left;
	size_t			 i;

	if (r->frozen)
		return -1;
	for (i = 0; i < r->ntargets; i++) {
		t = &r->targets[i];
		if (t->state != TARGET_RUNNING)
			continue;
		if (t->deadline && t->stop == STOP_NONE &&
		    (next == 0 || t->deadline < next))
			next = t->deadline;
		if (t->kill_at && (next == 0 || t->kill_at < next))
			next = t->kill_at;
		if (t->hangup_at && (next == 0 || t->hangup_at < next))
			next = t->hangup_at;
	}
	if ((left = lockserv_deadline(r)) != -1 && (next == 0 || left < next))
		next = left;
	if (next == 0)
		return -1;
	left = next - run_clock(r);
	return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* The sooner of the timers' and the live view's. */
static int
loop_timeout(const struct run *r)
{
	int	a = poll_timeout(r), b = live_timeout(r);

	return a == -1 ? b : b == -1 ? a : a < b ? a : b;
}

static void
loop(struct run *r)
{
	struct pollfd	*pfd;
	struct target	**who;
	size_t		 i, n, nt;

	pfd = xcalloc(r->ntargets + 2 + CONTROL_MAX_CLIENTS, sizeof(*pfd));
	who = xcalloc(r->ntargets + 1, sizeof(*who));
	for (;;) {
		dispatch(r);
		if (r->nrunning == 0 && (r->next == r->ntargets ||
		    r->draining || r->aborting))
			break;
		n = 0;
		pfd[n].fd = r->sigfd;
		pfd[n++].events = POLLIN;
		for (i = 0; i < r->ntargets; i++) {
			if (r->targets[i].state != TARGET_RUNNING ||
			    r->targets[i].conn.fd == -1)
				continue;
			who[n] = &r->targets[i];
			pfd[n].fd = r->targets[i].conn.fd;
			pfd[n++].events = POLLIN;
		}
		nt = n;
		n += control_pollfds(&r->control, pfd + nt);
		live_update(r);
		if (poll(pfd, n, loop_timeout(r)) == -1 && errno != EINTR)
			fatal("poll");
		for (i = 1; i < nt; i++)
			if (pfd[i].revents != 0 && who[i]->state == TARGET_RUNNING)
				read_target(r, who[i]);
		control_dispatch(&r->control, r, pfd + nt, n - nt);
		handle_signals(r);
		reap(r);
		run_timers(r);
	}
	free(pfd);
	free(who);
}

static int
write_record(const struct run *r, const char *text)
{
	char	*dir, *tmp, *path;
	FILE	*f = NULL;
	int	 fd, rc = -1;

	xasprintf(&dir, "%s/.ktx/runs", r->project_dir);
	xasprintf(&tmp, "%s/.%s.json.tmp", dir, r->id);
	xasprintf(&path, "%s/%s.json", dir, r->id);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_warn("cannot create \"%s\"", dir);
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL) {
		log_warn("cannot write the run record \"%s\"", tmp);
		if (fd != -1)
			close(fd);
		goto out;
	}
	if (fputs(text, f) == EOF || fputc('\n', f) == EOF ||
	    fflush(f) == EOF || fsync(fileno(f)) == -1) {
		log_warn("cannot write the run record \"%s\"", tmp);
		fclose(f);
		unlink(tmp);
		goto out;
	}
	fclose(f);
	if (rename(tmp, path) == -1) {
		log_warn("cannot rename \"%s\" to \"%s\"", tmp, path);
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(dir);
	free(tmp);
	free(path);
	return rc;
}

/* Targets never started, and why. */
static void
mark_not_run(struct run *r)
{
	char	name[PROC_SIGNAME_MAX];
	size_t	i;

	for (i = 0; i < r->ntargets; i++) {
		if (r->targets[i].state != TARGET_QUEUED)
			continue;
		r->targets[i].status = STATUS_NOT_RUN;
		if (r->aborting)
			xasprintf(&r->targets[i].detail, "not started: the run was "
			    "aborted by %s", proc_signame(r->aborting, name));
		else
			xasprintf(&r->targets[i].detail, "not started: the run was "
			    "drained by %s", r->drained_by);
	}
}

static void
report(struct run *r)
{
	cJSON	*doc = render_document(r);
	char	*text = cJSON_Print(doc);

	if (text == NULL)
		fatalx("cannot encode the results");
	live_end(r);
	if (r->opts->json)
		printf("%s\n", text);
	else
		render_table(r, stdout);
	if (fflush(stdout) == EOF)
		log_warn("stdout");
	write_record(r, text);
	free(text);
	cJSON_Delete(doc);
}

static void
run_release(struct run *r)
{
	size_t	i;

	for (i = 0; i < r->ntargets; i++) {
		proto_conn_release(&r->targets[i].conn);
		free(r->targets[i].job_id);
		free(r->targets[i].phase);
		free(r->targets[i].detail);
		free(r->targets[i].commit);
		free(r->targets[i].trace);
		free(r->targets[i].worktree);
		free(r->targets[i].session_path);
		free(r->targets[i].session_base);
	}
	lockserv_release(r);
	free(r->targets);
	free(r->id);
}

int
run_ingest(struct cmd_context *ctx, const struct ktx_config *cfg,
    const struct plan *plan, const struct ingest_opts *opts)
{
	struct run	 r;
	const char	*env;
	char		*errmsg;
	pid_t		 holder;
	size_t		 i;
	int		 pidfd, status = EXIT_ALL_DONE;

	pidfd = pidfile_acquire(ctx->project_dir, &holder, &errmsg);
	if (pidfd == -2 && holder > 0)
		cmd_errorx("project \"%s\" is busy: ktx-supervisor pid %d is "
		    "running in it", ctx->project_dir, (int)holder);
	else if (pidfd == -2)
		cmd_errorx("project \"%s\" is busy: another ktx-supervisor is "
		    "running in it", ctx->project_dir);
	else if (pidfd == -1) {
		cmd_errorx("%s", errmsg);
		free(errmsg);
	}
	if (pidfd < 0)
		return pidfd == -2 ? EXIT_BUSY : EXIT_TARGET_FAILED;

	memset(&r, 0, sizeof(r));
	r.id = new_run_id();
	r.cfg = cfg;
	r.plan = plan;
	r.opts = opts;
	r.project_dir = ctx->project_dir;
	env = getenv("KTX_WORKER");
	r.worker_path = env != NULL && *env != '\0' ? env : KTX_WORKER_PATH;
	r.timeout_ms = (int64_t)opts->timeout * 1000;
	r.sources_timeout_ms = (int64_t)cfg->sources_timeout * 1000;
	r.grace_ms = (int64_t)opts->grace * 1000;
	r.ntargets = plan->ntargets;
	r.targets = xcalloc(r.ntargets, sizeof(*r.targets));
	r.last_printed = SIZE_MAX;
	for (i = 0; i < r.ntargets; i++) {
		r.targets[i].pt = &plan->targets[i];
		r.targets[i].number = i + 1;
		xasprintf(&r.targets[i].job_id, "%s-%s", r.id,
		    plan->targets[i].conn->id);
		r.targets[i].conn.fd = -1;
		r.targets[i].exit_code = -1;
	}
	lockserv_init(&r, cfg->lock_max_hold);
	if (control_open(&r.control, ctx->project_dir, &errmsg) == -1) {
		log_warnx("no control socket: %s", errmsg);
		free(errmsg);
	}
	if ((r.sigfd = signals_init()) == -1)
		fatal("signals");
	live_init(&r);
	update_title(&r);

	loop(&r);
	mark_not_run(&r);
	report(&r);
	control_close(&r.control);
	for (i = 0; i < r.ntargets; i++)
		if (r.targets[i].status != STATUS_DONE &&
		    r.targets[i].status != STATUS_SKIPPED)
			status = EXIT_TARGET_FAILED;
	pidfile_release(pidfd);
	signals_release();
	if (r.aborting) {
		int	sig = r.aborting;

		run_release(&r);
		signals_reraise(sig);
		return 128 + sig;
	}
	run_release(&r);
	return status;
}
