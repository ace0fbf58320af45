/*
 * The control socket (control.c serves it, cmd_control.c is its client):
 * .ktx/run/supervisor.sock in the project, in the framing and with the
 * messages of ktx-supervisor-protocol(7).
 */
#ifndef KTX_CONTROL_H
#define KTX_CONTROL_H

#include <sys/queue.h>
#include <sys/un.h>

#include <poll.h>
#include <stddef.h>

/* Relative to the project directory. */
#define CONTROL_SOCKET		".ktx/run/supervisor.sock"
/* Control connections served at once; more are turned away. */
#define CONTROL_MAX_CLIENTS	16

struct run;
struct control_client;

/* The listening socket and its clients.  Safe to close when zeroed. */
struct control {
	int					 fd;	/* -1: not listening */
	char					*path;
	int					 bound;	/* ours to unlink */
	TAILQ_HEAD(, control_client)		 clients;
	size_t					 nclients;
};

/*
 * The address of the project's control socket.  A path too long for
 * sun_path is reached through /proc/self/fd and a descriptor of its
 * directory, left in *dirfd for the caller to close after bind or
 * connect (-1 when none was needed).  Returns 0, or -1 with *errmsg
 * (caller frees) and errno (ENOENT: the project has no .ktx/run).
 */
int	 control_address(const char *project_dir, struct sockaddr_un *,
	    int *dirfd, char **errmsg);

/*
 * Listen on the project's control socket.  Call only while holding the
 * pidfile lock: a socket file already there is then a dead supervisor's,
 * and is replaced.  Returns 0, or -1 with *errmsg (caller frees).
 */
int	 control_open(struct control *, const char *project_dir, char **errmsg);
/* Hang up on every client, stop listening, remove the socket. */
void	 control_close(struct control *);

/* The listener and the clients to poll, written to pfd (room for
 * 1 + CONTROL_MAX_CLIENTS + 1); returns how many. */
size_t	 control_pollfds(const struct control *, struct pollfd *pfd);
/* Accept, read and answer what those pollfds report. */
void	 control_dispatch(struct control *, struct run *,
	    const struct pollfd *pfd, size_t n);

#endif
