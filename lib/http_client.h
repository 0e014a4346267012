/* HTTP requests to the API server over libcurl: one reused connection, bearer token or client
 * certificate, the cluster's CA (or no verification when the kubeconfig says so), and bodies
 * either collected whole or handed over line by line as they arrive (watches, log follow).
 * A client is not thread-safe: use one per thread. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

struct http_client_options {
	const char *server;       /* base URL, "https://127.0.0.1:6443"; paths are appended */
	const char *bearer_token; /* NULL: no Authorization header */
	const char *ca_pem;       /* trust only these CAs; NULL: the system's */
	size_t ca_pem_len;
	const char *client_cert_pem; /* client certificate and key; NULL: none */
	size_t client_cert_pem_len;
	const char *client_key_pem;
	size_t client_key_pem_len;
	bool insecure_skip_tls_verify;
	const char *user_agent; /* NULL: "ckube" */
};

struct http_client;

int http_client_new(const struct http_client_options *options, struct http_client **client,
		    struct ck_error *err);
void http_client_free(struct http_client *client);

/* Receives one line of a streamed body with its '\n' (the last line may lack one). Returning
 * non-zero stops reading; the request then ends successfully. */
typedef int (*http_line_fn)(void *ctx, const char *line, size_t len);

struct http_request {
	const char *method;       /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *path;         /* "/api/v1/pods?limit=500": already escaped */
	const char *accept;       /* NULL: "application/json" */
	const char *content_type; /* of the body; NULL: "application/json" */
	const char *body;         /* NULL: none */
	size_t body_len;
	http_line_fn on_line; /* when set, 2xx bodies are streamed to it instead of collected */
	void *ctx;
	long timeout_seconds; /* for the whole exchange; 0: no limit (watches) */
	/* When set, the exchange ends with -ECANCELED within about a second of it becoming
	 * true (another thread stopping a watch). */
	const atomic_bool *cancel;
};

struct http_response {
	long status;
	struct buf body; /* the collected body (error bodies are collected also when streaming) */
	char *content_type; /* NULL when the server sent none */
	char **warnings;    /* the texts of the Warning headers, in order */
	size_t warning_count;
};

/* Sends `request` and fills `response` (free with http_response_free, also after errors). Any
 * HTTP status is a success here; errors are failures to talk HTTP at all. A refused connection
 * fails with -ECONNREFUSED. */
int http_client_request(struct http_client *client, const struct http_request *request,
			struct http_response *response, struct ck_error *err);
void http_response_free(struct http_response *response);

/* Percent-encodes everything but unreserved characters, for a path segment or a query value.
 * Never NULL (aborts when out of memory). */
char *http_escape(const char *text);

/* The base URL's host and port, "127.0.0.1:6443", as kubectl names the server in messages. */
const char *http_client_host(const struct http_client *client);
