/*
 * ktx-supervisor ingest: parse the options, load ktx.yaml, build the plan;
 * print it (--dry-run) or hand it to run_ingest.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ktxconfig.h"
#include "log.h"
#include "plan.h"
#include "supervisor.h"
#include "util.h"

#define INGEST_DEFAULT_GRACE	10
#define INGEST_TIMEOUT_MAX	604800	/* a week */
#define INGEST_GRACE_MAX	3600

static const char ingest_usage[] =
    "usage: ktx-supervisor [-C dir] ingest [--all | connection ...] [-j n]"
    " [--json | --plain]\n"
    "                      [--dry-run] [--timeout secs] [--grace secs]\n";

static const char ingest_help[] =
    "\n"
    "Ingest the named connections of ktx.yaml, or all of them: database\n"
    "targets one at a time, then source targets in parallel.\n"
    "\n"
    "options:\n"
    "   --all           every configured connection (the default)\n"
    "   -j, --jobs n    run at most n source targets at once (1..64;\n"
    "                   default ingest.sources.maxConcurrency)\n"
    "   --json          print one JSON document on stdout\n"
    "   --plain         progress as lines on stderr, also on a terminal\n"
    "                   (without it a terminal gets a live view)\n"
    "   --dry-run       print the plan and exit; change nothing\n"
    "   --timeout secs  stop a target that runs longer (1..604800)\n"
    "   --grace secs    wait between SIGTERM and SIGKILL (0..3600;"
    " default 10)\n"
    "   -h, --help      print this help\n";

enum {
	OPT_ALL = 256,
	OPT_DRY_RUN,
	OPT_GRACE,
	OPT_JSON,
	OPT_PLAIN,
	OPT_TIMEOUT
};

/*
 * A decimal number from min to max, nothing else: no sign, no blanks,
 * no trailing characters.
 */
static int
parse_number(const char *option, const char *arg, long long min,
    long long max, int *out)
{
	const char	*errstr = NULL;
	long long	 v = 0;

	if (arg[0] == '-' && isdigit((unsigned char)arg[1]))
		errstr = "too small";
	else if (!isdigit((unsigned char)arg[0]))
		errstr = "invalid";
	else
		v = strtonum(arg, min, max, &errstr);
	if (errstr != NULL) {
		cmd_errorx("option \"%s\": \"%s\" is %s (expected %lld..%lld)",
		    option, arg, errstr, min, max);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* The project's ktx.yaml.  Caller frees. */
static char *
config_path(const struct cmd_context *ctx)
{
	char	*path;
	size_t	 len = strlen(ctx->project_dir);

	xasprintf(&path, "%s%sktx.yaml", ctx->project_dir,
	    len > 0 && ctx->project_dir[len - 1] == '/' ? "" : "/");
	return path;
}

/*
 * config_load names the file as it was given, project directory in front;
 * without it the messages read "ktx.yaml:L:C: ..." whatever -C said.
 */
static const char *
relative_message(const char *msg, const char *path)
{
	size_t	dirlen = strlen(path) - strlen("ktx.yaml");

	if (strncmp(msg, path, dirlen) == 0)
		return msg + dirlen;
	return msg;
}

static void
print_plan(const struct plan *plan, int json)
{
	cJSON	*doc;
	char	*text;

	if (!json) {
		plan_print_table(plan, stdout);
		return;
	}
	doc = cJSON_CreateObject();
	cJSON_AddItemToObject(doc, "plan", plan_to_json(plan));
	text = cJSON_Print(doc);
	printf("%s\n", text);
	free(text);
	cJSON_Delete(doc);
}

int
cmd_ingest(struct cmd_context *ctx, int argc, char **argv)
{
	static const char	 optstring[] = ":hj:";
	static const struct option longopts[] = {
		{ "all",	no_argument,		NULL,	OPT_ALL },
		{ "dry-run",	no_argument,		NULL,	OPT_DRY_RUN },
		{ "grace",	required_argument,	NULL,	OPT_GRACE },
		{ "help",	no_argument,		NULL,	'h' },
		{ "jobs",	required_argument,	NULL,	'j' },
		{ "json",	no_argument,		NULL,	OPT_JSON },
		{ "plain",	no_argument,		NULL,	OPT_PLAIN },
		{ "timeout",	required_argument,	NULL,	OPT_TIMEOUT },
		{ NULL,		0,			NULL,	0 }
	};
	struct ingest_opts	 opts = { .grace = INGEST_DEFAULT_GRACE };
	struct ktx_config	 cfg = { 0 };
	struct plan		 plan = { 0 };
	struct stat		 sb;
	char			*path = NULL, *errmsg = NULL;
	size_t			 i;
	int			 ch, all = 0, status = EXIT_USAGE;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, longopts,
	    NULL)) != -1) {
		switch (ch) {
		case OPT_ALL:
			all = 1;
			break;
		case OPT_DRY_RUN:
			opts.dry_run = 1;
			break;
		case OPT_GRACE:
			if (parse_number("--grace", optarg, 0,
			    INGEST_GRACE_MAX, &opts.grace) == -1) {
				status = cmd_usage_error(ingest_usage);
				goto out;
			}
			break;
		case 'h':
			fputs(ingest_usage, stdout);
			fputs(ingest_help, stdout);
			status = EXIT_ALL_DONE;
			goto out;
		case 'j':
			if (parse_number("-j", optarg, KTX_MAX_CONCURRENCY_MIN,
			    KTX_MAX_CONCURRENCY_MAX, &opts.jobs) == -1) {
				status = cmd_usage_error(ingest_usage);
				goto out;
			}
			break;
		case OPT_JSON:
			opts.json = 1;
			break;
		case OPT_PLAIN:
			opts.plain = 1;
			break;
		case OPT_TIMEOUT:
			if (parse_number("--timeout", optarg, 1,
			    INGEST_TIMEOUT_MAX, &opts.timeout) == -1) {
				status = cmd_usage_error(ingest_usage);
				goto out;
			}
			break;
		default:
			status = cmd_bad_option(ingest_usage, optstring, argv,
			    ch);
			goto out;
		}
	}
	argc -= optind;
	argv += optind;
	if (all && argc > 0) {
		cmd_errorx("--all cannot be combined with connection names");
		status = cmd_usage_error(ingest_usage);
		goto out;
	}

	path = config_path(ctx);
	if (stat(path, &sb) == -1 && errno == ENOENT) {
		cmd_errorx("ktx.yaml: no such file in %s", ctx->project_dir);
		goto out;
	}
	if (config_load(path, &cfg, &errmsg) == -1) {
		cmd_errorx("%s", relative_message(errmsg, path));
		goto out;
	}
	for (i = 0; i < cfg.warnings.n; i++)
		log_warnx("%s", relative_message(cfg.warnings.v[i], path));

	if (plan_build(&cfg, ctx->project_dir, argv, (size_t)argc, opts.jobs,
	    &plan, &errmsg) == -1) {
		cmd_errorx("%s", errmsg);
		goto out;
	}
	if (opts.dry_run) {
		print_plan(&plan, opts.json);
		status = EXIT_ALL_DONE;
	} else {
		status = run_ingest(ctx, &cfg, &plan, &opts);
	}
out:
	plan_release(&plan);
	config_release(&cfg);
	free(errmsg);
	free(path);
	return status;
}
