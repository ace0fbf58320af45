/*
 * The git layer against real repositories in temp dirs.  The git command
 * line sets up and inspects; gitops does the work under test.  The cases
 * mirror ktx's own GitService tests, plus the refresh, the squash order
 * and a process killed in the middle of a squash.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "githelp.h"
#include "gitops.h"
#include "ktxconfig.h"
#include "supervisor.h"
#include "util.h"

static char	*tmp;		/* this test's private directory */
static char	*proj;		/* <tmp>/proj */

static const struct gitops_ident ktx_ident = { "ktx", "ktx@example.com" };
static const struct gitops_ident local_ident = { "ktx Local",
    "local@ktx.local" };

/* Helpers (the git ones are in githelp.c). */

/*
 * The index holds HEAD exactly: git's own view, and write-tree through
 * the cache tree the squash invalidated.
 */
static void
expect_index_is_head(const char *dir)
{
	char	*wt, *head;

	ck_assert_int_eq(run("git -C '%s' diff --cached --quiet", dir), 0);
	wt = out("git -C '%s' write-tree", dir);
	head = out("git -C '%s' rev-parse 'HEAD^{tree}'", dir);
	ck_assert_str_eq(wt, head);
	free(wt);
	free(head);
}

/* A ktx project: ktx.yaml and .ktx/.gitignore committed on main. */
static void
new_project(struct gitops_repo *r, const char *dir)
{
	const char *const paths[] = { "ktx.yaml", ".ktx/.gitignore" };
	char	*err = NULL, hex[GITOPS_HEXSZ + 1];
	int	 created;

	put(dir, "ktx.yaml", "connections: {}\n");
	put(dir, ".ktx/.gitignore", "worktrees/\n");
	ck_assert_msg(gitops_open_project(r, dir, &ktx_ident,
	    GITOPS_OPEN_CREATE, NULL, &err) == 0, "open: %s", err);
	ck_assert_int_eq(gitops_commit_paths(r, paths, 2, "Initialize", NULL,
	    hex, &created, &err), 0);
	ck_assert_int_eq(created, 1);
}

static void
open_wt(struct gitops_repo *wt, const char *path)
{
	char	*err = NULL;

	ck_assert_msg(gitops_open_worktree(wt, path, &ktx_ident, &err) == 0,
	    "open worktree: %s", err);
}

/* Commit files in the project root with the git command line. */
static void
cli_commit(const char *dir, const char *msg)
{
	if (!exists(dir, ".git"))
		ck_assert_int_eq(run("git init -q '%s'", dir), 0);
	ck_assert_int_eq(run("git -C '%s' add -A && git -C '%s' commit -q "
	    "-m '%s'", dir, dir, msg), 0);
}

/* A session at main's HEAD with the given files written and committed. */
static void
session_with(struct gitops_repo *r, const char *job, struct gitops_session *s,
    const char *const *files, size_t nfiles)
{
	struct gitops_repo	 wt;
	char			*err = NULL, hex[GITOPS_HEXSZ + 1];
	size_t			 i;
	int			 created;

	ck_assert_int_eq(gitops_head(r, hex, &err), 0);
	ck_assert_msg(gitops_session_create(r, job, hex, s, &err) == 0,
	    "create: %s", err);
	open_wt(&wt, s->path);
	for (i = 0; i + 1 < nfiles; i += 2)
		put(s->path, files[i], files[i + 1]);
	ck_assert_int_eq(gitops_commit_all(&wt, "session work", &local_ident,
	    hex, &created, &err), 0);
	ck_assert_int_eq(created, nfiles > 0);
	gitops_repo_release(&wt);
}

static void
setup_plain(void)
{
	char	tmpl[] = "/tmp/check-gitops.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	tmp = xstrdup(tmpl);
	xasprintf(&proj, "%s/proj", tmp);
}

static void
teardown_plain(void)
{
	if (getenv("KTX_KEEP_TMP") == NULL)
		rm_rf(tmp);
	free(tmp);
	free(proj);
}

static void
setup(void)
{
	setup_plain();
	ck_assert_int_eq(gitops_init(NULL), 0);
}

static void
teardown(void)
{
	gitops_shutdown();
	teardown_plain();
}

/* Opening, adopting, refusing. */

START_TEST(test_classify_table)
{
	char	*d, *f;

	ck_assert_int_eq(gitops_classify(proj), GITOPS_UNOWNED);
	ck_assert_int_eq(mkdir(proj, 0777), 0);
	ck_assert_int_eq(gitops_classify(proj), GITOPS_UNOWNED);
	/* Nested in a parent repository: still unowned, never walks up. */
	ck_assert_int_eq(run("git init -q '%s'", tmp), 0);
	ck_assert_int_eq(gitops_classify(proj), GITOPS_UNOWNED);
	ck_assert_int_eq(run("git init -q '%s'", proj), 0);
	ck_assert_int_eq(gitops_classify(proj), GITOPS_FOREIGN_REPO);
	put(proj, "ktx.yaml", "connections: {}\n");
	ck_assert_int_eq(gitops_classify(proj), GITOPS_KTX_MANAGED);

	xasprintf(&d, "%s/bare", tmp);
	ck_assert_int_eq(run("git init -q --bare '%s'", d), 0);
	ck_assert_int_eq(gitops_classify(d), GITOPS_FOREIGN_REPO);
	free(d);

	xasprintf(&d, "%s/gitfile", tmp);
	put(d, ".git", "gitdir: /nowhere\n");
	put(d, "ktx.yaml", "connections: {}\n");
	ck_assert_int_eq(gitops_classify(d), GITOPS_LINKED_WORKTREE);
	free(d);

	xasprintf(&f, "%s/file", tmp);
	put(tmp, "file", "x");
	ck_assert_int_eq(gitops_classify(f), GITOPS_NOT_A_DIRECTORY);
	free(f);
}
END_TEST

START_TEST(test_bootstrap_commit_on_create)
{
	struct gitops_repo	 r;
	char			*err = NULL, hex[GITOPS_HEXSZ + 1], *s;
	int			 did;

	put(proj, "ktx.yaml", "connections: {}\n");
	ck_assert_int_eq(gitops_open_project(&r, proj, &ktx_ident,
	    GITOPS_OPEN_CREATE, &did, &err), 0);
	ck_assert_int_eq(did & (GITOPS_DID_INIT | GITOPS_DID_BOOTSTRAP),
	    GITOPS_DID_INIT | GITOPS_DID_BOOTSTRAP);
	ck_assert_int_eq(gitops_head(&r, hex, &err), 0);
	s = head_of(proj, "refs/heads/main");
	ck_assert_str_eq(s, hex);
	free(s);
	ck_out_eq("refs/heads/main", "git -C '%s' symbolic-ref HEAD", proj);
	ck_out_eq(GITOPS_BOOTSTRAP_MESSAGE "|ktx <ktx@example.com>|"
	    "ktx <ktx@example.com>", "git -C '%s' log -1 --format='%%s|%%an "
	    "<%%ae>|%%cn <%%ce>'", proj);
	ck_out_eq("", "git -C '%s' ls-tree HEAD", proj);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_reopen_makes_no_second_bootstrap)
{
	struct gitops_repo	r;
	int			did;

	put(proj, "ktx.yaml", "connections: {}\n");
	ck_assert_int_eq(gitops_open_project(&r, proj, &ktx_ident,
	    GITOPS_OPEN_CREATE, NULL, NULL), 0);
	gitops_repo_release(&r);
	ck_assert_int_eq(gitops_open_project(&r, proj, &ktx_ident,
	    GITOPS_OPEN_CREATE, &did, NULL), 0);
	ck_assert_int_eq(did, 0);
	gitops_repo_release(&r);
	ck_assert_int_eq(gitops_open_project(&r, proj, &ktx_ident, 0, &did,
	    NULL), 0);
	ck_assert_int_eq(did, 0);
	ck_assert_int_eq(commit_count(proj), 1);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_bootstrap_in_preexisting_empty_repo)
{
	struct gitops_repo	r;
	char			*err = NULL;
	int			did;

	/* No identity anywhere: HOME's config says user.useConfigOnly. */
	ck_assert_int_eq(run("git init -q '%s'", proj), 0);
	put(proj, "ktx.yaml", "connections: {}\n");
	ck_assert_msg(gitops_open_project(&r, proj, &ktx_ident, 0, &did,
	    &err) == 0, "%s", err);
	ck_assert_int_eq(did, GITOPS_DID_BOOTSTRAP);
	ck_assert_int_eq(commit_count(proj), 1);
	/* ktx.yaml stays untracked: adoption commits nothing of the user's. */
	ck_out_eq("?? ktx.yaml", "git -C '%s' status --porcelain", proj);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_identity_not_in_repo_config)
{
	struct gitops_repo	r;

	new_project(&r, proj);
	ck_assert_int_ne(run("git -C '%s' config --local --get user.name",
	    proj), 0);
	ck_assert_int_ne(run("git -C '%s' config --local --get user.email",
	    proj), 0);
	ck_assert_int_ne(run("grep -q 'ktx@example.com' '%s/.git/config'",
	    proj), 0);
	/* ... and yet the commits and the reflog carry it. */
	ck_out_eq("ktx <ktx@example.com>", "git -C '%s' log -1 "
	    "--format='%%cn <%%ce>'", proj);
	ck_assert_int_eq(run("grep -q 'ktx <ktx@example.com>' "
	    "'%s/.git/logs/HEAD'", proj), 0);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_maintenance_stays_attached)
{
	struct gitops_repo	r;

	new_project(&r, proj);
	ck_out_eq("false", "git -C '%s' config --local gc.autoDetach", proj);
	ck_out_eq("false", "git -C '%s' config --local maintenance.autoDetach",
	    proj);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_refuses_foreign_repo_untouched)
{
	struct gitops_repo	 r;
	char			*err = NULL, *before, *after;

	put(proj, "README", "mine\n");
	cli_commit(proj, "user work");
	before = tree_sum(proj);
	ck_assert_int_eq(gitops_open_project(&r, proj, &ktx_ident,
	    GITOPS_OPEN_CREATE, NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "did not create"));
	ck_assert_ptr_nonnull(strstr(err, proj));
	ck_assert_ptr_null(r.git);
	after = tree_sum(proj);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	free(err);
}
END_TEST

START_TEST(test_refuses_linked_worktree_with_ktx_yaml)
{
	struct gitops_repo	 r;
	char			*err = NULL, *wt, *before, *after;

	new_project(&r, proj);
	gitops_repo_release(&r);
	xasprintf(&wt, "%s/linked", tmp);
	ck_assert_int_eq(run("git -C '%s' worktree add -q -b other '%s'",
	    proj, wt), 0);
	ck_assert_int_eq(exists(wt, "ktx.yaml"), 1);
	before = tree_sum(wt);
	ck_assert_int_eq(gitops_open_project(&r, wt, &ktx_ident,
	    GITOPS_OPEN_CREATE, NULL, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "linked git worktree"));
	after = tree_sum(wt);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	free(err);
	free(wt);
}
END_TEST

START_TEST(test_nested_project_keeps_parent_untouched)
{
	struct gitops_repo	 r;
	char			*parent_head, *s;

	put(tmp, "parent.txt", "p\n");
	ck_assert_int_eq(run("git init -q '%s'", tmp), 0);
	ck_assert_int_eq(run("git -C '%s' add parent.txt && git -C '%s' commit "
	    "-q -m parent", tmp, tmp), 0);
	parent_head = head_of(tmp, "HEAD");
	new_project(&r, proj);
	s = head_of(tmp, "HEAD");
	ck_assert_str_eq(s, parent_head);
	free(s);
	ck_out_eq(proj, "git -C '%s' rev-parse --show-toplevel", proj);
	ck_out_eq("?? proj/", "git -C '%s' status --porcelain", tmp);
	ck_assert_int_eq(commit_count(proj), 2);
	free(parent_head);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_adopts_older_project_with_untracked_yaml)
{
	struct gitops_repo	 r;
	char			*before, *s;
	int			 did;

	put(proj, "README", "history\n");
	cli_commit(proj, "old history");
	before = head_of(proj, "HEAD");
	put(proj, "ktx.yaml", "connections: {}\n");
	ck_assert_int_eq(gitops_open_project(&r, proj, &ktx_ident, 0, &did,
	    NULL), 0);
	ck_assert_int_eq(did, 0);
	s = head_of(proj, "HEAD");
	ck_assert_str_eq(s, before);
	free(s);
	free(before);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_unowned_without_create_is_refused)
{
	struct gitops_repo	 r;
	char			*err = NULL;

	put(proj, "ktx.yaml", "connections: {}\n");
	ck_assert_int_eq(gitops_open_project(&r, proj, &ktx_ident, 0, NULL,
	    &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a ktx project"));
	ck_assert_int_eq(exists(proj, ".git"), 0);
	free(err);
}
END_TEST

/* GIT_DIR and friends point at a decoy; nothing may land there. */
START_TEST(test_environment_does_not_redirect)
{
	static const char *const files[] = { "a.txt", "session\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_squash	 sq;
	struct gitops_refresh	 rf;
	char			*decoy, *dsum, *dsum2, *gd, *err = NULL;
	char			 hex[GITOPS_HEXSZ + 1];
	const char		*one[] = { "b.txt" };
	int			 created;

	xasprintf(&decoy, "%s/decoy", tmp);
	new_project(&r, decoy);
	gitops_repo_release(&r);
	dsum = tree_sum(decoy);

	xasprintf(&gd, "%s/.git", decoy);
	setenv("GIT_DIR", gd, 1);
	free(gd);
	xasprintf(&gd, "%s/.git/index", decoy);
	setenv("GIT_INDEX_FILE", gd, 1);
	free(gd);
	setenv("GIT_WORK_TREE", decoy, 1);
	setenv("GIT_CEILING_DIRECTORIES", tmp, 1);
	new_project(&r, proj);
	gitops_repo_release(&r);
	ck_assert_int_eq(gitops_open_project(&r, proj, &ktx_ident, 0, NULL,
	    &err), 0);
	session_with(&r, "env", &s, files, 2);
	put(proj, "b.txt", "root\n");
	ck_assert_int_eq(gitops_commit_paths(&r, one, 1, "b", NULL, hex,
	    &created, &err), 0);
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_refresh(&wt, "main", &rf, &err), 0);
	ck_assert_int_eq(rf.status, GITOPS_REFRESH_CHANGED);
	ck_assert_int_eq(gitops_squash(&r, rf.head, "squash", NULL, &sq,
	    &err), 0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_COMMITTED);
	ck_assert_int_eq(gitops_session_remove(&r, s.path, s.branch, &err), 0);
	unsetenv("GIT_DIR");
	unsetenv("GIT_WORK_TREE");
	unsetenv("GIT_INDEX_FILE");
	unsetenv("GIT_CEILING_DIRECTORIES");

	dsum2 = tree_sum(decoy);
	ck_assert_str_eq(dsum, dsum2);
	ck_assert_int_eq(commit_count(proj), 4);
	ck_out_eq("a.txt\nb.txt\nktx.yaml", "git -C '%s' ls-files -- ':!.ktx'",
	    proj);
	expect_clean(proj);
	free(dsum);
	free(dsum2);
	free(decoy);
	gitops_refresh_release(&rf);
	gitops_squash_release(&sq);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

/* Session worktrees. */

START_TEST(test_session_add_remove_and_branch)
{
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_leftovers	 l;
	char			*err = NULL, hex[GITOPS_HEXSZ + 1], *list, *want;

	new_project(&r, proj);
	ck_assert_int_eq(gitops_head(&r, hex, &err), 0);
	{
		char main_hex[GITOPS_HEXSZ + 1];

		ck_assert_int_eq(gitops_resolve(&r, "main", main_hex, &err), 0);
		ck_assert_str_eq(main_hex, hex);
		ck_assert_int_eq(gitops_resolve(&r, "nope", main_hex, &err),
		    -1);
		ck_assert_ptr_nonnull(strstr(err, "unknown revision \"nope\""));
	}
	ck_assert_msg(gitops_session_create(&r, "alpha", hex, &s, &err) == 0,
	    "%s", err);
	ck_assert_str_eq(s.key, "alpha");
	ck_assert_str_eq(s.branch, "session/alpha");
	ck_assert_str_eq(s.base, hex);
	xasprintf(&want, "%s/.ktx/worktrees/session-alpha", proj);
	ck_assert_str_eq(s.path, want);
	list = out("git -C '%s' worktree list --porcelain", proj);
	ck_assert_ptr_nonnull(strstr(list, want));
	ck_assert_ptr_nonnull(strstr(list, "branch refs/heads/session/alpha"));
	free(list);
	ck_assert_int_eq(exists(s.path, "ktx.yaml"), 1);
	open_wt(&wt, s.path);
	{
		char h2[GITOPS_HEXSZ + 1];

		ck_assert_int_eq(gitops_head(&wt, h2, &err), 0);
		ck_assert_str_eq(h2, hex);
	}
	gitops_repo_release(&wt);
	expect_clean(s.path);
	expect_clean(proj);

	ck_assert_int_eq(gitops_list_leftovers(&r, &l, &err), 0);
	ck_assert_uint_eq(l.worktrees.n, 1);
	ck_assert_str_eq(l.worktrees.v[0], want);
	ck_assert_uint_eq(l.branches.n, 1);
	ck_assert_str_eq(l.branches.v[0], "session/alpha");
	gitops_leftovers_release(&l);

	ck_assert_msg(gitops_session_remove(&r, s.path, s.branch, &err) == 0,
	    "%s", err);
	list = out("git -C '%s' worktree list --porcelain", proj);
	ck_assert_ptr_null(strstr(list, "session-alpha"));
	free(list);
	ck_assert_int_eq(exists(proj, ".ktx/worktrees/session-alpha"), 0);
	ck_assert_int_eq(exists(proj, ".git/worktrees/session-alpha"), 0);
	ck_assert_int_ne(run("git -C '%s' rev-parse -q --verify "
	    "refs/heads/session/alpha", proj), 0);
	ck_assert_int_eq(gitops_list_leftovers(&r, &l, &err), 0);
	ck_assert_uint_eq(l.worktrees.n + l.branches.n, 0);
	gitops_leftovers_release(&l);
	/* Removing again is fine: both are already gone. */
	ck_assert_int_eq(gitops_session_remove(&r, s.path, s.branch, &err), 0);
	free(want);
	free(err);
	gitops_session_release(&s);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_session_collision_gets_suffix)
{
	struct gitops_repo	 r;
	struct gitops_session	 s1, s2;
	char			*err = NULL, hex[GITOPS_HEXSZ + 1], *p;
	const char		*suffix;

	new_project(&r, proj);
	ck_assert_int_eq(gitops_head(&r, hex, &err), 0);
	/* A directory in the way. */
	put(proj, ".ktx/worktrees/session-beta/stale", "x");
	ck_assert_int_eq(gitops_session_create(&r, "beta", hex, &s1, &err), 0);
	ck_assert_int_eq(strncmp(s1.key, "beta-", 5), 0);
	suffix = s1.key + 5;
	ck_assert_uint_ge(strlen(suffix), 13);
	ck_assert_uint_eq(strspn(suffix, "0123456789"), strlen(suffix));
	xasprintf(&p, "session/%s", s1.key);
	ck_assert_str_eq(s1.branch, p);
	free(p);
	ck_assert_ptr_nonnull(strstr(s1.path, s1.key));
	ck_assert_int_eq(exists(proj, ".ktx/worktrees/session-beta/stale"), 1);
	/* A branch in the way. */
	ck_assert_int_eq(run("git -C '%s' branch session/gamma", proj), 0);
	ck_assert_int_eq(gitops_session_create(&r, "gamma", hex, &s2, &err), 0);
	ck_assert_int_eq(strncmp(s2.key, "gamma-", 6), 0);
	ck_assert_int_eq(gitops_session_remove(&r, s1.path, s1.branch, &err),
	    0);
	ck_assert_int_eq(gitops_session_remove(&r, s2.path, s2.branch, &err),
	    0);
	gitops_session_release(&s1);
	gitops_session_release(&s2);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_session_rejects_unsafe_job_ids)
{
	static const char *const bad[] = { "", "../up", "a/b", ".hidden",
	    "-x", "a..b", "x.lock", "sp ace", "x." };
	struct gitops_repo	 r;
	struct gitops_session	 s;
	char			*err = NULL, hex[GITOPS_HEXSZ + 1];
	size_t			 i;

	new_project(&r, proj);
	ck_assert_int_eq(gitops_head(&r, hex, &err), 0);
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		ck_assert_msg(gitops_session_create(&r, bad[i], hex, &s,
		    &err) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_ptr_nonnull(strstr(err, "invalid job id"));
	}
	ck_assert_int_eq(exists(proj, ".ktx/worktrees"), 0);
	free(err);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_leftovers_and_remove_guard)
{
	struct gitops_repo	 r;
	struct gitops_session	 s;
	struct gitops_leftovers	 l;
	char			*err = NULL, hex[GITOPS_HEXSZ + 1], *outside;

	new_project(&r, proj);
	ck_assert_int_eq(gitops_head(&r, hex, &err), 0);
	ck_assert_int_eq(gitops_session_create(&r, "kept", hex, &s, &err), 0);
	ck_assert_int_eq(run("git -C '%s' branch session/orphan", proj), 0);
	put(proj, ".ktx/worktrees/session-stray/file", "x");
	put(proj, ".ktx/worktrees/not-a-session/file", "x");
	ck_assert_int_eq(gitops_list_leftovers(&r, &l, &err), 0);
	ck_assert_uint_eq(l.worktrees.n, 2);
	ck_assert_ptr_nonnull(strstr(l.worktrees.v[0], "session-kept"));
	ck_assert_ptr_nonnull(strstr(l.worktrees.v[1], "session-stray"));
	ck_assert_uint_eq(l.branches.n, 2);
	ck_assert_str_eq(l.branches.v[0], "session/kept");
	ck_assert_str_eq(l.branches.v[1], "session/orphan");
	gitops_leftovers_release(&l);

	/* A directory removed behind git's back is still listed. */
	ck_assert_int_eq(run("rm -rf '%s'", s.path), 0);
	ck_assert_int_eq(gitops_list_leftovers(&r, &l, &err), 0);
	ck_assert_uint_eq(l.worktrees.n, 2);
	gitops_leftovers_release(&l);
	ck_assert_int_eq(gitops_session_remove(&r, s.path, s.branch, &err), 0);
	ck_assert_int_eq(exists(proj, ".git/worktrees/session-kept"), 0);

	xasprintf(&outside, "%s/.ktx/worktrees/not-a-session", proj);
	ck_assert_int_eq(gitops_session_remove(&r, outside, NULL, &err), -1);
	ck_assert_int_eq(exists(proj, ".ktx/worktrees/not-a-session/file"), 1);
	ck_assert_int_eq(gitops_session_remove(&r, proj, NULL, &err), -1);
	ck_assert_int_eq(exists(proj, "ktx.yaml"), 1);
	free(outside);
	free(err);
	gitops_session_release(&s);
	gitops_repo_release(&r);
}
END_TEST

/* Commits. */

START_TEST(test_commit_all_new_modified_deleted)
{
	static const char *const files[] = { "m.txt", "one\n", "d.txt", "x\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	char			*err = NULL, hex[GITOPS_HEXSZ + 1], *head;
	int			 created, n;

	new_project(&r, proj);
	session_with(&r, "c", &s, files, 4);
	open_wt(&wt, s.path);
	put(s.path, "m.txt", "two\n");
	put(s.path, "dir/new.txt", "new\n");
	ck_assert_int_eq(run("rm '%s/d.txt'", s.path), 0);
	n = commit_count(s.path);
	ck_assert_int_eq(gitops_commit_all(&wt, "ingest(x): stage", &local_ident,
	    hex, &created, &err), 0);
	ck_assert_int_eq(created, 1);
	ck_assert_int_eq(commit_count(s.path), n + 1);
	head = head_of(s.path, "HEAD");
	ck_assert_str_eq(head, hex);
	free(head);
	ck_out_eq("D\td.txt\nA\tdir/new.txt\nM\tm.txt", "git -C '%s' show "
	    "--format= --name-status HEAD", s.path);
	ck_out_eq("ktx Local <local@ktx.local>|ktx <ktx@example.com>|"
	    "ingest(x): stage", "git -C '%s' log -1 --format='%%an <%%ae>|"
	    "%%cn <%%ce>|%%s'", s.path);
	expect_clean(s.path);
	/* Nothing left: no commit. */
	ck_assert_int_eq(gitops_commit_all(&wt, "again", NULL, hex, &created,
	    &err), 0);
	ck_assert_int_eq(created, 0);
	ck_assert_int_eq(commit_count(s.path), n + 1);
	head = head_of(s.path, "HEAD");
	ck_assert_str_eq(head, hex);
	free(head);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_commit_paths_commits_only_those)
{
	const char *const paths[] = { "a.txt", "gone.txt" };
	struct gitops_repo	 r;
	char			*err = NULL, hex[GITOPS_HEXSZ + 1];
	int			 created, n;

	new_project(&r, proj);
	put(proj, "user.txt", "staged by the user\n");
	ck_assert_int_eq(run("git -C '%s' add user.txt", proj), 0);
	put(proj, "a.txt", "a\n");
	n = commit_count(proj);
	ck_assert_int_eq(gitops_commit_paths(&r, paths, 2, "add a", NULL, hex,
	    &created, &err), 0);
	ck_assert_int_eq(created, 1);
	ck_assert_int_eq(commit_count(proj), n + 1);
	ck_out_eq("a.txt", "git -C '%s' show --format= --name-only HEAD", proj);
	ck_out_eq("A  user.txt", "git -C '%s' status --porcelain", proj);
	ck_assert_int_eq(gitops_commit_paths(&r, paths, 2, "again", NULL, hex,
	    &created, &err), 0);
	ck_assert_int_eq(created, 0);
	ck_assert_int_eq(commit_count(proj), n + 1);
	gitops_repo_release(&r);
}
END_TEST

/*
 * Without filters, commit_paths writes the index itself: after an add, a
 * change and a removal the checkout is clean and the index is the commit.
 */
START_TEST(test_commit_paths_index_follows)
{
	const char *const first[] = { "a.txt", "sub/b.txt", "sub/c.txt" };
	const char *const second[] = { "sub/d.txt", "a.txt", "sub/b.txt" };
	struct gitops_repo	 r;
	char			*err = NULL, hex[GITOPS_HEXSZ + 1];
	int			 created;

	new_project(&r, proj);
	put(proj, "a.txt", "a\n");
	put(proj, "sub/b.txt", "b\n");
	put(proj, "sub/c.txt", "c\n");
	ck_assert_int_eq(gitops_commit_paths(&r, first, 3, "three", NULL, hex,
	    &created, &err), 0);
	ck_assert_int_eq(created, 1);
	ck_out_eq("", "git -C '%s' status --porcelain", proj);
	put(proj, "a.txt", "a changed\n");
	ck_assert_int_eq(run("rm '%s/sub/b.txt'", proj), 0);
	put(proj, "sub/d.txt", "d\n");
	ck_assert_int_eq(gitops_commit_paths(&r, second, 3, "more", NULL, hex,
	    &created, &err), 0);
	ck_assert_int_eq(created, 1);
	ck_out_eq("", "git -C '%s' status --porcelain", proj);
	ck_out_eq("", "git -C '%s' diff --cached --name-only HEAD", proj);
	ck_assert_int_eq(run("git -C '%s' ls-files | grep -qx sub/d.txt &&"
	    " ! git -C '%s' ls-files | grep -q sub/b.txt", proj, proj), 0);
	ck_assert_int_eq(run("git -C '%s' fsck --no-progress 2>/dev/null",
	    proj), 0);
	gitops_repo_release(&r);
}
END_TEST

/*
 * From 64 files a commit writes its new blobs as one pack (packwrite.c):
 * git reads them back, fsck is clean, the same content twice is one
 * object, and a commit of unchanged files writes no pack.
 */
START_TEST(test_commit_paths_pack)
{
	struct gitops_repo	 r;
	const char		*paths[100];
	char			*err = NULL, hex[GITOPS_HEXSZ + 1], name[32];
	char			*big, *names[100];
	int			 created, i;

	new_project(&r, proj);
	big = xmalloc(200001);
	for (i = 0; i < 200000; i++)
		big[i] = (char)('a' + (i * 7 + i / 13) % 26);
	big[200000] = '\0';
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "t/f%03d.json", i);
		names[i] = xstrdup(name);
		paths[i] = names[i];
		if (i == 7)
			put(proj, names[i], big);	/* sizes past 4 bits x 7 x 2 */
		else if (i == 8)
			put(proj, names[i], "same\n");
		else if (i == 9)
			put(proj, names[i], "same\n");
		else {
			snprintf(name, sizeof(name), "{\"n\": %d}\n", i);
			put(proj, names[i], name);
		}
	}
	ck_assert_int_eq(gitops_commit_paths(&r, paths, 100, "pack", NULL, hex,
	    &created, &err), 0);
	ck_assert_int_eq(created, 1);
	ck_out_eq("1", "ls '%s/.git/objects/pack/' | grep -c '[.]pack$'", proj);
	ck_out_eq("99", "git -C '%s' count-objects -v | sed -n "
	    "'s/^in-pack: //p'", proj);
	ck_out_eq("", "git -C '%s' status --porcelain", proj);
	ck_out_eq("{\"n\": 42}", "git -C '%s' show HEAD:t/f042.json", proj);
	ck_assert_int_eq(run("git -C '%s' show HEAD:t/f007.json | cmp -s - "
	    "'%s/t/f007.json'", proj, proj), 0);
	ck_assert_int_eq(run("git -C '%s' fsck --strict --no-progress "
	    "2>/dev/null", proj), 0);
	/* Unchanged: no commit, no pack. */
	ck_assert_int_eq(gitops_commit_paths(&r, paths, 100, "again", NULL,
	    hex, &created, &err), 0);
	ck_assert_int_eq(created, 0);
	ck_out_eq("1", "ls '%s/.git/objects/pack/' | grep -c '[.]pack$'", proj);
	/* Half changed: a second pack of 50. */
	for (i = 0; i < 100; i += 2) {
		snprintf(name, sizeof(name), "{\"n\": %d, \"v\": 2}\n", i);
		put(proj, names[i], name);
	}
	ck_assert_int_eq(gitops_commit_paths(&r, paths, 100, "half", NULL,
	    hex, &created, &err), 0);
	ck_assert_int_eq(created, 1);
	ck_out_eq("2", "ls '%s/.git/objects/pack/' | grep -c '[.]pack$'", proj);
	ck_out_eq("149", "git -C '%s' count-objects -v | sed -n "
	    "'s/^in-pack: //p'", proj);
	ck_out_eq("50", "git -C '%s' show --format= --name-only HEAD | wc -l",
	    proj);
	ck_out_eq("", "git -C '%s' status --porcelain", proj);
	ck_assert_int_eq(run("git -C '%s' fsck --strict --no-progress "
	    "2>/dev/null", proj), 0);
	for (i = 0; i < 100; i++)
		free(names[i]);
	free(big);
	gitops_repo_release(&r);
}
END_TEST

/* Refresh. */

/* Advance main by committing files in the project root. */
static void
advance_main(struct gitops_repo *r, const char *const *files, size_t n)
{
	const char	*paths[16];
	char		*err = NULL, hex[GITOPS_HEXSZ + 1];
	size_t		 i;
	int		 created;

	for (i = 0; i + 1 < n; i += 2) {
		put(proj, files[i], files[i + 1]);
		paths[i / 2] = files[i];
	}
	ck_assert_int_eq(gitops_commit_paths(r, paths, n / 2, "sibling", NULL,
	    hex, &created, &err), 0);
	ck_assert_int_eq(created, 1);
}

START_TEST(test_refresh_noop)
{
	static const char *const files[] = { "s.txt", "s\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_refresh	 rf;
	char			*err = NULL, *before, *after;

	new_project(&r, proj);
	session_with(&r, "n", &s, files, 2);
	open_wt(&wt, s.path);
	before = head_of(s.path, "HEAD");
	ck_assert_int_eq(gitops_refresh(&wt, "main", &rf, &err), 0);
	ck_assert_int_eq(rf.status, GITOPS_REFRESH_UNCHANGED);
	ck_assert_str_eq(rf.head, before);
	after = head_of(s.path, "HEAD");
	ck_assert_str_eq(after, before);
	gitops_refresh_release(&rf);
	/* Refreshing with its own HEAD is a no-op as well. */
	ck_assert_int_eq(gitops_refresh(&wt, before, &rf, &err), 0);
	ck_assert_int_eq(rf.status, GITOPS_REFRESH_UNCHANGED);
	free(before);
	free(after);
	gitops_refresh_release(&rf);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_refresh_fast_forward)
{
	static const char *const sib[] = { "sib.txt", "sibling\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_refresh	 rf;
	char			*err = NULL, *main_head, *h, *c;

	new_project(&r, proj);
	session_with(&r, "ff", &s, NULL, 0);
	advance_main(&r, sib, 2);
	main_head = head_of(proj, "main");
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_refresh(&wt, "main", &rf, &err), 0);
	ck_assert_int_eq(rf.status, GITOPS_REFRESH_CHANGED);
	ck_assert_int_eq(rf.fast_forward, 1);
	ck_assert_str_eq(rf.head, main_head);
	h = head_of(s.path, "HEAD");
	ck_assert_str_eq(h, main_head);
	c = slurp(s.path, "sib.txt");
	ck_assert_str_eq(c, "sibling");
	expect_clean(s.path);
	free(c);
	free(h);
	free(main_head);
	gitops_refresh_release(&rf);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_refresh_merge_commit)
{
	static const char *const mine[] = { "dir/mine.txt", "mine\n" };
	static const char *const sib[] = { "dir/sib.txt", "sibling\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_refresh	 rf;
	char			*err = NULL, *main_head, *old, *parents, *want;

	new_project(&r, proj);
	session_with(&r, "m", &s, mine, 2);
	old = head_of(s.path, "HEAD");
	advance_main(&r, sib, 2);
	main_head = head_of(proj, "main");
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_refresh(&wt, "main", &rf, &err), 0);
	ck_assert_int_eq(rf.status, GITOPS_REFRESH_CHANGED);
	ck_assert_int_eq(rf.fast_forward, 0);
	parents = out("git -C '%s' log -1 --format=%%P HEAD", s.path);
	xasprintf(&want, "%s %s", old, main_head);
	ck_assert_str_eq(parents, want);
	ck_out_eq("dir/mine.txt\ndir/sib.txt\nktx.yaml", "git -C '%s' ls-files "
	    "-- ':!.ktx'", s.path);
	ck_assert_int_eq(exists(s.path, "dir/sib.txt"), 1);
	expect_clean(s.path);
	{
		char *m = out("git -C '%s' log -1 --format=%%s", s.path);

		ck_assert_ptr_nonnull(strstr(m, "into session/m"));
		free(m);
	}
	free(want);
	free(parents);
	free(old);
	free(main_head);
	gitops_refresh_release(&rf);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

/* Both sides changed one file in different places: a content merge. */
START_TEST(test_refresh_content_merge)
{
	static const char *const base[] = { "shared.yaml",
	    "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\n" };
	static const char *const mine[] = { "shared.yaml",
	    "a: 10\nb: 2\nc: 3\nd: 4\ne: 5\nf: 6\n" };
	static const char *const sib[] = { "shared.yaml",
	    "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: 60\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_refresh	 rf;
	char			*err = NULL, *c;

	new_project(&r, proj);
	advance_main(&r, base, 2);
	session_with(&r, "cm", &s, mine, 2);
	advance_main(&r, sib, 2);
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_refresh(&wt, "main", &rf, &err), 0);
	ck_assert_int_eq(rf.status, GITOPS_REFRESH_CHANGED);
	c = slurp(s.path, "shared.yaml");
	ck_assert_str_eq(c, "a: 10\nb: 2\nc: 3\nd: 4\ne: 5\nf: 60");
	expect_clean(s.path);
	free(c);
	gitops_refresh_release(&rf);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_refresh_conflict_leaves_session_as_it_was)
{
	static const char *const base[] = { "shared.yaml", "v: base\n" };
	static const char *const mine[] = { "shared.yaml", "v: mine\n",
	    "mine.txt", "m\n" };
	static const char *const sib[] = { "shared.yaml", "v: sibling\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_refresh	 rf;
	char			*err = NULL, *before, *after, *sum1, *sum2;

	new_project(&r, proj);
	advance_main(&r, base, 2);
	session_with(&r, "x", &s, mine, 4);
	advance_main(&r, sib, 2);
	before = head_of(s.path, "HEAD");
	sum1 = tree_sum(s.path);
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_refresh(&wt, "main", &rf, &err), 0);
	ck_assert_int_eq(rf.status, GITOPS_REFRESH_CONFLICT);
	ck_assert_uint_eq(rf.conflicts.n, 1);
	ck_assert_str_eq(rf.conflicts.v[0], "shared.yaml");
	ck_assert_str_eq(rf.head, before);
	after = head_of(s.path, "HEAD");
	ck_assert_str_eq(after, before);
	expect_clean(s.path);
	ck_assert_int_eq(gitops_check_clean(&wt, &err), 0);
	sum2 = tree_sum(s.path);
	ck_assert_str_eq(sum1, sum2);
	free(before);
	free(after);
	free(sum1);
	free(sum2);
	gitops_refresh_release(&rf);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_refresh_conflict_untracked_in_the_way)
{
	static const char *const mine[] = { "mine.txt", "m\n" };
	static const char *const sib[] = { "new.txt", "from main\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_refresh	 rf;
	char			*err = NULL, *before, *after, *c;

	new_project(&r, proj);
	session_with(&r, "u", &s, mine, 2);
	advance_main(&r, sib, 2);
	put(s.path, "new.txt", "untracked in the session\n");
	before = head_of(s.path, "HEAD");
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_refresh(&wt, "main", &rf, &err), 0);
	ck_assert_int_eq(rf.status, GITOPS_REFRESH_CONFLICT);
	ck_assert_uint_eq(rf.conflicts.n, 1);
	ck_assert_str_eq(rf.conflicts.v[0], "new.txt");
	after = head_of(s.path, "HEAD");
	ck_assert_str_eq(after, before);
	c = slurp(s.path, "new.txt");
	ck_assert_str_eq(c, "untracked in the session");
	ck_out_eq("?? new.txt", "git -C '%s' status --porcelain", s.path);
	free(c);
	free(before);
	free(after);
	gitops_refresh_release(&rf);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

/* The clean check. */

START_TEST(test_check_clean_markers)
{
	static const char *const markers[] = { "MERGE_HEAD", "REBASE_HEAD",
	    "CHERRY_PICK_HEAD", "REVERT_HEAD", "sequencer/todo" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	char			*err = NULL, *path, *want;
	size_t			 i;

	new_project(&r, proj);
	session_with(&r, "cc", &s, NULL, 0);
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_check_clean(&wt, &err), 0);
	put(s.path, "dirty.txt", "untracked and dirty files are not checked");
	ck_assert_int_eq(gitops_check_clean(&wt, &err), 0);
	for (i = 0; i < sizeof(markers) / sizeof(*markers); i++) {
		path = out("cd '%s' && git rev-parse --path-format=absolute "
		    "--git-path '%s'", s.path, markers[i]);
		ck_assert_int_eq(run("mkdir -p \"$(dirname '%s')\" && "
		    "git -C '%s' rev-parse HEAD > '%s'", path, s.path, path), 0);
		ck_assert_int_eq(gitops_check_clean(&wt, &err), -1);
		xasprintf(&want, "Worktree has in-progress git operation (%s "
		    "present at %s); refusing to proceed",
		    i == 4 ? "sequencer (interrupted multi-commit op)" :
		    markers[i], path);
		ck_assert_str_eq(err, want);
		free(want);
		ck_assert_int_eq(unlink(path), 0);
		free(path);
	}
	ck_assert_int_eq(gitops_check_clean(&wt, &err), 0);
	free(err);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_check_clean_unmerged_paths)
{
	static const char *const base[] = { "shared.yaml", "v: base\n" };
	static const char *const mine[] = { "shared.yaml", "v: mine\n" };
	static const char *const sib[] = { "shared.yaml", "v: sibling\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	char			*err = NULL, *mh;

	new_project(&r, proj);
	advance_main(&r, base, 2);
	session_with(&r, "um", &s, mine, 2);
	advance_main(&r, sib, 2);
	ck_assert_int_ne(run("git -C '%s' merge -q main >/dev/null 2>&1",
	    s.path), 0);
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_check_clean(&wt, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "(MERGE_HEAD present at "));
	/* Without the marker, the unmerged index still refuses. */
	mh = out("cd '%s' && git rev-parse --path-format=absolute --git-path "
	    "MERGE_HEAD", s.path);
	ck_assert_int_eq(unlink(mh), 0);
	ck_assert_int_eq(gitops_check_clean(&wt, &err), -1);
	ck_assert_str_eq(err, "Worktree has 1 unmerged path(s): shared.yaml; "
	    "refusing to proceed");
	free(mh);
	free(err);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

/* Squash. */

START_TEST(test_squash_one_commit)
{
	static const char *const files[] = { "a.yaml", "a: 1\n",
	    "b.yaml", "b: 1\n" };
	struct gitops_repo	 r;
	struct gitops_session	 s;
	struct gitops_squash	 sq;
	char			*err = NULL, *old, *h, *t1, *t2;

	new_project(&r, proj);
	old = head_of(proj, "main");
	session_with(&r, "one", &s, files, 4);
	ck_assert_msg(gitops_squash(&r, s.branch, "ingest(dbt): one syncId=s "
	    "diff=+2/~0/-0/=0", &local_ident, &sq, &err) == 0, "%s", err);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_COMMITTED);
	ck_assert_str_eq(sq.parent, old);
	h = head_of(proj, "main");
	ck_assert_str_eq(sq.commit, h);
	ck_assert_uint_eq(sq.touched.n, 2);
	ck_assert_str_eq(sq.touched.v[0], "a.yaml");
	ck_assert_str_eq(sq.touched.v[1], "b.yaml");
	ck_out_eq(old, "git -C '%s' log -1 --format=%%P main", proj);
	t1 = out("git -C '%s' rev-parse main^{tree}", proj);
	t2 = out("git -C '%s' rev-parse %s^{tree}", proj, s.branch);
	ck_assert_str_eq(t1, t2);
	ck_out_eq("ingest(dbt): one syncId=s diff=+2/~0/-0/=0|ktx Local "
	    "<local@ktx.local>|ktx <ktx@example.com>", "git -C '%s' log -1 "
	    "--format='%%s|%%an <%%ae>|%%cn <%%ce>' main", proj);
	ck_assert_int_eq(exists(proj, "a.yaml"), 1);
	expect_clean(proj);
	expect_index_is_head(proj);
	ck_assert_int_eq(exists(proj, ".git/ktx-squash"), 0);
	ck_assert_int_eq(gitops_session_remove(&r, s.path, s.branch, &err), 0);
	ck_out_eq("", "ls -A '%s/.ktx/worktrees'", proj);
	free(t1);
	free(t2);
	free(h);
	free(old);
	gitops_squash_release(&sq);
	gitops_session_release(&s);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_squash_without_diff_makes_no_commit)
{
	struct gitops_repo	 r;
	struct gitops_session	 s;
	struct gitops_squash	 sq;
	char			*err = NULL, *old, *h;
	int			 n;

	new_project(&r, proj);
	old = head_of(proj, "main");
	n = commit_count(proj);
	session_with(&r, "empty", &s, NULL, 0);
	ck_assert_int_eq(gitops_squash(&r, s.branch, "msg", NULL, &sq, &err),
	    0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_EMPTY);
	ck_assert_str_eq(sq.commit, "");
	ck_assert_str_eq(sq.parent, old);
	ck_assert_uint_eq(sq.touched.n, 0);
	h = head_of(proj, "main");
	ck_assert_str_eq(h, old);
	ck_assert_int_eq(commit_count(proj), n);
	free(h);
	free(old);
	gitops_squash_release(&sq);
	gitops_session_release(&s);
	gitops_repo_release(&r);
}
END_TEST

/*
 * A sibling landed on main after the session started: the squash is
 * refused until the session is refreshed, then keeps the sibling's files.
 */
START_TEST(test_squash_after_sibling_landed)
{
	static const char *const fa[] = { "a.txt", "from a\n" };
	static const char *const fb[] = { "b.txt", "from b\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 a, b;
	struct gitops_squash	 sq;
	struct gitops_refresh	 rf;
	char			*err = NULL, *m1, *h;

	new_project(&r, proj);
	session_with(&r, "a", &a, fa, 2);
	session_with(&r, "b", &b, fb, 2);
	ck_assert_int_eq(gitops_squash(&r, b.branch, "b", NULL, &sq, &err), 0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_COMMITTED);
	gitops_squash_release(&sq);
	m1 = head_of(proj, "main");

	ck_assert_int_eq(gitops_squash(&r, a.branch, "a", NULL, &sq, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "refresh the session first"));
	h = head_of(proj, "main");
	ck_assert_str_eq(h, m1);
	free(h);
	expect_clean(proj);
	gitops_squash_release(&sq);

	open_wt(&wt, a.path);
	ck_assert_int_eq(gitops_refresh(&wt, "main", &rf, &err), 0);
	ck_assert_int_eq(rf.status, GITOPS_REFRESH_CHANGED);
	ck_assert_msg(gitops_squash(&r, rf.head, "a", NULL, &sq, &err) == 0,
	    "%s", err);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_COMMITTED);
	ck_assert_str_eq(sq.parent, m1);
	ck_assert_uint_eq(sq.touched.n, 1);
	ck_assert_str_eq(sq.touched.v[0], "a.txt");
	ck_out_eq(m1, "git -C '%s' log -1 --format=%%P main", proj);
	ck_out_eq("a.txt\nb.txt\nktx.yaml", "git -C '%s' ls-tree --name-only "
	    "main -- a.txt b.txt ktx.yaml", proj);
	ck_assert_int_eq(exists(proj, "a.txt") && exists(proj, "b.txt"), 1);
	expect_clean(proj);
	expect_index_is_head(proj);
	expect_index_is_head(a.path);
	free(m1);
	free(err);
	gitops_refresh_release(&rf);
	gitops_squash_release(&sq);
	gitops_session_release(&a);
	gitops_session_release(&b);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

/* ktx's "conflict leaves main clean": found by the refresh, before main. */
START_TEST(test_squash_conflict_leaves_main_clean)
{
	static const char *const base[] = { "shared.yaml", "v: base\n" };
	static const char *const mine[] = { "shared.yaml", "v: session\n" };
	static const char *const sib[] = { "shared.yaml", "v: main\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_squash	 sq;
	struct gitops_refresh	 rf;
	char			*err = NULL, *m, *h, *c;

	new_project(&r, proj);
	advance_main(&r, base, 2);
	session_with(&r, "sc", &s, mine, 2);
	advance_main(&r, sib, 2);
	m = head_of(proj, "main");
	ck_assert_int_eq(gitops_squash(&r, s.branch, "x", NULL, &sq, &err), -1);
	gitops_squash_release(&sq);
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_refresh(&wt, "main", &rf, &err), 0);
	ck_assert_int_eq(rf.status, GITOPS_REFRESH_CONFLICT);
	ck_assert_str_eq(rf.conflicts.v[0], "shared.yaml");
	h = head_of(proj, "main");
	ck_assert_str_eq(h, m);
	c = slurp(proj, "shared.yaml");
	ck_assert_str_eq(c, "v: main");
	expect_clean(proj);
	ck_assert_int_eq(exists(proj, ".git/MERGE_HEAD"), 0);
	free(c);
	free(h);
	free(m);
	free(err);
	gitops_refresh_release(&rf);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_squash_untracked_file_would_be_overwritten)
{
	static const char *const files[] = { "knowledge.md", "from session\n",
	    "other.md", "o\n" };
	struct gitops_repo	 r;
	struct gitops_session	 s;
	struct gitops_squash	 sq;
	char			*err = NULL, *m, *h, *c;

	new_project(&r, proj);
	session_with(&r, "ut", &s, files, 4);
	put(proj, "knowledge.md", "the user's own notes\n");
	m = head_of(proj, "main");
	ck_assert_int_eq(gitops_squash(&r, s.branch, "x", NULL, &sq, &err), 0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_CONFLICT);
	ck_assert_uint_eq(sq.conflicts.n, 1);
	ck_assert_str_eq(sq.conflicts.v[0], "knowledge.md");
	ck_assert_str_eq(sq.commit, "");
	h = head_of(proj, "main");
	ck_assert_str_eq(h, m);
	c = slurp(proj, "knowledge.md");
	ck_assert_str_eq(c, "the user's own notes");
	ck_out_eq("?? knowledge.md", "git -C '%s' status --porcelain", proj);
	ck_assert_int_eq(exists(proj, "other.md"), 0);
	ck_assert_int_eq(exists(proj, ".git/ktx-squash"), 0);
	free(c);
	free(h);
	free(m);
	gitops_squash_release(&sq);
	gitops_session_release(&s);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_squash_never_clobbers_user_edits)
{
	static const char *const base[] = { "a.yaml", "a: 0\n",
	    "edited.txt", "e0\n", "staged.txt", "s0\n" };
	static const char *const files[] = { "a.yaml", "a: 1\n" };
	struct gitops_repo	 r;
	struct gitops_session	 s;
	struct gitops_squash	 sq;
	char			*err = NULL, *m, *h, *c;

	new_project(&r, proj);
	advance_main(&r, base, 6);
	session_with(&r, "ue", &s, files, 2);
	m = head_of(proj, "main");

	/* An edit in a path the squash changes: refused, edit intact. */
	put(proj, "a.yaml", "a: user\n");
	ck_assert_int_eq(gitops_squash(&r, s.branch, "x", NULL, &sq, &err), 0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_CONFLICT);
	ck_assert_str_eq(sq.conflicts.v[0], "a.yaml");
	c = slurp(proj, "a.yaml");
	ck_assert_str_eq(c, "a: user");
	free(c);
	h = head_of(proj, "main");
	ck_assert_str_eq(h, m);
	free(h);
	gitops_squash_release(&sq);

	/* A staged change whose file was put back: still the user's. */
	ck_assert_int_eq(run("git -C '%s' add a.yaml && printf 'a: 0\\n' > "
	    "'%s/a.yaml'", proj, proj), 0);
	ck_assert_int_eq(gitops_squash(&r, s.branch, "x", NULL, &sq, &err), 0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_CONFLICT);
	ck_assert_str_eq(sq.conflicts.v[0], "a.yaml");
	gitops_squash_release(&sq);
	ck_assert_int_eq(run("git -C '%s' reset -q -- a.yaml", proj), 0);

	/* Edits elsewhere are left alone while the squash lands. */
	put(proj, "edited.txt", "e-user\n");
	put(proj, "staged.txt", "s-user\n");
	ck_assert_int_eq(run("git -C '%s' add staged.txt", proj), 0);
	put(proj, "untracked.txt", "u\n");
	ck_assert_int_eq(gitops_squash(&r, s.branch, "x", NULL, &sq, &err), 0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_COMMITTED);
	c = slurp(proj, "a.yaml");
	ck_assert_str_eq(c, "a: 1");
	free(c);
	c = slurp(proj, "edited.txt");
	ck_assert_str_eq(c, "e-user");
	free(c);
	ck_out_eq(" M edited.txt\nM  staged.txt\n?? untracked.txt",
	    "git -C '%s' status --porcelain", proj);
	free(m);
	gitops_squash_release(&sq);
	gitops_session_release(&s);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_squash_adds_and_deletes_directories)
{
	static const char *const base[] = { "old/deep/x.txt", "x\n",
	    "keep.txt", "k\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_squash	 sq;
	char			*err = NULL, hex[GITOPS_HEXSZ + 1];
	int			 created;

	new_project(&r, proj);
	advance_main(&r, base, 4);
	session_with(&r, "dirs", &s, NULL, 0);
	ck_assert_int_eq(run("rm -r '%s/old'", s.path), 0);
	put(s.path, "new/deeper/y.txt", "y\n");
	put(s.path, "keep.txt", "k2\n");
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_commit_all(&wt, "dirs", NULL, hex, &created,
	    &err), 0);
	ck_assert_int_eq(gitops_squash(&r, s.branch, "x", NULL, &sq, &err), 0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_COMMITTED);
	ck_assert_uint_eq(sq.touched.n, 3);
	ck_assert_int_eq(exists(proj, "old"), 0);
	ck_assert_int_eq(exists(proj, "new/deeper/y.txt"), 1);
	expect_clean(proj);
	expect_index_is_head(proj);
	gitops_squash_release(&sq);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

/*
 * An index format the direct path does not handle (version 4): libgit2's
 * checkout does the work, with the same outcomes.
 */
START_TEST(test_index_v4_goes_through_libgit2)
{
	static const char *const base[] = { "a.txt", "a0\n" };
	static const char *const mine[] = { "a.txt", "a1\n", "m.txt", "m\n" };
	static const char *const sib[] = { "s.txt", "s\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_refresh	 rf;
	struct gitops_squash	 sq;
	char			*err = NULL, *c;

	new_project(&r, proj);
	advance_main(&r, base, 2);
	session_with(&r, "v4", &s, mine, 4);
	advance_main(&r, sib, 2);
	ck_assert_int_eq(run("git -C '%s' update-index --index-version 4 && "
	    "git -C '%s' update-index --index-version 4", proj, s.path), 0);
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_refresh(&wt, "main", &rf, &err), 0);
	ck_assert_int_eq(rf.status, GITOPS_REFRESH_CHANGED);
	expect_clean(s.path);
	put(proj, "a.txt", "user\n");
	ck_assert_int_eq(gitops_squash(&r, rf.head, "x", NULL, &sq, &err), 0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_CONFLICT);
	ck_assert_str_eq(sq.conflicts.v[0], "a.txt");
	gitops_squash_release(&sq);
	ck_assert_int_eq(run("git -C '%s' checkout -q -- a.txt", proj), 0);
	ck_assert_int_eq(gitops_squash(&r, rf.head, "x", NULL, &sq, &err), 0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_COMMITTED);
	c = slurp(proj, "a.txt");
	ck_assert_str_eq(c, "a1");
	free(c);
	expect_clean(proj);
	expect_index_is_head(proj);
	/* Still version 4: libgit2 wrote it, not gitindex. */
	ck_out_eq("4", "od -An -tu1 -j7 -N1 '%s/.git/index' | tr -d ' '", proj);
	gitops_refresh_release(&rf);
	gitops_squash_release(&sq);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

/* Checkout filters from .gitattributes apply to what the squash writes. */
START_TEST(test_squash_applies_attribute_filters)
{
	static const char *const base[] = { ".gitattributes",
	    "*.txt text eol=crlf\n", "doc.txt", "one\n" };
	static const char *const mine[] = { "doc.txt", "one\ntwo\n",
	    "sub/new.txt", "x\n" };
	struct gitops_repo	 r;
	struct gitops_session	 s;
	struct gitops_squash	 sq;
	char			*err = NULL;

	new_project(&r, proj);
	advance_main(&r, base, 4);
	ck_assert_int_eq(run("cd '%s' && rm doc.txt && git checkout -q -- "
	    "doc.txt", proj), 0);
	ck_out_eq("one\r", "cat '%s/doc.txt'", proj);
	session_with(&r, "crlf", &s, mine, 4);
	ck_assert_int_eq(gitops_squash(&r, s.branch, "x", NULL, &sq, &err), 0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_COMMITTED);
	ck_out_eq("one\r\ntwo\r", "cat '%s/doc.txt'", proj);
	ck_out_eq("x\r", "cat '%s/sub/new.txt'", proj);
	ck_out_eq("one\ntwo", "git -C '%s' show main:doc.txt", proj);
	expect_clean(proj);
	expect_index_is_head(proj);
	gitops_squash_release(&sq);
	gitops_session_release(&s);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_squash_modes_and_symlinks)
{
	static const char *const base[] = { "run.sh", "echo\n", "was-link",
	    "file\n", "plain", "p\n" };
	struct gitops_repo	 r, wt;
	struct gitops_session	 s;
	struct gitops_squash	 sq;
	struct stat		 sb;
	char			*err = NULL, *full, hex[GITOPS_HEXSZ + 1];
	int			 created;

	new_project(&r, proj);
	advance_main(&r, base, 6);
	session_with(&r, "modes", &s, NULL, 0);
	ck_assert_int_eq(run("cd '%s' && chmod +x run.sh && rm was-link && "
	    "ln -s plain was-link && ln -s run.sh link-new", s.path), 0);
	open_wt(&wt, s.path);
	ck_assert_int_eq(gitops_commit_all(&wt, "modes", NULL, hex, &created,
	    &err), 0);
	ck_assert_int_eq(gitops_squash(&r, s.branch, "x", NULL, &sq, &err), 0);
	ck_assert_int_eq(sq.status, GITOPS_SQUASH_COMMITTED);
	ck_assert_uint_eq(sq.touched.n, 3);
	xasprintf(&full, "%s/run.sh", proj);
	ck_assert_int_eq(stat(full, &sb), 0);
	ck_assert_int_ne(sb.st_mode & 0100, 0);
	free(full);
	ck_out_eq("plain", "readlink '%s/was-link'", proj);
	ck_out_eq("run.sh", "readlink '%s/link-new'", proj);
	expect_clean(proj);
	expect_index_is_head(proj);
	gitops_squash_release(&sq);
	gitops_session_release(&s);
	gitops_repo_release(&wt);
	gitops_repo_release(&r);
}
END_TEST

/*
 * An interrupted squash, staged by hand: the commit written, the journal
 * written, some files checked out, the branch not moved.
 */
START_TEST(test_recover_rolls_back_or_forward)
{
	static const char *const base[] = { "a.txt", "a0\n", "b.txt", "b0\n" };
	static const char *const files[] = { "a.txt", "a1\n", "b.txt", "b1\n",
	    "c/new.txt", "n\n" };
	struct gitops_repo	 r;
	struct gitops_session	 s;
	char			*err = NULL, *old, *new, *c, *h;
	int			 recovered;

	new_project(&r, proj);
	advance_main(&r, base, 4);
	session_with(&r, "rc", &s, files, 6);
	old = head_of(proj, "main");
	new = out("git -C '%s' commit-tree -p main -m squash %s^{tree}", proj,
	    s.branch);
	ck_assert_int_eq(run("printf 'ktx-squash 1\\nref refs/heads/main\\n"
	    "old %s\\nnew %s\\n' > '%s/.git/ktx-squash'", old, new, proj), 0);
	put(proj, "a.txt", "a1\n");
	put(proj, "c/new.txt", "n");	/* half written */
	ck_assert_int_eq(run("git -C '%s' add a.txt", proj), 0);

	ck_assert_int_eq(gitops_recover_squash(&r, &recovered, &err), 0);
	ck_assert_int_eq(recovered, 1);
	h = head_of(proj, "main");
	ck_assert_str_eq(h, old);
	free(h);
	c = slurp(proj, "a.txt");
	ck_assert_str_eq(c, "a0");
	free(c);
	ck_assert_int_eq(exists(proj, "c"), 0);
	expect_clean(proj);
	ck_assert_int_eq(exists(proj, ".git/ktx-squash"), 0);
	ck_assert_int_eq(gitops_recover_squash(&r, &recovered, &err), 0);
	ck_assert_int_eq(recovered, 0);

	/* The branch moved before the kill: only the journal goes. */
	ck_assert_int_eq(run("git -C '%s' merge -q --ff-only %s && printf "
	    "'ktx-squash 1\\nref refs/heads/main\\nold %s\\nnew %s\\n' > "
	    "'%s/.git/ktx-squash'", proj, new, old, new, proj), 0);
	ck_assert_int_eq(gitops_recover_squash(&r, &recovered, &err), 0);
	ck_assert_int_eq(recovered, 1);
	h = head_of(proj, "main");
	ck_assert_str_eq(h, new);
	free(h);
	c = slurp(proj, "b.txt");
	ck_assert_str_eq(c, "b1");
	free(c);
	expect_clean(proj);
	ck_assert_int_eq(exists(proj, ".git/ktx-squash"), 0);

	/* A squash runs the recovery first. */
	put(proj, ".git/ktx-squash", "garbage\n");
	{
		struct gitops_squash sq;

		ck_assert_int_eq(gitops_squash(&r, "main", "x", NULL, &sq,
		    &err), -1);
		ck_assert_ptr_nonnull(strstr(err, "not a squash journal"));
		gitops_squash_release(&sq);
	}
	free(err);
	free(old);
	free(new);
	gitops_session_release(&s);
	gitops_repo_release(&r);
}
END_TEST

/*
 * The squash killed at random points, ~50 times: main is always old or
 * new, fsck is clean, and after the dead process's git lock files are
 * cleared (the supervisor's job) the recovery leaves a clean project.
 */

static int
child_squash(const char *dir, int recover_only)
{
	struct gitops_repo	r;
	struct gitops_squash	sq;
	int			rc;

	memset(&sq, 0, sizeof(sq));
	if (gitops_init(NULL) < 0)
		return 1;
	if (gitops_open_project(&r, dir, &ktx_ident, 0, NULL, NULL) < 0)
		rc = 1;
	else if (recover_only)
		rc = gitops_recover_squash(&r, NULL, NULL) < 0;
	else
		rc = gitops_squash(&r, "session/k", "squash", &local_ident, &sq,
		    NULL) < 0 || sq.status != GITOPS_SQUASH_COMMITTED;
	gitops_squash_release(&sq);
	gitops_repo_release(&r);
	gitops_shutdown();
	return rc;
}

static int
spawn(const char *dir, int recover_only, long kill_after_us)
{
	pid_t	pid;
	int	st;

	if ((pid = fork()) == 0)
		_exit(child_squash(dir, recover_only));
	ck_assert_int_gt(pid, 0);
	if (kill_after_us >= 0) {
		usleep((useconds_t)kill_after_us);
		kill(pid, SIGKILL);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		return -1;
	return WEXITSTATUS(st);
}

/*
 * 1: main is old; 2: main is a squash of session/k onto old (the commit id
 * itself carries the time); 0: anything else.
 */
static int
main_is_old_or_new(const char *old, int *n_old, int *n_new)
{
	char	*h, *parent, *tree, *want;
	int	 rc = 0;

	h = head_of(proj, "main");
	parent = out("git -C '%s' log -1 --format=%%P main", proj);
	tree = out("git -C '%s' rev-parse main^{tree}", proj);
	want = out("git -C '%s' rev-parse session/k^{tree}", proj);
	if (strcmp(h, old) == 0)
		rc = 1;
	else if (strcmp(parent, old) == 0 && strcmp(tree, want) == 0)
		rc = 2;
	if (rc == 1 && n_old != NULL)
		(*n_old)++;
	if (rc == 2 && n_new != NULL)
		(*n_new)++;
	free(h);
	free(parent);
	free(tree);
	free(want);
	return rc;
}

START_TEST(test_squash_killed_at_random_points)
{
	char	*old, *e;
	long	 span_us;
	int64_t	 t0;
	int	 i, iterations = 50, n_old = 0, n_new = 0, killed = 0;
	int	 n_journal = 0;

	if ((e = getenv("KTX_KILL_ITERATIONS")) != NULL)
		iterations = atoi(e);
	ck_assert_int_eq(run("mkdir -p '%s' && cd '%s' && git init -q && "
	    "echo 'connections: {}' > ktx.yaml && printf 'worktrees/\\n' > "
	    ".gitignore && mkdir -p d && for i in $(seq 1 40); do mkdir -p d/$i;"
	    " for j in $(seq 1 50); do echo $i $j > d/$i/f$j; done; done && "
	    "git add -A && git commit -q -m base && git checkout -q -b "
	    "session/k && for i in $(seq 1 40); do for j in $(seq 1 12); do "
	    "echo changed $i $j > d/$i/f$j; done; echo n > d/$i/new; "
	    "rm d/$i/f50; done && git add -A && git commit -q -m work && "
	    "git checkout -q main", proj, proj), 0);
	old = head_of(proj, "main");
	ck_assert_int_eq(run("cd '%s' && git diff --quiet main session/k", proj),
	    1);

	/*
	 * How long an undisturbed squash takes; the kills spread over half
	 * as long again, so some land after it finished.
	 */
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(run("cd '%s' && git update-ref refs/heads/main "
		    "%s && git reset -q --hard && git clean -fdq", proj, old),
		    0);
		t0 = now_monotonic_ms();
		ck_assert_int_eq(spawn(proj, 0, -1), 0);
		span_us = (long)(now_monotonic_ms() - t0) * 1500 + 1000;
		ck_assert_int_eq(main_is_old_or_new(old, NULL, NULL), 2);
	}

	/*
	 * Random kills: past the iterations asked for, up to four times as
	 * many until a kill has landed inside the journaled window too (13
	 * kills in 50 runs under valgrind once all missed it).
	 */
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (i = 0; i < iterations || (iterations >= 20 &&
	    i < 4 * iterations && (n_old == 0 || n_new == 0 || killed == 0 ||
	    n_journal == 0)); i++) {
		ck_assert_int_eq(run("cd '%s' && git update-ref refs/heads/main "
		    "%s && git reset -q --hard && git clean -fdq", proj, old),
		    0);
		/*
		 * Keep the spread at half again as long as a squash takes
		 * here, whatever the machine is doing: a run that got killed
		 * widens it, one that finished sets it.
		 */
		t0 = now_monotonic_ms();
		if (spawn(proj, 0, rand() % span_us) == -1) {
			killed++;
			span_us += span_us / 10;
		} else
			span_us = (long)(now_monotonic_ms() - t0) * 1500 + 1000;
		if (main_is_old_or_new(old, &n_old, &n_new) == 0)
			ck_abort_msg("main is neither old nor new after a kill");
		ck_assert_int_eq(run("git -C '%s' fsck --no-progress "
		    "--no-dangling 2>&1", proj), 0);
		if (exists(proj, ".git/ktx-squash"))
			n_journal++;
		/* What the supervisor does for a dead lock holder. */
		ck_assert_int_eq(run("find '%s/.git' -name '*.lock' -delete",
		    proj), 0);
		ck_assert_int_eq(spawn(proj, 1, -1), 0);
		expect_clean(proj);
		ck_assert_int_eq(exists(proj, ".git/ktx-squash"), 0);
		if (main_is_old_or_new(old, NULL, NULL) == 0)
			ck_abort_msg("main is neither old nor new after recovery");
	}
	fprintf(stderr, "kill test: %d runs killed (last spread %ld us): main "
	    "old %d times, new %d times, %d recoveries from the journal\n",
	    killed, span_us, n_old, n_new, n_journal);
	/* The kills landed before, inside and after the squash. */
	if (iterations >= 20) {
		ck_assert_int_gt(n_old, 0);
		ck_assert_int_gt(n_new, 0);
		ck_assert_int_gt(killed, 0);
		ck_assert_int_gt(n_journal, 0);
	}
	free(old);
}
END_TEST

/* The raw-sources diff summary and the message. */

START_TEST(test_snapshot_diff_counts)
{
	struct gitops_repo	 r;
	struct gitops_diffstat	 ds;
	const char		*dir = "raw-sources/wh/live-database";
	char			*err = NULL, *msg;

	new_project(&r, proj);
	put(proj, "raw-sources/wh/live-database/2024-01-01-000000-a/x.json",
	    "x\n");
	put(proj, "raw-sources/wh/live-database/2024-01-01-000000-a/y.json",
	    "y\n");
	put(proj, "raw-sources/wh/live-database/2024-01-01-000000-a/t/z.json",
	    "z\n");
	cli_commit(proj, "first");
	ck_assert_int_eq(gitops_snapshot_diff(&r, "HEAD", dir,
	    "2024-01-01-000000-a", &ds, &err), 0);
	ck_assert_uint_eq(ds.added, 3);
	ck_assert_uint_eq(ds.modified + ds.deleted + ds.unchanged, 0);

	ck_assert_int_eq(run("cd '%s/%s' && cp -r 2024-01-01-000000-a "
	    "2024-01-02-000000-b && cp -r 2024-01-01-000000-a "
	    "2024-01-01-000000-0 && cp -r 2024-01-01-000000-a 2024-01-03-z && "
	    "echo Y > 2024-01-02-000000-b/y.json && rm "
	    "2024-01-02-000000-b/t/z.json && echo w > "
	    "2024-01-02-000000-b/t/w.json && echo changed > "
	    "2024-01-01-000000-0/x.json", proj, dir), 0);
	cli_commit(proj, "second");
	/* Against 2024-01-01-000000-a, the greatest earlier one. */
	ck_assert_int_eq(gitops_snapshot_diff(&r, "HEAD", dir,
	    "2024-01-02-000000-b", &ds, &err), 0);
	ck_assert_uint_eq(ds.added, 1);
	ck_assert_uint_eq(ds.modified, 1);
	ck_assert_uint_eq(ds.deleted, 1);
	ck_assert_uint_eq(ds.unchanged, 1);
	msg = gitops_squash_message("live-database", "local-abc",
	    "2024-01-02-000000-b", &ds);
	ck_assert_str_eq(msg, "ingest(live-database): local-abc "
	    "syncId=2024-01-02-000000-b diff=+1/~1/-1/=1");
	free(msg);
	ck_assert_int_eq(gitops_snapshot_diff(&r, "HEAD", dir, "nope", &ds,
	    &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "no snapshot"));
	ck_assert_int_eq(gitops_snapshot_diff(&r, "HEAD", "raw-sources/none",
	    "x", &ds, &err), -1);
	free(err);
	gitops_repo_release(&r);
}
END_TEST

START_TEST(test_diff_lists_changes)
{
	struct gitops_repo	 r;
	struct gitops_changes	 c;
	char			*err = NULL, *first;

	new_project(&r, proj);
	put(proj, "wiki/global/a.md", "a\n");
	put(proj, "wiki/global/b.md", "b\n");
	put(proj, "raw-sources/x", "file\n");
	cli_commit(proj, "first");
	first = head_of(proj, "HEAD");
	put(proj, "wiki/global/a.md", "A\n");
	ck_assert_int_eq(run("cd '%s' && rm wiki/global/b.md raw-sources/x && "
	    "mkdir -p raw-sources/x wiki-2 && echo y > raw-sources/x/y && "
	    "echo n > wiki-2/n.md", proj), 0);
	cli_commit(proj, "second");
	ck_assert_int_eq(gitops_diff(&r, first, "HEAD", &c, &err), 0);
	ck_assert_uint_eq(c.n, 5);
	ck_assert_str_eq(c.v[0].path, "raw-sources/x");
	ck_assert_int_eq(c.v[0].kind, GITOPS_DELETED);
	ck_assert_str_eq(c.v[1].path, "raw-sources/x/y");
	ck_assert_int_eq(c.v[1].kind, GITOPS_ADDED);
	ck_assert_str_eq(c.v[2].path, "wiki-2/n.md");
	ck_assert_int_eq(c.v[2].kind, GITOPS_ADDED);
	ck_assert_str_eq(c.v[3].path, "wiki/global/a.md");
	ck_assert_int_eq(c.v[3].kind, GITOPS_MODIFIED);
	ck_assert_str_eq(c.v[4].path, "wiki/global/b.md");
	ck_assert_int_eq(c.v[4].kind, GITOPS_DELETED);
	gitops_changes_release(&c);
	ck_assert_int_eq(gitops_diff(&r, "HEAD", "HEAD", &c, &err), 0);
	ck_assert_uint_eq(c.n, 0);
	ck_assert_int_eq(gitops_diff(&r, "HEAD", "nope", &c, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown revision \"nope\""));
	ck_assert_ptr_null(c.v);
	free(err);
	free(first);
	gitops_repo_release(&r);
}
END_TEST

/*
 * init, run in-process.  This suite links cmd_init.c without main.c: here
 * are main.c's error helpers, printing as it does.
 */

void
cmd_errorx(const char *fmt, ...)
{
	va_list	ap;

	fputs("ktx-supervisor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cmd_usage_error(const char *usage)
{
	fputs(usage, stderr);
	return EXIT_USAGE;
}

int
cmd_bad_option(const char *usage, const char *optstring, char **argv, int ch)
{
	(void)optstring;
	(void)ch;
	cmd_errorx("unknown option \"%s\"", argv[optind - 1]);
	return cmd_usage_error(usage);
}

static int
run_init(const char *dir, const char *arg)
{
	struct cmd_context	 ctx = { 0 };
	char			*argv[3] = { (char *)"init", (char *)arg, NULL };
	int			 rc, saved, null;

	ctx.project_dir = (char *)dir;
	fflush(stdout);
	fflush(stderr);
	saved = dup(1);
	null = open("/dev/null", O_WRONLY);
	dup2(null, 1);
	rc = cmd_init(&ctx, arg != NULL ? 2 : 1, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(null);
	return rc;
}

START_TEST(test_init_creates_project)
{
	struct ktx_config	 cfg;
	char			*base, *sum1, *sum2, *path, *err = NULL;

	ck_assert_int_eq(run_init(proj, NULL), 0);
	ck_out_eq("refs/heads/main", "git -C '%s' symbolic-ref HEAD", proj);
	ck_out_eq("Initialize ktx project: proj\n" GITOPS_BOOTSTRAP_MESSAGE,
	    "git -C '%s' log --format=%%s", proj);
	ck_out_eq(".ktx/.gitignore\nktx.yaml\nraw-sources/.gitkeep\n"
	    "semantic-layer/.gitkeep\nwiki/global/.gitkeep",
	    "git -C '%s' ls-files", proj);
	base = slurp(proj, ".ktx/.gitignore");
	ck_assert_str_eq(base, "cache/\ndb.sqlite\ndb.sqlite-*\n"
	    "ingest-transcripts/\nsecrets/\nsetup/\nagents/\nworktrees/\nrun/\n"
	    "runs/\ningest-traces/");
	free(base);
	ck_assert_int_eq(run("grep -q '^connections: {}$' '%s/ktx.yaml' && "
	    "grep -q '^    maxConcurrency: 1$' '%s/ktx.yaml'", proj, proj), 0);
	expect_clean(proj);
	ck_assert_int_eq(gitops_classify(proj), GITOPS_KTX_MANAGED);
	/* The template is what the config loader reads without a word. */
	xasprintf(&path, "%s/ktx.yaml", proj);
	ck_assert_msg(config_load(path, &cfg, &err) == 0, "%s", err);
	ck_assert_uint_eq(cfg.nconnections, 0);
	ck_assert_int_eq(cfg.max_concurrency, 1);
	ck_assert_uint_eq(cfg.warnings.n, 0);
	config_release(&cfg);
	free(path);

	/* Second run: nothing changes. */
	sum1 = tree_sum(proj);
	ck_assert_int_eq(run_init(proj, NULL), 0);
	sum2 = tree_sum(proj);
	ck_assert_str_eq(sum1, sum2);
	ck_assert_int_eq(commit_count(proj), 2);
	free(sum1);
	free(sum2);
}
END_TEST

/* A ktx.yaml that was there first names who the commits are by. */
START_TEST(test_init_commits_as_storage_git_author)
{
	put(proj, "ktx.yaml", "connections: {}\nstorage:\n  git:\n    author: "
	    "Alice Doe <alice@example.com>\n");
	ck_assert_int_eq(run_init(proj, NULL), 0);
	ck_out_eq("Alice Doe <alice@example.com> Alice Doe "
	    "<alice@example.com>\nAlice Doe <alice@example.com> Alice Doe "
	    "<alice@example.com>", "git -C '%s' log --format='%%an <%%ae> %%cn "
	    "<%%ce>'", proj);
	ck_out_eq("ktx.yaml", "git -C '%s' ls-files ktx.yaml", proj);
	ck_assert_int_ne(run("grep -q alice '%s/.git/config'", proj), 0);
}
END_TEST

START_TEST(test_init_completes_missing_pieces)
{
	ck_assert_int_eq(run_init(proj, NULL), 0);
	ck_assert_int_eq(run("cd '%s' && git rm -q wiki/global/.gitkeep && "
	    "printf 'mine/\\ncache/\\n' > .ktx/.gitignore && git commit -q -am "
	    "'user edits' && echo 'user: edit' >> ktx.yaml", proj), 0);
	ck_assert_int_eq(run_init(proj, NULL), 0);
	ck_assert_int_eq(commit_count(proj), 4);
	ck_out_eq(".ktx/.gitignore\nwiki/global/.gitkeep", "git -C '%s' show "
	    "--format= --name-only HEAD", proj);
	ck_out_eq("mine/\ncache/\ndb.sqlite\ndb.sqlite-*\ningest-transcripts/\n"
	    "secrets/\nsetup/\nagents/\nworktrees/\nrun/\nruns/\n"
	    "ingest-traces/", "cat '%s/.ktx/.gitignore'", proj);
	/* The user's own uncommitted edit is neither committed nor lost. */
	ck_out_eq(" M ktx.yaml", "git -C '%s' status --porcelain", proj);
}
END_TEST

START_TEST(test_init_refuses_foreign_and_linked)
{
	char	*wt, *sum1, *sum2;

	put(proj, "README", "not ktx\n");
	cli_commit(proj, "theirs");
	sum1 = tree_sum(proj);
	ck_assert_int_eq(run_init(proj, NULL), EXIT_USAGE);
	sum2 = tree_sum(proj);
	ck_assert_str_eq(sum1, sum2);
	free(sum1);
	free(sum2);

	xasprintf(&wt, "%s/linked", tmp);
	ck_assert_int_eq(run("git -C '%s' worktree add -q -b l '%s'", proj, wt),
	    0);
	put(wt, "ktx.yaml", "connections: {}\n");
	sum1 = tree_sum(wt);
	ck_assert_int_eq(run_init(wt, NULL), EXIT_USAGE);
	sum2 = tree_sum(wt);
	ck_assert_str_eq(sum1, sum2);
	free(sum1);
	free(sum2);
	free(wt);

	ck_assert_int_eq(run_init(proj, "extra"), EXIT_USAGE);
	ck_assert_int_eq(run_init(proj, "--bogus"), EXIT_USAGE);
}
END_TEST

static Suite *
gitops_suite(void)
{
	Suite	*s = suite_create("gitops");
	TCase	*tc;

	tc = tcase_create("open");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_classify_table);
	tcase_add_test(tc, test_bootstrap_commit_on_create);
	tcase_add_test(tc, test_reopen_makes_no_second_bootstrap);
	tcase_add_test(tc, test_bootstrap_in_preexisting_empty_repo);
	tcase_add_test(tc, test_identity_not_in_repo_config);
	tcase_add_test(tc, test_maintenance_stays_attached);
	tcase_add_test(tc, test_refuses_foreign_repo_untouched);
	tcase_add_test(tc, test_refuses_linked_worktree_with_ktx_yaml);
	tcase_add_test(tc, test_nested_project_keeps_parent_untouched);
	tcase_add_test(tc, test_adopts_older_project_with_untracked_yaml);
	tcase_add_test(tc, test_unowned_without_create_is_refused);
	tcase_add_test(tc, test_environment_does_not_redirect);
	suite_add_tcase(s, tc);

	tc = tcase_create("worktrees");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_session_add_remove_and_branch);
	tcase_add_test(tc, test_session_collision_gets_suffix);
	tcase_add_test(tc, test_session_rejects_unsafe_job_ids);
	tcase_add_test(tc, test_leftovers_and_remove_guard);
	tcase_add_test(tc, test_commit_all_new_modified_deleted);
	tcase_add_test(tc, test_commit_paths_commits_only_those);
	tcase_add_test(tc, test_commit_paths_index_follows);
	tcase_add_test(tc, test_commit_paths_pack);
	suite_add_tcase(s, tc);

	tc = tcase_create("refresh");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_refresh_noop);
	tcase_add_test(tc, test_refresh_fast_forward);
	tcase_add_test(tc, test_refresh_merge_commit);
	tcase_add_test(tc, test_refresh_content_merge);
	tcase_add_test(tc, test_refresh_conflict_leaves_session_as_it_was);
	tcase_add_test(tc, test_refresh_conflict_untracked_in_the_way);
	tcase_add_test(tc, test_check_clean_markers);
	tcase_add_test(tc, test_check_clean_unmerged_paths);
	suite_add_tcase(s, tc);

	tc = tcase_create("squash");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_squash_one_commit);
	tcase_add_test(tc, test_squash_without_diff_makes_no_commit);
	tcase_add_test(tc, test_squash_after_sibling_landed);
	tcase_add_test(tc, test_squash_conflict_leaves_main_clean);
	tcase_add_test(tc, test_squash_untracked_file_would_be_overwritten);
	tcase_add_test(tc, test_squash_never_clobbers_user_edits);
	tcase_add_test(tc, test_squash_adds_and_deletes_directories);
	tcase_add_test(tc, test_index_v4_goes_through_libgit2);
	tcase_add_test(tc, test_squash_applies_attribute_filters);
	tcase_add_test(tc, test_squash_modes_and_symlinks);
	tcase_add_test(tc, test_recover_rolls_back_or_forward);
	tcase_add_test(tc, test_snapshot_diff_counts);
	tcase_add_test(tc, test_diff_lists_changes);
	suite_add_tcase(s, tc);

	/* No libgit2 in this process: the children initialise it. */
	tc = tcase_create("kill");
	tcase_add_checked_fixture(tc, setup_plain, teardown_plain);
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_squash_killed_at_random_points);
	suite_add_tcase(s, tc);

	tc = tcase_create("init");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_init_creates_project);
	tcase_add_test(tc, test_init_commits_as_storage_git_author);
	tcase_add_test(tc, test_init_completes_missing_pieces);
	tcase_add_test(tc, test_init_refuses_foreign_and_linked);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	char	*home;
	int	 failed;

	home = hermetic_env();
	sr = srunner_create(gitops_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (home != NULL) {
		rm_rf(home);
		free(home);
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
