/* httpGet probes: URL and request, the exchange, the answer's status, headers and body. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include "kubelet/probe_internal.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/strconv.h"
#include "lib/version.h"

#define USER_AGENT "kube-probe/" CKUBE_KUBERNETES_MAJOR "." CKUBE_KUBERNETES_MINOR
/* A server that sends more header than this is not a health endpoint. */
#define MAX_RESPONSE_HEADERS (64 * 1024)

void probe_http_fail(struct probe_attempt *a, enum probe_result result, const char *fmt, ...)
{
	struct buf message = {0};
	va_list ap;

	buf_puts(&message, "Get ");
	strconv_append_quoted(&message, a->url, strlen(a->url));
	buf_puts(&message, ": ");
	va_start(ap, fmt);
	buf_vprintf(&message, fmt, ap);
	va_end(ap);
	probe_finish_with(a, result, buf_steal(&message));
}

void probe_http_timed_out(struct probe_attempt *a)
{
	if (a->stage == STAGE_CONNECTING)
		probe_http_fail(
		    a, PROBE_FAILURE,
		    "dial tcp %s: i/o timeout (Client.Timeout exceeded while awaiting headers)",
		    a->address);
	else if (a->stage == STAGE_BODY)
		/* Kubernetes counts a body it could not read as an error, not as the verdict. */
		probe_finish(a, PROBE_ERROR,
			     "context deadline exceeded (Client.Timeout or context cancellation "
			     "while reading body)");
	else
		probe_http_fail(
		    a, PROBE_FAILURE,
		    "context deadline exceeded (Client.Timeout exceeded while awaiting headers)");
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
		probe_keep_output(out, data + i, (size_t)size);
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
		probe_finish(a, PROBE_FAILURE, "HTTP probe failed with statuscode: %d", a->status);
		return;
	}
	if (a->chunked) {
		dechunk(body, body_len, &text);
	} else {
		if (a->content_length >= 0 && (int64_t)body_len > a->content_length)
			body_len = (size_t)a->content_length;
		probe_keep_output(&text, body, body_len);
	}
	probe_finish_with(a, PROBE_SUCCESS, buf_steal(&text));
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
			probe_http_fail(
			    a, PROBE_FAILURE,
			    "net/http: server response headers exceeded %d bytes; aborted",
			    MAX_RESPONSE_HEADERS);
			return false;
		}
		first_len = line_length(a->response.data, a->response.data + end);
		a->status = parse_status_line(a->response.data, first_len);
		if (a->status < 0) {
			struct buf quoted = {0};
			strconv_append_quoted(&quoted, a->response.data, first_len);
			probe_http_fail(
			    a, PROBE_FAILURE,
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
		probe_finish(a, PROBE_ERROR, "net/http: malformed chunked encoding");
	else
		http_answered(a);
	return false;
}

/* The connection ended: the whole answer, or a failure. */
static void http_eof(struct probe_attempt *a)
{
	if (a->stage == STAGE_HEADERS) {
		probe_http_fail(a, PROBE_FAILURE, "%s", a->response.len ? "unexpected EOF" : "EOF");
		return;
	}
	/* Kubernetes counts a body it could not read as an error, not as the verdict. */
	if (a->chunked || (a->content_length >= 0 &&
			   (int64_t)(a->response.len - a->header_len) < a->content_length)) {
		probe_finish(a, PROBE_ERROR, "unexpected EOF");
		return;
	}
	http_answered(a);
}

/* --- the exchange ----------------------------------------------------------------------------- */

static void receive(struct probe_attempt *a)
{
	char chunk[16384];
	char text[128];
	uint32_t events;

	for (;;) {
		ssize_t n = probe_socket_recv(a, chunk, sizeof(chunk), &events, text);

		if (n == -EAGAIN) {
			probe_wait_socket(a, events);
			return;
		}
		if (n < 0) {
			if (a->stage == STAGE_BODY)
				probe_finish(a, PROBE_ERROR, "read tcp %s: %s", a->address, text);
			else
				probe_http_fail(a, PROBE_FAILURE, "read tcp %s: %s", a->address,
						text);
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
		ssize_t n = probe_socket_send(a, a->request.data + a->sent,
					      a->request.len - a->sent, &events, text);
		if (n == -EAGAIN) {
			probe_wait_socket(a, events);
			return;
		}
		if (n < 0) {
			probe_http_fail(a, PROBE_FAILURE, "write tcp %s: %s", a->address, text);
			return;
		}
		a->sent += (size_t)n;
	}
	a->stage = STAGE_HEADERS;
	receive(a);
}

static void handshake(struct probe_attempt *a)
{
	char text[128];
	uint32_t events;
	int r = probe_tls_handshake(a, &events, text);

	if (r == -EAGAIN) {
		probe_wait_socket(a, events);
	} else if (r < 0) {
		probe_http_fail(a, PROBE_FAILURE, "%s", text);
	} else {
		a->stage = STAGE_SENDING;
		send_request(a);
	}
}

void probe_http_connected(struct probe_attempt *a)
{
	struct ck_error err = {0};

	if (!a->https) {
		a->stage = STAGE_SENDING;
		send_request(a);
		return;
	}
	if (probe_tls_open(a, &err) < 0) {
		probe_http_fail(a, PROBE_ERROR, "%s", err.message);
		return;
	}
	a->stage = STAGE_HANDSHAKE;
	handshake(a);
}

void probe_http_on_socket(struct probe_attempt *a)
{
	switch (a->stage) {
	case STAGE_CONNECTING:
		break; /* probe_socket.c's until connected */
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

/* --- the request ----------------------------------------------------------------------------- */

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
			probe_http_fail(a, PROBE_FAILURE, "net/http: invalid header field %s %s",
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

void probe_http_begin(struct probe_attempt *a, const struct probe_spec *spec,
		      const struct probe_target *target)
{
	struct sockaddr_storage address;
	socklen_t address_len;
	struct buf url = {0};
	bool tls;

	tls = spec->http_scheme && strcasecmp(spec->http_scheme, "HTTPS") == 0;
	if (spec->http_scheme && !tls && strcasecmp(spec->http_scheme, "HTTP") != 0) {
		probe_finish(a, PROBE_FAILURE, "unsupported protocol scheme \"%s\"",
			     spec->http_scheme);
		return;
	}
	if (probe_resolve_address(a, spec, target, &address, &address_len) < 0)
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
		if (probe_tls_load(&err) < 0) {
			probe_http_fail(a, PROBE_ERROR, "%s", err.message);
			return;
		}
	}
	probe_dial(a, &address, address_len);
}
