/*
 * The live view of an ingest on a terminal: a header, one line per target
 * (state, phase, a progress bar, elapsed time), the repository lock's
 * holder and queue, and the hint for the signals, repainted in place on
 * stdout with plain ANSI (cursor up, erase line, erase below) and clipped
 * to the terminal's width and height.  Only when stdout is a terminal and
 * neither --json nor --plain was given; piped output stays line-based
 * (render.c).  It repaints at most every LIVE_INTERVAL_MS and only when the
 * text changed.  At the end the final table takes its place.
 *
 * Anything else written to the terminal moves the cursor under the view:
 * log messages take the view off first (log_set_hook) and it is painted
 * again below them; after the supervisor stopped itself for SIGTSTP the
 * shell has written there too, so the view starts afresh below.  Nothing
 * is painted while the job is in the background.  What a worker writes to
 * stderr itself is not coordinated.
 */
#include "config.h"

#include <sys/ioctl.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "ktxconfig.h"
#include "lockclient.h"
#include "plan.h"
#include "supervisor.h"
#include "util.h"

#define LIVE_INTERVAL_MS	100
#define LIVE_BAR_WIDTH		10
/* Used when the terminal does not say its size. */
#define LIVE_DEFAULT_COLS	80
#define LIVE_DEFAULT_ROWS	24

/*
 * Append line to out, cut to at most cols - 1 columns (one per UTF-8
 * character; the last column stays free so the terminal never wraps), a
 * control character (C0, DEL, C1) or a byte that is not UTF-8 shown as
 * '?': a phase or a detail may hold an escape sequence from a file name an
 * adapter chose.  No trailing blanks, and a newline.
 */
static void
add_clipped(struct sbuf *out, const char *line, int cols)
{
	const unsigned char	*p = (const unsigned char *)line;
	size_t			 avail = strlen(line), n, start = out->len;
	uint32_t		 cp;
	int			 col = 0;

	while (avail > 0 && col < cols - 1) {
		n = utf8_char(p, avail, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f ||
		    (cp >= 0x80 && cp <= 0x9f))
			sbuf_add(out, "?", 1);
		else
			sbuf_add(out, (const char *)p, n);
		n = n == 0 ? 1 : n;
		p += n;
		avail -= n;
		col++;
	}
	while (out->len > start && out->s[out->len - 1] == ' ')
		out->len--;
	sbuf_add(out, "\n", 1);
}

/* "12s", "4m05s", "2h01m". */
static const char *
elapsed(int64_t ms, char *buf)
{
	if (ms < 60000) {
		snprintf(buf, 32, "%llds", (long long)(ms / 1000));
		return buf;
	}
	return render_duration(ms, buf);
}

/* The monotonic clock as the view shows it: standing while frozen. */
static int64_t
view_now(const struct run *r)
{
	return r->frozen ? r->frozen_at : now_monotonic_ms();
}

/* A frozen run's workers are stopped, whether reaped as such yet or not. */
static const char *
state_word(const struct run *r, const struct target *t)
{
	if (t->state == TARGET_QUEUED)
		return "queued";
	if (t->state == TARGET_FINISHED)
		return target_status_name(t->status);
	return t->stopped || r->frozen ? "stopped" : t->stop != STOP_NONE ?
	    "stopping" : "running";
}

static void
target_line(struct sbuf *line, const struct run *r, const struct target *t,
    int idwidth)
{
	char	 dur[32];
	int	 fill, i;
	size_t	 n;

	sbuf_addf(line, "[%zu/%zu] %-*s %-8s", t->number, r->ntargets,
	    idwidth, t->pt->conn->id, state_word(r, t));
	if (t->state == TARGET_QUEUED)
		return;
	if (t->state == TARGET_FINISHED) {
		sbuf_addf(line, " %5s", elapsed(t->finished_mono -
		    t->started_mono, dur));
		if (t->status != STATUS_DONE && t->detail != NULL) {
			n = strcspn(t->detail, "\n");
			sbuf_addf(line, "  %.*s", (int)n, t->detail);
		}
		return;
	}
	sbuf_addf(line, " %5s %-10s", elapsed(view_now(r) - t->started_mono,
	    dur), t->phase != NULL ? t->phase : "");
	if (t->percent < 0)
		return;
	fill = t->percent * LIVE_BAR_WIDTH / 100;
	sbuf_add(line, " [", 2);
	for (i = 0; i < LIVE_BAR_WIDTH; i++)
		sbuf_add(line, i < fill ? "#" : "-", 1);
	sbuf_addf(line, "] %3d%%", t->percent);
}

static void
lock_lines(struct sbuf *out, const struct run *r, int cols)
{
	const struct lockd_lock		*l;
	const struct lockd_request	*q;
	struct sbuf			 line = { 0 };
	char				 dur[32];
	int64_t				 clock = run_clock(r);
	int				 any = 0;

	TAILQ_FOREACH(l, &r->locks.locks, entry) {
		any = 1;
		line.len = 0;
		sbuf_addf(&line, "lock %s: ", l->name);
		if (l->holder == NULL)
			sbuf_addf(&line, "free");
		else
			sbuf_addf(&line, "held by %s for %s (%s)",
			    r->targets[l->holder->client].pt->conn->id,
			    elapsed(clock - l->holder->granted, dur),
			    l->holder->purpose);
		sbuf_addf(&line, "; queue:");
		if (TAILQ_EMPTY(&l->waiters))
			sbuf_addf(&line, " empty");
		TAILQ_FOREACH(q, &l->waiters, entry)
			sbuf_addf(&line, " %s",
			    r->targets[q->client].pt->conn->id);
		add_clipped(out, line.s, cols);
	}
	if (!any)
		add_clipped(out, "lock " LOCK_REPO ": free; queue: empty", cols);
	free(line.s);
}

/* What the signals do now. */
static void
hint_line(struct sbuf *out, const struct run *r, int cols)
{
	struct sbuf	 line = { 0 };
	int		 pid = (int)getpid();

	if (r->aborting && !r->escalated)
		sbuf_addf(&line, "aborting: waiting for the workers to stop "
		    "· Ctrl-C again kills them now");
	else if (r->aborting)
		sbuf_addf(&line, "aborting: killing the workers");
	else if (r->frozen)
		sbuf_addf(&line, "paused: fg, SIGCONT or \"ktx-supervisor "
		    "resume\" continues · pid %d", pid);
	else if (r->draining)
		sbuf_addf(&line, "draining: running targets finish, nothing "
		    "new starts · Ctrl-C aborts");
	else
		sbuf_addf(&line, "Ctrl-C abort · Ctrl-Z pause · SIGHUP drain · "
		    "SIGUSR1 status · pid %d", pid);
	add_clipped(out, line.s, cols);
	free(line.s);
}

/* The whole view, each line clipped and ended by a newline.  Caller frees. */
static char *
compose(const struct run *r, int *nlines)
{
	const struct lockd_lock	*l;
	struct sbuf		 out = { 0 }, line = { 0 };
	size_t			 i, queued = 0, finished = 0, shown;
	int			 cols = r->live.cols, idwidth = 0, len;
	int			 nlocks, room;

	for (i = 0; i < r->ntargets; i++) {
		queued += r->targets[i].state == TARGET_QUEUED;
		finished += r->targets[i].state == TARGET_FINISHED;
		len = (int)strlen(r->targets[i].pt->conn->id);
		idwidth = len > idwidth ? len : idwidth;
	}
	sbuf_addf(&line, "%zu running, %zu queued, %zu finished%s%s%s · run %s",
	    r->ntargets - queued - finished, queued, finished,
	    r->frozen ? " · paused" : "", r->draining ? " · draining" : "",
	    r->aborting ? " · aborting" : "", r->id);
	add_clipped(&out, line.s, cols);
	/*
	 * The targets that fit beside the header, the lock lines, the hint
	 * and the line the cursor rests on; a line says how many do not.
	 */
	nlocks = 0;
	TAILQ_FOREACH(l, &r->locks.locks, entry)
		nlocks++;
	room = r->live.rows - 3 - (nlocks > 0 ? nlocks : 1);
	if (room < 2)
		room = 2;
	shown = r->ntargets <= (size_t)room ? r->ntargets : (size_t)room - 1;
	for (i = 0; i < shown; i++) {
		line.len = 0;
		target_line(&line, r, &r->targets[i], idwidth);
		add_clipped(&out, line.s, cols);
	}
	if (shown < r->ntargets) {
		line.len = 0;
		sbuf_addf(&line, "... and %zu more targets", r->ntargets -
		    shown);
		add_clipped(&out, line.s, cols);
	}
	lock_lines(&out, r, cols);
	hint_line(&out, r, cols);
	free(line.s);
	*nlines = 0;
	for (i = 0; i < out.len; i++)
		*nlines += out.s[i] == '\n';
	return out.s;
}

static void
write_all(const char *s, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(STDOUT_FILENO, s, len)) <= 0)
			return;		/* the terminal is gone: nothing to show */
		s += n;
		len -= (size_t)n;
	}
}

/* Take the view off the screen: the cursor goes back to where it began. */
static void
erase_view(struct live *lv)
{
	char	buf[32];

	if (lv->painted > 0) {
		snprintf(buf, sizeof(buf), "\r\033[%dA\033[J", lv->painted);
		write_all(buf, strlen(buf));
	}
	lv->painted = 0;
	free(lv->shown);
	lv->shown = NULL;
}

static void
log_hook(void *arg)
{
	erase_view(arg);
}

static void
paint(struct run *r)
{
	struct live	*lv = &r->live;
	struct sbuf	 out = { 0 };
	char		*view, *line, *nl;
	int		 nlines;

	lv->last_paint = now_monotonic_ms();
	lv->pending = 0;
	/* A background job leaves the terminal to the foreground one. */
	if (tcgetpgrp(STDOUT_FILENO) != getpgrp())
		return;
	view = compose(r, &nlines);
	if (lv->shown != NULL && strcmp(view, lv->shown) == 0) {
		free(view);
		return;
	}
	if (lv->painted > 0)
		sbuf_addf(&out, "\r\033[%dA", lv->painted);
	for (line = view; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		sbuf_add(&out, "\033[2K", 4);
		sbuf_add(&out, line, (size_t)(nl - line + 1));
	}
	if (nlines < lv->painted)
		sbuf_add(&out, "\033[J", 3);
	write_all(out.s, out.len);
	free(out.s);
	free(lv->shown);
	lv->shown = view;
	lv->painted = nlines;
}

static void
read_size(struct live *lv)
{
	struct winsize	ws;

	lv->cols = LIVE_DEFAULT_COLS;
	lv->rows = LIVE_DEFAULT_ROWS;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
	    ws.ws_row > 0) {
		lv->cols = ws.ws_col;
		lv->rows = ws.ws_row;
	}
}

void
live_init(struct run *r)
{
	const char	*term = getenv("TERM");

	memset(&r->live, 0, sizeof(r->live));
	if (r->opts->json || r->opts->plain || !isatty(STDOUT_FILENO) ||
	    term == NULL || strcmp(term, "dumb") == 0)
		return;
	r->live.on = 1;
	read_size(&r->live);
	if (isatty(STDERR_FILENO))
		log_set_hook(log_hook, &r->live);
}

void
live_update(struct run *r)
{
	if (!r->live.on)
		return;
	if (now_monotonic_ms() - r->live.last_paint < LIVE_INTERVAL_MS)
		r->live.pending = 1;
	else
		paint(r);
}

void
live_paint_now(struct run *r)
{
	if (r->live.on)
		paint(r);
}

int
live_timeout(const struct run *r)
{
	const struct target	*t;
	int64_t			 now, left, next = -1;
	size_t			 i;

	if (!r->live.on)
		return -1;
	now = now_monotonic_ms();
	if (r->live.pending) {
		left = LIVE_INTERVAL_MS - (now - r->live.last_paint);
		return left < 0 ? 0 : (int)left;
	}
	if (r->frozen)
		return -1;
	/* When the next running target's clock shows another second. */
	for (i = 0; i < r->ntargets; i++) {
		t = &r->targets[i];
		if (t->state != TARGET_RUNNING)
			continue;
		left = 1000 - (now - t->started_mono) % 1000;
		if (next == -1 || left < next)
			next = left;
	}
	return (int)next;
}

void
live_resize(struct run *r)
{
	if (!r->live.on)
		return;
	read_size(&r->live);
	/* Lines the old width allowed may have been rewrapped: start over. */
	erase_view(&r->live);
	paint(r);
}

void
live_erase(struct run *r)
{
	if (r->live.on)
		erase_view(&r->live);
}

void
live_forget(struct run *r)
{
	if (!r->live.on)
		return;
	r->live.painted = 0;
	free(r->live.shown);
	r->live.shown = NULL;
}

void
live_end(struct run *r)
{
	if (!r->live.on)
		return;
	erase_view(&r->live);
	log_set_hook(NULL, NULL);
	r->live.on = 0;
}
