/*
 * ktx-supervisor recover [--json] [--prune [--force]]: what crashed,
 * aborted, timed-out and conflicting runs left in the project, and
 * clearing it.
 *
 * Leftovers: session worktrees (with their .ktx-outcome), session/
 * branches without a worktree, git lock files, an interrupted squash's
 * journal .git/ktx-squash, a dead supervisor's pidfile and control
 * socket, and workers' staging dirs under .ktx/cache/local-ingest.
 *
 * A lock file's writer is a worker or the supervisor.  Workers die with
 * their supervisor, but not at once: they get SIGTERM (PR_SET_PDEATHSIG)
 * and stop at their next safe point, finishing the git step in progress.
 * So "no supervisor holds the pidfile" is not enough to call a lock file
 * dead: a process of the project that is still alive (one with a file of
 * .ktx/ingest-traces open, as every worker has its trace, or with the
 * lock file itself open) is a live writer too, and --prune waits for
 * none.  --prune holds the pidfile lock while it works, so no supervisor
 * can start meanwhile; it never moves main: an interrupted squash is
 * completed or rolled back as gitops_recover_squash does.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "control.h"
#include "engine.h"
#include "gitops.h"
#include "lockd.h"
#include "log.h"
#include "sentinel.h"
#include "supervisor.h"
#include "util.h"

#define STAGING_ROOT	".ktx/cache/local-ingest"
#define TRACES_DIR	".ktx/ingest-traces"
#define PIDFILE		".ktx/run/supervisor.pid"
#define SQUASH_JOURNAL	".git/ktx-squash"

static const char recover_usage[] =
    "usage: ktx-supervisor [-C dir] recover [--json] [--prune [--force]]\n";
static const char recover_help[] =
    "\n"
    "List what crashed, aborted, timed-out and conflicting runs left in the\n"
    "project: session worktrees with their outcome, session branches, git\n"
    "lock files, an interrupted squash, a dead supervisor's pidfile and\n"
    "socket, staging dirs.  --prune removes the prunable ones.\n"
    "\n"
    "options:\n"
    "   --json      print one JSON document on stdout\n"
    "   --prune     remove the leftovers of crashed, aborted and timed-out\n"
    "               targets; refused while an ingest runs\n"
    "   --force     with --prune, conflict worktrees too (they hold work)\n"
    "   -h, --help  print this help\n";

enum { OPT_JSON = 256, OPT_PRUNE, OPT_FORCE };

/* One leftover; strings owned, NULL for JSON null. */
struct leftover {
	const char	*kind;
	char		*path;		/* absolute */
	char		*branch;
	char		*outcome;
	char		*reason;
	int64_t		 age_s;		/* -1: unknown */
	char		*base;
	int		 writer_alive;	/* -1: not a file with a writer */
	int		 prunable;
	char		*error;		/* why pruning it failed */
};

struct leftovers {
	struct leftover	*v;
	size_t		 n, cap;
};

/* What recover found about the project's processes. */
struct scene {
	const char	*project;
	int		 running;	/* a supervisor holds the pidfile */
	pid_t		 pid;		/* its pid, or a dead one's left in it */
	pid_t		*workers;	/* live processes with a trace open */
	size_t		 nworkers;
	struct strv	 open_files;	/* project files some process has open */
	int		 force;
};

static void
leftovers_release(struct leftovers *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].branch);
		free(l->v[i].outcome);
		free(l->v[i].reason);
		free(l->v[i].base);
		free(l->v[i].error);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static struct leftover *
leftover_add(struct leftovers *l, const char *kind, char *path)
{
	struct leftover	*lo;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	lo = &l->v[l->n++];
	memset(lo, 0, sizeof(*lo));
	lo->kind = kind;
	lo->path = path;
	lo->age_s = -1;
	lo->writer_alive = -1;
	return lo;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* Seconds since the file's mtime, -1 if it cannot be read. */
static int64_t
age_of(const char *path)
{
	struct stat	st;
	int64_t		age;

	if (lstat(path, &st) == -1)
		return -1;
	age = (now_wall_ms() - (int64_t)st.st_mtim.tv_sec * 1000 -
	    st.st_mtim.tv_nsec / 1000000) / 1000;
	return age < 0 ? 0 : age;
}

static int
has_prefix(const char *s, const char *dir)
{
	size_t	n = strlen(dir);

	return strncmp(s, dir, n) == 0 && s[n] == '/';
}

/*
 * The project's files other processes have open (every /proc/<pid>/fd we
 * may read), and the processes with a trace open: workers, alive.
 */
static void
scan_processes(struct scene *sc)
{
	DIR		*proc, *fds;
	struct dirent	*pe, *fe;
	char		*fddir, *link, *traces, target[PATH_MAX];
	ssize_t		 n;
	pid_t		 pid, me = getpid();
	int		 worker;

	xasprintf(&traces, "%s/%s", sc->project, TRACES_DIR);
	if ((proc = opendir("/proc")) == NULL) {
		free(traces);
		return;
	}
	while ((pe = readdir(proc)) != NULL) {
		if ((pid = (pid_t)strtol(pe->d_name, NULL, 10)) <= 0 ||
		    pid == me)
			continue;
		xasprintf(&fddir, "/proc/%d/fd", (int)pid);
		fds = opendir(fddir);
		worker = 0;
		while (fds != NULL && (fe = readdir(fds)) != NULL) {
			if (fe->d_name[0] == '.')
				continue;
			xasprintf(&link, "%s/%s", fddir, fe->d_name);
			n = readlink(link, target, sizeof(target) - 1);
			free(link);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (!has_prefix(target, sc->project))
				continue;
			if (has_prefix(target, traces))
				worker = 1;
			if (!strv_has(&sc->open_files, target))
				strv_push(&sc->open_files, target);
		}
		if (fds != NULL)
			closedir(fds);
		free(fddir);
		if (worker) {
			sc->workers = xreallocarray(sc->workers,
			    sc->nworkers + 1, sizeof(*sc->workers));
			sc->workers[sc->nworkers++] = pid;
		}
	}
	closedir(proc);
	free(traces);
}

/* The key of a session worktree path, ".../session-<key>". */
static const char *
session_key(const char *path)
{
	const char	*base = strrchr(path, '/');

	base = base != NULL ? base + 1 : path;
	return strncmp(base, "session-", 8) == 0 ? base + 8 : base;
}

static void
add_worktree(struct leftovers *l, const struct scene *sc, const char *path)
{
	struct sentinel_info	 si;
	struct leftover		*lo;
	char			*errmsg = NULL;
	int			 rc;

	lo = leftover_add(l, "worktree", xstrdup(path));
	xasprintf(&lo->branch, "session/%s", session_key(path));
	rc = sentinel_load(path, &si, &errmsg);
	if (rc == 0) {
		lo->outcome = dup_or_null(si.outcome);
		lo->reason = dup_or_null(si.reason);
		lo->base = dup_or_null(si.base_sha);
		if (si.at_ms >= 0)
			lo->age_s = (now_wall_ms() - si.at_ms) / 1000;
		sentinel_info_release(&si);
	} else if (sc->running) {
		/* A live session has no sentinel yet. */
		lo->reason = rc == 1 ? xstrdup("no sentinel: it may be a "
		    "session of the running ingest") : errmsg;
		errmsg = NULL;
	} else if (rc == 1) {
		lo->outcome = xstrdup("crash");
		lo->reason = xstrdup("no sentinel: its worker died before it "
		    "wrote one");
	} else {
		/* Unreadable: it may have been a conflict's. */
		lo->reason = errmsg;
		errmsg = NULL;
	}
	free(errmsg);
	if (lo->age_s < 0)
		lo->age_s = age_of(path);
	/*
	 * A conflict holds work a person may want; so may an outcome this
	 * program does not know.
	 */
	lo->prunable = sc->force || (lo->outcome != NULL &&
	    (strcmp(lo->outcome, "crash") == 0 ||
	    strcmp(lo->outcome, "aborted") == 0 ||
	    strcmp(lo->outcome, "timeout") == 0));
}

static void
add_gitlock(struct leftovers *l, const struct scene *sc, const char *rel)
{
	struct leftover	*lo;
	char		*path;

	xasprintf(&path, "%s/%s", sc->project, rel);
	lo = leftover_add(l, "gitlock", path);
	lo->age_s = age_of(path);
	lo->writer_alive = sc->running || sc->nworkers > 0 ||
	    strv_has(&sc->open_files, path);
	lo->prunable = !lo->writer_alive;
}

/* The journal's ref and old commit; what recovering it will do. */
static void
add_journal(struct leftovers *l, const struct scene *sc,
    struct gitops_repo *repo)
{
	struct leftover	*lo;
	FILE		*f;
	char		*path, ref[256], old[GITOPS_HEXSZ + 1];
	char		 cur[GITOPS_HEXSZ + 1], *errmsg = NULL;

	xasprintf(&path, "%s/%s", sc->project, SQUASH_JOURNAL);
	if ((f = fopen(path, "r")) == NULL) {
		free(path);
		return;
	}
	lo = leftover_add(l, "squash-journal", path);
	lo->age_s = age_of(path);
	lo->writer_alive = sc->running || sc->nworkers > 0;
	lo->prunable = !lo->writer_alive;
	if (fscanf(f, "ktx-squash 1\nref %255s\nold %40s\n", ref, old) != 2) {
		lo->reason = xstrdup("not a squash journal");
		lo->prunable = 0;
	} else if (gitops_resolve(repo, ref, cur, &errmsg) == -1) {
		lo->reason = errmsg;
		lo->prunable = 0;
	} else {
		lo->branch = xstrdup(ref);
		lo->base = xstrdup(old);
		lo->reason = xstrdup(strcmp(cur, old) == 0 ?
		    "a squash stopped before its branch moved: its paths "
		    "are put back to the branch's content" :
		    "a squash stopped after its branch moved: the journal "
		    "is dropped");
	}
	fclose(f);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
add_staging(struct leftovers *l, const struct scene *sc)
{
	DIR		*d;
	struct dirent	*de;
	struct leftover	*lo;
	struct strv	 names = { 0 };
	char		*dir, *path;
	size_t		 i;

	xasprintf(&dir, "%s/%s", sc->project, STAGING_ROOT);
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				strv_push(&names, de->d_name);
		closedir(d);
	}
	if (names.n > 1)
		qsort(names.v, names.n, sizeof(*names.v), cmp_name);
	for (i = 0; i < names.n; i++) {
		xasprintf(&path, "%s/%s", dir, names.v[i]);
		lo = leftover_add(l, "staging", path);
		lo->age_s = age_of(path);
		lo->prunable = 1;
	}
	strv_release(&names);
	free(dir);
}

/* A dead supervisor's pidfile (its pid still in it) and socket. */
static void
add_run_files(struct leftovers *l, const struct scene *sc)
{
	struct leftover	*lo;
	struct stat	 st;
	char		*path;

	if (sc->running)
		return;
	if (sc->pid > 0) {
		xasprintf(&path, "%s/%s", sc->project, PIDFILE);
		lo = leftover_add(l, "pidfile", path);
		lo->age_s = age_of(path);
		lo->writer_alive = 0;
		xasprintf(&lo->reason, "pid %d is not running a supervisor",
		    (int)sc->pid);
		lo->prunable = 1;
	}
	xasprintf(&path, "%s/%s", sc->project, CONTROL_SOCKET);
	if (lstat(path, &st) == 0) {
		lo = leftover_add(l, "socket", path);
		lo->age_s = age_of(path);
		lo->writer_alive = 0;
		lo->prunable = S_ISSOCK(st.st_mode);
		if (!lo->prunable)
			lo->reason = xstrdup("not a socket");
	} else
		free(path);
}

/* Everything left behind, in a fixed order.  -1 after saying what failed. */
static int
scan(struct leftovers *l, const struct scene *sc, struct gitops_repo *repo)
{
	struct gitops_leftovers	 gl;
	struct strv		 locks = { 0 };
	struct leftover		*lo;
	char			*errmsg = NULL, *want;
	size_t			 i, j;
	int			 rc = -1;

	if (gitops_list_leftovers(repo, &gl, &errmsg) == -1) {
		cmd_errorx("%s", errmsg);
		free(errmsg);
		return -1;
	}
	for (i = 0; i < gl.worktrees.n; i++)
		add_worktree(l, sc, gl.worktrees.v[i]);
	for (i = 0; i < gl.branches.n; i++) {
		for (j = 0; j < l->n; j++)
			if (l->v[j].branch != NULL &&
			    strcmp(l->v[j].branch, gl.branches.v[i]) == 0)
				break;
		if (j < l->n)
			continue;
		lo = leftover_add(l, "branch", NULL);
		lo->branch = xstrdup(gl.branches.v[i]);
		lo->reason = xstrdup("its session worktree is gone");
		lo->prunable = 1;
	}
	if (lockd_git_locks(sc->project, &locks, &errmsg) == -1) {
		cmd_errorx("%s", errmsg);
		free(errmsg);
		goto out;
	}
	for (i = 0; i < locks.n; i++)
		add_gitlock(l, sc, locks.v[i]);
	add_journal(l, sc, repo);
	add_staging(l, sc);
	add_run_files(l, sc);
	for (i = 0; i < l->n; i++) {
		/* Nothing is safe to touch while a process of the project lives. */
		if (sc->running || sc->nworkers > 0)
			l->v[i].prunable = 0;
		/* A worktree's branch only while it exists. */
		if (strcmp(l->v[i].kind, "worktree") != 0)
			continue;
		want = l->v[i].branch;
		if (!strv_has(&gl.branches, want)) {
			free(want);
			l->v[i].branch = NULL;
		}
	}
	rc = 0;
out:
	strv_release(&locks);
	gitops_leftovers_release(&gl);
	return rc;
}

/* Remove one prunable leftover; 0, or -1 with lo->error set. */
static int
prune_one(struct leftover *lo, const struct scene *sc,
    struct gitops_repo *repo)
{
	char	*errmsg = NULL, *path = NULL;
	int	 rc = -1;

	if (strcmp(lo->kind, "worktree") == 0) {
		rc = gitops_session_remove(repo, lo->path, lo->branch, &errmsg);
	} else if (strcmp(lo->kind, "branch") == 0) {
		xasprintf(&path, "%s/%s/session-%s", sc->project,
		    GITOPS_WORKTREES_DIR, lo->branch + 8);
		rc = gitops_session_remove(repo, path, lo->branch, &errmsg);
	} else if (strcmp(lo->kind, "squash-journal") == 0) {
		rc = gitops_recover_squash(repo, NULL, &errmsg);
	} else if (strcmp(lo->kind, "staging") == 0) {
		if ((rc = rmtree(lo->path)) == -1)
			xasprintf(&errmsg, "cannot remove \"%s\": %s",
			    lo->path, strerror(errno));
	} else if (strcmp(lo->kind, "pidfile") == 0) {
		/* Emptied when we let go of it: never unlinked (pidfile.c). */
		rc = 0;
	} else {
		if ((rc = unlink(lo->path)) == -1 && errno != ENOENT)
			xasprintf(&errmsg, "cannot remove \"%s\": %s",
			    lo->path, strerror(errno));
		else
			rc = 0;
	}
	free(path);
	lo->error = errmsg;
	return rc;
}

static cJSON *
nullable(const char *s)
{
	return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *
leftover_json(const struct leftover *lo)
{
	cJSON	*obj = cJSON_CreateObject();

	cJSON_AddStringToObject(obj, "kind", lo->kind);
	cJSON_AddItemToObject(obj, "path", nullable(lo->path));
	cJSON_AddItemToObject(obj, "branch", nullable(lo->branch));
	cJSON_AddItemToObject(obj, "outcome", nullable(lo->outcome));
	cJSON_AddItemToObject(obj, "reason", nullable(lo->reason));
	cJSON_AddItemToObject(obj, "ageSeconds", lo->age_s >= 0 ?
	    cJSON_CreateNumber((double)lo->age_s) : cJSON_CreateNull());
	cJSON_AddItemToObject(obj, "baseCommit", nullable(lo->base));
	cJSON_AddItemToObject(obj, "writerAlive", lo->writer_alive >= 0 ?
	    cJSON_CreateBool(lo->writer_alive) : cJSON_CreateNull());
	cJSON_AddBoolToObject(obj, "prunable", lo->prunable);
	if (lo->error != NULL)
		cJSON_AddStringToObject(obj, "error", lo->error);
	return obj;
}

/* The path as people read it: relative to the project. */
static const char *
shown(const struct scene *sc, const char *path)
{
	return has_prefix(path, sc->project) ? path + strlen(sc->project) + 1 :
	    path;
}

/* text after label, its further lines indented below the first. */
static void
print_lines(FILE *f, const char *label, const char *text)
{
	const char	*nl;
	int		 indent = (int)strlen(label);

	fputs(label, f);
	while ((nl = strchr(text, '\n')) != NULL) {
		log_fprintf(f, "%.*s\n%*s", (int)(nl - text), text, indent, "");
		text = nl + 1;
	}
	log_fprintf(f, "%s\n", text);
}

static void
print_leftover(FILE *f, const struct scene *sc, const struct leftover *lo,
    const char *verdict)
{
	char	dur[32];

	log_fprintf(f, "%s %s:", lo->kind, lo->path != NULL ?
	    shown(sc, lo->path) : lo->branch);
	if (lo->outcome != NULL)
		log_fprintf(f, " %s,", lo->outcome);
	if (lo->age_s >= 0 && lo->age_s < 60)
		log_fprintf(f, " %llds old,", (long long)lo->age_s);
	else if (lo->age_s >= 60)
		log_fprintf(f, " %s old,", render_duration(lo->age_s * 1000, dur));
	if (lo->path != NULL && lo->branch != NULL)
		log_fprintf(f, " branch %s,", lo->branch);
	if (lo->base != NULL)
		log_fprintf(f, " base %.12s,", lo->base);
	if (lo->writer_alive == 1)
		log_fprintf(f, " its writer may be alive,");
	log_fprintf(f, " %s\n", verdict);
	if (lo->reason != NULL)
		print_lines(f, "    reason: ", lo->reason);
	if (lo->error != NULL)
		log_fprintf(f, "    error: %s\n", lo->error);
}

/* Why lo is not prunable, for people. */
static const char *
kept_why(const struct leftover *lo, const struct scene *sc)
{
	if (sc->running)
		return "kept: an ingest runs";
	if (sc->nworkers > 0)
		return "kept: a worker of the project is still alive";
	if (strcmp(lo->kind, "worktree") == 0 && lo->outcome != NULL &&
	    strcmp(lo->outcome, "conflict") == 0)
		return "kept: a conflict holds work (--prune --force removes it)";
	if (strcmp(lo->kind, "worktree") == 0)
		return "kept: an unknown outcome (--prune --force removes it)";
	return "kept";
}

static void
print_text(const struct scene *sc, const struct leftovers *left,
    const struct leftovers *pruned, int prune)
{
	size_t	i, nprunable = 0;

	if (sc->running)
		printf("a ktx-supervisor is running in %s (pid %d)\n",
		    sc->project, (int)sc->pid);
	else
		printf("no ktx-supervisor is running in %s\n", sc->project);
	for (i = 0; i < sc->nworkers; i++)
		printf("a worker of the project is still alive: pid %d\n",
		    (int)sc->workers[i]);
	for (i = 0; i < pruned->n; i++)
		print_leftover(stdout, sc, &pruned->v[i], "removed");
	for (i = 0; i < left->n; i++) {
		nprunable += left->v[i].prunable;
		print_leftover(stdout, sc, &left->v[i],
		    left->v[i].error != NULL ? "not removed" :
		    left->v[i].prunable ? "prunable" : kept_why(&left->v[i], sc));
	}
	if (left->n == 0)
		printf("nothing is left behind\n");
	else if (!prune && nprunable > 0)
		printf("%zu left behind, %zu prunable: \"ktx-supervisor recover "
		    "--prune\" removes them\n", left->n, nprunable);
	else
		printf("%zu left behind\n", left->n);
}

static void
print_json(const struct scene *sc, const struct leftovers *left,
    const struct leftovers *pruned, int prune, const char *refused)
{
	cJSON	*doc, *sup, *arr;
	char	*text;
	size_t	 i;

	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "project", sc->project);
	sup = cJSON_AddObjectToObject(doc, "supervisor");
	cJSON_AddBoolToObject(sup, "running", sc->running);
	cJSON_AddItemToObject(sup, "pid", sc->running && sc->pid > 0 ?
	    cJSON_CreateNumber(sc->pid) : cJSON_CreateNull());
	arr = cJSON_AddArrayToObject(doc, "workers");
	for (i = 0; i < sc->nworkers; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber(sc->workers[i]));
	arr = cJSON_AddArrayToObject(doc, "leftovers");
	for (i = 0; i < left->n; i++)
		cJSON_AddItemToArray(arr, leftover_json(&left->v[i]));
	if (prune) {
		arr = cJSON_AddArrayToObject(doc, "pruned");
		for (i = 0; i < pruned->n; i++)
			cJSON_AddItemToArray(arr,
			    leftover_json(&pruned->v[i]));
	}
	if (refused != NULL)
		cJSON_AddStringToObject(doc, "refused", refused);
	text = cJSON_Print(doc);
	printf("%s\n", text);
	free(text);
	cJSON_Delete(doc);
}

/*
 * Remove the prunable ones, in an order that lets each step work: lock
 * files first, then the journal (it needs the index), then the rest.
 * What was removed moves to pruned; left keeps the rest, both in the
 * listing's order.
 */
static void
prune_all(struct leftovers *left, struct leftovers *pruned,
    const struct scene *sc, struct gitops_repo *repo, int *failed)
{
	static const char *const order[] = { "gitlock", "squash-journal",
	    "worktree", "branch", "staging", "socket", "pidfile" };
	struct leftovers kept = { 0 };
	struct leftover	*lo;
	size_t		 i, k;

	for (k = 0; k < sizeof(order) / sizeof(order[0]); k++)
		for (i = 0; i < left->n; i++) {
			lo = &left->v[i];
			if (!lo->prunable || strcmp(lo->kind, order[k]) != 0)
				continue;
			if (prune_one(lo, sc, repo) == -1) {
				cmd_errorx("%s", lo->error);
				lo->prunable = 0;
				*failed = 1;
			}
		}
	for (i = 0; i < left->n; i++) {
		lo = leftover_add(left->v[i].prunable ? pruned : &kept, NULL,
		    NULL);
		*lo = left->v[i];
	}
	free(left->v);
	*left = kept;
}

int
cmd_recover(struct cmd_context *ctx, int argc, char **argv)
{
	static const char	 optstring[] = ":h";
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "json",	no_argument,	NULL,	OPT_JSON },
		{ "prune",	no_argument,	NULL,	OPT_PRUNE },
		{ "force",	no_argument,	NULL,	OPT_FORCE },
		{ NULL,		0,		NULL,	0 }
	};
	struct gitops_repo	 repo = { 0 };
	struct leftovers	 left = { 0 }, pruned = { 0 };
	struct scene		 sc = { 0 };
	enum gitops_ownership	 own;
	char			*errmsg = NULL, *refused = NULL;
	pid_t			 holder;
	int			 ch, json = 0, prune = 0, pidfd = -1, failed = 0;
	int			 git = 0, status = EXIT_TARGET_FAILED;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'h':
			fputs(recover_usage, stdout);
			fputs(recover_help, stdout);
			return EXIT_ALL_DONE;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_PRUNE:
			prune = 1;
			break;
		case OPT_FORCE:
			sc.force = 1;
			break;
		default:
			return cmd_bad_option(recover_usage, optstring, argv,
			    ch);
		}
	}
	if (optind != argc) {
		cmd_errorx("unexpected argument \"%s\"", argv[optind]);
		return cmd_usage_error(recover_usage);
	}
	sc.project = ctx->project_dir;
	if ((own = gitops_classify(sc.project)) != GITOPS_KTX_MANAGED) {
		if (own == GITOPS_UNOWNED)
			cmd_errorx("\"%s\" is not a ktx project", sc.project);
		else {
			errmsg = gitops_ownership_error(sc.project, own);
			cmd_errorx("%s", errmsg);
		}
		goto out;
	}
	if ((sc.running = pidfile_probe(sc.project, &sc.pid, &errmsg)) == -1) {
		cmd_errorx("%s", errmsg);
		goto out;
	}
	scan_processes(&sc);
	if (prune && !sc.running && sc.nworkers == 0) {
		/*
		 * Hold the project: no supervisor may start while we prune.
		 * That writes our pid over a dead one's, so only once we
		 * are going to prune.
		 */
		pidfd = pidfile_acquire(sc.project, &holder, &errmsg);
		if (pidfd == -1) {
			cmd_errorx("%s", errmsg);
			goto out;
		}
		if (pidfd == -2) {
			sc.running = 1;
			sc.pid = holder;
		}
	}
	if (gitops_init(&errmsg) == -1) {
		cmd_errorx("%s", errmsg);
		goto out;
	}
	git = 1;
	if (gitops_open_project(&repo, sc.project, NULL, 0, NULL,
	    &errmsg) == -1) {
		cmd_errorx("%s", errmsg);
		goto out;
	}
	if (scan(&left, &sc, &repo) == -1)
		goto out;
	if (prune && sc.running) {
		xasprintf(&refused, "a ktx-supervisor runs in \"%s\" (pid %d)",
		    sc.project, (int)sc.pid);
	} else if (prune && sc.nworkers > 0) {
		xasprintf(&refused, "a worker of \"%s\" is still alive "
		    "(pid %d)", sc.project, (int)sc.workers[0]);
	} else if (prune)
		prune_all(&left, &pruned, &sc, &repo, &failed);
	if (json)
		print_json(&sc, &left, &pruned, prune, refused);
	else
		print_text(&sc, &left, &pruned, prune);
	if (refused != NULL) {
		cmd_errorx("cannot prune: %s", refused);
		status = EXIT_BUSY;
	} else if (failed)
		status = EXIT_TARGET_FAILED;
	else
		status = left.n > 0 ? EXIT_LEFTOVERS : EXIT_ALL_DONE;
out:
	gitops_repo_release(&repo);
	if (git)
		gitops_shutdown();
	pidfile_release(pidfd);
	leftovers_release(&left);
	leftovers_release(&pruned);
	strv_release(&sc.open_files);
	free(sc.workers);
	free(refused);
	free(errmsg);
	return status;
}
