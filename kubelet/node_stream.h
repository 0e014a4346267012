/* One remote-command session of the node endpoint (`kubectl exec` and `attach`) on an upgraded
 * WebSocket connection, as the kubelet's streaming server runs it (lib/remotecommand.h):
 * an empty message on the lowest output stream says the session is up; stream 0 goes to the
 * process's stdin and v5's close signal for it closes that; stream 4 resizes the terminal;
 * the sources' output goes out on streams 1 and 2; once the process has exited (or, without
 * one, the sources ended) and the output is drained, the final Status goes out on stream 3 and
 * the connection closes with 1000. Pings are answered; a slow client makes the sources wait
 * rather than the agent buffer without end. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "kubelet/node_routes.h"
#include "lib/remotecommand.h"

/* Output to relay. read() copies up to `max` bytes: the count; 0 at the end; -EAGAIN when
 * nothing is there yet (then poll_fd() turns readable, or poll_timeout() milliseconds pass, -1
 * for no limit); another negative errno on a failure, which ends the source. */
struct node_stream_source {
	enum remotecommand_stream stream;
	ssize_t (*read)(void *ctx, char *out, size_t max);
	int (*poll_fd)(void *ctx);
	int (*poll_timeout)(void *ctx);
	void *ctx;
};

/* A non-blocking descriptor (a pipe, a terminal's master side) as a source: `*fd` stays the
 * caller's. A terminal whose other side was closed by everyone reads as the end. */
void node_stream_fd_source(struct node_stream_source *source, enum remotecommand_stream stream,
			   int *fd);

struct node_stream_session {
	enum remotecommand_protocol protocol;
	enum remotecommand_stream first_stream; /* for the empty "session is up" message */
	const char *subject;                    /* "container c of pod ns/p", for the log */
	/* When set, nothing runs: this is the final Status' message (an internal error). */
	const char *failure;
	/* Where stream 0 goes, non-blocking, -1 for nowhere. A pipe is closed (and set to -1)
	 * when the client closes stdin; a terminal (`stdin_is_terminal`) stays open for output. */
	int stdin_fd;
	bool stdin_is_terminal;
	int terminal_fd; /* what resizes apply to, -1 without a terminal */
	struct node_stream_source sources[2];
	size_t source_count;
	/* The process whose exit ends the session, -1 for none (the sources' end does). It is
	 * reaped here when it exits during the session: `exited` and `exit_code` say so. */
	int pidfd;
	char *const *argv; /* for the Status of a non-zero exit */
	bool exited;
	int exit_code;
};

enum node_stream_end {
	NODE_STREAM_FINISHED,    /* the final Status went out */
	NODE_STREAM_CLIENT_GONE, /* the client closed or went away first */
	NODE_STREAM_STOPPED,     /* the server stops */
};

enum node_stream_end node_stream_run(struct node_stream_session *session, struct node_upgraded *up);
