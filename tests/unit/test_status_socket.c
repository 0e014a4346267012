/* The status socket with a fake pods provider: the socket file (0600, put in place whole, a
 * stale one replaced, a live one left alone, removed at stop), the pages asked with a plain
 * AF_UNIX client and with status_socket_get, and the answers when something is missing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubelet/status_socket.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/json_util.h"

static const char pods_json[] =
    "[{\"namespace\":\"default\",\"name\":\"web\",\"uid\":\"u1\",\"phase\":\"Running\","
    "\"stage\":\"running\",\"podIP\":\"10.42.0.7\",\"podIPs\":[\"10.42.0.7\"],"
    "\"hostNetwork\":false,\"netns\":\"/run/ckube/pods/u1/ns/net\","
    "\"cgroup\":\"/sys/fs/cgroup/ckube/besteffort/podu1\",\"startTime\":\"2026-11-25T12:49:55Z\","
    "\"containers\":[{\"name\":\"app\",\"init\":false,\"id\":\"u1-app-0\",\"pid\":4242,"
    "\"state\":\"running\",\"reason\":null,\"restartCount\":0,\"image\":\"busybox\","
    "\"imageID\":\"sha256:abc\",\"cgroup\":\"/sys/fs/cgroup/ckube/besteffort/podu1/app\","
    "\"mounts\":[],\"lastError\":null}],\"errors\":{}},"
    "{\"namespace\":\"kube-system\",\"name\":\"dns\",\"uid\":\"u2\",\"phase\":\"Pending\","
    "\"stage\":\"starting\",\"podIP\":null,\"podIPs\":[],\"hostNetwork\":false,\"netns\":null,"
    "\"cgroup\":null,\"startTime\":null,"
    "\"containers\":[{\"name\":\"dns\",\"init\":false,\"id\":null,\"pid\":null,"
    "\"state\":\"waiting\",\"reason\":\"ErrImagePull\",\"restartCount\":0,\"image\":\"nope\","
    "\"imageID\":null,\"cgroup\":null,\"mounts\":[],\"lastError\":\"pull failed\"}],"
    "\"errors\":{\"pull dns\":\"pull failed\"}}]";

struct fixture {
	char *dir;
	char *path;
	json_t *pods; /* what the provider answers; NULL: it does not */
	int calls;    /* how often it was asked */
	struct agent_metrics *metrics;
	struct status_socket *socket;
};

static json_t *fake_pods(void *ctx)
{
	struct fixture *f = ctx;

	f->calls++;
	return f->pods ? json_incref(f->pods) : NULL;
}

static int start(struct fixture *f, struct status_socket **out, struct ck_error *err)
{
	const struct status_socket_config config = {.path = f->path,
						    .node_name = "node-1",
						    .node_ip = "127.0.0.1",
						    .api_server = "https://127.0.0.1:6443",
						    .run_dir = f->dir,
						    .cgroup = "/sys/fs/cgroup/ckube",
						    .pods_snapshot = fake_pods,
						    .ctx = f,
						    .metrics = f->metrics};
	return status_socket_start(&config, out, err);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	json_error_t error;

	f->dir = strdup("/tmp/ckube-test-status-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_true(asprintf(&f->path, "%s/ckube.sock", f->dir) > 0);
	f->pods = json_loads(pods_json, 0, &error);
	assert_non_null(f->pods);
	f->metrics = agent_metrics_new(f->dir, "");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	status_socket_stop(f->socket);
	agent_metrics_free(f->metrics);
	json_decref(f->pods);
	fs_remove_tree(AT_FDCWD, f->dir, NULL);
	free(f->path);
	free(f->dir);
	free(f);
	return 0;
}

static void start_or_fail(struct fixture *f)
{
	struct ck_error err = {0};

	if (start(f, &f->socket, &err) < 0)
		fail_msg("%s", err.message);
}

/* A plain HTTP/1.1 exchange over AF_UNIX: the whole answer, headers and all. */
static char *exchange(const char *path, const char *request)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct buf answer = {0};
	char chunk[4096];
	ssize_t n;

	assert_true(fd >= 0);
	snprintf(address.sun_path, sizeof(address.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(&answer, chunk, (size_t)n);
	buf_putc(&answer, '\0');
	return buf_steal(&answer);
}

static char *get_raw(const char *path, const char *target)
{
	char request[512];

	snprintf(request, sizeof(request),
		 "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", target);
	return exchange(path, request);
}

static json_t *get_json(struct fixture *f, const char *target, int want_status)
{
	_cleanup_free_ char *body = NULL;
	struct ck_error err = {0};
	json_error_t error;
	size_t len = 0;
	int status = status_socket_get(f->path, target, &body, &len, &err);

	if (status < 0)
		fail_msg("GET %s: %s", target, err.message);
	assert_int_equal(status, want_status);
	assert_int_equal(len, strlen(body));
	json_t *value = json_loads(body, 0, &error);
	if (!value)
		fail_msg("GET %s: not JSON: %s", target, body);
	return value;
}

static void test_socket_file(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	start_or_fail(f);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Nothing but the socket: the temporary name it was bound under is gone. */
	_cleanup_free_ char *listing = NULL;
	assert_true(asprintf(&listing, "%s.%d.tmp", f->path, (int)getpid()) > 0);
	assert_int_equal(access(listing, F_OK), -1);
	status_socket_stop(f->socket);
	f->socket = NULL;
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_healthz_and_metrics(void **state)
{
	struct fixture *f = *state;

	start_or_fail(f);
	_cleanup_free_ char *health = get_raw(f->path, "/healthz");
	assert_true(strncmp(health, "HTTP/1.1 200 ", 13) == 0);
	assert_non_null(strcasestr(health, "\r\nContent-Type: text/plain"));
	assert_non_null(strstr(health, "\r\n\r\nok"));
	assert_string_equal(strstr(health, "\r\n\r\n") + 4, "ok");

	_cleanup_free_ char *metrics = get_raw(f->path, "/metrics");
	assert_true(strncmp(metrics, "HTTP/1.1 200 ", 13) == 0);
	assert_non_null(
	    strcasestr(metrics, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(metrics, "\n# TYPE ckube_pod_start_duration_seconds histogram\n"));
	assert_non_null(strstr(metrics, "\nckube_running_containers 0\n"));
	/* Neither asks the sync loop. */
	assert_int_equal(f->calls, 0);
}

static void test_pods(void **state)
{
	struct fixture *f = *state;

	start_or_fail(f);
	_cleanup_json_ json_t *pods = get_json(f, "/pods", 200);
	assert_true(json_equal(pods, f->pods));

	_cleanup_json_ json_t *web = get_json(f, "/pods/default/web", 200);
	assert_true(json_equal(web, json_array_get(f->pods, 0)));
	_cleanup_json_ json_t *dns = get_json(f, "/pods/kube-system/dns", 200);
	assert_string_equal(json_path_string(dns, "errors.pull dns"), "pull failed");

	_cleanup_json_ json_t *ghost = get_json(f, "/pods/default/ghost", 404);
	assert_string_equal(json_path_string(ghost, "error"),
			    "pod default/ghost is not on this node");
	/* The name is not looked for in another namespace. */
	_cleanup_json_ json_t *elsewhere = get_json(f, "/pods/kube-system/web", 404);
	assert_string_equal(json_path_string(elsewhere, "error"),
			    "pod kube-system/web is not on this node");
	_cleanup_json_ json_t *partial = get_json(f, "/pods/default", 404);
	assert_string_equal(json_path_string(partial, "error"), "a pod is /pods/NAMESPACE/NAME");
	_cleanup_json_ json_t *unknown = get_json(f, "/nope", 404);
	assert_non_null(strstr(json_path_string(unknown, "error"), "/healthz"));
}

static void test_node(void **state)
{
	struct fixture *f = *state;

	start_or_fail(f);
	_cleanup_json_ json_t *node = get_json(f, "/node", 200);
	_cleanup_json_ json_t *root = get_json(f, "/", 200);
	json_object_del(node, "startedAt");
	assert_non_null(json_path_string(root, "startedAt"));
	json_object_del(root, "startedAt");
	assert_true(json_equal(node, root));
	assert_string_equal(json_path_string(node, "name"), "node-1");
	assert_string_equal(json_path_string(node, "ip"), "127.0.0.1");
	assert_string_equal(json_path_string(node, "apiServer"), "https://127.0.0.1:6443");
	assert_string_equal(json_path_string(node, "cgroup"), "/sys/fs/cgroup/ckube");
	assert_true(json_is_null(json_object_get(node, "unenforcedLimits")));
	assert_int_equal(json_integer_value(json_object_get(node, "pods")), 2);
	assert_int_equal(json_integer_value(json_object_get(node, "containers")), 2);
	assert_int_equal(json_integer_value(json_object_get(node, "runningContainers")), 1);
}

static void test_only_get(void **state)
{
	struct fixture *f = *state;

	start_or_fail(f);
	_cleanup_free_ char *answer =
	    exchange(f->path, "DELETE /pods/default/web HTTP/1.1\r\nHost: localhost\r\n"
			      "Connection: close\r\n\r\n");
	assert_true(strncmp(answer, "HTTP/1.1 405 ", 13) == 0);
	assert_int_equal(f->calls, 0);
}

static void test_loop_without_answer(void **state)
{
	struct fixture *f = *state;

	json_decref(f->pods);
	f->pods = NULL;
	start_or_fail(f);
	_cleanup_json_ json_t *pods = get_json(f, "/pods", 503);
	assert_string_equal(json_path_string(pods, "error"),
			    "the agent's sync loop did not answer");
	_cleanup_free_ char *health = get_raw(f->path, "/healthz");
	assert_true(strncmp(health, "HTTP/1.1 200 ", 13) == 0);
}

/* What a killed agent leaves: a socket file nobody listens on. */
static void leave_dead_socket(const char *path)
{
	struct sockaddr_un address = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(address.sun_path, sizeof(address.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
	close(fd);
}

static void test_stale_and_live_sockets(void **state)
{
	struct fixture *f = *state;
	struct status_socket *second = NULL;
	struct ck_error err = {0};
	struct stat st;

	leave_dead_socket(f->path);
	start_or_fail(f);
	_cleanup_json_ json_t *pods = get_json(f, "/pods", 200);
	assert_int_equal(json_array_size(pods), 2);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* A socket that answers is another agent's: left alone, and still answering. */
	assert_int_equal(start(f, &second, &err), -EADDRINUSE);
	assert_non_null(strstr(err.message, "another node agent answers there"));
	_cleanup_free_ char *health = get_raw(f->path, "/healthz");
	assert_true(strncmp(health, "HTTP/1.1 200 ", 13) == 0);

	/* A newer agent's socket in its place is not removed by the older one's stop. */
	assert_int_equal(unlink(f->path), 0);
	leave_dead_socket(f->path);
	status_socket_stop(f->socket);
	f->socket = NULL;
	assert_int_equal(lstat(f->path, &st), 0);
}

static void test_not_a_socket(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};

	assert_int_equal(fs_write_file(f->path, "x", 1, 0644, &err), 0);
	assert_int_equal(start(f, &f->socket, &err), -EEXIST);
	assert_non_null(strstr(err.message, "exists and is not a socket"));
	assert_null(f->socket);
}

static void test_client_without_agent(void **state)
{
	struct fixture *f = *state;
	char *body = (char *)"untouched";
	struct ck_error err = {0};
	char expected[600];

	assert_int_equal(status_socket_get(f->path, "/node", &body, NULL, &err), -ENOENT);
	assert_null(body);
	snprintf(expected, sizeof(expected),
		 "cannot reach the node agent at %s: No such file or directory", f->path);
	assert_string_equal(err.message, expected);
	/* A stale socket refuses. */
	leave_dead_socket(f->path);
	assert_int_equal(status_socket_get(f->path, "/node", &body, NULL, &err), -ECONNREFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_healthz_and_metrics, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pods, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_node, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_only_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loop_without_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_and_live_sockets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_without_agent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
