/*
 * peak: run a command and say what its processes cost, read from /proc at
 * the moment each one exits (ptrace's exit stop, before the kernel frees
 * the process's memory), so no peak is missed between two samples.
 *
 * usage: peak [-f] [-o FILE] COMMAND [ARG...]
 *
 * Writes to FILE (default stderr) one line of "key=value" figures:
 *   rss_kib	the command's own peak resident set (VmHWM)
 *   cpu_ms	the command's own CPU time (schedstat, nanosecond counts)
 *   children_cpu_ms  CPU of the children it reaped (utime + stime, ticks)
 * and with -f, which follows every descendant:
 *   child_rss_kib	the largest VmHWM of any descendant, with its name
 *   child_rss_name	in child_rss_name
 * Exits as the command did.
 */
#include "config.h"

#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct figures {
	long	rss_kib;
	double	cpu_ms;
	double	children_cpu_ms;
	long	child_rss_kib;
	char	child_rss_name[64];
};

static char *
slurp(pid_t pid, const char *what, char *buf, size_t size)
{
	char	 path[64];
	FILE	*f;
	size_t	 n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static long
status_kib(const char *status, const char *key)
{
	const char	*p = strstr(status, key);

	return p != NULL ? strtol(p + strlen(key), NULL, 10) : 0;
}

/* A process at its exit stop: the command itself, or a descendant. */
static void
record(pid_t pid, pid_t top, struct figures *fg)
{
	char		 status[4096], stat[1024], comm[64], *p;
	long		 hwm, tgid;
	unsigned long	 cutime, cstime;
	long long	 run_ns;
	long		 hz = sysconf(_SC_CLK_TCK);

	if (slurp(pid, "status", status, sizeof(status)) == NULL)
		return;
	tgid = status_kib(status, "\nTgid:");
	if (tgid != pid)
		return;		/* a thread: its process is counted once */
	hwm = status_kib(status, "\nVmHWM:");
	if (pid == top) {
		fg->rss_kib = hwm;
		if (slurp(pid, "schedstat", stat, sizeof(stat)) != NULL &&
		    sscanf(stat, "%lld", &run_ns) == 1)
			fg->cpu_ms = run_ns / 1e6;
		/* Fields 16 and 17, after the parenthesised name. */
		if (slurp(pid, "stat", stat, sizeof(stat)) != NULL &&
		    (p = strrchr(stat, ')')) != NULL &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
		    "%*u %*u %*u %lu %lu", &cutime, &cstime) == 2)
			fg->children_cpu_ms = (cutime + cstime) * 1e3 / hz;
		return;
	}
	if (hwm > fg->child_rss_kib) {
		fg->child_rss_kib = hwm;
		if (slurp(pid, "comm", comm, sizeof(comm)) != NULL)
			comm[strcspn(comm, "\n")] = '\0';
		else
			strcpy(comm, "?");
		snprintf(fg->child_rss_name, sizeof(fg->child_rss_name), "%s",
		    comm);
	}
}

int
main(int argc, char **argv)
{
	struct figures	 fg;
	const char	*out = NULL;
	FILE		*f;
	pid_t		 pid, w;
	long		 opts = PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL;
	int		 ch, follow = 0, go[2], st, event, sig, rc = 1;

	while ((ch = getopt(argc, argv, "+fo:")) != -1) {
		switch (ch) {
		case 'f':
			follow = 1;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind == argc)
		goto usage;
	if (follow)
		opts |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
		    PTRACE_O_TRACECLONE;
	memset(&fg, 0, sizeof(fg));
	if (pipe(go) == -1 || (pid = fork()) == -1) {
		perror("peak");
		return 1;
	}
	if (pid == 0) {
		char	c;

		close(go[1]);
		if (read(go[0], &c, 1) != 0)
			_exit(127);
		execvp(argv[optind], argv + optind);
		perror(argv[optind]);
		_exit(127);
	}
	close(go[0]);
	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)opts) == -1) {
		perror("peak: ptrace");
		kill(pid, SIGKILL);
		return 1;
	}
	close(go[1]);
	while ((w = waitpid(-1, &st, __WALL)) != -1 || errno == EINTR) {
		if (w == -1)
			continue;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (w == pid)
				rc = WIFEXITED(st) ? WEXITSTATUS(st) :
				    128 + WTERMSIG(st);
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		event = st >> 16;
		sig = 0;
		if (event == PTRACE_EVENT_EXIT)
			record(w, pid, &fg);
		else if (event == 0)
			sig = WSTOPSIG(st);	/* a signal: deliver it */
		ptrace(PTRACE_CONT, w, NULL, (void *)(long)sig);
	}
	if ((f = out != NULL ? fopen(out, "w") : stderr) == NULL) {
		perror(out);
		return 1;
	}
	fprintf(f, "rss_kib=%ld cpu_ms=%.1f children_cpu_ms=%.0f", fg.rss_kib,
	    fg.cpu_ms, fg.children_cpu_ms);
	if (follow)
		fprintf(f, " child_rss_kib=%ld child_rss_name=%s",
		    fg.child_rss_kib, fg.child_rss_name);
	fprintf(f, "\n");
	if (f != stderr)
		fclose(f);
	return rc;
usage:
	fprintf(stderr, "usage: peak [-f] [-o FILE] COMMAND [ARG...]\n");
	return 2;
}
