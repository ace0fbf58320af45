/*
 * Secret references (ktx.yaml(5)): "env:NAME" is the value of the
 * worker's environment variable NAME, "file:PATH" the contents of the file
 * PATH (one final newline dropped).  They are resolved here, in the
 * worker, once per target; messages name the field and the variable or
 * file, never a value, and every value resolved is redacted from what an
 * adapter prints before it reaches a trace or a result.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

/* The largest secret file read. */
#define SECRET_FILE_MAX		(64 * 1024)
#define REDACTED		"(secret)"

/* Read a secret file into *out.  what names the field for messages. */
static int
read_secret_file(const char *path, const char *conn, const char *what,
    char **out, char **errmsg)
{
	struct stat	 st;
	char		*buf = NULL;
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		xasprintf(errmsg, "connection \"%s\": cannot read the secret "
		    "file \"%s\" of %s: %s", conn, path, what, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SECRET_FILE_MAX) {
		xasprintf(errmsg, "connection \"%s\": the secret file \"%s\" of "
		    "%s is not a regular file of at most %d bytes", conn, path,
		    what, SECRET_FILE_MAX);
		goto out;
	}
	buf = xmalloc(SECRET_FILE_MAX + 1);
	while (len <= SECRET_FILE_MAX &&
	    (n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(errmsg, "connection \"%s\": cannot read the "
			    "secret file \"%s\" of %s: %s", conn, path, what,
			    strerror(errno));
			goto out;
		}
		len += n;
	}
	if (len > SECRET_FILE_MAX || memchr(buf, '\0', len) != NULL) {
		xasprintf(errmsg, "connection \"%s\": the secret file \"%s\" of "
		    "%s is not text of at most %d bytes", conn, path, what,
		    SECRET_FILE_MAX);
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0) {
		xasprintf(errmsg, "connection \"%s\": the secret file \"%s\" of "
		    "%s is empty", conn, path, what);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	free(buf);
	return rc;
}

/*
 * Resolve ref if it is a reference: 1 with the value in *out (caller
 * frees), 0 when ref is a plain value, -1 with *errmsg.
 */
static int
resolve(const char *ref, const char *relative_to, const char *conn,
    const char *what, char **out, char **errmsg)
{
	const char	*v;
	char		*path;
	int		 rc;

	if (strncmp(ref, "env:", 4) == 0) {
		if ((v = getenv(ref + 4)) == NULL || *v == '\0') {
			xasprintf(errmsg, "connection \"%s\": %s names the "
			    "environment variable \"%s\", which is not set",
			    conn, what, ref + 4);
			return -1;
		}
		*out = xstrdup(v);
		return 1;
	}
	if (strncmp(ref, "file:", 5) != 0)
		return 0;
	if (ref[5] == '/')
		path = xstrdup(ref + 5);
	else
		xasprintf(&path, "%s/%s", relative_to, ref + 5);
	rc = read_secret_file(path, conn, what, out, errmsg);
	free(path);
	return rc == 0 ? 1 : -1;
}

/* Resolve one field of the connection in place. */
static int
resolve_field(char **field, const char *relative_to, const char *conn,
    const char *name, struct secrets *s, char **errmsg)
{
	char	*what, *value;
	int	 rc;

	if (*field == NULL)
		return 0;
	xasprintf(&what, "\"%s\"", name);
	rc = resolve(*field, relative_to, conn, what, &value, errmsg);
	free(what);
	if (rc == 1) {
		strv_push(&s->values, value);
		free(*field);
		*field = value;
	}
	return rc == -1 ? -1 : 0;
}

int
secrets_resolve(struct ktx_connection *c, const char *relative_to,
    struct secrets *s, char **errmsg)
{
	const char	*decl, *eq;
	char		*name, *what, *value, *entry;
	size_t		 i;
	int		 rc;

	memset(s, 0, sizeof(*s));
	if (resolve_field(&c->url, relative_to, c->id, "url", s,
	    errmsg) == -1 ||
	    resolve_field(&c->path, relative_to, c->id, "path", s,
	    errmsg) == -1)
		return -1;
	for (i = 0; i < c->adapter_secrets.n; i++) {
		decl = c->adapter_secrets.v[i];
		if ((eq = strchr(decl, '=')) == NULL) {
			xasprintf(errmsg, "connection \"%s\": adapter secret "
			    "%zu is not NAME=reference", c->id, i + 1);
			return -1;
		}
		name = xstrndup(decl, eq - decl);
		xasprintf(&what, "\"adapter.secrets.%s\"", name);
		rc = resolve(eq + 1, relative_to, c->id, what, &value, errmsg);
		free(what);
		if (rc == 0)
			xasprintf(errmsg, "connection \"%s\": "
			    "\"adapter.secrets.%s\" is not a reference", c->id,
			    name);
		if (rc != 1) {
			free(name);
			return -1;
		}
		xasprintf(&entry, "%s=%s", name, value);
		strv_push_owned(&s->env, entry);
		strv_push_owned(&s->values, value);
		free(name);
	}
	return 0;
}

/* The length of the longest value that text starts with, 0 for none. */
static size_t
value_at(const struct secrets *s, const char *text)
{
	size_t	i, vlen, best = 0;

	for (i = 0; i < s->values.n; i++) {
		vlen = strlen(s->values.v[i]);
		if (vlen > best && strncmp(text, s->values.v[i], vlen) == 0)
			best = vlen;
	}
	return best;
}

char *
secrets_redact(const struct secrets *s, const char *text)
{
	const char	*p;
	char		*out, *o;
	size_t		 n, marks = 0, mark = strlen(REDACTED);

	/* One pass: a mark is never searched again for another value. */
	for (p = text; *p != '\0'; p += n > 0 ? n : 1)
		marks += (n = value_at(s, p)) > 0;
	o = out = xmalloc(strlen(text) + marks * mark + 1);
	for (p = text; *p != '\0';) {
		if ((n = value_at(s, p)) > 0) {
			memcpy(o, REDACTED, mark);
			o += mark;
			p += n;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

void
secrets_release(struct secrets *s)
{
	size_t	i;

	/* The values do not outlive the target in freed memory. */
	for (i = 0; i < s->values.n; i++)
		explicit_bzero(s->values.v[i], strlen(s->values.v[i]));
	for (i = 0; i < s->env.n; i++)
		explicit_bzero(s->env.v[i], strlen(s->env.v[i]));
	strv_release(&s->values);
	strv_release(&s->env);
}
