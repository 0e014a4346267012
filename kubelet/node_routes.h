/* Inside the node endpoint (node_server.h): what node_server.c (HTTP, the token, routing, the
 * upgraded connections) gives its routes, node_logs.c and node_exec.c, and what they share to
 * find a pod's containers from the files on the node (node_lookup.c). Nothing outside the
 * endpoint includes this. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/microhttpd_dl.h"

#define NODE_MAX_SEGMENTS 8

/* The server's settings, fixed from start to stop. */
struct node_settings {
	const char *node_name;
	const char *log_dir; /* <log_dir>/<namespace>_<pod>_<uid>/<container>/<restart>.log */
	const char *run_dir; /* <run_dir>/containers/<pod uid>-<container>-<restart>/ */
	int stop_fd;         /* readable once the server stops: every wait ends on it */
};

struct node_server;
struct node_slot;

/* One request, routed: the path segments after the route's name. */
struct node_request {
	struct node_server *server;
	const struct node_settings *settings;
	struct MHD_Connection *connection;
	struct node_slot *slot; /* where an upgrade keeps its state until the request ends */
	char *segments[NODE_MAX_SEGMENTS];
	size_t segment_count;
};

/* Answers with one line of text, the form the kubelet's errors take. */
enum MHD_Result node_reply_text(struct MHD_Connection *connection, unsigned code, const char *fmt,
				...) __attribute__((format(printf, 3, 4)));

/* --- upgraded connections ------------------------------------------------------------------ */

/* A connection after "101 Switching Protocols", handed to a session. */
struct node_upgraded {
	int fd; /* the client's socket, non-blocking */
	/* What the client sent after its request head, before the answer: read it first. */
	const char *extra;
	size_t extra_len;
	int stop_fd; /* the server's, see node_settings */
	bool closed;
};

/* Ends the connection to the client (the session may go on without it, to reap a process);
 * later calls do nothing. */
void node_upgraded_close(struct node_upgraded *up);

typedef void (*node_session_fn)(void *state, struct node_upgraded *up);

/* Answers 101 Switching Protocols with `headers` ("Name", "value", ..., NULL) and, once the
 * answer is out, runs `session` in this connection's thread (MHD allows that to block with a
 * thread per connection). `state` is released with `free_state` when MHD is done with the
 * request, whether the session ran or not. A session started while the server stops does not
 * run; node_server_stop() waits for those that run. */
enum MHD_Result node_reply_upgrade(struct node_request *request, const char *const *headers,
				   node_session_fn session, void *state,
				   void (*free_state)(void *state));

/* --- the routes ---------------------------------------------------------------------------- */

enum MHD_Result node_serve_container_logs(struct node_request *request);
enum MHD_Result node_serve_exec(struct node_request *request);
enum MHD_Result node_serve_attach(struct node_request *request);

/* --- finding containers (node_lookup.c) ---------------------------------------------------- */

/* Names as the API allows them, and a pod UID (letters, digits and '-') when given: they
 * become parts of paths. */
bool node_valid_names(const char *namespace, const char *pod, const char *container,
		      const char *uid);

/* The pod's log directory, "<namespace>_<pod>_<uid>": the one with `uid` when given, else the
 * most recently changed of that name (an earlier pod of the same name may not be cleaned up
 * yet). *uid_out points into the result. NULL when there is none. */
char *node_find_pod_dir(const char *log_dir, const char *namespace, const char *pod,
			const char *uid, const char **uid_out);

/* The two highest restart numbers with a "<n>.log" file (or a rotated one of it) in a
 * container's log directory, -1 where there is none. */
void node_find_runs(const char *dir_path, int *current, int *previous);

/* The restart number of the container's latest run with a state directory under
 * <run_dir>/containers ("<uid>-<container>-<n>"), -1 when it never ran. */
int node_find_latest_run(const char *run_dir, const char *uid, const char *container);
