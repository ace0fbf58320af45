/*
 * Process groups: every child of ours leads its own, and every signal we
 * send goes to the whole group.
 */
#ifndef KTX_PROC_H
#define KTX_PROC_H

#include <sys/types.h>

/*
 * Fork with every signal blocked, so that no handler of ours runs in the
 * child before proc_child_setup (it would write to our self-pipe).  The
 * parent's mask is restored; the child's is emptied by proc_child_setup.
 */
pid_t	 proc_fork(void);

/*
 * In a child right after proc_fork: lead a new process group, get deathsig
 * when the parent dies, default signal handling.  Returns -1 when the
 * parent is already gone (the child should _exit).
 */
int	 proc_child_setup(pid_t parent, int deathsig);

/* Signal the process group pgid; a group that is gone is not an error. */
void	 proc_kill_group(pid_t pgid, int sig);

/* "SIGTERM" for SIGTERM, "signal 99" for an unknown one; buf of PROC_SIGNAME_MAX. */
#define PROC_SIGNAME_MAX	32
const char *proc_signame(int sig, char *buf);

#endif
