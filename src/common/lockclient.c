#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lockclient.h"
#include "util.h"

/* One connection per worker process: ids unique in the process will do. */
static int64_t	next_id;

int
lock_acquire(struct proto_conn *conn, struct lock_request *req,
    const char *lock, const char *purpose, char **errmsg)
{
	cJSON	*msg;
	int	 rc;

	*errmsg = NULL;
	if (req->state != LOCK_NONE) {
		xasprintf(errmsg, "acquire of \"%s\": this request is still %s",
		    lock, req->state == LOCK_HELD ? "held" : "waiting");
		errno = EINVAL;
		return -1;
	}
	if (strlen(lock) >= sizeof(req->lock)) {
		xasprintf(errmsg, "lock name \"%s\" is longer than %d bytes",
		    lock, PROTO_MAX_LOCK_NAME);
		errno = EINVAL;
		return -1;
	}
	msg = proto_new(PROTO_ACQUIRE);
	cJSON_AddStringToObject(msg, "lock", lock);
	cJSON_AddStringToObject(msg, "purpose", purpose);
	cJSON_AddNumberToObject(msg, "id", (double)next_id);
	rc = proto_send(conn->fd, msg, errmsg);
	cJSON_Delete(msg);
	if (rc != 0) {
		errno = EPIPE;
		return -1;
	}
	strlcpy(req->lock, lock, sizeof(req->lock));
	req->id = next_id++;
	req->waited_ms = 0;
	req->state = LOCK_WAITING;
	return lock_wait(conn, req, errmsg);
}

int
lock_wait(struct proto_conn *conn, struct lock_request *req, char **errmsg)
{
	struct proto_msg	 msg;
	const char		*lock;
	int			 rc, ret = -1;

	*errmsg = NULL;
	if (req->state != LOCK_WAITING) {
		xasprintf(errmsg, "wait for \"%s\": nothing was asked for",
		    req->lock);
		errno = EINVAL;
		return -1;
	}
	/* proto_recv leaves errno alone when it rejects a frame. */
	errno = EPROTO;
	rc = proto_recv(conn, &msg, -1, errmsg);
	if (rc == -1 && errno != ECONNRESET)
		return -1;
	/* A supervisor that died with our bytes unread resets the connection. */
	if (rc != 1) {
		free(*errmsg);
		*errmsg = NULL;
		xasprintf(errmsg, "the supervisor closed the connection while "
		    "\"%s\" was asked for", req->lock);
		errno = EPIPE;
		return -1;
	}
	lock = proto_str(&msg, "lock");
	if (msg.type == PROTO_ERROR)
		xasprintf(errmsg, "the supervisor refused \"%s\": %s: %s",
		    req->lock, proto_str(&msg, "code"),
		    proto_str(&msg, "message"));
	else if (msg.type != PROTO_GRANTED)
		xasprintf(errmsg, "expected \"granted\" for \"%s\", got \"%s\"",
		    req->lock, proto_type_name(msg.type));
	else if (strcmp(lock, req->lock) != 0 ||
	    proto_int(&msg, "id", -1) != req->id)
		xasprintf(errmsg, "expected \"granted\" for \"%s\" request "
		    "%lld, got it for \"%s\" request %lld", req->lock,
		    (long long)req->id, lock,
		    (long long)proto_int(&msg, "id", -1));
	else {
		req->waited_ms = proto_int(&msg, "waited_ms", 0);
		req->state = LOCK_HELD;
		ret = 0;
	}
	proto_msg_release(&msg);
	if (ret != 0)
		errno = EPROTO;
	return ret;
}

int
lock_release(struct proto_conn *conn, struct lock_request *req, char **errmsg)
{
	cJSON	*msg;
	int	 rc;

	*errmsg = NULL;
	if (req->state != LOCK_HELD) {
		xasprintf(errmsg, "release of \"%s\", which is not held",
		    req->lock);
		errno = EINVAL;
		return -1;
	}
	msg = proto_new(PROTO_RELEASE);
	cJSON_AddStringToObject(msg, "lock", req->lock);
	cJSON_AddNumberToObject(msg, "id", (double)req->id);
	rc = proto_send(conn->fd, msg, errmsg);
	cJSON_Delete(msg);
	req->state = LOCK_NONE;
	if (rc != 0) {
		errno = EPIPE;
		return -1;
	}
	return 0;
}
