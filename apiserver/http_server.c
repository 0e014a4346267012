#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/microhttpd_dl.h"
#include "lib/cleanup.h"
#include "lib/log.h"

struct stream_link;

struct http_server {
	struct MHD_Daemon *daemon;
	struct http_server_config config;
	/* A parked stream (a watch with nothing to send) is not read by MHD, so a client that
	 * went away would go unnoticed until the next event. The sockets of streamed answers are
	 * watched here for hang-ups instead, in a thread of their own. */
	int hangups;    /* epoll set: EPOLLRDHUP on each streamed answer's socket */
	int stop_event; /* eventfd: ends the hang-up thread */
	pthread_t hangup_thread;
	bool hangup_thread_running;
	pthread_mutex_t streams_lock;
	/* Set when the server stops: streams end instead of parking (MHD refuses to stop with
	 * parked connections), also those of requests that arrive meanwhile. */
	atomic_bool closing;
	struct stream_link *streams; /* the streamed answers under way */
	/* The sessions of upgraded connections, which MHD must not outlive: it would free their
	 * connections beneath them. */
	pthread_mutex_t sessions_lock;
	pthread_cond_t sessions_done;
	unsigned sessions;
	bool stopping;
};

/* An upgrade answer's session, from the handler's answer to its end. */
struct upgrade_link {
	struct http_server *server;
	const struct http_upgrade_ops *ops;
	void *state;
	struct MHD_UpgradeResponseHandle *urh;
	int fd;
	struct buf extra; /* what the client sent after its request head */
};

/* Per-request state, kept in MHD's connection context between the calls of one request. */
struct pending_request {
	struct buf body;
	bool too_large;
	struct http_param *params;
	size_t param_count, param_cap;
	/* An upgrade answered but not begun: released with the request if it never begins. */
	struct upgrade_link *upgrade;
};

/* A streamed response parked and resumed in step with its stream; the lock makes "nothing to
 * send, so suspend" and "something arrived, so resume" exclusive. */
struct stream_link {
	pthread_mutex_t lock;
	struct http_server *server;
	struct stream_link *prev, *next; /* in server->streams */
	struct MHD_Connection *connection;
	int fd;
	bool suspended;
	bool wake_pending;
	bool peer_gone;
	const struct http_stream_ops *ops;
	void *state;
};

const char *http_request_header(const struct http_request *req, const char *name)
{
	return sym_MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

const char *http_request_param(const struct http_request *req, const char *key)
{
	for (size_t i = 0; i < req->param_count; i++)
		if (strcmp(req->params[i].key, key) == 0)
			return req->params[i].value;
	return NULL;
}

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	(void)kind;
	struct pending_request *pending = cls;
	if (pending->param_count == pending->param_cap) {
		size_t cap = pending->param_cap ? pending->param_cap * 2 : 8;
		struct http_param *grown = realloc(pending->params, cap * sizeof(*grown));
		if (!grown)
			return MHD_NO;
		pending->params = grown;
		pending->param_cap = cap;
	}
	pending->params[pending->param_count++] =
	    (struct http_param){.key = key, .value = value ? value : ""};
	return MHD_YES;
}

static void stream_link_notify(void *ctx)
{
	struct stream_link *link = ctx;
	pthread_mutex_lock(&link->lock);
	if (link->suspended) {
		link->suspended = false;
		sym_MHD_resume_connection(link->connection);
	} else {
		link->wake_pending = true;
	}
	pthread_mutex_unlock(&link->lock);
}

static ssize_t stream_link_read(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct stream_link *link = cls;
	pthread_mutex_lock(&link->lock);
	bool gone = link->peer_gone || atomic_load(&link->server->closing);
	pthread_mutex_unlock(&link->lock);
	if (gone)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	ssize_t n = link->ops->read(link->state, out, max);
	if (n > 0)
		return n;
	if (n < 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	pthread_mutex_lock(&link->lock);
	if (link->wake_pending || link->peer_gone || atomic_load(&link->server->closing)) {
		/* Data arrived between read() and here, or the stream is to end: let MHD call
		 * again right away. */
		link->wake_pending = false;
	} else {
		link->suspended = true;
		sym_MHD_suspend_connection(link->connection);
	}
	pthread_mutex_unlock(&link->lock);
	return 0;
}

static void streams_add(struct http_server *server, struct stream_link *link)
{
	pthread_mutex_lock(&server->streams_lock);
	link->next = server->streams;
	if (link->next)
		link->next->prev = link;
	server->streams = link;
	struct epoll_event event = {.events = EPOLLRDHUP, .data.ptr = link};
	if (link->fd >= 0)
		epoll_ctl(server->hangups, EPOLL_CTL_ADD, link->fd, &event);
	pthread_mutex_unlock(&server->streams_lock);
}

static void streams_remove(struct http_server *server, struct stream_link *link)
{
	pthread_mutex_lock(&server->streams_lock);
	/* The socket may be closed already; epoll forgets closed sockets by itself. */
	if (link->fd >= 0)
		epoll_ctl(server->hangups, EPOLL_CTL_DEL, link->fd, NULL);
	if (link->prev)
		link->prev->next = link->next;
	else
		server->streams = link->next;
	if (link->next)
		link->next->prev = link->prev;
	pthread_mutex_unlock(&server->streams_lock);
}

/* Ends the streams whose clients hung up: they are woken and their next read fails. */
static void *hangup_main(void *arg)
{
	struct http_server *server = arg;
	for (;;) {
		struct epoll_event events[32];
		int n = epoll_wait(server->hangups, events, 32, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		pthread_mutex_lock(&server->streams_lock);
		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr == NULL) {
				pthread_mutex_unlock(&server->streams_lock);
				return NULL; /* the stop event */
			}
			/* Only links still registered: one may have ended since epoll_wait. */
			struct stream_link *link = server->streams;
			while (link && link != events[i].data.ptr)
				link = link->next;
			if (!link)
				continue;
			epoll_ctl(server->hangups, EPOLL_CTL_DEL, link->fd, NULL);
			pthread_mutex_lock(&link->lock);
			link->peer_gone = true;
			if (link->suspended) {
				link->suspended = false;
				sym_MHD_resume_connection(link->connection);
			}
			pthread_mutex_unlock(&link->lock);
		}
		pthread_mutex_unlock(&server->streams_lock);
	}
	return NULL;
}

static void stream_link_free(void *cls)
{
	struct stream_link *link = cls;
	streams_remove(link->server, link);
	link->ops->release(link->state);
	pthread_mutex_destroy(&link->lock);
	free(link);
}

static struct MHD_Response *stream_response(struct http_server *server,
					    struct MHD_Connection *connection,
					    struct http_response *resp)
{
	struct stream_link *link = calloc(1, sizeof(*link));
	if (!link)
		return NULL;
	pthread_mutex_init(&link->lock, NULL);
	link->server = server;
	link->connection = connection;
	const union MHD_ConnectionInfo *info =
	    sym_MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
	link->fd = info ? info->connect_fd : -1;
	link->ops = resp->stream_ops;
	link->state = resp->stream_state;
	resp->stream_ops = NULL;
	streams_add(server, link);
	link->ops->set_notify(link->state, stream_link_notify, link);
	struct MHD_Response *response = sym_MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, 32 * 1024, stream_link_read, link, stream_link_free);
	if (!response)
		stream_link_free(link);
	return response;
}

/* --- upgraded connections ------------------------------------------------------------------ */

static void upgrade_link_free(struct upgrade_link *link)
{
	link->ops->release(link->state);
	buf_free(&link->extra);
	free(link);
}

static void session_end(struct upgrade_link *link)
{
	struct http_server *server = link->server;

	if (sym_MHD_upgrade_action(link->urh, MHD_UPGRADE_ACTION_CLOSE) != MHD_YES)
		log_warn("http: closing an upgraded connection failed");
	upgrade_link_free(link);
	pthread_mutex_lock(&server->sessions_lock);
	if (--server->sessions == 0)
		pthread_cond_broadcast(&server->sessions_done);
	pthread_mutex_unlock(&server->sessions_lock);
}

static void *session_main(void *arg)
{
	struct upgrade_link *link = arg;

	link->ops->run(link->state, link->fd, link->extra.data, link->extra.len,
		       link->server->stop_event);
	session_end(link);
	return NULL;
}

/* MHD calls this from its event loop once the 101 answer went out: the session must not block
 * here, it gets a thread. */
static void on_upgraded(void *cls, struct MHD_Connection *connection, void *con_cls,
			const char *extra_in, size_t extra_in_size, MHD_socket sock,
			struct MHD_UpgradeResponseHandle *urh)
{
	struct http_server *server = cls;
	struct pending_request *pending = con_cls;
	struct upgrade_link *link = pending->upgrade;
	pthread_t thread;

	(void)connection;
	pending->upgrade = NULL;
	link->urh = urh;
	link->fd = sock;
	buf_append(&link->extra, extra_in, extra_in_size);
	int flags = fcntl(sock, F_GETFL);
	if (flags < 0 || fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0)
		log_warn("http: upgraded connection: %s", strerror(errno));
	pthread_mutex_lock(&server->sessions_lock);
	bool run = !server->stopping;
	server->sessions++;
	pthread_mutex_unlock(&server->sessions_lock);
	int ret = run ? pthread_create(&thread, NULL, session_main, link) : 0;
	if (ret != 0)
		log_warn("http: upgraded connection: start a thread: %s", strerror(ret));
	if (!run || ret != 0) {
		session_end(link);
		return;
	}
	pthread_detach(thread);
}

static struct MHD_Response *upgrade_response(struct http_server *server,
					     struct pending_request *pending,
					     struct http_response *resp)
{
	struct upgrade_link *link = calloc(1, sizeof(*link));

	if (!link)
		return NULL;
	link->server = server;
	link->ops = resp->upgrade_ops;
	link->state = resp->upgrade_state;
	link->fd = -1;
	resp->upgrade_ops = NULL;
	/* Kept with the request: MHD has no way to release what an upgrade answer that is never
	 * sent holds. */
	pending->upgrade = link;
	struct MHD_Response *response = sym_MHD_create_response_for_upgrade(on_upgraded, server);
	for (size_t i = 0; response && i < resp->upgrade_header_count; i++)
		sym_MHD_add_response_header(response, resp->upgrade_headers[i].key,
					    resp->upgrade_headers[i].value);
	return response;
}

static enum MHD_Result send_response(struct http_server *server, struct MHD_Connection *connection,
				     struct pending_request *pending, struct http_response *resp)
{
	struct MHD_Response *response;
	if (resp->upgrade_ops) {
		response = upgrade_response(server, pending, resp);
		if (!response)
			return MHD_NO;
		enum MHD_Result ret =
		    sym_MHD_queue_response(connection, MHD_HTTP_SWITCHING_PROTOCOLS, response);
		sym_MHD_destroy_response(response);
		return ret;
	}
	if (resp->stream_ops) {
		response = stream_response(server, connection, resp);
	} else {
		size_t len = resp->body.len;
		response = sym_MHD_create_response_from_buffer(len, buf_steal(&resp->body),
							       MHD_RESPMEM_MUST_FREE);
	}
	if (!response)
		return MHD_NO;
	if (resp->content_type)
		sym_MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
					    resp->content_type);
	sym_MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
	if (resp->warning)
		sym_MHD_add_response_header(response, "Warning", resp->warning);
	enum MHD_Result ret = sym_MHD_queue_response(connection, resp->status, response);
	sym_MHD_destroy_response(response);
	return ret;
}

static void response_clear(struct http_response *resp)
{
	buf_free(&resp->body);
	free(resp->warning);
	if (resp->stream_ops)
		resp->stream_ops->release(resp->stream_state);
	if (resp->upgrade_ops)
		resp->upgrade_ops->release(resp->upgrade_state);
}

static enum MHD_Result reply_plain_status(struct MHD_Connection *connection, unsigned code,
					  const char *reason, const char *message)
{
	struct http_response resp = {.status = code, .content_type = "application/json"};
	buf_printf(
	    &resp.body,
	    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
	    "\"message\":\"%s\",\"reason\":\"%s\",\"code\":%u}\n",
	    message, reason, code);
	enum MHD_Result ret = send_response(NULL, connection, NULL, &resp);
	response_clear(&resp);
	return ret;
}

static bool peer_is_loopback(struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info =
	    sym_MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!info || !info->client_addr)
		return false;
	const struct sockaddr *addr = info->client_addr;
	if (addr->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
	if (addr->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a6) ||
		       (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
	}
	return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	(void)version;
	struct http_server *server = cls;
	struct pending_request *pending = *con_cls;

	if (!pending) {
		pending = calloc(1, sizeof(*pending));
		if (!pending)
			return MHD_NO;
		*con_cls = pending;
		const char *length = sym_MHD_lookup_connection_value(
		    connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (length && strtoull(length, NULL, 10) > server->config.max_body_bytes)
			pending->too_large = true;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!pending->too_large &&
		    pending->body.len + *upload_data_size > server->config.max_body_bytes)
			pending->too_large = true;
		if (!pending->too_large)
			buf_append(&pending->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (pending->too_large) {
		char message[128];
		snprintf(message, sizeof(message), "the request body is larger than %zu bytes",
			 server->config.max_body_bytes);
		return reply_plain_status(connection, MHD_HTTP_CONTENT_TOO_LARGE,
					  "RequestEntityTooLarge", message);
	}

	sym_MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, collect_param, pending);
	struct http_request req = {
	    .method = method,
	    .path = url,
	    .params = pending->params,
	    .param_count = pending->param_count,
	    .body = pending->body.data ? pending->body.data : "",
	    .body_len = pending->body.len,
	    .from_loopback = peer_is_loopback(connection),
	    .connection = connection,
	};
	struct http_response resp = {.status = 200};
	server->config.handler(server->config.handler_ctx, &req, &resp);
	enum MHD_Result ret = send_response(server, connection, pending, &resp);
	response_clear(&resp);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)connection;
	(void)code;
	struct pending_request *pending = *con_cls;
	if (!pending)
		return;
	if (pending->upgrade)
		upgrade_link_free(pending->upgrade);
	buf_free(&pending->body);
	free(pending->params);
	free(pending);
	*con_cls = NULL;
}

int http_parse_listen(const char *listen, void *storage, bool *loopback, struct ck_error *err)
{
	_cleanup_free_ char *copy = strdup(listen);
	if (!copy)
		return ck_error_set(err, ENOMEM, "parse listen address: out of memory");
	char *host = copy, *port_text;
	if (*host == '[') {
		char *close = strchr(host, ']');
		if (!close || close[1] != ':')
			return ck_error_set(err, EINVAL, "listen address %s: want [ADDR]:PORT",
					    listen);
		*close = '\0';
		host++;
		port_text = close + 2;
	} else {
		char *colon = strrchr(host, ':');
		if (!colon)
			return ck_error_set(err, EINVAL, "listen address %s: want ADDR:PORT",
					    listen);
		*colon = '\0';
		port_text = colon + 1;
	}
	char *end;
	unsigned long port = strtoul(port_text, &end, 10);
	if (!*port_text || *end || port > 65535)
		return ck_error_set(err, EINVAL, "listen address %s: bad port", listen);

	memset(storage, 0, sizeof(struct sockaddr_storage));
	struct sockaddr_in *v4 = storage;
	struct sockaddr_in6 *v6 = storage;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
	} else {
		return ck_error_set(err, EINVAL, "listen address %s: %s is not an IP address",
				    listen, host);
	}
	return 0;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t len = strlen(line);
	while (len && line[len - 1] == '\n')
		line[--len] = '\0';
	log_warn("http: %s", line);
}

int http_server_start(const struct http_server_config *config, struct http_server **out,
		      struct ck_error *err)
{
	struct sockaddr_storage addr;
	bool loopback;
	int ret = http_parse_listen(config->listen, &addr, &loopback, err);
	if (ret < 0)
		return ret;
	if (dlopen_microhttpd(err) < 0)
		return ck_error_prefix(err, "start HTTP server");
	struct http_server *server = calloc(1, sizeof(*server));
	if (!server)
		return ck_error_set(err, ENOMEM, "start HTTP server: out of memory");
	server->config = *config;
	pthread_mutex_init(&server->streams_lock, NULL);
	pthread_mutex_init(&server->sessions_lock, NULL);
	pthread_cond_init(&server->sessions_done, NULL);
	server->hangups = epoll_create1(EPOLL_CLOEXEC);
	server->stop_event = eventfd(0, EFD_CLOEXEC);
	struct epoll_event stop = {.events = EPOLLIN, .data.ptr = NULL};
	if (server->hangups < 0 || server->stop_event < 0 ||
	    epoll_ctl(server->hangups, EPOLL_CTL_ADD, server->stop_event, &stop) < 0) {
		ret = ck_error_errno(err, errno, "start HTTP server: hang-up watch");
		http_server_stop(server);
		return ret;
	}
	if (pthread_create(&server->hangup_thread, NULL, hangup_main, server) != 0) {
		http_server_stop(server);
		return ck_error_set(err, EAGAIN, "start HTTP server: cannot start a thread");
	}
	server->hangup_thread_running = true;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (config->tls_cert_pem)
		flags |= MHD_USE_TLS;
	/* The logger goes first so that MHD reports even option errors through it. The TLS
	 * options are last, so that without TLS they end the list as MHD_OPTION_END. */
	server->daemon = sym_MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, server, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
	    MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE,
	    config->threads ? config->threads : 4, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)8192, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
	    config->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, config->tls_cert_pem,
	    MHD_OPTION_HTTPS_MEM_KEY, config->tls_key_pem, MHD_OPTION_END);
	if (!server->daemon) {
		http_server_stop(server);
		return ck_error_set(err, EADDRINUSE, "listen on %s: cannot start the HTTP server",
				    config->listen);
	}
	*out = server;
	return 0;
}

void http_server_stop(struct http_server *server)
{
	if (!server)
		return;
	/* The hang-up thread resumes connections, so it stops before the daemon; the daemon's
	 * stream cleanup still unregisters sockets, so the epoll set closes last. */
	if (server->hangup_thread_running) {
		uint64_t one = 1;
		if (write(server->stop_event, &one, sizeof(one)) == sizeof(one))
			pthread_join(server->hangup_thread, NULL);
	}
	/* MHD refuses to stop with connections parked: every stream ends at its next read. */
	pthread_mutex_lock(&server->streams_lock);
	atomic_store(&server->closing, true);
	for (struct stream_link *link = server->streams; link; link = link->next) {
		pthread_mutex_lock(&link->lock);
		link->peer_gone = true;
		if (link->suspended) {
			link->suspended = false;
			sym_MHD_resume_connection(link->connection);
		}
		pthread_mutex_unlock(&link->lock);
	}
	pthread_mutex_unlock(&server->streams_lock);
	/* The stop event stays readable: sessions see it and end. */
	pthread_mutex_lock(&server->sessions_lock);
	server->stopping = true;
	while (server->sessions)
		pthread_cond_wait(&server->sessions_done, &server->sessions_lock);
	pthread_mutex_unlock(&server->sessions_lock);
	if (server->daemon)
		sym_MHD_stop_daemon(server->daemon);
	if (server->hangups >= 0)
		close(server->hangups);
	if (server->stop_event >= 0)
		close(server->stop_event);
	pthread_mutex_destroy(&server->streams_lock);
	pthread_mutex_destroy(&server->sessions_lock);
	pthread_cond_destroy(&server->sessions_done);
	free(server);
}
