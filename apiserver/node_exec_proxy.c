/* pods/exec and pods/attach through the pod's node: see node_exec_proxy.h. The checks and the
 * agent's answer happen in the request's handler; the relay runs in the upgraded
 * connection's own thread (http.h). */
#include "apiserver/node_exec_proxy.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "apiserver/api_respond.h"
#include "apiserver/api_rest.h"
#include "apiserver/node_dial.h"
#include "apiserver/node_target.h"
#include "apiserver/registry.h"
#include "apiserver/server.h"
#include "apiserver/status.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/remotecommand.h"
#include "lib/websocket.h"

#define READ_BLOCK (64 * 1024)
/* Bytes held for a side that reads slowly, before the other side is no longer read. */
#define MAX_PENDING (1024 * 1024)
/* Once one side has ended: how long what it sent last may take to reach the other. */
#define FINAL_FLUSH_MS (10 * 1000)

/* --- the relay ----------------------------------------------------------------------------- */

/* One way of the relay: bytes read from one side, waiting to be written to the other. */
struct way {
	struct buf pending;
	size_t pos;
	bool ended; /* its source reached the end (or failed) */
};

struct relay {
	struct node_dial_result agent; /* the connection to the agent */
	struct websocket_accept accept;
	struct http_param headers[3];
	char *subject; /* "exec in pod ns/p", for the log */
};

static void relay_release(void *state)
{
	struct relay *relay = state;

	node_dial_result_free(&relay->agent);
	free(relay->subject);
	free(relay);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t way_pending(const struct way *way)
{
	return way->pending.len - way->pos;
}

/* Reads what `from` has into the way; the end or a failure ends the way. */
static void way_read(struct way *way, int from)
{
	buf_reserve(&way->pending, READ_BLOCK);
	ssize_t n = recv(from, way->pending.data + way->pending.len, READ_BLOCK, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		way->ended = true;
		return;
	}
	way->pending.len += (size_t)n;
}

/* Writes what `to` takes now; false when it cannot take anything any more. */
static bool way_write(struct way *way, int to)
{
	while (way_pending(way)) {
		ssize_t n = send(to, way->pending.data + way->pos, way_pending(way),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		way->pos += (size_t)n;
	}
	buf_reset(&way->pending);
	way->pos = 0;
	return true;
}

static void relay_run(void *state, int client, const void *extra, size_t extra_len, int stop_fd)
{
	struct relay *relay = state;
	int agent = relay->agent.fd;
	struct way up = {0}, down = {0}; /* client to agent, agent to client */
	int64_t deadline = -1;

	buf_append(&up.pending, extra, extra_len);
	buf_append(&down.pending, relay->agent.rest.data, relay->agent.rest.len);
	/* Once one side has ended, what it sent last still goes to the other, which is no longer
	 * read; then closing both tells each side. */
	for (;;) {
		if (!down.ended && !way_write(&up, agent))
			break;
		if (!up.ended && !way_write(&down, client))
			break;
		if ((up.ended && (down.ended || !way_pending(&up))) ||
		    (down.ended && (up.ended || !way_pending(&down))))
			break;
		bool relaying = !up.ended && !down.ended;
		if (!relaying && deadline < 0)
			deadline = now_ms() + FINAL_FLUSH_MS;
		int64_t left = deadline < 0 ? -1 : deadline - now_ms();
		if (deadline >= 0 && left <= 0)
			break;
		struct pollfd fds[3] = {
		    {.fd = client,
		     .events = (short)((relaying && way_pending(&up) < MAX_PENDING ? POLLIN : 0) |
				       (!up.ended && way_pending(&down) ? POLLOUT : 0))},
		    {.fd = agent,
		     .events = (short)((relaying && way_pending(&down) < MAX_PENDING ? POLLIN : 0) |
				       (!down.ended && way_pending(&up) ? POLLOUT : 0))},
		    {.fd = stop_fd, .events = POLLIN},
		};
		if (poll(fds, 3, (int)left) < 0 && errno != EINTR) {
			log_warn("%s: relay: poll: %s", relay->subject, strerror(errno));
			break;
		}
		if (fds[2].revents)
			break;
		if (relaying && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
			way_read(&up, client);
		if (relaying && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			way_read(&down, agent);
	}
	buf_free(&up.pending);
	buf_free(&down.pending);
	log_debug("%s: relay ended", relay->subject);
}

static const struct http_upgrade_ops relay_ops = {
    .run = relay_run,
    .release = relay_release,
};

/* --- the request --------------------------------------------------------------------------- */

static void respond_failure(struct api_call *call, struct api_status *status)
{
	respond_status(call->resp, status);
	api_status_clear(status);
}

/* "/exec/ns/pod/container?command=...&stdin=...&podUID=uid" on the agent. The names need no
 * escaping: the pod was found under them and the container in its spec, so they are DNS
 * names, and a UID is letters, digits and dashes. */
static char *agent_target(const char *subresource, const struct api_call *call,
			  const char *container, const char *uid,
			  const struct remotecommand_options *options)
{
	struct buf target = {0};

	buf_printf(&target, "/%s/%s/%s/%s?", subresource, call->namespace, call->name, container);
	remotecommand_options_query(options, &target);
	if (uid && *uid)
		buf_printf(&target, "&podUID=%s", uid);
	return buf_steal(&target);
}

/* The client's WebSocket request, checked as the agent would check it, so that a bad one is
 * refused before the agent starts anything. `*protocol` stays NULL for a client that did not
 * ask for WebSocket. */
static int check_upgrade(const struct api_call *call, struct websocket_accept *accept,
			 const char **protocol, struct api_status *status)
{
	const struct http_request *req = call->req;
	const struct websocket_request upgrade = {
	    .method = req->method,
	    .upgrade = http_request_header(req, "Upgrade"),
	    .connection = http_request_header(req, "Connection"),
	    .version = http_request_header(req, "Sec-WebSocket-Version"),
	    .key = http_request_header(req, "Sec-WebSocket-Key"),
	    .protocol = http_request_header(req, "Sec-WebSocket-Protocol"),
	};
	struct ck_error err = {0};

	*protocol = NULL;
	if (!websocket_is_upgrade(&upgrade))
		return 0;
	int r = websocket_server_handshake(&upgrade, remotecommand_protocols, accept, &err);
	if (r == -EPROTONOSUPPORT)
		return api_fail(status, 426, "BadRequest", "%s", err.message);
	if (r < 0)
		return api_fail(status, 400, "BadRequest", "%s", err.message);
	*protocol = accept->protocol;
	return 0;
}

/* The agent's refusal, passed on as kube-apiserver passes the kubelet's: its code and text. */
static void respond_agent_answer(struct api_call *call, const char *node,
				 struct node_dial_result *answer)
{
	struct api_status status = {0};

	if (answer->status == 401 || answer->status == 403) {
		char *text = answer->body.data ? answer->body.data : "";
		size_t len = strlen(text);
		while (len && strchr("\r\n ", text[len - 1]))
			text[--len] = '\0';
		api_fail_internal(&status, "node %s refused the API server's credentials: %s", node,
				  text);
		return respond_failure(call, &status);
	}
	respond_text(call->resp, (unsigned)answer->status, "text/plain; charset=utf-8",
		     buf_steal(&answer->body));
}

void node_exec_proxy(struct api_call *call)
{
	const char *subresource = call->subresource;
	struct api_status status = {0};
	_cleanup_remotecommand_options_ struct remotecommand_options options = {0};
	_cleanup_free_ char *host = NULL;
	int port;

	if (strcmp(call->req->method, "GET") != 0 && strcmp(call->req->method, "POST") != 0) {
		respond_error(call->resp, 405, "MethodNotAllowed",
			      "the server does not allow this method on the requested resource");
		return;
	}
	_cleanup_json_ json_t *pod = NULL;
	if (node_target_pod(call, &pod, &status) < 0)
		return respond_failure(call, &status);
	for (size_t i = 0; i < call->req->param_count; i++)
		remotecommand_options_add(&options, call->req->params[i].key,
					  call->req->params[i].value);
	const char *container = options.container;
	if (node_target_container(call, pod, &container, &status) < 0)
		return respond_failure(call, &status);
	const char *node = json_path_string(pod, "spec.nodeName");
	if (!node || !*node) {
		api_fail(&status, 400, "BadRequest", "pod %s does not have a host assigned",
			 call->name);
		return respond_failure(call, &status);
	}
	if (node_target_endpoint(call, node, subresource, &host, &port, &status) < 0)
		return respond_failure(call, &status);
	if (!call->server->token) {
		api_fail_internal(&status, "%s: the API server has no token for its nodes",
				  subresource);
		return respond_failure(call, &status);
	}
	struct relay *relay = calloc(1, sizeof(*relay));
	if (!relay)
		abort();
	relay->agent.fd = -1;
	const char *protocol;
	if (check_upgrade(call, &relay->accept, &protocol, &status) < 0) {
		relay_release(relay);
		return respond_failure(call, &status);
	}
	_cleanup_free_ char *target = agent_target(subresource, call, container,
						   json_path_string(pod, "metadata.uid"), &options);
	const struct node_dial_request dial = {.host = host,
					       .port = port,
					       .target = target,
					       .token = call->server->token,
					       .protocol = protocol};
	struct ck_error err = {0};
	if (node_dial(&dial, &relay->agent, &err) < 0) {
		relay_release(relay);
		log_debug("pod %s/%s: %s on node %s: %s", call->namespace, call->name, subresource,
			  node, err.message);
		api_fail(&status, 500, "InternalError", "error dialing backend: %s", err.message);
		return respond_failure(call, &status);
	}
	if (relay->agent.fd < 0) {
		respond_agent_answer(call, node, &relay->agent);
		relay_release(relay);
		return;
	}
	if (asprintf(&relay->subject, "%s in pod %s/%s", subresource, call->namespace, call->name) <
	    0)
		abort();
	relay->headers[0] = (struct http_param){"Upgrade", "websocket"};
	relay->headers[1] = (struct http_param){"Sec-WebSocket-Accept", relay->accept.accept};
	relay->headers[2] = (struct http_param){"Sec-WebSocket-Protocol", protocol};
	call->resp->status = 101;
	call->resp->upgrade_ops = &relay_ops;
	call->resp->upgrade_state = relay;
	call->resp->upgrade_headers = relay->headers;
	call->resp->upgrade_header_count = 3;
}
