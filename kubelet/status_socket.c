/* The local status socket: see status_socket.h. libmicrohttpd serves it from one thread of its
 * own (MHD_OPTION_LISTEN_SOCKET with a unix socket bound here); the requests are few and a
 * debugging user can wait for the sync loop's answer. */
#include "kubelet/status_socket.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/microhttpd_dl.h"
#include "lib/timeutil.h"
#include "lib/version.h"

#define CONNECTION_TIMEOUT_SECONDS 30
#define CLIENT_TIMEOUT_SECONDS 30
#define CLIENT_MAX_ANSWER (64 << 20)

struct status_socket {
	char *path;
	dev_t device; /* of the socket file we made, to remove only that one */
	ino_t inode;
	char *node_name, *node_ip, *api_server, *run_dir, *cgroup, *unenforced_limits;
	char started_at[TIMEUTIL_TEXT_SIZE];
	status_pods_fn pods_snapshot;
	void *ctx;
	json_t *(*services_status)(void *services_ctx);
	void *services_ctx;
	struct agent_metrics *metrics;
	struct MHD_Daemon *daemon;
};

/* --- Answers ------------------------------------------------------------------------------ */

static enum MHD_Result reply(struct MHD_Connection *connection, unsigned status,
			     const char *content_type, char *body)
{
	struct MHD_Response *response =
	    sym_MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result result;

	if (!response) {
		free(body);
		return MHD_NO;
	}
	sym_MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	result = sym_MHD_queue_response(connection, status, response);
	sym_MHD_destroy_response(response);
	return result;
}

static enum MHD_Result reply_json(struct MHD_Connection *connection, unsigned status, json_t *value)
{
	char *text = json_dumps(value, JSON_INDENT(2) | JSON_SORT_KEYS);

	json_decref(value);
	if (!text)
		abort();
	return reply(connection, status, "application/json", text);
}

static enum MHD_Result reply_error(struct MHD_Connection *connection, unsigned status,
				   const char *message)
{
	return reply_json(connection, status, json_pack("{s:s}", "error", message));
}

static json_t *snapshot(struct status_socket *s)
{
	json_t *pods = s->pods_snapshot(s->ctx);

	if (pods && !json_is_array(pods)) {
		json_decref(pods);
		return NULL;
	}
	return pods;
}

static json_t *node_summary(struct status_socket *s, const json_t *pods)
{
	json_int_t containers = 0, running = 0;
	size_t i, j;
	json_t *pod, *container;

	json_array_foreach (pods, i, pod)
		json_array_foreach (json_object_get(pod, "containers"), j, container) {
			containers++;
			running +=
			    strcmp(json_string_value(json_object_get(container, "state")) ?: "",
				   "running") == 0;
		}
	return json_pack("{s:s, s:s?, s:s, s:s?, s:s, s:s?, s:s?, s:s, s:I, s:I, s:I}", "name",
			 s->node_name, "ip", s->node_ip, "version", CKUBE_VERSION, "apiServer",
			 s->api_server, "runDir", s->run_dir, "cgroup", s->cgroup,
			 "unenforcedLimits", s->unenforced_limits, "startedAt", s->started_at,
			 "pods", (json_int_t)json_array_size(pods), "containers", containers,
			 "runningContainers", running);
}

static enum MHD_Result answer_pod(struct MHD_Connection *connection, const json_t *pods,
				  const char *namespace, const char *name)
{
	char message[600];
	size_t i;
	json_t *pod;

	json_array_foreach (pods, i, pod)
		if (strcmp(json_string_value(json_object_get(pod, "namespace")) ?: "", namespace) ==
			0 &&
		    strcmp(json_string_value(json_object_get(pod, "name")) ?: "", name) == 0)
			return reply_json(connection, 200, json_incref(pod));
	snprintf(message, sizeof(message), "pod %s/%s is not on this node", namespace, name);
	return reply_error(connection, 404, message);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct status_socket *s = cls;
	_cleanup_json_ json_t *pods = NULL;
	const char *rest;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply_error(connection, 405, "the status socket only answers GET");
	if (strcmp(url, "/healthz") == 0)
		return reply(connection, 200, "text/plain; charset=utf-8", strdup("ok"));
	if (strcmp(url, "/metrics") == 0)
		return reply(connection, 200, "text/plain; version=0.0.4; charset=utf-8",
			     agent_metrics_scrape(s->metrics));
	if (strcmp(url, "/services") == 0)
		return reply_json(connection, 200, s->services_status(s->services_ctx));
	if (strcmp(url, "/") != 0 && strcmp(url, "/node") != 0 && strcmp(url, "/pods") != 0 &&
	    strncmp(url, "/pods/", 6) != 0)
		return reply_error(connection, 404,
				   "no such page: try /node, /pods, "
				   "/pods/NAMESPACE/NAME, /services, /healthz or /metrics");
	pods = snapshot(s);
	if (!pods)
		return reply_error(connection, 503, "the agent's sync loop did not answer");
	if (strcmp(url, "/pods") == 0)
		return reply_json(connection, 200, json_incref(pods));
	if (strncmp(url, "/pods/", 6) != 0)
		return reply_json(connection, 200, node_summary(s, pods));
	rest = url + 6;
	const char *slash = strchr(rest, '/');
	if (!slash || slash == rest || !slash[1] || strchr(slash + 1, '/'))
		return reply_error(connection, 404, "a pod is /pods/NAMESPACE/NAME");
	_cleanup_free_ char *namespace = strndup(rest, (size_t)(slash - rest));
	return answer_pod(connection, pods, namespace, slash + 1);
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t len;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len && line[len - 1] == '\n')
		line[--len] = '\0';
	log_warn("status socket: %s", line);
}

/* --- The socket file ---------------------------------------------------------------------- */

static int socket_address(const char *path, struct sockaddr_un *address, struct ck_error *err)
{
	*address = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(address->sun_path))
		return ck_error_set(err, ENAMETOOLONG,
				    "%s: a unix socket path has at most %zu characters", path,
				    sizeof(address->sun_path) - 1);
	memcpy(address->sun_path, path, strlen(path) + 1);
	return 0;
}

/* An existing file at `path`: a socket that answers belongs to a running agent; one that does
 * not is what a killed agent left. */
static int check_existing(const char *path, struct ck_error *err)
{
	struct sockaddr_un address;
	struct stat st;
	_cleanup_close_ int fd = -1;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : ck_error_errno(err, errno, "%s", path);
	if (!S_ISSOCK(st.st_mode))
		return ck_error_set(err, EEXIST, "%s exists and is not a socket", path);
	int r = socket_address(path, &address, err);

	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ck_error_errno(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0)
		return ck_error_set(err, EADDRINUSE,
				    "%s: another node agent answers there (is ckube running?)",
				    path);
	return 0;
}

/* Binds and listens under a temporary name, then renames into place. */
static int make_socket(struct status_socket *s, struct ck_error *err)
{
	_cleanup_free_ char *temporary = NULL, *parent = strdup(s->path);
	struct sockaddr_un address;
	struct stat st;
	_cleanup_close_ int fd = -1;
	int r;

	if (!parent || asprintf(&temporary, "%s.%d.tmp", s->path, (int)getpid()) < 0)
		abort();
	r = fs_mkdir_p(dirname(parent), 0700, err);
	if (r == 0)
		r = check_existing(s->path, err);
	if (r == 0)
		r = socket_address(temporary, &address, err);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ck_error_errno(err, errno, "socket");
	/* Linux gives the file the socket inode's mode (less the umask) at bind: set it before,
	 * so the socket is never open to others, without touching the process-wide umask. */
	unlink(temporary);
	if (fchmod(fd, 0600) < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0)
		return ck_error_errno(err, errno, "bind %s", temporary);
	if (chmod(temporary, 0600) < 0 || listen(fd, 16) < 0 || stat(temporary, &st) < 0 ||
	    rename(temporary, s->path) < 0) {
		r = ck_error_errno(err, errno, "%s", s->path);
		unlink(temporary);
		return r;
	}
	s->device = st.st_dev;
	s->inode = st.st_ino;
	return steal_fd(&fd);
}

static void remove_socket_file(const struct status_socket *s)
{
	struct stat st;

	if (lstat(s->path, &st) == 0 && st.st_dev == s->device && st.st_ino == s->inode)
		unlink(s->path);
}

/* --- Starting and stopping ---------------------------------------------------------------- */

static char *copy(const char *text)
{
	char *copied = text ? strdup(text) : NULL;

	if (text && !copied)
		abort();
	return copied;
}

static void socket_free(struct status_socket *s)
{
	free(s->path);
	free(s->node_name);
	free(s->node_ip);
	free(s->api_server);
	free(s->run_dir);
	free(s->cgroup);
	free(s->unenforced_limits);
	free(s);
}

int status_socket_start(const struct status_socket_config *config, struct status_socket **out,
			struct ck_error *err)
{
	struct status_socket *s = calloc(1, sizeof(*s));
	int fd, r;

	if (!s)
		abort();
	*s = (struct status_socket){.path = copy(config->path),
				    .node_name = copy(config->node_name),
				    .node_ip = copy(config->node_ip),
				    .api_server = copy(config->api_server),
				    .run_dir = copy(config->run_dir),
				    .cgroup = copy(config->cgroup),
				    .unenforced_limits = copy(config->unenforced_limits),
				    .pods_snapshot = config->pods_snapshot,
				    .ctx = config->ctx,
				    .services_status = config->services_status,
				    .services_ctx = config->services_ctx,
				    .metrics = config->metrics};
	timeutil_format_rfc3339(time(NULL), s->started_at);
	r = dlopen_microhttpd(err);
	fd = r < 0 ? r : make_socket(s, err);
	if (fd < 0) {
		socket_free(s);
		return ck_error_prefix(err, "status socket");
	}
	s->daemon = sym_MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, s,
	    MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_SECONDS, MHD_OPTION_END);
	if (!s->daemon) {
		close(fd);
		remove_socket_file(s);
		r = ck_error_set(err, EIO, "status socket %s: libmicrohttpd did not start",
				 s->path);
		socket_free(s);
		return r;
	}
	*out = s;
	return 0;
}

void status_socket_stop(struct status_socket *s)
{
	if (!s)
		return;
	sym_MHD_stop_daemon(s->daemon); /* closes the listening socket too */
	remove_socket_file(s);
	socket_free(s);
}

/* --- The client --------------------------------------------------------------------------- */

static int send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until the server closes the connection (the request said Connection: close). */
static int receive_all(int fd, struct buf *answer)
{
	char chunk[16384];

	for (;;) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			return 0;
		if (answer->len + (size_t)n > CLIENT_MAX_ANSWER)
			return -EFBIG;
		buf_append(answer, chunk, (size_t)n);
	}
}

/* The status and body of an HTTP/1.x answer that has a Content-Length or ends at the close. */
static int parse_answer(struct buf *answer, char **body, size_t *len)
{
	const char *text = answer->data ? answer->data : "";
	const char *end = strstr(text, "\r\n\r\n");
	const char *length_header;
	int status;
	size_t body_len;

	if (!end || sscanf(text, "HTTP/1.%*d %d", &status) != 1)
		return -EPROTO;
	end += 4;
	body_len = answer->len - (size_t)(end - text);
	length_header = strcasestr(text, "\r\nContent-Length:");
	if (length_header && length_header < end) {
		size_t declared = strtoul(length_header + 17, NULL, 10);
		if (declared > body_len)
			return -EPROTO;
		body_len = declared;
	}
	*body = strndup(end, body_len);
	if (!*body)
		abort();
	if (len)
		*len = body_len;
	return status;
}

int status_socket_get(const char *path, const char *target, char **body, size_t *len,
		      struct ck_error *err)
{
	const struct timeval timeout = {.tv_sec = CLIENT_TIMEOUT_SECONDS};
	_cleanup_(buf_free) struct buf answer = {0};
	_cleanup_free_ char *request = NULL;
	struct sockaddr_un address;
	_cleanup_close_ int fd = -1;
	int r = socket_address(path, &address, err);

	*body = NULL;
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ck_error_errno(err, errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	if (connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0)
		return ck_error_errno(err, errno, "cannot reach the node agent at %s", path);
	if (asprintf(&request,
		     "GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: ckube-status\r\n"
		     "Connection: close\r\n\r\n",
		     target) < 0)
		abort();
	r = send_all(fd, request, strlen(request));
	if (r == 0)
		r = receive_all(fd, &answer);
	if (r < 0)
		return ck_error_errno(err, -r, "node agent at %s: GET %s", path, target);
	r = parse_answer(&answer, body, len);
	if (r < 0)
		return ck_error_set(err, EPROTO, "node agent at %s: GET %s: not an HTTP answer",
				    path, target);
	return r;
}
