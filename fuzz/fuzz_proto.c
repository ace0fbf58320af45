/*
 * libFuzzer target: the protocol's framing and decoder.  The input is what
 * a peer writes on its socket: it goes through a pipe into proto_conn_fill
 * and proto_next in chunks, as a slow writer would send it.  Every message
 * decoded is re-encoded and must decode again to the same type.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHUNK	4096	/* less than a pipe holds */

/* The accessors a receiver uses on every member of a valid message. */
static void
touch(const struct proto_msg *msg)
{
	const cJSON	*it;
	struct proto_msg copy;
	char		*text, *err = NULL;

	cJSON_ArrayForEach(it, msg->json) {
		(void)proto_str(msg, it->string);
		(void)proto_int(msg, it->string, -1);
		(void)proto_get(msg, it->string);
	}
	if ((text = cJSON_PrintUnformatted(msg->json)) == NULL)
		abort();
	/* A frame that fits after re-encoding must decode the same way. */
	if (strlen(text) < PROTO_MAX_FRAME) {
		if (proto_decode(text, strlen(text), &copy, &err) != 0 ||
		    copy.type != msg->type)
			abort();
		proto_msg_release(&copy);
	}
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_conn	conn;
	struct proto_msg	msg;
	char			*err = NULL;
	size_t			 off = 0, n;
	ssize_t			 got;
	int			 fds[2], r;

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1)
		abort();
	proto_conn_init(&conn, fds[0]);
	for (;;) {
		/* The reader drains the pipe below, so a chunk always fits. */
		if (off < size) {
			n = size - off < CHUNK ? size - off : CHUNK;
			if (write(fds[1], data + off, n) != (ssize_t)n)
				abort();
			off += n;
		} else if (fds[1] != -1) {
			close(fds[1]);
			fds[1] = -1;
		}
		for (;;) {
			while ((r = proto_next(&conn, &msg, &err)) == 1) {
				touch(&msg);
				proto_msg_release(&msg);
			}
			if (r == -1)
				goto out;
			if ((got = proto_conn_fill(&conn)) > 0)
				continue;
			if (got == 0) {
				/* A partial frame left at end of file fails. */
				if (proto_next(&conn, &msg, &err) == 1)
					abort();
				goto out;
			}
			if (errno == EAGAIN)
				break;
			abort();	/* ENOBUFS: proto_next left it full */
		}
	}
out:
	free(err);
	if (fds[1] != -1)
		close(fds[1]);
	proto_conn_release(&conn);
	return 0;
}
