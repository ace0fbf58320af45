/*
 * Helpers for the check suites that set up and inspect real repositories
 * with the git command line.  Failures abort the test (ck_assert).
 */
#ifndef KTX_GITHELP_H
#define KTX_GITHELP_H

/* rm -rf, not following symlinks. */
void	 rm_rf(const char *path);

/* Run a shell command; its exit status (128 + signal when killed). */
int	 run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A shell command's stdout without trailing newlines.  Caller frees. */
char	*out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define ck_out_eq(expect, ...) do {					\
	char *_o = out(__VA_ARGS__);					\
	ck_assert_str_eq(_o, (expect));					\
	free(_o);							\
} while (0)

/* Write dir/rel (parents created). */
void	 put(const char *dir, const char *rel, const char *content);
/* dir/rel's content without trailing newlines.  Caller frees. */
char	*slurp(const char *dir, const char *rel);
int	 exists(const char *dir, const char *rel);

/* A digest of every name, type, mode and byte under dir.  Caller frees. */
char	*tree_sum(const char *dir);
/* git rev-parse of rev in dir, "" when it does not resolve.  Caller frees. */
char	*head_of(const char *dir, const char *rev);
int	 commit_count(const char *dir);
/* git status shows nothing, untracked files included. */
void	 expect_clean(const char *dir);

/*
 * A private HOME whose git config has no identity (as on a fresh server)
 * and no system config; the command line commits with GIT_AUTHOR_* and
 * GIT_COMMITTER_*; GIT_DIR and friends unset.  Returns the HOME to remove
 * at the end.  Caller frees.
 */
char	*hermetic_env(void);

#endif
