/* The TCP connection of httpGet and tcpSocket: address, non-blocking connect, watch, I/O. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kubelet/probe_internal.h"

/* Go prints errno texts in lower case ("connection refused"), and so does Kubernetes. */
static const char *errno_text(int code, char text[128])
{
	snprintf(text, 128, "%s", strerror(code));
	if (text[0] >= 'A' && text[0] <= 'Z' && !(text[1] >= 'A' && text[1] <= 'Z'))
		text[0] = (char)(text[0] - 'A' + 'a');
	return text;
}

/* A failure to connect, as Go's dialer words it ("dial tcp 10.0.0.5:80: connect: connection
 * refused"); for httpGet inside the url.Error. */
static void dial_failed(struct probe_attempt *a, const char *step, int code)
{
	char text[128];

	errno_text(code, text);
	if (a->kind == PROBE_HTTP_GET)
		probe_http_fail(a, PROBE_FAILURE, "dial tcp %s: %s: %s", a->address, step, text);
	else
		probe_finish(a, PROBE_FAILURE, "dial tcp %s: %s: %s", a->address, step, text);
}

void probe_tcp_timed_out(struct probe_attempt *a)
{
	probe_finish(a, PROBE_FAILURE, "dial tcp %s: i/o timeout", a->address);
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

bool probe_wait_socket(struct probe_attempt *a, uint32_t events)
{
	struct ck_error err = {0};

	if (watch_socket(a, events, &err) == 0)
		return true;
	probe_finish(a, PROBE_ERROR, "%s", err.message);
	return false;
}

void probe_socket_close(struct probe_attempt *a)
{
	if (a->watching)
		loop_remove_fd(a->loop, a->fd);
	a->watching = 0;
	probe_tls_close(a);
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

/* A plain send() or recv() result as probe_socket_send() returns it. */
static ssize_t plain_outcome(ssize_t n, char text[128])
{
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR)
		return -EAGAIN;
	errno_text(errno, text);
	return -errno;
}

ssize_t probe_socket_send(struct probe_attempt *a, const char *data, size_t len, uint32_t *events,
			  char text[128])
{
	*events = EPOLLOUT;
	if (a->tls)
		return probe_tls_send(a, data, len, events, text);
	return plain_outcome(send(a->fd, data, len, MSG_NOSIGNAL), text);
}

ssize_t probe_socket_recv(struct probe_attempt *a, char *data, size_t len, uint32_t *events,
			  char text[128])
{
	*events = EPOLLIN;
	if (a->tls)
		return probe_tls_recv(a, data, len, events, text);
	return plain_outcome(recv(a->fd, data, len, 0), text);
}

/* --- connecting ------------------------------------------------------------------------------- */

/* The connect finished, one way or the other. */
static void connected(struct probe_attempt *a)
{
	int code = 0;
	socklen_t len = sizeof(code);

	if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &code, &len) < 0)
		code = errno;
	if (code)
		dial_failed(a, "connect", code);
	else if (a->kind == PROBE_TCP_SOCKET)
		probe_finish(a, PROBE_SUCCESS, "%s", "");
	else
		probe_http_connected(a);
}

static void on_socket(void *ctx, uint32_t events)
{
	struct probe_attempt *a = ctx;

	(void)events;
	if (a->stage == STAGE_CONNECTING)
		connected(a);
	else
		probe_http_on_socket(a);
}

void probe_dial(struct probe_attempt *a, const struct sockaddr_storage *address,
		socklen_t address_len)
{
	const int type = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;

	a->fd = socket(address->ss_family, type, 0);
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
	probe_wait_socket(a, EPOLLOUT);
}

/* Where httpGet and tcpSocket connect: the spec's host, else the pod IP; both must be IP
 * addresses (names would need a resolver off the loop). */
int probe_resolve_address(struct probe_attempt *a, const struct probe_spec *spec,
			  const struct probe_target *target, struct sockaddr_storage *address,
			  socklen_t *address_len)
{
	const char *host = spec->http_host && *spec->http_host ? spec->http_host : target->ip;
	struct sockaddr_in *v4 = (struct sockaddr_in *)address;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)address;

	/* As ResolveContainerPort: a name that matches no container port is parsed as a
	 * number, and that error is what Kubernetes reports. */
	if (spec->port <= 0 && spec->port_name) {
		probe_finish(a, PROBE_ERROR, "strconv.Atoi: parsing \"%s\": invalid syntax",
			     spec->port_name);
		return -EINVAL;
	}
	if (spec->port <= 0 || spec->port > 65535) {
		probe_finish(a, PROBE_ERROR, "invalid port number: %d", spec->port);
		return -EINVAL;
	}
	if (!host || !*host) {
		probe_finish(a, PROBE_ERROR, "the pod has no IP address to probe yet");
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
		probe_finish(a, PROBE_ERROR,
			     "probe host %s: ckube probes need an IP address, not a name", host);
		return -EINVAL;
	}
	if (asprintf(&a->address, address->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host,
		     spec->port) < 0)
		abort();
	return 0;
}

void probe_tcp_begin(struct probe_attempt *a, const struct probe_spec *spec,
		     const struct probe_target *target)
{
	struct sockaddr_storage address;
	socklen_t address_len;

	if (probe_resolve_address(a, spec, target, &address, &address_len) < 0)
		return;
	probe_dial(a, &address, address_len);
}
