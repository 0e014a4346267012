/* The node agent's list and watch of its pods (kubelet/api_watch.c) against a fake API server
 * that a thread of this test runs on 127.0.0.1: it answers each request with the next step of a
 * script (a PodList, a stream of watch events, a status, or nothing at all), logs what it was
 * asked, and can go away (connection refused) and come back on the same port. The watch posts
 * to a real loop running in a thread of its own; what it posts is recorded there. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubelet/loop.h"
#include "kubelet/api_watch.h"
#include "lib/buf.h"
#include "lib/cleanup.h"

#define NODE "node-a"
#define LIST_PATH "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a"
#define MAX_STEPS 64
#define MAX_LINES 8
#define MAX_LOGGED 4096
#define MAX_CHANGES 64
/* Generous: valgrind runs this too. */
#define WAIT_MS 15000

/* --- the fake API server ------------------------------------------------------------------ */

enum step_kind {
	STEP_ANSWER, /* a whole response with Content-Length */
	STEP_STREAM, /* 200 and watch event lines as they would come */
	STEP_SILENT, /* reads the request and never answers */
};

enum stream_end {
	END_CLOSE, /* the server ends the stream (last chunk, or EOF when close-delimited) */
	END_HANG,  /* the stream stays open until the client hangs up */
};

struct step {
	enum step_kind kind;
	int status;
	char *body;
	char *lines[MAX_LINES];
	size_t line_count;
	bool chunked; /* else close-delimited: no length, the end is the connection's */
	enum stream_end end;
};

struct logged_request {
	char target[512];
	int64_t at_ms;
};

struct fake_api {
	int port;
	int listen_fd;
	int wake_fd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	bool stopping;
	bool away;
	bool listening;
	int64_t back_at_ms;
	/* One step per request, in order; after the last, every request gets a quiet watch. */
	struct step steps[MAX_STEPS];
	size_t step_count, next_step;
	struct logged_request log[MAX_LOGGED];
	size_t log_count;
};

static struct fake_api api;

static int64_t now_ms(void)
{
	return loop_now_ms();
}

static int listen_on(int port)
{
	struct sockaddr_in addr = {.sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(addr);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		abort();
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
		perror("fake API server: listen");
		abort();
	}
	api.port = ntohs(addr.sin_port);
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

static void send_chunk(int fd, const char *data, size_t len)
{
	char size[32];

	snprintf(size, sizeof(size), "%zx\r\n", len);
	send_all(fd, size, strlen(size));
	send_all(fd, data, len);
	send_all(fd, "\r\n", 2);
}

static bool should_leave(void)
{
	bool leave;

	pthread_mutex_lock(&api.lock);
	leave = api.stopping || api.away;
	pthread_mutex_unlock(&api.lock);
	return leave;
}

/* Waits for `fd` to be readable; false when the server is told to stop or go away first. */
static bool wait_readable(int fd)
{
	for (;;) {
		struct pollfd fds[2] = {{.fd = fd, .events = POLLIN},
					{.fd = api.wake_fd, .events = POLLIN}};

		if (poll(fds, 2, 200) < 0 && errno != EINTR)
			return false;
		if (should_leave())
			return false;
		if (fds[0].revents)
			return true;
	}
}

/* Until the client hangs up (or the server stops or goes away). */
static void hang(int fd)
{
	char scratch[512];

	while (wait_readable(fd))
		if (recv(fd, scratch, sizeof(scratch), 0) <= 0)
			return;
}

static void run_step(int fd, const struct step *step)
{
	char head[512];

	switch (step->kind) {
	case STEP_ANSWER:
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %d Scripted\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 step->status, strlen(step->body));
		send_all(fd, head, strlen(head));
		send_all(fd, step->body, strlen(step->body));
		return;
	case STEP_STREAM:
		snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%s"
			 "Connection: close\r\n\r\n",
			 step->chunked ? "Transfer-Encoding: chunked\r\n" : "");
		send_all(fd, head, strlen(head));
		for (size_t i = 0; i < step->line_count; i++) {
			_cleanup_buf_ struct buf line = {0};

			buf_printf(&line, "%s\n", step->lines[i]);
			if (step->chunked) {
				/* Split in two chunks: an event may arrive in pieces. */
				send_chunk(fd, line.data, line.len / 2);
				send_chunk(fd, line.data + line.len / 2, line.len - line.len / 2);
			} else {
				send_all(fd, line.data, line.len);
			}
		}
		if (step->end == END_HANG)
			hang(fd);
		else if (step->chunked)
			send_all(fd, "0\r\n\r\n", 5);
		return;
	case STEP_SILENT:
		hang(fd);
		return;
	}
}

static void serve_one(int fd)
{
	static const struct step quiet_watch = {
	    .kind = STEP_STREAM, .chunked = true, .end = END_HANG};
	char head[8192] = "";
	size_t used = 0;
	char method[16], target[512];
	const struct step *step = &quiet_watch;

	while (!strstr(head, "\r\n\r\n")) {
		ssize_t n;

		if (used >= sizeof(head) - 1 || !wait_readable(fd))
			return;
		n = recv(fd, head + used, sizeof(head) - 1 - used, 0);
		if (n <= 0)
			return;
		used += (size_t)n;
		head[used] = '\0';
	}
	if (sscanf(head, "%15s %511s", method, target) != 2)
		return;
	pthread_mutex_lock(&api.lock);
	if (api.log_count < MAX_LOGGED) {
		struct logged_request *entry = &api.log[api.log_count++];

		snprintf(entry->target, sizeof(entry->target), "%s", target);
		entry->at_ms = now_ms();
	}
	if (api.next_step < api.step_count)
		step = &api.steps[api.next_step++];
	pthread_cond_broadcast(&api.changed);
	pthread_mutex_unlock(&api.lock);
	run_step(fd, step);
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd fds[2];
		uint64_t drained;
		int fd;

		pthread_mutex_lock(&api.lock);
		if (api.away && api.listen_fd >= 0) {
			close(api.listen_fd);
			api.listen_fd = -1;
		}
		api.listening = api.listen_fd >= 0;
		pthread_cond_broadcast(&api.changed);
		while (!api.stopping && api.away)
			pthread_cond_wait(&api.changed, &api.lock);
		if (api.stopping) {
			pthread_mutex_unlock(&api.lock);
			break;
		}
		if (api.listen_fd < 0) {
			api.listen_fd = listen_on(api.port);
			api.back_at_ms = now_ms();
			api.listening = true;
			pthread_cond_broadcast(&api.changed);
		}
		pthread_mutex_unlock(&api.lock);

		fds[0] = (struct pollfd){.fd = api.listen_fd, .events = POLLIN};
		fds[1] = (struct pollfd){.fd = api.wake_fd, .events = POLLIN};
		if (poll(fds, 2, -1) < 0)
			continue;
		if (fds[1].revents) {
			if (read(api.wake_fd, &drained, sizeof(drained)) < 0) {
				/* nothing to drain: another wake-up took it */
			}
			continue;
		}
		fd = accept4(api.listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve_one(fd);
		close(fd);
	}
	if (api.listen_fd >= 0)
		close(api.listen_fd);
	api.listen_fd = -1;
	return NULL;
}

static void wake_server(void)
{
	uint64_t one = 1;

	if (write(api.wake_fd, &one, sizeof(one)) < 0)
		abort();
}

static void api_start(void)
{
	memset(&api, 0, sizeof(api));
	pthread_mutex_init(&api.lock, NULL);
	pthread_cond_init(&api.changed, NULL);
	api.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(api.wake_fd >= 0);
	api.listen_fd = listen_on(0);
	api.listening = true;
	assert_int_equal(pthread_create(&api.thread, NULL, serve, NULL), 0);
}

static void api_stop(void)
{
	pthread_mutex_lock(&api.lock);
	api.stopping = true;
	pthread_cond_broadcast(&api.changed);
	pthread_mutex_unlock(&api.lock);
	wake_server();
	pthread_join(api.thread, NULL);
	for (size_t i = 0; i < api.step_count; i++) {
		free(api.steps[i].body);
		for (size_t j = 0; j < api.steps[i].line_count; j++)
			free(api.steps[i].lines[j]);
	}
	close(api.wake_fd);
	pthread_mutex_destroy(&api.lock);
	pthread_cond_destroy(&api.changed);
}

static void api_wait_listening(bool listening)
{
	pthread_mutex_lock(&api.lock);
	while (api.listening != listening)
		pthread_cond_wait(&api.changed, &api.lock);
	pthread_mutex_unlock(&api.lock);
}

/* Closes the listening socket and any connection in progress: connections are refused. */
static void api_go_away(void)
{
	pthread_mutex_lock(&api.lock);
	api.away = true;
	pthread_mutex_unlock(&api.lock);
	wake_server();
	api_wait_listening(false);
}

/* Listens again on the same port. */
static void api_come_back(void)
{
	pthread_mutex_lock(&api.lock);
	api.away = false;
	pthread_cond_broadcast(&api.changed);
	pthread_mutex_unlock(&api.lock);
	api_wait_listening(true);
}

static struct step *add_step(enum step_kind kind)
{
	struct step *step;

	pthread_mutex_lock(&api.lock);
	assert_true(api.step_count < MAX_STEPS);
	step = &api.steps[api.step_count++];
	*step = (struct step){.kind = kind};
	pthread_mutex_unlock(&api.lock);
	return step;
}

static void script_answer(int status, char *body)
{
	struct step *step = add_step(STEP_ANSWER);

	step->status = status;
	step->body = body;
}

/* NULL-terminated event lines (taken over). */
static void script_stream(bool chunked, enum stream_end end, ...)
{
	struct step *step = add_step(STEP_STREAM);
	va_list args;
	char *line;

	step->chunked = chunked;
	step->end = end;
	va_start(args, end);
	while ((line = va_arg(args, char *)) != NULL) {
		assert_true(step->line_count < MAX_LINES);
		step->lines[step->line_count++] = line;
	}
	va_end(args);
}

static void script_silent(void)
{
	add_step(STEP_SILENT);
}

static size_t request_count(void)
{
	size_t n;

	pthread_mutex_lock(&api.lock);
	n = api.log_count;
	pthread_mutex_unlock(&api.lock);
	return n;
}

static struct logged_request request_at(size_t i)
{
	struct logged_request entry;

	pthread_mutex_lock(&api.lock);
	assert_true(i < api.log_count);
	entry = api.log[i];
	pthread_mutex_unlock(&api.lock);
	return entry;
}

static void deadline_in(struct timespec *at, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, at);
	at->tv_sec += ms / 1000;
	at->tv_nsec += (ms % 1000) * 1000000;
	if (at->tv_nsec >= 1000000000) {
		at->tv_sec++;
		at->tv_nsec -= 1000000000;
	}
}

static void wait_requests(size_t n)
{
	struct timespec until;

	deadline_in(&until, WAIT_MS);
	pthread_mutex_lock(&api.lock);
	while (api.log_count < n &&
	       pthread_cond_timedwait(&api.changed, &api.lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&api.lock);
	if (request_count() < n)
		fail_msg("%zu requests came, not %zu", request_count(), n);
}

/* The value of a query parameter of a logged target ("" when absent: NULL). */
static const char *param(const char *target, const char *name, char *out, size_t size)
{
	const char *query = strchr(target, '?');
	size_t name_len = strlen(name);

	for (const char *p = query; p; p = strchr(p + 1, '&'))
		if (strncmp(p + 1, name, name_len) == 0 && p[1 + name_len] == '=') {
			const char *value = p + 2 + name_len;

			snprintf(out, size, "%.*s", (int)strcspn(value, "&"), value);
			return out;
		}
	return NULL;
}

/* "list", or "watch rv=N"; every request must be for this node's pods, and every watch must
 * ask for bookmarks. */
static void describe(const char *target, char *out, size_t size)
{
	char selector[128], watch[16], bookmarks[16], version[64];

	assert_true(strncmp(target, "/api/v1/pods?", 13) == 0);
	assert_non_null(param(target, "fieldSelector", selector, sizeof(selector)));
	assert_string_equal(selector, "spec.nodeName%3D" NODE);
	if (!param(target, "watch", watch, sizeof(watch))) {
		assert_string_equal(target, LIST_PATH);
		snprintf(out, size, "list");
		return;
	}
	assert_true(strcmp(watch, "1") == 0 || strcmp(watch, "true") == 0);
	assert_non_null(param(target, "allowWatchBookmarks", bookmarks, sizeof(bookmarks)));
	assert_string_equal(bookmarks, "true");
	assert_non_null(param(target, "resourceVersion", version, sizeof(version)));
	snprintf(out, size, "watch rv=%s", version);
}

/* The server got exactly these requests (once a moment has passed without more). */
static void assert_requests(const char *const *expected, size_t n)
{
	wait_requests(n);
	usleep(200 * 1000);
	for (size_t i = 0; i < n && i < request_count(); i++) {
		char text[128];

		describe(request_at(i).target, text, sizeof(text));
		assert_string_equal(text, expected[i]);
	}
	assert_int_equal(request_count(), n);
}

#define ASSERT_REQUESTS(...)                                                        \
	do {                                                                        \
		static const char *const expected_[] = {__VA_ARGS__};               \
		assert_requests(expected_, sizeof(expected_) / sizeof(*expected_)); \
	} while (0)

/* --- API objects as the server sends them ----------------------------------------------- */

static char *pod_json(const char *name, const char *version)
{
	char *text;

	if (asprintf(&text,
		     "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\","
		     "\"namespace\":\"default\",\"uid\":\"uid-%s\",\"resourceVersion\":\"%s\"},"
		     "\"spec\":{\"nodeName\":\"" NODE "\",\"containers\":[{\"name\":\"main\","
		     "\"image\":\"busybox\"}]},\"status\":{\"phase\":\"Pending\"}}",
		     name, name, version) < 0)
		abort();
	return text;
}

/* A PodList at `version` of "name@rv" entries, NULL-terminated. */
static char *pod_list(const char *version, ...)
{
	struct buf out = {0};
	va_list args;
	const char *entry;
	bool first = true;

	buf_printf(&out,
		   "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":"
		   "\"%s\"},\"items\":[",
		   version);
	va_start(args, version);
	while ((entry = va_arg(args, const char *)) != NULL) {
		char name[64];
		const char *at = strchr(entry, '@');
		char *pod;

		snprintf(name, sizeof(name), "%.*s", (int)(at - entry), entry);
		pod = pod_json(name, at + 1);
		buf_printf(&out, "%s%s", first ? "" : ",", pod);
		free(pod);
		first = false;
	}
	va_end(args);
	buf_puts(&out, "]}");
	return buf_steal(&out);
}

static char *event(const char *type, const char *name, const char *version)
{
	_cleanup_free_ char *pod = pod_json(name, version);
	char *text;

	if (asprintf(&text, "{\"type\":\"%s\",\"object\":%s}", type, pod) < 0)
		abort();
	return text;
}

/* As the API server sends them: an object of the watched kind with only its version. */
static char *bookmark(const char *version)
{
	char *text;

	if (asprintf(&text,
		     "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
		     "\"metadata\":{\"resourceVersion\":\"%s\",\"creationTimestamp\":null},"
		     "\"spec\":{\"containers\":null},\"status\":{}}}",
		     version) < 0)
		abort();
	return text;
}

static char *status_json(int code, const char *reason, const char *message)
{
	char *text;

	if (asprintf(&text,
		     "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
		     "\"Failure\",\"message\":\"%s\",\"reason\":\"%s\",\"code\":%d}",
		     message, reason, code) < 0)
		abort();
	return text;
}

static char *error_event(int code, const char *reason, const char *message)
{
	_cleanup_free_ char *status = status_json(code, reason, message);
	char *text;

	if (asprintf(&text, "{\"type\":\"ERROR\",\"object\":%s}", status) < 0)
		abort();
	return text;
}

/* What Kubernetes sends on a watch from a version older than its window: 200, then this. */
static char *expired_event(void)
{
	return error_event(410, "Expired", "too old resource version: 11 (30)");
}

/* --- the loop and what the watch posts to it -------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	char changes[MAX_CHANGES][256];
	size_t count;
	bool off_loop_thread;
} seen;

static struct loop *loop;
static pthread_t loop_thread;
static struct api_watch *watch;

static const char *meta(json_t *pod, const char *key)
{
	const char *value =
	    json_string_value(json_object_get(json_object_get(pod, "metadata"), key));

	return value ? value : "?";
}

/* In the loop's thread: "SNAPSHOT p1,p2" or "ADDED p3@11". */
static void on_change(void *ctx, const struct watch_change *change)
{
	static const char *const kinds[] = {"SNAPSHOT", "ADDED", "MODIFIED", "DELETED"};
	_cleanup_buf_ struct buf text = {0};

	(void)ctx;
	buf_printf(&text, "%s ", kinds[change->kind]);
	if (change->kind == WATCH_SNAPSHOT) {
		size_t i;
		json_t *pod;

		json_array_foreach (change->objects, i, pod)
			buf_printf(&text, "%s%s", i ? "," : "", meta(pod, "name"));
	} else {
		buf_printf(&text, "%s@%s", meta(change->objects, "name"),
			   meta(change->objects, "resourceVersion"));
	}
	pthread_mutex_lock(&seen.lock);
	if (!pthread_equal(pthread_self(), loop_thread))
		seen.off_loop_thread = true;
	if (seen.count < MAX_CHANGES)
		snprintf(seen.changes[seen.count++], sizeof(seen.changes[0]), "%s", text.data);
	pthread_cond_broadcast(&seen.changed);
	pthread_mutex_unlock(&seen.lock);
}

static size_t change_count(void)
{
	size_t n;

	pthread_mutex_lock(&seen.lock);
	n = seen.count;
	pthread_mutex_unlock(&seen.lock);
	return n;
}

static void wait_changes(size_t n)
{
	struct timespec until;

	deadline_in(&until, WAIT_MS);
	pthread_mutex_lock(&seen.lock);
	while (seen.count < n &&
	       pthread_cond_timedwait(&seen.changed, &seen.lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&seen.lock);
	if (change_count() < n)
		fail_msg("%zu changes posted, not %zu", change_count(), n);
}

/* The loop got exactly these changes, in this order (once a moment has passed without more). */
static void assert_changes(const char *const *expected, size_t n)
{
	wait_changes(n);
	usleep(200 * 1000);
	pthread_mutex_lock(&seen.lock);
	for (size_t i = 0; i < n && i < seen.count; i++)
		assert_string_equal(seen.changes[i], expected[i]);
	assert_int_equal(seen.count, n);
	assert_false(seen.off_loop_thread);
	pthread_mutex_unlock(&seen.lock);
}

#define ASSERT_CHANGES(...)                                                        \
	do {                                                                       \
		static const char *const expected_[] = {__VA_ARGS__};              \
		assert_changes(expected_, sizeof(expected_) / sizeof(*expected_)); \
	} while (0)

static void *run_loop(void *arg)
{
	loop_run(arg);
	return NULL;
}

static void start_watch(void)
{
	/* The watch keeps the options' strings (its thread makes its client): they must last. */
	static char server[64];
	struct ck_error err = {0};
	struct api_watch_config config = {.resource = "pods",
					  .field_selector = "spec.nodeName=" NODE,
					  .node_name = NODE,
					  .loop = loop,
					  .on_change = on_change};

	snprintf(server, sizeof(server), "http://127.0.0.1:%d", api.port);
	config.api.server = server;
	assert_int_equal(api_watch_start(&config, &watch, &err), 0);
}

/* Stops the watch; how long that took, in ms. */
static int64_t stop_watch(void)
{
	int64_t start = now_ms();

	api_watch_stop(watch);
	watch = NULL;
	return now_ms() - start;
}

static int setup(void **state)
{
	struct ck_error err = {0};

	(void)state;
	memset(&seen, 0, sizeof(seen));
	pthread_mutex_init(&seen.lock, NULL);
	pthread_cond_init(&seen.changed, NULL);
	api_start();
	if (loop_new(&loop, &err) < 0)
		return -1;
	return pthread_create(&loop_thread, NULL, run_loop, loop) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (watch)
		stop_watch();
	loop_quit(loop);
	pthread_join(loop_thread, NULL);
	/* Changes posted but not run are dropped (and freed) here. */
	loop_free(loop);
	loop = NULL;
	api_stop();
	pthread_mutex_destroy(&seen.lock);
	pthread_cond_destroy(&seen.changed);
	return 0;
}

/* --- a: list, then watch from the list's version ----------------------------------------- */

static void test_list_then_watch_in_order(void **state)
{
	(void)state;
	script_answer(200, pod_list("10", "p1@5", "p2@7", NULL));
	script_stream(true, END_HANG, event("ADDED", "p3", "11"), event("MODIFIED", "p1", "12"),
		      event("DELETED", "p2", "13"), NULL);
	start_watch();
	ASSERT_CHANGES("SNAPSHOT p1,p2", "ADDED p3@11", "MODIFIED p1@12", "DELETED p2@13");
	ASSERT_REQUESTS("list", "watch rv=10");
}

/* An empty node: an empty snapshot still tells the loop that nothing runs here. */
static void test_empty_list_posts_empty_snapshot(void **state)
{
	(void)state;
	script_answer(200, pod_list("3", NULL));
	start_watch();
	ASSERT_CHANGES("SNAPSHOT ");
	ASSERT_REQUESTS("list", "watch rv=3");
}

/* --- b: a watch the server ends is resumed from the last version seen -------------------- */

static void test_closed_watch_resumes_from_last_event(void **state)
{
	(void)state;
	script_answer(200, pod_list("10", "p1@5", NULL));
	/* Chunked, ended by the last chunk; then close-delimited, ended by EOF. */
	script_stream(true, END_CLOSE, event("ADDED", "p3", "11"), event("MODIFIED", "p3", "12"),
		      NULL);
	script_stream(false, END_CLOSE, event("DELETED", "p3", "14"), NULL);
	start_watch();
	ASSERT_CHANGES("SNAPSHOT p1", "ADDED p3@11", "MODIFIED p3@12", "DELETED p3@14");
	/* No second list: what came before is still known. */
	ASSERT_REQUESTS("list", "watch rv=10", "watch rv=12", "watch rv=14");
}

static void test_bookmarks_advance_version_without_change(void **state)
{
	(void)state;
	script_answer(200, pod_list("10", "p1@5", NULL));
	script_stream(true, END_CLOSE, event("ADDED", "p3", "11"), bookmark("20"), NULL);
	script_stream(false, END_CLOSE, bookmark("25"), NULL);
	start_watch();
	ASSERT_REQUESTS("list", "watch rv=10", "watch rv=20", "watch rv=25");
	ASSERT_CHANGES("SNAPSHOT p1", "ADDED p3@11");
}

/* --- c: 410 Gone, as an ERROR event and as the HTTP status: list again -------------------- */

static void test_expired_error_event_lists_again(void **state)
{
	(void)state;
	script_answer(200, pod_list("10", "p1@5", "p2@7", NULL));
	/* The stream stays open after the ERROR: the watch must end it itself. */
	script_stream(true, END_HANG, event("ADDED", "p3", "11"), expired_event(), NULL);
	script_answer(200, pod_list("30", "p1@5", "p3@28", NULL));
	start_watch();
	ASSERT_CHANGES("SNAPSHOT p1,p2", "ADDED p3@11", "SNAPSHOT p1,p3");
	ASSERT_REQUESTS("list", "watch rv=10", "list", "watch rv=30");
}

static void test_http_410_lists_again_at_once(void **state)
{
	int64_t gap;

	(void)state;
	script_answer(200, pod_list("10", "p1@5", NULL));
	script_answer(410, status_json(410, "Gone", "too old resource version: 10 (30)"));
	script_answer(200, pod_list("30", "p2@29", NULL));
	start_watch();
	ASSERT_CHANGES("SNAPSHOT p1", "SNAPSHOT p2");
	ASSERT_REQUESTS("list", "watch rv=10", "list", "watch rv=30");
	/* Gone is not the server failing: no back-off before the list. */
	gap = request_at(2).at_ms - request_at(1).at_ms;
	print_message("410 answer to the next list: %lld ms\n", (long long)gap);
	assert_true(gap < 1000);
}

/* Another error (the server failing behind the watch): the watch is taken up again where it
 * was, after a pause that grows while the errors go on. */
static void test_other_error_event_resumes_watch_after_pause(void **state)
{
	int64_t first_gap, second_gap;

	(void)state;
	script_answer(200, pod_list("10", "p1@5", NULL));
	script_stream(true, END_HANG, event("ADDED", "p3", "11"),
		      error_event(500, "InternalError", "etcd is unhappy"), NULL);
	script_stream(true, END_HANG, error_event(500, "InternalError", "etcd is unhappy"), NULL);
	start_watch();
	ASSERT_CHANGES("SNAPSHOT p1", "ADDED p3@11");
	ASSERT_REQUESTS("list", "watch rv=10", "watch rv=11", "watch rv=11");
	first_gap = request_at(2).at_ms - request_at(1).at_ms;
	second_gap = request_at(3).at_ms - request_at(2).at_ms;
	print_message("ERROR 500 to the next watch: %lld ms, then %lld ms\n", (long long)first_gap,
		      (long long)second_gap);
	assert_true(first_gap >= 90);
	assert_true(second_gap >= 190);
}

/* A server (or a proxy in front of it) that ends every watch at once with nothing in it: the
 * watch is asked again after growing pauses, not thousands of times a second. */
static void test_watch_ended_at_once_backs_off(void **state)
{
	size_t count;

	(void)state;
	script_answer(200, pod_list("10", "p1@5", NULL));
	for (int i = 0; i < 40; i++)
		script_stream(i % 2 == 0, END_CLOSE, NULL);
	start_watch();
	usleep(1500 * 1000);
	count = request_count();
	print_message("watches ended at once: %zu requests in 1.5 s\n", count);
	/* list, then watches after 0, ~130, ~300, ~600 ms: a handful. */
	assert_true(count >= 3 && count <= 8);
	for (size_t i = 2; i < count; i++)
		assert_true(request_at(i).at_ms - request_at(i - 1).at_ms >= 90);
	ASSERT_CHANGES("SNAPSHOT p1");
}

/* --- d: the server away, and back ------------------------------------------------------- */

/* Started while the server is down (an agent booting before its API server). */
static void test_server_away_at_start(void **state)
{
	const int64_t away_ms = 1500;
	int64_t started, back, first, delay;

	(void)state;
	api_go_away();
	script_answer(200, pod_list("10", "p1@5", NULL));
	started = now_ms();
	start_watch();
	usleep(away_ms * 1000);
	assert_int_equal(request_count(), 0);
	api_come_back();
	ASSERT_CHANGES("SNAPSHOT p1");
	ASSERT_REQUESTS("list", "watch rv=10");
	pthread_mutex_lock(&api.lock);
	back = api.back_at_ms;
	pthread_mutex_unlock(&api.lock);
	first = request_at(0).at_ms;
	delay = first - back;
	print_message("refused for %lld ms; first request %lld ms after the server came back\n",
		      (long long)(back - started), (long long)delay);
	/* Backing off, but boundedly: at this point the pause is at most 1.6 s. */
	assert_true(delay < 3000);
}

/* The server goes away under a watch and comes back having forgotten old versions. */
static void test_server_away_during_watch(void **state)
{
	int64_t back, delay;

	(void)state;
	script_answer(200, pod_list("10", "p1@5", "p2@7", NULL));
	script_stream(true, END_HANG, event("ADDED", "p3", "11"), NULL);
	script_answer(410, status_json(410, "Gone", "too old resource version: 11 (40)"));
	script_answer(200, pod_list("40", "p1@5", "p3@11", NULL));
	start_watch();
	wait_changes(2);
	api_go_away();
	usleep(1000 * 1000);
	assert_int_equal(request_count(), 2);
	api_come_back();
	/* Resumed where it was, told that is too old, listed: p2 went meanwhile. */
	ASSERT_CHANGES("SNAPSHOT p1,p2", "ADDED p3@11", "SNAPSHOT p1,p3");
	ASSERT_REQUESTS("list", "watch rv=10", "watch rv=11", "list", "watch rv=40");
	pthread_mutex_lock(&api.lock);
	back = api.back_at_ms;
	pthread_mutex_unlock(&api.lock);
	delay = request_at(2).at_ms - back;
	print_message("watch resumed %lld ms after the server came back\n", (long long)delay);
	assert_true(delay < 3000);
}

/* A failing list (500) is retried after a pause, not in a tight loop. */
static void test_failing_list_backs_off(void **state)
{
	int64_t first_gap, second_gap;

	(void)state;
	script_answer(500, status_json(500, "InternalError", "no database"));
	script_answer(500, status_json(500, "InternalError", "no database"));
	script_answer(200, pod_list("10", "p1@5", NULL));
	start_watch();
	ASSERT_CHANGES("SNAPSHOT p1");
	ASSERT_REQUESTS("list", "list", "list", "watch rv=10");
	first_gap = request_at(1).at_ms - request_at(0).at_ms;
	second_gap = request_at(2).at_ms - request_at(1).at_ms;
	print_message("list retried after %lld ms, then %lld ms\n", (long long)first_gap,
		      (long long)second_gap);
	/* The first pause is 100-200 ms, the second 200-400 ms (jittered halves of 200, 400). */
	assert_true(first_gap >= 90 && first_gap < 1000);
	assert_true(second_gap >= 190 && second_gap < 1500);
}

/* A list without a resourceVersion cannot be watched from: it is retried, and nothing breaks. */
static void test_list_without_version_is_retried(void **state)
{
	(void)state;
	script_answer(200, strdup("{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},"
				  "\"items\":[]}"));
	script_answer(200, strdup("{\"kind\":\"Status\"}"));
	script_answer(200, pod_list("10", "p1@5", NULL));
	start_watch();
	ASSERT_CHANGES("SNAPSHOT p1");
	ASSERT_REQUESTS("list", "list", "list", "watch rv=10");
}

/* --- e: stopping ------------------------------------------------------------------------ */

static void test_stop_during_hanging_watch(void **state)
{
	int64_t took;

	(void)state;
	script_answer(200, pod_list("10", "p1@5", NULL));
	script_stream(true, END_HANG, event("ADDED", "p3", "11"), NULL);
	start_watch();
	wait_changes(2);
	wait_requests(2);
	took = stop_watch();
	print_message("stopped during a watch in %lld ms\n", (long long)took);
	assert_true(took < 2500);
	ASSERT_REQUESTS("list", "watch rv=10");
}

static void test_stop_during_unanswered_list(void **state)
{
	int64_t took;

	(void)state;
	script_silent();
	start_watch();
	wait_requests(1);
	took = stop_watch();
	print_message("stopped during a list in %lld ms\n", (long long)took);
	assert_true(took < 2500);
	assert_int_equal(change_count(), 0);
}

static void test_stop_while_backing_off(void **state)
{
	int64_t took;

	(void)state;
	api_go_away();
	start_watch();
	/* Long enough for the pauses to have grown past a second. */
	usleep(1500 * 1000);
	took = stop_watch();
	print_message("stopped while backing off in %lld ms\n", (long long)took);
	assert_true(took < 500);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_list_then_watch_in_order),
	    T(test_empty_list_posts_empty_snapshot),
	    T(test_closed_watch_resumes_from_last_event),
	    T(test_bookmarks_advance_version_without_change),
	    T(test_expired_error_event_lists_again),
	    T(test_http_410_lists_again_at_once),
	    T(test_other_error_event_resumes_watch_after_pause),
	    T(test_watch_ended_at_once_backs_off),
	    T(test_server_away_at_start),
	    T(test_server_away_during_watch),
	    T(test_failing_list_backs_off),
	    T(test_list_without_version_is_retried),
	    T(test_stop_during_hanging_watch),
	    T(test_stop_during_unanswered_list),
	    T(test_stop_while_backing_off),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
