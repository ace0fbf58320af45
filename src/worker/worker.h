/*
 * ktx-worker: runs one ingest target for ktx-supervisor.
 *
 * The supervisor execs "ktx-worker CONNECTION" with its end of a
 * socketpair at PROTO_WORKER_FD, in a process group of its own, with
 * PR_SET_PDEATHSIG set to SIGTERM.  The worker says hello, reads its
 * assignment, runs it and sends a result before it exits.  SIGTERM means
 * abort at the next safe point; EOF on the socket, or SIGTERM once the
 * supervisor is gone, means stop everything now.
 */
#ifndef KTX_WORKER_H
#define KTX_WORKER_H

#include <sys/types.h>

#include "proto.h"
#include "util.h"

/* The target spec of an assign message. */
struct assignment {
	char		*target;
	char		*run_id;
	char		*job_id;
	char		*project_dir;
	int		 grace;		/* seconds the supervisor waits after TERM */
	char		*driver;
	char		*remote_input;	/* the ktx key naming input ktx fetches, or NULL */
	struct strv	 command;	/* adapter argv; empty: built-in adapter */
	int		 command_timeout;	/* seconds; 0: none */
};

/* What the worker reports. */
struct outcome {
	const char	*status;	/* "done", "failed", "timeout", "aborted" */
	char		*detail;	/* or NULL */
	int		 exit_code;	/* -1: none */
	int		 signal;	/* 0: none */
};

struct worker {
	pid_t			 supervisor;	/* our parent at start */
	struct proto_conn	 conn;
	int			 sigfd;		/* self-pipe */
	int			 gone;		/* the supervisor is gone: no result */
	const char		*target;
};

/* main.c */
void	 worker_phase(struct worker *, const char *phase, const char *message);
/* Whether the supervisor is gone, judged from our parent. */
int	 worker_orphaned(const struct worker *);

/* command.c: run the assignment's external adapter command. */
void	 command_run(struct worker *, const struct assignment *, struct outcome *);

#endif
