/* GET /exec/{namespace}/{pod}/{container} and GET /attach/{namespace}/{pod}/{container}: the
 * request's checks, in the kubelet's order and words, then the WebSocket upgrade, then the
 * session (node_stream.c) with a process run in the container through the runtime's exec, or,
 * for attach, the container's output followed in its log. See node_server.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kubelet/log_reader.h"
#include "kubelet/node_routes.h"
#include "kubelet/node_stream.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/remotecommand.h"
#include "lib/websocket.h"
#include "runtime/container.h"

/* What a request settled before the upgrade, for its session. */
struct remote {
	struct remotecommand_options options;
	enum remotecommand_protocol protocol;
	char *subject; /* "container c of pod ns/p" */
	struct container *container;
	struct log_reader *log; /* attach: the container's output from now on */
	struct websocket_accept accept;
};

static void remote_free(void *cls)
{
	struct remote *remote = cls;

	remotecommand_options_free(&remote->options);
	free(remote->subject);
	container_free(remote->container);
	log_reader_free(remote->log);
	free(remote);
}

static enum MHD_Result add_option(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	(void)kind;
	remotecommand_options_add(cls, key, value ? value : "");
	return MHD_YES;
}

static enum remotecommand_stream lowest_output(const struct remotecommand_options *options)
{
	return options->use_stdout   ? REMOTECOMMAND_STDOUT
	       : options->use_stderr ? REMOTECOMMAND_STDERR
				     : REMOTECOMMAND_ERROR;
}

/* --- exec ---------------------------------------------------------------------------------- */

/* The process's descriptors, our ends non-blocking (the process's block as usual). */
struct exec_io {
	int child[3]; /* its stdin, stdout, stderr: -1 for /dev/null */
	int stdin_fd;
	int stdout_fd;
	int stderr_fd;
};

static void exec_io_close(struct exec_io *io)
{
	int *fds[] = {&io->child[0], &io->child[1],  &io->child[2],
		      &io->stdin_fd, &io->stdout_fd, &io->stderr_fd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static int nonblocking_pipe(int *ours, int *theirs, bool ours_writes, struct ck_error *err)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return ck_error_errno(err, errno, "pipe");
	*ours = fds[ours_writes ? 1 : 0];
	*theirs = fds[ours_writes ? 0 : 1];
	if (fcntl(*ours, F_SETFL, O_NONBLOCK) < 0)
		return ck_error_errno(err, errno, "pipe");
	return 0;
}

static int exec_io_open(struct exec_io *io, const struct remotecommand_options *options,
			struct ck_error *err)
{
	int r = 0;

	*io = (struct exec_io){{-1, -1, -1}, -1, -1, -1};
	if (options->tty)
		return 0;
	if (options->use_stdin)
		r = nonblocking_pipe(&io->stdin_fd, &io->child[0], true, err);
	if (r == 0 && options->use_stdout)
		r = nonblocking_pipe(&io->stdout_fd, &io->child[1], false, err);
	if (r == 0 && options->use_stderr)
		r = nonblocking_pipe(&io->stderr_fd, &io->child[2], false, err);
	return r;
}

/* After a session without an exit: the process has lost its client, and its stdio closed
 * (EOF, SIGPIPE, or SIGHUP from its terminal) makes most end. Kubernetes leaves it running, so
 * this waits for it to reap it, unless the agent stops: then it is killed, as nothing would be
 * left to reap it or to show its output. */
static void wait_for_exit(int pidfd, int stop_fd, bool kill_now)
{
	struct pollfd fds[2] = {{.fd = pidfd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};
	siginfo_t info;

	while (!kill_now) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			break;
		kill_now = fds[1].revents != 0;
	}
	if (kill_now)
		(void)pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
	while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | __WALL) < 0 && errno == EINTR)
		;
}

static void run_exec(void *cls, struct node_upgraded *up)
{
	struct remote *remote = cls;
	const struct remotecommand_options *options = &remote->options;
	struct container_exec_request request = {.argv = options->command, .tty = options->tty};
	struct container_exec process = {.pid = -1, .pidfd = -1, .tty_master = -1};
	enum container_failure failure;
	struct exec_io io;
	struct ck_error err = {0};
	_cleanup_free_ char *message = NULL;
	struct node_stream_session session = {.protocol = remote->protocol,
					      .first_stream = lowest_output(options),
					      .subject = remote->subject,
					      .stdin_fd = -1,
					      .terminal_fd = -1,
					      .pidfd = -1,
					      .argv = options->command};

	int r = exec_io_open(&io, options, &err);
	if (r == 0) {
		memcpy(request.stdio, io.child, sizeof(io.child));
		r = container_exec(remote->container, &request, &process, &failure, &err);
	}
	/* The process has its ends now (or never will). */
	for (size_t i = 0; i < 3; i++)
		if (io.child[i] >= 0)
			close(io.child[i]);
	io.child[0] = io.child[1] = io.child[2] = -1;
	if (r == 0 && process.tty_master >= 0 && fcntl(process.tty_master, F_SETFL, O_NONBLOCK) < 0)
		r = ck_error_errno(&err, errno, "terminal of %s", remote->subject);
	if (r < 0) {
		if (asprintf(&message, "error executing command in container: %s", err.message) < 0)
			abort();
		log_debug("node endpoint: exec in %s: %s", remote->subject, err.message);
		session.failure = message;
	} else if (options->tty) {
		session.stdin_fd = options->use_stdin ? process.tty_master : -1;
		session.stdin_is_terminal = true;
		session.terminal_fd = process.tty_master;
		/* A terminal merges stderr into what it shows: everything comes on stdout. */
		node_stream_fd_source(&session.sources[session.source_count++],
				      REMOTECOMMAND_STDOUT, &process.tty_master);
		session.pidfd = process.pidfd;
	} else {
		session.stdin_fd = io.stdin_fd;
		io.stdin_fd = -1; /* the session closes it when the client closes stdin */
		if (io.stdout_fd >= 0)
			node_stream_fd_source(&session.sources[session.source_count++],
					      REMOTECOMMAND_STDOUT, &io.stdout_fd);
		if (io.stderr_fd >= 0)
			node_stream_fd_source(&session.sources[session.source_count++],
					      REMOTECOMMAND_STDERR, &io.stderr_fd);
		session.pidfd = process.pidfd;
	}
	enum node_stream_end end = node_stream_run(&session, up);
	node_upgraded_close(up);
	if (session.stdin_fd >= 0 && !session.stdin_is_terminal)
		close(session.stdin_fd);
	exec_io_close(&io);
	if (process.tty_master >= 0)
		close(process.tty_master);
	if (process.pidfd >= 0) {
		if (!session.exited)
			wait_for_exit(process.pidfd, up->stop_fd, end == NODE_STREAM_STOPPED);
		close(process.pidfd);
	}
}

/* --- attach -------------------------------------------------------------------------------- */

static ssize_t log_source_read(void *ctx, char *out, size_t max)
{
	struct ck_error err = {0};
	ssize_t n = log_reader_read(ctx, out, max, &err);

	if (n < 0 && n != -EAGAIN)
		log_warn("node endpoint: attach: %s", err.message);
	return n;
}

static int log_source_poll_fd(void *ctx)
{
	return log_reader_poll_fd(ctx);
}

static int log_source_poll_timeout(void *ctx)
{
	return log_reader_poll_timeout(ctx);
}

static bool attached_running(void *ctx)
{
	return container_running(ctx);
}

/* The container's stdout and stderr come from its log as they are written, interleaved on
 * one stream: the log pump holds the container's output pipes, so this is the one place to
 * read them. Its stdin is /dev/null: there is nothing to attach it to. */
static void run_attach(void *cls, struct node_upgraded *up)
{
	struct remote *remote = cls;
	const struct remotecommand_options *options = &remote->options;
	struct node_stream_session session = {.protocol = remote->protocol,
					      .first_stream = lowest_output(options),
					      .subject = remote->subject,
					      .stdin_fd = -1,
					      .terminal_fd = -1,
					      .pidfd = -1};

	if (options->use_stdin)
		session.failure = "error attaching to container: ckube does not keep a container's "
				  "stdin open, so it cannot be attached to (attach without -i to "
				  "follow the container's output)";
	else if (options->use_stdout || options->use_stderr)
		session.sources[session.source_count++] =
		    (struct node_stream_source){.stream = lowest_output(options),
						.read = log_source_read,
						.poll_fd = log_source_poll_fd,
						.poll_timeout = log_source_poll_timeout,
						.ctx = remote->log};
	node_stream_run(&session, up);
}

/* --- the request --------------------------------------------------------------------------- */

/* The container's log from its end on, followed while it runs. */
static int open_attach_log(struct remote *remote, const struct node_settings *settings,
			   const char *namespace, const char *pod, const char *container,
			   const char *uid, int run, struct ck_error *err)
{
	const char *found_uid;
	_cleanup_free_ char *pod_dir =
	    node_find_pod_dir(settings->log_dir, namespace, pod, uid, &found_uid);
	_cleanup_free_ char *path = NULL;
	const struct log_read_options options = {.tail_lines = 0,
						 .limit_bytes = -1,
						 .follow = true,
						 .running = attached_running,
						 .running_ctx = remote->container};

	if (!pod_dir)
		return ck_error_set(err, ENOENT, "no log directory");
	if (asprintf(&path, "%s/%s/%s/%d.log", settings->log_dir, pod_dir, container, run) < 0)
		abort();
	return log_reader_open(path, &options, &remote->log, err);
}

static const char *header(struct MHD_Connection *connection, const char *name)
{
	return sym_MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
}

static enum MHD_Result serve_remote(struct node_request *request, bool attach)
{
	struct MHD_Connection *connection = request->connection;
	const struct node_settings *settings = request->settings;
	const char *namespace = request->segments[0], *pod = request->segments[1],
		   *name = request->segments[2];
	const char *uid =
	    sym_MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "podUID");
	struct ck_error err = {0};
	struct remote *remote = calloc(1, sizeof(*remote));

	if (!remote)
		abort();
	sym_MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, add_option,
				      &remote->options);
	/* The kubelet reads the options before it looks for the pod. */
	if (remotecommand_options_check(&remote->options, !attach, &err) < 0) {
		remote_free(remote);
		return node_reply_text(connection, MHD_HTTP_BAD_REQUEST, "%s", err.message);
	}
	if (!node_valid_names(namespace, pod, name, uid)) {
		remote_free(remote);
		return node_reply_text(connection, MHD_HTTP_BAD_REQUEST,
				       "invalid namespace, pod, container or pod UID");
	}
	_cleanup_free_ char *pod_dir = NULL;
	if (!uid) {
		pod_dir = node_find_pod_dir(settings->log_dir, namespace, pod, NULL, &uid);
		if (!pod_dir) {
			remote_free(remote);
			return node_reply_text(connection, MHD_HTTP_NOT_FOUND,
					       "pod does not exist");
		}
	}
	if (asprintf(&remote->subject, "container %s of pod %s/%s", name, namespace, pod) < 0)
		abort();
	/* Only a running container can be entered; the kubelet words any other case so. */
	int run = node_find_latest_run(settings->run_dir, uid, name);
	_cleanup_free_ char *id = NULL;
	if (asprintf(&id, "%s-%s-%d", uid, name, run) < 0)
		abort();
	if (run < 0 || container_adopt(settings->run_dir, id, &remote->container, &err) < 0 ||
	    !container_running(remote->container) ||
	    (attach &&
	     open_attach_log(remote, settings, namespace, pod, name, uid, run, &err) < 0)) {
		remote_free(remote);
		return node_reply_text(connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
				       "container not found (\"%s\")", name);
	}
	struct websocket_request upgrade = {
	    .method = "GET",
	    .upgrade = header(connection, MHD_HTTP_HEADER_UPGRADE),
	    .connection = header(connection, MHD_HTTP_HEADER_CONNECTION),
	    .version = header(connection, "Sec-WebSocket-Version"),
	    .key = header(connection, "Sec-WebSocket-Key"),
	    .protocol = header(connection, "Sec-WebSocket-Protocol"),
	};
	if (!websocket_is_upgrade(&upgrade)) {
		remote_free(remote);
		/* No ": " in it: kubectl's SPDY client reads an error body as YAML first, and a
		 * text that parses as a mapping would show as an empty message. */
		return node_reply_text(connection, MHD_HTTP_BAD_REQUEST,
				       "ckube serves %s over WebSocket only (%s or %s), not over "
				       "SPDY; kubectl 1.30 or newer uses WebSocket",
				       attach ? "attach" : "exec", remotecommand_protocols[0],
				       remotecommand_protocols[1]);
	}
	int r =
	    websocket_server_handshake(&upgrade, remotecommand_protocols, &remote->accept, &err);
	if (r < 0) {
		remote_free(remote);
		return node_reply_text(connection,
				       r == -EPROTONOSUPPORT ? MHD_HTTP_UPGRADE_REQUIRED
							     : MHD_HTTP_BAD_REQUEST,
				       "%s", err.message);
	}
	remote->protocol =
	    (enum remotecommand_protocol)remotecommand_protocol_of(remote->accept.protocol);
	const char *headers[] = {MHD_HTTP_HEADER_UPGRADE,
				 "websocket",
				 "Sec-WebSocket-Accept",
				 remote->accept.accept,
				 "Sec-WebSocket-Protocol",
				 remote->accept.protocol,
				 NULL};
	log_debug("node endpoint: %s in %s", attach ? "attach" : "exec", remote->subject);
	return node_reply_upgrade(request, headers, attach ? run_attach : run_exec, remote,
				  remote_free);
}

enum MHD_Result node_serve_exec(struct node_request *request)
{
	return serve_remote(request, false);
}

enum MHD_Result node_serve_attach(struct node_request *request)
{
	return serve_remote(request, true);
}
