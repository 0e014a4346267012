/* One probe attempt on a real loop: httpGet against servers on 127.0.0.1 that answer, fail,
 * redirect, hang up or never answer (and one speaking TLS), tcpSocket against an open and a
 * closed port, exec through a fake runner that forks /bin/sh. */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubelet/loop.h"
#include "kubelet/probe.h"
#include "lib/buf.h"

/* --- the loop and one attempt ---------------------------------------------------------------- */

struct outcome {
	int calls;
	enum probe_result result;
	char *message;
	int64_t elapsed_ms;
};

static struct loop *loop;
static int64_t started_ms;

static int setup(void **state)
{
	struct ck_error err = {0};

	(void)state;
	return loop_new(&loop, &err);
}

static int teardown(void **state)
{
	(void)state;
	loop_free(loop);
	loop = NULL;
	return 0;
}

static void on_done(void *ctx, enum probe_result result, const char *message)
{
	struct outcome *outcome = ctx;

	outcome->calls++;
	outcome->result = result;
	free(outcome->message);
	outcome->message = strdup(message);
	outcome->elapsed_ms = loop_now_ms() - started_ms;
	loop_quit(loop);
}

static void on_too_long(void *ctx)
{
	(void)ctx;
	fail_msg("the attempt never ended");
}

static void on_quit(void *ctx)
{
	(void)ctx;
	loop_quit(loop);
}

/* Runs the loop for `ms`, for what happens after an attempt (reaping a killed exec). */
static void run_for(int64_t ms)
{
	loop_timer_in(loop, ms, on_quit, NULL);
	loop_run(loop);
}

static void run_attempt(const struct probe_spec *spec, const struct probe_target *target,
			int64_t timeout_ms, struct outcome *outcome)
{
	struct loop_timer *guard = loop_timer_in(loop, 10000, on_too_long, NULL);

	memset(outcome, 0, sizeof(*outcome));
	started_ms = loop_now_ms();
	probe_attempt_start(loop, spec, target, timeout_ms, on_done, outcome);
	/* Never from inside probe_attempt_start, even when the outcome is known at once. */
	assert_int_equal(outcome->calls, 0);
	loop_run(loop);
	loop_timer_cancel(loop, guard);
	assert_int_equal(outcome->calls, 1);
}

static void outcome_clear(struct outcome *outcome)
{
	free(outcome->message);
	outcome->message = NULL;
}

static struct probe_spec spec_of(enum probe_kind kind, int port)
{
	return (struct probe_spec){.kind = kind,
				   .port = port,
				   .timeout_seconds = 1,
				   .period_seconds = 10,
				   .success_threshold = 1,
				   .failure_threshold = 3,
				   .termination_grace_seconds = -1};
}

/* --- an HTTP server on the loop ----------------------------------------------------------------
 */

enum server_mode {
	SERVE_ANSWER,      /* the answer once the request is in, then close */
	SERVE_ANSWER_OPEN, /* the answer, and keep the connection open */
	SERVE_CLOSE,       /* close as soon as accepted */
	SERVE_SILENT,      /* read the request and never answer */
};

struct server {
	int listen_fd;
	int port;
	enum server_mode mode;
	const char *answer;
	size_t answer_len; /* 0: strlen(answer) */
	int conn_fd;
	struct buf request;
};

static void close_conn(struct server *s)
{
	if (s->conn_fd < 0)
		return;
	loop_remove_fd(loop, s->conn_fd);
	close(s->conn_fd);
	s->conn_fd = -1;
}

static void write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			poll(&p, 1, 1000);
			continue;
		}
		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

static void on_conn(void *ctx, uint32_t events)
{
	struct server *s = ctx;
	char chunk[4096];
	ssize_t n;

	(void)events;
	n = recv(s->conn_fd, chunk, sizeof(chunk), 0);
	if (n <= 0) {
		close_conn(s);
		return;
	}
	buf_append(&s->request, chunk, (size_t)n);
	if (!strstr(s->request.data, "\r\n\r\n") || s->mode == SERVE_SILENT)
		return;
	write_all(s->conn_fd, s->answer, s->answer_len ? s->answer_len : strlen(s->answer));
	if (s->mode == SERVE_ANSWER)
		close_conn(s);
}

static void on_accept(void *ctx, uint32_t events)
{
	struct server *s = ctx;
	struct ck_error err = {0};
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)events;
	if (fd < 0)
		return;
	if (s->mode == SERVE_CLOSE) {
		close(fd);
		return;
	}
	close_conn(s);
	s->conn_fd = fd;
	assert_int_equal(loop_add_fd(loop, fd, EPOLLIN, on_conn, s, &err), 0);
}

/* A socket bound to an ephemeral port of 127.0.0.1, listening or not (a closed port that
 * nobody else can take meanwhile). */
static int bound_socket(bool listening, int *port)
{
	struct sockaddr_in address = {.sin_family = AF_INET,
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(address);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	if (listening)
		assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &len), 0);
	*port = ntohs(address.sin_port);
	return fd;
}

static void server_start(struct server *s, enum server_mode mode, const char *answer)
{
	struct ck_error err = {0};

	*s = (struct server){.mode = mode, .answer = answer, .conn_fd = -1};
	s->listen_fd = bound_socket(true, &s->port);
	assert_int_equal(loop_add_fd(loop, s->listen_fd, EPOLLIN, on_accept, s, &err), 0);
}

static void server_stop(struct server *s)
{
	close_conn(s);
	loop_remove_fd(loop, s->listen_fd);
	close(s->listen_fd);
	buf_free(&s->request);
}

static const struct probe_target local = {.ip = "127.0.0.1"};

/* Probes `path` on a server answering `answer` the `mode` way. */
static void http_probe(enum server_mode mode, const char *answer, struct outcome *outcome,
		       struct server *server)
{
	struct probe_spec spec = spec_of(PROBE_HTTP_GET, 0);

	server_start(server, mode, answer);
	spec.port = server->port;
	spec.http_path = "/healthz";
	run_attempt(&spec, &local, 1000, outcome);
}

static void assert_message(const struct outcome *outcome, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void assert_message(const struct outcome *outcome, const char *fmt, ...)
{
	struct buf expected = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&expected, fmt, ap);
	va_end(ap);
	assert_string_equal(outcome->message, expected.data);
	buf_free(&expected);
}

/* --- httpGet ------------------------------------------------------------------------------- */

static void test_http_ok_and_request(void **state)
{
	struct outcome outcome;
	struct server server;
	struct buf expected = {0};

	(void)state;
	http_probe(SERVE_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &outcome,
		   &server);
	assert_int_equal(outcome.result, PROBE_SUCCESS);
	assert_string_equal(outcome.message, "ok");
	buf_printf(&expected,
		   "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: kube-probe/1.32\r\n"
		   "Accept: */*\r\nConnection: close\r\n\r\n",
		   server.port);
	assert_string_equal(server.request.data, expected.data);
	buf_free(&expected);
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_500_fails(void **state)
{
	struct outcome outcome;
	struct server server;

	(void)state;
	http_probe(SERVE_ANSWER,
		   "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom", &outcome,
		   &server);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_string_equal(outcome.message, "HTTP probe failed with statuscode: 500");
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_redirect_succeeds(void **state)
{
	struct outcome outcome;
	struct server server;

	(void)state;
	http_probe(SERVE_ANSWER,
		   "HTTP/1.1 301 Moved Permanently\r\nLocation: http://elsewhere/\r\n"
		   "Content-Length: 0\r\n\r\n",
		   &outcome, &server);
	assert_int_equal(outcome.result, PROBE_SUCCESS);
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_400_fails(void **state)
{
	struct outcome outcome;
	struct server server;

	(void)state;
	http_probe(SERVE_ANSWER, "HTTP/1.0 404 Not Found\r\n\r\n", &outcome, &server);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_string_equal(outcome.message, "HTTP probe failed with statuscode: 404");
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_closed_early(void **state)
{
	struct outcome outcome;
	struct server server;

	(void)state;
	http_probe(SERVE_CLOSE, NULL, &outcome, &server);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_message(&outcome, "Get \"http://127.0.0.1:%d/healthz\": EOF", server.port);
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_truncated_headers(void **state)
{
	struct outcome outcome;
	struct server server;

	(void)state;
	http_probe(SERVE_ANSWER, "HTTP/1.1 200 OK\r\nContent-Le", &outcome, &server);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_message(&outcome, "Get \"http://127.0.0.1:%d/healthz\": unexpected EOF",
		       server.port);
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_timeout(void **state)
{
	struct probe_spec spec = spec_of(PROBE_HTTP_GET, 0);
	struct outcome outcome;
	struct server server;

	(void)state;
	server_start(&server, SERVE_SILENT, NULL);
	spec.port = server.port;
	run_attempt(&spec, &local, 300, &outcome);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_message(&outcome,
		       "Get \"http://127.0.0.1:%d/\": context deadline exceeded "
		       "(Client.Timeout exceeded while awaiting headers)",
		       server.port);
	assert_true(outcome.elapsed_ms >= 290);
	assert_true(outcome.elapsed_ms < 3000);
	/* The request went out whole before the server went quiet. */
	assert_non_null(strstr(server.request.data, "GET / HTTP/1.1\r\n"));
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_body_timeout_is_an_error(void **state)
{
	struct outcome outcome;
	struct server server;

	(void)state;
	server_start(&server, SERVE_ANSWER_OPEN,
		     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
	struct probe_spec spec = spec_of(PROBE_HTTP_GET, server.port);
	run_attempt(&spec, &local, 300, &outcome);
	assert_int_equal(outcome.result, PROBE_ERROR);
	assert_string_equal(outcome.message, "context deadline exceeded (Client.Timeout or context "
					     "cancellation while reading body)");
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_refused(void **state)
{
	struct probe_spec spec = spec_of(PROBE_HTTP_GET, 0);
	struct outcome outcome;
	int port;
	int fd = bound_socket(false, &port);

	(void)state;
	spec.port = port;
	spec.http_path = "/ready";
	run_attempt(&spec, &local, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_message(&outcome,
		       "Get \"http://127.0.0.1:%d/ready\": dial tcp 127.0.0.1:%d: connect: "
		       "connection refused",
		       port, port);
	close(fd);
	outcome_clear(&outcome);
}

static void test_http_spec_headers(void **state)
{
	struct probe_spec spec = spec_of(PROBE_HTTP_GET, 0);
	struct outcome outcome;
	struct server server;

	(void)state;
	server_start(&server, SERVE_ANSWER, "HTTP/1.1 204 No Content\r\n\r\n");
	spec.port = server.port;
	spec.http_path = "healthz?verbose=1 2";
	spec.http_scheme = "HTTP";
	spec.http_headers = json_pack(
	    "[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "name", "host", "value",
	    "example.com", "name", "User-Agent", "value", "checker/2", "name", "X-Token", "value",
	    "abc", "name", "Accept", "value", "", "name", "Connection", "value", "keep-alive");
	run_attempt(&spec, &local, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_SUCCESS);
	assert_string_equal(server.request.data, "GET /healthz?verbose=1%202 HTTP/1.1\r\n"
						 "Host: example.com\r\n"
						 "User-Agent: checker/2\r\n"
						 "X-Token: abc\r\n"
						 "Connection: close\r\n\r\n");
	json_decref(spec.http_headers);
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_bad_header_fails(void **state)
{
	struct probe_spec spec = spec_of(PROBE_HTTP_GET, 8080);
	struct outcome outcome;

	(void)state;
	spec.http_headers = json_pack("[{s:s,s:s}]", "name", "X-Evil", "value", "a\r\nHost: b");
	run_attempt(&spec, &local, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_string_equal(outcome.message, "Get \"http://127.0.0.1:8080/\": net/http: invalid "
					     "header field value for \"X-Evil\"");
	json_decref(spec.http_headers);
	spec.http_headers = json_pack("[{s:s,s:s}]", "name", "X Y", "value", "1");
	outcome_clear(&outcome);
	run_attempt(&spec, &local, 1000, &outcome);
	assert_string_equal(outcome.message, "Get \"http://127.0.0.1:8080/\": net/http: invalid "
					     "header field name \"X Y\"");
	json_decref(spec.http_headers);
	outcome_clear(&outcome);
}

static void test_http_chunked_body_without_close(void **state)
{
	struct outcome outcome;
	struct server server;

	(void)state;
	/* The answer is complete with its last chunk: no need to wait for the close. */
	http_probe(SERVE_ANSWER_OPEN,
		   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		   "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
		   &outcome, &server);
	assert_int_equal(outcome.result, PROBE_SUCCESS);
	assert_string_equal(outcome.message, "abcde");
	assert_true(outcome.elapsed_ms < 900);
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_body_until_close_capped(void **state)
{
	struct outcome outcome;
	struct server server;
	struct buf answer = {0};

	(void)state;
	buf_puts(&answer, "HTTP/1.1 200 OK\r\n\r\n");
	for (int i = 0; i < 30000; i++)
		buf_putc(&answer, 'x');
	http_probe(SERVE_ANSWER, answer.data, &outcome, &server);
	assert_int_equal(outcome.result, PROBE_SUCCESS);
	assert_int_equal(strlen(outcome.message), PROBE_MAX_OUTPUT);
	server_stop(&server);
	buf_free(&answer);
	outcome_clear(&outcome);
}

static void test_http_interim_answer_skipped(void **state)
{
	struct outcome outcome;
	struct server server;

	(void)state;
	http_probe(SERVE_ANSWER,
		   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\n"
		   "Content-Length: 0\r\n\r\n",
		   &outcome, &server);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_string_equal(outcome.message, "HTTP probe failed with statuscode: 503");
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_malformed_answer(void **state)
{
	struct outcome outcome;
	struct server server;

	(void)state;
	http_probe(SERVE_ANSWER, "SSH-2.0-OpenSSH_9.2\r\n\r\n", &outcome, &server);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_message(&outcome,
		       "Get \"http://127.0.0.1:%d/healthz\": net/http: HTTP/1.x transport "
		       "connection broken: malformed HTTP response \"SSH-2.0-OpenSSH_9.2\"",
		       server.port);
	server_stop(&server);
	outcome_clear(&outcome);
}

static void test_http_errors_before_connecting(void **state)
{
	struct probe_spec spec = spec_of(PROBE_HTTP_GET, 0);
	struct probe_target no_ip = {.ip = NULL};
	struct outcome outcome;

	(void)state;
	spec.port_name = "web";
	run_attempt(&spec, &local, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_ERROR);
	assert_string_equal(outcome.message, "strconv.Atoi: parsing \"web\": invalid syntax");
	outcome_clear(&outcome);

	spec.port_name = NULL;
	spec.port = 80;
	spec.http_host = "db.example";
	run_attempt(&spec, &local, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_ERROR);
	assert_non_null(strstr(outcome.message, "db.example"));
	outcome_clear(&outcome);

	spec.http_host = NULL;
	run_attempt(&spec, &no_ip, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_ERROR);
	outcome_clear(&outcome);
}

static void test_http_host_from_spec(void **state)
{
	struct probe_spec spec = spec_of(PROBE_HTTP_GET, 0);
	struct probe_target elsewhere = {.ip = "192.0.2.1"}; /* never dialled */
	struct outcome outcome;
	struct server server;

	(void)state;
	server_start(&server, SERVE_ANSWER, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	spec.port = server.port;
	spec.http_host = "127.0.0.1";
	run_attempt(&spec, &elsewhere, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_SUCCESS);
	server_stop(&server);
	outcome_clear(&outcome);
}

static void on_cancel_now(void *ctx)
{
	probe_attempt_cancel(ctx);
	loop_quit(loop);
}

static void test_http_cancel(void **state)
{
	struct probe_spec spec = spec_of(PROBE_HTTP_GET, 0);
	struct outcome outcome = {0};
	struct server server;
	struct probe_attempt *attempt;

	(void)state;
	server_start(&server, SERVE_SILENT, NULL);
	spec.port = server.port;
	attempt = probe_attempt_start(loop, &spec, &local, 5000, on_done, &outcome);
	loop_timer_in(loop, 100, on_cancel_now, attempt);
	loop_run(loop);
	run_for(200);
	assert_int_equal(outcome.calls, 0);
	server_stop(&server);

	/* Cancelled before the loop ran: the report waiting for it is dropped too. */
	spec.kind = PROBE_GRPC;
	probe_attempt_cancel(probe_attempt_start(loop, &spec, &local, 1000, on_done, &outcome));
	run_for(50);
	assert_int_equal(outcome.calls, 0);
}

/* --- httpGet over TLS ------------------------------------------------------------------------ */

struct tls_server {
	int listen_fd;
	int port;
	gnutls_certificate_credentials_t credentials;
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	char request[4096];
	pthread_t thread;
};

static void make_certificate(struct tls_server *s)
{
	time_t now = time(NULL);
	unsigned char serial = 1;

	assert_int_equal(gnutls_x509_privkey_init(&s->key), 0);
	assert_int_equal(
	    gnutls_x509_privkey_generate(s->key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
	    0);
	assert_int_equal(gnutls_x509_crt_init(&s->crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(s->crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(s->crt, &serial, 1), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(s->crt, now - 60), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(s->crt, now + 3600), 0);
	assert_int_equal(
	    gnutls_x509_crt_set_dn_by_oid(s->crt, GNUTLS_OID_X520_COMMON_NAME, 0, "probe-test", 10),
	    0);
	assert_int_equal(gnutls_x509_crt_set_key(s->crt, s->key), 0);
	assert_int_equal(gnutls_x509_crt_sign2(s->crt, s->crt, s->key, GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_certificate_allocate_credentials(&s->credentials), 0);
	assert_int_equal(gnutls_certificate_set_x509_key(s->credentials, &s->crt, 1, s->key), 0);
}

/* One connection, served with blocking calls in its own thread. */
static void *tls_serve(void *arg)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure";
	struct tls_server *s = arg;
	struct pollfd ready = {.fd = s->listen_fd, .events = POLLIN};
	gnutls_session_t session;
	size_t len = 0;
	int fd, rc;

	if (poll(&ready, 1, 5000) != 1)
		return NULL;
	fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	fcntl(fd, F_SETFL, 0);
	gnutls_init(&session, GNUTLS_SERVER);
	gnutls_set_default_priority(session);
	gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, s->credentials);
	gnutls_transport_set_int(session, fd);
	do
		rc = gnutls_handshake(session);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	while (rc == 0 && !strstr(s->request, "\r\n\r\n") && len < sizeof(s->request) - 1) {
		ssize_t n =
		    gnutls_record_recv(session, s->request + len, sizeof(s->request) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (rc == 0)
		gnutls_record_send(session, answer, sizeof(answer) - 1);
	gnutls_bye(session, GNUTLS_SHUT_WR);
	gnutls_deinit(session);
	close(fd);
	return NULL;
}

static void test_https(void **state)
{
	struct probe_spec spec = spec_of(PROBE_HTTP_GET, 0);
	struct tls_server server = {0};
	struct outcome outcome;

	(void)state;
	make_certificate(&server);
	server.listen_fd = bound_socket(true, &server.port);
	assert_int_equal(pthread_create(&server.thread, NULL, tls_serve, &server), 0);
	spec.port = server.port;
	spec.http_scheme = "HTTPS";
	spec.http_path = "/secure";
	/* The certificate is for no name or address of ours and signed by nobody: like the
	 * kubelet, the probe does not check it. */
	run_attempt(&spec, &local, 5000, &outcome);
	pthread_join(server.thread, NULL);
	assert_int_equal(outcome.result, PROBE_SUCCESS);
	assert_string_equal(outcome.message, "secure");
	assert_non_null(strstr(server.request, "GET /secure HTTP/1.1\r\n"));
	close(server.listen_fd);
	gnutls_certificate_free_credentials(server.credentials);
	gnutls_x509_crt_deinit(server.crt);
	gnutls_x509_privkey_deinit(server.key);
	outcome_clear(&outcome);
}

static void test_https_to_plain_server_fails(void **state)
{
	struct probe_spec spec = spec_of(PROBE_HTTP_GET, 0);
	struct outcome outcome;
	struct server server;

	(void)state;
	/* A server that hangs up in the middle of the handshake. */
	server_start(&server, SERVE_CLOSE, NULL);
	spec.port = server.port;
	spec.http_scheme = "HTTPS";
	run_attempt(&spec, &local, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_non_null(strstr(outcome.message, "tls: "));
	server_stop(&server);
	outcome_clear(&outcome);
}

/* --- tcpSocket ------------------------------------------------------------------------------- */

static void test_tcp_open_port(void **state)
{
	struct outcome outcome;
	int port;
	int fd = bound_socket(true, &port);
	struct probe_spec spec = spec_of(PROBE_TCP_SOCKET, port);

	(void)state;
	run_attempt(&spec, &local, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_SUCCESS);
	assert_string_equal(outcome.message, "");
	close(fd);
	outcome_clear(&outcome);
}

static void test_tcp_closed_port(void **state)
{
	struct outcome outcome;
	int port;
	int fd = bound_socket(false, &port);
	struct probe_spec spec = spec_of(PROBE_TCP_SOCKET, port);

	(void)state;
	run_attempt(&spec, &local, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_message(&outcome, "dial tcp 127.0.0.1:%d: connect: connection refused", port);
	close(fd);
	outcome_clear(&outcome);
}

/* --- exec ------------------------------------------------------------------------------------ */

struct runner {
	pid_t pid;
	int calls;
	bool refuse;
};

static int fork_exec(void *ctx, char *const *argv, int output_fd, struct container_exec *out,
		     struct ck_error *err)
{
	struct runner *runner = ctx;
	pid_t pid;

	runner->calls++;
	if (runner->refuse)
		return ck_error_set(err, ESRCH, "container app is not running");
	pid = fork();
	if (pid < 0)
		return ck_error_errno(err, errno, "fork");
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(output_fd, 1);
		dup2(output_fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	runner->pid = pid;
	*out = (struct container_exec){.pid = pid, .pidfd = pidfd_open(pid, 0), .tty_master = -1};
	return out->pidfd >= 0 ? 0 : ck_error_errno(err, errno, "pidfd_open");
}

static void exec_probe(struct runner *runner, const char *script, int64_t timeout_ms,
		       struct outcome *outcome)
{
	char *command[] = {"sh", "-c", (char *)script, NULL};
	struct probe_spec spec = spec_of(PROBE_EXEC, 0);
	struct probe_target target = {.exec = fork_exec, .exec_ctx = runner};

	spec.command = command;
	run_attempt(&spec, &target, timeout_ms, outcome);
}

/* Valgrind (3.19) knows no pidfd system calls, and the agent's execs need them. */
static void skip_without_pidfds(void)
{
	int fd = pidfd_open(getpid(), 0);

	if (fd < 0 && errno == ENOSYS)
		skip();
	if (fd >= 0)
		close(fd);
}

/* Reaped: not even a zombie is left. */
static void assert_reaped(pid_t pid)
{
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

static void test_exec_success(void **state)
{
	struct runner runner = {0};
	struct outcome outcome;

	(void)state;
	skip_without_pidfds();
	exec_probe(&runner, "echo healthy", 2000, &outcome);
	assert_int_equal(outcome.result, PROBE_SUCCESS);
	assert_string_equal(outcome.message, "healthy\n");
	assert_reaped(runner.pid);
	outcome_clear(&outcome);
}

static void test_exec_failure_with_output(void **state)
{
	struct runner runner = {0};
	struct outcome outcome;

	(void)state;
	skip_without_pidfds();
	exec_probe(&runner, "echo out; echo err >&2; exit 1", 2000, &outcome);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_string_equal(outcome.message, "out\nerr\n");
	assert_reaped(runner.pid);
	outcome_clear(&outcome);

	exec_probe(&runner, "kill -9 $$", 2000, &outcome);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_reaped(runner.pid);
	outcome_clear(&outcome);
}

static void test_exec_output_capped(void **state)
{
	struct runner runner = {0};
	struct outcome outcome;

	(void)state;
	skip_without_pidfds();
	/* Far more than a pipe holds: the command must not block on it. */
	exec_probe(&runner, "head -c 300000 /dev/zero | tr '\\0' x; exit 3", 5000, &outcome);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_int_equal(strlen(outcome.message), PROBE_MAX_OUTPUT);
	assert_reaped(runner.pid);
	outcome_clear(&outcome);
}

static void test_exec_timeout_kills(void **state)
{
	struct runner runner = {0};
	struct outcome outcome;

	(void)state;
	skip_without_pidfds();
	exec_probe(&runner, "echo started; exec sleep 30", 300, &outcome);
	assert_int_equal(outcome.result, PROBE_FAILURE);
	assert_string_equal(outcome.message,
			    "command \"sh -c echo started; exec sleep 30\" timed out");
	assert_true(outcome.elapsed_ms >= 290 && outcome.elapsed_ms < 3000);
	run_for(300); /* the loop reaps it once SIGKILL took effect */
	assert_reaped(runner.pid);
	outcome_clear(&outcome);
}

static void test_exec_cancel_kills(void **state)
{
	char *command[] = {"sh", "-c", "exec sleep 30", NULL};
	struct probe_spec spec = spec_of(PROBE_EXEC, 0);
	struct runner runner = {0};
	struct probe_target target = {.exec = fork_exec, .exec_ctx = &runner};
	struct outcome outcome = {0};
	struct probe_attempt *attempt;

	(void)state;
	skip_without_pidfds();
	spec.command = command;
	attempt = probe_attempt_start(loop, &spec, &target, 5000, on_done, &outcome);
	loop_timer_in(loop, 100, on_cancel_now, attempt);
	loop_run(loop);
	run_for(300);
	assert_int_equal(outcome.calls, 0);
	assert_reaped(runner.pid);
}

static void test_exec_cannot_start(void **state)
{
	struct runner runner = {.refuse = true};
	struct probe_target none = {0};
	char *command[] = {"true", NULL};
	struct probe_spec spec = spec_of(PROBE_EXEC, 0);
	struct outcome outcome;

	(void)state;
	exec_probe(&runner, "true", 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_ERROR);
	assert_string_equal(outcome.message, "container app is not running");
	outcome_clear(&outcome);

	spec.command = command;
	run_attempt(&spec, &none, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_ERROR);
	outcome_clear(&outcome);
}

static void test_unsupported_kinds(void **state)
{
	struct probe_spec spec = spec_of(PROBE_GRPC, 9000);
	struct outcome outcome;

	(void)state;
	run_attempt(&spec, &local, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_ERROR);
	assert_string_equal(outcome.message, "gRPC probes are not supported by ckube");
	outcome_clear(&outcome);

	spec.kind = PROBE_NONE;
	run_attempt(&spec, &local, 1000, &outcome);
	assert_int_equal(outcome.result, PROBE_ERROR);
	outcome_clear(&outcome);
}

#define LOOP_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    LOOP_TEST(test_http_ok_and_request),
	    LOOP_TEST(test_http_500_fails),
	    LOOP_TEST(test_http_redirect_succeeds),
	    LOOP_TEST(test_http_400_fails),
	    LOOP_TEST(test_http_closed_early),
	    LOOP_TEST(test_http_truncated_headers),
	    LOOP_TEST(test_http_timeout),
	    LOOP_TEST(test_http_body_timeout_is_an_error),
	    LOOP_TEST(test_http_refused),
	    LOOP_TEST(test_http_spec_headers),
	    LOOP_TEST(test_http_bad_header_fails),
	    LOOP_TEST(test_http_chunked_body_without_close),
	    LOOP_TEST(test_http_body_until_close_capped),
	    LOOP_TEST(test_http_interim_answer_skipped),
	    LOOP_TEST(test_http_malformed_answer),
	    LOOP_TEST(test_http_errors_before_connecting),
	    LOOP_TEST(test_http_host_from_spec),
	    LOOP_TEST(test_http_cancel),
	    LOOP_TEST(test_https),
	    LOOP_TEST(test_https_to_plain_server_fails),
	    LOOP_TEST(test_tcp_open_port),
	    LOOP_TEST(test_tcp_closed_port),
	    LOOP_TEST(test_exec_success),
	    LOOP_TEST(test_exec_failure_with_output),
	    LOOP_TEST(test_exec_output_capped),
	    LOOP_TEST(test_exec_timeout_kills),
	    LOOP_TEST(test_exec_cancel_kills),
	    LOOP_TEST(test_exec_cannot_start),
	    LOOP_TEST(test_unsupported_kinds),
	};

	/* A peer that hangs up must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
