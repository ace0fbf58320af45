/*
 * ktx-supervisor init: create a ktx project, or complete one.
 *
 * The layout is ktx's (ktx.yaml, wiki/global, semantic-layer, raw-sources,
 * .ktx/.gitignore) plus the ignore entries of this program's own state.
 * Existing files are never overwritten and a directory that holds someone
 * else's repository is refused before anything is written.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitops.h"
#include "ktxconfig.h"
#include "log.h"
#include "supervisor.h"
#include "util.h"

static const char init_usage[] = "usage: ktx-supervisor [-C dir] init\n";
static const char init_help[] =
    "\n"
    "Create a ktx project in the project directory, or add what an existing\n"
    "one lacks: a git repository on main, ktx.yaml, wiki/global/,\n"
    "semantic-layer/, raw-sources/ and .ktx/.gitignore, committed.  A git\n"
    "repository ktx did not create is refused and left as it is.\n"
    "\n"
    "options:\n"
    "   -h, --help      print this help\n";

static const char ktx_yaml_template[] =
    "# ktx.yaml: the configuration of this ktx project; see ktx.yaml(5).\n"
    "#\n"
    "# Each connection has an id and a driver.  An embedded SQLite\n"
    "# warehouse, for example:\n"
    "#\n"
    "# connections:\n"
    "#   warehouse:\n"
    "#     driver: sqlite\n"
    "#     path: warehouse.db\n"
    "connections: {}\n"
    "\n"
    "# How many source targets ingest runs at once (1..64).\n"
    "ingest:\n"
    "  sources:\n"
    "    maxConcurrency: 1\n"
    "\n"
    "# Who the commits ingest makes are by:\n"
    "#\n"
    "# storage:\n"
    "#   git:\n"
    "#     author: ktx <ktx@example.com>\n";

/* ktx's entries first, then this program's state. */
static const char *const gitignore_entries[] = {
	"cache/", "db.sqlite", "db.sqlite-*", "ingest-transcripts/",
	"secrets/", "setup/", "agents/",
	"worktrees/", "run/", "runs/", "ingest-traces/",
};

static const char *const keep_files[] = {
	"wiki/global/.gitkeep", "semantic-layer/.gitkeep",
	"raw-sources/.gitkeep",
};

/*
 * Create dir/rel with content unless it exists; *added says whether it
 * was created.
 */
static int
create_file(const char *dir, const char *rel, const char *content,
    int *added)
{
	char	*path, *parent, *slash;
	size_t	 len = strlen(content);
	int	 fd, rc = -1;

	*added = 0;
	xasprintf(&path, "%s/%s", dir, rel);
	parent = xstrdup(path);
	if ((slash = strrchr(parent, '/')) != NULL)
		*slash = '\0';
	if (mkpath(parent, 0777) == -1) {
		cmd_errorx("cannot create \"%s\": %s", parent, strerror(errno));
		goto out;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666)) == -1) {
		if (errno == EEXIST)
			rc = 0;
		else
			cmd_errorx("cannot create \"%s\": %s", path,
			    strerror(errno));
		goto out;
	}
	if (write(fd, content, len) != (ssize_t)len) {
		cmd_errorx("cannot write \"%s\": %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) == -1) {
		cmd_errorx("cannot write \"%s\": %s", path, strerror(errno));
		goto out;
	}
	*added = 1;
	rc = 0;
out:
	free(parent);
	free(path);
	return rc;
}

/* Whether the text holds line as one of its lines (blanks trimmed). */
static int
has_line(const char *text, const char *line)
{
	const char	*p = text, *end;
	size_t		 n = strlen(line);

	while (*p != '\0') {
		end = p + strcspn(p, "\n");
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
		    end[-1] == '\r'))
			end--;
		if ((size_t)(end - p) == n && strncmp(p, line, n) == 0)
			return 1;
		p += strcspn(p, "\n");
		if (*p == '\n')
			p++;
	}
	return 0;
}

/*
 * Write .ktx/.gitignore, or append the entries an existing one lacks.
 * *changed says whether the file was written.
 */
static int
ensure_gitignore(const char *dir, int *changed)
{
	const size_t	 n = sizeof(gitignore_entries) / sizeof(*gitignore_entries);
	char		*path = NULL, *text = NULL, *add = NULL, *tmp;
	FILE		*f = NULL;
	struct stat	 sb;
	size_t		 i, len = 0;
	int		 fd = -1, rc = -1;

	*changed = 0;
	xasprintf(&path, "%s/.ktx/.gitignore", dir);
	if ((fd = open(path, O_RDONLY)) != -1) {
		if (fstat(fd, &sb) == -1 || sb.st_size > 1024 * 1024) {
			cmd_errorx("cannot read \"%s\"", path);
			goto out;
		}
		text = xcalloc(1, (size_t)sb.st_size + 1);
		if (read(fd, text, (size_t)sb.st_size) != sb.st_size) {
			cmd_errorx("cannot read \"%s\": %s", path,
			    strerror(errno));
			goto out;
		}
		len = (size_t)sb.st_size;
	} else if (errno != ENOENT) {
		cmd_errorx("cannot open \"%s\": %s", path, strerror(errno));
		goto out;
	}
	add = xstrdup(len > 0 && text[len - 1] != '\n' ? "\n" : "");
	for (i = 0; i < n; i++) {
		if (text != NULL && has_line(text, gitignore_entries[i]))
			continue;
		xasprintf(&tmp, "%s%s\n", add, gitignore_entries[i]);
		free(add);
		add = tmp;
		*changed = 1;
	}
	if (!*changed) {
		rc = 0;
		goto out;
	}
	xasprintf(&tmp, "%s/.ktx", dir);
	if (mkpath(tmp, 0777) == -1) {
		cmd_errorx("cannot create \"%s\": %s", tmp, strerror(errno));
		free(tmp);
		goto out;
	}
	free(tmp);
	if ((f = fopen(path, "a")) == NULL || fputs(add, f) == EOF) {
		cmd_errorx("cannot write \"%s\": %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (f != NULL && fclose(f) == EOF && rc == 0) {
		cmd_errorx("cannot write \"%s\": %s", path, strerror(errno));
		rc = -1;
	}
	if (fd != -1)
		close(fd);
	free(add);
	free(text);
	free(path);
	return rc;
}

static const char *
base_name(const char *path)
{
	const char	*s = strrchr(path, '/');

	return s != NULL && s[1] != '\0' ? s + 1 : path;
}

/* -1 to go on, else the exit status. */
static int
parse_args(int argc, char **argv)
{
	static const char optstring[] = ":h";
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;

	opterr = 0;
	optind = 0;	/* glibc: start afresh */
	while ((ch = getopt_long(argc, argv, optstring, longopts, NULL)) !=
	    -1) {
		if (ch != 'h')
			return cmd_bad_option(init_usage, optstring, argv, ch);
		fputs(init_usage, stdout);
		fputs(init_help, stdout);
		return EXIT_ALL_DONE;
	}
	if (optind < argc) {
		cmd_errorx("init takes no arguments");
		return cmd_usage_error(init_usage);
	}
	return -1;
}

int
cmd_init(struct cmd_context *ctx, int argc, char **argv)
{
	struct gitops_ident ident = {
		KTX_DEFAULT_AUTHOR_NAME, KTX_DEFAULT_AUTHOR_EMAIL
	};
	struct ktx_config cfg = { 0 };
	const char	*dir = ctx->project_dir;
	struct gitops_repo repo = { 0 };
	struct strv	 added = { 0 }, commit = { 0 };
	enum gitops_ownership own;
	char		*msg, *errmsg = NULL, hex[GITOPS_HEXSZ + 1];
	size_t		 i;
	int		 did = 0, created, a, libgit2 = 0, status;

	if ((status = parse_args(argc, argv)) != -1)
		goto out;
	status = EXIT_FAILURE;

	/* Refuse before anything is written. */
	own = gitops_classify(dir);
	if (own != GITOPS_UNOWNED && own != GITOPS_KTX_MANAGED) {
		msg = gitops_ownership_error(dir, own);
		cmd_errorx("%s", msg);
		free(msg);
		status = EXIT_USAGE;
		goto out;
	}
	if (mkpath(dir, 0777) == -1) {
		cmd_errorx("cannot create \"%s\": %s", dir, strerror(errno));
		goto out;
	}

	/* ktx.yaml first: it is what makes the repository ours. */
	if (create_file(dir, "ktx.yaml", ktx_yaml_template, &a) == -1)
		goto out;
	if (a)
		strv_push(&added, "ktx.yaml");
	for (i = 0; i < sizeof(keep_files) / sizeof(*keep_files); i++) {
		if (create_file(dir, keep_files[i], "", &a) == -1)
			goto out;
		if (a)
			strv_push(&added, keep_files[i]);
	}
	if (ensure_gitignore(dir, &a) == -1)
		goto out;
	if (a)
		strv_push(&added, ".ktx/.gitignore");

	/* The commits' identity: storage.git.author, if ktx.yaml says. */
	xasprintf(&msg, "%s/ktx.yaml", dir);
	if (config_load(msg, &cfg, &errmsg) == 0) {
		ident.name = cfg.author_name;
		ident.email = cfg.author_email;
	} else {
		log_warnx("%s; committing as %s <%s>", errmsg, ident.name,
		    ident.email);
		free(errmsg);
		errmsg = NULL;
	}
	free(msg);

	if (gitops_init(&errmsg) == -1)
		goto fail;
	libgit2 = 1;
	if (gitops_open_project(&repo, dir, &ident, GITOPS_OPEN_CREATE, &did,
	    &errmsg) == -1)
		goto fail;

	/*
	 * Commit what this run wrote; in a new repository also a ktx.yaml
	 * that was there before.  Nothing else a user has is committed.
	 */
	for (i = 0; i < added.n; i++)
		strv_push(&commit, added.v[i]);
	if ((did & GITOPS_DID_INIT) &&
	    (added.n == 0 || strcmp(added.v[0], "ktx.yaml") != 0))
		strv_push(&commit, "ktx.yaml");
	xasprintf(&msg, "Initialize ktx project: %s", base_name(dir));
	if (gitops_commit_paths(&repo, (const char *const *)commit.v,
	    commit.n, msg, &ident, hex, &created, &errmsg) == -1) {
		free(msg);
		goto fail;
	}
	free(msg);

	if (did & GITOPS_DID_INIT)
		printf("Initialized ktx project in %s\n", dir);
	else if (added.n == 0 && !created &&
	    (did & GITOPS_DID_BOOTSTRAP) == 0)
		printf("ktx project in %s is already initialized\n", dir);
	else {
		printf("Completed ktx project in %s:", dir);
		if (did & GITOPS_DID_BOOTSTRAP)
			printf(" made the first commit%s", added.n ? ";" : "");
		for (i = 0; i < added.n; i++)
			printf("%s%s", i == 0 ? " added " : ", ", added.v[i]);
		putchar('\n');
	}
	status = EXIT_ALL_DONE;
	goto out;
fail:
	cmd_errorx("%s", errmsg != NULL ? errmsg : "git failed");
out:
	free(errmsg);
	config_release(&cfg);
	gitops_repo_release(&repo);
	if (libgit2)
		gitops_shutdown();
	strv_release(&added);
	strv_release(&commit);
	return status;
}
