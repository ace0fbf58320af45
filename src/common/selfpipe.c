#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "selfpipe.h"

static int	 pipe_fds[2] = { -1, -1 };
static sigset_t	 caught;

static void
on_signal(int sig)
{
	int		saved = errno;
	unsigned char	b = sig;
	ssize_t		n;

	/* When the pipe is full the signal is dropped: the loop is awake anyway. */
	n = write(pipe_fds[1], &b, 1);
	(void)n;
	errno = saved;
}

int
selfpipe_open(void)
{
	if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	sigemptyset(&caught);
	return pipe_fds[0];
}

int
selfpipe_catch(int sig)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) == -1)
		return -1;
	sigaddset(&caught, sig);
	return 0;
}

int
selfpipe_next(void)
{
	unsigned char	b;
	ssize_t		n;

	do
		n = read(pipe_fds[0], &b, 1);
	while (n == -1 && errno == EINTR);
	return n == 1 ? b : 0;
}

void
selfpipe_close(void)
{
	struct sigaction	sa;
	sigset_t		none;
	int			sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&caught, sig) == 1)
			sigaction(sig, &sa, NULL);
	sigemptyset(&caught);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (pipe_fds[0] != -1) {
		close(pipe_fds[0]);
		close(pipe_fds[1]);
	}
	pipe_fds[0] = pipe_fds[1] = -1;
}
