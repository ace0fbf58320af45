/*
 * Signals as bytes on a pipe, read by a poll() loop.  The handler only
 * writes the signal number; everything else happens in the loop.
 */
#ifndef KTX_SELFPIPE_H
#define KTX_SELFPIPE_H

/* Create the pipe; returns its read end to poll, -1 on error with errno. */
int	 selfpipe_open(void);
/* Route sig to the pipe; returns 0, -1 on error with errno. */
int	 selfpipe_catch(int sig);
/* The next signal received, 0 when none is pending. */
int	 selfpipe_next(void);
/*
 * In a forked child before exec, and when done: the caught signals back to
 * their default action, an empty signal mask, the pipe closed.
 */
void	 selfpipe_close(void);

#endif
