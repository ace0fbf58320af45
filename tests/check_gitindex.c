/*
 * The index file patcher against indexes git itself wrote; git reads back
 * what gitindex wrote (ls-files, write-tree through the cache tree, fsck).
 */
#include "config.h"

#include <sys/stat.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "githelp.h"
#include "gitindex.h"
#include "util.h"

static char	*tmp;
static char	*repo;
static char	*ipath;

static void
setup(void)
{
	char	tmpl[] = "/tmp/check-gitindex.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	tmp = xstrdup(tmpl);
	xasprintf(&repo, "%s/r", tmp);
	xasprintf(&ipath, "%s/.git/index", repo);
	ck_assert_int_eq(run("git init -q '%s'", repo), 0);
}

static void
teardown(void)
{
	if (getenv("KTX_KEEP_TMP") == NULL)
		rm_rf(tmp);
	free(tmp);
	free(repo);
	free(ipath);
}

/* A repository with files in nested directories, committed. */
static void
populate(void)
{
	put(repo, "a.txt", "a\n");
	put(repo, "dir/b.txt", "b\n");
	put(repo, "dir/sub/c.txt", "c\n");
	put(repo, "dir-x/d.txt", "d\n");
	put(repo, "z/e.txt", "e\n");
	ck_assert_int_eq(run("cd '%s' && git add -A && git commit -q -m base",
	    repo), 0);
}

static void
hex_to_oid(const char *hex, unsigned char *oid)
{
	int	i;

	for (i = 0; i < GITINDEX_OIDSZ; i++)
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2hhx", &oid[i]), 1);
}

/* An update setting path to content (blob written by git). */
static void
set_update(struct gitindex_update *u, const char *path, const char *content)
{
	char	*full, *hex;

	memset(u, 0, sizeof(*u));
	u->path = path;
	u->mode = 0100644;
	put(repo, path, content);
	xasprintf(&full, "%s/%s", repo, path);
	hex = out("git -C '%s' hash-object -w '%s'", repo, path);
	hex_to_oid(hex, u->oid);
	ck_assert_int_eq(lstat(full, &u->st), 0);
	free(hex);
	free(full);
}

/* git agrees the index holds what HEAD holds, through its cache tree. */
static void
expect_index_is_head(void)
{
	char	*wt, *head;

	ck_assert_int_eq(run("git -C '%s' diff --cached --quiet", repo), 0);
	wt = out("git -C '%s' write-tree", repo);
	head = out("git -C '%s' rev-parse 'HEAD^{tree}'", repo);
	ck_assert_str_eq(wt, head);
	free(wt);
	free(head);
	ck_assert_int_eq(run("git -C '%s' fsck --no-progress 2>&1", repo), 0);
}

START_TEST(test_load_and_get)
{
	struct gitindex		 ix;
	struct gitindex_entry	 e;
	unsigned char		 oid[GITINDEX_OIDSZ];
	char			*hex;

	populate();
	ck_assert_int_eq(gitindex_load(&ix, ipath, NULL), 0);
	ck_assert_uint_eq(ix.n, 5);
	ck_assert_int_eq(ix.unmerged, 0);
	ck_assert_int_eq(gitindex_get(&ix, "dir/sub/c.txt", &e), 1);
	hex = out("git -C '%s' rev-parse HEAD:dir/sub/c.txt", repo);
	hex_to_oid(hex, oid);
	ck_assert_mem_eq(e.oid, oid, GITINDEX_OIDSZ);
	ck_assert_uint_eq(e.mode, 0100644);
	ck_assert_uint_eq(e.size, 2);
	ck_assert_int_eq(e.special, 0);
	ck_assert_int_eq(gitindex_get(&ix, "dir", &e), 0);
	ck_assert_int_eq(gitindex_get(&ix, "dir/sub", &e), 0);
	ck_assert_int_eq(gitindex_get(&ix, "a.txt", &e), 1);
	ck_assert_int_eq(gitindex_get(&ix, "z/e.txt", &e), 1);
	ck_assert_int_eq(gitindex_get(&ix, "zz", &e), 0);
	ck_assert_int_eq(gitindex_get(&ix, "", &e), 0);
	free(hex);
	gitindex_release(&ix);
}
END_TEST

START_TEST(test_rewrite_without_updates_is_sound)
{
	struct gitindex	 ix;
	char		*before, *after;

	populate();
	/* Let the entries age past the index's second: nothing is racy. */
	ck_assert_int_eq(run("cd '%s' && touch -d '-10 seconds' a.txt dir/b.txt"
	    " dir/sub/c.txt dir-x/d.txt z/e.txt && git update-index --refresh "
	    ">/dev/null && sleep 1 && git update-index --refresh", repo), 0);
	before = out("git -C '%s' ls-files -s --debug", repo);
	ck_assert_int_eq(gitindex_load(&ix, ipath, NULL), 0);
	ck_assert_int_eq(gitindex_write(&ix, NULL, 0, NULL), 0);
	gitindex_release(&ix);
	after = out("git -C '%s' ls-files -s --debug", repo);
	ck_assert_str_eq(before, after);
	expect_index_is_head();
	expect_clean(repo);
	free(before);
	free(after);
}
END_TEST

/*
 * Modify, add and remove entries: git sees the new content staged, and
 * write-tree (which trusts the valid parts of the cache tree) yields the
 * tree git itself computes for the same change.
 */
START_TEST(test_updates_and_cache_tree)
{
	struct gitindex		 ix;
	struct gitindex_update	 u[3];
	char			*want, *got;

	populate();
	/* A full cache tree to invalidate. */
	ck_assert_int_eq(run("git -C '%s' write-tree >/dev/null", repo), 0);
	set_update(&u[0], "dir/sub/c.txt", "c2\n");
	set_update(&u[1], "dir/sub/new.txt", "new\n");
	memset(&u[2], 0, sizeof(u[2]));
	u[2].path = "z/e.txt";
	u[2].remove = 1;
	ck_assert_int_eq(run("rm '%s/z/e.txt'", repo), 0);
	ck_assert_int_eq(gitindex_load(&ix, ipath, NULL), 0);
	ck_assert_int_eq(gitindex_write(&ix, u, 3, NULL), 0);
	gitindex_release(&ix);

	ck_out_eq("M  dir/sub/c.txt\nA  dir/sub/new.txt\nD  z/e.txt",
	    "git -C '%s' status --porcelain", repo);
	got = out("git -C '%s' write-tree", repo);
	want = out("cd '%s' && cp .git/index /tmp/ix.$$ && GIT_INDEX_FILE="
	    "/tmp/ix.$$ git read-tree HEAD && GIT_INDEX_FILE=/tmp/ix.$$ git add "
	    "-A && GIT_INDEX_FILE=/tmp/ix.$$ git write-tree; rm -f /tmp/ix.$$",
	    repo);
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(run("cd '%s' && git commit -q -m next && git fsck "
	    "--no-progress", repo), 0);
	expect_clean(repo);
	free(got);
	free(want);
}
END_TEST

START_TEST(test_racy_entries_are_smudged)
{
	struct gitindex		 ix;
	struct gitindex_entry	 e;
	struct gitindex_update	 u;
	char			*dbg;

	populate();
	/* a.txt is newer than the index: racy. */
	ck_assert_int_eq(run("touch -d '+1 hour' '%s/a.txt'", repo), 0);
	ck_assert_int_eq(run("git -C '%s' update-index --refresh >/dev/null",
	    repo), 0);
	ck_assert_int_eq(gitindex_load(&ix, ipath, NULL), 0);
	ck_assert_int_eq(gitindex_get(&ix, "a.txt", &e), 1);
	ck_assert_int_eq(gitindex_racy(&ix, &e), 1);
	set_update(&u, "dir/b.txt", "b2\n");
	ck_assert_int_eq(gitindex_write(&ix, &u, 1, NULL), 0);
	gitindex_release(&ix);
	dbg = out("git -C '%s' ls-files --debug a.txt | grep size:", repo);
	ck_assert_ptr_nonnull(strstr(dbg, "size: 0"));
	free(dbg);
	/* git still finds a.txt unchanged, by content. */
	ck_out_eq("M  dir/b.txt", "git -C '%s' status --porcelain", repo);
	/* ... and an edit of the same size is still seen. */
	ck_assert_int_eq(run("printf 'A\\n' > '%s/a.txt' && touch -d '+1 hour' "
	    "'%s/a.txt'", repo, repo), 0);
	ck_out_eq(" M a.txt\nM  dir/b.txt", "git -C '%s' status --porcelain",
	    repo);
}
END_TEST

START_TEST(test_unsupported_formats)
{
	struct gitindex	 ix;
	char		*err = NULL, *missing;

	populate();
	xasprintf(&missing, "%s/nope/index", tmp);
	ck_assert_int_eq(gitindex_load(&ix, missing, &err), GITINDEX_UNSUPPORTED);
	gitindex_release(&ix);
	free(missing);
	ck_assert_int_eq(run("git -C '%s' update-index --index-version 4",
	    repo), 0);
	ck_assert_int_eq(gitindex_load(&ix, ipath, &err), GITINDEX_UNSUPPORTED);
	gitindex_release(&ix);
	ck_assert_int_eq(run("git -C '%s' update-index --index-version 2 && "
	    "git -C '%s' update-index --split-index", repo, repo), 0);
	ck_assert_int_eq(gitindex_load(&ix, ipath, &err), GITINDEX_UNSUPPORTED);
	gitindex_release(&ix);
	ck_assert_int_eq(run("git -C '%s' update-index --no-split-index",
	    repo), 0);
	ck_assert_int_eq(gitindex_load(&ix, ipath, &err), 0);
	gitindex_release(&ix);
	put(tmp, "junk", "not an index at all, not at all\n");
	free(ipath);
	xasprintf(&ipath, "%s/junk", tmp);
	ck_assert_int_eq(gitindex_load(&ix, ipath, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "corrupt index"));
	gitindex_release(&ix);
	free(err);
}
END_TEST

START_TEST(test_unmerged_and_special_entries)
{
	struct gitindex		 ix;
	struct gitindex_entry	 e;
	struct strv		 um = { 0 };

	populate();
	ck_assert_int_eq(run("cd '%s' && git checkout -q -b other && echo x > "
	    "a.txt && git commit -q -am x && git checkout -q - && echo y > "
	    "a.txt && git commit -q -am y && ! git merge -q other >/dev/null "
	    "2>&1", repo), 0);
	ck_assert_int_eq(gitindex_load(&ix, ipath, NULL), 0);
	ck_assert_int_eq(ix.unmerged, 1);
	ck_assert_int_eq(gitindex_get(&ix, "a.txt", &e), 0);
	gitindex_unmerged(&ix, &um);
	ck_assert_uint_eq(um.n, 1);
	ck_assert_str_eq(um.v[0], "a.txt");
	strv_release(&um);
	gitindex_release(&ix);

	/* Intent-to-add lives in the extended flags of a version 3 index. */
	ck_assert_int_eq(run("cd '%s' && git merge --abort && echo n > n.txt "
	    "&& git add -N n.txt", repo), 0);
	ck_assert_int_eq(gitindex_load(&ix, ipath, NULL), 0);
	ck_assert_uint_eq(ix.version, 3);
	ck_assert_int_eq(gitindex_get(&ix, "n.txt", &e), 1);
	ck_assert_int_eq(e.special, 1);
	ck_assert_int_eq(gitindex_get(&ix, "dir/b.txt", &e), 1);
	ck_assert_int_eq(e.special, 0);
	ck_assert_int_eq(gitindex_write(&ix, NULL, 0, NULL), 0);
	gitindex_release(&ix);
	ck_out_eq(" A n.txt", "git -C '%s' status --porcelain", repo);
}
END_TEST

/* A name of 0xfff bytes or more is found by its NUL, not its length. */
START_TEST(test_long_names)
{
	struct gitindex		 ix;
	struct gitindex_entry	 e;
	struct gitindex_update	 u;
	char			*longname, *hex;

	populate();
	longname = xmalloc(5001);
	memset(longname, 'x', 5000);
	longname[5000] = '\0';
	memcpy(longname, "deep/", 5);
	hex = out("git -C '%s' rev-parse HEAD:a.txt", repo);
	ck_assert_int_eq(run("git -C '%s' update-index --add --cacheinfo "
	    "100644,%s,%s", repo, hex, longname), 0);
	ck_assert_int_eq(gitindex_load(&ix, ipath, NULL), 0);
	ck_assert_int_eq(gitindex_get(&ix, longname, &e), 1);
	ck_assert_int_eq(gitindex_get(&ix, "z/e.txt", &e), 1);
	set_update(&u, "dir/b.txt", "b3\n");
	ck_assert_int_eq(gitindex_write(&ix, &u, 1, NULL), 0);
	gitindex_release(&ix);
	ck_assert_int_eq(gitindex_load(&ix, ipath, NULL), 0);
	ck_assert_int_eq(gitindex_get(&ix, longname, &e), 1);
	gitindex_release(&ix);
	ck_assert_int_eq(run("git -C '%s' ls-files -s | grep -q '%s'", repo,
	    longname), 0);
	free(hex);
	free(longname);
}
END_TEST

START_TEST(test_lock_is_respected)
{
	struct gitindex	 ix;
	char		*err = NULL, *before, *after;

	populate();
	before = tree_sum(repo);
	put(repo, ".git/index.lock", "");
	ck_assert_int_eq(gitindex_load(&ix, ipath, NULL), 0);
	ck_assert_int_eq(gitindex_write(&ix, NULL, 0, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "index.lock exists"));
	gitindex_release(&ix);
	ck_assert_int_eq(run("rm '%s/.git/index.lock'", repo), 0);
	after = tree_sum(repo);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	free(err);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("gitindex");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	char	*home;
	int	 failed;

	home = hermetic_env();
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_load_and_get);
	tcase_add_test(tc, test_rewrite_without_updates_is_sound);
	tcase_add_test(tc, test_updates_and_cache_tree);
	tcase_add_test(tc, test_racy_entries_are_smudged);
	tcase_add_test(tc, test_unsupported_formats);
	tcase_add_test(tc, test_unmerged_and_special_entries);
	tcase_add_test(tc, test_long_names);
	tcase_add_test(tc, test_lock_is_respected);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (home != NULL) {
		rm_rf(home);
		free(home);
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
