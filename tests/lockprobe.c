/*
 * lockprobe: a stand-in for ktx-worker in the lock and control tests.
 * The supervisor runs it as its worker (KTX_WORKER=.../lockprobe), so it
 * is a real client on the real socket: it says hello, takes its
 * assignment, and runs the program its connection's adapter command
 * spells, one word or pair of words at a time:
 *
 *	log FILE	append event lines to FILE
 *	rank N		wait until FILE holds N "request" lines, then 20 ms more
 *	acquire WHY	queue for config:repo and wait for the grant
 *	hold SECS	sleep
 *	phase NAME	send progress for phase NAME
 *	touch PATH	create PATH, relative to the project
 *	release		give config:repo back
 *	again		acquire config:repo again while holding it
 *	ignore-term	ignore SIGTERM from now on
 *	die		SIGKILL itself
 *
 * then sends a "done" result.  Event lines are "EVENT TARGET SECS.NANOS"
 * (the wall clock) and more: "start T S PID", "request T S ID",
 * "enter T S ID WAITED_MS", "leave T S ID", "touched T S PATH",
 * "refused T S MESSAGE", "die T S".
 *
 * "lockprobe --send SOCKET LINE..." is a raw client for the control socket
 * tests instead: it writes each LINE and a newline ("--bytes=N": N bytes
 * of "x" and no newline) to the Unix socket SOCKET, then prints whatever
 * comes back until the other side closes or 5 s pass ("--hangup" as the
 * last LINE: it closes at once instead).  "lockprobe --bind
 * SOCKET" leaves a socket file nobody listens on, as a dead process would.
 *
 * Built for the tests, never installed.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockclient.h"
#include "log.h"
#include "proto.h"
#include "util.h"

struct probe {
	struct proto_conn	 conn;
	const char		*target;
	char			*project_dir;
	struct strv		 program;
	const char		*logpath;
	int			 logfd;
	struct lock_request	 req;
};

static void
send_or_die(struct probe *p, cJSON *msg)
{
	char	*errmsg;

	if (proto_send(p->conn.fd, msg, &errmsg) != 0)
		fatalx("send: %s", errmsg);
	cJSON_Delete(msg);
}

/* Append one event line, stamped with the wall clock. */
static void
event(struct probe *p, const char *what, const char *fmt, ...)
{
	struct timespec	 ts;
	va_list		 ap;
	char		*rest, *line;
	int		 len;

	if (p->logfd == -1)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	va_start(ap, fmt);
	if (vasprintf(&rest, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	len = xasprintf(&line, "%s %s %lld.%09ld%s%s\n", what, p->target,
	    (long long)ts.tv_sec, ts.tv_nsec, *rest ? " " : "", rest);
	/* One write with O_APPEND: lines of several probes never mix. */
	if (write(p->logfd, line, len) != len)
		fatal("write the log");
	free(line);
	free(rest);
}

static int
count_requests(const char *path)
{
	FILE	*f;
	char	 line[512];
	int	 n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "request ", 8) == 0)
			n++;
	fclose(f);
	return n;
}

static void
hello_and_assign(struct probe *p)
{
	struct proto_msg	 msg;
	const cJSON		*conn, *adapter, *item;
	cJSON			*hello;
	char			*errmsg;

	hello = proto_new(PROTO_HELLO);
	cJSON_AddStringToObject(hello, "target", p->target);
	cJSON_AddNumberToObject(hello, "pid", getpid());
	send_or_die(p, hello);
	if (proto_recv(&p->conn, &msg, 30000, &errmsg) != 1)
		fatalx("no assignment");
	if (msg.type != PROTO_ASSIGN)
		fatalx("expected assign, got %s", proto_type_name(msg.type));
	p->project_dir = xstrdup(proto_str(&msg, "project_dir"));
	conn = proto_get(&msg, "connection");
	adapter = cJSON_GetObjectItemCaseSensitive(conn, "adapter");
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(adapter,
	    "command"))
		strv_push(&p->program, item->valuestring);
	proto_msg_release(&msg);
}

/* Acquire while holding: the supervisor must refuse it and hang up. */
static void
acquire_again(struct probe *p)
{
	struct proto_msg	 msg;
	cJSON			*acquire;
	char			*errmsg;

	/* The supervisor stops what it drops: stay to read why. */
	signal(SIGTERM, SIG_IGN);
	acquire = proto_new(PROTO_ACQUIRE);
	cJSON_AddStringToObject(acquire, "lock", LOCK_REPO);
	cJSON_AddStringToObject(acquire, "purpose", "again");
	cJSON_AddNumberToObject(acquire, "id", (double)(p->req.id + 1000));
	send_or_die(p, acquire);
	if (proto_recv(&p->conn, &msg, 10000, &errmsg) != 1)
		fatalx("no answer to a second acquire");
	if (msg.type == PROTO_ERROR)
		event(p, "refused", "%s", proto_str(&msg, "message"));
	else
		event(p, "answered", "%s", proto_type_name(msg.type));
	proto_msg_release(&msg);
	exit(0);
}

static void
step(struct probe *p, const char *op, const char *arg)
{
	struct timespec	 ts;
	cJSON		*msg;
	char		*errmsg, *path;
	double		 secs;
	int		 fd, n, rc;

	if (strcmp(op, "log") == 0) {
		p->logpath = arg;
		p->logfd = open(arg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0644);
		if (p->logfd == -1)
			fatal("open \"%s\"", arg);
		event(p, "start", "%d", (int)getpid());
	} else if (strcmp(op, "rank") == 0) {
		n = atoi(arg);
		while (p->logpath == NULL || count_requests(p->logpath) < n)
			usleep(2000);
		usleep(20000);
	} else if (strcmp(op, "acquire") == 0) {
		event(p, "request", "%lld", (long long)p->req.id);
		rc = lock_acquire(&p->conn, &p->req, LOCK_REPO, arg, &errmsg);
		while (rc != 0 && errno == EINTR) {
			free(errmsg);
			rc = lock_wait(&p->conn, &p->req, &errmsg);
		}
		if (rc != 0)
			fatalx("%s", errmsg);
		event(p, "enter", "%lld %lld", (long long)p->req.id,
		    (long long)p->req.waited_ms);
	} else if (strcmp(op, "hold") == 0) {
		secs = atof(arg);
		ts.tv_sec = (time_t)secs;
		ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			continue;
	} else if (strcmp(op, "phase") == 0) {
		msg = proto_new(PROTO_PROGRESS);
		cJSON_AddStringToObject(msg, "phase", arg);
		cJSON_AddNullToObject(msg, "percent");
		cJSON_AddStringToObject(msg, "message", "");
		send_or_die(p, msg);
	} else if (strcmp(op, "touch") == 0) {
		xasprintf(&path, "%s/%s", p->project_dir, arg);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)) == -1)
			fatal("create \"%s\"", path);
		close(fd);
		event(p, "touched", "%s", arg);
		free(path);
	} else if (strcmp(op, "release") == 0) {
		event(p, "leave", "%lld", (long long)p->req.id);
		if (lock_release(&p->conn, &p->req, &errmsg) != 0)
			fatalx("%s", errmsg);
	} else if (strcmp(op, "again") == 0) {
		acquire_again(p);
	} else if (strcmp(op, "ignore-term") == 0) {
		signal(SIGTERM, SIG_IGN);
	} else if (strcmp(op, "die") == 0) {
		event(p, "die", "");
		raise(SIGKILL);
	} else
		fatalx("unknown step \"%s\"", op);
}

static int
takes_arg(const char *op)
{
	return strcmp(op, "release") != 0 && strcmp(op, "again") != 0 &&
	    strcmp(op, "ignore-term") != 0 && strcmp(op, "die") != 0;
}

static void
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = send(fd, buf, len, MSG_NOSIGNAL)) == -1) {
			/* The peer hung up on us: its answer is still there. */
			if (errno == EPIPE || errno == ECONNRESET)
				return;
			fatal("send");
		}
		buf += n;
		len -= n;
	}
}

static int
send_raw(int argc, char **argv)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	char			 buf[4096], *x;
	ssize_t			 n;
	size_t			 len;
	int			 fd, i;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, argv[2], sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("socket path too long");
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("connect \"%s\"", argv[2]);
	for (i = 3; i < argc; i++) {
		if (i == argc - 1 && strcmp(argv[i], "--hangup") == 0) {
			close(fd);
			return 0;
		}
		if (strncmp(argv[i], "--bytes=", 8) == 0) {
			len = strtoul(argv[i] + 8, NULL, 10);
			x = xmalloc(len);
			memset(x, 'x', len);
			write_all(fd, x, len);
			free(x);
		} else {
			write_all(fd, argv[i], strlen(argv[i]));
			write_all(fd, "\n", 1);
		}
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, 5000) == 1 && (n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, n, stdout);
	close(fd);
	return 0;
}

static int
bind_stale(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("socket path too long");
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		fatal("socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind \"%s\"", path);
	return 0;
}

int
main(int argc, char **argv)
{
	struct probe	 p;
	cJSON		*result;
	size_t		 i;

	log_init("lockprobe", LOG_LEVEL_INFO);
	if (argc >= 3 && strcmp(argv[1], "--send") == 0)
		return send_raw(argc, argv);
	if (argc == 3 && strcmp(argv[1], "--bind") == 0)
		return bind_stale(argv[2]);
	if (argc != 2)
		fatalx("usage: lockprobe CONNECTION (run by ktx-supervisor)");
	memset(&p, 0, sizeof(p));
	p.target = argv[1];
	p.logfd = -1;
	proto_conn_init(&p.conn, PROTO_WORKER_FD);
	hello_and_assign(&p);
	for (i = 0; i < p.program.n; i++) {
		if (takes_arg(p.program.v[i])) {
			if (i + 1 == p.program.n)
				fatalx("step \"%s\" needs an argument",
				    p.program.v[i]);
			step(&p, p.program.v[i], p.program.v[i + 1]);
			i++;
		} else
			step(&p, p.program.v[i], NULL);
	}
	result = proto_new(PROTO_RESULT);
	cJSON_AddStringToObject(result, "status", "done");
	cJSON_AddNullToObject(result, "detail");
	cJSON_AddNullToObject(result, "exit_code");
	cJSON_AddNullToObject(result, "signal");
	cJSON_AddNullToObject(result, "commit");
	cJSON_AddNullToObject(result, "trace");
	cJSON_AddNullToObject(result, "worktree");
	send_or_die(&p, result);
	proto_conn_release(&p.conn);
	strv_release(&p.program);
	free(p.project_dir);
	return 0;
}
