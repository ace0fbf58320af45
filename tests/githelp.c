/*
 * Helpers for the check suites that drive real repositories with the git
 * command line (see githelp.h).
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "githelp.h"
#include "util.h"

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

void
rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run a shell command; its exit status. */
int
run(const char *fmt, ...)
{
	va_list	 ap;
	char	*cmd;
	int	 st;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
	va_end(ap);
	st = system(cmd);
	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A shell command's stdout without its trailing newlines.  Caller frees. */
char *
out(const char *fmt, ...)
{
	va_list	 ap;
	char	*cmd, *buf = NULL;
	size_t	 len = 0, n;
	char	 chunk[4096];
	FILE	*f;

	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
	va_end(ap);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		buf = xreallocarray(buf, len + n + 1, 1);
		memcpy(buf + len, chunk, n);
		len += n;
	}
	pclose(f);
	free(cmd);
	if (buf == NULL)
		buf = xstrdup("");
	buf[len] = '\0';
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	return buf;
}


void
put(const char *dir, const char *rel, const char *content)
{
	char	*path, *cmd;
	FILE	*f;

	xasprintf(&path, "%s/%s", dir, rel);
	xasprintf(&cmd, "mkdir -p \"$(dirname '%s')\"", path);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	fclose(f);
	free(path);
}

/* Caller frees. */
char *
slurp(const char *dir, const char *rel)
{
	char	*path, *s;

	xasprintf(&path, "%s/%s", dir, rel);
	s = out("cat '%s'", path);
	free(path);
	return s;
}

int
exists(const char *dir, const char *rel)
{
	struct stat	 sb;
	char		*path;
	int		 rc;

	xasprintf(&path, "%s/%s", dir, rel);
	rc = lstat(path, &sb) == 0;
	free(path);
	return rc;
}

/* A digest of every name, type, mode and byte under dir.  Caller frees. */
char *
tree_sum(const char *dir)
{
	return out("cd '%s' && { find . -printf '%%p %%y %%m\\n' | LC_ALL=C sort;"
	    " find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; }"
	    " | sha256sum", dir);
}

char *
head_of(const char *dir, const char *rev)
{
	return out("git -C '%s' rev-parse --verify -q '%s'", dir, rev);
}

int
commit_count(const char *dir)
{
	char	*s = out("git -C '%s' rev-list --count HEAD", dir);
	int	 n = atoi(s);

	free(s);
	return n;
}

void
expect_clean(const char *dir)
{
	/* The first lines are enough to tell what went wrong. */
	ck_out_eq("", "git -C '%s' status --porcelain --untracked-files=all | "
	    "head -n 20", dir);
}

/*
 * A private HOME whose git config has no identity (as on a fresh server)
 * and no system config; the command line commits with env identities.
 */
char *
hermetic_env(void)
{
	char	 tmpl[] = "/tmp/check-gitops-home.XXXXXX", *home, *cfg;
	FILE	*f;

	if (mkdtemp(tmpl) == NULL)
		return NULL;
	home = xstrdup(tmpl);
	xasprintf(&cfg, "%s/.gitconfig", home);
	if ((f = fopen(cfg, "w")) != NULL) {
		fputs("[user]\n\tuseConfigOnly = true\n[init]\n"
		    "\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
		    f);
		fclose(f);
	}
	free(cfg);
	setenv("HOME", home, 1);
	setenv("XDG_CONFIG_HOME", home, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "tester", 1);
	setenv("GIT_AUTHOR_EMAIL", "tester@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "tester", 1);
	setenv("GIT_COMMITTER_EMAIL", "tester@example.com", 1);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	unsetenv("GIT_INDEX_FILE");
	unsetenv("GIT_CEILING_DIRECTORIES");
	return home;
}

