/* The HTTP front of the API server, on libmicrohttpd: accepts connections, reads request
 * bodies up to a limit, and hands each complete request to one handler. Responses are either a
 * whole body, a stream (watch events, followed logs) that is sent as it is produced, with the
 * connection parked while the stream has nothing to say, or a switch to another protocol
 * (WebSocket for exec and attach) that hands the connection to a session of its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "lib/error.h"

struct http_param {
	const char *key;
	const char *value;
};

struct http_request {
	const char *method;
	const char *path;                /* decoded, without the query */
	const struct http_param *params; /* query parameters in order, decoded */
	size_t param_count;
	const char *body;
	size_t body_len;
	bool from_loopback;
	void *connection; /* for http_request_header */
};

const char *http_request_header(const struct http_request *req, const char *name);
/* The first value of a query parameter, or NULL. */
const char *http_request_param(const struct http_request *req, const char *key);

/* A body produced over time. read() copies up to `max` bytes and returns the count, 0 when
 * nothing is ready yet, or -1 at the end; when it returned 0 the stream calls the function
 * set with set_notify() once it may have more. release() is called exactly once. */
struct http_stream_ops {
	ssize_t (*read)(void *state, char *out, size_t max);
	void (*set_notify)(void *state, void (*notify)(void *ctx), void *ctx);
	void (*release)(void *state);
};

/* A connection taken over after "101 Switching Protocols". run() goes in a thread of its own
 * once the answer is out: `fd` is the client's connection (non-blocking; never closed by the
 * session: with TLS it is MHD's end of a socket pair), `extra` what the client sent after its
 * request head, to be read first. It returns when the session is over, and soon once
 * `stop_fd` is readable (the server stops). release() is called exactly once, run or not. */
struct http_upgrade_ops {
	void (*run)(void *state, int fd, const void *extra, size_t extra_len, int stop_fd);
	void (*release)(void *state);
};

struct http_response {
	unsigned status;
	const char *content_type; /* static string */
	struct buf body;
	char *warning; /* a Warning header ("299 - \"...\""), malloc'd or NULL */
	const struct http_stream_ops *stream_ops; /* non-NULL: stream instead of body */
	void *stream_state;
	/* Non-NULL: answer 101 with these headers (Upgrade among them; the state owns them) and
	 * hand the connection over. */
	const struct http_upgrade_ops *upgrade_ops;
	void *upgrade_state;
	const struct http_param *upgrade_headers;
	size_t upgrade_header_count;
};

typedef void (*http_handler_fn)(void *ctx, const struct http_request *req,
				struct http_response *resp);

struct http_server_config {
	const char *listen;    /* "127.0.0.1:6443", "[::1]:6443", "0.0.0.0:6443" */
	size_t max_body_bytes; /* bigger bodies get 413 */
	unsigned threads;
	http_handler_fn handler;
	void *handler_ctx;
	const char *tls_cert_pem; /* serve HTTPS with these when set */
	const char *tls_key_pem;
};

struct http_server;

int http_server_start(const struct http_server_config *config, struct http_server **out,
		      struct ck_error *err);
void http_server_stop(struct http_server *server);

/* Parses "HOST:PORT" / "[V6]:PORT"; true when the host is a loopback address. */
int http_parse_listen(const char *listen, void *sockaddr_storage, bool *loopback,
		      struct ck_error *err);
