#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "util.h"

/* How long proto_send waits for a full socket to drain. */
#define PROTO_SEND_TIMEOUT_MS	10000
/* Bounds of lists inside a message (adapter argv, enabled tables). */
#define PROTO_MAX_LIST		4096

/* The largest integer a JSON number carries exactly (2^53 - 1). */
#define JSON_INT_MAX		9007199254740991LL

enum field_type {
	F_STRING,
	F_INT,
	F_BOOL,
	F_STRINGS,	/* an array of strings */
	F_OBJECT,
	F_OBJECTS	/* an array of objects */
};

/*
 * One member of a message or of an object inside one.  Every member is
 * required; a nullable one may be null.  min/max bound an integer's value,
 * a string's length in bytes and a list's number of items.  A string may
 * also have to pass syntax, which says what it expects when it fails.
 */
struct field {
	const char		*name;
	enum field_type		 type;
	int			 nullable;
	int64_t			 min, max;
	const char *const	*values;	/* F_STRING: the allowed values */
	const struct field	*fields;	/* F_OBJECT(S): their members */
	const char		*(*syntax)(const char *);
};

/* Members left out of an initializer are 0 and NULL. */
#define STR(n, lo)	{ .name = n, .type = F_STRING, .min = lo, \
			  .max = PROTO_MAX_FRAME }
#define STR_NULL(n)	{ .name = n, .type = F_STRING, .nullable = 1, \
			  .max = PROTO_MAX_FRAME }
#define STR_SYNTAX(n, lo, hi, f) { .name = n, .type = F_STRING, .min = lo, \
			  .max = hi, .syntax = f }
#define ENUM(n, v)	{ .name = n, .type = F_STRING, \
			  .max = PROTO_MAX_FRAME, .values = v }
#define ENUM_NULL(n, v)	{ .name = n, .type = F_STRING, .nullable = 1, \
			  .max = PROTO_MAX_FRAME, .values = v }
#define INT(n, lo, hi)	{ .name = n, .type = F_INT, .min = lo, .max = hi }
#define INT_NULL(n, lo, hi) { .name = n, .type = F_INT, .nullable = 1, \
			  .min = lo, .max = hi }
#define BOOL(n)		{ .name = n, .type = F_BOOL }
#define STRS(n)		{ .name = n, .type = F_STRINGS, \
			  .max = PROTO_MAX_LIST }
#define OBJ(n, f)	{ .name = n, .type = F_OBJECT, .fields = f }
#define OBJ_NULL(n, f)	{ .name = n, .type = F_OBJECT, .nullable = 1, \
			  .fields = f }
#define OBJS(n, f)	{ .name = n, .type = F_OBJECTS, .max = PROTO_MAX_LIST, \
			  .fields = f }
#define END		{ .name = NULL }

static const char *const kinds[] = { "database", "source", NULL };
static const char *const statuses[] = {
	"done", "failed", "conflict", "timeout", "aborted", NULL
};

static const struct field hello_fields[] = {
	STR("target", 1),
	INT("pid", 1, INT_MAX),
	END
};

static const struct field adapter_fields[] = {
	STRS("command"),
	INT("timeout", 0, INT_MAX),
	STRS("secrets"),	/* "NAME=env:VAR" / "NAME=file:PATH" */
	END
};

static const struct field author_fields[] = {
	STR("name", 1),
	STR("email", 1),
	END
};

static const struct field connection_fields[] = {
	STR("id", 1),
	STR("driver", 1),
	ENUM("kind", kinds),
	STR_NULL("path"),
	STR_NULL("url"),
	STR_NULL("source_dir"),
	STR_NULL("mappings_connection"),
	STR_NULL("remote_input"),
	STRS("enabled_tables"),
	OBJ("adapter", adapter_fields),
	END
};

static const struct field assign_fields[] = {
	STR("target", 1),
	STR("run_id", 1),
	STR("job_id", 1),
	STR("project_dir", 1),
	INT("grace", 0, INT_MAX),
	OBJ("author", author_fields),
	STRS("warehouses"),	/* the database connections' ids */
	OBJ("connection", connection_fields),
	END
};

static const struct field session_fields[] = {
	STR("path", 1),
	STR("branch", 1),
	STR("base", 40),
	END
};

static const struct field spawned_fields[] = {
	INT("pgid", 2, INT_MAX),
	END
};

static const struct field progress_fields[] = {
	STR("phase", 1),
	INT_NULL("percent", 0, 100),
	STR("message", 0),
	END
};

static const struct field result_fields[] = {
	ENUM("status", statuses),
	STR_NULL("detail"),
	INT_NULL("exit_code", 0, 255),
	INT_NULL("signal", 1, 64),
	STR_NULL("commit"),
	STR_NULL("trace"),
	STR_NULL("worktree"),
	END
};

static const struct field error_fields[] = {
	STR("code", 1),
	STR("message", 0),
	END
};

/* A lock name: a class, a colon and a name, as in "config:repo". */
static const char *
lock_name_syntax(const char *s)
{
	const char	*colon = strchr(s, ':');
	const char	*p;

	if (colon == NULL || colon == s || colon[1] == '\0')
		goto bad;
	for (p = s; p < colon; p++)
		if (*p < 'a' || *p > 'z')
			goto bad;
	for (p = colon + 1; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '_' || *p == '-'))
			goto bad;
	return NULL;
bad:
	return "a lock name such as \"config:repo\"";
}

/* Printable ASCII: what a purpose is shown as in status and logs. */
static const char *
printable_syntax(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return "printable ASCII";
	return NULL;
}

#define LOCK_NAME(n)	STR_SYNTAX(n, 3, PROTO_MAX_LOCK_NAME, lock_name_syntax)
#define PURPOSE(n)	STR_SYNTAX(n, 1, PROTO_MAX_PURPOSE, printable_syntax)
#define REQUEST_ID(n)	INT(n, 0, INT32_MAX)
#define MILLIS(n)	INT(n, 0, JSON_INT_MAX)

static const struct field acquire_fields[] = {
	LOCK_NAME("lock"),
	PURPOSE("purpose"),
	REQUEST_ID("id"),
	END
};

static const struct field granted_fields[] = {
	LOCK_NAME("lock"),
	REQUEST_ID("id"),
	MILLIS("waited_ms"),
	END
};

static const struct field release_fields[] = {
	LOCK_NAME("lock"),
	REQUEST_ID("id"),
	END
};

/* The control requests carry nothing but their type. */
static const struct field no_fields[] = {
	END
};

static const struct field ok_fields[] = {
	STR("message", 0),
	END
};

static const char *const target_states[] = {
	"queued", "running", "stopping", "stopped", "finished", NULL
};
static const char *const final_statuses[] = {
	"done", "failed", "conflict", "timeout", "aborted", "not-run",
	"skipped", NULL
};

static const struct field snapshot_target_fields[] = {
	STR("target", 1),
	INT("stage", 1, 2),
	ENUM("state", target_states),
	ENUM_NULL("status", final_statuses),
	STR_NULL("phase"),
	INT_NULL("percent", 0, 100),
	INT_NULL("pid", 1, INT_MAX),
	INT_NULL("elapsed_ms", 0, JSON_INT_MAX),
	END
};

static const struct field snapshot_holder_fields[] = {
	STR("target", 1),
	REQUEST_ID("id"),
	PURPOSE("purpose"),
	MILLIS("held_ms"),
	END
};

static const struct field snapshot_waiter_fields[] = {
	STR("target", 1),
	REQUEST_ID("id"),
	PURPOSE("purpose"),
	MILLIS("waited_ms"),
	END
};

static const struct field snapshot_lock_fields[] = {
	LOCK_NAME("lock"),
	OBJ_NULL("holder", snapshot_holder_fields),
	OBJS("waiters", snapshot_waiter_fields),
	END
};

static const struct field snapshot_fields[] = {
	STR("run_id", 1),
	INT("pid", 1, INT_MAX),
	BOOL("paused"),
	BOOL("draining"),
	BOOL("aborting"),
	OBJS("targets", snapshot_target_fields),
	OBJS("locks", snapshot_lock_fields),
	END
};

static const struct {
	const char		*name;
	const struct field	*fields;
} types[PROTO_NTYPES] = {
	[PROTO_HELLO] =		{ "hello", hello_fields },
	[PROTO_ASSIGN] =	{ "assign", assign_fields },
	[PROTO_SPAWNED] =	{ "spawned", spawned_fields },
	[PROTO_PROGRESS] =	{ "progress", progress_fields },
	[PROTO_RESULT] =	{ "result", result_fields },
	[PROTO_ERROR] =		{ "error", error_fields },
	[PROTO_ACQUIRE] =	{ "acquire", acquire_fields },
	[PROTO_GRANTED] =	{ "granted", granted_fields },
	[PROTO_RELEASE] =	{ "release", release_fields },
	[PROTO_STATUS] =	{ "status", no_fields },
	[PROTO_PAUSE] =		{ "pause", no_fields },
	[PROTO_RESUME] =	{ "resume", no_fields },
	[PROTO_DRAIN] =		{ "drain", no_fields },
	[PROTO_ABORT] =		{ "abort", no_fields },
	[PROTO_OK] =		{ "ok", ok_fields },
	[PROTO_SNAPSHOT] =	{ "snapshot", snapshot_fields },
	[PROTO_SESSION] =	{ "session", session_fields },
};

const char *
proto_type_name(enum proto_type type)
{
	return types[type].name;
}

static int
lookup_type(const char *name)
{
	int	i;

	for (i = 0; i < PROTO_NTYPES; i++)
		if (strcmp(types[i].name, name) == 0)
			return i;
	return -1;
}

/* The integer in item, if it is one within [min, max]. */
static int
int_in_range(const cJSON *item, int64_t min, int64_t max, int64_t *out)
{
	double	d;

	if (!cJSON_IsNumber(item))
		return 0;
	d = item->valuedouble;
	if (!(d >= (double)min && d <= (double)max) || (double)(int64_t)d != d)
		return 0;
	*out = (int64_t)d;
	return 1;
}

static int	check_object(const cJSON *, const struct field *, const char *path,
		    char **errmsg);

/* Check one member against its field; path names it for the message. */
static int
check_field(const cJSON *item, const struct field *f, const char *path,
    char **errmsg)
{
	const cJSON	*el;
	const char	*what;
	char		*sub;
	int64_t		 n;
	size_t		 len;
	int		 i, rc;

	if (f->nullable && cJSON_IsNull(item))
		return 0;
	switch (f->type) {
	case F_STRING:
		if (!cJSON_IsString(item))
			goto type;
		len = strlen(item->valuestring);
		if ((int64_t)len < f->min || (int64_t)len > f->max)
			goto type;
		if (f->syntax != NULL &&
		    (what = f->syntax(item->valuestring)) != NULL) {
			xasprintf(errmsg, "\"%s\": expected %s", path, what);
			return -1;
		}
		if (f->values == NULL)
			return 0;
		for (i = 0; f->values[i] != NULL; i++)
			if (strcmp(f->values[i], item->valuestring) == 0)
				return 0;
		xasprintf(errmsg, "\"%s\": unknown value \"%s\"", path,
		    item->valuestring);
		return -1;
	case F_INT:
		if (!int_in_range(item, f->min, f->max, &n))
			goto type;
		return 0;
	case F_BOOL:
		if (!cJSON_IsBool(item))
			goto type;
		return 0;
	case F_STRINGS:
		if (!cJSON_IsArray(item) ||
		    cJSON_GetArraySize(item) > f->max)
			goto type;
		cJSON_ArrayForEach(el, item)
			if (!cJSON_IsString(el))
				goto type;
		return 0;
	case F_OBJECT:
		if (!cJSON_IsObject(item))
			goto type;
		return check_object(item, f->fields, path, errmsg);
	case F_OBJECTS:
		if (!cJSON_IsArray(item) ||
		    cJSON_GetArraySize(item) > f->max)
			goto type;
		i = 0;
		cJSON_ArrayForEach(el, item) {
			xasprintf(&sub, "%s[%d]", path, i++);
			if (cJSON_IsObject(el))
				rc = check_object(el, f->fields, sub, errmsg);
			else {
				xasprintf(errmsg, "\"%s\": expected an "
				    "object", sub);
				rc = -1;
			}
			free(sub);
			if (rc != 0)
				return -1;
		}
		return 0;
	}
type:
	switch (f->type) {
	case F_STRING:
		if (f->max < PROTO_MAX_FRAME)
			xasprintf(errmsg, "\"%s\": expected a string of %lld to "
			    "%lld bytes%s", path, (long long)f->min,
			    (long long)f->max, f->nullable ? " or null" : "");
		else
			xasprintf(errmsg, "\"%s\": expected a %sstring%s", path,
			    f->min > 0 ? "non-empty " : "",
			    f->nullable ? " or null" : "");
		break;
	case F_INT:
		xasprintf(errmsg, "\"%s\": expected an integer from %lld to %lld%s",
		    path, (long long)f->min, (long long)f->max,
		    f->nullable ? " or null" : "");
		break;
	case F_BOOL:
		xasprintf(errmsg, "\"%s\": expected true or false", path);
		break;
	case F_STRINGS:
		xasprintf(errmsg, "\"%s\": expected an array of at most %lld strings",
		    path, (long long)f->max);
		break;
	case F_OBJECT:
		xasprintf(errmsg, "\"%s\": expected an object%s", path,
		    f->nullable ? " or null" : "");
		break;
	case F_OBJECTS:
		xasprintf(errmsg, "\"%s\": expected an array of at most %lld "
		    "objects", path, (long long)f->max);
		break;
	}
	return -1;
}

/*
 * Every member of obj must be in fields (or be "v"/"type" at the top, where
 * path is NULL), at most once, and every field must be present.
 */
static int
check_object(const cJSON *obj, const struct field *fields, const char *path,
    char **errmsg)
{
	const cJSON	*item;
	uint64_t	 seen = 0;
	char		*sub;
	size_t		 i;
	int		 rc;

	cJSON_ArrayForEach(item, obj) {
		if (path == NULL && (strcmp(item->string, "v") == 0 ||
		    strcmp(item->string, "type") == 0)) {
			if (cJSON_GetObjectItemCaseSensitive(obj, item->string) != item)
				goto duplicate;
			continue;
		}
		for (i = 0; fields[i].name != NULL; i++)
			if (strcmp(fields[i].name, item->string) == 0)
				break;
		if (path == NULL)
			sub = xstrdup(item->string);
		else
			xasprintf(&sub, "%s.%s", path, item->string);
		if (fields[i].name == NULL) {
			xasprintf(errmsg, "unknown member \"%s\"", sub);
			free(sub);
			return -1;
		}
		if (seen & ((uint64_t)1 << i)) {
			free(sub);
			goto duplicate;
		}
		seen |= (uint64_t)1 << i;
		rc = check_field(item, &fields[i], sub, errmsg);
		free(sub);
		if (rc != 0)
			return -1;
	}
	for (i = 0; fields[i].name != NULL; i++) {
		if (seen & ((uint64_t)1 << i))
			continue;
		if (path == NULL)
			xasprintf(errmsg, "missing member \"%s\"", fields[i].name);
		else
			xasprintf(errmsg, "missing member \"%s.%s\"", path,
			    fields[i].name);
		return -1;
	}
	return 0;
duplicate:
	xasprintf(errmsg, "duplicate member \"%s\"", item->string);
	return -1;
}

/* Check "v", "type" and the members; set *type. */
static int
check_message(const cJSON *obj, enum proto_type *type, char **errmsg)
{
	const cJSON	*v, *t;
	int64_t		 version;
	int		 i;

	if (!cJSON_IsObject(obj)) {
		*errmsg = xstrdup("frame is not a JSON object");
		return -1;
	}
	v = cJSON_GetObjectItemCaseSensitive(obj, "v");
	if (v == NULL) {
		*errmsg = xstrdup("missing member \"v\"");
		return -1;
	}
	if (!int_in_range(v, INT_MIN, INT_MAX, &version)) {
		*errmsg = xstrdup("\"v\": expected an integer");
		return -1;
	}
	if (version != PROTO_VERSION) {
		xasprintf(errmsg, "unsupported protocol version %lld (this is %d)",
		    (long long)version, PROTO_VERSION);
		return -1;
	}
	t = cJSON_GetObjectItemCaseSensitive(obj, "type");
	if (t == NULL) {
		*errmsg = xstrdup("missing member \"type\"");
		return -1;
	}
	if (!cJSON_IsString(t)) {
		*errmsg = xstrdup("\"type\": expected a string");
		return -1;
	}
	if ((i = lookup_type(t->valuestring)) < 0) {
		xasprintf(errmsg, "unknown message type \"%s\"", t->valuestring);
		return -1;
	}
	if (check_object(obj, types[i].fields, NULL, errmsg) != 0) {
		char	*inner = *errmsg;

		xasprintf(errmsg, "bad \"%s\" message: %s", types[i].name, inner);
		free(inner);
		return -1;
	}
	*type = i;
	return 0;
}

/*
 * cJSON turns the escape \u0000 into a NUL that silently cuts the string:
 * refuse it.  Backslashes occur only inside strings in valid JSON, so each
 * one starts an escape; invalid JSON is left for the parser to reject.
 */
static int
has_escaped_nul(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i + 1 < len; i++) {
		if (s[i] != '\\')
			continue;
		if (s[i + 1] == 'u' && i + 5 < len &&
		    memcmp(s + i + 2, "0000", 4) == 0)
			return 1;
		i++;
	}
	return 0;
}

/* cJSON passes any byte through strings: every peer sends UTF-8. */
static int
valid_utf8(const char *s, size_t len)
{
	uint32_t	cp;
	size_t		i, n;

	for (i = 0; i < len; i += n)
		if ((n = utf8_char((const unsigned char *)s + i, len - i,
		    &cp)) == 0)
			return 0;
	return 1;
}

int
proto_decode(const char *line, size_t len, struct proto_msg *msg, char **errmsg)
{
	const char	*end = NULL;
	cJSON		*obj;
	enum proto_type	 type;

	memset(msg, 0, sizeof(*msg));
	*errmsg = NULL;
	if (len + 1 > PROTO_MAX_FRAME) {
		xasprintf(errmsg, "frame longer than %d bytes", PROTO_MAX_FRAME);
		return -1;
	}
	if (memchr(line, '\0', len) != NULL || has_escaped_nul(line, len)) {
		*errmsg = xstrdup("NUL byte in frame");
		return -1;
	}
	if (!valid_utf8(line, len)) {
		*errmsg = xstrdup("frame is not UTF-8");
		return -1;
	}
	obj = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (obj == NULL) {
		*errmsg = xstrdup("frame is not JSON");
		return -1;
	}
	while (end < line + len && (*end == ' ' || *end == '\t' || *end == '\r'))
		end++;
	if (end != line + len) {
		cJSON_Delete(obj);
		*errmsg = xstrdup("trailing bytes after the JSON object");
		return -1;
	}
	if (check_message(obj, &type, errmsg) != 0) {
		cJSON_Delete(obj);
		return -1;
	}
	msg->type = type;
	msg->json = obj;
	return 0;
}

void
proto_conn_init(struct proto_conn *conn, int fd)
{
	memset(conn, 0, sizeof(*conn));
	conn->fd = fd;
}

void
proto_conn_release(struct proto_conn *conn)
{
	if (conn->fd >= 0)
		close(conn->fd);
	free(conn->buf);
	free(conn->error);
	memset(conn, 0, sizeof(*conn));
	conn->fd = -1;
}

ssize_t
proto_conn_fill(struct proto_conn *conn)
{
	ssize_t	n;

	if (conn->eof)
		return 0;
	if (conn->buf == NULL)
		conn->buf = xmalloc(PROTO_MAX_FRAME);
	if (conn->len == PROTO_MAX_FRAME) {
		errno = ENOBUFS;
		return -1;
	}
	do
		n = read(conn->fd, conn->buf + conn->len,
		    PROTO_MAX_FRAME - conn->len);
	while (n == -1 && errno == EINTR);
	if (n == 0)
		conn->eof = 1;
	else if (n > 0)
		conn->len += n;
	return n;
}

int
proto_next(struct proto_conn *conn, struct proto_msg *msg, char **errmsg)
{
	char	*nl;
	size_t	 linelen;
	int	 rc;

	memset(msg, 0, sizeof(*msg));
	*errmsg = NULL;
	if (conn->error != NULL) {
		*errmsg = xstrdup(conn->error);
		return -1;
	}
	nl = conn->len ? memchr(conn->buf, '\n', conn->len) : NULL;
	if (nl == NULL) {
		if (conn->len == PROTO_MAX_FRAME)
			xasprintf(&conn->error, "frame longer than %d bytes",
			    PROTO_MAX_FRAME);
		else if (conn->eof && conn->len > 0)
			conn->error = xstrdup("connection closed inside a frame");
		else
			return 0;
		*errmsg = xstrdup(conn->error);
		return -1;
	}
	linelen = nl - conn->buf;
	rc = proto_decode(conn->buf, linelen, msg, errmsg);
	conn->len -= linelen + 1;
	memmove(conn->buf, nl + 1, conn->len);
	if (rc != 0) {
		conn->error = xstrdup(*errmsg);
		return -1;
	}
	return 1;
}

int
proto_recv(struct proto_conn *conn, struct proto_msg *msg, int timeout_ms,
    char **errmsg)
{
	struct pollfd	pfd;
	int64_t		deadline = now_monotonic_ms() + timeout_ms;
	int		wait, rc;

	for (;;) {
		if ((rc = proto_next(conn, msg, errmsg)) != 0)
			return rc;
		if (conn->eof)
			return 0;
		wait = -1;
		if (timeout_ms >= 0) {
			int64_t	left = deadline - now_monotonic_ms();

			if (left <= 0) {
				*errmsg = xstrdup("timed out waiting for a message");
				errno = ETIMEDOUT;
				return -1;
			}
			wait = left > INT_MAX ? INT_MAX : (int)left;
		}
		pfd.fd = conn->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, wait) == -1) {
			int	saved = errno;

			xasprintf(errmsg, "poll: %s", strerror(saved));
			errno = saved;
			return -1;
		}
		if (proto_conn_fill(conn) == -1 && errno != EAGAIN) {
			int	saved = errno;

			xasprintf(errmsg, "read: %s", strerror(saved));
			errno = saved;
			return -1;
		}
	}
}

cJSON *
proto_new(enum proto_type type)
{
	cJSON	*obj = cJSON_CreateObject();

	/* Out of memory, the message lacks members and proto_send refuses it. */
	cJSON_AddNumberToObject(obj, "v", PROTO_VERSION);
	cJSON_AddStringToObject(obj, "type", types[type].name);
	return obj;
}

/*
 * The encoder: cJSON_PrintUnformatted's text, byte for byte, without its
 * cost on what messages carry (it prints every number with "%1.15g" and
 * reads it back with sscanf; that was a fifth of a lock round trip).
 */
struct enc {
	char	*p;
	size_t	 len, cap;
};

static void
enc_add(struct enc *e, const char *s, size_t n)
{
	if (e->len + n + 2 > e->cap) {
		while (e->len + n + 2 > e->cap)
			e->cap = e->cap ? e->cap * 2 : 256;
		e->p = xreallocarray(e->p, e->cap, 1);
	}
	memcpy(e->p + e->len, s, n);
	e->len += n;
}

static void
enc_string(struct enc *e, const char *s)
{
	const unsigned char	*p = (const unsigned char *)(s != NULL ? s : "");
	char			 esc[8];
	size_t			 n;

	enc_add(e, "\"", 1);
	while (*p != '\0') {
		for (n = 0; p[n] >= 32 && p[n] != '"' && p[n] != '\\'; n++)
			;
		if (n > 0) {
			enc_add(e, (const char *)p, n);
			p += n;
			continue;
		}
		switch (*p) {
		case '"':	enc_add(e, "\\\"", 2); break;
		case '\\':	enc_add(e, "\\\\", 2); break;
		case '\b':	enc_add(e, "\\b", 2); break;
		case '\f':	enc_add(e, "\\f", 2); break;
		case '\n':	enc_add(e, "\\n", 2); break;
		case '\r':	enc_add(e, "\\r", 2); break;
		case '\t':	enc_add(e, "\\t", 2); break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			enc_add(e, esc, 6);
		}
		p++;
	}
	enc_add(e, "\"", 1);
}

static void
enc_number(struct enc *e, double d)
{
	char		 num[32], *q = num + sizeof(num);
	double		 back;
	long long	 v;
	int		 neg;

	if (isnan(d) || isinf(d)) {
		enc_add(e, "null", 4);
		return;
	}
	/* An integer "%1.15g" prints as such: its digits, made here. */
	if (fabs(d) < 1e15 && d == (double)(long long)d &&
	    (d != 0 || !signbit(d))) {
		v = (long long)d;
		if ((neg = v < 0))
			v = -v;
		do
			*--q = (char)('0' + v % 10);
		while ((v /= 10) != 0);
		if (neg)
			*--q = '-';
		enc_add(e, q, (size_t)(num + sizeof(num) - q));
		return;
	}
	snprintf(num, sizeof(num), "%1.15g", d);
	if (sscanf(num, "%lg", &back) != 1 || back != d)
		snprintf(num, sizeof(num), "%1.17g", d);
	enc_add(e, num, strlen(num));
}

static void
enc_value(struct enc *e, const cJSON *v)
{
	const cJSON	*kid;

	if (cJSON_IsNull(v))
		enc_add(e, "null", 4);
	else if (cJSON_IsTrue(v))
		enc_add(e, "true", 4);
	else if (cJSON_IsFalse(v))
		enc_add(e, "false", 5);
	else if (cJSON_IsNumber(v))
		enc_number(e, v->valuedouble);
	else if (cJSON_IsString(v))
		enc_string(e, v->valuestring);
	else if (cJSON_IsRaw(v))
		enc_add(e, v->valuestring, strlen(v->valuestring));
	else {
		enc_add(e, cJSON_IsArray(v) ? "[" : "{", 1);
		for (kid = v->child; kid != NULL; kid = kid->next) {
			if (cJSON_IsObject(v)) {
				enc_string(e, kid->string);
				enc_add(e, ":", 1);
			}
			enc_value(e, kid);
			if (kid->next != NULL)
				enc_add(e, ",", 1);
		}
		enc_add(e, cJSON_IsArray(v) ? "]" : "}", 1);
	}
}

char *
proto_encode(const cJSON *msg, size_t *lenp)
{
	struct enc	e = { NULL, 0, 0 };

	enc_value(&e, msg);
	e.p[e.len] = '\0';
	*lenp = e.len;
	return e.p;
}

int
proto_send(int fd, const cJSON *msg, char **errmsg)
{
	struct pollfd	 pfd;
	enum proto_type	 type;
	char		*text;
	size_t		 len, off = 0;
	ssize_t		 n;
	int		 rc = -1;

	*errmsg = NULL;
	if (check_message(msg, &type, errmsg) != 0)
		return -1;
	text = proto_encode(msg, &len);
	if (len + 1 > PROTO_MAX_FRAME) {
		xasprintf(errmsg, "\"%s\" message of %zu bytes is longer than %d",
		    types[type].name, len + 1, PROTO_MAX_FRAME);
		goto out;
	}
	text[len++] = '\n';
	while (off < len) {
		n = send(fd, text + off, len - off, MSG_NOSIGNAL);
		if (n >= 0) {
			off += n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			xasprintf(errmsg, "send: %s", strerror(errno));
			goto out;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, PROTO_SEND_TIMEOUT_MS) == 0) {
			*errmsg = xstrdup("send: the peer is not reading");
			goto out;
		}
	}
	rc = 0;
out:
	free(text);
	return rc;
}

const cJSON *
proto_get(const struct proto_msg *msg, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(msg->json, name);
}

const char *
proto_str(const struct proto_msg *msg, const char *name)
{
	const cJSON	*item = proto_get(msg, name);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

int64_t
proto_int(const struct proto_msg *msg, const char *name, int64_t def)
{
	const cJSON	*item = proto_get(msg, name);

	return cJSON_IsNumber(item) ? (int64_t)item->valuedouble : def;
}

void
proto_msg_release(struct proto_msg *msg)
{
	cJSON_Delete(msg->json);
	memset(msg, 0, sizeof(*msg));
}
