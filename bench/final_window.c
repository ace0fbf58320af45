/*
 * The final window, timed: refresh a session worktree from main, run the
 * final gates on what the session changed, then squash it into main, on a
 * project of N files (a tenth of them wiki pages, the rest raw snapshot
 * files) where the session changed 10 pages and a sibling squash changed
 * 10 raw files on main since the session started.  Done by gitops
 * (libgit2) and gates.c in this process, and by the git command line (git
 * merge in the worktree, git merge --squash and git commit in the
 * project; no gates), from the same starting state, alternating, several
 * runs each; prints one line of medians and the verdict against the goal.
 *
 * usage: final_window [-gk] [-r runs] [-w workdir] size...
 *
 * -g times gitops alone (for a profiler); -k keeps the projects.
 *
 * Also timed at each size: the floor git's index format sets.  A window
 * rewrites two indexes whole (the session worktree's at the refresh, the
 * project's at the squash), each with a SHA-1 over the file; the floor is
 * that hash and the write of the project's index, twice, as gitindex.c
 * does them.  The second verdict holds the time beyond the floor to 3x.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "gates.h"
#include "gitops.h"
#include "log.h"
#include "util.h"

#define FILES_PER_DIR	100
#define DIRS_PER_AREA	10
#define CHANGED		10
#define PAGE_EVERY	10	/* file i is a wiki page when i % 10 == 0 */

extern char **environ;

static const struct gitops_ident author = { "ktx Local", "local@ktx.local" };

static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Run argv, its stdout to /dev/null; fatal unless it exits 0. */
static void
spawn_argv(char *const argv[])
{
	posix_spawn_file_actions_t	fa;
	pid_t				pid;
	int				st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
		fatal("spawn %s", argv[0]);
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &st, 0) == -1)
		fatal("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fatalx("%s %s %s %s: failed", argv[0], argv[1], argv[2],
		    argv[3] != NULL ? argv[3] : "");
}

static void __attribute__((format(printf, 1, 2)))
sh(const char *fmt, ...)
{
	va_list	 ap;
	char	*cmd;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		fatal("vasprintf");
	va_end(ap);
	if (system(cmd) != 0)
		fatalx("failed: %s", cmd);
	free(cmd);
}

/* A shell command's first line of output.  Caller frees. */
static char * __attribute__((format(printf, 1, 2)))
sh_out(const char *fmt, ...)
{
	va_list	 ap;
	char	*cmd, line[256];
	FILE	*f;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		fatal("vasprintf");
	va_end(ap);
	if ((f = popen(cmd, "r")) == NULL || fgets(line, sizeof(line), f) ==
	    NULL)
		fatalx("failed: %s", cmd);
	pclose(f);
	free(cmd);
	line[strcspn(line, "\n")] = '\0';
	return xstrdup(line);
}

static char *
file_path(const char *root, int i)
{
	char	*p;

	if (i % PAGE_EVERY == 0)
		xasprintf(&p, "%s/wiki/global/p%06d.md", root, i);
	else
		xasprintf(&p, "%s/raw-sources/bench/area%03d/dir%02d/"
		    "file%06d.json", root, i / (FILES_PER_DIR * DIRS_PER_AREA),
		    (i / FILES_PER_DIR) % DIRS_PER_AREA, i);
	return p;
}

/* File i's content: a page linking two others, or a JSON record. */
static void
file_content(char *buf, size_t size, int i, int n, const char *tag)
{
	if (i % PAGE_EVERY == 0)
		snprintf(buf, size, "---\nsummary: Page %d %s\nusage_mode: "
		    "auto\nrefs:\n  - p%06d\n---\n\nSee [[p%06d]].\n", i, tag,
		    (i + PAGE_EVERY) % n, (i + 2 * PAGE_EVERY) % n);
	else
		snprintf(buf, size, "{\"table\": %d, \"columns\": [\"id\", "
		    "\"name\"], \"tag\": \"%s\"}\n", i, tag);
}

static void
write_file(const char *path, const char *content)
{
	char	*dir, *slash;
	FILE	*f;

	if ((f = fopen(path, "w")) == NULL && errno == ENOENT) {
		dir = xstrdup(path);
		slash = strrchr(dir, '/');
		*slash = '\0';
		sh("mkdir -p '%s'", dir);
		free(dir);
		f = fopen(path, "w");
	}
	if (f == NULL)
		fatal("%s", path);
	fputs(content, f);
	fclose(f);
}

/*
 * Change CHANGED files spread over the project, starting at offset (0:
 * pages, 5: raw files); the changed paths, relative, go in changed if
 * not NULL.
 */
static void
change_files(const char *root, int n, int offset, const char *tag,
    struct strv *changed)
{
	char	*p, buf[256];
	int	 k, i;

	for (k = 0; k < CHANGED; k++) {
		i = (k * (n / CHANGED) + offset) % n;
		p = file_path(root, i);
		file_content(buf, sizeof(buf), i, n, tag);
		write_file(p, buf);
		if (changed != NULL)
			strv_push(changed, p + strlen(root) + 1);
		free(p);
	}
}

struct fixture {
	char	*proj;
	char	*wt;
	char	*session;	/* session HEAD before the window */
	char	*main;		/* main before the window (sibling landed) */
	char	*tree;		/* the tree main must end with */
	struct strv	 changed;	/* the pages the session changed */
	struct gate_path *gate_paths;
};

static void
make_fixture(struct fixture *fx, const char *workdir, int n)
{
	char	*p, buf[256];
	size_t	 k;
	int	 i;

	memset(fx, 0, sizeof(*fx));
	xasprintf(&fx->proj, "%s/n%d", workdir, n);
	xasprintf(&fx->wt, "%s/.ktx/worktrees/session-bench", fx->proj);
	sh("rm -rf '%s' && mkdir -p '%s' && git -C '%s' init -q -b main && "
	    "git -C '%s' config gc.auto 0", fx->proj, fx->proj, fx->proj,
	    fx->proj);
	xasprintf(&p, "%s/ktx.yaml", fx->proj);
	write_file(p, "connections: {}\n");
	free(p);
	xasprintf(&p, "%s/.ktx/.gitignore", fx->proj);
	sh("mkdir -p '%s/.ktx'", fx->proj);
	write_file(p, "worktrees/\n");
	free(p);
	for (i = 0; i < n; i++) {
		p = file_path(fx->proj, i);
		file_content(buf, sizeof(buf), i, n, "base");
		write_file(p, buf);
		free(p);
	}
	sh("cd '%s' && git add -A && git commit -q -m base && git gc -q && "
	    "git worktree add -q -b session/bench '%s' main", fx->proj, fx->wt);
	change_files(fx->wt, n, 0, "session", &fx->changed);
	fx->gate_paths = xcalloc(fx->changed.n, sizeof(*fx->gate_paths));
	for (k = 0; k < fx->changed.n; k++) {
		fx->gate_paths[k].change = GATE_MODIFIED;
		fx->gate_paths[k].path = fx->changed.v[k];
	}
	sh("cd '%s' && git commit -q -am 'ingest(bench): work'", fx->wt);
	change_files(fx->proj, n, 5, "sibling", NULL);
	sh("cd '%s' && git commit -q -am 'ingest(sibling): landed'", fx->proj);
	fx->session = sh_out("git -C '%s' rev-parse HEAD", fx->wt);
	fx->main = sh_out("git -C '%s' rev-parse HEAD", fx->proj);
	fx->tree = NULL;
}

/*
 * Back to the state before the window, by the command line; then sync, so
 * neither contender waits on the writeback of the reset's writes.
 */
static void
reset(struct fixture *fx)
{
	sh("cd '%s' && git update-ref refs/heads/main %s && git reset -q --hard"
	    " && git -C '%s' reset -q --hard %s && sync", fx->proj, fx->main,
	    fx->wt, fx->session);
}

static void
check_result(struct fixture *fx, const char *how)
{
	char	*tree, *parent;

	tree = sh_out("git -C '%s' rev-parse 'main^{tree}'", fx->proj);
	parent = sh_out("git -C '%s' rev-parse 'main^'", fx->proj);
	if (fx->tree == NULL)
		fx->tree = xstrdup(tree);
	if (strcmp(tree, fx->tree) != 0 || strcmp(parent, fx->main) != 0)
		fatalx("%s: main ends at tree %s parent %s, expected %s %s",
		    how, tree, parent, fx->tree, fx->main);
	sh("test -z \"$(git -C '%s' status --porcelain)\" && "
	    "test -z \"$(git -C '%s' status --porcelain)\"", fx->proj, fx->wt);
	free(tree);
	free(parent);
}

static double
run_gitops(struct fixture *fx)
{
	struct gitops_repo	 proj, wt;
	struct gitops_refresh	 rf;
	struct gitops_squash	 sq;
	struct gate_input	 in;
	struct gate_report	 rep;
	char			*err = NULL;
	double			 t0, t;

	memset(&in, 0, sizeof(in));
	in.worktree = fx->wt;
	in.changed = fx->gate_paths;
	in.nchanged = fx->changed.n;
	t0 = now_ms();
	if (gitops_open_project(&proj, fx->proj, NULL, 0, NULL, &err) < 0 ||
	    gitops_open_worktree(&wt, fx->wt, NULL, &err) < 0 ||
	    gitops_refresh(&wt, "main", &rf, &err) < 0 ||
	    rf.status != GITOPS_REFRESH_CHANGED ||
	    gates_run(&in, &rep, &err) != 0 || rep.pages_checked != CHANGED ||
	    gitops_squash(&proj, rf.head, "ingest(bench): squash", &author, &sq,
	    &err) < 0 || sq.status != GITOPS_SQUASH_COMMITTED)
		fatalx("gitops: %s", err != NULL ? err : "unexpected outcome");
	gitops_squash_release(&sq);
	gitops_refresh_release(&rf);
	gitops_repo_release(&wt);
	gitops_repo_release(&proj);
	t = now_ms() - t0;
	check_result(fx, "gitops");
	return t;
}

/*
 * The index floor: SHA-1 over the project's index and its write to a lock
 * file renamed over a scratch copy, twice; milliseconds.
 */
static double
index_floor(struct fixture *fx)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX	*ctx;
	struct stat	 sb;
	char		*path, *lock, *copy, *buf;
	double		 t0;
	int		 fd, k;

	xasprintf(&path, "%s/.git/index", fx->proj);
	xasprintf(&lock, "%s/.git/index-floor.lock", fx->proj);
	xasprintf(&copy, "%s/.git/index-floor", fx->proj);
	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &sb) == -1)
		fatal("%s", path);
	buf = xmalloc((size_t)sb.st_size);
	if (read(fd, buf, (size_t)sb.st_size) != sb.st_size)
		fatal("%s", path);
	close(fd);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("EVP_MD_CTX_new");
	t0 = now_ms();
	for (k = 0; k < 2; k++) {
		if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
		    EVP_DigestUpdate(ctx, buf, (size_t)sb.st_size - 20) != 1 ||
		    EVP_DigestFinal_ex(ctx, md, NULL) != 1)
			fatalx("SHA-1");
		if ((fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0644)) == -1 ||
		    write(fd, buf, (size_t)sb.st_size) != sb.st_size ||
		    close(fd) == -1 || rename(lock, copy) == -1)
			fatal("%s", lock);
	}
	t0 = now_ms() - t0;
	unlink(copy);
	EVP_MD_CTX_free(ctx);
	free(buf);
	free(path);
	free(lock);
	free(copy);
	return t0;
}

static double
run_cli(struct fixture *fx)
{
	char *const merge[] = { "git", "-C", fx->wt, "merge", "-q", "--no-edit",
	    "main", NULL };
	char *const squash[] = { "git", "-C", fx->proj, "merge", "-q",
	    "--squash", "session/bench", NULL };
	char *const commit[] = { "git", "-C", fx->proj, "commit", "-q", "-m",
	    "ingest(bench): squash", "--author",
	    "ktx Local <local@ktx.local>", NULL };
	double	t0, t;

	t0 = now_ms();
	spawn_argv(merge);
	spawn_argv(squash);
	spawn_argv(commit);
	t = now_ms() - t0;
	check_result(fx, "git");
	return t;
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	struct fixture	 fx;
	const char	*workdir = "/tmp/ktx-bench";
	double		*g, *c, *f, mg, mc, mf, first = 0, last = 0;
	double		 first_floor = 0, last_floor = 0, beyond;
	int		 ch, i, runs = 11, n, only_gitops = 0, keep = 0;
	int		 faster = 1;

	log_init("final_window", LOG_LEVEL_INFO);
	while ((ch = getopt(argc, argv, "gkr:w:")) != -1) {
		switch (ch) {
		case 'k':
			keep = 1;
			break;
		case 'g':
			only_gitops = 1;
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'w':
			workdir = optarg;
			break;
		default:
			fprintf(stderr, "usage: final_window [-gk] [-r runs] "
			    "[-w workdir] size...\n");
			return 2;
		}
	}
	if (optind == argc || runs < 1)
		fatalx("usage: final_window [-gk] [-r runs] [-w workdir] size...");
	setenv("GIT_AUTHOR_NAME", "ktx", 1);
	setenv("GIT_AUTHOR_EMAIL", "ktx@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "ktx", 1);
	setenv("GIT_COMMITTER_EMAIL", "ktx@example.com", 1);
	if (gitops_init(NULL) < 0)
		fatalx("libgit2");
	sh("mkdir -p '%s'", workdir);
	g = xcalloc((size_t)runs, sizeof(*g));
	c = xcalloc((size_t)runs, sizeof(*c));
	f = xcalloc((size_t)runs, sizeof(*f));
	printf("final window (refresh + gates + squash), ktx vs git CLI, ms:");
	for (; optind < argc; optind++) {
		n = atoi(argv[optind]);
		make_fixture(&fx, workdir, n);
		/* One warm-up of each, then alternate which goes first. */
		reset(&fx);
		run_gitops(&fx);
		reset(&fx);
		if (!only_gitops)
			run_cli(&fx);
		for (i = 0; i < runs; i++) {
			if (only_gitops) {
				reset(&fx);
				g[i] = run_gitops(&fx);
				c[i] = 1;
				if (getenv("BENCH_VERBOSE") != NULL)
					fprintf(stderr, "run %d: %.1f ms\n", i,
					    g[i]);
				continue;
			}
			reset(&fx);
			if (i % 2 == 0)
				g[i] = run_gitops(&fx);
			else
				c[i] = run_cli(&fx);
			reset(&fx);
			if (i % 2 == 0)
				c[i] = run_cli(&fx);
			else
				g[i] = run_gitops(&fx);
		}
		for (i = 0; i < runs; i++)
			f[i] = index_floor(&fx);
		mg = median(g, runs);
		mc = median(c, runs);
		mf = median(f, runs);
		if (first == 0) {
			first = mg;
			first_floor = mf;
		}
		last = mg;
		last_floor = mf;
		if (only_gitops)
			printf(" %d files %.1f (index floor %.1f);", n, mg, mf);
		else
			printf(" %d files %.1f vs %.1f (%.1fx), index floor "
			    "%.1f;", n, mg, mc, mc / mg, mf);
		faster = faster && mg < mc;
		fflush(stdout);
		if (!keep)
			sh("rm -rf '%s'", fx.proj);
		free(fx.proj);
		free(fx.wt);
		free(fx.session);
		free(fx.main);
		free(fx.tree);
		strv_release(&fx.changed);
		free(fx.gate_paths);
	}
	beyond = (last - last_floor) / (first - first_floor);
	printf(" largest %.1fx the smallest, %.1fx beyond the index floor | "
	    "goal faster than git at every size, largest <= 3x: %s; beyond "
	    "the floor <= 3x: %s\n", last / first, beyond,
	    !only_gitops && faster && last / first <= 3 ? "met" : "missed",
	    !only_gitops && faster && beyond <= 3 ? "met" : "missed");
	free(g);
	free(c);
	free(f);
	gitops_shutdown();
	return 0;
}
