/*
 * lock_roundtrip: what an uncontended acquire + release of the repository
 * lock costs a worker, against what the transport alone and flock(2) cost.
 *
 *   protocol	a worker process (lockclient.c: encode, send, wait, decode)
 *		and a server process (proto.c framing and validation, lockd.c)
 *		over a socketpair, as the supervisor serves them
 *   raw	the same bytes ping-ponged over a socketpair between two
 *		processes, nothing parsed
 *   flock	flock(LOCK_EX) + flock(LOCK_UN) on a file, one process
 *
 * One pair is acquire sent .. grant read .. release sent; the release is
 * not answered, so the next acquire queues behind it as in real use.
 * Prints one line: the median and 99th percentile of a pair, pairs per
 * second, and the verdict against the goal.  The protocol and raw series
 * run twice: as the scheduler places the two processes, then both pinned
 * to one CPU.  On a virtual machine a wake-up across vCPUs costs tens of
 * microseconds, which bounds the raw ping-pong itself; pinned, the figure
 * is what the code costs.
 *
 * usage: lock_roundtrip [-p] [PAIRS]	(default 200000; run by bench/run.sh)
 *
 * -p runs the protocol series alone, for a profiler.
 */
#include "config.h"

#include <sys/file.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
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

#define WARMUP	2000

struct result {
	double		 median_us, p99_us, pairs_per_s;
};

static int64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
summarize(struct result *res, int64_t *lat, size_t n, int64_t total_ns)
{
	qsort(lat, n, sizeof(*lat), cmp_i64);
	res->median_us = lat[n / 2] / 1000.0;
	res->p99_us = lat[n * 99 / 100] / 1000.0;
	res->pairs_per_s = n / (total_ns / 1e9);
}

/* The lock server: what the supervisor does with one worker's socket. */
static void __attribute__((noreturn))
serve_protocol(int fd)
{
	struct proto_conn	 conn;
	struct proto_msg	 msg;
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };
	cJSON			*granted;
	const char		*lock;
	char			*errmsg;
	ssize_t			 n;
	int64_t			 id;
	int			 rc;

	proto_conn_init(&conn, fd);
	lockd_init(&ld, 0);
	for (;;) {
		if ((n = proto_conn_fill(&conn)) == 0)
			break;
		if (n == -1)
			fatal("server read");
		while ((rc = proto_next(&conn, &msg, &errmsg)) == 1) {
			lock = proto_str(&msg, "lock");
			id = proto_int(&msg, "id", 0);
			if (msg.type == PROTO_ACQUIRE)
				rc = lockd_acquire(&ld, 1, lock, id,
				    proto_str(&msg, "purpose"),
				    now_monotonic_ms(), &out, &errmsg);
			else
				rc = lockd_unlock(&ld, 1, lock, id,
				    now_monotonic_ms(), &out, &errmsg);
			if (rc != 0)
				fatalx("server: %s", errmsg);
			if (out.ngrants > 0) {
				granted = proto_new(PROTO_GRANTED);
				cJSON_AddStringToObject(granted, "lock",
				    out.grants[0].lock);
				cJSON_AddNumberToObject(granted, "id",
				    (double)out.grants[0].id);
				cJSON_AddNumberToObject(granted, "waited_ms",
				    (double)out.grants[0].waited_ms);
				if (proto_send(fd, granted, &errmsg) != 0)
					fatalx("server: %s", errmsg);
				cJSON_Delete(granted);
			}
			lockd_out_clear(&out);
			proto_msg_release(&msg);
		}
		if (rc == -1)
			fatalx("server: %s", errmsg);
	}
	lockd_out_release(&out);
	lockd_release(&ld);
	proto_conn_release(&conn);
	_exit(0);
}

static void
bench_protocol(struct result *res, size_t pairs)
{
	struct proto_conn	 conn;
	struct lock_request	 req;
	int64_t			*lat, t0, start = 0;
	size_t			 i;
	char			*errmsg;
	pid_t			 pid;
	int			 sv[2], status;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(sv[0]);
		serve_protocol(sv[1]);
	}
	close(sv[1]);
	proto_conn_init(&conn, sv[0]);
	memset(&req, 0, sizeof(req));
	lat = xcalloc(pairs, sizeof(*lat));
	for (i = 0; i < pairs + WARMUP; i++) {
		if (i == WARMUP)
			start = now_ns();
		t0 = now_ns();
		if (lock_acquire(&conn, &req, LOCK_REPO, "before_final_squash",
		    &errmsg) != 0 || lock_release(&conn, &req, &errmsg) != 0)
			fatalx("client: %s", errmsg);
		if (i >= WARMUP)
			lat[i - WARMUP] = now_ns() - t0;
	}
	summarize(res, lat, pairs, now_ns() - start);
	proto_conn_release(&conn);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fatalx("the server failed");
	free(lat);
}

/* The frames the protocol run exchanges, byte for byte in size. */
static const char acquire_line[] = "{\"v\":1,\"type\":\"acquire\",\"lock\":"
    "\"config:repo\",\"purpose\":\"before_final_squash\",\"id\":100000}\n";
static const char granted_line[] = "{\"v\":1,\"type\":\"granted\",\"lock\":"
    "\"config:repo\",\"id\":100000,\"waited_ms\":0}\n";
static const char release_line[] = "{\"v\":1,\"type\":\"release\",\"lock\":"
    "\"config:repo\",\"id\":100000}\n";

/* Read up to and including the next newline: one frame. */
static int
read_frame(int fd, char *buf, size_t *len, size_t cap)
{
	char	*nl;
	ssize_t	 n;
	size_t	 used;

	for (;;) {
		if ((nl = memchr(buf, '\n', *len)) != NULL) {
			used = nl + 1 - buf;
			*len -= used;
			memmove(buf, nl + 1, *len);
			return (int)used;
		}
		if ((n = read(fd, buf + *len, cap - *len)) <= 0)
			return (int)n;
		*len += n;
	}
}

static void
bench_raw(struct result *res, size_t pairs)
{
	int64_t	*lat, t0, start = 0;
	char	 buf[4096];
	size_t	 i, len = 0;
	pid_t	 pid;
	int	 sv[2], n, status, expect_acquire = 1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(sv[0]);
		/* Answer every other frame, the acquires, with a grant. */
		while ((n = read_frame(sv[1], buf, &len, sizeof(buf))) > 0) {
			if (expect_acquire && write(sv[1], granted_line,
			    sizeof(granted_line) - 1) == -1)
				fatal("server write");
			expect_acquire = !expect_acquire;
		}
		_exit(n == 0 ? 0 : 1);
	}
	close(sv[1]);
	lat = xcalloc(pairs, sizeof(*lat));
	for (i = 0; i < pairs + WARMUP; i++) {
		if (i == WARMUP)
			start = now_ns();
		t0 = now_ns();
		if (write(sv[0], acquire_line,
		    sizeof(acquire_line) - 1) == -1 ||
		    read_frame(sv[0], buf, &len, sizeof(buf)) <= 0 ||
		    write(sv[0], release_line,
		    sizeof(release_line) - 1) == -1)
			fatal("client");
		if (i >= WARMUP)
			lat[i - WARMUP] = now_ns() - t0;
	}
	summarize(res, lat, pairs, now_ns() - start);
	close(sv[0]);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fatalx("the raw server failed");
	free(lat);
}

static void
bench_flock(struct result *res, size_t pairs)
{
	char	 path[] = "/tmp/lock_roundtrip.XXXXXX";
	int64_t	*lat, t0, start = 0;
	size_t	 i;
	int	 fd;

	if ((fd = mkstemp(path)) == -1)
		fatal("mkstemp");
	unlink(path);
	lat = xcalloc(pairs, sizeof(*lat));
	for (i = 0; i < pairs + WARMUP; i++) {
		if (i == WARMUP)
			start = now_ns();
		t0 = now_ns();
		if (flock(fd, LOCK_EX) == -1 || flock(fd, LOCK_UN) == -1)
			fatal("flock");
		if (i >= WARMUP)
			lat[i - WARMUP] = now_ns() - t0;
	}
	summarize(res, lat, pairs, now_ns() - start);
	close(fd);
	free(lat);
}

/* Pin this process, and so the children it forks, to one CPU; or undo. */
static void
pin(int on, cpu_set_t *saved)
{
	cpu_set_t	one;
	int		cpu;

	if (!on) {
		if (sched_setaffinity(0, sizeof(*saved), saved) == -1)
			fatal("sched_setaffinity");
		return;
	}
	if (sched_getaffinity(0, sizeof(*saved), saved) == -1)
		fatal("sched_getaffinity");
	for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, saved); cpu++)
		;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) == -1)
		fatal("sched_setaffinity");
}

int
main(int argc, char **argv)
{
	struct result	 res[5];
	cpu_set_t	 saved;
	size_t		 pairs = 200000;
	int		 only_protocol = 0;
	double		 ratio;

	log_init("lock_roundtrip", LOG_LEVEL_WARN);
	if (argc > 1 && strcmp(argv[1], "-p") == 0) {
		only_protocol = 1;
		argc--;
		argv++;
	}
	if (argc == 2)
		pairs = strtoul(argv[1], NULL, 10);
	if (argc > 2 || pairs < 100) {
		fprintf(stderr, "usage: lock_roundtrip [-p] [PAIRS >= 100]\n");
		return 2;
	}
	bench_protocol(&res[0], pairs);
	if (only_protocol) {
		printf("lock, protocol alone: %zu pairs, median %.2f us\n",
		    pairs, res[0].median_us);
		return 0;
	}
	bench_raw(&res[1], pairs);
	bench_flock(&res[2], pairs);
	pin(1, &saved);
	bench_protocol(&res[3], pairs);
	bench_raw(&res[4], pairs);
	pin(0, &saved);
	ratio = res[0].median_us / res[1].median_us;
	printf("lock: %zu acquire+release pairs, median (p99) protocol "
	    "%.2f us (%.2f), raw ping-pong %.2f us (%.2f), flock %.2f us; "
	    "protocol/raw %.2fx, %.0f pairs/s (raw %.0f); on one CPU "
	    "protocol %.2f us, raw %.2f us, %.0f pairs/s (raw %.0f) | "
	    "goal <= 2x, >= 50000 pairs/s: %s, on one CPU %s\n", pairs,
	    res[0].median_us, res[0].p99_us, res[1].median_us, res[1].p99_us,
	    res[2].median_us, ratio, res[0].pairs_per_s, res[1].pairs_per_s,
	    res[3].median_us, res[4].median_us, res[3].pairs_per_s,
	    res[4].pairs_per_s,
	    ratio <= 2.0 && res[0].pairs_per_s >= 50000 ? "met" : "missed",
	    res[3].median_us <= 2.0 * res[4].median_us &&
	    res[3].pairs_per_s >= 50000 ? "met" : "missed");
	return 0;
}
