/*
 * The worker's side of the lock protocol (ktx-supervisor-protocol(7)):
 * queue for a named lock the supervisor serves, wait for the grant, give
 * it back.  The lock belongs to the worker process: if it dies holding
 * the lock, the supervisor releases it once the process is reaped (not at
 * the socket's close: a worker whose socket closed may still be writing
 * the repository), after writing its sentinel.
 */
#ifndef KTX_LOCKCLIENT_H
#define KTX_LOCKCLIENT_H

#include <stdint.h>

#include "proto.h"

/* The repository lock: held around every step that touches git. */
#define LOCK_REPO	"config:repo"

enum lock_state {
	LOCK_NONE,	/* not asked for, or released */
	LOCK_WAITING,	/* acquire sent, no grant yet */
	LOCK_HELD
};

/* One request for a lock.  Safe to use when zeroed. */
struct lock_request {
	enum lock_state	 state;
	char		 lock[PROTO_MAX_LOCK_NAME + 1];
	int64_t		 id;		/* unique within the process */
	int64_t		 waited_ms;	/* as the grant reports it */
};

/*
 * Send an acquire for lock (such as LOCK_REPO) with purpose (printable
 * ASCII, at most PROTO_MAX_PURPOSE bytes: why, for status and logs) and
 * wait for the grant.  Returns 0 holding the lock.  Returns -1 with
 * *errmsg (caller frees) when it cannot: errno is EINTR when a signal
 * interrupted the wait, and the request is still queued (state
 * LOCK_WAITING): lock_wait goes on waiting; a worker that gives up instead
 * just ends its connection.  Any other errno means the connection is
 * unusable (EPIPE: the supervisor is gone; EPROTO: it sent something
 * else or refused the request).
 */
int	 lock_acquire(struct proto_conn *, struct lock_request *,
	    const char *lock, const char *purpose, char **errmsg);

/* Go on waiting for the grant of a LOCK_WAITING request; as lock_acquire. */
int	 lock_wait(struct proto_conn *, struct lock_request *, char **errmsg);

/*
 * Give a LOCK_HELD lock back.  Returns 0, or -1 with *errmsg (caller
 * frees) when the release cannot be sent.  The request is LOCK_NONE after
 * either: a lock whose release was lost goes back when the connection
 * ends.
 */
int	 lock_release(struct proto_conn *, struct lock_request *,
	    char **errmsg);

#endif
