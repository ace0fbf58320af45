/*
 * ktx-supervisor: the commands, and the pieces of the running supervisor.
 */
#ifndef KTX_SUPERVISOR_H
#define KTX_SUPERVISOR_H

/* Exit statuses, documented in ktx-supervisor(8) EXIT STATUS. */
#define EXIT_ALL_DONE		0
#define EXIT_TARGET_FAILED	1
#define EXIT_USAGE		2
#define EXIT_LEFTOVERS		3	/* recover: leftovers remain */
#define EXIT_BUSY		75

/* The project a command works on, resolved from -C, KTX_PROJECT_DIR, ... */
struct cmd_context {
	char	*project_dir;	/* absolute */
	int	 dir_explicit;	/* given with -C or KTX_PROJECT_DIR */
};

struct ktx_config;
struct plan;

/* What `ingest` was asked for, after option parsing (cmd_ingest.c). */
struct ingest_opts {
	int	 json;		/* --json: one JSON document on stdout */
	int	 plain;		/* --plain: no live view on a terminal */
	int	 dry_run;	/* --dry-run: print the plan, touch nothing */
	int	 jobs;		/* -j N; 0: ingest.sources.maxConcurrency */
	int	 timeout;	/* --timeout SECS per target; 0: from ktx.yaml, else none */
	int	 grace;		/* --grace SECS between TERM and KILL; default 10 */
};

/*
 * Run a plan: fork a worker per target, stage 1 then stage 2, report in
 * plan order, write the run record (run.c).  Returns the exit status; a
 * terminating signal is re-raised instead of returning.
 */
int	run_ingest(struct cmd_context *, const struct ktx_config *,
	    const struct plan *, const struct ingest_opts *);

/*
 * main.c: the command line's errors.  cmd_errorx prints "ktx-supervisor:
 * <message>" on stderr; cmd_usage_error prints a usage text there and
 * cmd_bad_option reports what getopt_long (opterr = 0, optstring starting
 * with ':', long-only options valued from 256) refused; both return
 * EXIT_USAGE.
 */
void	cmd_errorx(const char *, ...) __attribute__((format(printf, 1, 2)));
int	cmd_usage_error(const char *usage);
int	cmd_bad_option(const char *usage, const char *optstring, char **argv,
	    int ch);

/* Each command parses its own arguments (argv[0] is the command name). */
int	cmd_init(struct cmd_context *, int argc, char **argv);
int	cmd_ingest(struct cmd_context *, int argc, char **argv);
/* cmd_control.c: the running supervisor's control socket, as a client. */
int	cmd_status(struct cmd_context *, int argc, char **argv);
int	cmd_pause(struct cmd_context *, int argc, char **argv);
int	cmd_resume(struct cmd_context *, int argc, char **argv);
int	cmd_drain(struct cmd_context *, int argc, char **argv);
int	cmd_abort(struct cmd_context *, int argc, char **argv);
/* cmd_recover.c: what crashed or failed runs left, and clearing it. */
int	cmd_recover(struct cmd_context *, int argc, char **argv);

#endif
