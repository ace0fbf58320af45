#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lockd.h"
#include "util.h"

#define REPO	"config:repo"

static void
acquire_ok(struct lockd *ld, uint64_t client, const char *lock, int64_t id,
    int64_t now, struct lockd_out *out)
{
	char	*errmsg;

	ck_assert_int_eq(lockd_acquire(ld, client, lock, id, "test", now, out,
	    &errmsg), 0);
	ck_assert_ptr_null(errmsg);
}

static void
unlock_ok(struct lockd *ld, uint64_t client, const char *lock, int64_t id,
    int64_t now, struct lockd_out *out)
{
	char	*errmsg;

	ck_assert_int_eq(lockd_unlock(ld, client, lock, id, now, out, &errmsg), 0);
	ck_assert_ptr_null(errmsg);
}

static void
assert_grant(const struct lockd_out *out, size_t i, uint64_t client,
    int64_t id, const char *lock, int64_t waited)
{
	ck_assert_uint_gt(out->ngrants, i);
	ck_assert_uint_eq(out->grants[i].client, client);
	ck_assert_int_eq(out->grants[i].id, id);
	ck_assert_str_eq(out->grants[i].lock, lock);
	ck_assert_int_eq(out->grants[i].waited_ms, waited);
}

START_TEST(test_free_lock_is_granted_at_once)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };
	const struct lockd_lock	*l;

	lockd_init(&ld, 0);
	ck_assert_ptr_null(lockd_find(&ld, REPO));
	acquire_ok(&ld, 7, REPO, 1, 1000, &out);
	ck_assert_uint_eq(out.ngrants, 1);
	assert_grant(&out, 0, 7, 1, REPO, 0);
	l = lockd_find(&ld, REPO);
	ck_assert_ptr_nonnull(l);
	ck_assert_ptr_nonnull(l->holder);
	ck_assert_uint_eq(l->holder->client, 7);
	ck_assert_str_eq(l->holder->purpose, "test");
	lockd_out_clear(&out);
	unlock_ok(&ld, 7, REPO, 1, 1010, &out);
	ck_assert_uint_eq(out.ngrants, 0);
	ck_assert_ptr_null(lockd_find(&ld, REPO)->holder);
	lockd_out_release(&out);
	lockd_release(&ld);
}
END_TEST

START_TEST(test_waiters_are_granted_in_request_order)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };
	const struct lockd_request *r;
	uint64_t		 order[] = { 5, 3, 9, 1, 4 };
	size_t			 i;
	int64_t			 now = 0;

	lockd_init(&ld, 0);
	for (i = 0; i < 5; i++)
		acquire_ok(&ld, order[i], REPO, 100 + i, now += 10, &out);
	ck_assert_uint_eq(out.ngrants, 1);
	assert_grant(&out, 0, 5, 100, REPO, 0);
	i = 1;
	TAILQ_FOREACH(r, &lockd_find(&ld, REPO)->waiters, entry)
		ck_assert_uint_eq(r->client, order[i++]);
	ck_assert_uint_eq(i, 5);
	for (i = 0; i < 4; i++) {
		lockd_out_clear(&out);
		now += 100;
		unlock_ok(&ld, order[i], REPO, 100 + i, now, &out);
		/* Direct hand-off: the grant comes back from the release. */
		ck_assert_uint_eq(out.ngrants, 1);
		assert_grant(&out, 0, order[i + 1], 100 + i + 1, REPO,
		    now - 10 * (int64_t)(i + 2));
		ck_assert_uint_eq(lockd_find(&ld, REPO)->holder->client,
		    order[i + 1]);
	}
	lockd_out_clear(&out);
	unlock_ok(&ld, 4, REPO, 104, now + 1, &out);
	ck_assert_uint_eq(out.ngrants, 0);
	lockd_out_release(&out);
	lockd_release(&ld);
}
END_TEST

START_TEST(test_late_comer_cannot_barge)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };

	lockd_init(&ld, 0);
	acquire_ok(&ld, 1, REPO, 1, 0, &out);
	acquire_ok(&ld, 2, REPO, 1, 1, &out);
	lockd_out_clear(&out);
	unlock_ok(&ld, 1, REPO, 1, 2, &out);
	/* 3 asks in the same instant the lock changed hands: it waits. */
	acquire_ok(&ld, 3, REPO, 1, 2, &out);
	ck_assert_uint_eq(out.ngrants, 1);
	assert_grant(&out, 0, 2, 1, REPO, 1);
	ck_assert_uint_eq(lockd_find(&ld, REPO)->holder->client, 2);
	ck_assert_uint_eq(TAILQ_FIRST(&lockd_find(&ld, REPO)->waiters)->client, 3);
	lockd_out_release(&out);
	lockd_release(&ld);
}
END_TEST

START_TEST(test_not_reentrant)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };
	char			*errmsg;

	lockd_init(&ld, 0);
	acquire_ok(&ld, 1, REPO, 1, 0, &out);
	acquire_ok(&ld, 2, REPO, 1, 0, &out);
	lockd_out_clear(&out);

	ck_assert_int_eq(lockd_acquire(&ld, 1, REPO, 2, "again", 1, &out,
	    &errmsg), -1);
	ck_assert_str_eq(errmsg, "acquire of \"config:repo\" while holding it "
	    "(request 1): the lock is not re-entrant");
	free(errmsg);
	ck_assert_int_eq(lockd_acquire(&ld, 2, REPO, 2, "again", 1, &out,
	    &errmsg), -1);
	ck_assert_str_eq(errmsg, "acquire of \"config:repo\" while already "
	    "waiting for it (request 1)");
	free(errmsg);
	ck_assert_uint_eq(out.ngrants, 0);

	/* The refused requests left nothing behind. */
	unlock_ok(&ld, 1, REPO, 1, 2, &out);
	assert_grant(&out, 0, 2, 1, REPO, 2);
	ck_assert_ptr_null(TAILQ_FIRST(&lockd_find(&ld, REPO)->waiters));
	lockd_out_release(&out);
	lockd_release(&ld);
}
END_TEST

START_TEST(test_release_errors)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };
	char			*errmsg;

	lockd_init(&ld, 0);
	ck_assert_int_eq(lockd_unlock(&ld, 1, REPO, 1, 0, &out, &errmsg), -1);
	ck_assert_str_eq(errmsg,
	    "release of \"config:repo\", which this worker does not hold");
	free(errmsg);
	acquire_ok(&ld, 1, REPO, 4, 0, &out);
	acquire_ok(&ld, 2, REPO, 9, 0, &out);
	ck_assert_int_eq(lockd_unlock(&ld, 1, REPO, 5, 0, &out, &errmsg), -1);
	ck_assert_str_eq(errmsg, "release of \"config:repo\" request 5, but it "
	    "was granted to request 4");
	free(errmsg);
	ck_assert_int_eq(lockd_unlock(&ld, 2, REPO, 9, 0, &out, &errmsg), -1);
	ck_assert_str_eq(errmsg, "release of \"config:repo\" request 9, which is "
	    "not granted yet");
	free(errmsg);
	ck_assert_int_eq(lockd_unlock(&ld, 3, REPO, 1, 0, &out, &errmsg), -1);
	free(errmsg);
	ck_assert_int_eq(lockd_unlock(&ld, 1, "config:other", 4, 0, &out,
	    &errmsg), -1);
	free(errmsg);
	/* Still held by 1, 2 still waiting. */
	ck_assert_uint_eq(lockd_find(&ld, REPO)->holder->client, 1);
	ck_assert_uint_eq(out.ngrants, 1);
	lockd_out_release(&out);
	lockd_release(&ld);
}
END_TEST

static int dead_client = -1;

static int
alive_unless_dead(uint64_t client, void *arg)
{
	int	*calls = arg;

	(*calls)++;
	return (int)client != dead_client;
}

START_TEST(test_dead_waiter_is_skipped_at_hand_off)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };
	struct lockd_stats	 st;
	int			 calls = 0;

	lockd_init(&ld, 0);
	ld.alive = alive_unless_dead;
	ld.alive_arg = &calls;
	acquire_ok(&ld, 1, REPO, 1, 0, &out);
	ck_assert_int_eq(calls, 0);	/* the asking client is alive */
	acquire_ok(&ld, 2, REPO, 1, 10, &out);
	acquire_ok(&ld, 3, REPO, 1, 20, &out);
	lockd_out_clear(&out);
	dead_client = 2;
	unlock_ok(&ld, 1, REPO, 1, 50, &out);
	ck_assert_uint_eq(out.ngrants, 1);
	assert_grant(&out, 0, 3, 1, REPO, 30);
	ck_assert_int_eq(calls, 2);
	/* 2 waited, never got it; saying it is gone later changes nothing. */
	lockd_client_stats(&ld, 2, 60, &st);
	ck_assert_uint_eq(st.acquisitions, 0);
	ck_assert_int_eq(st.wait_ms, 40);
	lockd_out_clear(&out);
	lockd_client_gone(&ld, 2, 60, &out);
	ck_assert_uint_eq(out.ngrants, 0);
	ck_assert_uint_eq(out.ndrops, 0);
	ck_assert_uint_eq(lockd_find(&ld, REPO)->holder->client, 3);
	lockd_out_release(&out);
	lockd_release(&ld);
}
END_TEST

START_TEST(test_gone_waiter_is_never_granted)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };

	lockd_init(&ld, 0);
	acquire_ok(&ld, 1, REPO, 1, 0, &out);
	acquire_ok(&ld, 2, REPO, 1, 0, &out);
	acquire_ok(&ld, 3, REPO, 1, 0, &out);
	lockd_out_clear(&out);
	lockd_client_gone(&ld, 2, 5, &out);
	ck_assert_uint_eq(out.ngrants, 0);
	ck_assert_uint_eq(out.ndrops, 0);
	unlock_ok(&ld, 1, REPO, 1, 10, &out);
	ck_assert_uint_eq(out.ngrants, 1);
	assert_grant(&out, 0, 3, 1, REPO, 10);
	lockd_out_clear(&out);
	unlock_ok(&ld, 3, REPO, 1, 20, &out);
	ck_assert_uint_eq(out.ngrants, 0);
	lockd_out_release(&out);
	lockd_release(&ld);
}
END_TEST

START_TEST(test_holder_gone_hands_off_and_reports_the_drop)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };
	struct timespec		 before, after;
	char			*errmsg;

	lockd_init(&ld, 0);
	clock_gettime(CLOCK_REALTIME, &before);
	ck_assert_int_eq(lockd_acquire(&ld, 1, REPO, 3, "before_final_squash",
	    100, &out, &errmsg), 0);
	clock_gettime(CLOCK_REALTIME, &after);
	acquire_ok(&ld, 2, REPO, 8, 150, &out);
	lockd_out_clear(&out);
	lockd_client_gone(&ld, 1, 400, &out);
	ck_assert_uint_eq(out.ndrops, 1);
	ck_assert_uint_eq(out.drops[0].client, 1);
	ck_assert_int_eq(out.drops[0].id, 3);
	ck_assert_str_eq(out.drops[0].lock, REPO);
	ck_assert_str_eq(out.drops[0].purpose, "before_final_squash");
	ck_assert_int_eq(out.drops[0].held_ms, 300);
	/* Coarse: at most a clock tick (well under a second) before the grant. */
	ck_assert_int_le(out.drops[0].granted_wall.tv_sec, after.tv_sec);
	ck_assert_int_ge(out.drops[0].granted_wall.tv_sec, before.tv_sec - 1);
	ck_assert_uint_eq(out.ngrants, 1);
	assert_grant(&out, 0, 2, 8, REPO, 250);
	lockd_out_clear(&out);
	/* Gone twice, or gone without ever asking: nothing happens. */
	lockd_client_gone(&ld, 1, 500, &out);
	lockd_client_gone(&ld, 42, 500, &out);
	ck_assert_uint_eq(out.ndrops + out.ngrants, 0);
	lockd_out_release(&out);
	lockd_release(&ld);
}
END_TEST

START_TEST(test_gone_client_frees_every_lock_it_held)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };

	lockd_init(&ld, 0);
	acquire_ok(&ld, 1, REPO, 1, 0, &out);
	acquire_ok(&ld, 1, "config:cache", 2, 0, &out);
	acquire_ok(&ld, 2, "config:cache", 1, 0, &out);
	acquire_ok(&ld, 3, REPO, 1, 0, &out);
	acquire_ok(&ld, 1, "config:third", 3, 0, &out);
	acquire_ok(&ld, 4, "config:third", 1, 0, &out);
	ck_assert_uint_eq(out.ngrants, 3);
	lockd_out_clear(&out);
	lockd_client_gone(&ld, 1, 10, &out);
	ck_assert_uint_eq(out.ndrops, 3);
	ck_assert_uint_eq(out.ngrants, 3);
	/* In the order the locks were first used. */
	ck_assert_str_eq(out.drops[0].lock, REPO);
	ck_assert_str_eq(out.drops[1].lock, "config:cache");
	ck_assert_str_eq(out.drops[2].lock, "config:third");
	assert_grant(&out, 0, 3, 1, REPO, 10);
	assert_grant(&out, 1, 2, 1, "config:cache", 10);
	assert_grant(&out, 2, 4, 1, "config:third", 10);
	lockd_out_release(&out);
	lockd_release(&ld);
}
END_TEST

START_TEST(test_accounting)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };
	struct lockd_stats	 st;

	lockd_init(&ld, 0);
	acquire_ok(&ld, 1, REPO, 1, 1000, &out);	/* holds 1000..1300 */
	acquire_ok(&ld, 2, REPO, 1, 1100, &out);	/* waits 200 */
	unlock_ok(&ld, 1, REPO, 1, 1300, &out);
	acquire_ok(&ld, 1, REPO, 2, 1350, &out);	/* waits 1350..1700 */
	unlock_ok(&ld, 2, REPO, 1, 1700, &out);		/* 2 held 400 */
	unlock_ok(&ld, 1, REPO, 2, 1750, &out);		/* 1 held 50 */
	acquire_ok(&ld, 2, REPO, 2, 2000, &out);	/* holds from 2000 */

	lockd_client_stats(&ld, 1, 3000, &st);
	ck_assert_uint_eq(st.acquisitions, 2);
	ck_assert_int_eq(st.wait_ms, 350);
	ck_assert_int_eq(st.max_wait_ms, 350);
	ck_assert_int_eq(st.hold_ms, 350);
	ck_assert_int_eq(st.max_hold_ms, 300);

	/* The hold in progress counts up to now. */
	lockd_client_stats(&ld, 2, 3000, &st);
	ck_assert_uint_eq(st.acquisitions, 2);
	ck_assert_int_eq(st.wait_ms, 200);
	ck_assert_int_eq(st.max_wait_ms, 200);
	ck_assert_int_eq(st.hold_ms, 1400);
	ck_assert_int_eq(st.max_hold_ms, 1000);

	/* A wait in progress too, and a wait that ended with the client. */
	acquire_ok(&ld, 3, REPO, 1, 2500, &out);
	lockd_client_stats(&ld, 3, 2600, &st);
	ck_assert_int_eq(st.wait_ms, 100);
	ck_assert_uint_eq(st.acquisitions, 0);
	lockd_client_gone(&ld, 3, 2900, &out);
	lockd_client_stats(&ld, 3, 5000, &st);
	ck_assert_int_eq(st.wait_ms, 400);
	ck_assert_int_eq(st.max_wait_ms, 400);
	ck_assert_int_eq(st.hold_ms, 0);

	lockd_client_stats(&ld, 99, 5000, &st);
	ck_assert_uint_eq(st.acquisitions, 0);
	ck_assert_int_eq(st.wait_ms + st.hold_ms, 0);
	lockd_out_release(&out);
	lockd_release(&ld);
}
END_TEST

START_TEST(test_max_hold_deadline)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };
	uint64_t		 client;
	const char		*lock;

	lockd_init(&ld, 600000);
	ck_assert_int_eq(lockd_deadline(&ld), -1);
	acquire_ok(&ld, 1, REPO, 1, 1000, &out);
	acquire_ok(&ld, 2, "config:other", 1, 500, &out);
	acquire_ok(&ld, 3, REPO, 1, 2000, &out);
	ck_assert_int_eq(lockd_deadline(&ld), 600500);
	ck_assert_int_eq(lockd_next_overdue(&ld, 600499, &client, &lock), 0);
	ck_assert_int_eq(lockd_next_overdue(&ld, 600500, &client, &lock), 1);
	ck_assert_uint_eq(client, 2);
	ck_assert_str_eq(lock, "config:other");
	/* Returned once: the caller aborts it, its death ends the hold. */
	ck_assert_int_eq(lockd_next_overdue(&ld, 600999, &client, &lock), 0);
	ck_assert_int_eq(lockd_deadline(&ld), 601000);
	lockd_client_gone(&ld, 1, 601001, &out);
	/* 3 got it at 601001 and has its own full allowance. */
	ck_assert_int_eq(lockd_deadline(&ld), 1201001);
	ck_assert_int_eq(lockd_next_overdue(&ld, 1201000, &client, &lock), 0);
	ck_assert_int_eq(lockd_next_overdue(&ld, 1201001, &client, &lock), 1);
	ck_assert_uint_eq(client, 3);
	ck_assert_str_eq(lock, REPO);
	lockd_out_release(&out);
	lockd_release(&ld);

	lockd_init(&ld, 0);	/* no limit */
	acquire_ok(&ld, 1, REPO, 1, 0, &out);
	ck_assert_int_eq(lockd_deadline(&ld), -1);
	ck_assert_int_eq(lockd_next_overdue(&ld, INT64_MAX / 2, &client, &lock), 0);
	lockd_out_release(&out);
	lockd_release(&ld);
}
END_TEST

START_TEST(test_zeroed_structs_release)
{
	struct lockd		ld;
	struct lockd_out	out;

	memset(&ld, 0, sizeof(ld));
	memset(&out, 0, sizeof(out));
	lockd_release(&ld);
	lockd_out_release(&out);
	lockd_out_clear(&out);
}
END_TEST

/* Sweep: a real repository from git init, with planted lock files. */

static char	tmpdir[64];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
sweep_setup(void)
{
	char	*cmd;

	strlcpy(tmpdir, "/tmp/check_lockd.XXXXXX", sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	xasprintf(&cmd, "git init -q '%s' && cd '%s/.git' && mkdir -p "
	    "refs/heads/topic refs/heads/session worktrees/session-a/refs/bisect "
	    "worktrees/session-b worktrees/session-ab worktrees/other",
	    tmpdir, tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static void
sweep_teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Create project-relative path with its mtime at t + delta_ns. */
static void
plant(const char *rel, const struct timespec *t, long long delta_ns)
{
	struct timespec	 ts[2];
	char		*path;
	long long	 ns;
	int		 fd;

	xasprintf(&path, "%s/%s", tmpdir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_msg(fd != -1, "create %s: %s", path, strerror(errno));
	close(fd);
	ns = (long long)t->tv_sec * 1000000000LL + t->tv_nsec + delta_ns;
	ts[0].tv_sec = ts[1].tv_sec = ns / 1000000000LL;
	ts[0].tv_nsec = ts[1].tv_nsec = ns % 1000000000LL;
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
	free(path);
}

static int
exists(const char *rel)
{
	struct stat	 st;
	char		*path;
	int		 rc;

	xasprintf(&path, "%s/%s", tmpdir, rel);
	rc = lstat(path, &st) == 0;
	free(path);
	return rc;
}

/* sv joined by spaces, for one comparison.  Caller frees. */
static char *
joined(const struct strv *sv)
{
	char	*s = xstrdup(""), *t;
	size_t	 i;

	for (i = 0; i < sv->n; i++) {
		xasprintf(&t, "%s%s%s", s, i ? " " : "", sv->v[i]);
		free(s);
		s = t;
	}
	return s;
}

START_TEST(test_sweep_removes_the_holders_own_and_keeps_older_ones)
{
	struct timespec	 grant = { 1700000000, 500000000 };
	struct strv	 removed = { 0 }, kept = { 0 };
	char		*errmsg, *s, *target;
	const long long	 sec = 1000000000LL;

	/* The holder's: at or after the grant. */
	plant(".git/index.lock", &grant, 0);
	plant(".git/config.lock", &grant, 1);
	plant(".git/refs/heads/topic/x.lock", &grant, 3 * sec);
	plant(".git/worktrees/session-a/index.lock", &grant, sec);
	plant(".git/worktrees/session-a/HEAD.lock", &grant, 2);
	plant(".git/worktrees/session-a/refs/bisect/bad.lock", &grant, sec);
	plant(".git/refs/heads/session/a.lock", &grant, sec);
	/* Another session's: it commits without the lock. */
	plant(".git/refs/heads/session/b.lock", &grant, sec);
	plant(".git/refs/heads/session/ab.lock", &grant, sec);
	plant(".git/worktrees/session-b/index.lock", &grant, sec);
	plant(".git/worktrees/session-ab/index.lock", &grant, sec);
	plant(".git/worktrees/other/index.lock", &grant, sec);
	/* Older than the grant: somebody else's. */
	plant(".git/HEAD.lock", &grant, -1);
	plant(".git/packed-refs.lock", &grant, -3600 * sec);
	plant(".git/refs/heads/main.lock", &grant, -sec);
	plant(".git/worktrees/session-a/ORIG_HEAD.lock", &grant, -sec);
	/* Not git lock files: untouched whatever their age. */
	plant(".git/lock", &grant, sec);
	plant(".git/.lock", &grant, sec);
	plant(".git/index.lock.bak", &grant, sec);
	plant("outside.lock", &grant, sec);
	xasprintf(&target, "%s/outside.lock", tmpdir);
	xasprintf(&s, "%s/.git/link.lock", tmpdir);
	ck_assert_int_eq(symlink(target, s), 0);
	free(s);
	xasprintf(&s, "%s/.git/dir.lock", tmpdir);
	ck_assert_int_eq(mkdir(s, 0755), 0);
	free(s);
	free(target);

	ck_assert_int_eq(lockd_sweep(tmpdir, "a", &grant, &removed, &kept, &errmsg), 0);
	ck_assert_ptr_null(errmsg);
	s = joined(&removed);
	ck_assert_str_eq(s, ".git/config.lock .git/index.lock "
	    ".git/refs/heads/session/a.lock "
	    ".git/refs/heads/topic/x.lock "
	    ".git/worktrees/session-a/HEAD.lock "
	    ".git/worktrees/session-a/index.lock "
	    ".git/worktrees/session-a/refs/bisect/bad.lock");
	free(s);
	s = joined(&kept);
	ck_assert_str_eq(s, ".git/HEAD.lock .git/packed-refs.lock "
	    ".git/refs/heads/main.lock .git/refs/heads/session/ab.lock "
	    ".git/refs/heads/session/b.lock "
	    ".git/worktrees/session-a/ORIG_HEAD.lock");
	free(s);
	ck_assert(exists(".git/refs/heads/session/b.lock"));
	ck_assert(exists(".git/worktrees/session-b/index.lock"));
	ck_assert(exists(".git/worktrees/session-ab/index.lock"));
	ck_assert(exists(".git/worktrees/other/index.lock"));
	strv_release(&removed);
	strv_release(&kept);

	/* A holder without a session owns no session's files. */
	plant(".git/index.lock", &grant, 0);
	ck_assert_int_eq(lockd_sweep(tmpdir, NULL, &grant, &removed, &kept,
	    &errmsg), 0);
	s = joined(&removed);
	ck_assert_str_eq(s, ".git/index.lock");
	free(s);
	ck_assert(exists(".git/refs/heads/session/b.lock"));
	ck_assert(exists(".git/worktrees/session-a/ORIG_HEAD.lock"));

	ck_assert(!exists(".git/index.lock"));
	ck_assert(!exists(".git/worktrees/session-a/index.lock"));
	ck_assert(exists(".git/HEAD.lock"));
	ck_assert(exists(".git/packed-refs.lock"));
	ck_assert(exists(".git/lock"));
	ck_assert(exists(".git/.lock"));
	ck_assert(exists(".git/index.lock.bak"));
	ck_assert(exists(".git/link.lock"));
	ck_assert(exists("outside.lock"));
	ck_assert(exists(".git/dir.lock"));
	ck_assert(exists(".git/HEAD"));
	ck_assert(exists(".git/config"));
	strv_release(&removed);
	strv_release(&kept);
}
END_TEST

START_TEST(test_sweep_of_a_clean_repository_finds_nothing)
{
	struct timespec	 grant = { 0, 0 };
	struct strv	 removed = { 0 }, kept = { 0 };
	char		*errmsg;

	ck_assert_int_eq(lockd_sweep(tmpdir, "a", &grant, &removed, &kept, &errmsg), 0);
	ck_assert_uint_eq(removed.n + kept.n, 0);
}
END_TEST

START_TEST(test_sweep_without_git_dir_fails)
{
	struct timespec	 grant = { 0, 0 };
	struct strv	 removed = { 0 }, kept = { 0 };
	char		*errmsg, *sub, *want;

	xasprintf(&sub, "%s/sub", tmpdir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(lockd_sweep(sub, "a", &grant, &removed, &kept, &errmsg), -1);
	xasprintf(&want, "cannot open \"%s/.git\": No such file or directory", sub);
	ck_assert_str_eq(errmsg, want);
	free(errmsg);
	free(want);
	free(sub);
}
END_TEST

static int
chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, 65534, 65534);
}

/*
 * Run the sweep where a directory cannot be read: in a child that is not
 * root (root reads anything), so the permission check is real.
 */
START_TEST(test_sweep_goes_on_past_an_unreadable_dir)
{
	struct timespec	 grant = { 1700000000, 0 };
	struct strv	 removed = { 0 }, kept = { 0 };
	char		*errmsg, *dir, *want;
	pid_t		 pid;
	int		 status;

	plant(".git/index.lock", &grant, 1);
	plant(".git/refs/heads/topic/x.lock", &grant, 1);
	xasprintf(&dir, "%s/.git/refs/heads/topic", tmpdir);
	xasprintf(&want, "cannot open \".git/refs/heads/topic\": %s",
	    strerror(EACCES));
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		int	rc = 0;

		errmsg = NULL;
		if (geteuid() == 0 && (nftw(tmpdir, chown_entry, 16, FTW_PHYS) != 0 ||
		    setgid(65534) != 0 || setuid(65534) != 0))
			rc = 2;
		else if (chmod(dir, 0) != 0)
			rc = 3;
		else if (lockd_sweep(tmpdir, "a", &grant, &removed, &kept, &errmsg) != -1)
			rc = 4;
		else if (strcmp(errmsg, want) != 0)
			rc = 5;
		else if (removed.n != 1 ||
		    strcmp(removed.v[0], ".git/index.lock") != 0)
			rc = 6;
		strv_release(&removed);
		strv_release(&kept);
		free(errmsg);
		free(want);
		free(dir);
		_exit(rc);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	chmod(dir, 0755);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "sweep child: status %d", status);
	ck_assert(exists(".git/refs/heads/topic/x.lock"));
	ck_assert(!exists(".git/index.lock"));
	free(want);
	free(dir);
}
END_TEST

START_TEST(test_git_locks_lists_and_removes_nothing)
{
	struct timespec	 now;
	struct strv	 found = { 0 };
	char		*errmsg, *s;

	clock_gettime(CLOCK_REALTIME, &now);
	plant(".git/index.lock", &now, 0);
	plant(".git/HEAD.lock", &now, -3600000000000LL);
	plant(".git/refs/heads/topic/x.lock", &now, 1000000000LL);
	plant(".git/worktrees/session-a/index.lock", &now, 0);
	plant(".git/refs/heads/session/b.lock", &now, 0);
	ck_assert_int_eq(lockd_git_locks(tmpdir, &found, &errmsg), 0);
	s = joined(&found);
	ck_assert_str_eq(s, ".git/HEAD.lock .git/index.lock "
	    ".git/refs/heads/session/b.lock "
	    ".git/refs/heads/topic/x.lock .git/worktrees/session-a/index.lock");
	free(s);
	ck_assert(exists(".git/index.lock"));
	ck_assert(exists(".git/HEAD.lock"));
	ck_assert(exists(".git/refs/heads/topic/x.lock"));
	ck_assert(exists(".git/worktrees/session-a/index.lock"));
	strv_release(&found);
}
END_TEST

/*
 * The whole path with real clocks: a lock file created right after the
 * grant must count as the holder's, every time, even when file times come
 * from a coarser clock than the grant's.
 */
START_TEST(test_file_created_right_after_the_grant_is_the_holders)
{
	struct lockd		 ld;
	struct lockd_out	 out = { 0 };
	struct strv		 removed = { 0 }, kept = { 0 };
	char			*errmsg, *path;
	int			 i, fd;

	xasprintf(&path, "%s/.git/index.lock", tmpdir);
	lockd_init(&ld, 0);
	for (i = 0; i < 300; i++) {
		acquire_ok(&ld, 1, REPO, i, i, &out);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		ck_assert_int_ne(fd, -1);
		close(fd);
		lockd_client_gone(&ld, 1, i, &out);
		ck_assert_uint_eq(out.ndrops, 1);
		ck_assert_int_eq(lockd_sweep(tmpdir, NULL, &out.drops[0].granted_wall,
		    &removed, &kept, &errmsg), 0);
		ck_assert_msg(removed.n == 1 && kept.n == 0,
		    "round %d: removed %zu kept %zu", i, removed.n, kept.n);
		strv_release(&removed);
		lockd_out_clear(&out);
		if (i % 50 == 0)
			usleep(3000);	/* cross clock ticks now and then */
	}
	lockd_out_release(&out);
	lockd_release(&ld);
	free(path);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("lockd");
	TCase	*tc = tcase_create("locks");
	TCase	*sw = tcase_create("sweep");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_free_lock_is_granted_at_once);
	tcase_add_test(tc, test_waiters_are_granted_in_request_order);
	tcase_add_test(tc, test_late_comer_cannot_barge);
	tcase_add_test(tc, test_not_reentrant);
	tcase_add_test(tc, test_release_errors);
	tcase_add_test(tc, test_dead_waiter_is_skipped_at_hand_off);
	tcase_add_test(tc, test_gone_waiter_is_never_granted);
	tcase_add_test(tc, test_holder_gone_hands_off_and_reports_the_drop);
	tcase_add_test(tc, test_gone_client_frees_every_lock_it_held);
	tcase_add_test(tc, test_accounting);
	tcase_add_test(tc, test_max_hold_deadline);
	tcase_add_test(tc, test_zeroed_structs_release);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(sw, sweep_setup, sweep_teardown);
	tcase_add_test(sw, test_sweep_removes_the_holders_own_and_keeps_older_ones);
	tcase_add_test(sw, test_sweep_of_a_clean_repository_finds_nothing);
	tcase_add_test(sw, test_sweep_without_git_dir_fails);
	tcase_add_test(sw, test_sweep_goes_on_past_an_unreadable_dir);
	tcase_add_test(sw, test_git_locks_lists_and_removes_nothing);
	tcase_add_test(sw, test_file_created_right_after_the_grant_is_the_holders);
	suite_add_tcase(s, sw);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
