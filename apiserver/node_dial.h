/* Opening exec and attach on a node agent's endpoint (kubelet/node_server.h): one HTTP/1.1
 * request on a socket of its own, with the join token, either as a WebSocket upgrade offering
 * the one subprotocol the client chose, or as a plain GET (so that a client that did not ask
 * for WebSocket gets the agent's own checks and answer). No libcurl: after the 101 the
 * connection is a byte stream that the relay (node_exec_proxy.c) owns. */
#pragma once

#include "lib/buf.h"
#include "lib/error.h"

struct node_dial_request {
	const char *host; /* an IP literal */
	int port;
	const char *target;   /* "/exec/ns/pod/c?command=..." */
	const char *token;    /* for "Authorization: Bearer" */
	const char *protocol; /* the WebSocket subprotocol, or NULL for a plain GET */
};

struct node_dial_result {
	int fd;          /* after a 101: the connection, non-blocking; else -1 */
	int status;      /* the agent's answer */
	struct buf rest; /* after a 101: what came after the head (the first frames) */
	struct buf body; /* otherwise: the answer's body, its first 4 KiB */
};

/* Connects (within 10 s) and reads the answer's head (within 30 s) and a non-101 answer's
 * body. A failure to reach the agent or to read its answer is a negative errno with a message
 * in Go's words ("dial tcp 10.0.0.5:10250: connect: connection refused"). */
int node_dial(const struct node_dial_request *request, struct node_dial_result *out,
	      struct ck_error *err);
void node_dial_result_free(struct node_dial_result *result);
