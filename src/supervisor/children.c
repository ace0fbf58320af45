/*
 * Worker processes: fork and exec, reap, and the checks on the process
 * groups they report.  Signals to them go through proc_kill_group().
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "proc.h"
#include "proto.h"
#include "util.h"

/* In the child: become the worker.  Never returns. */
static void __attribute__((noreturn))
exec_worker(pid_t parent, const char *path, const char *target, int sock)
{
	char	*argv[] = { "ktx-worker", (char *)target, NULL };
	int	 null;

	/* SIGTERM, not SIGKILL: the worker still kills its adapter's group. */
	if (proc_child_setup(parent, SIGTERM) == -1)
		_exit(127);
	if (sock == PROTO_WORKER_FD) {
		if (fcntl(sock, F_SETFD, 0) == -1)
			_exit(127);
	} else if (dup2(sock, PROTO_WORKER_FD) == -1)
		_exit(127);
	/* Our stdout may carry the one JSON document: keep it clean. */
	if (dup2(STDERR_FILENO, STDOUT_FILENO) == -1)
		_exit(127);
	if ((null = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(null, STDIN_FILENO) == -1)
		_exit(127);
	closefrom(PROTO_WORKER_FD + 1);
	execv(path, argv);
	dprintf(STDERR_FILENO, "ktx-supervisor: cannot run \"%s\": %s\n", path,
	    strerror(errno));
	_exit(127);
}

pid_t
children_spawn(const char *path, const char *target, int *fd, char **errmsg)
{
	int	sv[2];
	pid_t	pid, me = getpid();

	*errmsg = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		xasprintf(errmsg, "socketpair: %s", strerror(errno));
		return -1;
	}
	if ((pid = proc_fork()) == -1) {
		xasprintf(errmsg, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		exec_worker(me, path, target, sv[1]);
	}
	/* Both sides call setpgid, so the group exists whichever runs first. */
	if (setpgid(pid, pid) == -1 && errno != EACCES && errno != ESRCH)
		log_warn("setpgid %d", (int)pid);
	close(sv[1]);
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1)
		log_warn("fcntl");
	*fd = sv[0];
	return pid;
}

int
children_reap(pid_t *pid, int *status)
{
	pid_t	p;

	do
		p = waitpid(-1, status, WNOHANG | WUNTRACED | WCONTINUED);
	while (p == -1 && errno == EINTR);
	if (p <= 0)
		return 0;
	*pid = p;
	return 1;
}

int
children_owns_group(pid_t pid, pid_t pgid)
{
	char	 path[64], buf[512], *p;
	FILE	*f;
	int	 ppid, pgrp, ok = 0;

	if (pgid <= 1 || pgid == pid || pgid == getpgrp())
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pgid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	/* "pid (comm) state ppid pgrp ...": comm may hold anything but ')'s end. */
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL &&
	    sscanf(p + 1, " %*c %d %d", &ppid, &pgrp) == 2)
		ok = ppid == pid && pgrp == pgid;
	fclose(f);
	return ok;
}
