#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "selfpipe.h"
#include "worker.h"

/* How long a worker waits for its assignment after hello. */
#define ASSIGN_TIMEOUT_MS	30000

static void __attribute__((noreturn))
usage(void)
{
	fatalx("run by ktx-supervisor, not by hand (usage: ktx-worker CONNECTION, "
	    "with the supervisor's socket at fd %d)", PROTO_WORKER_FD);
}

static int
is_socket(int fd)
{
	struct stat	st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

void
worker_send(struct worker *w, cJSON *msg)
{
	char	*errmsg;

	if (!w->gone && proto_send(w->conn.fd, msg, &errmsg) != 0) {
		log_debug("supervisor: %s", errmsg);
		free(errmsg);
		w->gone = 1;
	}
	cJSON_Delete(msg);
}

static void
send_error(struct worker *w, const char *code, const char *message)
{
	cJSON	*msg = proto_new(PROTO_ERROR);

	cJSON_AddStringToObject(msg, "code", code);
	cJSON_AddStringToObject(msg, "message", message);
	worker_send(w, msg);
}

void
worker_phase(struct worker *w, const char *phase, const char *message)
{
	cJSON	*msg = proto_new(PROTO_PROGRESS);

	setproctitle("%s %s", w->target, phase);
	cJSON_AddStringToObject(msg, "phase", phase);
	cJSON_AddNullToObject(msg, "percent");
	cJSON_AddStringToObject(msg, "message", message);
	worker_send(w, msg);
}

void
worker_progress(struct worker *w, const char *phase, int percent,
    const char *message)
{
	cJSON	*msg = proto_new(PROTO_PROGRESS);

	cJSON_AddStringToObject(msg, "phase", phase);
	if (percent >= 0 && percent <= 100)
		cJSON_AddNumberToObject(msg, "percent", percent);
	else
		cJSON_AddNullToObject(msg, "percent");
	cJSON_AddStringToObject(msg, "message", message);
	worker_send(w, msg);
}

int
worker_orphaned(const struct worker *w)
{
	return getppid() != w->supervisor;
}

int
worker_check(struct worker *w)
{
	struct pollfd	pfd;
	char		c;
	int		sig;

	while ((sig = selfpipe_next()) != 0)
		if (sig == SIGTERM)
			w->aborting = 1;
	if (w->aborting && worker_orphaned(w))
		w->gone = 1;
	/* Nothing is expected from the supervisor here: EOF is all we look for. */
	pfd.fd = w->conn.fd;
	pfd.events = POLLIN;
	if (!w->gone && poll(&pfd, 1, 0) == 1 &&
	    recv(w->conn.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
		w->gone = 1;
	return w->aborting || w->gone;
}

static char *
dup_or_null(const cJSON *item)
{
	return cJSON_IsString(item) ? xstrdup(item->valuestring) : NULL;
}

static void
strings_from(struct strv *sv, const cJSON *array)
{
	const cJSON	*item;

	cJSON_ArrayForEach(item, array)
		strv_push(sv, item->valuestring);
}

#define MEMBER(obj, name)	cJSON_GetObjectItemCaseSensitive(obj, name)

/* Fill a from a validated assign message. */
static void
assignment_from(struct assignment *a, const struct proto_msg *msg)
{
	struct ktx_connection	*c = &a->conn;
	const cJSON		*conn, *adapter, *author;

	a->target = xstrdup(proto_str(msg, "target"));
	a->run_id = xstrdup(proto_str(msg, "run_id"));
	a->job_id = xstrdup(proto_str(msg, "job_id"));
	a->project_dir = xstrdup(proto_str(msg, "project_dir"));
	a->grace = proto_int(msg, "grace", 0);
	author = proto_get(msg, "author");
	a->author_name = xstrdup(MEMBER(author, "name")->valuestring);
	a->author_email = xstrdup(MEMBER(author, "email")->valuestring);
	strings_from(&a->warehouses, proto_get(msg, "warehouses"));
	conn = proto_get(msg, "connection");
	c->id = xstrdup(MEMBER(conn, "id")->valuestring);
	c->driver = xstrdup(MEMBER(conn, "driver")->valuestring);
	c->kind = strcmp(MEMBER(conn, "kind")->valuestring, "database") == 0 ?
	    DRIVER_DATABASE : DRIVER_SOURCE;
	c->path = dup_or_null(MEMBER(conn, "path"));
	c->url = dup_or_null(MEMBER(conn, "url"));
	c->source_dir = dup_or_null(MEMBER(conn, "source_dir"));
	c->mappings_connection = dup_or_null(MEMBER(conn,
	    "mappings_connection"));
	strings_from(&c->enabled_tables, MEMBER(conn, "enabled_tables"));
	a->remote_input = dup_or_null(MEMBER(conn, "remote_input"));
	adapter = MEMBER(conn, "adapter");
	strings_from(&c->adapter_command, MEMBER(adapter, "command"));
	strings_from(&c->adapter_secrets, MEMBER(adapter, "secrets"));
	c->adapter_timeout = MEMBER(adapter, "timeout")->valuedouble;
}

static void
assignment_release(struct assignment *a)
{
	struct ktx_connection	*c = &a->conn;

	free(a->target);
	free(a->run_id);
	free(a->job_id);
	free(a->project_dir);
	free(a->author_name);
	free(a->author_email);
	strv_release(&a->warehouses);
	free(c->id);
	free(c->driver);
	free(c->path);
	free(c->url);
	free(c->source_dir);
	free(c->mappings_connection);
	strv_release(&c->enabled_tables);
	strv_release(&c->adapter_command);
	strv_release(&c->adapter_secrets);
	free(a->remote_input);
	memset(a, 0, sizeof(*a));
}

/*
 * Wait for the assign message.  Returns 0, or -1 when there is nothing to
 * run: the supervisor went away, said something else, or sent SIGTERM.
 */
static int
read_assignment(struct worker *w, struct assignment *a)
{
	struct proto_msg	 msg;
	int64_t			 deadline = now_monotonic_ms() + ASSIGN_TIMEOUT_MS;
	char			*errmsg = NULL;
	int64_t			 left;
	int			 rc, sig, ret = -1;

	for (;;) {
		if ((left = deadline - now_monotonic_ms()) < 0)
			left = 0;
		rc = proto_recv(&w->conn, &msg, left, &errmsg);
		if (rc == 1)
			break;
		if (rc == 0) {
			w->gone = 1;
			goto out;
		}
		if (errno != EINTR) {
			log_warnx("waiting for the assignment: %s", errmsg);
			send_error(w, "bad-message", errmsg);
			goto out;
		}
		free(errmsg);
		errmsg = NULL;
		while ((sig = selfpipe_next()) != 0)
			if (sig == SIGTERM)
				goto out;
	}
	if (msg.type != PROTO_ASSIGN) {
		xasprintf(&errmsg, "expected \"assign\", got \"%s\"",
		    proto_type_name(msg.type));
		send_error(w, "unexpected", errmsg);
	} else if (strcmp(proto_str(&msg, "target"), w->target) != 0) {
		xasprintf(&errmsg, "assigned \"%s\" to the worker of \"%s\"",
		    proto_str(&msg, "target"), w->target);
		send_error(w, "bad-message", errmsg);
	} else {
		assignment_from(a, &msg);
		ret = 0;
	}
	proto_msg_release(&msg);
out:
	free(errmsg);
	return ret;
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
send_result(struct worker *w, const struct outcome *out)
{
	cJSON	*msg = proto_new(PROTO_RESULT);

	cJSON_AddStringToObject(msg, "status", out->status);
	add_string_or_null(msg, "detail", out->detail);
	if (out->exit_code >= 0)
		cJSON_AddNumberToObject(msg, "exit_code", out->exit_code);
	else
		cJSON_AddNullToObject(msg, "exit_code");
	if (out->signal > 0)
		cJSON_AddNumberToObject(msg, "signal", out->signal);
	else
		cJSON_AddNullToObject(msg, "signal");
	add_string_or_null(msg, "commit", out->commit);
	add_string_or_null(msg, "trace", out->trace);
	add_string_or_null(msg, "worktree", out->worktree);
	worker_send(w, msg);
}

int
main(int argc, char **argv)
{
	struct worker		 w;
	struct assignment	 a;
	struct outcome		 out;
	cJSON			*hello;

	log_init("ktx-worker", LOG_LEVEL_INFO);
	if (argc != 2 || !is_socket(PROTO_WORKER_FD))
		usage();
	memset(&w, 0, sizeof(w));
	memset(&a, 0, sizeof(a));
	memset(&out, 0, sizeof(out));
	out.exit_code = -1;
	w.supervisor = getppid();
	w.target = argv[1];
	/* Adapters must not hold the socket: EOF has to mean "worker gone". */
	if (fcntl(PROTO_WORKER_FD, F_SETFD, FD_CLOEXEC) == -1)
		fatal("fcntl");
	proto_conn_init(&w.conn, PROTO_WORKER_FD);
	if ((w.sigfd = selfpipe_open()) == -1 ||
	    selfpipe_catch(SIGTERM) == -1 || selfpipe_catch(SIGCHLD) == -1 ||
	    selfpipe_catch(SIGCONT) == -1)
		fatal("signals");
	setproctitle("%s starting", w.target);

	hello = proto_new(PROTO_HELLO);
	cJSON_AddStringToObject(hello, "target", w.target);
	cJSON_AddNumberToObject(hello, "pid", getpid());
	worker_send(&w, hello);
	if (w.gone || read_assignment(&w, &a) != 0)
		goto out;

	pipeline_run(&w, &a, &out);
	if (!w.gone)
		send_result(&w, &out);
out:
	free(out.detail);
	free(out.commit);
	free(out.trace);
	free(out.worktree);
	assignment_release(&a);
	proto_conn_release(&w.conn);
	selfpipe_close();
	return out.status != NULL && !w.gone ? 0 : 1;
}
