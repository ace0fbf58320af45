#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
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

/* Send msg and free it; a failure means the supervisor is gone. */
static void
send_msg(struct worker *w, cJSON *msg)
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
	send_msg(w, msg);
}

void
worker_phase(struct worker *w, const char *phase, const char *message)
{
	cJSON	*msg = proto_new(PROTO_PROGRESS);

	setproctitle("%s %s", w->target, phase);
	cJSON_AddStringToObject(msg, "phase", phase);
	cJSON_AddNullToObject(msg, "percent");
	cJSON_AddStringToObject(msg, "message", message);
	send_msg(w, msg);
}

int
worker_orphaned(const struct worker *w)
{
	return getppid() != w->supervisor;
}

static char *
dup_or_null(const cJSON *item)
{
	return cJSON_IsString(item) ? xstrdup(item->valuestring) : NULL;
}

/* Fill a from a validated assign message. */
static void
assignment_from(struct assignment *a, const struct proto_msg *msg)
{
	const cJSON	*conn, *adapter, *item;

	a->target = xstrdup(proto_str(msg, "target"));
	a->run_id = xstrdup(proto_str(msg, "run_id"));
	a->job_id = xstrdup(proto_str(msg, "job_id"));
	a->project_dir = xstrdup(proto_str(msg, "project_dir"));
	a->grace = proto_int(msg, "grace", 0);
	conn = proto_get(msg, "connection");
	a->driver = dup_or_null(cJSON_GetObjectItemCaseSensitive(conn, "driver"));
	a->remote_input = dup_or_null(cJSON_GetObjectItemCaseSensitive(conn,
	    "remote_input"));
	adapter = cJSON_GetObjectItemCaseSensitive(conn, "adapter");
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(adapter, "command"))
		strv_push(&a->command, item->valuestring);
	a->command_timeout = cJSON_GetObjectItemCaseSensitive(adapter,
	    "timeout")->valuedouble;
}

static void
assignment_release(struct assignment *a)
{
	free(a->target);
	free(a->run_id);
	free(a->job_id);
	free(a->project_dir);
	free(a->driver);
	free(a->remote_input);
	strv_release(&a->command);
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
send_result(struct worker *w, const struct outcome *out)
{
	cJSON	*msg = proto_new(PROTO_RESULT);

	cJSON_AddStringToObject(msg, "status", out->status);
	if (out->detail != NULL)
		cJSON_AddStringToObject(msg, "detail", out->detail);
	else
		cJSON_AddNullToObject(msg, "detail");
	if (out->exit_code >= 0)
		cJSON_AddNumberToObject(msg, "exit_code", out->exit_code);
	else
		cJSON_AddNullToObject(msg, "exit_code");
	if (out->signal > 0)
		cJSON_AddNumberToObject(msg, "signal", out->signal);
	else
		cJSON_AddNullToObject(msg, "signal");
	cJSON_AddNullToObject(msg, "commit");
	send_msg(w, msg);
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
	send_msg(&w, hello);
	if (w.gone || read_assignment(&w, &a) != 0)
		goto out;

	if (a.command.n == 0 && a.remote_input != NULL) {
		out.status = "failed";
		xasprintf(&out.detail, "input from \"%s\" is not supported yet: "
		    "this build reads local input only", a.remote_input);
	} else if (a.command.n == 0) {
		out.status = "failed";
		xasprintf(&out.detail, "driver \"%s\" is not supported yet", a.driver);
	} else
		command_run(&w, &a, &out);
	send_result(&w, &out);
out:
	free(out.detail);
	assignment_release(&a);
	proto_conn_release(&w.conn);
	selfpipe_close();
	return out.status != NULL && !w.gone ? 0 : 1;
}
