/* The pump of a remote-command session: see node_stream.h. One thread, one poll() over the
 * client's socket, the process's stdin, the sources, the pidfd and the server's stop event. */
#include "kubelet/node_stream.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/websocket.h"

#define READ_BLOCK (32 * 1024)
/* A client's message: kubectl sends stdin in pieces of 32 KiB at most. */
#define MAX_MESSAGE (1024 * 1024)
/* Output held for a slow client, and stdin for a slow process, before their sources wait. */
#define MAX_PENDING (1024 * 1024)
/* After the exit, output still comes until the pipes end; a process left in the background
 * may hold them open, so a quiet moment ends the session too. */
#define EXIT_DRAIN_MS 1000
/* The last frames' way out, and the client's answering close, for a clean end. */
#define FINAL_FLUSH_MS 10000
#define CLOSE_WAIT_MS 2000

/* --- descriptors as sources ---------------------------------------------------------------- */

static ssize_t fd_read(void *ctx, char *out, size_t max)
{
	int fd = *(int *)ctx;
	ssize_t n;

	do
		n = read(fd, out, max);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN)
		return -EAGAIN;
	/* A terminal's master side reads EIO once no one holds the other side. */
	return errno == EIO ? 0 : -errno;
}

static int fd_poll_fd(void *ctx)
{
	return *(int *)ctx;
}

static int fd_poll_timeout(void *ctx)
{
	(void)ctx;
	return -1;
}

void node_stream_fd_source(struct node_stream_source *source, enum remotecommand_stream stream,
			   int *fd)
{
	*source = (struct node_stream_source){.stream = stream,
					      .read = fd_read,
					      .poll_fd = fd_poll_fd,
					      .poll_timeout = fd_poll_timeout,
					      .ctx = fd};
}

/* --- the pump ------------------------------------------------------------------------------ */

struct pump {
	struct node_stream_session *session;
	struct node_upgraded *up;
	struct websocket ws;
	struct buf out; /* frames for the client, sent from out_pos */
	size_t out_pos;
	struct buf input; /* stdin for the process, written from input_pos */
	size_t input_pos;
	bool input_closing;     /* close stdin once `input` is written */
	bool client_closed;     /* its close frame came: nothing more to read from it */
	bool client_failed;     /* the connection broke or the client broke the protocol */
	bool source_done[2];    /* ended, or failed */
	bool source_armed[2];   /* to be read: new, ready, or its timeout passed */
	int64_t source_wake[2]; /* when a waiting source is read anyway, -1 never */
	int64_t exited_at;      /* when the process's exit was seen, -1 before */
	int64_t last_activity;  /* when output last moved, for the quiet moment after the exit */
	char block[READ_BLOCK];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void drop_sent(struct buf *b, size_t *pos, size_t n)
{
	*pos += n;
	if (*pos == b->len) {
		buf_reset(b);
		*pos = 0;
	}
}

/* Sends what the socket takes now. */
static void flush_out(struct pump *p)
{
	while (!p->client_failed && p->out_pos < p->out.len) {
		ssize_t n = send(p->up->fd, p->out.data + p->out_pos, p->out.len - p->out_pos,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			p->client_failed = true;
			return;
		}
		drop_sent(&p->out, &p->out_pos, (size_t)n);
		p->last_activity = now_ms();
	}
}

static void close_stdin(struct pump *p)
{
	struct node_stream_session *s = p->session;

	buf_reset(&p->input);
	p->input_pos = 0;
	p->input_closing = false;
	if (s->stdin_fd >= 0 && !s->stdin_is_terminal)
		close(s->stdin_fd);
	s->stdin_fd = -1;
}

/* Writes what the process's stdin takes now. */
static void flush_input(struct pump *p)
{
	struct node_stream_session *s = p->session;

	while (s->stdin_fd >= 0 && p->input_pos < p->input.len) {
		ssize_t n =
		    write(s->stdin_fd, p->input.data + p->input_pos, p->input.len - p->input_pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			/* The process closed its stdin (EPIPE): the rest has no reader. */
			close_stdin(p);
			return;
		}
		drop_sent(&p->input, &p->input_pos, (size_t)n);
	}
	if (p->input_closing && p->input_pos == p->input.len)
		close_stdin(p);
}

static void resize(struct pump *p, const struct remotecommand_message *message)
{
	struct remotecommand_size size;
	struct ck_error err = {0};

	if (p->session->terminal_fd < 0)
		return;
	if (remotecommand_resize_parse(message->data, message->len, &size, &err) < 0) {
		log_debug("node endpoint: %s: %s", p->session->subject, err.message);
		return;
	}
	if (!size.width && !size.height)
		return;
	struct winsize ws = {.ws_row = size.height, .ws_col = size.width};
	if (ioctl(p->session->terminal_fd, TIOCSWINSZ, &ws) < 0)
		log_debug("node endpoint: %s: resize the terminal: %s", p->session->subject,
			  strerror(errno));
}

/* Kubernetes skips messages it cannot place, and so does this. Text messages count as binary
 * ones, as the kubelet reads them: the Python client sends a str written to stdin as text. */
static void on_message(struct pump *p, const struct websocket_event *event)
{
	struct remotecommand_message message;
	struct ck_error err = {0};

	if (remotecommand_parse(p->session->protocol, event->data, event->len, &message, &err) < 0)
		return;
	if (message.stream == REMOTECOMMAND_STDIN && p->session->stdin_fd >= 0 && !p->input_closing)
		buf_append(&p->input, message.data, message.len);
	else if (message.stream == REMOTECOMMAND_RESIZE)
		resize(p, &message);
	else if (message.stream == REMOTECOMMAND_CLOSE && message.closed == REMOTECOMMAND_STDIN)
		p->input_closing = true;
}

/* Decodes what the client sent; pongs and the answering close go out with `out`. */
static void take_client_bytes(struct pump *p, const char *data, size_t len)
{
	while (len > 0 && !p->client_closed && !p->client_failed) {
		struct websocket_event event;
		struct ck_error err = {0};
		ssize_t n = websocket_decode(&p->ws, data, len, &event, &p->out, &err);
		if (n < 0) {
			log_debug("node endpoint: %s: %s", p->session->subject, err.message);
			p->client_closed = true;
			return;
		}
		data += n;
		len -= (size_t)n;
		if (event.type == WEBSOCKET_EVENT_MESSAGE)
			on_message(p, &event);
		else if (event.type == WEBSOCKET_EVENT_CLOSE)
			p->client_closed = true;
	}
}

static void read_client(struct pump *p)
{
	ssize_t n;

	do
		n = recv(p->up->fd, p->block, sizeof(p->block), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		p->client_failed = true;
		return;
	}
	take_client_bytes(p, p->block, (size_t)n);
}

static bool sources_done(const struct pump *p)
{
	for (size_t i = 0; i < p->session->source_count; i++)
		if (!p->source_done[i])
			return false;
	return true;
}

/* Reads the armed sources while the client keeps up. */
static void read_sources(struct pump *p)
{
	struct node_stream_session *s = p->session;

	for (size_t i = 0; i < s->source_count; i++) {
		struct node_stream_source *source = &s->sources[i];
		if (p->source_done[i] || !p->source_armed[i] ||
		    p->out.len - p->out_pos >= MAX_PENDING)
			continue;
		ssize_t n = source->read(source->ctx, p->block, sizeof(p->block));
		if (n > 0) {
			remotecommand_encode(&p->ws, source->stream, p->block, (size_t)n, &p->out);
			p->last_activity = now_ms();
		} else if (n == -EAGAIN) {
			int timeout = source->poll_timeout(source->ctx);
			p->source_armed[i] = false;
			p->source_wake[i] = timeout < 0 ? -1 : now_ms() + timeout;
		} else {
			if (n < 0)
				log_warn("node endpoint: %s: output: %s", s->subject,
					 strerror((int)-n));
			p->source_done[i] = true;
		}
	}
}

static void reap(struct pump *p)
{
	struct node_stream_session *s = p->session;
	siginfo_t info = {0};

	if (waitid(P_PIDFD, (id_t)s->pidfd, &info, WEXITED | WNOHANG | __WALL) < 0 ||
	    info.si_pid == 0)
		return;
	s->exited = true;
	s->exit_code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
	p->exited_at = p->last_activity = now_ms();
}

/* Over when the process (or, without one, the output) has ended and the output is read. */
static bool finished(const struct pump *p)
{
	const struct node_stream_session *s = p->session;

	if (s->pidfd >= 0 && !s->exited)
		return false;
	return sources_done(p) ||
	       (p->exited_at >= 0 && now_ms() - p->last_activity >= EXIT_DRAIN_MS);
}

enum poll_slot { SLOT_CLIENT, SLOT_STDIN, SLOT_PIDFD, SLOT_STOP, SLOT_SOURCE, SLOT_COUNT = 6 };

/* One round: waits for what can move, and moves it. */
static bool pump_once(struct pump *p)
{
	struct node_stream_session *s = p->session;
	struct pollfd fds[SLOT_COUNT];
	int64_t now = now_ms();
	int timeout = -1;

	read_sources(p);
	flush_out(p);
	flush_input(p);
	for (size_t i = 0; i < SLOT_COUNT; i++)
		fds[i] = (struct pollfd){.fd = -1};
	bool more_stdin = p->input.len - p->input_pos < MAX_PENDING;
	fds[SLOT_CLIENT] = (struct pollfd){
	    .fd = p->up->fd,
	    .events = (short)((more_stdin ? POLLIN : 0) | (p->out_pos < p->out.len ? POLLOUT : 0))};
	if (s->stdin_fd >= 0 && p->input_pos < p->input.len)
		fds[SLOT_STDIN] = (struct pollfd){.fd = s->stdin_fd, .events = POLLOUT};
	if (s->pidfd >= 0 && !s->exited)
		fds[SLOT_PIDFD] = (struct pollfd){.fd = s->pidfd, .events = POLLIN};
	fds[SLOT_STOP] = (struct pollfd){.fd = p->up->stop_fd, .events = POLLIN};
	bool room = p->out.len - p->out_pos < MAX_PENDING;
	for (size_t i = 0; i < s->source_count; i++) {
		if (p->source_done[i] || !room)
			continue;
		if (p->source_armed[i]) {
			timeout = 0;
			continue;
		}
		fds[SLOT_SOURCE + i] = (struct pollfd){
		    .fd = s->sources[i].poll_fd(s->sources[i].ctx), .events = POLLIN};
		if (p->source_wake[i] >= 0) {
			int64_t wait = p->source_wake[i] > now ? p->source_wake[i] - now : 0;
			timeout = timeout < 0 || wait < timeout ? (int)wait : timeout;
		}
	}
	if (p->exited_at >= 0 && (timeout < 0 || timeout > EXIT_DRAIN_MS))
		timeout = EXIT_DRAIN_MS;
	if (poll(fds, SLOT_COUNT, timeout) < 0 && errno != EINTR) {
		log_warn("node endpoint: %s: poll: %s", s->subject, strerror(errno));
		p->client_failed = true;
		return false;
	}
	if (fds[SLOT_STOP].revents)
		return false;
	if (fds[SLOT_CLIENT].revents & (POLLIN | POLLHUP | POLLERR))
		read_client(p);
	if (fds[SLOT_STDIN].revents & (POLLERR | POLLHUP))
		close_stdin(p);
	if (fds[SLOT_PIDFD].revents)
		reap(p);
	now = now_ms();
	for (size_t i = 0; i < s->source_count; i++)
		if (fds[SLOT_SOURCE + i].revents ||
		    (!p->source_armed[i] && p->source_wake[i] >= 0 && now >= p->source_wake[i]))
			p->source_armed[i] = true;
	return !p->client_failed && !p->client_closed;
}

/* Sends the rest within FINAL_FLUSH_MS, then waits as long for the client's close, so that
 * closing the socket with unread bytes cannot reset the connection before the client read
 * the end. */
static void finish(struct pump *p)
{
	int64_t deadline = now_ms() + FINAL_FLUSH_MS;

	for (;;) {
		flush_out(p);
		int64_t left = deadline - now_ms();
		if (p->client_failed || p->out_pos == p->out.len || left <= 0)
			break;
		struct pollfd fds[2] = {{.fd = p->up->fd, .events = POLLOUT},
					{.fd = p->up->stop_fd, .events = POLLIN}};
		if ((poll(fds, 2, (int)left) < 0 && errno != EINTR) || fds[1].revents)
			return;
	}
	deadline = now_ms() + CLOSE_WAIT_MS;
	while (!p->client_failed && !p->client_closed) {
		int64_t left = deadline - now_ms();
		struct pollfd fds[2] = {{.fd = p->up->fd, .events = POLLIN},
					{.fd = p->up->stop_fd, .events = POLLIN}};
		if (left <= 0 || (poll(fds, 2, (int)left) < 0 && errno != EINTR) || fds[1].revents)
			return;
		if (fds[0].revents)
			read_client(p);
	}
}

static void pump_free(struct pump *p)
{
	websocket_free(&p->ws);
	buf_free(&p->out);
	buf_free(&p->input);
}

enum node_stream_end node_stream_run(struct node_stream_session *session, struct node_upgraded *up)
{
	/* On the heap: the read block is too large for a thread's stack to take lightly. */
	struct pump *p = calloc(1, sizeof(*p));
	_cleanup_buf_ struct buf status = {0};
	enum node_stream_end end = NODE_STREAM_FINISHED;

	if (!p)
		abort();
	p->session = session;
	p->up = up;
	p->exited_at = -1;
	for (size_t i = 0; i < 2; i++) {
		p->source_armed[i] = true;
		p->source_wake[i] = -1;
	}
	websocket_init(&p->ws, WEBSOCKET_SERVER, MAX_MESSAGE);
	remotecommand_encode(&p->ws, session->first_stream, NULL, 0, &p->out);
	take_client_bytes(p, up->extra, up->extra_len);
	if (session->failure) {
		remotecommand_status_error(session->failure, &status);
	} else {
		while (!finished(p))
			if (!pump_once(p))
				break;
		if (p->client_failed || p->client_closed)
			end = NODE_STREAM_CLIENT_GONE;
		else if (!finished(p))
			end = NODE_STREAM_STOPPED;
		else if (session->pidfd >= 0)
			remotecommand_status_exit(session->exit_code,
						  (const char *const *)session->argv, &status);
		else
			remotecommand_status_exit(0, NULL, &status);
	}
	if (end == NODE_STREAM_FINISHED) {
		remotecommand_encode(&p->ws, REMOTECOMMAND_ERROR, status.data, status.len, &p->out);
		websocket_encode_close(&p->ws, WEBSOCKET_CLOSE_NORMAL, "", &p->out);
		finish(p);
	} else if (end == NODE_STREAM_STOPPED) {
		websocket_encode_close(&p->ws, WEBSOCKET_CLOSE_GOING_AWAY,
				       "the node agent is stopping", &p->out);
		flush_out(p);
	} else {
		/* A close from the client is answered (it is in `out` already). */
		flush_out(p);
	}
	pump_free(p);
	free(p);
	return end;
}
