/*
 * The control socket, .ktx/run/supervisor.sock: status, pause, resume,
 * drain and abort for an operator's "ktx-supervisor status|pause|..."
 * (cmd_control.c), in the protocol's framing.  The directory is 0700, the
 * socket 0600, and each peer must be our own uid or root (getpeereid).
 * Every request gets one reply; bad input gets an error reply and the
 * connection is closed, and nothing a client does reaches the run but the
 * five requests.
 */
#include "config.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <linux/sockios.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "engine.h"
#include "log.h"
#include "proto.h"
#include "util.h"

struct control_client {
	struct proto_conn		conn;
	uid_t				uid;
	TAILQ_ENTRY(control_client)	entry;
};

int
control_address(const char *project_dir, struct sockaddr_un *sun, int *dirfd,
    char **errmsg)
{
	char	*path;
	int	 rc = -1, saved;

	*dirfd = -1;
	*errmsg = NULL;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	xasprintf(&path, "%s/" CONTROL_SOCKET, project_dir);
	if (strlen(path) < sizeof(sun->sun_path)) {
		strlcpy(sun->sun_path, path, sizeof(sun->sun_path));
		rc = 0;
		goto out;
	}
	/* Too long for sun_path: reach the directory through its fd. */
	free(path);
	xasprintf(&path, "%s/.ktx/run", project_dir);
	if ((*dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		saved = errno;
		xasprintf(errmsg, "cannot open \"%s\": %s", path,
		    strerror(saved));
		errno = saved;
		goto out;
	}
	snprintf(sun->sun_path, sizeof(sun->sun_path), "/proc/self/fd/%d/%s",
	    *dirfd, strrchr(CONTROL_SOCKET, '/') + 1);
	rc = 0;
out:
	free(path);
	return rc;
}

/* .ktx/run must be a directory of ours that nobody else can enter. */
static int
check_run_dir(const char *dir, char **errmsg)
{
	struct stat	st;
	int		fd, rc = -1;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		xasprintf(errmsg, "cannot open \"%s\": %s", dir,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1)
		xasprintf(errmsg, "cannot stat \"%s\": %s", dir,
		    strerror(errno));
	else if (st.st_uid != geteuid())
		xasprintf(errmsg, "\"%s\" belongs to uid %u, not to uid %u",
		    dir, (unsigned)st.st_uid, (unsigned)geteuid());
	else if ((st.st_mode & 077) != 0 && fchmod(fd, 0700) == -1)
		xasprintf(errmsg, "cannot make \"%s\" private: %s", dir,
		    strerror(errno));
	else
		rc = 0;
	close(fd);
	return rc;
}

int
control_open(struct control *c, const char *project_dir, char **errmsg)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	char			*dir;
	mode_t			 old;
	int			 dirfd = -1, rc = -1;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	TAILQ_INIT(&c->clients);
	*errmsg = NULL;
	xasprintf(&dir, "%s/.ktx/run", project_dir);
	xasprintf(&c->path, "%s/" CONTROL_SOCKET, project_dir);
	if (check_run_dir(dir, errmsg) == -1)
		goto out;
	/* We hold the pidfile lock: a socket left there is a dead one's. */
	if (lstat(c->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			xasprintf(errmsg, "\"%s\" exists and is not a socket",
			    c->path);
			goto out;
		}
		if (unlink(c->path) == -1) {
			xasprintf(errmsg, "cannot remove the stale socket "
			    "\"%s\": %s", c->path, strerror(errno));
			goto out;
		}
		log_debug("removed the stale control socket \"%s\"", c->path);
	}
	if (control_address(project_dir, &sun, &dirfd, errmsg) == -1)
		goto out;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		xasprintf(errmsg, "socket: %s", strerror(errno));
		goto out;
	}
	/* Born 0600: no window in which another user could connect. */
	old = umask(0177);
	rc = bind(c->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1 || listen(c->fd, 16) == -1) {
		xasprintf(errmsg, "cannot listen on \"%s\": %s", c->path,
		    strerror(errno));
		rc = -1;
		goto out;
	}
	c->bound = 1;
	rc = 0;
out:
	if (dirfd != -1)
		close(dirfd);
	free(dir);
	if (rc == -1)
		control_close(c);
	return rc;
}

static void
client_close(struct control *c, struct control_client *cl)
{
	TAILQ_REMOVE(&c->clients, cl, entry);
	c->nclients--;
	proto_conn_release(&cl->conn);
	free(cl);
}

void
control_close(struct control *c)
{
	struct control_client	*cl;

	while ((cl = TAILQ_FIRST(&c->clients)) != NULL)
		client_close(c, cl);
	if (c->fd != -1)
		close(c->fd);
	if (c->bound && unlink(c->path) == -1 && errno != ENOENT)
		log_warn("cannot remove \"%s\"", c->path);
	free(c->path);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	TAILQ_INIT(&c->clients);
}

size_t
control_pollfds(const struct control *c, struct pollfd *pfd)
{
	const struct control_client	*cl;
	size_t				 n = 0;

	if (c->fd == -1)
		return 0;
	pfd[n].fd = c->fd;
	pfd[n++].events = POLLIN;
	TAILQ_FOREACH(cl, &c->clients, entry) {
		pfd[n].fd = cl->conn.fd;
		pfd[n++].events = POLLIN;
	}
	return n;
}

/* Send msg to the client; whether it went. */
static int
reply(struct control_client *cl, const cJSON *msg)
{
	char	*errmsg;
	int	 pending;

	/*
	 * A client that does not read its replies must not make us wait:
	 * one reply always fits in the socket buffer, so more than a frame
	 * unread means it is not reading.
	 */
	if (ioctl(cl->conn.fd, SIOCOUTQ, &pending) == 0 &&
	    pending > PROTO_MAX_FRAME) {
		log_warnx("control: dropping a client that does not read");
		return 0;
	}
	if (proto_send(cl->conn.fd, msg, &errmsg) != 0) {
		log_warnx("control: %s", errmsg);
		free(errmsg);
		return 0;
	}
	return 1;
}

static int
reply_error(struct control_client *cl, const char *code, const char *message)
{
	cJSON	*msg = proto_new(PROTO_ERROR);
	int	 ok;

	cJSON_AddStringToObject(msg, "code", code);
	cJSON_AddStringToObject(msg, "message", message);
	ok = reply(cl, msg);
	cJSON_Delete(msg);
	return ok;
}

static int
reply_ok(struct control_client *cl, const char *message)
{
	cJSON	*msg = proto_new(PROTO_OK);
	int	 ok;

	cJSON_AddStringToObject(msg, "message", message);
	ok = reply(cl, msg);
	cJSON_Delete(msg);
	return ok;
}

static void
accept_client(struct control *c)
{
	struct control_client	*cl;
	uid_t			 uid;
	gid_t			 gid;
	char			*why;
	int			 fd;

	fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("control: accept");
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	proto_conn_init(&cl->conn, fd);
	TAILQ_INSERT_TAIL(&c->clients, cl, entry);
	c->nclients++;
	if (getpeereid(fd, &uid, &gid) == -1) {
		log_warn("control: getpeereid");
		client_close(c, cl);
		return;
	}
	cl->uid = uid;
	if (uid != geteuid() && uid != 0) {
		xasprintf(&why, "uid %u may not control this supervisor, which "
		    "runs as uid %u", (unsigned)uid, (unsigned)geteuid());
		log_warnx("control: refused a client: %s", why);
		reply_error(cl, "permission", why);
		free(why);
		client_close(c, cl);
		return;
	}
	if (c->nclients > CONTROL_MAX_CLIENTS) {
		/*
		 * The oldest gives way, not the newcomer: clients that
		 * connect and sit cannot lock an operator out.
		 */
		cl = TAILQ_FIRST(&c->clients);
		log_debug("control: too many clients, closing the oldest");
		reply_error(cl, "busy", "too many control connections; the "
		    "oldest is closed");
		client_close(c, cl);
	}
}

/* Carry out one request; whether the client may go on. */
static int
handle_request(struct run *r, struct control_client *cl,
    const struct proto_msg *msg)
{
	cJSON	*snap;
	char	*text;
	int	 ok;

	switch (msg->type) {
	case PROTO_STATUS:
		snap = status_snapshot(r);
		text = cJSON_PrintUnformatted(snap);
		if (text != NULL && strlen(text) < PROTO_MAX_FRAME)
			ok = reply(cl, snap);
		else {
			free(text);
			xasprintf(&text, "the status of %zu targets does not "
			    "fit in a frame of %d bytes", r->ntargets,
			    PROTO_MAX_FRAME);
			ok = reply_error(cl, "too-large", text);
		}
		free(text);
		cJSON_Delete(snap);
		return ok;
	case PROTO_PAUSE:
		if (r->frozen)
			return reply_ok(cl, "already paused");
		run_freeze(r);
		xasprintf(&text, "paused: %zu workers stopped, nothing new "
		    "starts; resume continues", r->nrunning);
		break;
	case PROTO_RESUME:
		if (!r->frozen)
			return reply_ok(cl, "not paused");
		run_thaw(r);
		xasprintf(&text, "resumed: %zu workers continue", r->nrunning);
		break;
	case PROTO_DRAIN:
		run_drain(r, "\"ktx-supervisor drain\"");
		xasprintf(&text, "draining: %zu running targets finish, %zu "
		    "queued are not run", r->nrunning, r->ntargets - r->next);
		break;
	case PROTO_ABORT:
		if (r->escalated)
			return reply_ok(cl, "already killing every worker");
		run_abort(r, SIGTERM);
		if (r->escalated)
			xasprintf(&text, "killing %zu running targets now",
			    r->nrunning);
		else
			xasprintf(&text, "aborting %zu running targets (grace "
			    "%lld s; abort again to kill them now)",
			    r->nrunning, (long long)(r->grace_ms / 1000));
		break;
	default:
		xasprintf(&text, "\"%s\" is not a control request",
		    proto_type_name(msg->type));
		reply_error(cl, "unexpected", text);
		free(text);
		return 0;
	}
	log_info("control: %s", text);
	ok = reply_ok(cl, text);
	free(text);
	return ok;
}

/* Read and answer what the client sent; whether to keep it. */
static int
read_client(struct run *r, struct control_client *cl)
{
	struct proto_msg	 msg;
	char			*errmsg;
	ssize_t			 n;
	int			 rc, keep, err;

	for (;;) {
		n = proto_conn_fill(&cl->conn);
		err = errno;
		while ((rc = proto_next(&cl->conn, &msg, &errmsg)) != 0) {
			if (rc == -1) {
				log_warnx("control: bad request: %s", errmsg);
				reply_error(cl, "bad-message", errmsg);
				free(errmsg);
				return 0;
			}
			keep = handle_request(r, cl, &msg);
			proto_msg_release(&msg);
			if (!keep)
				return 0;
		}
		if (n == -1 && (err == EAGAIN || err == EINTR))
			return 1;
		if (n <= 0)
			return 0;
	}
}

void
control_dispatch(struct control *c, struct run *r, const struct pollfd *pfd,
    size_t n)
{
	struct control_client	*cl, *next;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		if (pfd[i].fd == c->fd) {
			accept_client(c);
			continue;
		}
		TAILQ_FOREACH_SAFE(cl, &c->clients, entry, next)
			if (cl->conn.fd == pfd[i].fd && !read_client(r, cl))
				client_close(c, cl);
	}
}
