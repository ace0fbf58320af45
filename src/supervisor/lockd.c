/*
 * The lock server: FIFO per lock name with direct hand-off (the lock goes
 * from the holder to the first live waiter without ever being free, so no
 * late comer can barge in), not re-entrant, and released by the death of
 * its holder.  After such a death, lockd_sweep removes the git lock files
 * the holder provably left.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockd.h"
#include "log.h"
#include "util.h"

/* Nesting of directories under refs/ the sweep descends into. */
#define SWEEP_MAX_DEPTH	32
/* Where the session branches are, for the sweep. */
#define SWEEP_SESSION_REFS	".git/refs/heads/session"

struct lockd_client {
	uint64_t		id;
	struct lockd_stats	stats;
};

void
lockd_init(struct lockd *ld, int64_t max_hold_ms)
{
	memset(ld, 0, sizeof(*ld));
	TAILQ_INIT(&ld->locks);
	ld->max_hold_ms = max_hold_ms;
}

static void
request_free(struct lockd_request *r)
{
	if (r == NULL)
		return;
	free(r->purpose);
	free(r);
}

void
lockd_release(struct lockd *ld)
{
	struct lockd_lock	*l;
	struct lockd_request	*r;

	while ((l = TAILQ_FIRST(&ld->locks)) != NULL) {
		TAILQ_REMOVE(&ld->locks, l, entry);
		while ((r = TAILQ_FIRST(&l->waiters)) != NULL) {
			TAILQ_REMOVE(&l->waiters, r, entry);
			request_free(r);
		}
		request_free(l->holder);
		free(l->name);
		free(l);
	}
	free(ld->clients);
	memset(ld, 0, sizeof(*ld));
	TAILQ_INIT(&ld->locks);
}

void
lockd_out_clear(struct lockd_out *out)
{
	size_t	i;

	for (i = 0; i < out->ndrops; i++)
		free(out->drops[i].purpose);
	out->ngrants = 0;
	out->ndrops = 0;
}

void
lockd_out_release(struct lockd_out *out)
{
	lockd_out_clear(out);
	free(out->grants);
	free(out->drops);
	memset(out, 0, sizeof(*out));
}

static struct lockd_lock *
find_lock(const struct lockd *ld, const char *name)
{
	struct lockd_lock	*l;

	TAILQ_FOREACH(l, &ld->locks, entry)
		if (strcmp(l->name, name) == 0)
			return l;
	return NULL;
}

const struct lockd_lock *
lockd_find(const struct lockd *ld, const char *name)
{
	return find_lock(ld, name);
}

static struct lockd_lock *
find_or_add_lock(struct lockd *ld, const char *name)
{
	struct lockd_lock	*l;

	if ((l = find_lock(ld, name)) != NULL)
		return l;
	l = xcalloc(1, sizeof(*l));
	l->name = xstrdup(name);
	TAILQ_INIT(&l->waiters);
	TAILQ_INSERT_TAIL(&ld->locks, l, entry);
	return l;
}

static struct lockd_stats *
stats_of(struct lockd *ld, uint64_t client)
{
	size_t	i;

	for (i = 0; i < ld->nclients; i++)
		if (ld->clients[i].id == client)
			return &ld->clients[i].stats;
	if (ld->nclients == ld->capclients) {
		ld->capclients = ld->capclients ? ld->capclients * 2 : 8;
		ld->clients = xreallocarray(ld->clients, ld->capclients,
		    sizeof(*ld->clients));
	}
	memset(&ld->clients[ld->nclients], 0, sizeof(ld->clients[0]));
	ld->clients[ld->nclients].id = client;
	return &ld->clients[ld->nclients++].stats;
}

static void
count_wait(struct lockd *ld, const struct lockd_request *r, int64_t now)
{
	struct lockd_stats	*st = stats_of(ld, r->client);
	int64_t			 waited = now - r->queued;

	st->wait_ms += waited;
	if (waited > st->max_wait_ms)
		st->max_wait_ms = waited;
}

static void
grant(struct lockd *ld, struct lockd_lock *l, struct lockd_request *r,
    int64_t now, struct lockd_out *out)
{
	struct lockd_grant	*g;

	r->granted = now;
	/*
	 * The coarse clock is the one the kernel stamps file times with, so
	 * a lock file the holder creates after this instant can never carry
	 * an earlier mtime; the fine clock may be a tick ahead of it.
	 */
	clock_gettime(CLOCK_REALTIME_COARSE, &r->granted_wall);
	l->holder = r;
	count_wait(ld, r, now);
	stats_of(ld, r->client)->acquisitions++;
	if (out->ngrants == out->capgrants) {
		out->capgrants = out->capgrants ? out->capgrants * 2 : 4;
		out->grants = xreallocarray(out->grants, out->capgrants,
		    sizeof(*out->grants));
	}
	g = &out->grants[out->ngrants++];
	g->client = r->client;
	g->id = r->id;
	g->lock = l->name;
	g->waited_ms = now - r->queued;
}

/* The holder is done: count its hold and free the lock. */
static void
end_hold(struct lockd *ld, struct lockd_lock *l, int64_t now)
{
	struct lockd_stats	*st = stats_of(ld, l->holder->client);
	int64_t			 held = now - l->holder->granted;

	st->hold_ms += held;
	if (held > st->max_hold_ms)
		st->max_hold_ms = held;
	request_free(l->holder);
	l->holder = NULL;
}

/* Give the free lock to the first waiter still alive. */
static void
hand_off(struct lockd *ld, struct lockd_lock *l, int64_t now,
    struct lockd_out *out)
{
	struct lockd_request	*r;

	while ((r = TAILQ_FIRST(&l->waiters)) != NULL) {
		TAILQ_REMOVE(&l->waiters, r, entry);
		if (ld->alive == NULL || ld->alive(r->client, ld->alive_arg)) {
			grant(ld, l, r, now, out);
			return;
		}
		log_debug("lock \"%s\": skipping request %lld of a client "
		    "that is gone", l->name, (long long)r->id);
		count_wait(ld, r, now);
		request_free(r);
	}
}

static struct lockd_request *
find_waiter(const struct lockd_lock *l, uint64_t client)
{
	struct lockd_request	*r;

	TAILQ_FOREACH(r, &l->waiters, entry)
		if (r->client == client)
			return r;
	return NULL;
}

int
lockd_acquire(struct lockd *ld, uint64_t client, const char *name, int64_t id,
    const char *purpose, int64_t now, struct lockd_out *out, char **errmsg)
{
	struct lockd_lock	*l = find_or_add_lock(ld, name);
	struct lockd_request	*r;

	*errmsg = NULL;
	if (l->holder != NULL && l->holder->client == client) {
		xasprintf(errmsg, "acquire of \"%s\" while holding it (request "
		    "%lld): the lock is not re-entrant", name,
		    (long long)l->holder->id);
		return -1;
	}
	if ((r = find_waiter(l, client)) != NULL) {
		xasprintf(errmsg, "acquire of \"%s\" while already waiting for "
		    "it (request %lld)", name, (long long)r->id);
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	r->client = client;
	r->id = id;
	r->purpose = xstrdup(purpose);
	r->queued = now;
	r->granted = -1;
	if (l->holder == NULL)
		grant(ld, l, r, now, out);
	else
		TAILQ_INSERT_TAIL(&l->waiters, r, entry);
	return 0;
}

int
lockd_unlock(struct lockd *ld, uint64_t client, const char *name, int64_t id,
    int64_t now, struct lockd_out *out, char **errmsg)
{
	struct lockd_lock	*l = find_lock(ld, name);
	struct lockd_request	*r;

	*errmsg = NULL;
	if (l != NULL && l->holder != NULL && l->holder->client == client) {
		if (l->holder->id != id) {
			xasprintf(errmsg, "release of \"%s\" request %lld, but "
			    "it was granted to request %lld", name,
			    (long long)id, (long long)l->holder->id);
			return -1;
		}
		end_hold(ld, l, now);
		hand_off(ld, l, now, out);
		return 0;
	}
	if (l != NULL && (r = find_waiter(l, client)) != NULL)
		xasprintf(errmsg, "release of \"%s\" request %lld, which is "
		    "not granted yet", name, (long long)r->id);
	else
		xasprintf(errmsg, "release of \"%s\", which this worker does "
		    "not hold", name);
	return -1;
}

void
lockd_client_gone(struct lockd *ld, uint64_t client, int64_t now,
    struct lockd_out *out)
{
	struct lockd_lock	*l;
	struct lockd_request	*r, *next;
	struct lockd_drop	*d;

	TAILQ_FOREACH(l, &ld->locks, entry) {
		TAILQ_FOREACH_SAFE(r, &l->waiters, entry, next) {
			if (r->client != client)
				continue;
			TAILQ_REMOVE(&l->waiters, r, entry);
			count_wait(ld, r, now);
			request_free(r);
		}
		if (l->holder == NULL || l->holder->client != client)
			continue;
		if (out->ndrops == out->capdrops) {
			out->capdrops = out->capdrops ? out->capdrops * 2 : 4;
			out->drops = xreallocarray(out->drops, out->capdrops,
			    sizeof(*out->drops));
		}
		d = &out->drops[out->ndrops++];
		d->client = client;
		d->id = l->holder->id;
		d->lock = l->name;
		d->purpose = xstrdup(l->holder->purpose);
		d->held_ms = now - l->holder->granted;
		d->granted_wall = l->holder->granted_wall;
		end_hold(ld, l, now);
		hand_off(ld, l, now, out);
	}
}

void
lockd_client_stats(const struct lockd *ld, uint64_t client, int64_t now,
    struct lockd_stats *st)
{
	const struct lockd_lock		*l;
	const struct lockd_request	*r;
	int64_t				 t;
	size_t				 i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < ld->nclients; i++)
		if (ld->clients[i].id == client)
			*st = ld->clients[i].stats;
	TAILQ_FOREACH(l, &ld->locks, entry) {
		if ((r = l->holder) != NULL && r->client == client) {
			t = now - r->granted;
			st->hold_ms += t;
			if (t > st->max_hold_ms)
				st->max_hold_ms = t;
		}
		TAILQ_FOREACH(r, &l->waiters, entry) {
			if (r->client != client)
				continue;
			t = now - r->queued;
			st->wait_ms += t;
			if (t > st->max_wait_ms)
				st->max_wait_ms = t;
		}
	}
}

int64_t
lockd_deadline(const struct lockd *ld)
{
	const struct lockd_lock	*l;
	int64_t			 next = -1, t;

	if (ld->max_hold_ms <= 0)
		return -1;
	TAILQ_FOREACH(l, &ld->locks, entry) {
		if (l->holder == NULL || l->holder->overdue)
			continue;
		t = l->holder->granted + ld->max_hold_ms;
		if (next == -1 || t < next)
			next = t;
	}
	return next;
}

int
lockd_next_overdue(struct lockd *ld, int64_t now, uint64_t *client,
    const char **name)
{
	struct lockd_lock	*l;

	if (ld->max_hold_ms <= 0)
		return 0;
	TAILQ_FOREACH(l, &ld->locks, entry) {
		if (l->holder == NULL || l->holder->overdue ||
		    now < l->holder->granted + ld->max_hold_ms)
			continue;
		l->holder->overdue = 1;
		*client = l->holder->client;
		*name = l->name;
		return 1;
	}
	return 0;
}

/* Keep the first error of a sweep; later ones only go to the log. */
static void
sweep_error(char **errmsg, const char *what, const char *path)
{
	if (*errmsg == NULL)
		xasprintf(errmsg, "cannot %s \"%s\": %s", what, path,
		    strerror(errno));
	else
		log_warn("cannot %s \"%s\"", what, path);
}

static int
is_dot_or_dotdot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static int
is_lock_name(const char *name)
{
	size_t	len = strlen(name);

	return len > 5 && strcmp(name + len - 5, ".lock") == 0;
}

static int
at_or_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec ||
	    (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

/*
 * Whose lock files a sweep takes: the root's and one session's (key; NULL
 * for none), or, for a listing, everybody's.
 */
struct sweep {
	const struct timespec	*granted_wall;
	int			 all_sessions;
	const char		*session;
	struct strv		*removed;
	struct strv		*kept;
	char			**errmsg;
};

/*
 * Whether the lock file path may be the holder's.  Sessions commit on
 * their own branches without the repository lock, so the ref lock of
 * another session's branch may be in use right now.
 */
static int
sweep_owns(const struct sweep *sw, const char *path, const char *name)
{
	const char	*dir = SWEEP_SESSION_REFS "/";
	size_t		 len = strlen(dir), klen;

	if (sw->all_sessions || strncmp(path, dir, len) != 0)
		return 1;
	if (sw->session == NULL || strchr(path + len, '/') != NULL)
		return 0;
	klen = strlen(sw->session);
	return strncmp(name, sw->session, klen) == 0 &&
	    strcmp(name + klen, ".lock") == 0;
}

/*
 * Sweep the "*.lock" files in the directory dirfd (named path), and below
 * it when depth > 0.  Takes dirfd over.
 */
static void
sweep_dir(int dirfd, const char *path, int depth, const struct sweep *sw)
{
	const struct timespec	*granted_wall = sw->granted_wall;
	struct strv		*removed = sw->removed, *kept = sw->kept;
	char			**errmsg = sw->errmsg;
	DIR			*dir;
	struct dirent		*de;
	struct stat		 st;
	char			*sub;
	int			 fd;

	if ((dir = fdopendir(dirfd)) == NULL) {
		sweep_error(errmsg, "read", path);
		close(dirfd);
		return;
	}
	while ((errno = 0, de = readdir(dir)) != NULL) {
		if (is_dot_or_dotdot(de->d_name))
			continue;
		xasprintf(&sub, "%s/%s", path, de->d_name);
		if (fstatat(dirfd, de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno != ENOENT)
				sweep_error(errmsg, "stat", sub);
		} else if (S_ISDIR(st.st_mode) && depth > 0) {
			fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (fd == -1)
				sweep_error(errmsg, "open", sub);
			else
				sweep_dir(fd, sub, depth - 1, sw);
		} else if (S_ISREG(st.st_mode) && is_lock_name(de->d_name)) {
			if (!at_or_after(&st.st_mtim, granted_wall) ||
			    !sweep_owns(sw, sub, de->d_name))
				strv_push(kept, sub);
			else if (unlinkat(dirfd, de->d_name, 0) == 0)
				strv_push(removed, sub);
			else if (errno != ENOENT) {
				sweep_error(errmsg, "remove", sub);
				strv_push(kept, sub);
			}
		}
		free(sub);
	}
	if (errno != 0)
		sweep_error(errmsg, "read", path);
	closedir(dir);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
sort_paths(struct strv *sv)
{
	if (sv->n > 1)
		qsort(sv->v, sv->n, sizeof(*sv->v), cmp_str);
}

/* Open the directory name under dirfd; -1 quietly when it does not exist. */
static int
open_subdir(int dirfd, const char *name, const char *path, char **errmsg)
{
	int	fd;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 && errno != ENOENT)
		sweep_error(errmsg, "open", path);
	return fd;
}

/* A git dir (.git or a worktree admin dir): its own *.lock and refs/. */
static void
sweep_gitdir(int gitfd, const char *path, const struct sweep *sw)
{
	char	*refs;
	int	 fd;

	xasprintf(&refs, "%s/refs", path);
	if ((fd = open_subdir(gitfd, "refs", refs, sw->errmsg)) != -1)
		sweep_dir(fd, refs, SWEEP_MAX_DEPTH, sw);
	free(refs);
	if ((fd = dup(gitfd)) == -1)
		sweep_error(sw->errmsg, "read", path);
	else
		sweep_dir(fd, path, 0, sw);
}

/* Whether the worktree admin dir name may hold the holder's files. */
static int
sweep_owns_worktree(const struct sweep *sw, const char *name)
{
	const char	*prefix = "session-";
	size_t		 len = strlen(prefix);

	if (sw->all_sessions)
		return 1;
	return sw->session != NULL && strncmp(name, prefix, len) == 0 &&
	    strcmp(name + len, sw->session) == 0;
}

static int
sweep(const char *project_dir, const struct sweep *sw)
{
	DIR		*dir = NULL;
	struct dirent	*de;
	char		*git = NULL, *sub;
	char		**errmsg = sw->errmsg;
	int		 projfd = -1, gitfd = -1, wtfd = -1, fd;

	*errmsg = NULL;
	projfd = open(project_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (projfd == -1) {
		sweep_error(errmsg, "open", project_dir);
		goto out;
	}
	xasprintf(&git, "%s/.git", project_dir);
	if ((gitfd = open_subdir(projfd, ".git", git, errmsg)) == -1) {
		if (*errmsg == NULL)
			xasprintf(errmsg, "cannot open \"%s\": %s", git,
			    strerror(ENOENT));
		goto out;
	}
	sweep_gitdir(gitfd, ".git", sw);
	if ((wtfd = open_subdir(gitfd, "worktrees", ".git/worktrees",
	    errmsg)) == -1)
		goto out;
	if ((dir = fdopendir(wtfd)) == NULL) {
		sweep_error(errmsg, "read", ".git/worktrees");
		close(wtfd);
		goto out;
	}
	while ((errno = 0, de = readdir(dir)) != NULL) {
		if (is_dot_or_dotdot(de->d_name) ||
		    !sweep_owns_worktree(sw, de->d_name))
			continue;
		xasprintf(&sub, ".git/worktrees/%s", de->d_name);
		fd = openat(wtfd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (fd != -1) {
			sweep_gitdir(fd, sub, sw);
			close(fd);
		} else if (errno != ENOTDIR && errno != ELOOP &&
		    errno != ENOENT)
			sweep_error(errmsg, "open", sub);
		free(sub);
	}
	if (errno != 0)
		sweep_error(errmsg, "read", ".git/worktrees");
out:
	sort_paths(sw->removed);
	sort_paths(sw->kept);
	free(git);
	if (dir != NULL)
		closedir(dir);
	if (gitfd != -1)
		close(gitfd);
	if (projfd != -1)
		close(projfd);
	return *errmsg == NULL ? 0 : -1;
}

int
lockd_sweep(const char *project_dir, const char *session,
    const struct timespec *granted_wall, struct strv *removed,
    struct strv *kept, char **errmsg)
{
	struct sweep	sw = { granted_wall, 0, session, removed, kept, errmsg };

	return sweep(project_dir, &sw);
}

int
lockd_git_locks(const char *project_dir, struct strv *found, char **errmsg)
{
	/* No file is at or after the end of time: all are kept. */
	const struct timespec	 never = { (time_t)INT64_MAX, 999999999 };
	struct strv		 none = { 0 };
	struct sweep		 sw = { &never, 1, NULL, &none, found, errmsg };
	int			 rc;

	rc = sweep(project_dir, &sw);
	strv_release(&none);
	return rc;
}
