/*
 * One supervisor per project: .ktx/run/supervisor.pid, held with flock for
 * the whole run.  The lock, not the file, says a supervisor runs: it goes
 * with the process however that ends.  The file is emptied at the end and
 * never unlinked, so two supervisors can never lock two different files.
 */
#include "config.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "util.h"

static int
ensure_dir(const char *path, mode_t mode, char **errmsg)
{
	struct stat	st;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (errno == EEXIST)
		errno = ENOTDIR;
	xasprintf(errmsg, "cannot create \"%s\": %s", path, strerror(errno));
	return -1;
}

/* The pid written in the file, 0 if none can be read. */
static pid_t
read_pid(int fd)
{
	char	buf[32];
	ssize_t	n;
	long	pid;
	char	*end;

	if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || pid <= 0)
		return 0;
	return (pid_t)pid;
}

int
pidfile_acquire(const char *project_dir, pid_t *holder, char **errmsg)
{
	char	*ktx, *dir, *path;
	char	 buf[32];
	int	 fd = -1, len;

	*errmsg = NULL;
	*holder = 0;
	xasprintf(&ktx, "%s/.ktx", project_dir);
	xasprintf(&dir, "%s/run", ktx);
	xasprintf(&path, "%s/supervisor.pid", dir);
	if (ensure_dir(ktx, 0755, errmsg) == -1 ||
	    ensure_dir(dir, 0700, errmsg) == -1)
		goto out;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) == -1) {
		xasprintf(errmsg, "cannot open \"%s\": %s", path, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			*holder = read_pid(fd);
			close(fd);
			fd = -2;
			goto out;
		}
		xasprintf(errmsg, "cannot lock \"%s\": %s", path, strerror(errno));
		close(fd);
		fd = -1;
		goto out;
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, len, 0) != len) {
		xasprintf(errmsg, "cannot write \"%s\": %s", path, strerror(errno));
		close(fd);
		fd = -1;
	}
out:
	free(ktx);
	free(dir);
	free(path);
	return fd;
}

void
pidfile_release(int fd)
{
	if (fd < 0)
		return;
	if (ftruncate(fd, 0) == -1)
		log_warn("truncate the pidfile");
	close(fd);
}

int
pidfile_probe(const char *project_dir, pid_t *pid, char **errmsg)
{
	char	*path;
	int	 fd, rc = -1;

	*errmsg = NULL;
	*pid = 0;
	xasprintf(&path, "%s/.ktx/run/supervisor.pid", project_dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno == ENOENT)
			rc = 0;
		else
			xasprintf(errmsg, "cannot open \"%s\": %s", path,
			    strerror(errno));
		goto out;
	}
	*pid = read_pid(fd);
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		rc = 0;
	else if (errno == EWOULDBLOCK)
		rc = 1;
	else
		xasprintf(errmsg, "cannot lock \"%s\": %s", path,
		    strerror(errno));
	close(fd);
out:
	free(path);
	return rc;
}
