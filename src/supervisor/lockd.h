/*
 * The lock server (lockd.c): named locks, each with one holder and a FIFO
 * of waiters, served to the workers over the protocol
 * (ktx-supervisor-protocol(7)).  It does no I/O: the poll loop feeds it
 * what the workers said and sends the grants it returns.
 *
 * A client is an opaque id the caller chooses (one per worker
 * connection).  Times are the caller's monotonic clock in milliseconds;
 * the supervisor passes its run clock, which stands still while the run
 * is frozen, so a freeze counts toward neither hold times nor maxHold.
 */
#ifndef KTX_LOCKD_H
#define KTX_LOCKD_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

/* One acquire: waiting, or holding once granted. */
struct lockd_request {
	uint64_t			 client;
	int64_t				 id;	/* the client's request id */
	char				*purpose;
	int64_t				 queued;	/* acquire arrived */
	int64_t				 granted;	/* -1 while waiting */
	struct timespec			 granted_wall;	/* see lockd_sweep */
	int				 overdue;	/* lockd_next_overdue */
	TAILQ_ENTRY(lockd_request)	 entry;
};
TAILQ_HEAD(lockd_requests, lockd_request);

struct lockd_lock {
	char				*name;
	struct lockd_request		*holder;	/* NULL: free */
	struct lockd_requests		 waiters;	/* in arrival order */
	TAILQ_ENTRY(lockd_lock)		 entry;
};

/* A client's lock times, over every lock it used. */
struct lockd_stats {
	int64_t		wait_ms;	/* total time queued */
	int64_t		hold_ms;	/* total time holding */
	int64_t		max_wait_ms;
	int64_t		max_hold_ms;
	unsigned	acquisitions;	/* grants received */
};

/* A grant to send: the client now holds the lock. */
struct lockd_grant {
	uint64_t	 client;
	int64_t		 id;
	const char	*lock;		/* valid until lockd_release */
	int64_t		 waited_ms;
};

/* A hold that ended because its client went away. */
struct lockd_drop {
	uint64_t	 client;
	int64_t		 id;
	const char	*lock;		/* valid until lockd_release */
	char		*purpose;
	int64_t		 held_ms;
	struct timespec	 granted_wall;
};

/* What an operation asks the caller to do.  Safe to release when zeroed. */
struct lockd_out {
	struct lockd_grant	*grants;	/* send these, in order */
	size_t			 ngrants;
	struct lockd_drop	*drops;		/* holds of a client gone */
	size_t			 ndrops;
	size_t			 capgrants, capdrops;
};

struct lockd_client;

struct lockd {
	TAILQ_HEAD(, lockd_lock)	 locks;	/* in order of first use */
	struct lockd_client		*clients;
	size_t				 nclients, capclients;
	int64_t				 max_hold_ms;	/* 0: no limit */
	/*
	 * Asked before a waiter is granted on a release (the etcd lesson: a
	 * queued client may be gone without anyone having said so yet); a
	 * client found dead is dropped from the queue.  NULL: all are alive.
	 */
	int				(*alive)(uint64_t client, void *arg);
	void				*alive_arg;
};

void	 lockd_init(struct lockd *, int64_t max_hold_ms);
void	 lockd_release(struct lockd *);

/*
 * Queue client's request id for lock.  Granted at once when the lock is
 * free (the grant is appended to out), else it waits its turn.  Returns
 * 0, or -1 with *errmsg (caller frees) when the client already holds or
 * waits for that lock: the locks are not re-entrant, and that is a
 * protocol error.
 */
int	 lockd_acquire(struct lockd *, uint64_t client, const char *lock,
	    int64_t id, const char *purpose, int64_t now, struct lockd_out *out,
	    char **errmsg);

/*
 * Give back the lock that client holds under request id; the first live
 * waiter is granted at once (appended to out).  Returns 0, or -1 with
 * *errmsg (caller frees) when client does not hold lock under that id.
 */
int	 lockd_unlock(struct lockd *, uint64_t client, const char *lock,
	    int64_t id, int64_t now, struct lockd_out *out, char **errmsg);

/*
 * The client's connection closed or its process died: its waits are
 * cancelled, its holds end (appended to out's drops, for the caller to
 * clean up after before it sends the grants) and each freed lock goes to
 * the next live waiter.
 */
void	 lockd_client_gone(struct lockd *, uint64_t client, int64_t now,
	    struct lockd_out *out);

/* Empty out for the next operation. */
void	 lockd_out_clear(struct lockd_out *);
void	 lockd_out_release(struct lockd_out *);

/* The client's totals, a wait or hold in progress counted up to now. */
void	 lockd_client_stats(const struct lockd *, uint64_t client, int64_t now,
	    struct lockd_stats *);

/* The lock of that name, NULL if nobody ever asked for it. */
const struct lockd_lock *lockd_find(const struct lockd *, const char *lock);

/*
 * When the next holder goes over max_hold_ms, -1 if no holder will (no
 * limit, no holder, or all overdue ones already returned).
 */
int64_t	 lockd_deadline(const struct lockd *);

/*
 * A holder over max_hold_ms at now that was not returned before: 1 with
 * *client and *lock (valid until lockd_release), 0 if there is none.
 */
int	 lockd_next_overdue(struct lockd *, int64_t now, uint64_t *client,
	    const char **lock);

/*
 * The git lock files a dead holder may have left in the project's .git:
 * every "*.lock" directly in .git (index, HEAD, packed-refs, config,
 * ORIG_HEAD, MERGE_HEAD, ...) and anywhere under .git/refs/, and the same
 * in the admin dir .git/worktrees/session-<session> of the holder's own
 * session worktree (session: its key, NULL when it had none).  A file
 * whose mtime is at or after the holder's grant (granted_wall) can only be
 * the holder's own, since nobody else may touch main while it holds the
 * lock: it is removed and its path appended to removed.  Other sessions
 * commit on their own branches without the lock, so their branch's ref
 * lock (.git/refs/heads/session/<key>.lock) and their admin dirs may be
 * in use: those are never the holder's.  An older file, or another
 * session's, is not provably the holder's: it is appended to kept (a
 * file under another session's admin dir is not even looked at) and left
 * alone.
 * Paths are relative to project_dir (".git/index.lock") and sorted.
 * Symbolic links and anything not a regular file are ignored.  Returns 0,
 * or -1 with *errmsg (caller frees) when a directory or file could not be
 * read or removed: the sweep goes on past it, and the lists hold what was
 * found (a file that could not be removed is kept).
 */
int	 lockd_sweep(const char *project_dir, const char *session,
	    const struct timespec *granted_wall, struct strv *removed,
	    struct strv *kept, char **errmsg);

/*
 * Every git lock file in .git, its refs and every worktree admin dir,
 * listed, none removed.
 */
int	 lockd_git_locks(const char *project_dir, struct strv *found,
	    char **errmsg);

#endif
