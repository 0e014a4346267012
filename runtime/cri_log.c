/* The container log pump: a reader thread moves pipe output into memory as soon as it arrives,
 * a writer thread turns it into CRI records and appends them to the files, rotating them.
 *
 * Ownership, so that neither thread needs the lock for its own work:
 *   - the reader owns the pipe descriptors and the epoll set;
 *   - the writer owns the log files, the partial lines and the file sizes;
 *   - everything they hand each other (chunks, requests, pause and end states) is under
 *     pump->lock.
 * A stream is freed only by log_stream_close or log_pump_stop, and only once neither thread
 * can reach it any more: all its pipes finished by the reader, all its chunks written by the
 * writer, and no request of it left for the reader. */
#include "runtime/cri_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define DEFAULT_MAX_SIZE (10 * 1024 * 1024)
#define DEFAULT_MAX_FILES 5
#define DEFAULT_BUFFER_LIMIT (8 * 1024 * 1024)

/* The default pipe capacity: one read empties a full pipe. */
#define READ_SIZE (64 * 1024)
/* Reads of one pipe per readiness report before the others get their turn. */
#define READS_PER_EVENT 4
#define MAX_EVENTS 64
/* Bytes the writer takes from one stream per turn, so that a busy container cannot hold up the
 * files of the others. */
#define WRITE_BATCH (1024 * 1024)
/* Formatted bytes collected before one write(): large writes, bounded memory. */
#define FLUSH_SIZE (1024 * 1024)

/* "2026-11-25T15:04:05.123456789Z" */
#define TIMESTAMP_LENGTH 30
/* Stream names are "stdout" and "stderr"; anything longer is cut to this. */
#define STREAM_NAME_MAX 16

enum reader_request {
	REQUEST_START = 1 << 0,  /* put the pipes in the epoll set */
	REQUEST_RESUME = 1 << 1, /* the writer drained a paused stream below half its limit */
	REQUEST_CLOSE = 1 << 2,  /* log_stream_close: stop reading */
};

/* What one read() returned, with the time it was read. A chunk without data that is `final`
 * marks the end of its pipe, so that the writer flushes that pipe's partial line. */
struct log_chunk {
	struct log_chunk *next;
	struct log_source *source;
	struct timespec when;
	bool final;
	size_t len;
	char data[];
};

struct log_source {
	struct log_stream *stream;
	const char *name; /* "stdout" or "stderr" */
	int fd;           /* the reader's; -1 once finished */
	struct buf partial;
};

struct log_stream {
	struct log_pump *pump;
	char *path;
	struct log_source sources[2];

	/* The writer's. */
	int file_fd;
	int64_t file_size; /* counted against max_size; see rotate_file */
	int sources_left;  /* pipes whose final chunk the writer has not seen yet */
	bool write_failing;

	/* Under pump->lock. */
	struct log_chunk *head, *tail;
	size_t buffered;   /* chunk_cost of what is read and not yet written, batch included */
	int open_sources;  /* pipes the reader still reads (or would, when resumed) */
	bool paused;       /* out of the epoll set because `buffered` reached the limit */
	bool finished;     /* every pipe ended and everything is written */
	unsigned requests; /* enum reader_request bits */
	bool in_todo;
	struct log_stream *todo_next;
	bool in_work;
	struct log_stream *work_next;
	struct log_stream *prev, *next; /* every stream of the pump */
};

struct log_pump {
	struct log_pump_options options;
	int epoll_fd;
	int wake_fd; /* eventfd: requests for the reader are waiting */
	char *scratch;
	pthread_t reader, writer;
	bool reader_started, writer_started;

	pthread_mutex_t lock;
	pthread_cond_t work_cond; /* the writer waits for chunks */
	pthread_cond_t done_cond; /* streams finishing; CLOCK_MONOTONIC for log_stream_wait */
	struct log_stream *streams;
	struct log_stream *todo;
	struct log_stream *work_head, *work_tail;
	bool stopping;
	bool reader_exited;
};

/* --- the format ------------------------------------------------------------------------- */

/* "<timestamp> <stream> ", shared by every record of one chunk. */
static size_t format_header(char *out, size_t size, const char *stream, const struct timespec *when)
{
	struct tm utc;
	gmtime_r(&when->tv_sec, &utc);
	int n = snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %.*s ",
			 utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
			 utc.tm_sec, when->tv_nsec, STREAM_NAME_MAX, stream);
	return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

static void append_record(struct buf *out, const char *header, size_t header_len, char tag,
			  const char *content, size_t len)
{
	buf_reserve(out, header_len + 2 + len + 1);
	char *p = out->data + out->len;
	memcpy(p, header, header_len);
	p += header_len;
	*p++ = tag;
	*p++ = ' ';
	if (len)
		memcpy(p, content, len);
	p += len;
	*p++ = '\n';
	*p = '\0';
	out->len = (size_t)(p - out->data);
}

/* A whole line: P records for each full CRI_LOG_MAX_LINE piece while more follows, then F. Like
 * containerd, a "\r" before the newline is part of the line ending, not of the content. */
static void append_line(struct buf *out, const char *header, size_t header_len, const char *content,
			size_t len, bool strip_cr)
{
	if (strip_cr && len && content[len - 1] == '\r')
		len--;
	while (len > CRI_LOG_MAX_LINE) {
		append_record(out, header, header_len, 'P', content, CRI_LOG_MAX_LINE);
		content += CRI_LOG_MAX_LINE;
		len -= CRI_LOG_MAX_LINE;
	}
	append_record(out, header, header_len, 'F', content, len);
}

/* A line still without its newline is held back, but never more than CRI_LOG_MAX_LINE of it:
 * beyond that its first pieces are certainly P records. A trailing "\r" does not count yet,
 * since it may be the start of "\r\n". */
static void append_long_partial(struct buf *out, const char *header, size_t header_len,
				struct buf *partial)
{
	size_t done = 0;
	for (;;) {
		size_t left = partial->len - done;
		size_t certain = left - (partial->data[partial->len - 1] == '\r');
		if (certain <= CRI_LOG_MAX_LINE)
			break;
		append_record(out, header, header_len, 'P', partial->data + done, CRI_LOG_MAX_LINE);
		done += CRI_LOG_MAX_LINE;
	}
	if (!done)
		return;
	memmove(partial->data, partial->data + done, partial->len - done);
	partial->len -= done;
	partial->data[partial->len] = '\0';
}

void cri_log_format(struct buf *out, struct buf *partial, const char *stream,
		    const struct timespec *when, const char *data, size_t len, bool final)
{
	char header[TIMESTAMP_LENGTH + STREAM_NAME_MAX + 8];
	size_t header_len = format_header(header, sizeof(header), stream, when);
	const char *end = data + len;
	while (data < end) {
		const char *newline = memchr(data, '\n', (size_t)(end - data));
		if (!newline) {
			buf_append(partial, data, (size_t)(end - data));
			append_long_partial(out, header, header_len, partial);
			break;
		}
		if (partial->len) {
			buf_append(partial, data, (size_t)(newline - data));
			append_line(out, header, header_len, partial->data, partial->len, true);
			buf_reset(partial);
		} else {
			append_line(out, header, header_len, data, (size_t)(newline - data), true);
		}
		data = newline + 1;
	}
	/* F, not containerd's P: see the header. */
	if (final && partial->len) {
		append_line(out, header, header_len, partial->data, partial->len, false);
		buf_reset(partial);
	}
}

/* --- shared state ----------------------------------------------------------------------- */

static void wake_reader(struct log_pump *pump)
{
	uint64_t one = 1;
	/* A full counter (EAGAIN) already means "wake up". */
	while (write(pump->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Under the lock. */
static void request_reader(struct log_pump *pump, struct log_stream *stream,
			   enum reader_request request)
{
	stream->requests |= request;
	if (!stream->in_todo) {
		stream->in_todo = true;
		stream->todo_next = pump->todo;
		pump->todo = stream;
	}
	wake_reader(pump);
}

/* Under the lock. */
static void queue_for_writer(struct log_pump *pump, struct log_stream *stream)
{
	if (stream->in_work)
		return;
	stream->in_work = true;
	stream->work_next = NULL;
	if (pump->work_tail)
		pump->work_tail->work_next = stream;
	else
		pump->work_head = stream;
	pump->work_tail = stream;
	pthread_cond_signal(&pump->work_cond);
}

/* What a chunk counts against the buffer limit: its header too, or a container writing a byte
 * at a time could make the pump hold fifty times the limit. */
static size_t chunk_cost(const struct log_chunk *chunk)
{
	return sizeof(*chunk) + chunk->len;
}

/* Under the lock. */
static void enqueue_chunk(struct log_pump *pump, struct log_stream *stream, struct log_chunk *chunk)
{
	chunk->next = NULL;
	if (stream->tail)
		stream->tail->next = chunk;
	else
		stream->head = chunk;
	stream->tail = chunk;
	stream->buffered += chunk_cost(chunk);
	queue_for_writer(pump, stream);
}

static void free_chunks(struct log_chunk *chunk)
{
	while (chunk) {
		struct log_chunk *next = chunk->next;
		free(chunk);
		chunk = next;
	}
}

/* --- the reader ------------------------------------------------------------------------- */

static int watch_source(struct log_pump *pump, struct log_source *source)
{
	struct epoll_event event = {.events = EPOLLIN, .data.ptr = source};
	return epoll_ctl(pump->epoll_fd, EPOLL_CTL_ADD, source->fd, &event);
}

/* Pausing removes the pipe from the set instead of clearing its events: epoll reports hang-ups
 * whatever the mask, and a container that exited while paused would keep the reader spinning. */
static void unwatch_source(struct log_pump *pump, struct log_source *source)
{
	epoll_ctl(pump->epoll_fd, EPOLL_CTL_DEL, source->fd, NULL);
}

/* Under the lock: the pipe ended (or reading stops); the writer flushes its partial line. */
static void finish_source(struct log_pump *pump, struct log_source *source)
{
	struct log_stream *stream = source->stream;
	if (!stream->paused)
		unwatch_source(pump, source);
	close(source->fd);
	source->fd = -1;
	struct log_chunk *end = calloc(1, sizeof(*end));
	if (!end) {
		fprintf(stderr, "out of memory ending a log stream\n");
		abort();
	}
	end->source = source;
	end->final = true;
	clock_gettime(CLOCK_REALTIME, &end->when); /* the stamp of a flushed partial line */
	enqueue_chunk(pump, stream, end);
	if (--stream->open_sources == 0)
		stream->paused = false; /* nothing left to resume, so the writer asks for nothing */
}

/* Under the lock. */
static void pause_stream(struct log_pump *pump, struct log_stream *stream)
{
	for (int i = 0; i < 2; i++)
		if (stream->sources[i].fd >= 0)
			unwatch_source(pump, &stream->sources[i]);
	stream->paused = true;
}

/* Under the lock. A pipe that cannot be watched again (out of kernel memory) is given up
 * rather than left unread, which would leave log_stream_wait waiting forever. */
static void watch_stream(struct log_pump *pump, struct log_stream *stream)
{
	stream->paused = false;
	for (int i = 0; i < 2; i++) {
		struct log_source *source = &stream->sources[i];
		if (source->fd < 0 || watch_source(pump, source) == 0)
			continue;
		log_warn("log %s: watch %s: %s", stream->path, source->name, strerror(errno));
		finish_source(pump, source);
	}
}

static struct log_chunk *new_chunk(struct log_source *source, const char *data, size_t len)
{
	struct log_chunk *chunk = malloc(sizeof(*chunk) + len);
	if (!chunk) {
		fprintf(stderr, "out of memory holding %zu bytes of container output\n", len);
		abort();
	}
	chunk->source = source;
	chunk->final = false;
	chunk->len = len;
	clock_gettime(CLOCK_REALTIME, &chunk->when);
	memcpy(chunk->data, data, len);
	return chunk;
}

/* Under the lock: how much the next read may take so that the stream stays within its limit;
 * 0 when it must pause. A stream holding nothing may always read a byte, so that even a limit
 * smaller than a chunk header lets output through. */
static size_t read_room(const struct log_pump *pump, const struct log_stream *stream)
{
	size_t used = stream->buffered + sizeof(struct log_chunk);
	if (used >= pump->options.buffer_limit)
		return stream->buffered ? 0 : 1;
	size_t room = pump->options.buffer_limit - used;
	return room < READ_SIZE ? room : READ_SIZE;
}

/* Reads what the pipe has, never more than the stream may still hold, and pauses the stream
 * when its limit is reached. */
static void read_source(struct log_pump *pump, struct log_source *source)
{
	struct log_stream *stream = source->stream;
	pthread_mutex_lock(&pump->lock);
	/* A report from the same epoll_wait batch may come after the stream paused or ended. */
	bool skip = stream->paused || source->fd < 0;
	size_t room = skip ? 0 : read_room(pump, stream);
	/* The end marker of the other pipe can take the last room. */
	if (!skip && !room)
		pause_stream(pump, stream);
	pthread_mutex_unlock(&pump->lock);
	if (!room)
		return;
	for (int reads = 0; reads < READS_PER_EVENT;) {
		ssize_t n = read(source->fd, pump->scratch, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0)
			log_warn("log %s: read %s: %s", stream->path, source->name,
				 strerror(errno));
		pthread_mutex_lock(&pump->lock);
		if (n <= 0) {
			finish_source(pump, source);
		} else {
			enqueue_chunk(pump, stream, new_chunk(source, pump->scratch, (size_t)n));
			room = read_room(pump, stream);
			if (!room)
				pause_stream(pump, stream);
		}
		pthread_mutex_unlock(&pump->lock);
		if (n <= 0 || !room)
			return;
		reads++;
	}
}

/* Under the lock. Returns whether the stream is finished already: log_stream_close waits for it
 * to leave the list. */
static bool apply_request(struct log_pump *pump, struct log_stream *stream)
{
	unsigned requests = stream->requests;
	stream->requests = 0;
	stream->in_todo = false;
	if (requests & REQUEST_START)
		watch_stream(pump, stream);
	if (requests & REQUEST_CLOSE) {
		for (int i = 0; i < 2; i++)
			if (stream->sources[i].fd >= 0)
				finish_source(pump, &stream->sources[i]);
	}
	if ((requests & REQUEST_RESUME) && stream->paused)
		watch_stream(pump, stream);
	return stream->finished;
}

/* Returns whether the pump is stopping. */
static bool handle_requests(struct log_pump *pump)
{
	uint64_t count;
	while (read(pump->wake_fd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&pump->lock);
	bool any_finished = false;
	while (pump->todo) {
		struct log_stream *stream = pump->todo;
		pump->todo = stream->todo_next;
		any_finished |= apply_request(pump, stream);
	}
	if (any_finished)
		pthread_cond_broadcast(&pump->done_cond);
	bool stopping = pump->stopping;
	pthread_mutex_unlock(&pump->lock);
	return stopping;
}

/* Whatever was read is still written; the pipes stay unread from here on. */
static void finish_all_sources(struct log_pump *pump)
{
	pthread_mutex_lock(&pump->lock);
	for (struct log_stream *stream = pump->streams; stream; stream = stream->next)
		for (int i = 0; i < 2; i++)
			if (stream->sources[i].fd >= 0)
				finish_source(pump, &stream->sources[i]);
	pump->reader_exited = true;
	pthread_cond_signal(&pump->work_cond);
	pthread_mutex_unlock(&pump->lock);
}

static void *reader_main(void *arg)
{
	struct log_pump *pump = arg;
	struct epoll_event events[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(pump->epoll_fd, events, MAX_EVENTS, -1);
		/* With our own valid descriptors only a signal (EINTR) can make it fail. */
		if (n < 0)
			continue;
		bool woken = false;
		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr)
				read_source(pump, events[i].data.ptr);
			else
				woken = true;
		}
		/* Requests only after the whole batch: a close could otherwise free a stream that
		 * a later report of the batch still points to. */
		if (woken && handle_requests(pump))
			break;
	}
	finish_all_sources(pump);
	return NULL;
}

/* --- the writer: files and rotation ------------------------------------------------------ */

/* The directory of `path` ("." or "/" when there is no other) and the name in it; free(*dir). */
static int split_path(const char *path, char **dir, const char **base)
{
	const char *slash = strrchr(path, '/');
	*base = slash ? slash + 1 : path;
	*dir = !slash          ? strdup(".")
	       : slash == path ? strdup("/")
			       : strndup(path, (size_t)(slash - path));
	return *dir ? 0 : -ENOMEM;
}

static int open_log_file(const char *path, int64_t *size, struct ck_error *err)
{
	_cleanup_free_ char *dir = NULL;
	const char *base;
	if (split_path(path, &dir, &base) < 0)
		return ck_error_set(err, ENOMEM, "log %s: out of memory", path);
	if (fs_mkdir_p(dir, 0755, err) < 0)
		return ck_error_prefix(err, "log %s", path);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return ck_error_errno(err, errno, "log %s: open", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ck_error_errno(err, errno, "log %s: stat", path);
	*size = st.st_size;
	return steal_fd(&fd);
}

/* Whether `name` is "<base>.<YYYYMMDD-HHMMSS>" or "<base>.<YYYYMMDD-HHMMSS>.<n>"; anything
 * else in the directory is not ours (to read or to remove). */
static bool parse_rotated_name(const char *name, const char *base, struct cri_log_rotated *file)
{
	size_t base_len = strlen(base);
	if (strncmp(name, base, base_len) != 0 || name[base_len] != '.')
		return false;
	const char *stamp = name + base_len + 1;
	for (int i = 0; i < 15; i++) {
		bool ok = i == 8 ? stamp[i] == '-' : stamp[i] >= '0' && stamp[i] <= '9';
		if (!ok)
			return false;
	}
	const char *rest = stamp + 15;
	file->n = 0;
	if (*rest) {
		char *end;
		if (rest[0] != '.' || rest[1] < '0' || rest[1] > '9')
			return false;
		errno = 0;
		file->n = strtoul(rest + 1, &end, 10);
		if (*end || errno)
			return false;
	}
	memcpy(file->stamp, stamp, 15);
	file->stamp[15] = '\0';
	return true;
}

static int compare_rotated(const void *a, const void *b)
{
	const struct cri_log_rotated *x = a, *y = b;
	int order = strcmp(x->stamp, y->stamp);
	if (order)
		return order;
	return x->n < y->n ? -1 : x->n > y->n;
}

void cri_log_rotated_free(struct cri_log_rotated *files, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(files[i].name);
	free(files);
}

int cri_log_list_rotated(DIR *dir, const char *base, struct cri_log_rotated **out, size_t *count)
{
	struct cri_log_rotated *files = NULL;
	size_t used = 0, cap = 0;
	struct dirent *entry;

	*out = NULL;
	*count = 0;
	while ((entry = readdir(dir))) {
		struct cri_log_rotated file;
		if (!parse_rotated_name(entry->d_name, base, &file))
			continue;
		if (used == cap) {
			cap = cap ? 2 * cap : 8;
			struct cri_log_rotated *grown = realloc(files, cap * sizeof(*files));
			if (!grown)
				break;
			files = grown;
		}
		file.name = strdup(entry->d_name);
		if (!file.name)
			break;
		files[used++] = file;
	}
	if (entry) {
		cri_log_rotated_free(files, used);
		return -ENOMEM;
	}
	if (used)
		qsort(files, used, sizeof(*files), compare_rotated);
	*out = files;
	*count = used;
	return 0;
}

/* The name for the next rotated file: "<base>.<YYYYMMDD-HHMMSS>" of `now` in UTC, with ".<n>"
 * after the newest rotated file of the same second. It sorts after `newest` even when the clock
 * went back, so that pruning always removes the oldest output, and it is free: only the writer
 * thread makes such names. */
static char *next_rotated_name(const char *base, time_t now, const struct cri_log_rotated *newest)
{
	struct tm utc;
	gmtime_r(&now, &utc);
	char stamp[32];
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &utc);
	unsigned long n = 0;
	if (newest && strcmp(newest->stamp, stamp) >= 0) {
		memcpy(stamp, newest->stamp, sizeof(newest->stamp));
		n = newest->n + 1;
	}
	char *name;
	int ret = n ? asprintf(&name, "%s.%s.%lu", base, stamp, n)
		    : asprintf(&name, "%s.%s", base, stamp);
	return ret < 0 ? NULL : name;
}

static bool reopen_file(struct log_stream *stream)
{
	struct ck_error err = {0};
	int64_t size;
	int fd = open_log_file(stream->path, &size, &err);
	if (fd < 0) {
		log_warn("rotate: %s", err.message);
		return false;
	}
	close(stream->file_fd);
	stream->file_fd = fd;
	stream->file_size = size;
	return true;
}

/* `files` are the rotated files in `dir`, oldest first. */
static void rotate_in(struct log_stream *stream, DIR *dir, const char *base,
		      const struct cri_log_rotated *files, size_t count)
{
	size_t keep = (size_t)stream->pump->options.max_files - 1;
	_cleanup_free_ char *name =
	    next_rotated_name(base, time(NULL), count ? &files[count - 1] : NULL);
	if (!name) {
		log_warn("log %s: rotate: out of memory", stream->path);
		return;
	}
	bool renamed = renameat(AT_FDCWD, stream->path, dirfd(dir), name) == 0;
	/* A live file removed by someone else needs no renaming, only a new one. */
	if (!renamed && errno != ENOENT) {
		log_warn("log %s: rotate: %s", stream->path, strerror(errno));
		return;
	}
	if (!reopen_file(stream))
		return;
	/* The file just renamed is the newest; with max_files 1 it goes too. */
	size_t total = count + renamed;
	for (size_t i = 0; i + keep < total; i++) {
		const char *old = i < count ? files[i].name : name;
		if (unlinkat(dirfd(dir), old, 0) < 0)
			log_warn("log %s: remove %s: %s", stream->path, old, strerror(errno));
	}
}

/* A failed rotation is logged and writing goes on in the current file; its size counts from 0
 * again so that the next attempt comes after another max_size, not at every write. */
static void rotate_file(struct log_stream *stream)
{
	stream->file_size = 0;
	_cleanup_free_ char *dir_path = NULL;
	const char *base;
	if (split_path(stream->path, &dir_path, &base) < 0) {
		log_warn("log %s: rotate: out of memory", stream->path);
		return;
	}
	DIR *dir = opendir(dir_path);
	if (!dir) {
		log_warn("log %s: rotate: open %s: %s", stream->path, dir_path, strerror(errno));
		return;
	}
	struct cri_log_rotated *files = NULL;
	size_t count = 0;
	if (cri_log_list_rotated(dir, base, &files, &count) == 0)
		rotate_in(stream, dir, base, files, count);
	else
		log_warn("log %s: rotate: list rotated files: out of memory", stream->path);
	cri_log_rotated_free(files, count);
	closedir(dir);
}

/* Output that cannot be written (disk full, I/O error) is dropped: holding it would stop the
 * container once the buffer limit is reached. One warning per failing streak. */
static void write_file(struct log_stream *stream, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(stream->file_fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (!stream->write_failing)
				log_warn("log %s: write: %s", stream->path, strerror(errno));
			stream->write_failing = true;
			return;
		}
		data += n;
		len -= (size_t)n;
		stream->file_size += n;
	}
	stream->write_failing = false;
}

/* How much of `data` (whole records) fits in the current file; a first record larger than a
 * whole file goes in alone. 0 when the file must be rotated first. */
static size_t fitting_records(const struct log_stream *stream, const char *data, size_t len)
{
	int64_t room = stream->pump->options.max_size - stream->file_size;
	if ((int64_t)len <= room)
		return len;
	const char *last = room > 0 ? memrchr(data, '\n', (size_t)room) : NULL;
	if (last)
		return (size_t)(last - data) + 1;
	if (stream->file_size > 0)
		return 0;
	const char *first = memchr(data, '\n', len);
	return first ? (size_t)(first - data) + 1 : len;
}

static void write_records(struct log_stream *stream, const char *data, size_t len)
{
	while (len) {
		size_t n = fitting_records(stream, data, len);
		if (!n) {
			rotate_file(stream);
			continue;
		}
		write_file(stream, data, n);
		data += n;
		len -= n;
	}
}

/* --- the writer: the loop --------------------------------------------------------------- */

/* Under the lock: up to WRITE_BATCH bytes of the stream's chunks, in order. */
static struct log_chunk *take_batch(struct log_stream *stream, size_t *bytes)
{
	struct log_chunk *first = stream->head, *last = NULL;
	size_t taken = 0;
	for (struct log_chunk *c = first; c && (!last || taken + chunk_cost(c) <= WRITE_BATCH);
	     c = c->next) {
		taken += chunk_cost(c);
		last = c;
	}
	stream->head = last->next;
	if (!stream->head)
		stream->tail = NULL;
	last->next = NULL;
	*bytes = taken;
	return first;
}

static void write_batch(struct log_stream *stream, struct log_chunk *chunks, struct buf *out)
{
	for (struct log_chunk *c = chunks; c; c = c->next) {
		struct log_source *source = c->source;
		cri_log_format(out, &source->partial, source->name, &c->when, c->data, c->len,
			       c->final);
		if (c->final)
			stream->sources_left--;
		if (out->len >= FLUSH_SIZE) {
			write_records(stream, out->data, out->len);
			buf_reset(out);
		}
	}
	write_records(stream, out->data, out->len);
	buf_reset(out);
}

/* Under the lock, after a batch is on disk. */
static void batch_written(struct log_pump *pump, struct log_stream *stream, size_t bytes)
{
	stream->buffered -= bytes;
	if (stream->paused && stream->buffered <= pump->options.buffer_limit / 2)
		request_reader(pump, stream, REQUEST_RESUME);
	if (stream->head) {
		queue_for_writer(pump, stream);
	} else if (!stream->sources_left) {
		stream->finished = true;
		pthread_cond_broadcast(&pump->done_cond);
	}
}

static void *writer_main(void *arg)
{
	struct log_pump *pump = arg;
	_cleanup_buf_ struct buf out = {0};
	pthread_mutex_lock(&pump->lock);
	for (;;) {
		while (!pump->work_head && !pump->reader_exited)
			pthread_cond_wait(&pump->work_cond, &pump->lock);
		struct log_stream *stream = pump->work_head;
		if (!stream)
			break;
		pump->work_head = stream->work_next;
		if (!pump->work_head)
			pump->work_tail = NULL;
		stream->in_work = false;
		size_t bytes;
		struct log_chunk *chunks = take_batch(stream, &bytes);
		pthread_mutex_unlock(&pump->lock);

		write_batch(stream, chunks, &out);
		free_chunks(chunks);

		pthread_mutex_lock(&pump->lock);
		batch_written(pump, stream, bytes);
	}
	pthread_mutex_unlock(&pump->lock);
	return NULL;
}

/* --- the interface ---------------------------------------------------------------------- */

static void stream_free(struct log_stream *stream)
{
	if (!stream)
		return;
	for (int i = 0; i < 2; i++) {
		if (stream->sources[i].fd >= 0)
			close(stream->sources[i].fd);
		buf_free(&stream->sources[i].partial);
	}
	if (stream->file_fd >= 0)
		close(stream->file_fd);
	free_chunks(stream->head);
	free(stream->path);
	free(stream);
}

static void stream_freep(struct log_stream **stream)
{
	stream_free(*stream);
}

static void pump_free(struct log_pump *pump)
{
	while (pump->streams) {
		struct log_stream *next = pump->streams->next;
		stream_free(pump->streams);
		pump->streams = next;
	}
	if (pump->epoll_fd >= 0)
		close(pump->epoll_fd);
	if (pump->wake_fd >= 0)
		close(pump->wake_fd);
	pthread_mutex_destroy(&pump->lock);
	pthread_cond_destroy(&pump->work_cond);
	pthread_cond_destroy(&pump->done_cond);
	free(pump->scratch);
	free(pump);
}

static void pump_freep(struct log_pump **pump)
{
	if (*pump)
		log_pump_stop(*pump);
}

static void init_sync(struct log_pump *pump)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_mutex_init(&pump->lock, NULL);
	pthread_cond_init(&pump->work_cond, NULL);
	pthread_cond_init(&pump->done_cond, &attr);
	pthread_condattr_destroy(&attr);
}

int log_pump_start(const struct log_pump_options *options, struct log_pump **out,
		   struct ck_error *err)
{
	_cleanup_(pump_freep) struct log_pump *pump = calloc(1, sizeof(*pump));
	if (!pump)
		return ck_error_set(err, ENOMEM, "log pump: out of memory");
	pump->epoll_fd = pump->wake_fd = -1;
	init_sync(pump);
	pump->options = *options;
	if (!pump->options.max_size)
		pump->options.max_size = DEFAULT_MAX_SIZE;
	if (!pump->options.max_files)
		pump->options.max_files = DEFAULT_MAX_FILES;
	if (!pump->options.buffer_limit)
		pump->options.buffer_limit = DEFAULT_BUFFER_LIMIT;
	if (pump->options.max_size < 0 || pump->options.max_files < 1)
		return ck_error_set(err, EINVAL,
				    "log pump: max_size and max_files must be positive");
	pump->scratch = malloc(READ_SIZE);
	if (!pump->scratch)
		return ck_error_set(err, ENOMEM, "log pump: out of memory");
	pump->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (pump->epoll_fd < 0)
		return ck_error_errno(err, errno, "log pump: epoll_create1");
	pump->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pump->wake_fd < 0)
		return ck_error_errno(err, errno, "log pump: eventfd");
	struct epoll_event wake = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(pump->epoll_fd, EPOLL_CTL_ADD, pump->wake_fd, &wake) < 0)
		return ck_error_errno(err, errno, "log pump: watch eventfd");
	int ret = pthread_create(&pump->reader, NULL, reader_main, pump);
	if (ret)
		return ck_error_errno(err, ret, "log pump: start reader thread");
	pump->reader_started = true;
	ret = pthread_create(&pump->writer, NULL, writer_main, pump);
	if (ret)
		return ck_error_errno(err, ret, "log pump: start writer thread");
	pump->writer_started = true;
	*out = steal_ptr(&pump);
	return 0;
}

void log_pump_stop(struct log_pump *pump)
{
	if (!pump)
		return;
	pthread_mutex_lock(&pump->lock);
	pump->stopping = true;
	if (pump->reader_started)
		wake_reader(pump);
	pthread_mutex_unlock(&pump->lock);
	if (pump->reader_started) {
		pthread_join(pump->reader, NULL);
	} else {
		pthread_mutex_lock(&pump->lock);
		pump->reader_exited = true;
		pthread_mutex_unlock(&pump->lock);
	}
	/* The writer ends once the reader has and nothing is left to write. */
	if (pump->writer_started)
		pthread_join(pump->writer, NULL);
	pump_free(pump);
}

/* Pipes and FIFOs (and sockets or terminals) can be watched with epoll; regular files cannot. */
static int check_pollable(const char *path, const char *name, int fd, struct ck_error *err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return ck_error_errno(err, errno, "log %s: %s", path, name);
	if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) && !S_ISCHR(st.st_mode))
		return ck_error_set(err, EINVAL, "log %s: %s is not a pipe", path, name);
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return ck_error_errno(err, errno, "log %s: %s: make non-blocking", path, name);
	return 0;
}

static int init_source(struct log_stream *stream, int index, const char *name, int *fd,
		       struct ck_error *err)
{
	struct log_source *source = &stream->sources[index];
	source->stream = stream;
	source->name = name;
	source->fd = -1;
	if (*fd < 0)
		return 0;
	int ret = check_pollable(stream->path, name, *fd, err);
	if (ret < 0)
		return ret;
	source->fd = steal_fd(fd);
	stream->open_sources++;
	stream->sources_left++;
	return 0;
}

int log_pump_add(struct log_pump *pump, const char *path, int stdout_fd, int stderr_fd,
		 struct log_stream **out, struct ck_error *err)
{
	_cleanup_close_ int out_fd = stdout_fd;
	_cleanup_close_ int err_fd = stderr_fd;
	_cleanup_(stream_freep) struct log_stream *stream = calloc(1, sizeof(*stream));
	if (!stream)
		return ck_error_set(err, ENOMEM, "log %s: out of memory", path);
	stream->pump = pump;
	/* Before anything can fail: calloc's 0 would be closed as a descriptor. */
	stream->file_fd = -1;
	stream->sources[0].fd = stream->sources[1].fd = -1;
	stream->path = strdup(path);
	if (!stream->path)
		return ck_error_set(err, ENOMEM, "log %s: out of memory", path);
	int ret = init_source(stream, 0, "stdout", &out_fd, err);
	if (ret == 0)
		ret = init_source(stream, 1, "stderr", &err_fd, err);
	if (ret < 0)
		return ret;
	ret = open_log_file(path, &stream->file_size, err);
	if (ret < 0)
		return ret;
	stream->file_fd = ret;

	pthread_mutex_lock(&pump->lock);
	if (pump->stopping) {
		pthread_mutex_unlock(&pump->lock);
		return ck_error_set(err, ESHUTDOWN, "log %s: the log pump is stopping", path);
	}
	stream->next = pump->streams;
	if (pump->streams)
		pump->streams->prev = stream;
	pump->streams = stream;
	if (stream->open_sources)
		request_reader(pump, stream, REQUEST_START);
	else
		stream->finished = true;
	pthread_mutex_unlock(&pump->lock);
	*out = steal_ptr(&stream);
	return 0;
}

int log_stream_wait(struct log_stream *stream, int timeout_ms)
{
	struct log_pump *pump = stream->pump;
	struct timespec deadline =
	    timeutil_after_ms(CLOCK_MONOTONIC, timeout_ms >= 0 ? timeout_ms : 0);
	int ret = 0;
	pthread_mutex_lock(&pump->lock);
	while (!stream->finished && ret != ETIMEDOUT) {
		if (timeout_ms < 0)
			pthread_cond_wait(&pump->done_cond, &pump->lock);
		else
			ret = pthread_cond_timedwait(&pump->done_cond, &pump->lock, &deadline);
	}
	bool finished = stream->finished;
	pthread_mutex_unlock(&pump->lock);
	return finished ? 0 : -ETIMEDOUT;
}

void log_stream_close(struct log_pump *pump, struct log_stream *stream)
{
	if (!stream)
		return;
	pthread_mutex_lock(&pump->lock);
	if (stream->open_sources)
		request_reader(pump, stream, REQUEST_CLOSE);
	/* Until then the reader or the writer may still reach the stream. */
	while (!stream->finished || stream->in_todo)
		pthread_cond_wait(&pump->done_cond, &pump->lock);
	if (stream->prev)
		stream->prev->next = stream->next;
	else
		pump->streams = stream->next;
	if (stream->next)
		stream->next->prev = stream->prev;
	pthread_mutex_unlock(&pump->lock);
	stream_free(stream);
}
