/*
 * The run's lock service: what the workers say about locks goes to lockd
 * (lockd.c), the grants it hands out go back on their sockets, the death
 * of a holder is cleaned up after (its git lock files swept) before the
 * next waiter gets the lock, holders over ingest.lock.maxHoldSeconds are
 * named to the poll loop, and each target's lock times and events go into
 * its result.  A worker is lockd's client number t - r->targets.
 */
#include "config.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "ktxconfig.h"
#include "lockclient.h"
#include "lockd.h"
#include "log.h"
#include "plan.h"
#include "util.h"

static uint64_t
client_of(const struct run *r, const struct target *t)
{
	return (uint64_t)(t - r->targets);
}

/*
 * Whether the worker can still take a grant: running, its connection open,
 * and no hang-up pending that the loop has not read yet.
 */
static int
client_alive(uint64_t client, void *arg)
{
	struct run	*r = arg;
	struct target	*t = &r->targets[client];
	struct pollfd	 pfd;

	if (t->state != TARGET_RUNNING || t->conn.fd == -1 || t->conn.eof ||
	    t->stop == STOP_PROTOCOL)
		return 0;
	pfd.fd = t->conn.fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR)))
		return 0;
	return 1;
}

void
lockserv_init(struct run *r, int max_hold_seconds)
{
	lockd_init(&r->locks, (int64_t)max_hold_seconds * 1000);
	r->locks.alive = client_alive;
	r->locks.alive_arg = r;
}

void
lockserv_release(struct run *r)
{
	size_t	i;

	for (i = 0; i < r->ntargets; i++) {
		cJSON_Delete(r->targets[i].lock_events);
		r->targets[i].lock_events = NULL;
	}
	lockd_release(&r->locks);
}

static void
add_event(struct target *t, cJSON *ev)
{
	if (t->lock_events == NULL)
		t->lock_events = cJSON_CreateArray();
	cJSON_AddItemToArray(t->lock_events, ev);
}

static void
send_grants(struct run *r, const struct lockd_out *out)
{
	const struct lockd_grant	*g;
	struct target			*t;
	cJSON				*msg;
	char				*errmsg, *why;
	size_t				 i;

	for (i = 0; i < out->ngrants; i++) {
		g = &out->grants[i];
		t = &r->targets[g->client];
		log_debug("%s: granted \"%s\" (request %lld) after %lld ms",
		    t->pt->conn->id, g->lock, (long long)g->id,
		    (long long)g->waited_ms);
		msg = proto_new(PROTO_GRANTED);
		cJSON_AddStringToObject(msg, "lock", g->lock);
		cJSON_AddNumberToObject(msg, "id", (double)g->id);
		cJSON_AddNumberToObject(msg, "waited_ms", (double)g->waited_ms);
		if (proto_send(t->conn.fd, msg, &errmsg) != 0) {
			/* It holds the lock until it is reaped, as all do. */
			xasprintf(&why, "cannot send the grant of \"%s\": %s",
			    g->lock, errmsg);
			run_drop(r, t, why);
			free(why);
			free(errmsg);
		}
		cJSON_Delete(msg);
	}
}

int
lockserv_message(struct run *r, struct target *t, const struct proto_msg *msg,
    char **why)
{
	struct lockd_out	 out = { 0 };
	int			 rc;

	if (msg->type == PROTO_ACQUIRE)
		rc = lockd_acquire(&r->locks, client_of(r, t),
		    proto_str(msg, "lock"), proto_int(msg, "id", 0),
		    proto_str(msg, "purpose"), run_clock(r), &out, why);
	else
		rc = lockd_unlock(&r->locks, client_of(r, t),
		    proto_str(msg, "lock"), proto_int(msg, "id", 0),
		    run_clock(r), &out, why);
	send_grants(r, &out);
	lockd_out_release(&out);
	return rc;
}

static cJSON *
paths_json(const struct strv *sv)
{
	cJSON	*arr = cJSON_CreateArray();
	size_t	 i;

	for (i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(sv->v[i]));
	return arr;
}

/* The key of t's session worktree (check_session vouched for it), or NULL. */
static const char *
session_key(const struct target *t)
{
	if (t->session_path == NULL)
		return NULL;
	return strrchr(t->session_path, '/') + 1 + strlen("session-");
}

/*
 * A holder died: before anyone else gets the lock, remove the git lock
 * files it provably left (only the repository lock guards main), and
 * record what was found.
 */
static void
holder_died(struct run *r, struct target *t, const struct lockd_drop *d)
{
	struct strv	 removed = { 0 }, kept = { 0 };
	cJSON		*ev;
	char		*errmsg = NULL;
	size_t		 i;

	if (strcmp(d->lock, LOCK_REPO) == 0 &&
	    lockd_sweep(r->project_dir, session_key(t), &d->granted_wall,
	    &removed, &kept, &errmsg) != 0)
		log_warnx("%s: sweeping the git lock files it left: %s",
		    t->pt->conn->id, errmsg);
	log_warnx("%s: the worker ended holding \"%s\" (%s, %lld ms); %zu git "
	    "lock files removed, %zu kept", t->pt->conn->id, d->lock,
	    d->purpose, (long long)d->held_ms, removed.n, kept.n);
	for (i = 0; i < removed.n; i++)
		log_info("%s: removed \"%s\"", t->pt->conn->id, removed.v[i]);
	for (i = 0; i < kept.n; i++)
		log_warnx("%s: \"%s\" is not provably its own and was kept: "
		    "see \"ktx-supervisor recover\"", t->pt->conn->id,
		    kept.v[i]);
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "event", "holder-died");
	cJSON_AddStringToObject(ev, "lock", d->lock);
	cJSON_AddStringToObject(ev, "purpose", d->purpose);
	cJSON_AddNumberToObject(ev, "heldMs", (double)d->held_ms);
	cJSON_AddItemToObject(ev, "removed", paths_json(&removed));
	cJSON_AddItemToObject(ev, "kept", paths_json(&kept));
	if (errmsg != NULL)
		cJSON_AddStringToObject(ev, "error", errmsg);
	else
		cJSON_AddNullToObject(ev, "error");
	add_event(t, ev);
	strv_release(&removed);
	strv_release(&kept);
	free(errmsg);
}

void
lockserv_gone(struct run *r, struct target *t)
{
	struct lockd_out	 out = { 0 };
	size_t			 i;

	lockd_client_gone(&r->locks, client_of(r, t), run_clock(r), &out);
	for (i = 0; i < out.ndrops; i++)
		holder_died(r, t, &out.drops[i]);
	send_grants(r, &out);
	lockd_out_release(&out);
}

struct target *
lockserv_overdue(struct run *r)
{
	struct target	*t;
	const char	*lock;
	uint64_t	 client;
	cJSON		*ev;

	if (!lockd_next_overdue(&r->locks, run_clock(r), &client, &lock))
		return NULL;
	t = &r->targets[client];
	log_warnx("%s: held \"%s\" longer than %lld s "
	    "(ingest.lock.maxHoldSeconds): stopping it", t->pt->conn->id, lock,
	    (long long)(r->locks.max_hold_ms / 1000));
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "event", "max-hold-exceeded");
	cJSON_AddStringToObject(ev, "lock", lock);
	cJSON_AddNumberToObject(ev, "maxHoldMs", (double)r->locks.max_hold_ms);
	add_event(t, ev);
	return t;
}

int64_t
lockserv_deadline(const struct run *r)
{
	return lockd_deadline(&r->locks);
}

cJSON *
lockserv_result(const struct run *r, const struct target *t)
{
	struct lockd_stats	 st;
	cJSON			*obj = cJSON_CreateObject();

	lockd_client_stats(&r->locks, client_of(r, t), run_clock(r), &st);
	cJSON_AddNumberToObject(obj, "acquisitions", st.acquisitions);
	cJSON_AddNumberToObject(obj, "waitMs", (double)st.wait_ms);
	cJSON_AddNumberToObject(obj, "holdMs", (double)st.hold_ms);
	cJSON_AddNumberToObject(obj, "maxWaitMs", (double)st.max_wait_ms);
	cJSON_AddNumberToObject(obj, "maxHoldMs", (double)st.max_hold_ms);
	cJSON_AddItemToObject(obj, "events", t->lock_events != NULL ?
	    cJSON_Duplicate(t->lock_events, 1) : cJSON_CreateArray());
	return obj;
}
