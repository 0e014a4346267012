/* The agent's HTTP endpoint: see node_server.h. The HTTP part (listening, the token, routing)
 * comes first; the containerLogs route follows. */
#include "kubelet/node_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kubelet/log_reader.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/microhttpd_dl.h"
#include "lib/strconv.h"
#include "lib/timeutil.h"
#include "lib/validation.h"
#include "runtime/container.h"

/* Each connection holds a thread; a followed log holds it for as long as it runs. Nearly all
 * come from the API server, so there is no limit per client address. */
#define MAX_CONNECTIONS 1024
/* Idle connections (a request never finished, a kept-alive one never used again) are closed
 * after this; a followed log, which may be silent for hours, has no timeout once it streams. */
#define IDLE_TIMEOUT_SECONDS 30
#define MAX_SEGMENTS 8
#define STREAM_BLOCK (32 * 1024)

struct node_server {
	char *token;
	char *node_name;
	char *log_dir;
	char *run_dir;
	int port;
	/* Readable once the server stops: ends the waits of followed logs. */
	int stop_event;
	struct MHD_Daemon *daemon;
};

/* One request, routed: the path segments after the route's name. */
struct node_request {
	struct node_server *server;
	struct MHD_Connection *connection;
	char *segments[MAX_SEGMENTS];
	size_t segment_count;
};

typedef enum MHD_Result (*node_route_fn)(struct node_request *request);

static enum MHD_Result serve_container_logs(struct node_request *request);

/* exec, attach and portforward come in here with the same shape. */
static const struct node_route {
	const char *method;
	const char *name; /* the first path segment */
	size_t segments;  /* how many follow it */
	node_route_fn serve;
} routes[] = {
    {"GET", "containerLogs", 3, serve_container_logs},
};

/* --- HTTP ----------------------------------------------------------------------------------- */

/* Answers with one line of text, the form the kubelet's errors take. */
static enum MHD_Result reply_text(struct MHD_Connection *connection, unsigned code, const char *fmt,
				  ...) __attribute__((format(printf, 3, 4)));
static enum MHD_Result reply_text(struct MHD_Connection *connection, unsigned code, const char *fmt,
				  ...)
{
	struct buf body = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&body, fmt, ap);
	va_end(ap);
	buf_putc(&body, '\n');
	size_t len = body.len;
	struct MHD_Response *response =
	    sym_MHD_create_response_from_buffer(len, buf_steal(&body), MHD_RESPMEM_MUST_FREE);
	if (!response)
		return MHD_NO;
	sym_MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/plain; charset=utf-8");
	enum MHD_Result ret = sym_MHD_queue_response(connection, code, response);
	sym_MHD_destroy_response(response);
	return ret;
}

/* Compares in time that does not depend on where the texts differ. */
static bool same_secret(const char *given, const char *wanted)
{
	size_t given_len = strlen(given), wanted_len = strlen(wanted);
	unsigned char diff = given_len != wanted_len;

	for (size_t i = 0; i < wanted_len; i++)
		diff |= (unsigned char)(given[i < given_len ? i : 0] ^ wanted[i]);
	return diff == 0;
}

static bool authorized(const struct node_server *server, struct MHD_Connection *connection)
{
	const char *header = sym_MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_AUTHORIZATION);

	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return false;
	header += 7;
	while (*header == ' ')
		header++;
	return same_secret(header, server->token);
}

/* Splits "/a/b/c" into its segments, in place; false for an empty segment or too many. */
static bool split_path(char *path, char **segments, size_t *count)
{
	*count = 0;
	if (*path != '/')
		return false;
	for (char *p = path + 1;;) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (!*p || *count == MAX_SEGMENTS + 1)
			return false;
		segments[(*count)++] = p;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	static int headers_seen;
	struct node_server *server = cls;
	char *segments[MAX_SEGMENTS + 1];
	size_t count;

	(void)version;
	(void)upload_data;
	/* The first call has the headers only; the answer goes with the last. No route reads a
	 * body, so one is skipped. */
	if (!*con_cls) {
		*con_cls = &headers_seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!authorized(server, connection))
		return reply_text(connection, MHD_HTTP_UNAUTHORIZED, "Unauthorized");
	_cleanup_free_ char *path = strdup(url);
	if (!path)
		return MHD_NO;
	if (!split_path(path, segments, &count))
		return reply_text(connection, MHD_HTTP_NOT_FOUND, "404 page not found");
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct node_route *route = &routes[i];
		if (strcmp(route->name, segments[0]) != 0 || route->segments != count - 1)
			continue;
		if (strcmp(route->method, method) != 0)
			return reply_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
					  "405 method not allowed");
		struct node_request request = {
		    .server = server, .connection = connection, .segment_count = count - 1};
		memcpy(request.segments, segments + 1, (count - 1) * sizeof(char *));
		return route->serve(&request);
	}
	return reply_text(connection, MHD_HTTP_NOT_FOUND, "404 page not found");
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t len = strlen(line);
	while (len && line[len - 1] == '\n')
		line[--len] = '\0';
	log_warn("node endpoint: %s", line);
}

/* Binds here rather than in MHD, for a clear error and the port the kernel picked. */
static int listen_on(const char *address, int port, int *out_port, struct ck_error *err)
{
	struct sockaddr_storage addr = {0};
	struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
	socklen_t len;
	int one = 1;

	if (port < 0 || port > 65535)
		return ck_error_set(err, EINVAL, "node endpoint: port %d out of range", port);
	if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		len = sizeof(*v6);
	} else {
		return ck_error_set(err, EINVAL, "node endpoint: %s is not an IP address", address);
	}
	_cleanup_close_ int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ck_error_errno(err, errno, "node endpoint: socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, len) < 0)
		return ck_error_errno(err, errno, "node endpoint: listen on %s port %d", address,
				      port);
	if (listen(fd, 128) < 0)
		return ck_error_errno(err, errno, "node endpoint: listen");
	if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		return ck_error_errno(err, errno, "node endpoint: local address");
	*out_port = ntohs(addr.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
	return steal_fd(&fd);
}

int node_server_start(const struct node_server_config *config, struct node_server **out,
		      struct ck_error *err)
{
	if (!config->token || !*config->token)
		return ck_error_set(err, EINVAL, "node endpoint: no token to check requests with");
	if (dlopen_microhttpd(err) < 0)
		return ck_error_prefix(err, "node endpoint");
	struct node_server *server = calloc(1, sizeof(*server));
	if (!server)
		abort();
	server->stop_event = -1;
	server->token = strdup(config->token);
	server->node_name = strdup(config->node_name ? config->node_name : "");
	server->log_dir = strdup(config->log_dir);
	server->run_dir = strdup(config->run_dir);
	if (!server->token || !server->node_name || !server->log_dir || !server->run_dir)
		abort();
	int fd = listen_on(config->address, config->port, &server->port, err);
	if (fd < 0) {
		node_server_stop(server);
		return fd;
	}
	server->stop_event = eventfd(0, EFD_CLOEXEC);
	if (server->stop_event < 0) {
		int ret = ck_error_errno(err, errno, "node endpoint: eventfd");
		close(fd);
		node_server_stop(server);
		return ret;
	}
	/* poll(), not select(): the agent may hold more than FD_SETSIZE descriptors. */
	server->daemon = sym_MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
		MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, server, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_SECONDS, MHD_OPTION_END);
	if (!server->daemon) {
		close(fd);
		node_server_stop(server);
		return ck_error_set(err, EIO, "node endpoint: cannot start the HTTP server on %s",
				    config->address);
	}
	*out = server;
	return 0;
}

int node_server_port(const struct node_server *server)
{
	return server->port;
}

void node_server_stop(struct node_server *server)
{
	uint64_t one = 1;

	if (!server)
		return;
	/* Followed logs end their waits first, so that stopping MHD can join their threads. */
	if (server->stop_event >= 0 && write(server->stop_event, &one, sizeof(one)) < 0)
		log_warn("node endpoint: wake the requests: %s", strerror(errno));
	if (server->daemon)
		sym_MHD_stop_daemon(server->daemon);
	if (server->stop_event >= 0)
		close(server->stop_event);
	free(server->token);
	free(server->node_name);
	free(server->log_dir);
	free(server->run_dir);
	free(server);
}

/* --- GET /containerLogs/{namespace}/{pod}/{container} --------------------------------------- */

/* A log being sent: the reader, and what ends a wait besides new output. */
struct log_transfer {
	struct log_reader *reader;
	const char *run_dir; /* the server's; it outlives every connection */
	char *container_id;  /* <pod uid>-<container>-<restart>, for whether it still runs */
	char *subject;       /* "container c of pod ns/p", for messages */
	int client_fd;
	int stop_fd;
};

static bool transfer_running(void *ctx)
{
	const struct log_transfer *transfer = ctx;
	struct container *container;
	struct ck_error err = {0};

	if (container_adopt(transfer->run_dir, transfer->container_id, &container, &err) < 0)
		return false;
	bool running = container_running(container);
	container_free(container);
	return running;
}

static void transfer_free(void *cls)
{
	struct log_transfer *transfer = cls;

	log_reader_free(transfer->reader);
	free(transfer->container_id);
	free(transfer->subject);
	free(transfer);
}

/* MHD's content reader. With a thread per connection it may block: it waits here for output,
 * and gives up when the client hangs up or the server stops. */
static ssize_t transfer_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct log_transfer *transfer = cls;

	(void)pos;
	for (;;) {
		struct ck_error err = {0};
		ssize_t n = log_reader_read(transfer->reader, out, max, &err);
		if (n > 0)
			return n;
		if (n == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (n != -EAGAIN) {
			log_warn("node endpoint: log of %s: %s", transfer->subject, err.message);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		struct pollfd fds[3] = {
		    {.fd = log_reader_poll_fd(transfer->reader), .events = POLLIN},
		    {.fd = transfer->client_fd, .events = POLLRDHUP},
		    {.fd = transfer->stop_fd, .events = POLLIN},
		};
		if (poll(fds, 3, log_reader_poll_timeout(transfer->reader)) < 0 && errno != EINTR)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (fds[1].revents || fds[2].revents)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
}

/* The query, as the kubelet reads PodLogOptions. */
struct log_query {
	bool follow, previous, timestamps;
	int64_t tail_lines, limit_bytes, since_seconds;
	bool has_since_time;
	struct timespec since_time;
	const char *pod_uid;
};

static int query_bool(struct MHD_Connection *connection, const char *key, bool *out,
		      struct ck_error *err)
{
	const char *text = sym_MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, key);

	*out = false;
	if (!text || !*text)
		return 0;
	if (strconv_parse_bool(text, out, err) < 0)
		return ck_error_prefix(err, "%s", key);
	return 0;
}

/* -1 when absent: every value given must be in range, -1 included. */
static int query_int(struct MHD_Connection *connection, const char *key, int64_t min,
		     const char *range, int64_t *out, unsigned *code, struct ck_error *err)
{
	const char *text = sym_MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, key);

	*out = -1;
	if (!text || !*text)
		return 0;
	if (strconv_parse_int(text, INT64_MIN, INT64_MAX, out, err) < 0) {
		*code = MHD_HTTP_BAD_REQUEST;
		return ck_error_prefix(err, "%s", key);
	}
	if (*out < min) {
		*code = MHD_HTTP_UNPROCESSABLE_CONTENT;
		return ck_error_set(err, EINVAL, "%s: Invalid value: %lld: must be %s", key,
				    (long long)*out, range);
	}
	return 0;
}

/* Parse failures are 400; values out of range 422, as the kubelet's validation answers. */
static int parse_query(struct MHD_Connection *connection, struct log_query *query, unsigned *code,
		       struct ck_error *err)
{
	const char *since_time =
	    sym_MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "sinceTime");

	*code = MHD_HTTP_BAD_REQUEST;
	memset(query, 0, sizeof(*query));
	if (query_bool(connection, "follow", &query->follow, err) < 0 ||
	    query_bool(connection, "previous", &query->previous, err) < 0 ||
	    query_bool(connection, "timestamps", &query->timestamps, err) < 0 ||
	    query_int(connection, "tailLines", 0, "greater than or equal to 0", &query->tail_lines,
		      code, err) < 0 ||
	    query_int(connection, "limitBytes", 1, "greater than 0", &query->limit_bytes, code,
		      err) < 0 ||
	    query_int(connection, "sinceSeconds", 1, "greater than 0", &query->since_seconds, code,
		      err) < 0)
		return -EINVAL;
	if (since_time && *since_time) {
		if (timeutil_parse_rfc3339(since_time, &query->since_time, err) < 0)
			return ck_error_prefix(err, "sinceTime");
		query->has_since_time = true;
	}
	query->pod_uid =
	    sym_MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "podUID");
	if (query->since_seconds > 0 && query->has_since_time) {
		*code = MHD_HTTP_UNPROCESSABLE_CONTENT;
		return ck_error_set(err, EINVAL,
				    "sinceSeconds: Forbidden: at most one of `sinceTime` or "
				    "`sinceSeconds` may be specified");
	}
	return 0;
}

static void read_options(const struct log_query *query, struct log_read_options *options)
{
	struct timespec now;

	*options = (struct log_read_options){.tail_lines = query->tail_lines,
					     .limit_bytes = query->limit_bytes,
					     .follow = query->follow,
					     .timestamps = query->timestamps};
	if (query->since_seconds > 0) {
		clock_gettime(CLOCK_REALTIME, &now);
		options->since = (struct timespec){now.tv_sec - query->since_seconds, now.tv_nsec};
	}
	if (query->has_since_time && (query->since_time.tv_sec > options->since.tv_sec ||
				      (query->since_time.tv_sec == options->since.tv_sec &&
				       query->since_time.tv_nsec > options->since.tv_nsec)))
		options->since = query->since_time;
}

/* The pod's log directory, "<namespace>_<pod>_<uid>": the one with `uid` when given, else the
 * most recently changed of that name (an earlier pod of the same name may not be cleaned up
 * yet). Pod names and namespaces have no '_', so the prefix is unambiguous. */
static char *find_pod_dir(const char *log_dir, const char *namespace, const char *pod,
			  const char *uid, const char **uid_out)
{
	_cleanup_free_ char *prefix = NULL;
	char *best = NULL;
	struct timespec best_time = {0};
	DIR *dir = opendir(log_dir);
	struct dirent *entry;

	if (!dir)
		return NULL;
	if (asprintf(&prefix, "%s_%s_", namespace, pod) < 0)
		abort();
	size_t prefix_len = strlen(prefix);
	while ((entry = readdir(dir))) {
		struct stat st;
		if (strncmp(entry->d_name, prefix, prefix_len) != 0 || !entry->d_name[prefix_len])
			continue;
		if (uid && strcmp(entry->d_name + prefix_len, uid) != 0)
			continue;
		if (fstatat(dirfd(dir), entry->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (best && (st.st_mtim.tv_sec < best_time.tv_sec ||
			     (st.st_mtim.tv_sec == best_time.tv_sec &&
			      st.st_mtim.tv_nsec <= best_time.tv_nsec)))
			continue;
		free(best);
		best = strdup(entry->d_name);
		if (!best)
			abort();
		best_time = st.st_mtim;
	}
	closedir(dir);
	if (best)
		*uid_out = best + prefix_len;
	return best;
}

/* The two highest restart numbers with a "<n>.log" file (or a rotated one of it), -1 where
 * there is none. */
static void find_runs(const char *dir_path, int *current, int *previous)
{
	DIR *dir = opendir(dir_path);
	struct dirent *entry;

	*current = *previous = -1;
	if (!dir)
		return;
	while ((entry = readdir(dir))) {
		char *end;
		if (entry->d_name[0] < '0' || entry->d_name[0] > '9')
			continue;
		errno = 0;
		unsigned long n = strtoul(entry->d_name, &end, 10);
		if (errno || n > INT32_MAX || strncmp(end, ".log", 4) != 0 ||
		    (end[4] && end[4] != '.'))
			continue;
		if ((int)n > *current) {
			if (*current >= 0)
				*previous = *current;
			*current = (int)n;
		} else if ((int)n < *current && (int)n > *previous) {
			*previous = (int)n;
		}
	}
	closedir(dir);
}

static bool valid_names(const char *namespace, const char *pod, const char *container,
			const char *uid)
{
	if (!validate_dns1123_label(namespace, NULL) || !validate_dns1123_subdomain(pod, NULL) ||
	    !validate_dns1123_label(container, NULL))
		return false;
	for (const char *c = uid; c && *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-'))
			return false;
	return !uid || *uid;
}

static enum MHD_Result serve_container_logs(struct node_request *request)
{
	struct MHD_Connection *connection = request->connection;
	const struct node_server *server = request->server;
	const char *namespace = request->segments[0], *pod = request->segments[1],
		   *container = request->segments[2];
	struct log_query query;
	struct ck_error err = {0};
	unsigned code;
	const char *uid;
	int current, previous;

	if (parse_query(connection, &query, &code, &err) < 0)
		return reply_text(connection, code, "%s", err.message);
	if (!valid_names(namespace, pod, container, query.pod_uid))
		return reply_text(connection, MHD_HTTP_BAD_REQUEST,
				  "invalid namespace, pod, container or pod UID");
	_cleanup_free_ char *pod_dir =
	    find_pod_dir(server->log_dir, namespace, pod, query.pod_uid, &uid);
	if (!pod_dir)
		return reply_text(connection, MHD_HTTP_NOT_FOUND,
				  "pod \"%s/%s\" not found on node %s", namespace, pod,
				  server->node_name);
	_cleanup_free_ char *container_dir = NULL;
	if (asprintf(&container_dir, "%s/%s/%s", server->log_dir, pod_dir, container) < 0)
		abort();
	find_runs(container_dir, &current, &previous);
	if (current < 0)
		return reply_text(connection, MHD_HTTP_NOT_FOUND,
				  "container \"%s\" not found in pod \"%s/%s\"", container,
				  namespace, pod);
	if (query.previous && previous < 0)
		return reply_text(connection, MHD_HTTP_BAD_REQUEST,
				  "previous terminated container \"%s\" in pod \"%s\" not found",
				  container, pod);
	int run = query.previous ? previous : current;
	_cleanup_free_ char *path = NULL;
	struct log_transfer *transfer = calloc(1, sizeof(*transfer));
	if (!transfer)
		abort();
	if (asprintf(&path, "%s/%d.log", container_dir, run) < 0 ||
	    asprintf(&transfer->container_id, "%s-%s-%d", uid, container, run) < 0 ||
	    asprintf(&transfer->subject, "container %s of pod %s/%s", container, namespace, pod) <
		0)
		abort();
	const union MHD_ConnectionInfo *info =
	    sym_MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
	transfer->client_fd = info ? info->connect_fd : -1;
	transfer->stop_fd = server->stop_event;
	transfer->run_dir = server->run_dir;
	struct log_read_options options;
	read_options(&query, &options);
	options.running = transfer_running;
	options.running_ctx = transfer;
	int ret = log_reader_open(path, &options, &transfer->reader, &err);
	if (ret < 0) {
		transfer_free(transfer);
		if (ret == -ENOENT)
			return reply_text(connection, MHD_HTTP_NOT_FOUND,
					  "container \"%s\" not found in pod \"%s/%s\"", container,
					  namespace, pod);
		log_warn("node endpoint: log of container %s of pod %s/%s: %s", container,
			 namespace, pod, err.message);
		return reply_text(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err.message);
	}
	struct MHD_Response *response = sym_MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, STREAM_BLOCK, transfer_read, transfer, transfer_free);
	if (!response) {
		transfer_free(transfer);
		return MHD_NO;
	}
	sym_MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/plain; charset=utf-8");
	/* MHD counts a wait inside transfer_read as idleness: a quiet container would end the
	 * stream after IDLE_TIMEOUT_SECONDS. The request is authenticated, so it may wait. */
	if (query.follow)
		sym_MHD_set_connection_option(connection, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	enum MHD_Result result = sym_MHD_queue_response(connection, MHD_HTTP_OK, response);
	sym_MHD_destroy_response(response);
	return result;
}
