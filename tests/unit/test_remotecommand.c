/* The remote-command protocol of `kubectl exec`: stream bytes and v5's close signal (the frames
 * kubectl 1.32 sent in the recorded transcripts), terminal sizes, the final Status byte for byte
 * as the kubelet writes it and as client-go reads it, and the exec query parameters as kubectl
 * and the Python client send them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "lib/remotecommand.h"

static void test_protocols(void **state)
{
	(void)state;
	assert_string_equal(remotecommand_protocols[0], "v5.channel.k8s.io");
	assert_string_equal(remotecommand_protocols[1], "v4.channel.k8s.io");
	assert_null(remotecommand_protocols[2]);
	assert_int_equal(remotecommand_protocol_of("v5.channel.k8s.io"), REMOTECOMMAND_V5);
	assert_int_equal(remotecommand_protocol_of("v4.channel.k8s.io"), REMOTECOMMAND_V4);
	assert_int_equal(remotecommand_protocol_of("v4.base64.channel.k8s.io"), -1);
	assert_int_equal(remotecommand_protocol_of(NULL), -1);
	/* From an offer like kubectl's, the handshake settles on v5. */
	assert_string_equal(websocket_choose_protocol("v5.channel.k8s.io, v4.channel.k8s.io, "
						      "v3.channel.k8s.io, v2.channel.k8s.io",
						      remotecommand_protocols),
			    "v5.channel.k8s.io");
}

/* --- messages ------------------------------------------------------------------------------ */

static void test_encode(void **state)
{
	(void)state;
	_cleanup_websocket_ struct websocket server;
	websocket_init(&server, WEBSOCKET_SERVER, 1 << 20);
	_cleanup_buf_ struct buf out = {0};
	remotecommand_encode(&server, REMOTECOMMAND_STDOUT, "hi\n", 3, &out);
	assert_int_equal(out.len, 6);
	assert_memory_equal(out.data, "\x82\x04\x01hi\n", 6);
	/* The empty message that tells the client the session is up. */
	buf_reset(&out);
	remotecommand_encode(&server, REMOTECOMMAND_STDOUT, NULL, 0, &out);
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.data, "\x82\x01\x01", 3);

	/* kubectl's end of stdin, as recorded: [255, 0], from a client, so masked. */
	_cleanup_websocket_ struct websocket client;
	websocket_init(&client, WEBSOCKET_CLIENT, 1 << 20);
	buf_reset(&out);
	remotecommand_encode_close(&client, REMOTECOMMAND_STDIN, &out);
	assert_int_equal(out.len, 2 + 4 + 2);
	assert_int_equal((uint8_t)out.data[0], 0x82);
	assert_int_equal((uint8_t)out.data[1], 0x82);
	struct websocket_event ev;
	_cleanup_buf_ struct buf reply = {0};
	assert_int_equal(websocket_decode(&server, out.data, out.len, &ev, &reply, NULL), 8);
	assert_int_equal(ev.type, WEBSOCKET_EVENT_MESSAGE);
	assert_int_equal(ev.len, 2);
	assert_memory_equal(ev.data, "\xff\x00", 2);
}

static void test_parse(void **state)
{
	(void)state;
	struct remotecommand_message msg;
	struct ck_error err = {0};
	/* The recorded frames of `kubectl exec -i ... cat`: 0068690a, then ff00. */
	assert_int_equal(remotecommand_parse(REMOTECOMMAND_V5, "\x00hi\n", 4, &msg, &err), 0);
	assert_int_equal(msg.stream, REMOTECOMMAND_STDIN);
	assert_int_equal(msg.len, 3);
	assert_memory_equal(msg.data, "hi\n", 3);
	assert_int_equal(remotecommand_parse(REMOTECOMMAND_V5, "\xff\x00", 2, &msg, &err), 0);
	assert_int_equal(msg.stream, REMOTECOMMAND_CLOSE);
	assert_int_equal(msg.closed, REMOTECOMMAND_STDIN);

	assert_int_equal(remotecommand_parse(REMOTECOMMAND_V4, "\x04{}", 3, &msg, &err), 0);
	assert_int_equal(msg.stream, REMOTECOMMAND_RESIZE);
	assert_int_equal(remotecommand_parse(REMOTECOMMAND_V4, "\x01", 1, &msg, &err), 0);
	assert_int_equal(msg.stream, REMOTECOMMAND_STDOUT);
	assert_int_equal(msg.len, 0);
}

static void assert_parse_refused(enum remotecommand_protocol protocol, const char *message,
				 size_t len, const char *expected)
{
	struct remotecommand_message msg;
	struct ck_error err = {0};
	assert_int_equal(remotecommand_parse(protocol, message, len, &msg, &err), -EINVAL);
	assert_string_equal(err.message, expected);
}

static void test_parse_refusals(void **state)
{
	(void)state;
	assert_parse_refused(REMOTECOMMAND_V5, "", 0, "an empty message without a stream byte");
	assert_parse_refused(REMOTECOMMAND_V5, "\x05x", 2, "a message for unknown stream 5");
	/* v4 has no close signal. */
	assert_parse_refused(REMOTECOMMAND_V4, "\xff\x00", 2, "a message for unknown stream 255");
	assert_parse_refused(REMOTECOMMAND_V5, "\xff", 1,
			     "a close signal must name one stream, not 0 bytes starting with 0");
	assert_parse_refused(REMOTECOMMAND_V5, "\xff\x00\x01", 3,
			     "a close signal must name one stream, not 2 bytes starting with 0");
	assert_parse_refused(REMOTECOMMAND_V5, "\xff\x09", 2,
			     "a close signal must name one stream, not 1 bytes starting with 9");
}

/* --- terminal size ------------------------------------------------------------------------- */

static void assert_size(const char *json, uint16_t width, uint16_t height)
{
	struct remotecommand_size size = {1, 1};
	struct ck_error err = {0};
	if (remotecommand_resize_parse(json, strlen(json), &size, &err) < 0)
		fail_msg("%s refused: %s", json, err.message);
	assert_int_equal(size.width, width);
	assert_int_equal(size.height, height);
}

static void assert_size_refused(const char *json, const char *message)
{
	struct remotecommand_size size;
	struct ck_error err = {0};
	assert_int_equal(remotecommand_resize_parse(json, strlen(json), &size, &err), -EINVAL);
	assert_string_equal(err.message, message);
}

static void test_resize(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf out = {0};
	remotecommand_resize_json((struct remotecommand_size){80, 24}, &out);
	assert_string_equal(out.data, "{\"Width\":80,\"Height\":24}");
	assert_size(out.data, 80, 24);
	/* json.Encoder's newline; Go's key matching ignores case; unknown keys and null pass. */
	assert_size("{\"Width\":132,\"Height\":43}\n", 132, 43);
	assert_size("{\"width\": 65535, \"HEIGHT\": 0, \"depth\": 3}", 65535, 0);
	assert_size("{\"Width\":null}", 0, 0);
	assert_size("{}", 0, 0);

	assert_size_refused("{\"Width\":70000}",
			    "terminal size: Width must be an integer from 0 to 65535");
	assert_size_refused("{\"Height\":-1}",
			    "terminal size: Height must be an integer from 0 to 65535");
	assert_size_refused("{\"Width\":80.5}",
			    "terminal size: Width must be an integer from 0 to 65535");
	assert_size_refused("{\"Width\":\"80\"}",
			    "terminal size: Width must be an integer from 0 to 65535");
	assert_size_refused("[80,24]", "terminal size: not a JSON object");
	struct remotecommand_size size;
	struct ck_error err = {0};
	assert_int_equal(remotecommand_resize_parse("{\"Width\":", 9, &size, &err), -EINVAL);
	assert_non_null(strstr(err.message, "terminal size: "));
}

/* --- the final status ---------------------------------------------------------------------- */

static void test_status_json(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf out = {0};
	remotecommand_status_exit(0, NULL, &out);
	assert_string_equal(out.data, "{\"metadata\":{},\"status\":\"Success\"}");

	buf_reset(&out);
	const char *const argv[] = {"sh", "-c", "exit 3", NULL};
	remotecommand_status_exit(3, argv, &out);
	assert_string_equal(
	    out.data, "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated "
		      "with non-zero exit code: error executing command [sh -c exit 3], exit "
		      "code 3\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{"
		      "\"reason\":\"ExitCode\",\"message\":\"3\"}]}}");

	/* Go's escaping: HTML characters, controls, invalid UTF-8, U+2028; other text as is. */
	buf_reset(&out);
	const char *const odd[] = {"a<b>&\"\\", "\n\t\x01", "\xff", "\xe2\x80\xa8", "é", NULL};
	remotecommand_status_exit(255, odd, &out);
	assert_non_null(strstr(out.data, "[a\\u003cb\\u003e\\u0026\\\"\\\\ \\n\\t\\u0001 \\ufffd "
					 "\\u2028 é], exit code 255\""));
	json_error_t jerr;
	json_t *parsed = json_loads(out.data, 0, &jerr);
	assert_non_null(parsed);
	json_decref(parsed);

	buf_reset(&out);
	remotecommand_status_error("container \"web\" is not running", &out);
	assert_string_equal(out.data,
			    "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"Internal error "
			    "occurred: container \\\"web\\\" is not running\",\"reason\":"
			    "\"InternalError\",\"details\":{\"causes\":[{\"message\":\"container "
			    "\\\"web\\\" is not running\"}]},\"code\":500}");
}

static void test_status_parse(void **state)
{
	(void)state;
	int code = -1;
	struct ck_error err = {0};
	_cleanup_buf_ struct buf out = {0};
	remotecommand_status_exit(0, NULL, &out);
	assert_int_equal(remotecommand_status_parse(out.data, out.len, &code, &err), 0);
	assert_int_equal(code, 0);
	const char *const argv[] = {"exit3", NULL};
	for (int exit_code = 1; exit_code <= 255; exit_code += 127) {
		buf_reset(&out);
		remotecommand_status_exit(exit_code, argv, &out);
		assert_int_equal(remotecommand_status_parse(out.data, out.len, &code, &err), 0);
		assert_int_equal(code, exit_code);
	}
	buf_reset(&out);
	remotecommand_status_error("exec format error", &out);
	assert_int_equal(remotecommand_status_parse(out.data, out.len, &code, &err), -EREMOTEIO);
	assert_string_equal(err.message, "Internal error occurred: exec format error");
}

static void assert_status_refused(const char *json, const char *message)
{
	int code;
	struct ck_error err = {0};
	assert_int_equal(remotecommand_status_parse(json, strlen(json), &code, &err), -EPROTO);
	assert_string_equal(err.message, message);
}

static void test_status_parse_refusals(void **state)
{
	(void)state;
	assert_status_refused("[]", "error stream protocol error: not a JSON object in \"[]\"");
	int code;
	struct ck_error err = {0};
	assert_int_equal(remotecommand_status_parse("oops\n", 5, &code, &err), -EPROTO);
	assert_non_null(strstr(err.message, "error stream protocol error: "));
	assert_non_null(strstr(err.message, " in \"oops\\n\""));
	assert_status_refused("{\"status\":\"Maybe\"}",
			      "error stream protocol error: unknown error");
	assert_status_refused("{}", "error stream protocol error: unknown error");
	assert_status_refused("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\"}",
			      "error stream protocol error: details must be set");
	assert_status_refused("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{"
			      "\"causes\":[{\"reason\":\"Other\",\"message\":\"1\"}]}}",
			      "error stream protocol error: no ExitCode cause given");
	assert_status_refused("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{"
			      "\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"256\"}]}}",
			      "error stream protocol error: invalid exit code value \"256\"");
	assert_status_refused("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{"
			      "\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"-1\"}]}}",
			      "error stream protocol error: invalid exit code value \"-1\"");
}

/* --- request options ----------------------------------------------------------------------- */

static void add_all(struct remotecommand_options *options, const char *const (*params)[2])
{
	for (size_t i = 0; params[i][0]; i++)
		remotecommand_options_add(options, params[i][0], params[i][1]);
}

static void test_options_kubectl(void **state)
{
	(void)state;
	/* kubectl 1.32: ?command=ls&command=%2F&container=nginx&stderr=true&stdout=true */
	static const char *const params[][2] = {
	    {"command", "ls"},  {"command", "/"},   {"container", "nginx"},
	    {"stderr", "true"}, {"stdout", "true"}, {NULL, NULL},
	};
	_cleanup_remotecommand_options_ struct remotecommand_options options = {0};
	add_all(&options, params);
	assert_int_equal(remotecommand_options_check(&options, true, NULL), 0);
	assert_int_equal(options.command_count, 2);
	assert_string_equal(options.command[0], "ls");
	assert_string_equal(options.command[1], "/");
	assert_null(options.command[2]);
	assert_string_equal(options.container, "nginx");
	assert_false(options.use_stdin);
	assert_true(options.use_stdout);
	assert_true(options.use_stderr);
	assert_false(options.tty);
	_cleanup_buf_ struct buf query = {0};
	remotecommand_options_query(&options, &query);
	assert_string_equal(query.data,
			    "command=ls&command=%2F&stdin=false&stdout=true&stderr=true&tty=false");
}

static void test_options_python(void **state)
{
	(void)state;
	/* The Python client: ?command=ls&command=%2F&stderr=True&stdin=False&stdout=True&tty=False
	 */
	static const char *const params[][2] = {
	    {"command", "ls"},  {"command", "/"}, {"stderr", "True"}, {"stdin", "False"},
	    {"stdout", "True"}, {"tty", "False"}, {NULL, NULL},
	};
	_cleanup_remotecommand_options_ struct remotecommand_options options = {0};
	add_all(&options, params);
	assert_int_equal(remotecommand_options_check(&options, true, NULL), 0);
	assert_null(options.container);
	assert_false(options.use_stdin);
	assert_true(options.use_stdout);
	assert_true(options.use_stderr);
	assert_false(options.tty);
}

static void test_options_flags(void **state)
{
	(void)state;
	/* Only "0" and "false" in any case are false; the first of repeated values counts;
	 * unknown parameters and an empty container name change nothing. */
	static const char *const params[][2] = {
	    {"stdin", ""},      {"stdin", "0"},   {"stdout", "FALSE"}, {"stderr", "0"},
	    {"tty", "yes"},     {"timeout", "1"}, {"container", ""},   {"container", "late"},
	    {"command", "a b"}, {"command", ""},  {NULL, NULL},
	};
	_cleanup_remotecommand_options_ struct remotecommand_options options = {0};
	add_all(&options, params);
	assert_true(options.use_stdin);
	assert_false(options.use_stdout);
	assert_false(options.use_stderr);
	assert_true(options.tty);
	assert_null(options.container);
	assert_int_equal(options.command_count, 2);
	assert_string_equal(options.command[1], "");
	_cleanup_buf_ struct buf query = {0};
	remotecommand_options_query(&options, &query);
	assert_string_equal(query.data,
			    "command=a%20b&command=&stdin=true&stdout=false&stderr=false&tty=true");
}

static void test_options_check(void **state)
{
	(void)state;
	struct ck_error err = {0};
	/* A terminal merges stderr into stdout, so the stream is dropped. */
	_cleanup_remotecommand_options_ struct remotecommand_options tty = {0};
	remotecommand_options_add(&tty, "tty", "true");
	remotecommand_options_add(&tty, "stdin", "true");
	remotecommand_options_add(&tty, "stderr", "true");
	remotecommand_options_add(&tty, "command", "sh");
	assert_int_equal(remotecommand_options_check(&tty, true, &err), 0);
	assert_false(tty.use_stderr);
	assert_true(tty.use_stdin);

	_cleanup_remotecommand_options_ struct remotecommand_options none = {0};
	remotecommand_options_add(&none, "command", "ls");
	remotecommand_options_add(&none, "stderr", "true");
	remotecommand_options_add(&none, "tty", "true");
	assert_int_equal(remotecommand_options_check(&none, true, &err), -EINVAL);
	assert_string_equal(err.message, "you must specify at least 1 of stdin, stdout, stderr");

	/* Attach needs no command; exec does. */
	_cleanup_remotecommand_options_ struct remotecommand_options attach = {0};
	remotecommand_options_add(&attach, "stdout", "true");
	assert_int_equal(remotecommand_options_check(&attach, false, &err), 0);
	assert_null(attach.command);
	assert_int_equal(remotecommand_options_check(&attach, true, &err), -EINVAL);
	assert_string_equal(err.message, "you must specify at least one command for the container");
	_cleanup_buf_ struct buf query = {0};
	remotecommand_options_query(&attach, &query);
	assert_string_equal(query.data, "stdin=false&stdout=true&stderr=false&tty=false");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_protocols),       cmocka_unit_test(test_encode),
	    cmocka_unit_test(test_parse),           cmocka_unit_test(test_parse_refusals),
	    cmocka_unit_test(test_resize),          cmocka_unit_test(test_status_json),
	    cmocka_unit_test(test_status_parse),    cmocka_unit_test(test_status_parse_refusals),
	    cmocka_unit_test(test_options_kubectl), cmocka_unit_test(test_options_python),
	    cmocka_unit_test(test_options_flags),   cmocka_unit_test(test_options_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
