/*
 * The supervisor <-> worker protocol (ktx-supervisor-protocol(7)).
 *
 * A frame is one JSON object on one line: at most PROTO_MAX_FRAME bytes
 * including the terminating newline, no NUL byte, and the members "v"
 * (PROTO_VERSION) and "type".  Every other member is named in the type's
 * field table in proto.c, with its JSON type and range: a missing, mistyped,
 * duplicated or unknown member rejects the frame, and so does an unknown
 * type or version.  Adding a message type is adding a row to that table.
 *
 * A worker finds its end of the socketpair at PROTO_WORKER_FD.
 */
#ifndef KTX_PROTO_H
#define KTX_PROTO_H

#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#define PROTO_VERSION		1
#define PROTO_MAX_FRAME		(64 * 1024)
#define PROTO_WORKER_FD		3
#define PROTO_MAX_LOCK_NAME	64	/* bytes of a lock name */
#define PROTO_MAX_PURPOSE	128	/* bytes of an acquire's purpose */

enum proto_type {
	PROTO_HELLO,	/* worker: {target, pid}, first message */
	PROTO_ASSIGN,	/* supervisor: the target spec */
	PROTO_SPAWNED,	/* worker: {pgid} of a process group it started */
	PROTO_PROGRESS,	/* worker: {phase, percent, message} */
	PROTO_RESULT,	/* worker: {status, detail, exit_code, signal, commit,
			   trace, worktree} */
	PROTO_ERROR,	/* either: {code, message} */
	PROTO_ACQUIRE,	/* worker: {lock, purpose, id}, queue for a lock */
	PROTO_GRANTED,	/* supervisor: {lock, id, waited_ms}, it is yours */
	PROTO_RELEASE,	/* worker: {lock, id}, give it back */
	PROTO_STATUS,	/* control client: {}, answered by snapshot */
	PROTO_PAUSE,	/* control client: {}, freeze the run */
	PROTO_RESUME,	/* control client: {}, thaw it */
	PROTO_DRAIN,	/* control client: {}, start nothing new */
	PROTO_ABORT,	/* control client: {}, abort the run */
	PROTO_OK,	/* supervisor: {message}, the request was carried out */
	PROTO_SNAPSHOT,	/* supervisor: the run's live state */
	PROTO_SESSION,	/* worker: {path, branch, base} of its session worktree */
	PROTO_NTYPES
};

/* A decoded, validated message.  Safe to release when zeroed. */
struct proto_msg {
	enum proto_type	 type;
	cJSON		*json;	/* the whole object, "v" and "type" included */
};

/* One end of a connection with its input buffer.  Safe to release when zeroed. */
struct proto_conn {
	int	 fd;
	char	*buf;		/* PROTO_MAX_FRAME bytes once used */
	size_t	 len;		/* bytes buffered */
	int	 eof;		/* the peer closed its end */
	char	*error;		/* first framing error; the connection is unusable */
};

const char	*proto_type_name(enum proto_type);

void	 proto_conn_init(struct proto_conn *, int fd);
/* Free the buffer and close the fd (if >= 0). */
void	 proto_conn_release(struct proto_conn *);

/*
 * Read once from the fd into the buffer.  Returns the bytes read, 0 at end
 * of file, -1 on error with errno (EAGAIN on an empty non-blocking socket).
 * With a full buffer it reads nothing and returns -1 with ENOBUFS; call
 * proto_next first.
 */
ssize_t	 proto_conn_fill(struct proto_conn *);

/*
 * Take the next complete frame from the buffer.  Returns 1 with *msg filled
 * (caller releases), 0 when no complete frame is buffered, -1 on a bad frame
 * with a message in *errmsg (caller frees).  After -1 every later call fails
 * the same way: the peer is to be dropped.
 */
int	 proto_next(struct proto_conn *, struct proto_msg *, char **errmsg);

/*
 * Block until the next message, end of file or timeout_ms (-1: none).
 * Returns 1 with *msg, 0 at end of file, -1 with *errmsg (caller frees);
 * errno is ETIMEDOUT after the timeout and EINTR when a signal arrived.
 */
int	 proto_recv(struct proto_conn *, struct proto_msg *, int timeout_ms,
	    char **errmsg);

/* Decode one frame without its newline. */
int	 proto_decode(const char *line, size_t len, struct proto_msg *,
	    char **errmsg);

/* A new message of that type holding "v" and "type".  Caller frees (cJSON_Delete). */
cJSON	*proto_new(enum proto_type);

/*
 * Validate msg against its type's table (a bug in the sender fails here,
 * not in the peer), encode it and write it whole, waiting for a
 * non-blocking socket to drain.  Returns 0, or -1 with *errmsg (caller frees).
 */
int	 proto_send(int fd, const cJSON *msg, char **errmsg);

/*
 * msg as one line of JSON, without the newline: what cJSON_PrintUnformatted
 * prints, byte for byte.  *len is its length; the buffer has room for one
 * more byte after the NUL-terminated text.  Caller frees.
 */
char	*proto_encode(const cJSON *msg, size_t *len);

/* Typed access to a validated message's members; absent or null gives NULL / def. */
const char	*proto_str(const struct proto_msg *, const char *name);
int64_t		 proto_int(const struct proto_msg *, const char *name, int64_t def);
const cJSON	*proto_get(const struct proto_msg *, const char *name);

void	 proto_msg_release(struct proto_msg *);

#endif
