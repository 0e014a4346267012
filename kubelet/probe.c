/* One probe attempt on the loop: see probe.h. Verdicts and messages follow Kubernetes'
 * pkg/probe/{exec,http,tcp} and the Go errors they pass on, since users search for those. */
#include "kubelet/probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/dlopen_util.h"
#include "lib/strconv.h"
#include "lib/version.h"
#include "runtime/pod_namespaces.h"

#define USER_AGENT "kube-probe/" CKUBE_KUBERNETES_MAJOR "." CKUBE_KUBERNETES_MINOR
/* A server that sends more header than this is not a health endpoint. */
#define MAX_RESPONSE_HEADERS (64 * 1024)
#define DEFAULT_TIMEOUT_MS 1000

enum http_stage { STAGE_CONNECTING, STAGE_HANDSHAKE, STAGE_SENDING, STAGE_HEADERS, STAGE_BODY };

struct probe_attempt {
	struct loop *loop;
	enum probe_kind kind;
	probe_done_fn done;
	void *ctx;
	/* The deadline; once the outcome is known inside probe_attempt_start, the report that
	 * waits for the loop. */
	struct loop_timer *timer;
	bool starting;
	enum probe_result result;
	char *message;

	/* httpGet and tcpSocket */
	int fd;
	uint32_t watching; /* the events the loop watches fd for; 0: not watched */
	char *address;     /* "10.0.0.5:80", "[fd00::5]:80" */
	char *url;         /* httpGet: "http://10.0.0.5:80/healthz" */
	enum http_stage stage;
	bool https;
	gnutls_session_t tls; /* once connected */
	gnutls_certificate_credentials_t tls_credentials;
	struct buf request;
	size_t sent;
	struct buf response; /* status line, headers, then the body as it came */
	size_t header_len;   /* of the final response, once complete */
	int status;
	int64_t content_length; /* -1: the body ends at EOF (or with the last chunk) */
	bool chunked;

	/* exec */
	int pidfd;
	int output_fd;
	bool pidfd_watched, output_watched;
	struct buf output;
	char *command; /* quoted, for the timeout message */
};

/* --- GnuTLS, for scheme HTTPS ------------------------------------------------------------- */

/* Sessions are not among lib/gnutls_dl.h's symbols yet, so this module opens its own table
 * (dlopen_library shares the handle); prefixed names keep them apart from lib's sym_*. */
#define PROBE_TLS_SYMBOLS(X)                       \
	X(gnutls_certificate_allocate_credentials) \
	X(gnutls_certificate_free_credentials)     \
	X(gnutls_credentials_set)                  \
	X(gnutls_deinit)                           \
	X(gnutls_error_is_fatal)                   \
	X(gnutls_handshake)                        \
	X(gnutls_init)                             \
	X(gnutls_record_get_direction)             \
	X(gnutls_record_recv)                      \
	X(gnutls_record_send)                      \
	X(gnutls_set_default_priority)             \
	X(gnutls_strerror)                         \
	X(gnutls_transport_set_int2)

#define PROBE_TLS_POINTER(name) static __typeof__(name) *probe_##name;
#define PROBE_TLS_SYMBOL(name) {#name, &probe_##name},
PROBE_TLS_SYMBOLS(PROBE_TLS_POINTER)
static const struct dlopen_symbol probe_tls_symbols[] = {PROBE_TLS_SYMBOLS(PROBE_TLS_SYMBOL)};
static struct dlopen_library probe_tls_library = {
    .soname = "libgnutls.so.30",
    .package = "libgnutls30",
    .symbols = probe_tls_symbols,
    .symbol_count = sizeof(probe_tls_symbols) / sizeof(probe_tls_symbols[0]),
};

/* --- the outcome ---------------------------------------------------------------------------- */

/* Go prints errno texts in lower case ("connection refused"), and so does Kubernetes. */
static const char *errno_text(int code, char text[128])
{
	snprintf(text, 128, "%s", strerror(code));
	if (text[0] >= 'A' && text[0] <= 'Z' && !(text[1] >= 'A' && text[1] <= 'Z'))
		text[0] = (char)(text[0] - 'A' + 'a');
	return text;
}

static int reap(int pidfd, int *code);

struct grave {
	struct loop *loop;
	int pidfd;
};

static void on_grave(void *ctx, uint32_t events)
{
	struct grave *grave = ctx;
	int code;

	(void)events;
	if (!reap(grave->pidfd, &code))
		return;
	loop_remove_fd(grave->loop, grave->pidfd);
	close(grave->pidfd);
	free(grave);
}

/* Kills an exec that is no longer wanted. It must still be reaped, but dying may take a while
 * (a process in uninterruptible sleep on a hung mount), so the loop reaps it when its pidfd
 * says it has died rather than this call waiting. */
static void bury(struct loop *loop, int pidfd)
{
	struct ck_error err = {0};
	struct grave *grave;
	siginfo_t info;
	int code;

	(void)pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
	if (reap(pidfd, &code)) {
		close(pidfd);
		return;
	}
	grave = calloc(1, sizeof(*grave));
	if (!grave)
		abort();
	*grave = (struct grave){.loop = loop, .pidfd = pidfd};
	if (loop_add_fd(loop, pidfd, EPOLLIN, on_grave, grave, &err) == 0)
		return;
	/* Without the loop's help a zombie would stay: wait, the SIGKILL is on its way. */
	while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | __WALL) < 0 && errno == EINTR)
		;
	close(pidfd);
	free(grave);
}

/* Stops everything the attempt does: no event, timer or process of it is left. */
static void release(struct probe_attempt *a)
{
	if (a->watching)
		loop_remove_fd(a->loop, a->fd);
	a->watching = 0;
	if (a->tls)
		probe_gnutls_deinit(a->tls);
	a->tls = NULL;
	if (a->tls_credentials)
		probe_gnutls_certificate_free_credentials(a->tls_credentials);
	a->tls_credentials = NULL;
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
	if (a->output_watched)
		loop_remove_fd(a->loop, a->output_fd);
	a->output_watched = false;
	if (a->output_fd >= 0)
		close(a->output_fd);
	a->output_fd = -1;
	if (a->pidfd_watched)
		loop_remove_fd(a->loop, a->pidfd);
	a->pidfd_watched = false;
	if (a->pidfd >= 0)
		bury(a->loop, a->pidfd);
	a->pidfd = -1;
}

static void destroy(struct probe_attempt *a)
{
	release(a);
	loop_timer_cancel(a->loop, a->timer);
	buf_free(&a->request);
	buf_free(&a->response);
	buf_free(&a->output);
	free(a->address);
	free(a->url);
	free(a->command);
	free(a->message);
	free(a);
}

static void report(struct probe_attempt *a)
{
	probe_done_fn done = a->done;
	void *ctx = a->ctx;
	enum probe_result result = a->result;
	_cleanup_free_ char *message = steal_ptr(&a->message);

	destroy(a);
	done(ctx, result, message ? message : "");
}

static void on_deferred_report(void *ctx)
{
	struct probe_attempt *a = ctx;

	a->timer = NULL;
	report(a);
}

/* Ends the attempt with `message` (taken). Inside probe_attempt_start the report waits for
 * the loop, so that `done` never runs before the caller holds the handle. */
static void finish_with(struct probe_attempt *a, enum probe_result result, char *message)
{
	a->result = result;
	free(a->message);
	a->message = message;
	release(a);
	loop_timer_cancel(a->loop, a->timer);
	a->timer = NULL;
	if (a->starting)
		a->timer = loop_timer_in(a->loop, 0, on_deferred_report, a);
	else
		report(a);
}

static void finish(struct probe_attempt *a, enum probe_result result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish(struct probe_attempt *a, enum probe_result result, const char *fmt, ...)
{
	struct buf message = {0};
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&message, fmt, ap);
	va_end(ap);
	finish_with(a, result, buf_steal(&message));
}

/* Go's url.Error: `Get "http://10.0.0.5:80/": <what went wrong>`. */
static void http_fail(struct probe_attempt *a, enum probe_result result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void http_fail(struct probe_attempt *a, enum probe_result result, const char *fmt, ...)
{
	struct buf message = {0};
	va_list ap;

	buf_puts(&message, "Get ");
	strconv_append_quoted(&message, a->url, strlen(a->url));
	buf_puts(&message, ": ");
	va_start(ap, fmt);
	buf_vprintf(&message, fmt, ap);
	va_end(ap);
	finish_with(a, result, buf_steal(&message));
}

/* A failure to connect, as Go's dialer words it ("dial tcp 10.0.0.5:80: connect: connection
 * refused"); for httpGet inside the url.Error. */
static void dial_failed(struct probe_attempt *a, const char *step, int code)
{
	char text[128];

	errno_text(code, text);
	if (a->kind == PROBE_HTTP_GET)
		http_fail(a, PROBE_FAILURE, "dial tcp %s: %s: %s", a->address, step, text);
	else
		finish(a, PROBE_FAILURE, "dial tcp %s: %s: %s", a->address, step, text);
}

/* Like the kubelet (InsecureSkipVerify), the server's certificate is not checked: a probe
 * asks whether the endpoint answers, and pods' certificates rarely name their IP. */
static int tls_open(struct probe_attempt *a, struct ck_error *err)
{
	int rc;

	if (dlopen_library(&probe_tls_library, err) < 0)
		return -err->code;
	rc = probe_gnutls_certificate_allocate_credentials(&a->tls_credentials);
	if (rc < 0) {
		a->tls_credentials = NULL;
		return ck_error_set(err, EIO, "tls: %s", probe_gnutls_strerror(rc));
	}
	rc = probe_gnutls_init(&a->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
	if (rc < 0) {
		a->tls = NULL;
		return ck_error_set(err, EIO, "tls: %s", probe_gnutls_strerror(rc));
	}
	rc = probe_gnutls_set_default_priority(a->tls);
	if (rc >= 0)
		rc = probe_gnutls_credentials_set(a->tls, GNUTLS_CRD_CERTIFICATE,
						  a->tls_credentials);
	if (rc < 0)
		return ck_error_set(err, EIO, "tls: %s", probe_gnutls_strerror(rc));
	probe_gnutls_transport_set_int2(a->tls, a->fd, a->fd);
	return 0;
}

/* --- watching the socket ---------------------------------------------------------------------- */

static void on_socket(void *ctx, uint32_t events);

/* The loop has no "modify": a change of interest is a remove and an add. */
static int watch_socket(struct probe_attempt *a, uint32_t events, struct ck_error *err)
{
	int r;

	if (a->watching == events)
		return 0;
	if (a->watching)
		loop_remove_fd(a->loop, a->fd);
	a->watching = 0;
	r = loop_add_fd(a->loop, a->fd, events, on_socket, a, err);
	if (r == 0)
		a->watching = events;
	return r;
}

/* Waits for the socket; false when that failed and the attempt is over. */
static bool wait_socket(struct probe_attempt *a, uint32_t events)
{
	struct ck_error err = {0};

	if (watch_socket(a, events, &err) == 0)
		return true;
	finish(a, PROBE_ERROR, "%s", err.message);
	return false;
}

/* A TLS call that could not complete: what it waits for, or false when it failed. */
static bool tls_would_block(struct probe_attempt *a, int rc, uint32_t *events)
{
	if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED)
		return false;
	*events = probe_gnutls_record_get_direction(a->tls) ? EPOLLOUT : EPOLLIN;
	return true;
}

/* >= 0: bytes sent; -EAGAIN with *events to wait for; other: failed, `text` says why. */
static ssize_t transport_send(struct probe_attempt *a, const char *data, size_t len,
			      uint32_t *events, char text[128])
{
	ssize_t n;

	*events = EPOLLOUT;
	if (a->tls) {
		n = probe_gnutls_record_send(a->tls, data, len);
		if (n >= 0)
			return n;
		if (tls_would_block(a, (int)n, events))
			return -EAGAIN;
		snprintf(text, 128, "tls: %s", probe_gnutls_strerror((int)n));
		return -EIO;
	}
	n = send(a->fd, data, len, MSG_NOSIGNAL);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR)
		return -EAGAIN;
	errno_text(errno, text);
	return -errno;
}

/* > 0: bytes read; 0: end of stream; -EAGAIN with *events; other: failed, `text` says why. */
static ssize_t transport_recv(struct probe_attempt *a, char *data, size_t len, uint32_t *events,
			      char text[128])
{
	ssize_t n;

	*events = EPOLLIN;
	if (a->tls) {
		n = probe_gnutls_record_recv(a->tls, data, len);
		/* Servers often close without close_notify; with Connection: close that is the
		 * end of the answer. */
		if (n >= 0 || n == GNUTLS_E_PREMATURE_TERMINATION)
			return n >= 0 ? n : 0;
		if (tls_would_block(a, (int)n, events))
			return -EAGAIN;
		snprintf(text, 128, "tls: %s", probe_gnutls_strerror((int)n));
		return -EIO;
	}
	n = recv(a->fd, data, len, 0);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR)
		return -EAGAIN;
	errno_text(errno, text);
	return -errno;
}

/* --- the HTTP answer ------------------------------------------------------------------------- */

/* The length of the status line and headers, up to and with the empty line; 0 while
 * incomplete. Bare LF line ends are accepted, as Go accepts them. */
static size_t find_headers_end(const char *data, size_t len)
{
	size_t i = 0;

	while (i < len) {
		const char *eol = memchr(data + i, '\n', len - i);
		size_t line_len;

		if (!eol)
			return 0;
		line_len = (size_t)(eol - (data + i));
		if (line_len == 0 || (line_len == 1 && data[i] == '\r'))
			return (size_t)(eol - data) + 1;
		i = (size_t)(eol - data) + 1;
	}
	return 0;
}

static size_t line_length(const char *line, const char *end)
{
	const char *eol = memchr(line, '\n', (size_t)(end - line));
	size_t len = eol ? (size_t)(eol - line) : (size_t)(end - line);

	return len && line[len - 1] == '\r' ? len - 1 : len;
}

/* "HTTP/1.1 200 OK": the status, or -1. */
static int parse_status_line(const char *line, size_t len)
{
	const char *space = memchr(line, ' ', len);
	const char *code;

	if (len < 5 || memcmp(line, "HTTP/", 5) != 0 || !space)
		return -1;
	code = space + 1;
	if ((size_t)(code - line) + 3 > len || code[0] < '1' || code[0] > '9' || code[1] < '0' ||
	    code[1] > '9' || code[2] < '0' || code[2] > '9')
		return -1;
	if ((size_t)(code - line) + 3 < len && code[3] != ' ')
		return -1;
	return (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
		      size_t *value_len)
{
	size_t name_len = strlen(name);

	if (len <= name_len || line[name_len] != ':' || strncasecmp(line, name, name_len) != 0)
		return false;
	*value = line + name_len + 1;
	*value_len = len - name_len - 1;
	while (*value_len && (**value == ' ' || **value == '\t')) {
		(*value)++;
		(*value_len)--;
	}
	return true;
}

/* Reads what decides how the body ends: Content-Length and Transfer-Encoding. */
static void parse_headers(struct probe_attempt *a, const char *data, size_t len)
{
	const char *end = data + len;
	const char *line = memchr(data, '\n', len) + 1;

	a->content_length = -1;
	a->chunked = false;
	while (line < end) {
		size_t line_len = line_length(line, end);
		const char *value;
		size_t value_len;

		if (header_is(line, line_len, "Content-Length", &value, &value_len)) {
			char *number_end;
			_cleanup_free_ char *text = strndup(value, value_len);
			long long n = text ? strtoll(text, &number_end, 10) : -1;
			if (text && number_end != text && n >= 0)
				a->content_length = n;
		} else if (header_is(line, line_len, "Transfer-Encoding", &value, &value_len)) {
			a->chunked = memmem(value, value_len, "chunked", 7) != NULL;
		}
		line = memchr(line, '\n', (size_t)(end - line)) + 1;
	}
	/* Answers that never have a body. */
	if (a->status == 204 || a->status == 304)
		a->content_length = 0;
}

/* Decodes a chunked body into `out` (whole chunks only, at most PROBE_MAX_OUTPUT): 1 when the
 * last chunk arrived, 0 while more is to come, -1 when it is not chunked encoding. */
static int dechunk(const char *data, size_t len, struct buf *out)
{
	size_t i = 0;

	for (;;) {
		const char *eol = memchr(data + i, '\n', len - i);
		char *size_end;
		unsigned long long size;

		if (!eol)
			return 0;
		if (!((data[i] >= '0' && data[i] <= '9') || (data[i] >= 'a' && data[i] <= 'f') ||
		      (data[i] >= 'A' && data[i] <= 'F')))
			return -1;
		size = strtoull(data + i, &size_end, 16);
		if (size_end > eol)
			return -1;
		i = (size_t)(eol - data) + 1;
		if (size == 0)
			return 1; /* trailers, if any, say nothing about health */
		if (size > len - i)
			return 0;
		if (out->len < PROBE_MAX_OUTPUT)
			buf_append(out, data + i,
				   size < PROBE_MAX_OUTPUT - out->len
				       ? size
				       : PROBE_MAX_OUTPUT - out->len);
		i += size;
		while (i < len && (data[i] == '\r' || data[i] == '\n'))
			i++;
		if (i >= len)
			return 0;
	}
}

/* The verdict once the answer has been read (a status 200..399 is healthy, as in
 * Kubernetes; redirects are not followed). */
static void http_answered(struct probe_attempt *a)
{
	const char *body = a->response.data + a->header_len;
	size_t body_len = a->response.len - a->header_len;
	struct buf text = {0};

	if (a->status < 200 || a->status >= 400) {
		finish(a, PROBE_FAILURE, "HTTP probe failed with statuscode: %d", a->status);
		return;
	}
	if (a->chunked) {
		dechunk(body, body_len, &text);
	} else {
		if (a->content_length >= 0 && (int64_t)body_len > a->content_length)
			body_len = (size_t)a->content_length;
		buf_append(&text, body, body_len < PROBE_MAX_OUTPUT ? body_len : PROBE_MAX_OUTPUT);
	}
	finish_with(a, PROBE_SUCCESS, buf_steal(&text));
}

/* Whether the body has all it will give the verdict: complete, or as much as is kept. */
static bool body_done(struct probe_attempt *a, bool *malformed)
{
	size_t body_len = a->response.len - a->header_len;
	struct buf scratch = {0};
	int r;

	*malformed = false;
	if (body_len >= PROBE_MAX_OUTPUT)
		return true;
	if (a->chunked) {
		r = dechunk(a->response.data + a->header_len, body_len, &scratch);
		buf_free(&scratch);
		*malformed = r < 0;
		return r != 0;
	}
	return a->content_length >= 0 && (int64_t)body_len >= a->content_length;
}

/* With new bytes: the status line and headers once complete (skipping 1xx interim answers),
 * then the body. False when the attempt ended. */
static bool http_progress(struct probe_attempt *a)
{
	bool malformed;

	while (a->stage == STAGE_HEADERS) {
		size_t end = find_headers_end(a->response.data, a->response.len);
		size_t first_len;

		if (!end) {
			if (a->response.len <= MAX_RESPONSE_HEADERS)
				return true;
			http_fail(a, PROBE_FAILURE,
				  "net/http: server response headers exceeded %d bytes; aborted",
				  MAX_RESPONSE_HEADERS);
			return false;
		}
		first_len = line_length(a->response.data, a->response.data + end);
		a->status = parse_status_line(a->response.data, first_len);
		if (a->status < 0) {
			struct buf quoted = {0};
			strconv_append_quoted(&quoted, a->response.data, first_len);
			http_fail(a, PROBE_FAILURE,
				  "net/http: HTTP/1.x transport connection broken: malformed HTTP "
				  "response %s",
				  quoted.data);
			buf_free(&quoted);
			return false;
		}
		if (a->status >= 100 && a->status < 200 && a->status != 101) {
			memmove(a->response.data, a->response.data + end, a->response.len - end);
			a->response.len -= end;
			a->response.data[a->response.len] = '\0';
			continue;
		}
		a->header_len = end;
		parse_headers(a, a->response.data, end);
		a->stage = STAGE_BODY;
	}
	if (!body_done(a, &malformed))
		return true;
	if (malformed)
		finish(a, PROBE_ERROR, "net/http: malformed chunked encoding");
	else
		http_answered(a);
	return false;
}

/* The connection ended: the whole answer, or a failure. */
static void http_eof(struct probe_attempt *a)
{
	if (a->stage == STAGE_HEADERS) {
		http_fail(a, PROBE_FAILURE, "%s", a->response.len ? "unexpected EOF" : "EOF");
		return;
	}
	/* Kubernetes counts a body it could not read as an error, not as the verdict. */
	if (a->chunked || (a->content_length >= 0 &&
			   (int64_t)(a->response.len - a->header_len) < a->content_length)) {
		finish(a, PROBE_ERROR, "unexpected EOF");
		return;
	}
	http_answered(a);
}

static void receive(struct probe_attempt *a)
{
	char chunk[16384];
	char text[128];
	uint32_t events;

	for (;;) {
		ssize_t n = transport_recv(a, chunk, sizeof(chunk), &events, text);

		if (n == -EAGAIN) {
			wait_socket(a, events);
			return;
		}
		if (n < 0) {
			if (a->stage == STAGE_BODY)
				finish(a, PROBE_ERROR, "read tcp %s: %s", a->address, text);
			else
				http_fail(a, PROBE_FAILURE, "read tcp %s: %s", a->address, text);
			return;
		}
		if (n == 0) {
			http_eof(a);
			return;
		}
		buf_append(&a->response, chunk, (size_t)n);
		if (!http_progress(a))
			return;
	}
}

static void send_request(struct probe_attempt *a)
{
	char text[128];
	uint32_t events;

	while (a->sent < a->request.len) {
		ssize_t n = transport_send(a, a->request.data + a->sent, a->request.len - a->sent,
					   &events, text);
		if (n == -EAGAIN) {
			wait_socket(a, events);
			return;
		}
		if (n < 0) {
			http_fail(a, PROBE_FAILURE, "write tcp %s: %s", a->address, text);
			return;
		}
		a->sent += (size_t)n;
	}
	a->stage = STAGE_HEADERS;
	receive(a);
}

static void handshake(struct probe_attempt *a)
{
	uint32_t events;
	int rc;

	do
		rc = probe_gnutls_handshake(a->tls);
	while (rc < 0 && !probe_gnutls_error_is_fatal(rc) && rc != GNUTLS_E_AGAIN &&
	       rc != GNUTLS_E_INTERRUPTED);
	if (rc == 0) {
		a->stage = STAGE_SENDING;
		send_request(a);
	} else if (tls_would_block(a, rc, &events)) {
		wait_socket(a, events);
	} else {
		http_fail(a, PROBE_FAILURE, "tls: %s", probe_gnutls_strerror(rc));
	}
}

/* The connect finished, one way or the other. */
static void connected(struct probe_attempt *a)
{
	struct ck_error err = {0};
	int code = 0;
	socklen_t len = sizeof(code);

	if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &code, &len) < 0)
		code = errno;
	if (code) {
		dial_failed(a, "connect", code);
		return;
	}
	if (a->kind == PROBE_TCP_SOCKET) {
		finish(a, PROBE_SUCCESS, "%s", "");
		return;
	}
	if (!a->https) {
		a->stage = STAGE_SENDING;
		send_request(a);
		return;
	}
	if (tls_open(a, &err) < 0) {
		http_fail(a, PROBE_ERROR, "%s", err.message);
		return;
	}
	a->stage = STAGE_HANDSHAKE;
	handshake(a);
}

static void on_socket(void *ctx, uint32_t events)
{
	struct probe_attempt *a = ctx;

	(void)events;
	switch (a->stage) {
	case STAGE_CONNECTING:
		connected(a);
		break;
	case STAGE_HANDSHAKE:
		handshake(a);
		break;
	case STAGE_SENDING:
		send_request(a);
		break;
	case STAGE_HEADERS:
	case STAGE_BODY:
		receive(a);
		break;
	}
}

static void dial(struct probe_attempt *a, const struct probe_target *target,
		 const struct sockaddr_storage *address, socklen_t address_len)
{
	const int type = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;

	if (target->netns_fd >= 0) {
		struct ck_error err = {0};
		a->fd = netns_socket(target->netns_fd, address->ss_family, type, &err);
		if (a->fd < 0) {
			finish(a, PROBE_ERROR, "%s", err.message);
			return;
		}
	} else {
		a->fd = socket(address->ss_family, type, 0);
	}
	if (a->fd < 0) {
		dial_failed(a, "socket", errno);
		return;
	}
	a->stage = STAGE_CONNECTING;
	if (connect(a->fd, (const struct sockaddr *)address, address_len) == 0) {
		connected(a);
		return;
	}
	if (errno != EINPROGRESS) {
		dial_failed(a, "connect", errno);
		return;
	}
	wait_socket(a, EPOLLOUT);
}

/* --- the request ----------------------------------------------------------------------------- */

/* Where httpGet and tcpSocket connect: the spec's host, else the pod IP; both must be IP
 * addresses (names would need a resolver off the loop). 0, or the attempt has ended. */
static int resolve_address(struct probe_attempt *a, const struct probe_spec *spec,
			   const struct probe_target *target, struct sockaddr_storage *address,
			   socklen_t *address_len)
{
	const char *host = spec->http_host && *spec->http_host ? spec->http_host : target->ip;
	struct sockaddr_in *v4 = (struct sockaddr_in *)address;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)address;

	/* As ResolveContainerPort: a name that matches no container port is parsed as a
	 * number, and that error is what Kubernetes reports. */
	if (spec->port <= 0 && spec->port_name) {
		finish(a, PROBE_ERROR, "strconv.Atoi: parsing \"%s\": invalid syntax",
		       spec->port_name);
		return -EINVAL;
	}
	if (spec->port <= 0 || spec->port > 65535) {
		finish(a, PROBE_ERROR, "invalid port number: %d", spec->port);
		return -EINVAL;
	}
	if (!host || !*host) {
		finish(a, PROBE_ERROR, "the pod has no IP address to probe yet");
		return -EINVAL;
	}
	memset(address, 0, sizeof(*address));
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)spec->port);
		*address_len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)spec->port);
		*address_len = sizeof(*v6);
	} else {
		finish(a, PROBE_ERROR, "probe host %s: ckube probes need an IP address, not a name",
		       host);
		return -EINVAL;
	}
	if (asprintf(&a->address, address->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host,
		     spec->port) < 0)
		abort();
	return 0;
}

/* The path as Go's URL writes it: absolute, with what may not appear in a request line
 * percent-encoded. */
static void append_path(struct buf *out, const char *path)
{
	if (!path || !*path)
		path = "/";
	if (path[0] != '/')
		buf_putc(out, '/');
	/* A fragment stays with the client, as in any URL. */
	for (const unsigned char *p = (const unsigned char *)path; *p && *p != '#'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("\"<>\\^`{|}", *p))
			buf_printf(out, "%%%02X", *p);
		else
			buf_putc(out, (char)*p);
	}
}

static bool valid_header_name(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("!#$%&'*+-.^_`|~", *p)))
			return false;
	return true;
}

static bool valid_header_value(const char *value)
{
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

/* The first value the spec gives a header, or NULL. */
static const char *spec_header(const json_t *headers, const char *name)
{
	size_t i;
	json_t *header;

	json_array_foreach (headers, i, header) {
		const char *header_name = json_string_value(json_object_get(header, "name"));
		const char *value = json_string_value(json_object_get(header, "value"));
		if (header_name && strcasecmp(header_name, name) == 0)
			return value ? value : "";
	}
	return NULL;
}

/* Headers Go's client writes itself or refuses from the header map; Connection stays
 * "close". */
static bool reserved_header(const char *name)
{
	static const char *const reserved[] = {"Host",    "User-Agent",        "Content-Length",
					       "Trailer", "Transfer-Encoding", "Connection"};

	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return true;
	return false;
}

/* The spec's headers, checked as Go's transport checks them. 0, or the attempt has ended. */
static int append_spec_headers(struct probe_attempt *a, const json_t *headers, struct buf *out)
{
	const char *accept = spec_header(headers, "Accept");
	size_t i;
	json_t *header;

	json_array_foreach (headers, i, header) {
		const char *name = json_string_value(json_object_get(header, "name"));
		const char *value = json_string_value(json_object_get(header, "value"));
		struct buf quoted = {0};

		if (!name || !valid_header_name(name) || !valid_header_value(value ? value : "")) {
			strconv_append_quoted(&quoted, name ? name : "", name ? strlen(name) : 0);
			http_fail(a, PROBE_FAILURE, "net/http: invalid header field %s %s",
				  name && valid_header_name(name) ? "value for" : "name",
				  quoted.data);
			buf_free(&quoted);
			return -EINVAL;
		}
		/* An empty Accept removes the header altogether (newProbeRequest). */
		if (reserved_header(name) || (strcasecmp(name, "Accept") == 0 && !*accept))
			continue;
		buf_printf(out, "%s: %s\r\n", name, value ? value : "");
	}
	if (!accept)
		buf_puts(out, "Accept: */*\r\n");
	return 0;
}

/* GET with Kubernetes' default headers, the spec's replacing them by name. */
static int build_request(struct probe_attempt *a, const struct probe_spec *spec)
{
	const char *host = spec_header(spec->http_headers, "Host");
	const char *user_agent = spec_header(spec->http_headers, "User-Agent");

	buf_puts(&a->request, "GET ");
	append_path(&a->request, spec->http_path);
	buf_printf(&a->request, " HTTP/1.1\r\nHost: %s\r\n", host && *host ? host : a->address);
	if (!user_agent)
		user_agent = USER_AGENT;
	if (*user_agent)
		buf_printf(&a->request, "User-Agent: %s\r\n", user_agent);
	if (append_spec_headers(a, spec->http_headers, &a->request) < 0)
		return -EINVAL;
	buf_puts(&a->request, "Connection: close\r\n\r\n");
	return 0;
}

static void http_begin(struct probe_attempt *a, const struct probe_spec *spec,
		       const struct probe_target *target)
{
	struct sockaddr_storage address;
	socklen_t address_len;
	struct buf url = {0};
	bool tls;

	tls = spec->http_scheme && strcasecmp(spec->http_scheme, "HTTPS") == 0;
	if (spec->http_scheme && !tls && strcasecmp(spec->http_scheme, "HTTP") != 0) {
		finish(a, PROBE_FAILURE, "unsupported protocol scheme \"%s\"", spec->http_scheme);
		return;
	}
	if (resolve_address(a, spec, target, &address, &address_len) < 0)
		return;
	buf_printf(&url, "%s://%s", tls ? "https" : "http", a->address);
	append_path(&url, spec->http_path);
	a->url = buf_steal(&url);
	if (build_request(a, spec) < 0)
		return;
	a->https = tls;
	if (tls) {
		/* A node without GnuTLS says nothing about the container: an error, not a
		 * failure. */
		struct ck_error err = {0};
		if (dlopen_library(&probe_tls_library, &err) < 0) {
			http_fail(a, PROBE_ERROR, "%s", err.message);
			return;
		}
	}
	dial(a, target, &address, address_len);
}

static void tcp_begin(struct probe_attempt *a, const struct probe_spec *spec,
		      const struct probe_target *target)
{
	struct sockaddr_storage address;
	socklen_t address_len;

	if (resolve_address(a, spec, target, &address, &address_len) < 0)
		return;
	dial(a, target, &address, address_len);
}

/* --- exec ----------------------------------------------------------------------------------- */

/* 1 once the process is reaped (its exit code, or 128 + the signal, in *code), 0 while it
 * runs. */
static int reap(int pidfd, int *code)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	/* __WALL: a process started in a container is cloned with CLONE_PARENT, without an exit
	 * signal, which plain WEXITED does not wait for. */
	while (waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG | __WALL) < 0) {
		if (errno != EINTR) {
			*code = -1; /* ECHILD: not ours to reap, nothing left to do */
			return 1;
		}
	}
	if (info.si_pid == 0)
		return 0;
	*code = info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
	return 1;
}

static void close_output(struct probe_attempt *a)
{
	if (a->output_watched)
		loop_remove_fd(a->loop, a->output_fd);
	a->output_watched = false;
	close(a->output_fd);
	a->output_fd = -1;
}

/* Keeps the first PROBE_MAX_OUTPUT bytes and throws the rest away, so that a talkative
 * command never blocks on a full pipe. */
static void read_output(struct probe_attempt *a)
{
	char chunk[4096];

	for (;;) {
		ssize_t n = read(a->output_fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close_output(a);
			return;
		}
		if (a->output.len < PROBE_MAX_OUTPUT)
			buf_append(&a->output, chunk,
				   (size_t)n < PROBE_MAX_OUTPUT - a->output.len
				       ? (size_t)n
				       : PROBE_MAX_OUTPUT - a->output.len);
	}
}

static void on_output(void *ctx, uint32_t events)
{
	(void)events;
	read_output(ctx);
}

static void on_exec_exit(void *ctx, uint32_t events)
{
	struct probe_attempt *a = ctx;
	int code;

	(void)events;
	if (!reap(a->pidfd, &code))
		return;
	loop_remove_fd(a->loop, a->pidfd);
	a->pidfd_watched = false;
	close(a->pidfd);
	a->pidfd = -1;
	/* What it wrote before it exited; a process it left behind holding the pipe open is not
	 * waited for. */
	if (a->output_fd >= 0)
		read_output(a);
	finish_with(a, code == 0 ? PROBE_SUCCESS : PROBE_FAILURE, buf_steal(&a->output));
}

/* The command as the kubelet names it in a timeout: Go's %q of the words joined. */
static char *quote_command(char *const *argv)
{
	struct buf joined = {0};
	struct buf quoted = {0};

	for (size_t i = 0; argv[i]; i++) {
		if (i)
			buf_putc(&joined, ' ');
		buf_puts(&joined, argv[i]);
	}
	strconv_append_quoted(&quoted, joined.data ? joined.data : "", joined.len);
	buf_free(&joined);
	return buf_steal(&quoted);
}

static int watch_exec(struct probe_attempt *a, struct ck_error *err)
{
	int r = loop_add_fd(a->loop, a->pidfd, EPOLLIN, on_exec_exit, a, err);

	if (r < 0)
		return r;
	a->pidfd_watched = true;
	r = loop_add_fd(a->loop, a->output_fd, EPOLLIN, on_output, a, err);
	if (r < 0)
		return r;
	a->output_watched = true;
	return 0;
}

static void exec_begin(struct probe_attempt *a, const struct probe_spec *spec,
		       const struct probe_target *target)
{
	struct container_exec run = {.pid = -1, .pidfd = -1, .tty_master = -1};
	struct ck_error err = {0};
	_cleanup_close_ int write_end = -1;
	int fds[2];

	if (!spec->command || !spec->command[0]) {
		finish(a, PROBE_ERROR, "exec probe without a command");
		return;
	}
	if (!target->exec) {
		finish(a, PROBE_ERROR, "exec probes cannot run: no way to enter the container");
		return;
	}
	a->command = quote_command(spec->command);
	/* Only our end is non-blocking: the command's writes must block as usual. */
	if (pipe2(fds, O_CLOEXEC) < 0 || fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
		finish(a, PROBE_ERROR, "exec probe: output pipe: %s", strerror(errno));
		return;
	}
	a->output_fd = fds[0];
	write_end = fds[1];
	if (target->exec(target->exec_ctx, spec->command, write_end, &run, &err) < 0) {
		finish(a, PROBE_ERROR, "%s", err.message);
		return;
	}
	if (run.tty_master >= 0)
		close(run.tty_master);
	a->pidfd = run.pidfd;
	if (a->pidfd < 0) {
		finish(a, PROBE_ERROR, "exec probe: the process has no pidfd");
		return;
	}
	/* Closed here, so the end of the command's output shows as the end of the pipe. */
	close(steal_fd(&write_end));
	if (watch_exec(a, &err) < 0)
		finish(a, PROBE_ERROR, "exec probe: %s", err.message);
}

/* --- the attempt ------------------------------------------------------------------------------ */

static void on_deadline(void *ctx)
{
	struct probe_attempt *a = ctx;

	a->timer = NULL;
	if (a->kind == PROBE_EXEC)
		finish(a, PROBE_FAILURE, "command %s timed out", a->command);
	else if (a->kind == PROBE_TCP_SOCKET)
		finish(a, PROBE_FAILURE, "dial tcp %s: i/o timeout", a->address);
	else if (a->stage == STAGE_CONNECTING)
		http_fail(
		    a, PROBE_FAILURE,
		    "dial tcp %s: i/o timeout (Client.Timeout exceeded while awaiting headers)",
		    a->address);
	else if (a->stage == STAGE_BODY)
		/* Kubernetes counts a body it could not read as an error, not as the verdict. */
		finish(a, PROBE_ERROR,
		       "context deadline exceeded (Client.Timeout or context cancellation while "
		       "reading body)");
	else
		http_fail(
		    a, PROBE_FAILURE,
		    "context deadline exceeded (Client.Timeout exceeded while awaiting headers)");
}

struct probe_attempt *probe_attempt_start(struct loop *loop, const struct probe_spec *spec,
					  const struct probe_target *target, int64_t timeout_ms,
					  probe_done_fn done, void *ctx)
{
	struct probe_attempt *a = calloc(1, sizeof(*a));

	if (!a)
		abort();
	*a = (struct probe_attempt){.loop = loop,
				    .kind = spec->kind,
				    .done = done,
				    .ctx = ctx,
				    .starting = true,
				    .fd = -1,
				    .content_length = -1,
				    .pidfd = -1,
				    .output_fd = -1};
	a->timer =
	    loop_timer_in(loop, timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS, on_deadline, a);
	switch (spec->kind) {
	case PROBE_EXEC:
		exec_begin(a, spec, target);
		break;
	case PROBE_HTTP_GET:
		http_begin(a, spec, target);
		break;
	case PROBE_TCP_SOCKET:
		tcp_begin(a, spec, target);
		break;
	case PROBE_GRPC:
		finish(a, PROBE_ERROR, "gRPC probes are not supported by ckube");
		break;
	default:
		finish(a, PROBE_ERROR, "missing probe handler");
		break;
	}
	a->starting = false;
	return a;
}

void probe_attempt_cancel(struct probe_attempt *attempt)
{
	if (attempt)
		destroy(attempt);
}
