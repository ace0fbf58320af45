/*
 * The lock and control messages of the protocol: what decodes, and what
 * is refused with which message.
 */
#include "config.h"

#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "util.h"

/* Decode s; the error message (caller frees), or NULL when it decodes. */
static char *
decode_error(const char *s)
{
	struct proto_msg	 msg;
	char			*errmsg;

	if (proto_decode(s, strlen(s), &msg, &errmsg) == 0) {
		proto_msg_release(&msg);
		return NULL;
	}
	ck_assert_ptr_nonnull(errmsg);
	return errmsg;
}

#define ck_accepts(s) do {						\
	char	*e_ = decode_error(s);					\
	ck_assert_msg(e_ == NULL, "refused %s: %s", s, e_);		\
} while (0)

#define ck_rejects(s, expect) do {					\
	char	*e_ = decode_error(s);					\
	ck_assert_msg(e_ != NULL, "accepted: %s", s);			\
	ck_assert_msg(strcmp(e_, expect) == 0,				\
	    "error \"%s\", expected \"%s\"", e_, expect);		\
	free(e_);							\
} while (0)

/* An acquire with one member's JSON text replaced.  Caller frees. */
static char *
acquire_with(const char *lock, const char *purpose, const char *id)
{
	char	*s;

	xasprintf(&s, "{\"v\":1,\"type\":\"acquire\",\"lock\":%s,\"purpose\":%s,"
	    "\"id\":%s}", lock, purpose, id);
	return s;
}

static void
rejects_acquire(const char *lock, const char *purpose, const char *id,
    const char *expect)
{
	char	*s = acquire_with(lock, purpose, id);

	ck_rejects(s, expect);
	free(s);
}

START_TEST(test_lock_messages_decode)
{
	struct proto_msg	 msg;
	char			*errmsg;
	const char		*s;

	s = "{\"v\":1,\"type\":\"acquire\",\"lock\":\"config:repo\","
	    "\"purpose\":\"before_final_squash\",\"id\":3}";
	ck_assert_int_eq(proto_decode(s, strlen(s), &msg, &errmsg), 0);
	ck_assert_int_eq(msg.type, PROTO_ACQUIRE);
	ck_assert_str_eq(proto_str(&msg, "lock"), "config:repo");
	ck_assert_str_eq(proto_str(&msg, "purpose"), "before_final_squash");
	ck_assert_int_eq(proto_int(&msg, "id", -1), 3);
	proto_msg_release(&msg);

	s = "{\"v\":1,\"type\":\"granted\",\"lock\":\"config:repo\",\"id\":0,"
	    "\"waited_ms\":9007199254740991}";
	ck_assert_int_eq(proto_decode(s, strlen(s), &msg, &errmsg), 0);
	ck_assert_int_eq(msg.type, PROTO_GRANTED);
	ck_assert_int_eq(proto_int(&msg, "waited_ms", -1), 9007199254740991LL);
	proto_msg_release(&msg);

	ck_accepts("{\"id\":2147483647,\"lock\":\"a:b\",\"type\":\"release\",\"v\":1}");
	ck_accepts("{\"v\":1,\"type\":\"acquire\",\"lock\":\"cache:dbt_main-2\","
	    "\"purpose\":\"x ~!\",\"id\":0}");
	ck_assert_str_eq(proto_type_name(PROTO_ACQUIRE), "acquire");
	ck_assert_str_eq(proto_type_name(PROTO_GRANTED), "granted");
	ck_assert_str_eq(proto_type_name(PROTO_RELEASE), "release");
}
END_TEST

START_TEST(test_lock_names)
{
	char	name[PROTO_MAX_LOCK_NAME + 8];

	rejects_acquire("\"Config:repo\"", "\"p\"", "1", "bad \"acquire\" message: "
	    "\"lock\": expected a lock name such as \"config:repo\"");
	rejects_acquire("\"config\"", "\"p\"", "1", "bad \"acquire\" message: "
	    "\"lock\": expected a lock name such as \"config:repo\"");
	rejects_acquire("\":repo\"", "\"p\"", "1", "bad \"acquire\" message: "
	    "\"lock\": expected a lock name such as \"config:repo\"");
	rejects_acquire("\"config:\"", "\"p\"", "1", "bad \"acquire\" message: "
	    "\"lock\": expected a lock name such as \"config:repo\"");
	rejects_acquire("\"config:re po\"", "\"p\"", "1", "bad \"acquire\" message: "
	    "\"lock\": expected a lock name such as \"config:repo\"");
	rejects_acquire("\"config:repo:x\"", "\"p\"", "1", "bad \"acquire\" "
	    "message: \"lock\": expected a lock name such as \"config:repo\"");
	rejects_acquire("\"config:Repo\"", "\"p\"", "1", "bad \"acquire\" message: "
	    "\"lock\": expected a lock name such as \"config:repo\"");
	rejects_acquire("\"c1:repo\"", "\"p\"", "1", "bad \"acquire\" message: "
	    "\"lock\": expected a lock name such as \"config:repo\"");
	rejects_acquire("\"\"", "\"p\"", "1", "bad \"acquire\" message: "
	    "\"lock\": expected a string of 3 to 64 bytes");
	rejects_acquire("5", "\"p\"", "1", "bad \"acquire\" message: "
	    "\"lock\": expected a string of 3 to 64 bytes");
	rejects_acquire("null", "\"p\"", "1", "bad \"acquire\" message: "
	    "\"lock\": expected a string of 3 to 64 bytes");

	/* 64 bytes is the longest name. */
	memset(name, 0, sizeof(name));
	name[0] = '"';
	memcpy(name + 1, "config:", 7);
	memset(name + 8, 'x', PROTO_MAX_LOCK_NAME - 7);
	strcat(name, "\"");
	{
		char	*s = acquire_with(name, "\"p\"", "1");

		ck_accepts(s);
		free(s);
	}
	name[strlen(name) - 1] = 'x';
	strcat(name, "\"");
	rejects_acquire(name, "\"p\"", "1", "bad \"acquire\" message: "
	    "\"lock\": expected a string of 3 to 64 bytes");
}
END_TEST

START_TEST(test_purposes)
{
	char	purpose[PROTO_MAX_PURPOSE + 8];
	char	*s;

	rejects_acquire("\"config:repo\"", "\"\"", "1", "bad \"acquire\" message: "
	    "\"purpose\": expected a string of 1 to 128 bytes");
	rejects_acquire("\"config:repo\"", "\"a\\tb\"", "1", "bad \"acquire\" "
	    "message: \"purpose\": expected printable ASCII");
	rejects_acquire("\"config:repo\"", "\"line\\n\"", "1", "bad \"acquire\" "
	    "message: \"purpose\": expected printable ASCII");
	rejects_acquire("\"config:repo\"", "\"caf\xc3\xa9\"", "1", "bad \"acquire\" "
	    "message: \"purpose\": expected printable ASCII");
	rejects_acquire("\"config:repo\"", "\"\\u007f\"", "1", "bad \"acquire\" "
	    "message: \"purpose\": expected printable ASCII");
	rejects_acquire("\"config:repo\"", "[]", "1", "bad \"acquire\" message: "
	    "\"purpose\": expected a string of 1 to 128 bytes");

	memset(purpose, 0, sizeof(purpose));
	purpose[0] = '"';
	memset(purpose + 1, 'p', PROTO_MAX_PURPOSE);
	strcat(purpose, "\"");
	s = acquire_with("\"config:repo\"", purpose, "1");
	ck_accepts(s);
	free(s);
	purpose[strlen(purpose) - 1] = 'p';
	strcat(purpose, "\"");
	rejects_acquire("\"config:repo\"", purpose, "1", "bad \"acquire\" message: "
	    "\"purpose\": expected a string of 1 to 128 bytes");
}
END_TEST

START_TEST(test_request_ids)
{
	const char	*want = "bad \"acquire\" message: \"id\": expected an "
			    "integer from 0 to 2147483647";

	rejects_acquire("\"config:repo\"", "\"p\"", "-1", want);
	rejects_acquire("\"config:repo\"", "\"p\"", "1.5", want);
	rejects_acquire("\"config:repo\"", "\"p\"", "2147483648", want);
	rejects_acquire("\"config:repo\"", "\"p\"", "\"1\"", want);
	rejects_acquire("\"config:repo\"", "\"p\"", "null", want);
	rejects_acquire("\"config:repo\"", "\"p\"", "true", want);
	rejects_acquire("\"config:repo\"", "\"p\"", "1e300", want);
	ck_rejects("{\"v\":1,\"type\":\"granted\",\"lock\":\"config:repo\",\"id\":1,"
	    "\"waited_ms\":-1}", "bad \"granted\" message: \"waited_ms\": "
	    "expected an integer from 0 to 9007199254740991");
	ck_rejects("{\"v\":1,\"type\":\"granted\",\"lock\":\"config:repo\",\"id\":1,"
	    "\"waited_ms\":9007199254740992}", "bad \"granted\" message: "
	    "\"waited_ms\": expected an integer from 0 to 9007199254740991");
}
END_TEST

START_TEST(test_missing_unknown_and_duplicate_members)
{
	ck_rejects("{\"v\":1,\"type\":\"acquire\",\"lock\":\"config:repo\","
	    "\"purpose\":\"p\"}", "bad \"acquire\" message: missing member \"id\"");
	ck_rejects("{\"v\":1,\"type\":\"acquire\",\"purpose\":\"p\",\"id\":1}",
	    "bad \"acquire\" message: missing member \"lock\"");
	ck_rejects("{\"v\":1,\"type\":\"acquire\",\"lock\":\"config:repo\",\"id\":1}",
	    "bad \"acquire\" message: missing member \"purpose\"");
	ck_rejects("{\"v\":1,\"type\":\"granted\",\"lock\":\"config:repo\",\"id\":1}",
	    "bad \"granted\" message: missing member \"waited_ms\"");
	ck_rejects("{\"v\":1,\"type\":\"release\",\"lock\":\"config:repo\"}",
	    "bad \"release\" message: missing member \"id\"");
	ck_rejects("{\"v\":1,\"type\":\"acquire\",\"lock\":\"config:repo\","
	    "\"purpose\":\"p\",\"id\":1,\"timeout\":5}",
	    "bad \"acquire\" message: unknown member \"timeout\"");
	ck_rejects("{\"v\":1,\"type\":\"release\",\"lock\":\"config:repo\",\"id\":1,"
	    "\"purpose\":\"p\"}", "bad \"release\" message: unknown member "
	    "\"purpose\"");
	ck_rejects("{\"v\":1,\"type\":\"release\",\"lock\":\"config:repo\",\"id\":1,"
	    "\"id\":2}", "bad \"release\" message: duplicate member \"id\"");
	ck_rejects("{\"v\":1,\"type\":\"release\",\"lock\":\"config:repo\","
	    "\"lock\":\"config:other\",\"id\":1}",
	    "bad \"release\" message: duplicate member \"lock\"");
}
END_TEST

START_TEST(test_version_and_type)
{
	ck_rejects("{\"v\":2,\"type\":\"acquire\",\"lock\":\"config:repo\","
	    "\"purpose\":\"p\",\"id\":1}", "unsupported protocol version 2 "
	    "(this is 1)");
	ck_rejects("{\"type\":\"release\",\"lock\":\"config:repo\",\"id\":1}",
	    "missing member \"v\"");
	ck_rejects("{\"v\":1,\"type\":\"lock\",\"lock\":\"config:repo\"}",
	    "unknown message type \"lock\"");
	ck_rejects("{\"v\":1,\"type\":\"Acquire\",\"lock\":\"config:repo\","
	    "\"purpose\":\"p\",\"id\":1}", "unknown message type \"Acquire\"");
	ck_rejects("{\"v\":1,\"type\":\"unlock\",\"lock\":\"config:repo\",\"id\":1}",
	    "unknown message type \"unlock\"");
	ck_rejects("{\"v\":1,\"type\":\"stop\"}", "unknown message type \"stop\"");
}
END_TEST

START_TEST(test_control_requests)
{
	ck_accepts("{\"v\":1,\"type\":\"status\"}");
	ck_accepts("{\"v\":1,\"type\":\"pause\"}");
	ck_accepts("{\"v\":1,\"type\":\"resume\"}");
	ck_accepts("{\"type\":\"drain\",\"v\":1}");
	ck_accepts("{\"v\":1,\"type\":\"abort\"}");
	ck_rejects("{\"v\":1,\"type\":\"status\",\"json\":true}",
	    "bad \"status\" message: unknown member \"json\"");
	ck_rejects("{\"v\":1,\"type\":\"abort\",\"grace\":0}",
	    "bad \"abort\" message: unknown member \"grace\"");
	ck_rejects("{\"v\":3,\"type\":\"pause\"}",
	    "unsupported protocol version 3 (this is 1)");
	ck_accepts("{\"v\":1,\"type\":\"ok\",\"message\":\"paused\"}");
	ck_rejects("{\"v\":1,\"type\":\"ok\"}",
	    "bad \"ok\" message: missing member \"message\"");
}
END_TEST

static const char snapshot_head[] =
    "{\"v\":1,\"type\":\"snapshot\",\"run_id\":\"r\",\"pid\":10,"
    "\"paused\":false,\"draining\":true,\"aborting\":false,";

/* A snapshot with these targets and locks arrays.  Caller frees. */
static char *
snapshot_with(const char *targets, const char *locks)
{
	char	*s;

	xasprintf(&s, "%s\"targets\":%s,\"locks\":%s}", snapshot_head, targets,
	    locks);
	return s;
}

static const char good_target[] =
    "{\"target\":\"dbt\",\"stage\":2,\"state\":\"running\",\"status\":null,"
    "\"phase\":\"adapter\",\"percent\":40,\"pid\":77,\"elapsed_ms\":1200}";
static const char good_lock[] =
    "{\"lock\":\"config:repo\",\"holder\":{\"target\":\"dbt\",\"id\":1,"
    "\"purpose\":\"session\",\"held_ms\":30},\"waiters\":[{\"target\":\"n\","
    "\"id\":0,\"purpose\":\"session\",\"waited_ms\":29}]}";

static void
snapshot_rejects(const char *targets, const char *locks, const char *expect)
{
	char	*s = snapshot_with(targets, locks);

	ck_rejects(s, expect);
	free(s);
}

START_TEST(test_snapshot)
{
	char	*s, *targets, *locks;

	xasprintf(&targets, "[%s,{\"target\":\"w\",\"stage\":1,\"state\":"
	    "\"finished\",\"status\":\"not-run\",\"phase\":null,\"percent\":null,"
	    "\"pid\":null,\"elapsed_ms\":null}]", good_target);
	xasprintf(&locks, "[%s,{\"lock\":\"config:other\",\"holder\":null,"
	    "\"waiters\":[]}]", good_lock);
	s = snapshot_with(targets, locks);
	ck_accepts(s);
	free(s);
	free(targets);
	free(locks);
	s = snapshot_with("[]", "[]");
	ck_accepts(s);
	free(s);

	snapshot_rejects("[{\"target\":\"dbt\",\"stage\":2,\"state\":\"sleeping\","
	    "\"status\":null,\"phase\":null,\"percent\":null,\"pid\":null,"
	    "\"elapsed_ms\":null}]", "[]", "bad \"snapshot\" message: "
	    "\"targets[0].state\": unknown value \"sleeping\"");
	snapshot_rejects("[{\"target\":\"dbt\",\"stage\":3,\"state\":\"queued\","
	    "\"status\":null,\"phase\":null,\"percent\":null,\"pid\":null,"
	    "\"elapsed_ms\":null}]", "[]", "bad \"snapshot\" message: "
	    "\"targets[0].stage\": expected an integer from 1 to 2");
	xasprintf(&targets, "[%s,{\"target\":\"x\"}]", good_target);
	snapshot_rejects(targets, "[]", "bad \"snapshot\" message: missing "
	    "member \"targets[1].stage\"");
	free(targets);
	xasprintf(&targets, "[%s,7]", good_target);
	snapshot_rejects(targets, "[]", "bad \"snapshot\" message: "
	    "\"targets[1]\": expected an object");
	free(targets);
	snapshot_rejects("{}", "[]", "bad \"snapshot\" message: \"targets\": "
	    "expected an array of at most 4096 objects");
	snapshot_rejects("[]", "[{\"lock\":\"config:repo\",\"holder\":[],"
	    "\"waiters\":[]}]", "bad \"snapshot\" message: "
	    "\"locks[0].holder\": expected an object or null");
	snapshot_rejects("[]", "[{\"lock\":\"config:repo\",\"holder\":null,"
	    "\"waiters\":[{\"target\":\"a\",\"id\":1,\"purpose\":\"p\","
	    "\"waited_ms\":1,\"pid\":3}]}]", "bad \"snapshot\" message: unknown "
	    "member \"locks[0].waiters[0].pid\"");
	snapshot_rejects("[]", "[{\"lock\":\"repo\",\"holder\":null,"
	    "\"waiters\":[]}]", "bad \"snapshot\" message: \"locks[0].lock\": "
	    "expected a lock name such as \"config:repo\"");

	xasprintf(&s, "{\"v\":1,\"type\":\"snapshot\",\"run_id\":\"r\",\"pid\":10,"
	    "\"paused\":\"no\",\"draining\":true,\"aborting\":false,"
	    "\"targets\":[],\"locks\":[]}");
	ck_rejects(s, "bad \"snapshot\" message: \"paused\": expected true or "
	    "false");
	free(s);
	xasprintf(&s, "{\"v\":1,\"type\":\"snapshot\",\"run_id\":\"r\",\"pid\":10,"
	    "\"paused\":0,\"draining\":true,\"aborting\":false,"
	    "\"targets\":[],\"locks\":[]}");
	ck_rejects(s, "bad \"snapshot\" message: \"paused\": expected true or "
	    "false");
	free(s);
	xasprintf(&s, "%s\"targets\":[]}", snapshot_head);
	ck_rejects(s, "bad \"snapshot\" message: missing member \"locks\"");
	free(s);
}
END_TEST

START_TEST(test_oversize_frame)
{
	struct proto_conn	 conn;
	struct proto_msg	 msg;
	char			*line, *errmsg;
	size_t			 len = PROTO_MAX_FRAME + 16, head;
	int			 sv[2];

	/* A frame is refused for its size before anything looks inside. */
	line = xmalloc(len + 1);
	head = snprintf(line, len, "{\"v\":1,\"type\":\"acquire\",\"lock\":"
	    "\"config:repo\",\"id\":1,\"purpose\":\"");
	memset(line + head, 'p', len - head - 2);
	memcpy(line + len - 2, "\"}", 3);
	ck_assert_int_eq(proto_decode(line, len, &msg, &errmsg), -1);
	ck_assert_str_eq(errmsg, "frame longer than 65536 bytes");
	free(errmsg);

	/* And on a stream, with no newline in sight. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	proto_conn_init(&conn, sv[0]);
	ck_assert_int_eq(write(sv[1], line, PROTO_MAX_FRAME / 2),
	    PROTO_MAX_FRAME / 2);
	ck_assert_int_gt(proto_conn_fill(&conn), 0);
	ck_assert_int_eq(proto_next(&conn, &msg, &errmsg), 0);
	ck_assert_int_eq(write(sv[1], line + PROTO_MAX_FRAME / 2, PROTO_MAX_FRAME / 2),
	    PROTO_MAX_FRAME / 2);
	while (conn.len < PROTO_MAX_FRAME)
		ck_assert_int_gt(proto_conn_fill(&conn), 0);
	ck_assert_int_eq(proto_next(&conn, &msg, &errmsg), -1);
	ck_assert_str_eq(errmsg, "frame longer than 65536 bytes");
	free(errmsg);
	proto_conn_release(&conn);
	close(sv[1]);
	free(line);
}
END_TEST

START_TEST(test_send_validates_and_round_trips)
{
	struct proto_conn	 conn;
	struct proto_msg	 msg;
	cJSON			*m;
	char			*errmsg, buf[8];
	int			 sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);

	/* A bad lock name never leaves the sender. */
	m = proto_new(PROTO_ACQUIRE);
	cJSON_AddStringToObject(m, "lock", "repo");
	cJSON_AddStringToObject(m, "purpose", "session");
	cJSON_AddNumberToObject(m, "id", 1);
	ck_assert_int_eq(proto_send(sv[1], m, &errmsg), -1);
	ck_assert_str_eq(errmsg, "bad \"acquire\" message: \"lock\": expected a "
	    "lock name such as \"config:repo\"");
	free(errmsg);
	cJSON_Delete(m);
	ck_assert_int_eq(read(sv[0], buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, EAGAIN);

	m = proto_new(PROTO_GRANTED);
	cJSON_AddStringToObject(m, "lock", "config:repo");
	cJSON_AddNumberToObject(m, "id", 12);
	cJSON_AddNumberToObject(m, "waited_ms", 250);
	ck_assert_int_eq(proto_send(sv[1], m, &errmsg), 0);
	cJSON_Delete(m);
	m = proto_new(PROTO_PAUSE);
	ck_assert_int_eq(proto_send(sv[1], m, &errmsg), 0);
	cJSON_Delete(m);

	proto_conn_init(&conn, sv[0]);
	ck_assert_int_eq(proto_recv(&conn, &msg, 1000, &errmsg), 1);
	ck_assert_int_eq(msg.type, PROTO_GRANTED);
	ck_assert_str_eq(proto_str(&msg, "lock"), "config:repo");
	ck_assert_int_eq(proto_int(&msg, "id", -1), 12);
	ck_assert_int_eq(proto_int(&msg, "waited_ms", -1), 250);
	proto_msg_release(&msg);
	ck_assert_int_eq(proto_recv(&conn, &msg, 1000, &errmsg), 1);
	ck_assert_int_eq(msg.type, PROTO_PAUSE);
	proto_msg_release(&msg);
	proto_conn_release(&conn);
	close(sv[1]);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("proto_lock");
	TCase	*tc = tcase_create("codec");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_lock_messages_decode);
	tcase_add_test(tc, test_lock_names);
	tcase_add_test(tc, test_purposes);
	tcase_add_test(tc, test_request_ids);
	tcase_add_test(tc, test_missing_unknown_and_duplicate_members);
	tcase_add_test(tc, test_version_and_type);
	tcase_add_test(tc, test_control_requests);
	tcase_add_test(tc, test_snapshot);
	tcase_add_test(tc, test_oversize_frame);
	tcase_add_test(tc, test_send_validates_and_round_trips);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
