/*
 * The external adapter command (docs/adapters.md): run in the session
 * worktree, in its own process group, with the environment the pipeline
 * builds; JSON-lines on its stdout become trace events and progress, its
 * exit status decides the outcome and the end of its stderr becomes the
 * failure detail.  Whatever it prints passes through secrets_redact first.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "proto.h"
#include "selfpipe.h"
#include "trace.h"
#include "worker.h"

/* The failure detail: at most the last TAIL_LINES lines of TAIL_BYTES. */
#define TAIL_BYTES	2048
#define TAIL_LINES	20
/* A line of stdout longer than this is dropped (and said so in the trace). */
#define LINE_MAX_BYTES	(64 * 1024)
/* What an adapter may name its events: [a-z0-9_.-], at most this long. */
#define EVENT_NAME_MAX	64
/* With a timer armed, wake at least this often: the error of active time. */
#define TICK_MS		250

struct tail {
	char	buf[TAIL_BYTES];
	size_t	len;
	int	cut;		/* older bytes were dropped */
};

/*
 * Timers run on "active" time, which stands still while the supervisor
 * keeps us stopped (SIGSTOP cannot be caught, but the SIGCONT that ends
 * it can): a frozen run must not time out when it is thawed.
 */
struct lines {
	char	*buf;		/* LINE_MAX_BYTES once used */
	size_t	 len;
	int	 overflow;	/* dropping the rest of a long line */
};

struct adapter {
	pid_t		 pid;		/* and process group */
	int		 errfd;		/* its stderr; -1 at EOF */
	int		 outfd;		/* its stdout; -1 at EOF */
	struct lines	 out;
	int64_t		 active_ms;	/* since the start, stops excluded */
	int64_t		 deadline;	/* command timeout, active time; 0: none */
	int64_t		 kill_at;	/* SIGKILL due, active time; 0: none */
	int64_t		 kill_wait_ms;	/* between TERM and KILL */
	const char	*stopping;	/* "timeout" or "aborted" once TERMed */
	int		 abandoned;	/* KILLed: the supervisor is gone */
	int		 status;	/* wait status once reaped */
	int		 reaped;
	struct tail	 tail;
};

static void
tail_add(struct tail *t, const char *p, size_t n)
{
	size_t	drop;

	if (n >= TAIL_BYTES) {
		p += n - TAIL_BYTES;
		n = TAIL_BYTES;
	}
	if (t->len + n > TAIL_BYTES) {
		drop = t->len + n - TAIL_BYTES;
		memmove(t->buf, t->buf + drop, t->len - drop);
		t->len -= drop;
		t->cut = 1;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

/*
 * The tail as text: whole lines only, the last TAIL_LINES of them, trimmed,
 * control characters and broken UTF-8 replaced by '?'.  NULL when nothing
 * is left.  Caller frees.
 */
static char *
tail_text(const struct tail *t)
{
	const unsigned char	*p = (const unsigned char *)t->buf;
	const unsigned char	*end = p + t->len, *nl;
	char			*out, *o;
	size_t			 lines = 0, k;
	uint32_t		 cp;

	if (t->cut && (nl = memchr(p, '\n', t->len)) != NULL)
		p = nl + 1;
	while (p < end && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == '\n' || end[-1] == '\r' ||
	    end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p == end)
		return NULL;
	for (nl = end; nl > p; nl--)
		if (nl[-1] == '\n' && ++lines == TAIL_LINES)
			break;
	p = nl;
	o = out = xmalloc(end - p + 1);
	while (p < end) {
		if (*p == '\n' || *p == '\t') {
			*o++ = *p++;
		} else if (*p < 0x20 || *p == 0x7f) {
			*o++ = '?';
			p++;
		} else if ((k = utf8_char(p, end - p, &cp)) == 0) {
			*o++ = '?';
			p++;
		} else {
			memcpy(o, p, k);
			o += k;
			p += k;
		}
	}
	*o = '\0';
	return out;
}

/* In the child: become the adapter.  Never returns. */
static void __attribute__((noreturn))
exec_adapter(pid_t worker, const struct command_run *cr, int outfd, int errfd)
{
	int	null;

	if (proc_child_setup(worker, SIGKILL) == -1)
		_exit(127);
	if (dup2(outfd, STDOUT_FILENO) == -1 ||
	    dup2(errfd, STDERR_FILENO) == -1)
		_exit(127);
	if ((null = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(null, STDIN_FILENO) == -1)
		_exit(127);
	if (chdir(cr->cwd) == -1) {
		dprintf(STDERR_FILENO, "cannot enter \"%s\": %s\n", cr->cwd,
		    strerror(errno));
		_exit(127);
	}
	closefrom(STDERR_FILENO + 1);
	execvpe(cr->argv[0], (char *const *)cr->argv, (char *const *)cr->env);
	dprintf(STDERR_FILENO, "cannot run \"%s\": %s\n", cr->argv[0],
	    strerror(errno));
	_exit(127);
}

static int
spawn(struct worker *w, const struct command_run *cr, struct adapter *ad)
{
	cJSON	*msg;
	int	 errpipe[2], outpipe[2];
	pid_t	 me = getpid();

	if (pipe2(errpipe, O_CLOEXEC) == -1) {
		log_warn("pipe");
		return -1;
	}
	if (pipe2(outpipe, O_CLOEXEC) == -1) {
		log_warn("pipe");
		close(errpipe[0]);
		close(errpipe[1]);
		return -1;
	}
	switch (ad->pid = proc_fork()) {
	case -1:
		log_warn("fork");
		close(errpipe[0]);
		close(errpipe[1]);
		close(outpipe[0]);
		close(outpipe[1]);
		return -1;
	case 0:
		exec_adapter(me, cr, outpipe[1], errpipe[1]);
	}
	/* Both sides call setpgid, so the group exists whichever runs first. */
	setpgid(ad->pid, ad->pid);
	close(errpipe[1]);
	close(outpipe[1]);
	ad->errfd = errpipe[0];
	ad->outfd = outpipe[0];
	if (fcntl(ad->errfd, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(ad->outfd, F_SETFL, O_NONBLOCK) == -1)
		log_warn("fcntl");
	msg = proto_new(PROTO_SPAWNED);
	cJSON_AddNumberToObject(msg, "pgid", ad->pid);
	worker_send(w, msg);
	return 0;
}

/* Bytes that are not printable UTF-8 (tabs aside) become '?'.  In place. */
static void
sanitize(char *s, size_t len)
{
	size_t		i = 0, k;
	uint32_t	cp;

	while (i < len) {
		k = utf8_char((const unsigned char *)s + i, len - i, &cp);
		if (k == 0 || (cp < 0x20 && cp != '\t') || cp == 0x7f) {
			s[i++] = '?';
			continue;
		}
		i += k;
	}
}

static int
event_name_ok(const char *s)
{
	size_t	n = strlen(s);

	return n > 0 && n <= EVENT_NAME_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

/*
 * One JSON object the adapter printed: its "event" names a trace event
 * (phase "adapter", level "level" or info) carrying the rest as data;
 * "percent" and "message" are progress; "rawPaths" provenance.
 */
static void
adapter_json(struct worker *w, struct command_run *cr, cJSON *obj)
{
	const cJSON		*ev, *lv, *pct, *msg, *raw, *item;
	enum trace_level	 level = TRACE_INFO;
	char			*event;

	ev = cJSON_GetObjectItemCaseSensitive(obj, "event");
	lv = cJSON_GetObjectItemCaseSensitive(obj, "level");
	pct = cJSON_GetObjectItemCaseSensitive(obj, "percent");
	msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
	raw = cJSON_GetObjectItemCaseSensitive(obj, "rawPaths");
	if (cJSON_IsString(lv) &&
	    trace_level_parse(lv->valuestring, &level) == -1)
		level = TRACE_INFO;
	if (cJSON_IsNumber(pct) || cJSON_IsString(msg))
		worker_progress(w, "adapter", cJSON_IsNumber(pct) &&
		    pct->valuedouble >= 0 && pct->valuedouble <= 100 ?
		    (int)pct->valuedouble : -1,
		    cJSON_IsString(msg) ? msg->valuestring : "");
	if (cJSON_IsArray(raw))
		cJSON_ArrayForEach(item, raw)
			if (cJSON_IsString(item))
				strv_push(&cr->raw_paths, item->valuestring);
	event = xstrdup(cJSON_IsString(ev) && event_name_ok(ev->valuestring) ?
	    ev->valuestring : "adapter_output");
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "event");
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "level");
	trace_event(cr->trace, level, "adapter", event, -1, obj,
	    level == TRACE_ERROR && cJSON_IsString(msg) ? msg->valuestring :
	    NULL);
	free(event);
}

/* A line the adapter printed on stdout, without its newline. */
static void
adapter_line(struct worker *w, struct command_run *cr, char *line,
    size_t len)
{
	cJSON	*obj, *data;
	char	*text;

	sanitize(line, len);
	line[len] = '\0';
	text = secrets_redact(cr->secrets, line);
	obj = cJSON_Parse(text);
	if (cJSON_IsObject(obj)) {
		adapter_json(w, cr, obj);
	} else {
		cJSON_Delete(obj);
		/* Plain output goes where it always went: our stderr. */
		fprintf(stderr, "%s\n", text);
		data = cJSON_CreateObject();
		cJSON_AddStringToObject(data, "line", text);
		trace_event(cr->trace, TRACE_TRACE, "adapter", "adapter_stdout",
		    -1, data, NULL);
	}
	free(text);
}

static void
read_outfd(struct worker *w, struct command_run *cr, struct adapter *ad)
{
	struct lines	*l = &ad->out;
	char		*nl;
	ssize_t		 n;
	size_t		 used;

	if (l->buf == NULL)
		l->buf = xmalloc(LINE_MAX_BYTES + 1);
	while (ad->outfd != -1) {
		n = read(ad->outfd, l->buf + l->len, LINE_MAX_BYTES - l->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 || (n == -1 && errno != EAGAIN)) {
			close(ad->outfd);
			ad->outfd = -1;
			if (l->len > 0 && !l->overflow)
				adapter_line(w, cr, l->buf, l->len);
			l->len = 0;
			break;
		}
		if (n == -1)
			break;
		l->len += n;
		while ((nl = memchr(l->buf, '\n', l->len)) != NULL) {
			used = nl - l->buf + 1;
			if (!l->overflow)
				adapter_line(w, cr, l->buf, used - 1);
			l->overflow = 0;
			memmove(l->buf, l->buf + used, l->len - used);
			l->len -= used;
		}
		if (l->len == LINE_MAX_BYTES) {
			if (!l->overflow)
				trace_event(cr->trace, TRACE_INFO, "adapter",
				    "adapter_line_dropped", -1, NULL,
				    NULL);
			l->overflow = 1;
			l->len = 0;
		}
	}
}

/* TERM, then CONT in case the group is stopped; KILL after the wait. */
static void
stop(struct adapter *ad, const char *why)
{
	if (ad->stopping != NULL)
		return;
	ad->stopping = why;
	proc_kill_group(ad->pid, SIGTERM);
	proc_kill_group(ad->pid, SIGCONT);
	ad->kill_at = ad->active_ms + ad->kill_wait_ms;
}

/* The supervisor is gone: nobody waits for a result, end it all now. */
static void
abandon(struct worker *w, struct adapter *ad)
{
	w->gone = 1;
	ad->abandoned = 1;
	proc_kill_group(ad->pid, SIGKILL);
	proc_kill_group(ad->pid, SIGCONT);
	ad->kill_at = 0;
}

static void
read_errfd(struct adapter *ad)
{
	char	buf[4096];
	ssize_t	n;

	while (ad->errfd != -1) {
		n = read(ad->errfd, buf, sizeof(buf));
		if (n > 0) {
			tail_add(&ad->tail, buf, n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN) {
			close(ad->errfd);
			ad->errfd = -1;
		}
		break;
	}
}

/*
 * Reap the adapter if it ended.  Its group is killed first, while the
 * unreaped leader keeps the group id from being reused, so a process it
 * left behind does not outlive it.
 */
static void
check_exit(struct adapter *ad)
{
	siginfo_t	si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, ad->pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1 ||
	    si.si_pid != ad->pid)
		return;
	proc_kill_group(ad->pid, SIGKILL);
	while (waitpid(ad->pid, &ad->status, 0) == -1 && errno == EINTR)
		;
	ad->reaped = 1;
}

/* Messages from the supervisor while the adapter runs: none are expected. */
static void
read_socket(struct worker *w, struct adapter *ad)
{
	struct proto_msg	 msg;
	char			*errmsg;
	int			 rc;

	if (proto_conn_fill(&w->conn) == -1 && errno == EAGAIN)
		return;
	while ((rc = proto_next(&w->conn, &msg, &errmsg)) == 1) {
		if (msg.type == PROTO_ERROR)
			log_warnx("supervisor: %s: %s", proto_str(&msg, "code"),
			    proto_str(&msg, "message"));
		else
			log_warnx("supervisor: unexpected \"%s\" message",
			    proto_type_name(msg.type));
		proto_msg_release(&msg);
		abandon(w, ad);
	}
	if (rc == -1) {
		log_warnx("supervisor: %s", errmsg);
		free(errmsg);
		abandon(w, ad);
	}
	if (w->conn.eof)
		abandon(w, ad);
}

static int
poll_timeout(const struct adapter *ad)
{
	int64_t	next = 0, left;

	if (ad->deadline && ad->stopping == NULL)
		next = ad->deadline;
	if (ad->kill_at && (next == 0 || ad->kill_at < next))
		next = ad->kill_at;
	if (next == 0)
		return -1;
	left = next - ad->active_ms;
	return left < 0 ? 0 : left > TICK_MS ? TICK_MS : (int)left;
}

static void
wait_adapter(struct worker *w, struct command_run *cr, struct adapter *ad)
{
	struct pollfd	pfd[4];
	int64_t		before, slept;
	int		timeout, sig, resumed, terminated;

	for (;;) {
		check_exit(ad);
		if (ad->reaped)
			break;
		pfd[0].fd = w->sigfd;
		pfd[1].fd = w->gone ? -1 : w->conn.fd;
		pfd[2].fd = ad->errfd;
		pfd[3].fd = ad->outfd;
		pfd[0].events = pfd[1].events = pfd[2].events = POLLIN;
		pfd[3].events = POLLIN;
		timeout = poll_timeout(ad);
		before = now_monotonic_ms();
		if (poll(pfd, 4, timeout) == -1 && errno != EINTR)
			fatal("poll");
		slept = now_monotonic_ms() - before;
		resumed = terminated = 0;
		while ((sig = selfpipe_next()) != 0) {
			resumed |= sig == SIGCONT;
			terminated |= sig == SIGTERM;
		}
		/* Stopped inside poll: count no more than we asked to wait. */
		if (resumed && timeout >= 0 && slept > timeout)
			slept = timeout;
		ad->active_ms += slept;
		if (terminated && worker_orphaned(w))
			abandon(w, ad);
		else if (terminated) {
			w->aborting = 1;
			stop(ad, "aborted");
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
			read_socket(w, ad);
		if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR))
			read_errfd(ad);
		if (pfd[3].revents & (POLLIN | POLLHUP | POLLERR))
			read_outfd(w, cr, ad);
		if (ad->deadline && ad->active_ms >= ad->deadline)
			stop(ad, "timeout");
		if (ad->kill_at && ad->active_ms >= ad->kill_at) {
			proc_kill_group(ad->pid, SIGKILL);
			ad->kill_at = 0;
		}
	}
	read_errfd(ad);
	read_outfd(w, cr, ad);
	if (ad->errfd != -1)
		close(ad->errfd);
	if (ad->outfd != -1)
		close(ad->outfd);
	free(ad->out.buf);
}

void
command_run(struct worker *w, struct command_run *cr, struct outcome *out)
{
	struct adapter	 ad;
	char		 sig[PROC_SIGNAME_MAX];
	char		*tail, *raw, *joined = NULL, *prev;
	int64_t		 grace_ms = (int64_t)cr->grace * 1000;
	size_t		 i;

	memset(&ad, 0, sizeof(ad));
	ad.errfd = ad.outfd = -1;
	/* Leave the supervisor time to hear our result before its own KILL. */
	ad.kill_wait_ms = grace_ms - (grace_ms / 2 < 1000 ? grace_ms / 2 : 1000);

	for (i = 0; cr->argv[i] != NULL; i++) {
		prev = joined;
		xasprintf(&joined, "%s%s%s", prev ? prev : "", prev ? " " : "",
		    cr->argv[i]);
		free(prev);
	}
	worker_phase(w, "adapter", joined);
	free(joined);
	if (w->gone)
		return;
	if (spawn(w, cr, &ad) == -1) {
		out->status = "failed";
		out->detail = xstrdup("cannot start the adapter command");
		return;
	}
	ad.deadline = (int64_t)cr->timeout * 1000;
	wait_adapter(w, cr, &ad);

	raw = tail_text(&ad.tail);
	tail = raw != NULL ? secrets_redact(cr->secrets, raw) : NULL;
	free(raw);
	if (WIFEXITED(ad.status))
		out->exit_code = WEXITSTATUS(ad.status);
	else if (WIFSIGNALED(ad.status))
		out->signal = WTERMSIG(ad.status);
	if (ad.abandoned) {
		/* Our own KILL, not the adapter's failure: no status, as when
		 * the supervisor was gone before the start. */
	} else if (ad.stopping != NULL && strcmp(ad.stopping, "timeout") == 0) {
		out->status = "timeout";
		xasprintf(&out->detail, "adapter command timed out after %d s%s%s",
		    cr->timeout, tail ? "\n" : "", tail ? tail : "");
	} else if (ad.stopping != NULL) {
		out->status = "aborted";
		out->detail = xstrdup("aborted by SIGTERM");
	} else if (out->exit_code == 0) {
		out->status = "done";
	} else {
		out->status = "failed";
		if (tail != NULL) {
			out->detail = tail;
			tail = NULL;
		} else if (out->exit_code > 0)
			xasprintf(&out->detail, "adapter command exited with "
			    "status %d", out->exit_code);
		else
			xasprintf(&out->detail, "adapter command killed by %s",
			    proc_signame(out->signal, sig));
	}
	free(tail);
}
