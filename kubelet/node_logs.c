/* GET /containerLogs/{namespace}/{pod}/{container}: a container's log as `kubectl logs` asks
 * for it, read from the CRI files on the node (kubelet/log_reader.h) and followed while the
 * container runs. See node_server.h for the parameters and answers. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubelet/log_reader.h"
#include "kubelet/node_routes.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/strconv.h"
#include "lib/timeutil.h"
#include "runtime/container.h"

#define STREAM_BLOCK (32 * 1024)

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

enum MHD_Result node_serve_container_logs(struct node_request *request)
{
	struct MHD_Connection *connection = request->connection;
	const struct node_settings *settings = request->settings;
	const char *namespace = request->segments[0], *pod = request->segments[1],
		   *container = request->segments[2];
	struct log_query query;
	struct ck_error err = {0};
	unsigned code;
	const char *uid;
	int current, previous;

	if (parse_query(connection, &query, &code, &err) < 0)
		return node_reply_text(connection, code, "%s", err.message);
	if (!node_valid_names(namespace, pod, container, query.pod_uid))
		return node_reply_text(connection, MHD_HTTP_BAD_REQUEST,
				       "invalid namespace, pod, container or pod UID");
	_cleanup_free_ char *pod_dir =
	    node_find_pod_dir(settings->log_dir, namespace, pod, query.pod_uid, &uid);
	if (!pod_dir)
		return node_reply_text(connection, MHD_HTTP_NOT_FOUND,
				       "pod \"%s/%s\" not found on node %s", namespace, pod,
				       settings->node_name);
	_cleanup_free_ char *container_dir = NULL;
	if (asprintf(&container_dir, "%s/%s/%s", settings->log_dir, pod_dir, container) < 0)
		abort();
	node_find_runs(container_dir, &current, &previous);
	if (current < 0)
		return node_reply_text(connection, MHD_HTTP_NOT_FOUND,
				       "container \"%s\" not found in pod \"%s/%s\"", container,
				       namespace, pod);
	if (query.previous && previous < 0)
		return node_reply_text(
		    connection, MHD_HTTP_BAD_REQUEST,
		    "previous terminated container \"%s\" in pod \"%s\" not found", container, pod);
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
	transfer->stop_fd = settings->stop_fd;
	transfer->run_dir = settings->run_dir;
	struct log_read_options options;
	read_options(&query, &options);
	options.running = transfer_running;
	options.running_ctx = transfer;
	int ret = log_reader_open(path, &options, &transfer->reader, &err);
	if (ret < 0) {
		transfer_free(transfer);
		if (ret == -ENOENT)
			return node_reply_text(connection, MHD_HTTP_NOT_FOUND,
					       "container \"%s\" not found in pod \"%s/%s\"",
					       container, namespace, pod);
		log_warn("node endpoint: log of container %s of pod %s/%s: %s", container,
			 namespace, pod, err.message);
		return node_reply_text(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s",
				       err.message);
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
