/* ckbench: the measurements of bench/run.sh that wrk cannot make. `fill` stores an exact number
 * of pods (wrk runs for a time, not a count), `watch` measures how late watch events reach many
 * watchers, `port` picks a free loopback port. Everything talks plain HTTP/1.1 over keep-alive
 * loopback sockets so that the client adds as little as possible to what is measured. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define POD_PATH "/api/v1/namespaces/default/pods"
/* No event may take longer than this; past it the run reports the missing events and fails. */
#define EVENT_DEADLINE_NS (10LL * 1000 * 1000 * 1000)

static unsigned server_port;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ckbench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		die("clock_gettime: %s", strerror(errno));
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *xrealloc(void *ptr, size_t size)
{
	void *grown = realloc(ptr, size);
	if (!grown)
		die("out of memory");
	return grown;
}

static unsigned parse_count(const char *text, const char *what)
{
	char *end;
	errno = 0;
	unsigned long value = strtoul(text, &end, 10);
	if (errno || !*text || *end || value == 0 || value > 10000000)
		die("%s: want a positive number, got \"%s\"", what, text);
	return (unsigned)value;
}

/* A growable byte buffer for what a socket delivered but nobody consumed yet. */
struct bytes {
	char *data;
	size_t len, cap;
};

static void bytes_append(struct bytes *b, const char *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void bytes_consume(struct bytes *b, size_t len)
{
	memmove(b->data, b->data + len, b->len - len);
	b->len -= len;
	if (b->data)
		b->data[b->len] = '\0';
}

static int connect_server(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)server_port)};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("connect to 127.0.0.1:%u: %s", server_port, strerror(errno));
	/* Requests are single small writes; Nagle would only hold them back. */
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		die("setsockopt TCP_NODELAY: %s", strerror(errno));
	return fd;
}

/* Sockets stay blocking so that a request is always written whole; reads use MSG_DONTWAIT and
 * are driven by epoll, so nothing waits on one connection while another has data. */
static void send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("send: %s", strerror(errno));
		}
		data += n;
		len -= (size_t)n;
	}
}

/* Reads what the socket has now; returns false when the server closed the connection. */
static bool receive_available(int fd, struct bytes *in)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n > 0) {
			bytes_append(in, chunk, (size_t)n);
			continue;
		}
		if (n == 0)
			return false;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return true;
		die("recv: %s", strerror(errno));
	}
}

static void send_create(int fd, const char *name_field)
{
	char body[512], request[1024];
	int body_len =
	    snprintf(body, sizeof(body),
		     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{%s},"
		     "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
		     name_field);
	int len = snprintf(request, sizeof(request),
			   "POST " POD_PATH " HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
			   "Content-Type: application/json\r\nAccept: application/json\r\n"
			   "Content-Length: %d\r\n\r\n%s",
			   server_port, body_len, body);
	if (body_len >= (int)sizeof(body) || len >= (int)sizeof(request))
		die("create request too long");
	send_all(fd, request, (size_t)len);
}

static void send_get(int fd, const char *path)
{
	char request[1024];
	int len =
	    snprintf(request, sizeof(request),
		     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAccept: application/json\r\n\r\n",
		     path, server_port);
	if (len >= (int)sizeof(request))
		die("GET request too long");
	send_all(fd, request, (size_t)len);
}

/* The value of one header in a header block that ends with an empty line, or NULL. */
static const char *find_header(const char *headers, const char *name, size_t *value_len)
{
	size_t name_len = strlen(name);
	const char *line = strstr(headers, "\r\n");
	while (line && line[2] != '\r') {
		line += 2;
		const char *end = strstr(line, "\r\n");
		if (!end)
			return NULL;
		if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
			const char *value = line + name_len + 1;
			while (*value == ' ' || *value == '\t')
				value++;
			*value_len = (size_t)(end - value);
			return value;
		}
		line = end;
	}
	return NULL;
}

/* Parses the status line and headers at the start of in. Returns the header block's length
 * and the status code, or 0 while the block is incomplete. */
static size_t parse_head(const struct bytes *in, int *status)
{
	if (!in->len)
		return 0;
	const char *end = strstr(in->data, "\r\n\r\n");
	if (!end)
		return 0;
	if (strncmp(in->data, "HTTP/1.1 ", 9) != 0 && strncmp(in->data, "HTTP/1.0 ", 9) != 0)
		die("malformed response: %.40s", in->data);
	*status = atoi(in->data + 9);
	return (size_t)(end - in->data) + 4;
}

/* One whole response with a Content-Length at the start of in: returns its total length and
 * sets status and body, or returns 0 while it is still arriving. */
static size_t parse_response(const struct bytes *in, int *status, const char **body,
			     size_t *body_len)
{
	size_t head_len = parse_head(in, status);
	if (!head_len)
		return 0;
	size_t value_len;
	const char *length = find_header(in->data, "Content-Length", &value_len);
	if (!length)
		die("response %d without Content-Length", *status);
	size_t content_length = strtoull(length, NULL, 10);
	if (in->len < head_len + content_length)
		return 0;
	*body = in->data + head_len;
	*body_len = content_length;
	return head_len + content_length;
}

static int cmd_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	struct sockaddr_in addr = {.sin_family = AF_INET};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(addr);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		die("pick a free port: %s", strerror(errno));
	printf("%u\n", ntohs(addr.sin_port));
	if (close(fd) < 0)
		die("close: %s", strerror(errno));
	return 0;
}

/* fill: COUNT creates over CONNS keep-alive connections, each with one request in flight,
 * which is how a set of API clients would create pods. */
struct fill_conn {
	int fd;
	struct bytes in;
};

static int cmd_fill(int argc, char **argv)
{
	if (argc != 4)
		die("usage: ckbench fill PORT COUNT CONNECTIONS PREFIX");
	unsigned count = parse_count(argv[1], "COUNT");
	unsigned conns = parse_count(argv[2], "CONNECTIONS");
	char name_field[128];
	snprintf(name_field, sizeof(name_field), "\"generateName\":\"%s\"", argv[3]);
	if (conns > count)
		conns = count;

	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	struct fill_conn *all = calloc(conns, sizeof(*all));
	if (!all)
		die("out of memory");
	unsigned sent = 0, done = 0;
	int64_t start = now_ns();
	for (unsigned i = 0; i < conns; i++) {
		all[i].fd = connect_server();
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, all[i].fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
		send_create(all[i].fd, name_field);
		sent++;
	}
	while (done < count) {
		struct epoll_event events[64];
		int n = epoll_wait(epfd, events, 64, 30000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait: %s", strerror(errno));
		if (n == 0)
			die("fill: no answer for 30 s after %u of %u creates", done, count);
		for (int e = 0; e < n; e++) {
			struct fill_conn *c = &all[events[e].data.u32];
			bool open = receive_available(c->fd, &c->in);
			int status;
			const char *body;
			size_t body_len, total;
			while ((total = parse_response(&c->in, &status, &body, &body_len))) {
				if (status != 201)
					die("fill: create answered %d: %.*s", status,
					    (int)(body_len > 300 ? 300 : body_len), body);
				bytes_consume(&c->in, total);
				done++;
				if (sent < count) {
					send_create(c->fd, name_field);
					sent++;
				}
			}
			if (!open && done < count)
				die("fill: the server closed a connection after %u creates", done);
		}
	}
	double seconds = (double)(now_ns() - start) / 1e9;
	printf("created %u pods in %.3f s: %.0f creates/s\n", count, seconds, count / seconds);
	for (unsigned i = 0; i < conns; i++) {
		if (close(all[i].fd) < 0)
			die("close: %s", strerror(errno));
		free(all[i].in.data);
	}
	free(all);
	if (close(epfd) < 0)
		die("close: %s", strerror(errno));
	return 0;
}

/* watch: one request at a time creates a pod while WATCHERS watch streams are open; each
 * watcher's ADDED event is timed against the moment the create's response was read. */
struct watcher {
	int fd;
	struct bytes in;   /* raw bytes off the socket */
	struct bytes line; /* de-chunked stream data up to the next newline */
	bool streaming;    /* the response head is through */
	size_t chunk_left; /* bytes of the current chunk still to come, 0 between chunks */
	bool chunk_crlf;   /* the CRLF after a chunk's data is still to come */
};

struct watch_run {
	unsigned watchers, creates;
	const char *run_id;
	char name_prefix[64]; /* "wlat-<run>-" */
	int64_t *seen;        /* [create * watchers + watcher]: when the event arrived, or 0 */
	unsigned *seen_count; /* per create: how many watchers have its event */
	unsigned warm_seen;   /* watchers that have the warm-up pod's event */
	bool ended;           /* a watch stream ended early */
};

static void record_event(struct watch_run *run, unsigned watcher, const char *line, int64_t at)
{
	if (strncmp(line, "{\"type\":\"ADDED\"", 15) != 0)
		return;
	char needle[96];
	snprintf(needle, sizeof(needle), "\"name\":\"%s", run->name_prefix);
	const char *name = strstr(line, needle);
	if (!name)
		return;
	name += strlen(needle);
	if (*name == 'w') {
		run->warm_seen++;
		return;
	}
	char *end;
	unsigned long seq = strtoul(name, &end, 10);
	if (end == name || *end != '"' || seq >= run->creates)
		return;
	int64_t *slot = &run->seen[seq * run->watchers + watcher];
	if (*slot)
		return;
	*slot = at;
	run->seen_count[seq]++;
}

/* Moves what arrived on a watch stream through the chunked decoder and hands over each whole
 * event line. */
static void watcher_process(struct watch_run *run, unsigned index, struct watcher *w, int64_t at)
{
	if (!w->streaming) {
		int status;
		size_t head_len = parse_head(&w->in, &status);
		if (!head_len)
			return;
		if (status != 200)
			die("watch answered %d: %.300s", status, w->in.data + head_len);
		size_t value_len;
		const char *te = find_header(w->in.data, "Transfer-Encoding", &value_len);
		if (!te || strncasecmp(te, "chunked", 7) != 0)
			die("watch response is not chunked");
		bytes_consume(&w->in, head_len);
		w->streaming = true;
	}
	size_t pos = 0;
	while (pos < w->in.len) {
		if (w->chunk_crlf) {
			if (w->in.len - pos < 2)
				break;
			pos += 2;
			w->chunk_crlf = false;
			continue;
		}
		if (!w->chunk_left) {
			const char *eol = strstr(w->in.data + pos, "\r\n");
			if (!eol)
				break;
			size_t size = strtoull(w->in.data + pos, NULL, 16);
			pos = (size_t)(eol - w->in.data) + 2;
			if (!size) {
				run->ended = true;
				pos = w->in.len;
				break;
			}
			w->chunk_left = size;
			continue;
		}
		size_t take = w->in.len - pos;
		if (take > w->chunk_left)
			take = w->chunk_left;
		const char *data = w->in.data + pos;
		const char *newline;
		while ((newline = memchr(data, '\n', take))) {
			size_t part = (size_t)(newline - data) + 1;
			bytes_append(&w->line, data, part - 1);
			record_event(run, index, w->line.data, at);
			w->line.len = 0;
			data += part;
			take -= part;
			pos += part;
			w->chunk_left -= part;
		}
		bytes_append(&w->line, data, take);
		pos += take;
		w->chunk_left -= take;
		if (!w->chunk_left)
			w->chunk_crlf = true;
	}
	bytes_consume(&w->in, pos);
}

static int compare_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static int64_t percentile(const int64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	return sorted[rank > n ? n - 1 : rank - 1];
}

/* The list's own resourceVersion: where the watches start, so they carry no initial events. */
static char *current_revision(void)
{
	int fd = connect_server();
	send_get(fd, POD_PATH "?limit=1");
	struct bytes in = {0};
	int status;
	const char *body;
	size_t body_len, total = 0;
	while (!(total = parse_response(&in, &status, &body, &body_len))) {
		char chunk[16384];
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("list pods: %s", n ? strerror(errno) : "connection closed");
		bytes_append(&in, chunk, (size_t)n);
	}
	if (status != 200)
		die("list pods answered %d", status);
	const char *key = "\"resourceVersion\":\"";
	const char *rv = strstr(body, key);
	if (!rv)
		die("list pods: no resourceVersion");
	rv += strlen(key);
	char *out = strndup(rv, strcspn(rv, "\""));
	if (!out)
		die("out of memory");
	free(in.data);
	if (close(fd) < 0)
		die("close: %s", strerror(errno));
	return out;
}

/* The connection that creates pods, and the answer to its one request in flight. */
struct creator {
	int fd;
	struct bytes in;
	int64_t answered_at; /* 0 while the answer is still to come */
};

static void creator_send(struct creator *c, const char *name_field)
{
	c->answered_at = 0;
	send_create(c->fd, name_field);
}

/* Reads the create's answer; it is timed as soon as its last byte is read, before the other
 * connections of the same wake-up are looked at. */
static void creator_process(struct creator *c)
{
	if (!receive_available(c->fd, &c->in))
		die("the server closed the create connection");
	int status;
	const char *body;
	size_t body_len;
	size_t total = parse_response(&c->in, &status, &body, &body_len);
	if (!total)
		return;
	if (c->answered_at)
		die("an answer came to no request");
	c->answered_at = now_ns();
	if (status != 201)
		die("create answered %d: %.*s", status, (int)(body_len > 300 ? 300 : body_len),
		    body);
	bytes_consume(&c->in, total);
}

/* Waits up to timeout_ms for data and hands what arrived to the watchers and the creator. */
static void pump(int epfd, struct watch_run *run, struct watcher *watchers, struct creator *creator,
		 int timeout_ms)
{
	struct epoll_event events[128];
	int n = epoll_wait(epfd, events, 128, timeout_ms);
	if (n < 0 && errno == EINTR)
		return;
	if (n < 0)
		die("epoll_wait: %s", strerror(errno));
	for (int e = 0; e < n; e++) {
		unsigned slot = events[e].data.u32;
		if (slot == run->watchers) {
			creator_process(creator);
			continue;
		}
		struct watcher *w = &watchers[slot];
		bool open = receive_available(w->fd, &w->in);
		watcher_process(run, slot, w, now_ns());
		if (!open || run->ended)
			die("watch stream %u ended early", slot);
	}
}

static int cmd_watch(int argc, char **argv)
{
	if (argc != 4)
		die("usage: ckbench watch PORT WATCHERS CREATES RUN_ID");
	struct watch_run run = {
	    .watchers = parse_count(argv[1], "WATCHERS"),
	    .creates = parse_count(argv[2], "CREATES"),
	    .run_id = argv[3],
	};
	snprintf(run.name_prefix, sizeof(run.name_prefix), "wlat-%s-", run.run_id);
	run.seen = calloc((size_t)run.creates * run.watchers, sizeof(*run.seen));
	run.seen_count = calloc(run.creates, sizeof(*run.seen_count));
	int64_t *sent_at = calloc(run.creates, sizeof(*sent_at));
	int64_t *answered_at = calloc(run.creates, sizeof(*answered_at));
	struct watcher *watchers = calloc(run.watchers, sizeof(*watchers));
	if (!run.seen || !run.seen_count || !sent_at || !answered_at || !watchers)
		die("out of memory");

	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	char *revision = current_revision();
	char path[256];
	snprintf(path, sizeof(path), POD_PATH "?watch=true&resourceVersion=%s", revision);
	free(revision);
	for (unsigned i = 0; i < run.watchers; i++) {
		watchers[i].fd = connect_server();
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, watchers[i].fd, &ev) < 0)
			die("epoll_ctl: %s", strerror(errno));
		send_get(watchers[i].fd, path);
	}
	struct creator creator = {.fd = connect_server()};
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = run.watchers};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, creator.fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));

	/* A watch request is only surely registered once it has delivered an event: the warm-up
	 * pod proves all of them are before anything is timed. */
	char name_field[160];
	snprintf(name_field, sizeof(name_field), "\"name\":\"%sw\"", run.name_prefix);
	creator_send(&creator, name_field);
	int64_t deadline = now_ns() + EVENT_DEADLINE_NS;
	while (!creator.answered_at || run.warm_seen < run.watchers) {
		if (now_ns() > deadline)
			die("warm-up: %u of %u watchers saw the first pod", run.warm_seen,
			    run.watchers);
		pump(epfd, &run, watchers, &creator, 100);
	}

	unsigned missing = 0;
	for (unsigned seq = 0; seq < run.creates; seq++) {
		snprintf(name_field, sizeof(name_field), "\"name\":\"%s%u\"", run.name_prefix, seq);
		sent_at[seq] = now_ns();
		creator_send(&creator, name_field);
		deadline = sent_at[seq] + EVENT_DEADLINE_NS;
		while (!creator.answered_at || run.seen_count[seq] < run.watchers) {
			int64_t left_ms = (deadline - now_ns()) / 1000000;
			if (left_ms <= 0)
				break;
			pump(epfd, &run, watchers, &creator, (int)left_ms);
		}
		if (!creator.answered_at)
			die("create %u got no answer in %lld s", seq,
			    EVENT_DEADLINE_NS / 1000000000);
		answered_at[seq] = creator.answered_at;
		missing += run.watchers - run.seen_count[seq];
	}

	/* Events that beat the create's response to the client count as no delay, and are counted
	 * apart so that the report shows how often that happens. */
	size_t n = 0, early = 0;
	int64_t *after_answer = calloc((size_t)run.creates * run.watchers, sizeof(int64_t));
	int64_t *after_send = calloc((size_t)run.creates * run.watchers, sizeof(int64_t));
	int64_t *round_trip = calloc(run.creates, sizeof(int64_t));
	if (!after_answer || !after_send || !round_trip)
		die("out of memory");
	for (unsigned seq = 0; seq < run.creates; seq++) {
		round_trip[seq] = answered_at[seq] - sent_at[seq];
		for (unsigned w = 0; w < run.watchers; w++) {
			int64_t at = run.seen[(size_t)seq * run.watchers + w];
			if (!at)
				continue;
			int64_t delay = at - answered_at[seq];
			if (delay < 0) {
				early++;
				delay = 0;
			}
			after_answer[n] = delay;
			after_send[n] = at - sent_at[seq];
			n++;
		}
	}
	if (!n)
		die("no watch event arrived");
	qsort(after_answer, n, sizeof(int64_t), compare_i64);
	qsort(after_send, n, sizeof(int64_t), compare_i64);
	qsort(round_trip, run.creates, sizeof(int64_t), compare_i64);
	printf("samples=%zu missing=%u early=%zu p50_us=%.1f p99_us=%.1f max_us=%.1f "
	       "send_p50_us=%.1f send_p99_us=%.1f create_p50_us=%.1f\n",
	       n, missing, early, percentile(after_answer, n, 50) / 1e3,
	       percentile(after_answer, n, 99) / 1e3, after_answer[n - 1] / 1e3,
	       percentile(after_send, n, 50) / 1e3, percentile(after_send, n, 99) / 1e3,
	       percentile(round_trip, run.creates, 50) / 1e3);

	for (unsigned i = 0; i < run.watchers; i++) {
		if (close(watchers[i].fd) < 0)
			die("close: %s", strerror(errno));
		free(watchers[i].in.data);
		free(watchers[i].line.data);
	}
	if (close(creator.fd) < 0 || close(epfd) < 0)
		die("close: %s", strerror(errno));
	free(creator.in.data);
	free(watchers);
	free(run.seen);
	free(run.seen_count);
	free(sent_at);
	free(answered_at);
	free(after_answer);
	free(after_send);
	free(round_trip);
	return missing ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "port") == 0)
		return cmd_port();
	if (argc < 3)
		die("usage: ckbench port | fill PORT COUNT CONNECTIONS PREFIX | "
		    "watch PORT WATCHERS CREATES RUN_ID");
	server_port = parse_count(argv[2], "PORT");
	if (server_port > 65535)
		die("PORT: %u is not a port", server_port);
	if (strcmp(argv[1], "fill") == 0)
		return cmd_fill(argc - 2, argv + 2);
	if (strcmp(argv[1], "watch") == 0)
		return cmd_watch(argc - 2, argv + 2);
	die("unknown command %s", argv[1]);
}
