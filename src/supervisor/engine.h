/*
 * The running supervisor of an ingest: one run, its targets, and the
 * pieces the poll loop in run.c drives (children.c, signals.c, render.c,
 * pidfile.c).
 */
#ifndef KTX_ENGINE_H
#define KTX_ENGINE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "control.h"
#include "lockd.h"
#include "proto.h"

struct ktx_config;
struct plan;
struct plan_target;
struct ingest_opts;

enum target_status {
	STATUS_DONE,
	STATUS_FAILED,
	STATUS_CONFLICT,
	STATUS_TIMEOUT,
	STATUS_ABORTED,
	STATUS_NOT_RUN,
	STATUS_SKIPPED
};

enum target_state {
	TARGET_QUEUED,
	TARGET_RUNNING,		/* forked, not yet reaped */
	TARGET_FINISHED
};

/* Why the supervisor is ending a worker before it finished on its own. */
enum stop_reason {
	STOP_NONE,
	STOP_TIMEOUT,
	STOP_ABORT,
	STOP_PROTOCOL,
	STOP_LOCK_HOLD		/* held a lock past ingest.lock.maxHoldSeconds */
};

struct target {
	const struct plan_target *pt;
	size_t			 number;	/* 1-based, in plan order */
	char			*job_id;
	enum target_state	 state;

	pid_t			 pid;		/* the worker; also its pgid */
	pid_t			 adapter_pgid;	/* announced by "spawned"; 0: none */
	struct proto_conn	 conn;		/* fd -1 once closed */
	int			 said_hello;
	int			 has_result;
	int			 stopped;	/* seen stopped by waitpid */
	int			 killed;	/* SIGKILL sent */
	int			 reaped;	/* pid and pgid may be reused */

	enum stop_reason	 stop;
	cJSON			*lock_events;	/* lockserv.c; NULL: none */
	int64_t			 timeout_ms;	/* 0: none */
	int64_t			 deadline;	/* target timeout, run clock; 0: none */
	int64_t			 kill_at;	/* SIGKILL due, run clock; 0: none */
	int64_t			 hangup_at;	/* hung up without a result: drop
						   due, run clock; 0: none */

	int64_t			 started_mono, finished_mono;
	int64_t			 started_wall, finished_wall;
	char			*phase;
	int			 percent;	/* last printed for the phase; -1 */

	enum target_status	 status;
	char			*detail;	/* or NULL */
	int			 exit_code;	/* -1: none */
	int			 signal;	/* 0: none */
	char			*commit;	/* the squash commit, or NULL */
	char			*trace;		/* the trace file, or NULL */
	char			*worktree;	/* the kept session worktree, or NULL */

	/* The session worktree the worker announced ("session"), or NULL. */
	char			*session_path;
	char			*session_base;
};

/* The live view on a terminal (live.c).  Safe to release when zeroed. */
struct live {
	int		 on;
	int		 cols, rows;
	int		 painted;	/* lines of it on the screen */
	char		*shown;		/* their text; NULL: repaint */
	int64_t		 last_paint;	/* monotonic ms */
	int		 pending;	/* a repaint waits for the interval */
	int		 stopped_self;	/* SIGSTOP raised: the shell wrote */
};

struct run {
	char			*id;
	const struct ktx_config	*cfg;
	const struct plan	*plan;
	const struct ingest_opts *opts;
	const char		*project_dir;
	const char		*worker_path;
	struct target		*targets;
	size_t			 ntargets;
	size_t			 next;		/* first target not started */
	size_t			 nrunning;
	size_t			 nfinished;
	int64_t			 timeout_ms;	/* --timeout, any target; 0: none */
	int64_t			 sources_timeout_ms;	/* from ktx.yaml; 0: none */
	int64_t			 grace_ms;
	int			 sigfd;
	struct lockd		 locks;		/* lockserv.c */
	struct control		 control;	/* control.c */

	int			 draining;	/* SIGHUP: start nothing new */
	const char		*drained_by;	/* "SIGHUP", or a command */
	int			 aborting;	/* the signal that aborts, or 0 */
	int			 escalated;	/* a second one: all KILLed */
	int			 frozen;	/* SIGTSTP until SIGCONT */
	int64_t			 frozen_at;
	int64_t			 frozen_ms;	/* all freezes before this one */

	size_t			 last_printed;	/* target of the last progress line */
	struct live		 live;
};

/* run.c */
const char	*target_status_name(enum target_status);
/* Milliseconds of the run's clock, which stands still while frozen. */
int64_t		 run_clock(const struct run *);

/*
 * A worker that ended without a result may have left its session
 * worktree: keep it for the operator with a sentinel (plain file work),
 * and put the cause in its trace.  One stopped for a timeout reports
 * itself aborted: its sentinel gets the outcome timeout (run.c).
 */
void		 target_left_session(struct run *, struct target *);

/*
 * What the signals do, also reachable from the control socket: freeze
 * (SIGTSTP, without stopping the supervisor itself), thaw (SIGCONT),
 * drain (SIGHUP; why names the cause in the log and the results), abort
 * (SIGINT/SIGTERM as sig; a second one kills every worker group now).
 */
void		 run_freeze(struct run *);
void		 run_thaw(struct run *);
void		 run_drain(struct run *, const char *why);
void		 run_abort(struct run *, int sig);
/* A worker that broke the protocol: tell it why, hang up, stop it. */
void		 run_drop(struct run *, struct target *, const char *why);

/* lockserv.c */
void		 lockserv_init(struct run *, int max_hold_seconds);
void		 lockserv_release(struct run *);
/* An acquire or release from t; -1 with *why (caller frees) to drop it. */
int		 lockserv_message(struct run *, struct target *,
		    const struct proto_msg *, char **why);
/* t was reaped: its waits end, its holds are cleaned up and handed on. */
void		 lockserv_gone(struct run *, struct target *);
/* The next target over ingest.lock.maxHoldSeconds, to stop; NULL: none. */
struct target	*lockserv_overdue(struct run *);
/* When lockserv_overdue next has one, run clock; -1: never. */
int64_t		 lockserv_deadline(const struct run *);
/* {acquisitions, waitMs, holdMs, maxWaitMs, maxHoldMs, events}. */
cJSON		*lockserv_result(const struct run *, const struct target *);

/* status.c */
/* The run's live state as a "snapshot" message.  Caller frees. */
cJSON		*status_snapshot(const struct run *);
/* A snapshot for people: SIGUSR1 and "ktx-supervisor status". */
void		 status_print(const cJSON *snapshot, FILE *);
/* A run record of .ktx/runs, the file name, for people. */
void		 status_print_record(const cJSON *record, const char *name,
		    FILE *);

/* children.c */
/*
 * Fork and exec the worker for the connection id: its own process group,
 * PR_SET_PDEATHSIG, its end of a socketpair at PROTO_WORKER_FD, stdout to
 * our stderr.  Returns the pid and our end of the socket (non-blocking) in
 * *fd, or -1 with *errmsg (caller frees).
 */
pid_t		 children_spawn(const char *path, const char *target, int *fd,
		    char **errmsg);
/* The next child that changed state: 1 with pid and status, 0 for none. */
int		 children_reap(pid_t *pid, int *status);
/* Whether pgid is a group led by a child of pid (what "spawned" claims). */
int		 children_owns_group(pid_t pid, pid_t pgid);

/* signals.c */
/* Catch the signals the supervisor acts on; the self-pipe's read end. */
int		 signals_init(void);
void		 signals_release(void);
/* Die of sig, the way the shell should see it; returns only if that fails. */
void		 signals_reraise(int sig);

/* render.c */
void		 render_start(struct run *, struct target *);
void		 render_progress(struct run *, struct target *, const char *phase,
		    int percent, const char *message);
void		 render_end(struct run *, struct target *);
void		 render_table(const struct run *, FILE *);
void		 render_snapshot(const struct run *, FILE *);
/* "0.8s", "4m05s", "2h01m" in buf (32 bytes).  Returns buf. */
const char	*render_duration(int64_t ms, char *buf);
/* {plan, results}.  Caller frees. */
cJSON		*render_document(const struct run *);
/* The command that retries one target, shell-quoted.  Caller frees. */
char		*render_retry_command(const struct run *, const struct target *);

/* live.c */
/* Show the live view if stdout is a terminal and no --json or --plain. */
void		 live_init(struct run *);
/* Repaint if the view changed, at most every 100 ms. */
void		 live_update(struct run *);
/* Repaint now if it changed (before the supervisor stops itself). */
void		 live_paint_now(struct run *);
/* Milliseconds until live_update has something to do; -1: nothing. */
int		 live_timeout(const struct run *);
/* SIGWINCH: the terminal's new size. */
void		 live_resize(struct run *);
/* Take the view off the screen; the next update paints it again. */
void		 live_erase(struct run *);
/* Others wrote below the view: paint it afresh under what they wrote. */
void		 live_forget(struct run *);
/* Take it off for good, before the final table. */
void		 live_end(struct run *);

/* pidfile.c */
/*
 * Take .ktx/run/supervisor.pid in the project with an exclusive flock.
 * Returns the fd to keep open, -2 when another process holds it (*holder:
 * its pid, or 0 if it wrote none yet), -1 with *errmsg (caller frees).
 */
int		 pidfile_acquire(const char *project_dir, pid_t *holder,
		    char **errmsg);
void		 pidfile_release(int fd);
/*
 * Whether a supervisor holds the pidfile: 1 (*pid: the pid it wrote, 0
 * if none yet), 0 when none does (*pid: a pid a dead one left, 0 if
 * none), -1 with *errmsg (caller frees).  It tries a shared lock for an
 * instant: a supervisor starting in that instant finds the project busy.
 */
int		 pidfile_probe(const char *project_dir, pid_t *pid,
		    char **errmsg);

#endif
