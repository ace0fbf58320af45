/*
 * ktx-supervisor status | pause | resume | drain | abort: a client of the
 * running supervisor's control socket (control.c).  With no supervisor
 * running, status shows the last run recorded in .ktx/runs/ and what runs
 * left behind (session worktrees, git lock files).
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "control.h"
#include "engine.h"
#include "lockd.h"
#include "log.h"
#include "proto.h"
#include "sentinel.h"
#include "supervisor.h"
#include "util.h"

/* How long a client waits for the supervisor's reply. */
#define CONTROL_REPLY_TIMEOUT_MS	10000

static const char status_usage[] =
    "usage: ktx-supervisor [-C dir] status [--json]\n";
static const char status_help[] =
    "\n"
    "Show the running supervisor's targets, the repository lock's holder and\n"
    "queue, and whether it is paused or draining; with none running, the\n"
    "last run recorded in .ktx/runs/ and what runs left behind.\n"
    "\n"
    "options:\n"
    "   --json      print one JSON document on stdout\n"
    "   -h, --help  print this help\n";

enum { OPT_JSON = 256 };

/*
 * Connect to the project's supervisor.  Returns the socket, -2 when none
 * is running (no socket, or a dead one's), -1 with *errmsg (caller frees).
 */
static int
connect_supervisor(const char *project_dir, char **errmsg)
{
	struct sockaddr_un	 sun;
	int			 fd, dirfd, rc, saved;

	*errmsg = NULL;
	if (control_address(project_dir, &sun, &dirfd, errmsg) == -1) {
		if (errno != ENOENT)
			return -1;
		free(*errmsg);
		*errmsg = NULL;
		return -2;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		xasprintf(errmsg, "socket: %s", strerror(errno));
		goto out;
	}
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	saved = errno;
	if (rc == 0)
		goto out;
	close(fd);
	if (saved == ENOENT || saved == ECONNREFUSED)
		fd = -2;
	else {
		xasprintf(errmsg, "cannot connect to \"%s/%s\": %s",
		    project_dir, CONTROL_SOCKET, strerror(saved));
		fd = -1;
	}
out:
	if (dirfd != -1)
		close(dirfd);
	return fd;
}

/*
 * Send a request of that type and read the reply (caller releases).
 * Returns 0, -2 with no supervisor running, -1 after saying what failed.
 */
static int
request(const struct cmd_context *ctx, enum proto_type type,
    struct proto_msg *reply)
{
	struct proto_conn	 conn;
	cJSON			*msg;
	char			*errmsg = NULL, *sent_error = NULL;
	int			 fd, rc = -1;

	memset(reply, 0, sizeof(*reply));
	if ((fd = connect_supervisor(ctx->project_dir, &errmsg)) < 0) {
		if (fd == -1) {
			cmd_errorx("%s", errmsg);
			free(errmsg);
		}
		return fd;
	}
	proto_conn_init(&conn, fd);
	msg = proto_new(type);
	if (proto_send(fd, msg, &errmsg) != 0) {
		/* Turned away at once: the reason may be waiting to be read. */
		sent_error = errmsg;
		errmsg = NULL;
	}
	rc = proto_recv(&conn, reply, CONTROL_REPLY_TIMEOUT_MS, &errmsg);
	if (rc == 1) {
		rc = 0;
		goto out;
	}
	if (sent_error != NULL)
		cmd_errorx("cannot send \"%s\" to the supervisor: %s",
		    proto_type_name(type), sent_error);
	else if (rc == 0)
		cmd_errorx("the supervisor closed the connection without "
		    "a reply");
	else
		cmd_errorx("no reply from the supervisor: %s", errmsg);
	rc = -1;
out:
	free(errmsg);
	free(sent_error);
	cJSON_Delete(msg);
	proto_conn_release(&conn);
	return rc;
}

/* Whether reply is of type want; if not, say what came instead. */
static int
expect(const struct proto_msg *reply, enum proto_type want,
    const char *asked)
{
	if (reply->type == want)
		return 1;
	if (reply->type == PROTO_ERROR)
		cmd_errorx("the supervisor refused \"%s\": %s", asked,
		    proto_str(reply, "message"));
	else
		cmd_errorx("the supervisor answered \"%s\" with \"%s\"", asked,
		    proto_type_name(reply->type));
	return 0;
}

/* The newest run record, by name (run ids start with the UTC time), or NULL. */
static char *
last_record(const char *project_dir)
{
	DIR		*dir;
	struct dirent	*de;
	char		*runs, *best = NULL;
	size_t		 len;

	xasprintf(&runs, "%s/.ktx/runs", project_dir);
	if ((dir = opendir(runs)) == NULL) {
		free(runs);
		return NULL;
	}
	while ((de = readdir(dir)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (best == NULL || strcmp(de->d_name, best) > 0) {
			free(best);
			best = xstrdup(de->d_name);
		}
	}
	closedir(dir);
	free(runs);
	return best;
}

/* The file's JSON, NULL with a message said when it cannot be read. */
static cJSON *
read_json(const char *path)
{
	FILE	*f;
	char	*text = NULL;
	size_t	 cap = 0;
	ssize_t	 n;
	cJSON	*doc = NULL;

	if ((f = fopen(path, "r")) == NULL) {
		cmd_errorx("cannot open \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	n = getdelim(&text, &cap, '\0', f);
	if (n <= 0 || (doc = cJSON_ParseWithLength(text, n)) == NULL)
		cmd_errorx("\"%s\" is not a run record", path);
	free(text);
	fclose(f);
	return doc;
}

/* Session worktrees left in .ktx/worktrees. */
static void
leftover_worktrees(const char *project_dir, struct strv *sv)
{
	DIR		*dir;
	struct dirent	*de;
	char		*path, *rel;

	xasprintf(&path, "%s/.ktx/worktrees", project_dir);
	if ((dir = opendir(path)) != NULL) {
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			xasprintf(&rel, ".ktx/worktrees/%s", de->d_name);
			strv_push_owned(sv, rel);
		}
		closedir(dir);
	}
	free(path);
}

static cJSON *
strv_json(const struct strv *sv)
{
	cJSON	*arr = cJSON_CreateArray();
	size_t	 i;

	for (i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(sv->v[i]));
	return arr;
}

/*
 * The outcome a kept session worktree's sentinel gives: the sentinel's,
 * "crash" without one (its worker died before it wrote one), NULL when it
 * cannot be read (*si then empty).  rel is relative to the project.
 */
static const char *
worktree_outcome(const char *project_dir, const char *rel,
    struct sentinel_info *si)
{
	char	*path, *errmsg = NULL;
	int	 rc;

	xasprintf(&path, "%s/%s", project_dir, rel);
	rc = sentinel_load(path, si, &errmsg);
	free(errmsg);
	free(path);
	return rc == 1 ? "crash" : rc == 0 ? si->outcome : NULL;
}

static void
print_worktree(const char *project_dir, const char *rel)
{
	struct sentinel_info	 si;
	const char		*outcome;

	outcome = worktree_outcome(project_dir, rel, &si);
	printf("left behind: session worktree %s: %s", rel, outcome != NULL ?
	    outcome : "unreadable sentinel");
	if (si.reason != NULL)
		printf(" (%.*s)", (int)strcspn(si.reason, "\n"), si.reason);
	else if (outcome != NULL && si.job_id == NULL)
		printf(" (no sentinel)");
	putchar('\n');
	sentinel_info_release(&si);
}

/* [{path, outcome, reason}] of the session worktrees. */
static cJSON *
sessions_json(const char *project_dir, const struct strv *worktrees)
{
	struct sentinel_info	 si;
	const char		*outcome;
	cJSON			*arr = cJSON_CreateArray(), *obj;
	size_t			 i;

	for (i = 0; i < worktrees->n; i++) {
		outcome = worktree_outcome(project_dir, worktrees->v[i], &si);
		obj = cJSON_CreateObject();
		cJSON_AddStringToObject(obj, "path", worktrees->v[i]);
		cJSON_AddItemToObject(obj, "outcome", outcome != NULL ?
		    cJSON_CreateString(outcome) : cJSON_CreateNull());
		cJSON_AddItemToObject(obj, "reason", si.reason != NULL ?
		    cJSON_CreateString(si.reason) : cJSON_CreateNull());
		cJSON_AddItemToArray(arr, obj);
		sentinel_info_release(&si);
	}
	return arr;
}

/* No supervisor runs: the last run and what is left behind. */
static int
status_offline(const struct cmd_context *ctx, int json)
{
	struct strv	 worktrees = { 0 }, locks = { 0 };
	struct stat	 st;
	cJSON		*record = NULL, *doc, *left;
	char		*name, *path = NULL, *git, *errmsg, *text;
	size_t		 i;
	int		 status = EXIT_ALL_DONE;

	if (stat(ctx->project_dir, &st) == -1) {
		cmd_errorx("cannot open \"%s\": %s", ctx->project_dir,
		    strerror(errno));
		return EXIT_TARGET_FAILED;
	}
	if (!S_ISDIR(st.st_mode)) {
		cmd_errorx("\"%s\" is not a directory", ctx->project_dir);
		return EXIT_TARGET_FAILED;
	}
	if ((name = last_record(ctx->project_dir)) != NULL) {
		xasprintf(&path, "%s/.ktx/runs/%s", ctx->project_dir, name);
		if ((record = read_json(path)) == NULL)
			status = EXIT_TARGET_FAILED;
	}
	leftover_worktrees(ctx->project_dir, &worktrees);
	/* Not a git repository (yet): no git lock files to speak of. */
	xasprintf(&git, "%s/.git", ctx->project_dir);
	if (stat(git, &st) == 0 && S_ISDIR(st.st_mode) &&
	    lockd_git_locks(ctx->project_dir, &locks, &errmsg) == -1) {
		cmd_errorx("%s", errmsg);
		free(errmsg);
		status = EXIT_TARGET_FAILED;
	}
	free(git);
	if (json) {
		doc = cJSON_CreateObject();
		cJSON_AddFalseToObject(doc, "running");
		if (name != NULL) {
			free(path);
			xasprintf(&path, ".ktx/runs/%s", name);
		}
		cJSON_AddItemToObject(doc, "record", path != NULL ?
		    cJSON_CreateString(path) : cJSON_CreateNull());
		cJSON_AddItemToObject(doc, "lastRun", record != NULL ? record :
		    cJSON_CreateNull());
		left = cJSON_AddObjectToObject(doc, "leftovers");
		cJSON_AddItemToObject(left, "worktrees", strv_json(&worktrees));
		cJSON_AddItemToObject(left, "sessions",
		    sessions_json(ctx->project_dir, &worktrees));
		cJSON_AddItemToObject(left, "gitLocks", strv_json(&locks));
		text = cJSON_Print(doc);
		printf("%s\n", text);
		free(text);
		cJSON_Delete(doc);
		record = NULL;
	} else {
		printf("no ktx-supervisor is running in %s\n",
		    ctx->project_dir);
		if (record != NULL)
			status_print_record(record, name, stdout);
		else if (name == NULL)
			printf("no run is recorded in .ktx/runs\n");
		for (i = 0; i < worktrees.n; i++)
			print_worktree(ctx->project_dir, worktrees.v[i]);
		for (i = 0; i < locks.n; i++)
			printf("left behind: git lock file %s\n", locks.v[i]);
		if (worktrees.n + locks.n > 0)
			printf("(\"ktx-supervisor recover\" lists and clears "
			    "them)\n");
	}
	cJSON_Delete(record);
	strv_release(&worktrees);
	strv_release(&locks);
	free(path);
	free(name);
	return status;
}

int
cmd_status(struct cmd_context *ctx, int argc, char **argv)
{
	static const char	 optstring[] = ":h";
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "json",	no_argument,	NULL,	OPT_JSON },
		{ NULL,		0,		NULL,	0 }
	};
	struct proto_msg	 reply;
	cJSON			*doc, *snap;
	char			*text;
	int			 ch, json = 0, rc;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'h':
			fputs(status_usage, stdout);
			fputs(status_help, stdout);
			return EXIT_ALL_DONE;
		case OPT_JSON:
			json = 1;
			break;
		default:
			return cmd_bad_option(status_usage, optstring, argv,
			    ch);
		}
	}
	if (optind != argc) {
		cmd_errorx("unexpected argument \"%s\"", argv[optind]);
		return cmd_usage_error(status_usage);
	}
	if ((rc = request(ctx, PROTO_STATUS, &reply)) == -2)
		return status_offline(ctx, json);
	if (rc == -1)
		return EXIT_TARGET_FAILED;
	if (!expect(&reply, PROTO_SNAPSHOT, "status")) {
		proto_msg_release(&reply);
		return EXIT_TARGET_FAILED;
	}
	if (json) {
		snap = cJSON_Duplicate(reply.json, 1);
		cJSON_DeleteItemFromObjectCaseSensitive(snap, "v");
		cJSON_DeleteItemFromObjectCaseSensitive(snap, "type");
		doc = cJSON_CreateObject();
		cJSON_AddTrueToObject(doc, "running");
		cJSON_AddItemToObject(doc, "status", snap);
		text = cJSON_Print(doc);
		printf("%s\n", text);
		free(text);
		cJSON_Delete(doc);
	} else
		status_print(reply.json, stdout);
	proto_msg_release(&reply);
	return EXIT_ALL_DONE;
}

/* pause, resume, drain, abort: no arguments, one request, its answer. */
static int
simple_request(struct cmd_context *ctx, int argc, char **argv,
    enum proto_type type, const char *help)
{
	static const char	 optstring[] = ":h";
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ NULL,		0,		NULL,	0 }
	};
	struct proto_msg	 reply;
	char			*usage;
	int			 ch, rc, status = EXIT_USAGE;

	xasprintf(&usage, "usage: ktx-supervisor [-C dir] %s\n", argv[0]);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, longopts,
	    NULL)) != -1) {
		if (ch == 'h') {
			printf("%s\n%s", usage, help);
			status = EXIT_ALL_DONE;
		} else
			status = cmd_bad_option(usage, optstring, argv, ch);
		goto out;
	}
	if (optind != argc) {
		cmd_errorx("unexpected argument \"%s\"", argv[optind]);
		status = cmd_usage_error(usage);
		goto out;
	}
	status = EXIT_TARGET_FAILED;
	if ((rc = request(ctx, type, &reply)) == -2)
		cmd_errorx("no ktx-supervisor is running in \"%s\"",
		    ctx->project_dir);
	if (rc != 0)
		goto out;
	if (expect(&reply, PROTO_OK, argv[0])) {
		log_fprintf(stdout, "%s\n", proto_str(&reply, "message"));
		status = EXIT_ALL_DONE;
	}
	proto_msg_release(&reply);
out:
	free(usage);
	return status;
}

int
cmd_pause(struct cmd_context *ctx, int argc, char **argv)
{
	return simple_request(ctx, argc, argv, PROTO_PAUSE,
	    "Freeze the running ingest like SIGTSTP: nothing new starts and\n"
	    "every worker's process group is stopped, but the supervisor\n"
	    "keeps serving, so \"resume\" can reach it.\n");
}

int
cmd_resume(struct cmd_context *ctx, int argc, char **argv)
{
	return simple_request(ctx, argc, argv, PROTO_RESUME,
	    "Thaw a paused ingest, like SIGCONT.\n");
}

int
cmd_drain(struct cmd_context *ctx, int argc, char **argv)
{
	return simple_request(ctx, argc, argv, PROTO_DRAIN,
	    "Like SIGHUP: start nothing new, let running targets finish and\n"
	    "report the rest as not-run.\n");
}

int
cmd_abort(struct cmd_context *ctx, int argc, char **argv)
{
	return simple_request(ctx, argc, argv, PROTO_ABORT,
	    "Like SIGTERM: stop every worker (TERM, then KILL after the grace\n"
	    "period); a second abort kills them at once.\n");
}
