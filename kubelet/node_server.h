/* The agent's own HTTP endpoint, ckube's counterpart of the kubelet's port 10250: what the API
 * server cannot answer from its store because only the node has it. The API server proxies
 * `kubectl logs`, `exec` and `attach` here (apiserver/node_proxy.c, node_exec_proxy.c), for
 * pods on any node; the Node object advertises the port in
 * status.daemonEndpoints.kubeletEndpoint.Port.
 *
 * Every request must carry "Authorization: Bearer <token>" with the token the agent uses to
 * reach the API server (the join token), else it gets 401. The endpoint works from the files on
 * the node alone (the log directory and the containers' state files), so it needs nothing from
 * the sync loop and answers the same before and after an agent restart.
 *
 * Routes, the kubelet's paths:
 *
 *   GET /containerLogs/{namespace}/{pod}/{container}
 *       ?follow=&previous=&timestamps=    Go booleans
 *       &tailLines=&limitBytes=&sinceSeconds=   integers
 *       &sinceTime=                       RFC 3339
 *       &podUID=                          which pod of that name, when the log directory
 *                                         still holds an earlier one (ckube's addition)
 *     200 text/plain; charset=utf-8: the log of the container's current run (the highest
 *         restart number with a file), or with previous=true of the run before it, as
 *         kubelet/log_reader.h writes it; following streams until the run ends.
 *     400 a parameter that does not parse, or previous=true without an earlier run:
 *         previous terminated container "c" in pod "p" not found
 *     404 no logs of that pod or container on this node: pod "ns/p" not found on node n /
 *         container "c" not found in pod "ns/p"
 *     422 a parameter out of range (tailLines < 0, limitBytes or sinceSeconds < 1, both
 *         sinceSeconds and sinceTime)
 *
 *   GET /exec/{namespace}/{pod}/{container}?command=...&stdin=&stdout=&stderr=&tty=&podUID=
 *   GET /attach/{namespace}/{pod}/{container}?stdin=&stdout=&stderr=&tty=&podUID=
 *       A WebSocket upgrade offering v5.channel.k8s.io or v4.channel.k8s.io
 *       (lib/remotecommand.h); flags as the API server reads them ("false" and "0" are
 *       false). podUID as for logs; without it the pod is found from its log directory.
 *     101 the session (node_stream.h). exec runs the command in the container's latest run
 *         through the runtime's exec (runtime/container.h): with tty=true on a terminal
 *         from the container's devpts (stream 4 resizes it), else on pipes; the final
 *         Status carries its exit code. attach follows the container's output in its log
 *         from now on, stdout and stderr on one stream, until the container ends; attaching
 *         stdin is refused with an error Status, as ckube does not keep a container's stdin.
 *         A client that goes away closes the command's stdin and output (a terminal hangs
 *         up); the command is then left to end, as in Kubernetes, and reaped; when the agent
 *         stops it is killed.
 *     400 options the kubelet refuses ("you must specify at least 1 of stdin, stdout,
 *         stderr", "... at least one command for the container"), a request that is not a
 *         WebSocket upgrade (SPDY: refused, after the checks below, with a message that
 *         names the WebSocket subprotocols), or a bad handshake; 426 another WebSocket
 *         version
 *     404 pod does not exist (no podUID and no log directory of the pod)
 *     500 container not found ("c"): it has no running run on this node
 *
 *   Error bodies are one line of text, which the API server puts in a Status message (logs)
 *   or passes on as it is (exec and attach, as kube-apiserver does).
 *
 * The routes sit in a table in node_server.c (method, first path segment, segment count,
 * handler), so that port-forward comes in as a further entry. One thread serves each
 * connection: a followed log or a session blocks its thread until it ends, the client goes
 * away or the server stops. */
#pragma once

#include "lib/error.h"

#define NODE_SERVER_DEFAULT_PORT 10250

struct node_server_config {
	const char *address; /* the IP address to listen on: the node IP */
	int port;            /* 0: a free port the kernel picks (tests) */
	const char *token;   /* what every request must present as its bearer token */
	const char *node_name;
	const char *log_dir; /* <log_dir>/<namespace>_<pod>_<uid>/<container>/<restart>.log */
	const char *run_dir; /* the containers' state: <run_dir>/containers/<id>/state.json */
};

struct node_server;

/* Listens and serves in threads of its own; fails when the address cannot be bound. */
int node_server_start(const struct node_server_config *config, struct node_server **out,
		      struct ck_error *err);
/* The port it listens on (the kernel's choice when the configuration said 0). */
int node_server_port(const struct node_server *server);
/* Ends every request under way (a followed log or a session ends at once, killing the
 * processes of exec sessions) and stops listening. */
void node_server_stop(struct node_server *server);
