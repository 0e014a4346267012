/* The probe worker on a real loop with periods of tens of milliseconds: httpGet against a
 * server on 127.0.0.1 that answers a scripted series of statuses, so that the thresholds,
 * the startup gate, holds, restarts and the events can be watched attempt by attempt. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "kubelet/loop.h"
#include "kubelet/prober.h"
#include "lib/buf.h"

static struct loop *loop;
static bool stopping;

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

/* One loop_quit per run: a second one would end the next run at once. */
static void stop_loop(void)
{
	if (!stopping)
		loop_quit(loop);
	stopping = true;
}

static void on_enough(void *ctx)
{
	*(bool *)ctx = true;
	stop_loop();
}

/* Runs the loop until a callback stops it or `ms` have passed; the time it ran. */
static int64_t run_for(int64_t ms)
{
	int64_t start = loop_now_ms();
	bool fired = false;
	struct loop_timer *timer = loop_timer_in(loop, ms, on_enough, &fired);

	stopping = false;
	loop_run(loop);
	if (!fired)
		loop_timer_cancel(loop, timer);
	return loop_now_ms() - start;
}

/* --- a server answering a script of statuses ---------------------------------------------------
 */

struct server {
	int listen_fd;
	int port;
	const int *statuses; /* one per request, the last repeated; 0: never answer */
	size_t status_count;
	size_t requests;
	int64_t first_request_ms;
	int conn_fd;
	struct buf request;
};

static struct server server;

static void close_conn(void)
{
	if (server.conn_fd < 0)
		return;
	loop_remove_fd(loop, server.conn_fd);
	close(server.conn_fd);
	server.conn_fd = -1;
	buf_reset(&server.request);
}

static void answer(void)
{
	size_t i =
	    server.requests < server.status_count ? server.requests : server.status_count - 1;
	int status = server.statuses[i];
	char text[128];
	int len;

	if (!server.requests)
		server.first_request_ms = loop_now_ms();
	server.requests++;
	if (!status)
		return; /* the probe times out */
	len = snprintf(text, sizeof(text), "HTTP/1.1 %d Scripted\r\nContent-Length: 0\r\n\r\n",
		       status);
	assert_int_equal(send(server.conn_fd, text, (size_t)len, MSG_NOSIGNAL), len);
	close_conn();
}

static void on_conn(void *ctx, uint32_t events)
{
	char chunk[4096];
	ssize_t n;

	(void)ctx;
	(void)events;
	n = recv(server.conn_fd, chunk, sizeof(chunk), 0);
	if (n <= 0) {
		close_conn();
		return;
	}
	buf_append(&server.request, chunk, (size_t)n);
	if (strstr(server.request.data, "\r\n\r\n"))
		answer();
}

static void on_accept(void *ctx, uint32_t events)
{
	struct ck_error err = {0};
	int fd = accept4(server.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)ctx;
	(void)events;
	if (fd < 0)
		return;
	close_conn(); /* a connection the probe gave up on */
	server.conn_fd = fd;
	assert_int_equal(loop_add_fd(loop, fd, EPOLLIN, on_conn, NULL, &err), 0);
}

static void server_start(const int *statuses, size_t count)
{
	struct sockaddr_in address = {.sin_family = AF_INET,
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(address);
	struct ck_error err = {0};

	server = (struct server){.statuses = statuses, .status_count = count, .conn_fd = -1};
	server.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(server.listen_fd, (struct sockaddr *)&address, sizeof(address)), 0);
	assert_int_equal(listen(server.listen_fd, 16), 0);
	assert_int_equal(getsockname(server.listen_fd, (struct sockaddr *)&address, &len), 0);
	server.port = ntohs(address.sin_port);
	assert_int_equal(loop_add_fd(loop, server.listen_fd, EPOLLIN, on_accept, NULL, &err), 0);
}

static void server_stop(void)
{
	close_conn();
	loop_remove_fd(loop, server.listen_fd);
	close(server.listen_fd);
	buf_free(&server.request);
}

#define SCRIPT(...)                              \
	server_start((const int[]){__VA_ARGS__}, \
		     sizeof((const int[]){__VA_ARGS__}) / sizeof((const int[]){__VA_ARGS__}[0]))

/* --- what the worker reports --------------------------------------------------------------------
 */

struct seen {
	int results;
	bool last_success;
	char *last_message;
	int64_t last_result_ms;
	int unhealthy;
	char *last_event;
	/* What the test wants done from inside the callbacks. */
	bool stop_on_result;
	int stop_after_unhealthy; /* 0: never */
	bool free_on_result;
	bool free_on_unhealthy;
	struct prober *prober;
};

static void on_result(void *ctx, enum prober_type type, bool success, const char *message)
{
	struct seen *seen = ctx;

	(void)type;
	seen->results++;
	seen->last_success = success;
	free(seen->last_message);
	seen->last_message = strdup(message);
	seen->last_result_ms = loop_now_ms();
	if (seen->free_on_result) {
		prober_free(seen->prober);
		seen->prober = NULL;
	}
	if (seen->stop_on_result)
		stop_loop();
}

static void on_unhealthy(void *ctx, enum prober_type type, const char *event)
{
	struct seen *seen = ctx;

	(void)type;
	seen->unhealthy++;
	free(seen->last_event);
	seen->last_event = strdup(event);
	if (seen->free_on_unhealthy) {
		prober_free(seen->prober);
		seen->prober = NULL;
	}
	if (seen->stop_after_unhealthy && seen->unhealthy >= seen->stop_after_unhealthy)
		stop_loop();
}

static void seen_clear(struct seen *seen)
{
	prober_free(seen->prober);
	free(seen->last_message);
	free(seen->last_event);
	memset(seen, 0, sizeof(*seen));
}

static struct probe_spec http_spec(void)
{
	return (struct probe_spec){.kind = PROBE_HTTP_GET,
				   .port = server.port,
				   .http_path = "/healthz",
				   .timeout_seconds = 1,
				   .period_seconds = 10,
				   .success_threshold = 1,
				   .failure_threshold = 3,
				   .termination_grace_seconds = -1};
}

static struct prober_config config_of(enum prober_type type, const struct probe_spec *spec,
				      struct seen *seen)
{
	return (struct prober_config){
	    .type = type,
	    .spec = spec,
	    .timing = {.period_ms = 30,
		       .timeout_ms = 500,
		       .success_threshold = 1,
		       .failure_threshold = 3},
	    .target = {.ip = "127.0.0.1"},
	    .started = true,
	    .on_result = on_result,
	    .on_unhealthy = on_unhealthy,
	    .ctx = seen,
	};
}

static void start(const struct prober_config *config, struct seen *seen)
{
	struct ck_error err = {0};

	assert_int_equal(prober_new(loop, config, &seen->prober, &err), 0);
}

/* --- tests ---------------------------------------------------------------------------------- */

static void test_timing_from_spec(void **state)
{
	struct probe_spec spec = {.initial_delay_seconds = 5,
				  .timeout_seconds = 2,
				  .period_seconds = 7,
				  .success_threshold = 3,
				  .failure_threshold = 4};
	struct probe_spec unset = {0};
	struct prober_timing t;

	(void)state;
	prober_timing_from_spec(&spec, PROBER_READINESS, &t);
	assert_int_equal(t.initial_delay_ms, 5000);
	assert_int_equal(t.timeout_ms, 2000);
	assert_int_equal(t.period_ms, 7000);
	assert_int_equal(t.success_threshold, 3);
	assert_int_equal(t.failure_threshold, 4);
	prober_timing_from_spec(&spec, PROBER_LIVENESS, &t);
	assert_int_equal(t.success_threshold, 1);
	prober_timing_from_spec(&unset, PROBER_STARTUP, &t);
	assert_int_equal(t.initial_delay_ms, 0);
	assert_int_equal(t.timeout_ms, 1000);
	assert_int_equal(t.period_ms, 10000);
	assert_int_equal(t.success_threshold, 1);
	assert_int_equal(t.failure_threshold, 3);
	assert_string_equal(prober_type_name(PROBER_LIVENESS), "Liveness");
	assert_string_equal(prober_type_name(PROBER_READINESS), "Readiness");
	assert_string_equal(prober_type_name(PROBER_STARTUP), "Startup");
}

static void test_bad_timing_refused(void **state)
{
	struct probe_spec spec = {.kind = PROBE_TCP_SOCKET, .port = 1};
	struct seen seen = {0};
	struct prober_config config = config_of(PROBER_LIVENESS, &spec, &seen);
	struct ck_error err = {0};
	struct prober *prober = NULL;

	(void)state;
	config.timing.period_ms = 0;
	assert_int_equal(prober_new(loop, &config, &prober, &err), -EINVAL);
	assert_null(prober);
	assert_non_null(strstr(err.message, "Liveness probe"));
}

static void test_readiness_after_successes(void **state)
{
	struct seen seen = {.stop_on_result = true};
	int64_t created;

	(void)state;
	SCRIPT(200);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_READINESS, &spec, &seen);
	config.timing.initial_delay_ms = 100;
	config.timing.period_ms = 50;
	config.timing.success_threshold = 2;
	created = loop_now_ms();
	start(&config, &seen);
	assert_int_equal(prober_result(seen.prober), PROBER_FAILURE);
	run_for(3000);
	assert_int_equal(seen.results, 1);
	assert_true(seen.last_success);
	assert_int_equal(prober_result(seen.prober), PROBER_SUCCESS);
	assert_int_equal(server.requests, 2);
	assert_true(server.first_request_ms - created >= 100);
	assert_true(seen.last_result_ms - created >= 150);
	assert_int_equal(seen.unhealthy, 0);
	/* Still probing, quietly: no second report while nothing changes. */
	run_for(200);
	assert_true(server.requests >= 4);
	assert_int_equal(seen.results, 1);
	server_stop();
	seen_clear(&seen);
}

static void test_liveness_fails_then_holds(void **state)
{
	struct seen seen = {0};

	(void)state;
	SCRIPT(500);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_LIVENESS, &spec, &seen);
	start(&config, &seen);
	assert_int_equal(prober_result(seen.prober), PROBER_SUCCESS);
	run_for(400);
	assert_int_equal(seen.unhealthy, 3);
	assert_string_equal(seen.last_event,
			    "Liveness probe failed: HTTP probe failed with statuscode: 500");
	assert_int_equal(seen.results, 1);
	assert_false(seen.last_success);
	assert_string_equal(seen.last_message, "HTTP probe failed with statuscode: 500");
	/* On hold until the container is restarted. */
	assert_int_equal(server.requests, 3);
	assert_int_equal(prober_result(seen.prober), PROBER_FAILURE);
	server_stop();
	seen_clear(&seen);
}

static void test_failures_must_be_consecutive(void **state)
{
	struct seen seen = {.stop_after_unhealthy = 6};

	(void)state;
	SCRIPT(500, 500, 200, 500, 500, 204, 500, 500, 302, 500, 500, 200);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_LIVENESS, &spec, &seen);
	start(&config, &seen);
	run_for(3000);
	assert_int_equal(seen.unhealthy, 6);
	assert_int_equal(seen.results, 0);
	assert_int_equal(prober_result(seen.prober), PROBER_SUCCESS);
	server_stop();
	seen_clear(&seen);
}

static void test_readiness_flips_both_ways(void **state)
{
	struct seen seen = {0};

	(void)state;
	/* ready after one success, unready after three failures, ready again. */
	SCRIPT(200, 500, 500, 500, 200);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_READINESS, &spec, &seen);
	start(&config, &seen);
	run_for(400);
	assert_int_equal(seen.results, 3);
	assert_true(seen.last_success);
	assert_int_equal(seen.unhealthy, 3);
	assert_string_equal(seen.last_event,
			    "Readiness probe failed: HTTP probe failed with statuscode: 500");
	/* Readiness keeps probing after failing. */
	assert_true(server.requests > 5);
	server_stop();
	seen_clear(&seen);
}

static void test_waits_for_startup(void **state)
{
	struct seen seen = {.stop_on_result = true};

	(void)state;
	SCRIPT(200);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_READINESS, &spec, &seen);
	config.started = false;
	start(&config, &seen);
	run_for(150);
	assert_int_equal(server.requests, 0);
	prober_set_started(seen.prober, true);
	run_for(3000);
	assert_int_equal(seen.results, 1);
	assert_true(seen.last_success);
	/* Not started again (a restarted container): probing stops. */
	prober_set_started(seen.prober, false);
	size_t requests = server.requests;
	run_for(150);
	assert_int_equal(server.requests, requests);
	server_stop();
	seen_clear(&seen);
}

static void test_startup_succeeds_once(void **state)
{
	struct seen seen = {0};

	(void)state;
	SCRIPT(500, 200);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_STARTUP, &spec, &seen);
	config.started = false; /* means nothing to a startup probe */
	start(&config, &seen);
	assert_int_equal(prober_result(seen.prober), PROBER_UNKNOWN);
	run_for(300);
	assert_int_equal(seen.results, 1);
	assert_true(seen.last_success);
	assert_int_equal(seen.unhealthy, 1);
	assert_string_equal(seen.last_event,
			    "Startup probe failed: HTTP probe failed with statuscode: 500");
	assert_int_equal(server.requests, 2);
	/* A new run of the container starts over. */
	prober_restart(seen.prober, 0, false);
	assert_int_equal(prober_result(seen.prober), PROBER_UNKNOWN);
	run_for(200);
	assert_int_equal(server.requests, 3);
	assert_int_equal(seen.results, 2);
	server_stop();
	seen_clear(&seen);
}

static void test_restart_resets_counters(void **state)
{
	struct seen seen = {.stop_after_unhealthy = 2};

	(void)state;
	SCRIPT(500);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_LIVENESS, &spec, &seen);
	start(&config, &seen);
	run_for(3000);
	assert_int_equal(seen.unhealthy, 2);
	prober_restart(seen.prober, 0, true);
	seen.stop_after_unhealthy = 4;
	run_for(3000);
	/* Two failures before and two after the restart are not three in a row. */
	assert_int_equal(seen.unhealthy, 4);
	assert_int_equal(seen.results, 0);
	seen.stop_after_unhealthy = 0;
	seen.stop_on_result = true;
	run_for(3000);
	assert_int_equal(seen.unhealthy, 5);
	assert_int_equal(seen.results, 1);
	assert_false(seen.last_success);
	/* Held after failing, until the restart; then it starts over at success. */
	prober_restart(seen.prober, 0, true);
	assert_int_equal(prober_result(seen.prober), PROBER_SUCCESS);
	size_t requests = server.requests;
	run_for(100);
	assert_true(server.requests > requests);
	server_stop();
	seen_clear(&seen);
}

static void test_stop_and_restart(void **state)
{
	struct seen seen = {0};

	(void)state;
	SCRIPT(200);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_READINESS, &spec, &seen);
	start(&config, &seen);
	run_for(100);
	assert_true(server.requests >= 2);
	prober_stop(seen.prober);
	size_t requests = server.requests;
	run_for(150);
	assert_int_equal(server.requests, requests);
	prober_restart(seen.prober, 0, true);
	run_for(100);
	assert_true(server.requests > requests);
	server_stop();
	seen_clear(&seen);
}

static void test_errors_are_not_counted(void **state)
{
	struct seen seen = {.stop_after_unhealthy = 5};

	(void)state;
	SCRIPT(200);
	struct probe_spec spec = http_spec();
	spec.port = 0;
	spec.port_name = "metrics"; /* no container port of that name */
	struct prober_config config = config_of(PROBER_LIVENESS, &spec, &seen);
	config.timing.failure_threshold = 1;
	start(&config, &seen);
	run_for(3000);
	assert_int_equal(seen.unhealthy, 5);
	assert_string_equal(seen.last_event,
			    "Liveness probe errored and resulted in unknown state: "
			    "strconv.Atoi: parsing \"metrics\": invalid syntax");
	assert_int_equal(seen.results, 0);
	assert_int_equal(prober_result(seen.prober), PROBER_SUCCESS);
	server_stop();
	seen_clear(&seen);
}

static void test_timeout_is_a_failure(void **state)
{
	struct seen seen = {.stop_on_result = true};

	(void)state;
	SCRIPT(0);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_LIVENESS, &spec, &seen);
	config.timing.timeout_ms = 50;
	config.timing.period_ms = 20; /* shorter than the timeout: attempts never overlap */
	config.timing.failure_threshold = 2;
	start(&config, &seen);
	run_for(3000);
	assert_int_equal(seen.results, 1);
	assert_false(seen.last_success);
	assert_non_null(
	    strstr(seen.last_message, "Client.Timeout exceeded while awaiting headers"));
	assert_int_equal(server.requests, 2);
	server_stop();
	seen_clear(&seen);
}

static void test_free_inside_callbacks(void **state)
{
	struct seen seen = {.free_on_result = true, .stop_on_result = true};

	(void)state;
	SCRIPT(200);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_READINESS, &spec, &seen);
	start(&config, &seen);
	run_for(3000);
	assert_int_equal(seen.results, 1);
	assert_null(seen.prober);
	run_for(100); /* nothing of it is left to fire */
	seen_clear(&seen);
	server_stop();

	/* Freed by the event, before the result it would have reported. */
	SCRIPT(500);
	spec = http_spec();
	seen = (struct seen){.free_on_unhealthy = true, .stop_after_unhealthy = 1};
	config = config_of(PROBER_LIVENESS, &spec, &seen);
	config.timing.failure_threshold = 1;
	start(&config, &seen);
	run_for(3000);
	assert_int_equal(seen.unhealthy, 1);
	assert_int_equal(seen.results, 0);
	run_for(100);
	assert_int_equal(server.requests, 1);
	seen_clear(&seen);
	server_stop();
}

static void test_initial_delay_counts_from_container_start(void **state)
{
	struct seen seen = {.stop_on_result = true};
	int64_t created = loop_now_ms();

	(void)state;
	SCRIPT(200);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_READINESS, &spec, &seen);
	config.timing.initial_delay_ms = 10000;
	config.timing.period_ms = 10000;
	config.container_started_ms = created - 20000; /* adopted after an agent restart */
	start(&config, &seen);
	run_for(3000);
	assert_int_equal(seen.results, 1);
	assert_true(seen.last_result_ms - created < 1000);
	server_stop();
	seen_clear(&seen);
}

static void test_jitter_within_a_period(void **state)
{
	struct seen seen = {.stop_on_result = true};
	int64_t created = loop_now_ms();

	(void)state;
	SCRIPT(200);
	struct probe_spec spec = http_spec();
	struct prober_config config = config_of(PROBER_READINESS, &spec, &seen);
	config.timing.period_ms = 200;
	config.jitter = true;
	start(&config, &seen);
	run_for(3000);
	assert_int_equal(seen.results, 1);
	assert_true(server.first_request_ms - created < 200 + 100);
	server_stop();
	seen_clear(&seen);
}

/* --- exec: the runner is the caller's ------------------------------------------------------- */

struct runner {
	int calls;
};

/* No shell needed: the child writes and exits. */
static int fork_failing(void *ctx, char *const *argv, int output_fd, struct container_exec *out,
			struct ck_error *err)
{
	struct runner *runner = ctx;
	pid_t pid;

	runner->calls++;
	pid = fork();
	if (pid < 0)
		return ck_error_errno(err, errno, "fork");
	if (pid == 0) {
		(void)!write(output_fd, argv[0], strlen(argv[0]));
		_exit(1);
	}
	*out = (struct container_exec){.pid = pid, .pidfd = pidfd_open(pid, 0), .tty_master = -1};
	return out->pidfd >= 0 ? 0 : ck_error_errno(err, errno, "pidfd_open");
}

static void test_exec_through_the_callers_runner(void **state)
{
	char *command[] = {"not healthy", NULL};
	struct probe_spec spec = {.kind = PROBE_EXEC, .command = command};
	struct seen seen = {.stop_on_result = true};
	struct runner runner = {0};
	struct prober_config config = config_of(PROBER_LIVENESS, &spec, &seen);
	int fd = pidfd_open(getpid(), 0);

	(void)state;
	if (fd < 0 && errno == ENOSYS)
		skip(); /* valgrind 3.19 knows no pidfds */
	close(fd);
	config.target = (struct probe_target){.exec = fork_failing, .exec_ctx = &runner};
	config.timing.failure_threshold = 2;
	start(&config, &seen);
	command[0] = "changed"; /* the worker keeps its own copy */
	run_for(3000);
	assert_int_equal(runner.calls, 2);
	assert_int_equal(seen.results, 1);
	assert_string_equal(seen.last_event, "Liveness probe failed: not healthy");
	seen_clear(&seen);
}

#define LOOP_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_timing_from_spec),
	    LOOP_TEST(test_bad_timing_refused),
	    LOOP_TEST(test_readiness_after_successes),
	    LOOP_TEST(test_liveness_fails_then_holds),
	    LOOP_TEST(test_failures_must_be_consecutive),
	    LOOP_TEST(test_readiness_flips_both_ways),
	    LOOP_TEST(test_waits_for_startup),
	    LOOP_TEST(test_startup_succeeds_once),
	    LOOP_TEST(test_restart_resets_counters),
	    LOOP_TEST(test_stop_and_restart),
	    LOOP_TEST(test_errors_are_not_counted),
	    LOOP_TEST(test_timeout_is_a_failure),
	    LOOP_TEST(test_free_inside_callbacks),
	    LOOP_TEST(test_initial_delay_counts_from_container_start),
	    LOOP_TEST(test_jitter_within_a_period),
	    LOOP_TEST(test_exec_through_the_callers_runner),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
