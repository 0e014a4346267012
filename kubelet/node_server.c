/* The agent's HTTP endpoint: see node_server.h. This file is the HTTP part: listening, the
 * token, routing, and the connections that switch to another protocol; the routes live in
 * node_logs.c and node_exec.c. */
#include "kubelet/node_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kubelet/node_routes.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/microhttpd_dl.h"

/* Each connection holds a thread; a followed log or an exec session holds it for as long as it
 * runs. Nearly all come from the API server, so there is no limit per client address. */
#define MAX_CONNECTIONS 1024
/* Idle connections (a request never finished, a kept-alive one never used again) are closed
 * after this; a followed log, which may be silent for hours, has no timeout once it streams,
 * and an upgraded connection is no longer MHD's to time out. */
#define IDLE_TIMEOUT_SECONDS 30

struct node_server {
	char *token;
	char *node_name;
	char *log_dir;
	char *run_dir;
	/* Readable once the server stops: ends the waits of followed logs and sessions. */
	int stop_event;
	struct node_settings settings; /* the fields above, for the routes */
	int port;
	struct MHD_Daemon *daemon;
	/* The sessions of upgraded connections under way, which MHD must not outlive. */
	pthread_mutex_t sessions_lock;
	pthread_cond_t sessions_done;
	unsigned sessions;
	bool stopping;
};

/* Per request, in MHD's request context: what an upgrade needs once the 101 is out. */
struct node_slot {
	node_session_fn session;
	void *state;
	void (*free_state)(void *state);
};

typedef enum MHD_Result (*node_route_fn)(struct node_request *request);

/* portforward comes in here with the same shape. */
static const struct node_route {
	const char *method;
	const char *name; /* the first path segment */
	size_t segments;  /* how many follow it */
	node_route_fn serve;
} routes[] = {
    {"GET", "containerLogs", 3, node_serve_container_logs},
    {"GET", "exec", 3, node_serve_exec},
    {"GET", "attach", 3, node_serve_attach},
};

/* --- HTTP ----------------------------------------------------------------------------------- */

enum MHD_Result node_reply_text(struct MHD_Connection *connection, unsigned code, const char *fmt,
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
		if (!*p || *count == NODE_MAX_SEGMENTS + 1)
			return false;
		segments[(*count)++] = p;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

/* --- upgraded connections ------------------------------------------------------------------ */

static void slot_free(struct node_slot *slot)
{
	if (slot->free_state)
		slot->free_state(slot->state);
	free(slot);
}

/* Only shut down here: MHD's own close makes its main thread join this connection's thread,
 * which a session still waiting for its process would hold up, and with it every new
 * connection. MHD closes the socket once the session returns. */
void node_upgraded_close(struct node_upgraded *up)
{
	if (up->closed)
		return;
	up->closed = true;
	shutdown(up->fd, SHUT_RDWR);
}

/* Counts a session in, unless the server stops: MHD_stop_daemon() must not find one under way,
 * it would free the connection beneath it. */
static bool session_begin(struct node_server *server)
{
	pthread_mutex_lock(&server->sessions_lock);
	bool ok = !server->stopping;
	if (ok)
		server->sessions++;
	pthread_mutex_unlock(&server->sessions_lock);
	return ok;
}

static void session_end(struct node_server *server)
{
	pthread_mutex_lock(&server->sessions_lock);
	if (--server->sessions == 0)
		pthread_cond_broadcast(&server->sessions_done);
	pthread_mutex_unlock(&server->sessions_lock);
}

/* MHD calls this in the connection's thread once the 101 answer went out. */
static void on_upgraded(void *cls, struct MHD_Connection *connection, void *con_cls,
			const char *extra_in, size_t extra_in_size, MHD_socket sock,
			struct MHD_UpgradeResponseHandle *urh)
{
	struct node_server *server = cls;
	struct node_slot *slot = con_cls;
	struct node_upgraded up = {.fd = sock,
				   .extra = extra_in,
				   .extra_len = extra_in_size,
				   .stop_fd = server->stop_event};

	(void)connection;
	/* The sessions poll; a blocking socket would stall one on a full send buffer. */
	int flags = fcntl(sock, F_GETFL);
	if (flags < 0 || fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0)
		log_warn("node endpoint: upgraded connection: %s", strerror(errno));
	else if (session_begin(server)) {
		slot->session(slot->state, &up);
		session_end(server);
	}
	if (sym_MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE) != MHD_YES)
		log_warn("node endpoint: closing an upgraded connection failed");
}

enum MHD_Result node_reply_upgrade(struct node_request *request, const char *const *headers,
				   node_session_fn session, void *state,
				   void (*free_state)(void *state))
{
	struct node_slot *slot = request->slot;
	struct MHD_Response *response =
	    sym_MHD_create_response_for_upgrade(on_upgraded, request->server);

	/* The slot owns the state from here on, whatever happens to the answer. */
	slot->session = session;
	slot->state = state;
	slot->free_state = free_state;
	if (!response)
		return MHD_NO;
	for (size_t i = 0; headers[i] && headers[i + 1]; i += 2)
		sym_MHD_add_response_header(response, headers[i], headers[i + 1]);
	enum MHD_Result ret =
	    sym_MHD_queue_response(request->connection, MHD_HTTP_SWITCHING_PROTOCOLS, response);
	sym_MHD_destroy_response(response);
	return ret;
}

/* --- requests ------------------------------------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct node_server *server = cls;
	char *segments[NODE_MAX_SEGMENTS + 1];
	size_t count;

	(void)version;
	(void)upload_data;
	/* The first call has the headers only; the answer goes with the last. No route reads a
	 * body, so one is skipped. */
	if (!*con_cls) {
		*con_cls = calloc(1, sizeof(struct node_slot));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!authorized(server, connection))
		return node_reply_text(connection, MHD_HTTP_UNAUTHORIZED, "Unauthorized");
	_cleanup_free_ char *path = strdup(url);
	if (!path)
		return MHD_NO;
	if (!split_path(path, segments, &count))
		return node_reply_text(connection, MHD_HTTP_NOT_FOUND, "404 page not found");
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct node_route *route = &routes[i];
		if (strcmp(route->name, segments[0]) != 0 || route->segments != count - 1)
			continue;
		if (strcmp(route->method, method) != 0)
			return node_reply_text(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
					       "405 method not allowed");
		struct node_request request = {.server = server,
					       .settings = &server->settings,
					       .connection = connection,
					       .slot = *con_cls,
					       .segment_count = count - 1};
		memcpy(request.segments, segments + 1, (count - 1) * sizeof(char *));
		return route->serve(&request);
	}
	return node_reply_text(connection, MHD_HTTP_NOT_FOUND, "404 page not found");
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)connection;
	(void)code;
	if (*con_cls)
		slot_free(*con_cls);
	*con_cls = NULL;
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
	pthread_mutex_init(&server->sessions_lock, NULL);
	pthread_cond_init(&server->sessions_done, NULL);
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
	server->settings = (struct node_settings){.node_name = server->node_name,
						  .log_dir = server->log_dir,
						  .run_dir = server->run_dir,
						  .stop_fd = server->stop_event};
	/* poll(), not select(): the agent may hold more than FD_SETSIZE descriptors. */
	server->daemon = sym_MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
		MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, server, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)IDLE_TIMEOUT_SECONDS, MHD_OPTION_END);
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
	/* Followed logs and sessions end their waits first, so that stopping MHD can join their
	 * threads; MHD must not see a session under way. */
	if (server->stop_event >= 0 && write(server->stop_event, &one, sizeof(one)) < 0)
		log_warn("node endpoint: wake the requests: %s", strerror(errno));
	pthread_mutex_lock(&server->sessions_lock);
	server->stopping = true;
	while (server->sessions)
		pthread_cond_wait(&server->sessions_done, &server->sessions_lock);
	pthread_mutex_unlock(&server->sessions_lock);
	if (server->daemon)
		sym_MHD_stop_daemon(server->daemon);
	if (server->stop_event >= 0)
		close(server->stop_event);
	pthread_mutex_destroy(&server->sessions_lock);
	pthread_cond_destroy(&server->sessions_done);
	free(server->token);
	free(server->node_name);
	free(server->log_dir);
	free(server->run_dir);
	free(server);
}
