/*
 * ktx-supervisor: global options, the project directory, and dispatch to
 * the command's own cmd_*.c.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "supervisor.h"
#include "util.h"

/* Long-only options get values no short option has. */
enum { OPT_VERSION = 256 };

static const char main_usage[] =
    "usage: ktx-supervisor [-C dir] [--version] [--help] command [args]\n";

static const struct {
	const char	*name;
	int		(*fn)(struct cmd_context *, int, char **);
	const char	*summary;
} commands[] = {
	{ "init", cmd_init,
	    "create a ktx project: git repository, ktx.yaml, .ktx/" },
	{ "ingest", cmd_ingest,
	    "ingest the configured connections into the project" },
	{ "status", cmd_status,
	    "the running ingest, or the last run and what it left" },
	{ "pause", cmd_pause, "freeze the running ingest (as SIGTSTP)" },
	{ "resume", cmd_resume, "thaw it (as SIGCONT)" },
	{ "drain", cmd_drain,
	    "start nothing new, finish what runs (as SIGHUP)" },
	{ "abort", cmd_abort, "stop the running ingest (as SIGTERM)" },
	{ "recover", cmd_recover,
	    "list or remove what crashed and failed runs left" },
};

void
cmd_errorx(const char *fmt, ...)
{
	va_list	ap;

	fputs("ktx-supervisor: ", stderr);
	va_start(ap, fmt);
	log_vputs(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cmd_usage_error(const char *usage)
{
	fputs(usage, stderr);
	return EXIT_USAGE;
}

/* The option word argv[optind - 1], without a "=value" part. */
static int
option_word_len(const char *word)
{
	return (int)strcspn(word, "=");
}

int
cmd_bad_option(const char *usage, const char *optstring, char **argv, int ch)
{
	const char	*word = argv[optind - 1];
	int		 known;

	/*
	 * getopt_long ran with opterr = 0 and optstring starting with ':'.
	 * optopt is 0 after an unknown long option, the option's value after
	 * a long option given a value it does not take, else the short
	 * option character; only in the first two cases is argv[optind - 1]
	 * the culprit (a short option may sit inside a cluster).
	 */
	known = optopt >= 256 || (optopt > 0 && optopt != ':' &&
	    strchr(optstring, optopt) != NULL);
	if (ch == ':')
		cmd_errorx("option \"%s\" requires a value", word);
	else if (optopt == 0)
		cmd_errorx("unknown option \"%.*s\"", option_word_len(word),
		    word);
	else if (known)
		cmd_errorx("option \"%.*s\" does not take a value",
		    option_word_len(word), word);
	else
		cmd_errorx("unknown option \"-%c\"", optopt);
	return cmd_usage_error(usage);
}

static void
print_help(void)
{
	size_t	i;

	fputs(main_usage, stdout);
	fputs("\ncommands:\n", stdout);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		printf("   %-8s %s\n", commands[i].name, commands[i].summary);
	fputs("\noptions:\n"
	    "   -C dir     work on the project in dir\n"
	    "   --help     print this help\n"
	    "   --version  print the version\n"
	    "\n'ktx-supervisor command --help' describes a command;"
	    " see ktx-supervisor(8).\n", stdout);
}

/* Caller frees. */
static char *
current_dir(void)
{
	char	*cwd;

	if ((cwd = getcwd(NULL, 0)) == NULL)
		fatal("getcwd");
	return cwd;
}

/* Caller frees. */
static char *
join_path(const char *dir, const char *name)
{
	char	*p;
	size_t	 len = strlen(dir);

	xasprintf(&p, "%s%s%s", dir, len > 0 && dir[len - 1] == '/' ? "" : "/",
	    name);
	return p;
}

/* The nearest of cwd and its ancestors that holds ktx.yaml, or NULL. */
static char *
find_project_upwards(const char *cwd)
{
	struct stat	 sb;
	char		*dir, *path, *slash;

	dir = xstrdup(cwd);
	for (;;) {
		path = join_path(dir, "ktx.yaml");
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
			free(path);
			return dir;
		}
		free(path);
		if ((slash = strrchr(dir, '/')) == NULL || dir[1] == '\0')
			break;
		slash[slash == dir ? 1 : 0] = '\0';
	}
	free(dir);
	return NULL;
}

/*
 * -C, then KTX_PROJECT_DIR, then the nearest ancestor of the current
 * directory holding ktx.yaml, then the current directory; made absolute.
 * A directory that does not exist yet (for init) is joined to the current
 * directory as it is.
 */
static int
resolve_project(struct cmd_context *ctx, const char *dir_opt)
{
	const char	*dir = dir_opt;
	char		*cwd, *found = NULL, resolved[PATH_MAX];

	cwd = current_dir();
	if (dir != NULL) {
		ctx->dir_explicit = 1;
	} else if ((dir = getenv("KTX_PROJECT_DIR")) != NULL) {
		if (*dir == '\0') {
			cmd_errorx("KTX_PROJECT_DIR is set but empty");
			free(cwd);
			return -1;
		}
		ctx->dir_explicit = 1;
	} else if ((found = find_project_upwards(cwd)) != NULL) {
		dir = found;
	} else {
		dir = cwd;
	}

	if (realpath(dir, resolved) != NULL)
		ctx->project_dir = xstrdup(resolved);
	else if (*dir == '/')
		ctx->project_dir = xstrdup(dir);
	else
		ctx->project_dir = join_path(cwd, dir);
	free(found);
	free(cwd);
	return 0;
}

/* -C given more than once: a relative one is taken from the previous one. */
static void
add_dir_opt(char **dir_opt, const char *arg)
{
	char	*next;

	if (*dir_opt == NULL || *arg == '/')
		next = xstrdup(arg);
	else
		next = join_path(*dir_opt, arg);
	free(*dir_opt);
	*dir_opt = next;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "version",	no_argument,	NULL,	OPT_VERSION },
		{ NULL,		0,		NULL,	0 }
	};
	static const char	 optstring[] = "+:C:h";
	cJSON_Hooks		 hooks = { xmalloc, free };
	struct cmd_context	 ctx = { 0 };
	char			*dir_opt = NULL;
	size_t			 i;
	int			 ch, status = EXIT_USAGE;

	log_init("ktx-supervisor", LOG_LEVEL_INFO);
	cJSON_InitHooks(&hooks);

	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'C':
			if (*optarg == '\0') {
				cmd_errorx("option \"-C\" requires a"
				    " directory");
				status = cmd_usage_error(main_usage);
				goto out;
			}
			add_dir_opt(&dir_opt, optarg);
			break;
		case 'h':
			print_help();
			status = EXIT_ALL_DONE;
			goto out;
		case OPT_VERSION:
			printf("ktx-supervisor %s\n", PACKAGE_VERSION);
			status = EXIT_ALL_DONE;
			goto out;
		default:
			status = cmd_bad_option(main_usage, optstring, argv,
			    ch);
			goto out;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		cmd_errorx("no command given");
		status = cmd_usage_error(main_usage);
		goto out;
	}

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		cmd_errorx("unknown command \"%s\"", argv[0]);
		status = cmd_usage_error(main_usage);
		goto out;
	}
	if (resolve_project(&ctx, dir_opt) == -1)
		goto out;

	optind = 0;	/* glibc: start afresh on the command's argv */
	status = commands[i].fn(&ctx, argc, argv);
out:
	/* Output lost to a full disk must not look like success. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cmd_errorx("cannot write to standard output: %s",
		    strerror(errno));
		if (status == EXIT_ALL_DONE)
			status = EXIT_TARGET_FAILED;
	}
	free(ctx.project_dir);
	free(dir_opt);
	return status;
}
