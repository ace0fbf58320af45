/*
 * ktx-supervisor: the commands, and the pieces of the running supervisor.
 */
#ifndef KTX_SUPERVISOR_H
#define KTX_SUPERVISOR_H

/* Exit statuses, documented in ktx-supervisor(8) EXIT STATUS. */
#define EXIT_ALL_DONE		0
#define EXIT_TARGET_FAILED	1
#define EXIT_USAGE		2
#define EXIT_BUSY		75

/* The project a command works on, resolved from -C, KTX_PROJECT_DIR, ... */
struct cmd_context {
	char	*project_dir;	/* absolute */
	int	 dir_explicit;	/* given with -C or KTX_PROJECT_DIR */
};

/* Each command parses its own arguments (argv[0] is the command name). */
int	cmd_init(struct cmd_context *, int argc, char **argv);
int	cmd_ingest(struct cmd_context *, int argc, char **argv);

#endif
