/*
 * lock_contention: many workers taking the repository lock in turn.
 *
 * WORKERS processes (lockclient.c, as ktx-worker uses it) each acquire and
 * release config:repo ROUNDS times; one server process serves them as the
 * supervisor does (one poll loop over every socket, proto.c framing and
 * validation, lockd.c, the grant encoded and sent).  Measures the grants
 * per second over the whole run, and checks FIFO: the lock must be
 * granted in exactly the order the server read the acquires.
 *
 * usage: lock_contention [WORKERS [ROUNDS]]	(default 32 1000)
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockclient.h"
#include "lockd.h"
#include "log.h"
#include "proto.h"
#include "util.h"

static int64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void __attribute__((noreturn))
client(int fd, int go, int rounds)
{
	struct proto_conn	 conn;
	struct lock_request	 req;
	char			*errmsg, c;
	int			 i;

	if (read(go, &c, 1) != 0)	/* all start together at EOF */
		_exit(1);
	proto_conn_init(&conn, fd);
	memset(&req, 0, sizeof(req));
	for (i = 0; i < rounds; i++)
		if (lock_acquire(&conn, &req, LOCK_REPO, "before_final_squash",
		    &errmsg) != 0 || lock_release(&conn, &req, &errmsg) != 0)
			fatalx("client: %s", errmsg);
	proto_conn_release(&conn);
	_exit(0);
}

struct order {
	uint64_t	*v;
	size_t		 n;
};

static void
send_grants(int *fds, const struct lockd_out *out, struct order *granted)
{
	cJSON	*msg;
	char	*errmsg;
	size_t	 i;

	for (i = 0; i < out->ngrants; i++) {
		msg = proto_new(PROTO_GRANTED);
		cJSON_AddStringToObject(msg, "lock", out->grants[i].lock);
		cJSON_AddNumberToObject(msg, "id", (double)out->grants[i].id);
		cJSON_AddNumberToObject(msg, "waited_ms",
		    (double)out->grants[i].waited_ms);
		if (proto_send(fds[out->grants[i].client], msg, &errmsg) != 0)
			fatalx("server: %s", errmsg);
		cJSON_Delete(msg);
		granted->v[granted->n++] = out->grants[i].client;
	}
}

/*
 * Serve every worker until all have closed; *acquired and *granted get
 * the client of each acquire read and each grant sent, in order.
 */
static void
serve(int *fds, int n, struct order *acquired, struct order *granted)
{
	struct proto_conn	*conns;
	struct proto_msg	 msg;
	struct pollfd		*pfd;
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };
	char			*errmsg;
	ssize_t			 r;
	int			 i, open = n, rc;

	conns = xcalloc((size_t)n, sizeof(*conns));
	pfd = xcalloc((size_t)n, sizeof(*pfd));
	for (i = 0; i < n; i++) {
		proto_conn_init(&conns[i], fds[i]);
		pfd[i].fd = fds[i];
		pfd[i].events = POLLIN;
	}
	lockd_init(&ld, 0);
	while (open > 0) {
		if (poll(pfd, (nfds_t)n, -1) == -1)
			fatal("poll");
		for (i = 0; i < n; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			if ((r = proto_conn_fill(&conns[i])) == -1)
				fatal("server read");
			while ((rc = proto_next(&conns[i], &msg, &errmsg)) == 1) {
				if (msg.type == PROTO_ACQUIRE) {
					acquired->v[acquired->n++] = (uint64_t)i;
					rc = lockd_acquire(&ld, (uint64_t)i,
					    proto_str(&msg, "lock"),
					    proto_int(&msg, "id", 0),
					    proto_str(&msg, "purpose"),
					    now_monotonic_ms(), &out, &errmsg);
				} else
					rc = lockd_unlock(&ld, (uint64_t)i,
					    proto_str(&msg, "lock"),
					    proto_int(&msg, "id", 0),
					    now_monotonic_ms(), &out, &errmsg);
				if (rc != 0)
					fatalx("server: %s", errmsg);
				send_grants(fds, &out, granted);
				lockd_out_clear(&out);
				proto_msg_release(&msg);
			}
			if (rc == -1)
				fatalx("server: %s", errmsg);
			if (r == 0) {
				pfd[i].fd = -1;
				open--;
			}
		}
	}
	for (i = 0; i < n; i++)
		proto_conn_release(&conns[i]);
	lockd_out_release(&out);
	lockd_release(&ld);
	free(conns);
	free(pfd);
}

int
main(int argc, char **argv)
{
	struct order	 acquired, granted;
	pid_t		*pids;
	int		*fds, sv[2], go[2], i, n = 32, rounds = 1000, st, fifo;
	size_t		 k, total;
	int64_t		 t0, t;
	double		 rate;

	log_init("lock_contention", LOG_LEVEL_WARN);
	if (argc > 1)
		n = atoi(argv[1]);
	if (argc > 2)
		rounds = atoi(argv[2]);
	if (argc > 3 || n < 1 || rounds < 1) {
		fprintf(stderr, "usage: lock_contention [WORKERS [ROUNDS]]\n");
		return 2;
	}
	total = (size_t)n * (size_t)rounds;
	acquired.v = xcalloc(total, sizeof(*acquired.v));
	granted.v = xcalloc(total, sizeof(*granted.v));
	acquired.n = granted.n = 0;
	fds = xcalloc((size_t)n, sizeof(*fds));
	pids = xcalloc((size_t)n, sizeof(*pids));
	if (pipe(go) == -1)
		fatal("pipe");
	for (i = 0; i < n; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
			fatal("socketpair");
		if ((pids[i] = fork()) == -1)
			fatal("fork");
		if (pids[i] == 0) {
			close(go[1]);
			close(sv[0]);
			client(sv[1], go[0], rounds);
		}
		close(sv[1]);
		fds[i] = sv[0];
	}
	close(go[0]);
	t0 = now_ns();
	close(go[1]);
	serve(fds, n, &acquired, &granted);
	t = now_ns() - t0;
	for (i = 0; i < n; i++)
		if (waitpid(pids[i], &st, 0) == -1 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			fatalx("worker %d failed", i);
	fifo = acquired.n == total && granted.n == total;
	for (k = 0; fifo && k < total; k++)
		fifo = acquired.v[k] == granted.v[k];
	rate = total / (t / 1e9);
	printf("contention: %d workers x %d acquire+release: %.0f ms, %.0f "
	    "grants/s, FIFO %s | goal >= 20000 grants/s, FIFO: %s\n", n,
	    rounds, t / 1e6, rate, fifo ? "kept" : "BROKEN",
	    rate >= 20000 && fifo ? "met" : "missed");
	free(acquired.v);
	free(granted.v);
	free(fds);
	free(pids);
	return fifo ? 0 : 1;
}
