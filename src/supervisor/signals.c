/*
 * The signals an operator sends the supervisor (ktx-supervisor(8) SIGNALS):
 * INT/TERM abort, a second one escalates, TSTP/CONT freeze and thaw, HUP
 * drains, USR1 prints a snapshot, WINCH resizes the live view.  They arrive through the self-pipe; the
 * poll loop in run.c acts on them.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "engine.h"
#include "selfpipe.h"

static const int caught[] = {
	SIGTERM, SIGTSTP, SIGCONT, SIGUSR1, SIGCHLD, SIGWINCH
};
/* Left ignored when they are at start: nohup, background jobs of a script. */
static const int caught_unless_ignored[] = { SIGINT, SIGHUP };

int
signals_init(void)
{
	struct sigaction	old;
	size_t			i;
	int			fd;

	if ((fd = selfpipe_open()) == -1)
		return -1;
	for (i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
		if (selfpipe_catch(caught[i]) == -1)
			return -1;
	for (i = 0; i < sizeof(caught_unless_ignored) /
	    sizeof(caught_unless_ignored[0]); i++) {
		if (sigaction(caught_unless_ignored[i], NULL, &old) == -1)
			return -1;
		if (old.sa_handler == SIG_IGN)
			continue;
		if (selfpipe_catch(caught_unless_ignored[i]) == -1)
			return -1;
	}
	return fd;
}

void
signals_release(void)
{
	selfpipe_close();
}

void
signals_reraise(int sig)
{
	struct sigaction	sa;
	sigset_t		set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
}
