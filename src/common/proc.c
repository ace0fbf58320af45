#include "config.h"

#include <sys/prctl.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "selfpipe.h"

pid_t
proc_fork(void)
{
	sigset_t	all, old;
	pid_t		pid;
	int		saved;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid != 0) {
		saved = errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		errno = saved;
	}
	return pid;
}

int
proc_child_setup(pid_t parent, int deathsig)
{
	setpgid(0, 0);
	if (prctl(PR_SET_PDEATHSIG, deathsig) == -1)
		return -1;
	/* The parent may have died before prctl: then nobody would tell us. */
	if (getppid() != parent)
		return -1;
	selfpipe_close();
	return 0;
}

void
proc_kill_group(pid_t pgid, int sig)
{
	if (pgid <= 1)
		return;
	if (kill(-pgid, sig) == -1 && errno != ESRCH)
		log_warn("kill process group %d with signal %d", (int)pgid, sig);
}

const char *
proc_signame(int sig, char *buf)
{
	const char	*abbrev = sigabbrev_np(sig);

	if (abbrev != NULL)
		snprintf(buf, PROC_SIGNAME_MAX, "SIG%s", abbrev);
	else
		snprintf(buf, PROC_SIGNAME_MAX, "signal %d", sig);
	return buf;
}
