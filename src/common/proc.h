/*
 * Process groups: every child of ours leads its own, and every signal we
 * send goes to the whole group.
 */
#ifndef KTX_PROC_H
#define KTX_PROC_H

#include <sys/types.h>

/*
 * In a child right after fork: lead a new process group, get deathsig when
 * the parent dies, and default signal handling.  Returns -1 when the parent
 * is already gone (the child should _exit).
 */
int	 proc_child_setup(pid_t parent, int deathsig);

/* Signal the process group pgid; a group that is gone is not an error. */
void	 proc_kill_group(pid_t pgid, int sig);

/* "SIGTERM" for SIGTERM, "signal 99" for an unknown one; buf of PROC_SIGNAME_MAX. */
#define PROC_SIGNAME_MAX	32
const char *proc_signame(int sig, char *buf);

#endif
