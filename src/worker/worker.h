/*
 * ktx-worker: runs one ingest target for ktx-supervisor.
 *
 * The supervisor execs "ktx-worker CONNECTION" with its end of a
 * socketpair at PROTO_WORKER_FD, in a process group of its own, with
 * PR_SET_PDEATHSIG set to SIGTERM.  The worker says hello, reads its
 * assignment, runs the pipeline (pipeline.c) and sends a result before it
 * exits.  SIGTERM means abort at the next safe point; EOF on the socket,
 * or SIGTERM once the supervisor is gone, means stop everything now.
 */
#ifndef KTX_WORKER_H
#define KTX_WORKER_H

#include <sys/types.h>

#include "ktxconfig.h"
#include "proto.h"
#include "trace.h"
#include "util.h"

/*
 * The target spec of an assign message.  conn holds the connection as the
 * supervisor sent it: secret references unresolved (secrets.c resolves
 * them), kind and driver set, the fields the worker does not get empty.
 */
struct assignment {
	char		*target;
	char		*run_id;
	char		*job_id;
	char		*project_dir;
	int		 grace;		/* seconds the supervisor waits after TERM */
	char		*author_name;
	char		*author_email;
	struct strv	 warehouses;	/* the database connections' ids */
	struct ktx_connection conn;
	char		*remote_input;	/* the ktx key naming input ktx fetches, or NULL */
};

/* What the worker reports.  Safe to release when zeroed. */
struct outcome {
	const char	*status;	/* "done", "failed", "conflict", "timeout", "aborted" */
	char		*detail;	/* or NULL */
	int		 exit_code;	/* the adapter command's; -1: none */
	int		 signal;	/* 0: none */
	char		*commit;	/* the squash commit, or NULL */
	char		*trace;		/* the trace file, or NULL */
	char		*worktree;	/* the kept session worktree, or NULL */
};

struct worker {
	pid_t			 supervisor;	/* our parent at start */
	struct proto_conn	 conn;
	int			 sigfd;		/* self-pipe */
	int			 gone;		/* the supervisor is gone: no result */
	int			 aborting;	/* SIGTERM: stop at the next safe point */
	const char		*target;
};

/* main.c */
void	 worker_phase(struct worker *, const char *phase, const char *message);
/* Progress with a percentage (0..100) in the current phase. */
void	 worker_progress(struct worker *, const char *phase, int percent,
	    const char *message);
/* Send msg (and free it); a failure marks the supervisor gone. */
void	 worker_send(struct worker *, cJSON *msg);
/* Whether the supervisor is gone, judged from our parent. */
int	 worker_orphaned(const struct worker *);
/*
 * Take the signals and hang-ups that arrived: SIGTERM sets aborting (and
 * gone when the supervisor is gone), EOF on the socket sets gone.
 * Returns whether the pipeline should stop.
 */
int	 worker_check(struct worker *);

/* secrets.c: env:/file: references, resolved here and nowhere else. */
struct secrets {
	struct strv	 env;		/* "NAME=value" for the adapter */
	struct strv	 values;	/* every value resolved, for redaction */
};
/*
 * Resolve the connection's references in place (url, path) and its
 * adapter.secrets into s.  relative_to is where a relative file: path
 * lies (the project).  On failure return -1 with one line in *errmsg
 * naming the field and the variable or file, never a value.
 */
int	 secrets_resolve(struct ktx_connection *, const char *relative_to,
	    struct secrets *s, char **errmsg);
/* text with every resolved value replaced by "(secret)".  Caller frees. */
char	*secrets_redact(const struct secrets *, const char *text);
void	 secrets_release(struct secrets *);

/*
 * command.c: the external adapter command, run in the session worktree
 * with env (NULL-terminated "NAME=value" list) in its own process group.
 * JSON-lines on its stdout become trace events (phase "adapter") and
 * progress; "rawPaths" in them, provenance.  The outcome's status stays
 * NULL when the supervisor is gone (the adapter is then killed, and its
 * death is ours, not its failure).
 */
struct command_run {
	const char	*const *argv;
	const char	*const *env;
	const char	*cwd;
	int		 timeout;	/* seconds; 0: none */
	int		 grace;		/* the supervisor's, seconds */
	const struct secrets *secrets;
	struct trace	*trace;
	struct strv	 raw_paths;	/* out: provenance the adapter declared */
};
void	 command_run(struct worker *, struct command_run *, struct outcome *);

/*
 * pipeline.c: the steps of one target, from the session worktree to the
 * squash into main or a kept worktree with its sentinel.
 */
void	 pipeline_run(struct worker *, struct assignment *, struct outcome *);

/* notls.c: libgit2's CA bundle is never loaded (see there). */
int	 mbedtls_x509_crt_parse_file(void *chain, const char *path);

#endif
