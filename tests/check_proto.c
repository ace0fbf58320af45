#include "config.h"

#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "util.h"

static const char hello[] = "{\"v\":1,\"type\":\"hello\",\"target\":\"dbt\",\"pid\":42}";

static const char assign[] =
    "{\"v\":1,\"type\":\"assign\",\"target\":\"dbt\",\"run_id\":\"r1\","
    "\"job_id\":\"r1-dbt\",\"project_dir\":\"/p\",\"grace\":10,"
    "\"author\":{\"name\":\"ktx\",\"email\":\"ktx@example.com\"},"
    "\"warehouses\":[\"wh\"],"
    "\"connection\":{\"id\":\"dbt\",\"driver\":\"dbt\",\"kind\":\"source\","
    "\"path\":null,\"url\":null,\"source_dir\":\"d\",\"mappings_connection\":null,"
    "\"remote_input\":null,"
    "\"enabled_tables\":[],\"adapter\":{\"command\":[\"sh\",\"x.sh\"],"
    "\"timeout\":0,\"secrets\":[\"TOKEN=env:T\"]}}}";

/* Decode s; return the error message (caller frees) or NULL on success. */
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

#define ck_assert_rejects(s, expect) do {				\
	char	*e_ = decode_error(s);					\
	ck_assert_msg(e_ != NULL, "accepted: %s", s);			\
	ck_assert_msg(strstr(e_, expect) != NULL,			\
	    "error \"%s\" lacks \"%s\"", e_, expect);			\
	free(e_);							\
} while (0)

static void
make_pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
}

static void
write_all(int fd, const char *s, size_t len)
{
	ck_assert_int_eq(write(fd, s, len), (ssize_t)len);
}

/* proto_encode prints what cJSON_PrintUnformatted prints, byte for byte. */
START_TEST(test_encode_as_cjson)
{
	static const double nums[] = { 0, -0.0, 1, -1, 42, 100000, 1e14,
	    999999999999999.0, 1e15, -1e15, 1e300, 0.1, 1.5, -2.25, 1.0 / 3,
	    123456789012345678.0, 5e-324 };
	cJSON	*msg, *arr, *obj;
	char	*ours, *theirs;
	size_t	 i, len;

	msg = cJSON_CreateObject();
	cJSON_AddNumberToObject(msg, "v", 1);
	cJSON_AddStringToObject(msg, "type", "progress");
	cJSON_AddStringToObject(msg, "s", "quote \" back \\ \b\f\n\r\t \x01"
	    "\x1f \x7f caf\xc3\xa9 \xff");
	cJSON_AddStringToObject(msg, "", "");
	cJSON_AddNullToObject(msg, "n");
	cJSON_AddTrueToObject(msg, "t");
	cJSON_AddFalseToObject(msg, "f");
	arr = cJSON_AddArrayToObject(msg, "nums");
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		cJSON_AddItemToArray(arr, cJSON_CreateNumber(nums[i]));
	cJSON_AddArrayToObject(msg, "empty");
	obj = cJSON_AddObjectToObject(msg, "nested");
	cJSON_AddObjectToObject(obj, "inner");
	cJSON_AddItemToObject(obj, "list",
	    cJSON_CreateStringArray((const char *[]){ "a", "b\n" }, 2));
	ours = proto_encode(msg, &len);
	theirs = cJSON_PrintUnformatted(msg);
	ck_assert_str_eq(ours, theirs);
	ck_assert_uint_eq(len, strlen(theirs));
	free(ours);
	free(theirs);
	cJSON_Delete(msg);
}
END_TEST

START_TEST(test_valid_messages_decode)
{
	struct proto_msg	 msg;
	char			*errmsg;
	const cJSON		*conn;

	ck_assert_int_eq(proto_decode(hello, strlen(hello), &msg, &errmsg), 0);
	ck_assert_int_eq(msg.type, PROTO_HELLO);
	ck_assert_str_eq(proto_str(&msg, "target"), "dbt");
	ck_assert_int_eq(proto_int(&msg, "pid", 0), 42);
	proto_msg_release(&msg);

	ck_assert_int_eq(proto_decode(assign, strlen(assign), &msg, &errmsg), 0);
	ck_assert_int_eq(msg.type, PROTO_ASSIGN);
	conn = proto_get(&msg, "connection");
	ck_assert_str_eq(cJSON_GetObjectItem(conn, "kind")->valuestring, "source");
	proto_msg_release(&msg);

	ck_assert_ptr_null(decode_error("{\"v\":1,\"type\":\"progress\","
	    "\"phase\":\"adapter\",\"percent\":null,\"message\":\"\"}"));
	ck_assert_ptr_null(decode_error("{\"v\":1,\"type\":\"result\","
	    "\"status\":\"failed\",\"detail\":\"x\",\"exit_code\":3,"
	    "\"signal\":null,\"commit\":null,\"trace\":\"/p/t.jsonl\","
	    "\"worktree\":\"/p/.ktx/worktrees/session-j\"}"));
	ck_assert_ptr_null(decode_error("{\"v\":1,\"type\":\"result\","
	    "\"status\":\"conflict\",\"detail\":null,\"exit_code\":null,"
	    "\"signal\":null,\"commit\":\"0123456789012345678901234567890123456789\","
	    "\"trace\":null,\"worktree\":null}"));
	ck_assert_ptr_null(decode_error("{\"v\":1,\"type\":\"session\","
	    "\"path\":\"/p/.ktx/worktrees/session-j\",\"branch\":\"session/j\","
	    "\"base\":\"0123456789012345678901234567890123456789\"}"));
	ck_assert_ptr_null(decode_error("{\"type\":\"spawned\",\"pgid\":77,\"v\":1}"));
	ck_assert_ptr_null(decode_error("{\"v\":1,\"type\":\"error\","
	    "\"code\":\"protocol\",\"message\":\"bad\"}  "));
}
END_TEST

START_TEST(test_not_json)
{
	ck_assert_rejects("hello", "not JSON");
	ck_assert_rejects("{\"v\":1,", "not JSON");
	ck_assert_rejects("", "not JSON");
	ck_assert_rejects("[1,2]", "not a JSON object");
	ck_assert_rejects("\"v\"", "not a JSON object");
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"target\":\"a\",\"pid\":1} {}",
	    "trailing bytes");
}
END_TEST

START_TEST(test_version)
{
	ck_assert_rejects("{\"type\":\"hello\",\"target\":\"a\",\"pid\":1}",
	    "missing member \"v\"");
	ck_assert_rejects("{\"v\":2,\"type\":\"hello\",\"target\":\"a\",\"pid\":1}",
	    "unsupported protocol version 2");
	ck_assert_rejects("{\"v\":0,\"type\":\"nosuch\"}",
	    "unsupported protocol version 0");
	ck_assert_rejects("{\"v\":\"1\",\"type\":\"hello\",\"target\":\"a\",\"pid\":1}",
	    "\"v\": expected an integer");
	ck_assert_rejects("{\"v\":1.5,\"type\":\"hello\",\"target\":\"a\",\"pid\":1}",
	    "\"v\": expected an integer");
}
END_TEST

START_TEST(test_unknown_type)
{
	ck_assert_rejects("{\"v\":1,\"type\":\"acquired\",\"lock\":\"x\"}",
	    "unknown message type \"acquired\"");
	ck_assert_rejects("{\"v\":1}", "missing member \"type\"");
	ck_assert_rejects("{\"v\":1,\"type\":7}", "\"type\": expected a string");
}
END_TEST

START_TEST(test_missing_and_mistyped_fields)
{
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"target\":\"a\"}",
	    "bad \"hello\" message: missing member \"pid\"");
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"target\":\"a\",\"pid\":\"1\"}",
	    "\"pid\": expected an integer");
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"target\":\"a\",\"pid\":0}",
	    "\"pid\": expected an integer from 1");
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"target\":\"a\",\"pid\":1.5}",
	    "\"pid\": expected an integer");
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"target\":\"a\",\"pid\":1e300}",
	    "\"pid\": expected an integer");
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"target\":\"\",\"pid\":1}",
	    "\"target\": expected a non-empty string");
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"target\":null,\"pid\":1}",
	    "\"target\": expected a non-empty string");
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"target\":\"a\",\"pid\":1,"
	    "\"extra\":true}", "unknown member \"extra\"");
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"target\":\"a\",\"pid\":1,"
	    "\"pid\":2}", "duplicate member \"pid\"");
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"v\":1,\"target\":\"a\","
	    "\"pid\":1}", "duplicate member \"v\"");
	ck_assert_rejects("{\"v\":1,\"type\":\"progress\",\"phase\":\"x\","
	    "\"percent\":101,\"message\":\"\"}", "\"percent\": expected an integer"
	    " from 0 to 100 or null");
	ck_assert_rejects("{\"v\":1,\"type\":\"result\",\"status\":\"great\","
	    "\"detail\":null,\"exit_code\":null,\"signal\":null,\"commit\":null}",
	    "\"status\": unknown value \"great\"");
	ck_assert_rejects("{\"v\":1,\"type\":\"result\",\"status\":\"done\","
	    "\"detail\":null,\"exit_code\":null,\"signal\":null,"
	    "\"trace\":null,\"worktree\":null}",
	    "missing member \"commit\"");
	ck_assert_rejects("{\"v\":1,\"type\":\"session\",\"path\":\"/p\","
	    "\"branch\":\"session/j\",\"base\":\"0123\"}",
	    "\"base\": expected a");
	ck_assert_rejects("{\"v\":1,\"type\":\"session\",\"path\":\"/p\","
	    "\"base\":\"0123456789012345678901234567890123456789\"}",
	    "missing member \"branch\"");
}
END_TEST

START_TEST(test_nested_fields)
{
	char	*s;

	s = xstrdup(assign);
	memcpy(strstr(s, "\"source\""), "\"sourcE\"", 8);
	ck_assert_rejects(s, "\"connection.kind\": unknown value \"sourcE\"");
	free(s);

	s = xstrdup(assign);
	memcpy(strstr(s, "[\"sh\""), "[ 1  ", 5);
	ck_assert_rejects(s, "\"connection.adapter.command\": expected an array");
	free(s);

	s = xstrdup(assign);
	memcpy(strstr(s, "\"timeout\":0"), "\"timeoux\":0", 11);
	ck_assert_rejects(s, "unknown member \"connection.adapter.timeoux\"");
	free(s);

	s = xstrdup(assign);
	memcpy(strstr(s, "\"TOKEN=env:T\""), "1234567890123", 13);
	ck_assert_rejects(s, "\"connection.adapter.secrets\": expected an array");
	free(s);

	s = xstrdup(assign);
	memcpy(strstr(s, "\"email\""), "\"emaiL\"", 7);
	ck_assert_rejects(s, "\"author.emaiL\"");
	free(s);

	s = xstrdup(assign);
	memcpy(strstr(s, "\"grace\":10"), "\"grace\":{}", 10);
	ck_assert_rejects(s, "\"grace\": expected an integer");
	free(s);
}
END_TEST

START_TEST(test_nul_bytes)
{
	struct proto_msg	 msg;
	char			 line[64], *errmsg;
	size_t			 len = strlen(hello);

	memcpy(line, hello, len);
	line[20] = '\0';
	ck_assert_int_eq(proto_decode(line, len, &msg, &errmsg), -1);
	ck_assert_str_eq(errmsg, "NUL byte in frame");
	free(errmsg);
	ck_assert_rejects("{\"v\":1,\"type\":\"hello\",\"target\":\"a\\u0000b\","
	    "\"pid\":1}", "NUL byte");
	/* An escaped backslash before "u0000" is no NUL. */
	ck_assert_ptr_null(decode_error("{\"v\":1,\"type\":\"hello\","
	    "\"target\":\"a\\\\u0000\",\"pid\":1}"));
}
END_TEST

START_TEST(test_oversize_line)
{
	struct proto_conn	 conn;
	struct proto_msg	 msg;
	char			*big, *errmsg;
	int			 sv[2];
	size_t			 n = PROTO_MAX_FRAME + 10;

	big = xmalloc(n);
	memset(big, ' ', n);
	ck_assert_int_eq(proto_decode(big, PROTO_MAX_FRAME, &msg, &errmsg), -1);
	ck_assert_ptr_nonnull(strstr(errmsg, "longer than 65536"));
	free(errmsg);

	/* Through a connection: no newline within the limit. */
	make_pair(sv);
	proto_conn_init(&conn, sv[0]);
	write_all(sv[1], big, PROTO_MAX_FRAME / 2);
	ck_assert_int_gt(proto_conn_fill(&conn), 0);
	ck_assert_int_eq(proto_next(&conn, &msg, &errmsg), 0);
	write_all(sv[1], big, PROTO_MAX_FRAME / 2 + 10);
	while (proto_conn_fill(&conn) > 0)
		;
	ck_assert_int_eq(proto_next(&conn, &msg, &errmsg), -1);
	ck_assert_ptr_nonnull(strstr(errmsg, "longer than 65536"));
	free(errmsg);
	/* The connection stays failed. */
	ck_assert_int_eq(proto_next(&conn, &msg, &errmsg), -1);
	free(errmsg);
	proto_conn_release(&conn);
	close(sv[1]);
	free(big);
}
END_TEST

START_TEST(test_largest_frame_fits)
{
	struct proto_conn	 conn;
	struct proto_msg	 msg;
	cJSON			*m;
	char			*detail, *errmsg;
	int			 sv[2];
	/* {"v":1,"type":"result","status":"failed","detail":"...", ... } */
	size_t			 overhead = strlen("{\"v\":1,\"type\":\"result\","
			    "\"status\":\"failed\",\"detail\":\"\",\"exit_code\":null,"
			    "\"signal\":null,\"commit\":null,\"trace\":null,"
			    "\"worktree\":null}\n");

	make_pair(sv);
	detail = xmalloc(PROTO_MAX_FRAME);
	memset(detail, 'x', PROTO_MAX_FRAME - overhead);
	detail[PROTO_MAX_FRAME - overhead] = '\0';
	m = proto_new(PROTO_RESULT);
	cJSON_AddStringToObject(m, "status", "failed");
	cJSON_AddStringToObject(m, "detail", detail);
	cJSON_AddNullToObject(m, "exit_code");
	cJSON_AddNullToObject(m, "signal");
	cJSON_AddNullToObject(m, "commit");
	cJSON_AddNullToObject(m, "trace");
	cJSON_AddNullToObject(m, "worktree");
	ck_assert_int_eq(proto_send(sv[1], m, &errmsg), 0);
	proto_conn_init(&conn, sv[0]);
	ck_assert_int_eq(proto_recv(&conn, &msg, 1000, &errmsg), 1);
	ck_assert_uint_eq(strlen(proto_str(&msg, "detail")), PROTO_MAX_FRAME - overhead);
	proto_msg_release(&msg);

	/* One byte more and the sender refuses it. */
	cJSON_ReplaceItemInObject(m, "detail", cJSON_CreateString(
	    (strcat(detail, "y"), detail)));
	ck_assert_int_eq(proto_send(sv[1], m, &errmsg), -1);
	ck_assert_ptr_nonnull(strstr(errmsg, "longer than 65536"));
	free(errmsg);
	cJSON_Delete(m);
	free(detail);
	proto_conn_release(&conn);
	close(sv[1]);
}
END_TEST

START_TEST(test_frame_split_across_reads)
{
	struct proto_conn	 conn;
	struct proto_msg	 msg;
	char			*errmsg, line[sizeof(hello) + 1];
	size_t			 i;
	int			 sv[2], got = 0;

	make_pair(sv);
	proto_conn_init(&conn, sv[0]);
	snprintf(line, sizeof(line), "%s\n", hello);
	for (i = 0; i < strlen(line); i++) {
		write_all(sv[1], line + i, 1);
		ck_assert_int_eq(proto_conn_fill(&conn), 1);
		got += proto_next(&conn, &msg, &errmsg);
		if (i + 1 < strlen(line))
			ck_assert_int_eq(got, 0);
	}
	ck_assert_int_eq(got, 1);
	ck_assert_int_eq(msg.type, PROTO_HELLO);
	ck_assert_int_eq(proto_int(&msg, "pid", 0), 42);
	proto_msg_release(&msg);
	ck_assert_int_eq(proto_next(&conn, &msg, &errmsg), 0);
	proto_conn_release(&conn);
	close(sv[1]);
}
END_TEST

START_TEST(test_many_frames_in_one_read)
{
	struct proto_conn	 conn;
	struct proto_msg	 msg;
	char			*buf, *errmsg;
	size_t			 len = strlen(hello), i, n = 500;
	int			 sv[2];

	make_pair(sv);
	buf = xmalloc(n * (len + 1) + 1);
	for (i = 0; i < n; i++) {
		memcpy(buf + i * (len + 1), hello, len);
		buf[i * (len + 1) + len] = '\n';
	}
	/* Half a frame more, completed later. */
	write_all(sv[1], buf, n * (len + 1));
	write_all(sv[1], hello, 10);
	proto_conn_init(&conn, sv[0]);
	for (i = 0; i < n; i++) {
		int	rc = proto_next(&conn, &msg, &errmsg);

		if (rc == 0) {
			ck_assert_int_gt(proto_conn_fill(&conn), 0);
			i--;
			continue;
		}
		ck_assert_int_eq(rc, 1);
		ck_assert_int_eq(msg.type, PROTO_HELLO);
		proto_msg_release(&msg);
	}
	while (proto_conn_fill(&conn) > 0)
		;
	ck_assert_int_eq(proto_next(&conn, &msg, &errmsg), 0);
	write_all(sv[1], hello + 10, len - 10);
	write_all(sv[1], "\n", 1);
	ck_assert_int_eq(proto_recv(&conn, &msg, 1000, &errmsg), 1);
	proto_msg_release(&msg);
	proto_conn_release(&conn);
	close(sv[1]);
	free(buf);
}
END_TEST

START_TEST(test_eof_inside_a_frame)
{
	struct proto_conn	 conn;
	struct proto_msg	 msg;
	char			*errmsg;
	int			 sv[2];

	make_pair(sv);
	proto_conn_init(&conn, sv[0]);
	write_all(sv[1], hello, 10);
	close(sv[1]);
	ck_assert_int_eq(proto_recv(&conn, &msg, 1000, &errmsg), -1);
	ck_assert_str_eq(errmsg, "connection closed inside a frame");
	free(errmsg);
	proto_conn_release(&conn);

	make_pair(sv);
	proto_conn_init(&conn, sv[0]);
	close(sv[1]);
	ck_assert_int_eq(proto_recv(&conn, &msg, 1000, &errmsg), 0);
	ck_assert_int_eq(conn.eof, 1);
	proto_conn_release(&conn);
}
END_TEST

START_TEST(test_bad_frame_between_good_ones)
{
	struct proto_conn	 conn;
	struct proto_msg	 msg;
	char			*errmsg;
	int			 sv[2];

	make_pair(sv);
	proto_conn_init(&conn, sv[0]);
	write_all(sv[1], hello, strlen(hello));
	write_all(sv[1], "\nnot json\n", 10);
	write_all(sv[1], hello, strlen(hello));
	write_all(sv[1], "\n", 1);
	ck_assert_int_eq(proto_recv(&conn, &msg, 1000, &errmsg), 1);
	proto_msg_release(&msg);
	ck_assert_int_eq(proto_recv(&conn, &msg, 1000, &errmsg), -1);
	ck_assert_str_eq(errmsg, "frame is not JSON");
	free(errmsg);
	/* No resynchronisation: the peer is dropped. */
	ck_assert_int_eq(proto_recv(&conn, &msg, 1000, &errmsg), -1);
	free(errmsg);
	proto_conn_release(&conn);
	close(sv[1]);
}
END_TEST

START_TEST(test_send_and_recv)
{
	struct proto_conn	 conn;
	struct proto_msg	 msg;
	cJSON			*m;
	char			*errmsg;
	int			 sv[2];

	make_pair(sv);
	m = proto_new(PROTO_PROGRESS);
	cJSON_AddStringToObject(m, "phase", "adapter");
	cJSON_AddNumberToObject(m, "percent", 50);
	cJSON_AddStringToObject(m, "message", "line one\nline \"two\"");
	ck_assert_int_eq(proto_send(sv[1], m, &errmsg), 0);
	cJSON_Delete(m);
	proto_conn_init(&conn, sv[0]);
	ck_assert_int_eq(proto_recv(&conn, &msg, 1000, &errmsg), 1);
	ck_assert_int_eq(msg.type, PROTO_PROGRESS);
	ck_assert_int_eq(proto_int(&msg, "percent", -1), 50);
	ck_assert_str_eq(proto_str(&msg, "message"), "line one\nline \"two\"");
	proto_msg_release(&msg);

	/* The sender validates too: an incomplete message never leaves. */
	m = proto_new(PROTO_HELLO);
	cJSON_AddStringToObject(m, "target", "x");
	ck_assert_int_eq(proto_send(sv[1], m, &errmsg), -1);
	ck_assert_ptr_nonnull(strstr(errmsg, "missing member \"pid\""));
	free(errmsg);
	cJSON_Delete(m);

	ck_assert_int_eq(proto_recv(&conn, &msg, 50, &errmsg), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	free(errmsg);
	proto_conn_release(&conn);
	close(sv[1]);
}
END_TEST

START_TEST(test_send_to_closed_peer)
{
	cJSON	*m;
	char	*errmsg;
	int	 sv[2];

	make_pair(sv);
	close(sv[0]);
	m = proto_new(PROTO_ERROR);
	cJSON_AddStringToObject(m, "code", "x");
	cJSON_AddStringToObject(m, "message", "y");
	/* No SIGPIPE: the test would die of it. */
	ck_assert_int_eq(proto_send(sv[1], m, &errmsg), -1);
	ck_assert_ptr_nonnull(strstr(errmsg, "send"));
	free(errmsg);
	cJSON_Delete(m);
	close(sv[1]);
}
END_TEST

static void
on_alarm(int sig)
{
	(void)sig;
}

START_TEST(test_recv_interrupted)
{
	struct proto_conn	 conn;
	struct proto_msg	 msg;
	struct sigaction	 sa;
	char			*errmsg;
	int			 sv[2];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	make_pair(sv);
	proto_conn_init(&conn, sv[0]);
	alarm(1);
	ck_assert_int_eq(proto_recv(&conn, &msg, 5000, &errmsg), -1);
	ck_assert_int_eq(errno, EINTR);
	free(errmsg);
	proto_conn_release(&conn);
	close(sv[1]);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("proto");
	TCase	*tc = tcase_create("codec");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_encode_as_cjson);
	tcase_add_test(tc, test_valid_messages_decode);
	tcase_add_test(tc, test_not_json);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_unknown_type);
	tcase_add_test(tc, test_missing_and_mistyped_fields);
	tcase_add_test(tc, test_nested_fields);
	tcase_add_test(tc, test_nul_bytes);
	tcase_add_test(tc, test_oversize_line);
	tcase_add_test(tc, test_largest_frame_fits);
	tcase_add_test(tc, test_frame_split_across_reads);
	tcase_add_test(tc, test_many_frames_in_one_read);
	tcase_add_test(tc, test_eof_inside_a_frame);
	tcase_add_test(tc, test_bad_frame_between_good_ones);
	tcase_add_test(tc, test_send_and_recv);
	tcase_add_test(tc, test_send_to_closed_peer);
	tcase_add_test(tc, test_recv_interrupted);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
