/* One request to a node agent's endpoint for exec and attach: see node_dial.h. */
#include "apiserver/node_dial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/websocket.h"

#define CONNECT_TIMEOUT_MS (10 * 1000)
/* The agent answers once it has checked the container, before anything runs. */
#define ANSWER_TIMEOUT_MS (30 * 1000)
#define MAX_HEAD 16384
#define MAX_BODY 4096

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` until `deadline`: 0, or -ETIMEDOUT. */
static int wait_for(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd pfd = {.fd = fd, .events = events};
		if (left <= 0)
			return -ETIMEDOUT;
		int n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* A vanished node is noticed by keepalive: an exec may be quiet for hours. */
static void keep_alive(int fd)
{
	int on = 1, idle = 30, interval = 10;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
}

static int dial(const char *host, int port, const char *hostport, struct ck_error *err)
{
	struct sockaddr_storage addr = {0};
	struct sockaddr_in *v4 = (struct sockaddr_in *)&addr;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&addr;
	socklen_t len;
	int error = 0;
	socklen_t error_len = sizeof(error);

	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		len = sizeof(*v6);
	} else {
		return ck_error_set(err, EINVAL, "dial tcp %s: %s is not an IP address", hostport,
				    host);
	}
	_cleanup_close_ int fd =
	    socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return ck_error_errno(err, errno, "dial tcp %s: socket", hostport);
	if (connect(fd, (struct sockaddr *)&addr, len) < 0 && errno != EINPROGRESS)
		return ck_error_errno(err, errno, "dial tcp %s: connect", hostport);
	int r = wait_for(fd, POLLOUT, now_ms() + CONNECT_TIMEOUT_MS);
	if (r < 0)
		return ck_error_errno(err, -r, "dial tcp %s: connect", hostport);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len) < 0)
		error = errno;
	if (error)
		return ck_error_errno(err, error, "dial tcp %s: connect", hostport);
	keep_alive(fd);
	return steal_fd(&fd);
}

static int send_all(int fd, const struct buf *data, int64_t deadline, const char *hostport,
		    struct ck_error *err)
{
	for (size_t sent = 0; sent < data->len;) {
		ssize_t n = send(fd, data->data + sent, data->len - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		int r = n < 0 && (errno == EAGAIN || errno == EINTR)
			    ? wait_for(fd, POLLOUT, deadline)
			    : -errno;
		if (r < 0)
			return ck_error_errno(err, -r, "write tcp %s", hostport);
	}
	return 0;
}

/* Appends what arrives: the count, 0 at the end, or a negative errno. */
static ssize_t receive(int fd, struct buf *into, size_t max, int64_t deadline)
{
	for (;;) {
		buf_reserve(into, max);
		ssize_t n = recv(fd, into->data + into->len, max, 0);
		if (n >= 0) {
			into->len += (size_t)n;
			into->data[into->len] = '\0';
			return n;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int r = wait_for(fd, POLLIN, deadline);
		if (r < 0)
			return r;
	}
}

/* The value of Content-Length in a head, -1 without one. */
static long long content_length(const char *head, size_t head_len)
{
	static const char name[] = "\r\ncontent-length:";

	for (size_t i = 0; i + sizeof(name) - 1 < head_len; i++)
		if (strncasecmp(head + i, name, sizeof(name) - 1) == 0)
			return strtoll(head + i + sizeof(name) - 1, NULL, 10);
	return -1;
}

/* The body of an answer that is not a 101, as far as MAX_BODY, after its `head_len`. */
static void read_body(int fd, struct buf *received, size_t head_len, struct buf *body,
		      int64_t deadline)
{
	long long want = content_length(received->data, head_len);

	if (want < 0 || want > MAX_BODY)
		want = MAX_BODY;
	while (received->len - head_len < (size_t)want)
		if (receive(fd, received, MAX_BODY, deadline) <= 0)
			break;
	size_t have = received->len - head_len;
	buf_append(body, received->data + head_len, have < (size_t)want ? have : (size_t)want);
}

static void request_head(const struct node_dial_request *request, const char *hostport,
			 const char *key, struct buf *out)
{
	_cleanup_free_ char *authorization = NULL;

	if (asprintf(&authorization, "Authorization: Bearer %s", request->token) < 0)
		abort();
	if (request->protocol) {
		const char *protocols[] = {request->protocol, NULL};
		const char *headers[] = {authorization, NULL};
		websocket_client_request(out, hostport, request->target, key, protocols, headers);
		return;
	}
	buf_printf(out, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\nConnection: close\r\n\r\n",
		   request->target, hostport, authorization);
}

int node_dial(const struct node_dial_request *request, struct node_dial_result *out,
	      struct ck_error *err)
{
	_cleanup_free_ char *hostport = NULL;
	_cleanup_buf_ struct buf head = {0};
	_cleanup_buf_ struct buf received = {0};
	char key[WEBSOCKET_KEY_SIZE] = "";
	int64_t deadline = now_ms() + ANSWER_TIMEOUT_MS;

	*out = (struct node_dial_result){.fd = -1};
	if (asprintf(&hostport, strchr(request->host, ':') ? "[%s]:%d" : "%s:%d", request->host,
		     request->port) < 0)
		abort();
	if (request->protocol && websocket_client_key(key, err) < 0)
		return -EIO;
	request_head(request, hostport, key, &head);
	_cleanup_close_ int fd = dial(request->host, request->port, hostport, err);
	if (fd < 0)
		return fd;
	int r = send_all(fd, &head, deadline, hostport, err);
	if (r < 0)
		return r;
	const char *protocols[] = {request->protocol, NULL};
	for (;;) {
		const char *chosen;
		ssize_t head_len =
		    websocket_client_response(received.data ? received.data : "", received.len, key,
					      protocols, &out->status, &chosen, err);
		if (head_len > 0 && !chosen)
			return ck_error_set(err, EPROTO,
					    "read tcp %s: the agent switched to WebSocket without "
					    "the subprotocol %s",
					    hostport, request->protocol);
		if (head_len > 0) {
			buf_append(&out->rest, received.data + head_len,
				   received.len - (size_t)head_len);
			out->fd = steal_fd(&fd);
			return 0;
		}
		if (head_len == -ECONNREFUSED) {
			const char *end = memmem(received.data, received.len, "\r\n\r\n", 4);
			read_body(fd, &received, (size_t)(end - received.data) + 4, &out->body,
				  deadline);
			return 0;
		}
		if (head_len < 0)
			return ck_error_prefix(err, "read tcp %s", hostport);
		ssize_t n = receive(fd, &received, MAX_HEAD, deadline);
		if (n == 0)
			return ck_error_set(err, ECONNRESET,
					    "read tcp %s: the agent closed the "
					    "connection without an answer",
					    hostport);
		if (n < 0)
			return ck_error_errno(err, (int)-n, "read tcp %s", hostport);
	}
}

void node_dial_result_free(struct node_dial_result *result)
{
	if (result->fd >= 0)
		close(result->fd);
	result->fd = -1;
	buf_free(&result->rest);
	buf_free(&result->body);
}
