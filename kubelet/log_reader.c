/* Reading a container run's CRI log files as `kubectl logs` shows them: see log_reader.h. */
#include "kubelet/log_reader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/timeutil.h"
#include "runtime/cri_log.h"

#define READ_CHUNK (64 * 1024)
#define TAIL_CHUNK (64 * 1024)
/* Enough of a record's start for its time, stream and tag. */
#define RECORD_HEAD 96
/* A record longer than this without a newline is not what the pump writes (its records hold at
 * most CRI_LOG_MAX_LINE bytes of content); it is taken as it is rather than held forever. */
#define MAX_RECORD (LOG_READER_MAX_LINE + 1024)

enum { STREAM_STDOUT, STREAM_STDERR };

struct log_file {
	int fd;
	dev_t dev;
	ino_t ino;
};

/* The line a stream is in the middle of: the content of its P records so far. */
struct pending_line {
	bool open;
	bool skip;      /* stamped before `since` */
	bool streaming; /* too long to hold: its start is written already */
	struct timespec first;
	struct buf text;
};

struct log_reader {
	struct log_read_options options;
	char *path; /* the live file */
	char *dir;
	const char *base;       /* the live file's name, in `path` */
	struct log_file *files; /* in reading order; files[current] is being read */
	size_t file_count, current;
	/* The file being read is no longer the live one: after its end comes its successor. */
	bool rotation_seen;
	struct buf record; /* read from the current file, not yet a whole record */
	struct pending_line lines[2];
	struct buf out; /* output not yet handed out, from out_pos */
	size_t out_pos;
	int64_t remaining; /* of limit_bytes; -1: no limit */
	bool done;
	int inotify_fd;     /* following: changes in the directory */
	int64_t checked_ms; /* when the container was last asked whether it runs */
	int64_t ended_ms;   /* when it was seen not running; 0: not yet */
	int64_t data_ms;    /* when data was last read */
};

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t log_format_timestamp(const struct timespec *ts, char *out)
{
	struct tm utc;
	time_t seconds = ts->tv_sec;

	gmtime_r(&seconds, &utc);
	size_t len = strftime(out, 31, "%Y-%m-%dT%H:%M:%S", &utc);
	len += (size_t)snprintf(out + len, 31 - len, ".%09ldZ", (long)ts->tv_nsec);
	return len;
}

/* --- the files ----------------------------------------------------------------------------- */

/* The rotated files of `base` in `dir`, oldest first. A directory that is gone has none. */
static int list_rotated(const char *dir, const char *base, struct cri_log_rotated **out,
			size_t *count, struct ck_error *err)
{
	DIR *d = opendir(dir);
	int r;

	*out = NULL;
	*count = 0;
	if (!d)
		return errno == ENOENT ? 0
				       : ck_error_errno(err, errno, "log %s/%s: list", dir, base);
	r = cri_log_list_rotated(d, base, out, count);
	closedir(d);
	return r < 0 ? ck_error_set(err, -r, "log %s/%s: list: out of memory", dir, base) : 0;
}

/* Opens `name` in the log's directory (or the live file when `name` is NULL); -ENOENT when it
 * is gone (pruned, or renamed and not yet made again). */
static int open_log_file(const struct log_reader *r, const char *name, struct log_file *out,
			 struct ck_error *err)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;

	if (name && asprintf(&path, "%s/%s", r->dir, name) < 0)
		abort();
	const char *which = name ? path : r->path;
	_cleanup_close_ int fd = open(which, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT
				       : ck_error_errno(err, errno, "log %s: open", which);
	if (fstat(fd, &st) < 0)
		return ck_error_errno(err, errno, "log %s: stat", which);
	*out = (struct log_file){.fd = steal_fd(&fd), .dev = st.st_dev, .ino = st.st_ino};
	return 0;
}

static bool same_file(const struct log_file *file, const struct stat *st)
{
	return file->dev == st->st_dev && file->ino == st->st_ino;
}

static void add_file(struct log_reader *r, const struct log_file *file)
{
	r->files = realloc(r->files, (r->file_count + 1) * sizeof(*r->files));
	if (!r->files)
		abort();
	r->files[r->file_count++] = *file;
}

/* The live file first, then the rotated ones: a rotation in between shows the live file again
 * among the rotated ones (same inode), where it is dropped, so it is read once, in its place. */
static int open_files(struct log_reader *r, struct ck_error *err)
{
	struct log_file live = {.fd = -1};
	struct cri_log_rotated *names = NULL;
	size_t count = 0;
	int ret = open_log_file(r, NULL, &live, err);

	if (ret < 0 && ret != -ENOENT)
		return ret;
	ret = list_rotated(r->dir, r->base, &names, &count, err);
	for (size_t i = 0; ret == 0 && i < count; i++) {
		struct log_file file;
		int one = open_log_file(r, names[i].name, &file, err);

		if (one == -ENOENT)
			continue; /* pruned meanwhile: older than anything still here */
		if (one < 0) {
			ret = one;
			break;
		}
		if (live.fd >= 0 && file.dev == live.dev && file.ino == live.ino) {
			close(file.fd);
			continue;
		}
		add_file(r, &file);
	}
	cri_log_rotated_free(names, count);
	if (ret < 0) {
		if (live.fd >= 0)
			close(live.fd);
		return ret;
	}
	if (live.fd >= 0)
		add_file(r, &live);
	if (r->file_count == 0)
		return ck_error_set(err, ENOENT, "log %s: no such file", r->path);
	return 0;
}

/* The file that follows the one being read, once the live path names another: the next
 * rotated file if the current one is among them (several rotations may have happened), else
 * the live one. The live file is opened before the listing, so that a rotation in between shows
 * up in the listing instead of being skipped. */
static int open_successor(struct log_reader *r, struct log_file *out, struct ck_error *err)
{
	const struct log_file *current = &r->files[r->current];
	struct log_file live = {.fd = -1};
	struct cri_log_rotated *names = NULL;
	size_t count = 0, next = SIZE_MAX;
	struct stat st;
	int ret = open_log_file(r, NULL, &live, err);

	if (ret < 0 && ret != -ENOENT)
		return ret;
	ret = list_rotated(r->dir, r->base, &names, &count, err);
	for (size_t i = 0; ret == 0 && i < count; i++) {
		_cleanup_free_ char *path = NULL;

		if (asprintf(&path, "%s/%s", r->dir, names[i].name) < 0)
			abort();
		if (stat(path, &st) == 0 && same_file(current, &st)) {
			next = i + 1;
			break;
		}
	}
	/* Not among them: pruned (then every rotated file left is newer) or moved elsewhere. */
	if (ret == 0 && next == SIZE_MAX)
		next = fstat(current->fd, &st) == 0 && st.st_nlink == 0 ? 0 : count;
	if (ret == 0 && next < count) {
		ret = open_log_file(r, names[next].name, out, err);
		if (live.fd >= 0)
			close(live.fd);
	} else if (ret == 0) {
		*out = live;
		ret = live.fd >= 0 ? 0 : -ENOENT;
	} else if (live.fd >= 0) {
		close(live.fd);
	}
	cri_log_rotated_free(names, count);
	return ret;
}

/* --- where the tail starts ------------------------------------------------------------------ */

/* Walks one file's records backwards through a window of it. */
struct tail_scan {
	int fd;
	char *chunk;
	off_t chunk_start, chunk_end;
	int64_t wanted, found;
	bool seen_last; /* a record after the current one exists (so a line can start there) */
};

static int load_chunk(struct tail_scan *scan, off_t end, struct ck_error *err)
{
	off_t start = end > TAIL_CHUNK ? end - TAIL_CHUNK : 0;
	size_t len = (size_t)(end - start);
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(scan->fd, scan->chunk + got, len - got, start + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ck_error_errno(err, errno, "read");
		if (n == 0)
			return ck_error_set(err, EIO, "read: the file shrank");
		got += (size_t)n;
	}
	scan->chunk_start = start;
	scan->chunk_end = end;
	return 0;
}

/* The offset of the last newline before `pos`, or -1. */
static int newline_before(struct tail_scan *scan, off_t pos, off_t *found, struct ck_error *err)
{
	while (pos > 0) {
		if (!(pos > scan->chunk_start && pos <= scan->chunk_end)) {
			int ret = load_chunk(scan, pos, err);
			if (ret < 0)
				return ret;
		}
		char *base = scan->chunk;
		char *nl = memrchr(base, '\n', (size_t)(pos - scan->chunk_start));
		if (nl) {
			*found = scan->chunk_start + (nl - base);
			return 0;
		}
		pos = scan->chunk_start;
	}
	*found = -1;
	return 0;
}

/* Whether the record at `offset` ends a line: anything but a P record does (a record the
 * reader will skip as unreadable ends nothing of its own, but counting it is harmless). */
static bool record_ends_line(struct tail_scan *scan, off_t offset)
{
	char head[RECORD_HEAD];
	ssize_t len;

	if (offset >= scan->chunk_start && offset + RECORD_HEAD <= scan->chunk_end) {
		memcpy(head, scan->chunk + (offset - scan->chunk_start), RECORD_HEAD);
		len = RECORD_HEAD;
	} else {
		len = pread(scan->fd, head, sizeof(head), offset);
		if (len <= 0)
			return true;
	}
	const char *end = head + len;
	const char *p = memchr(head, ' ', (size_t)len); /* after the time */
	if (p)
		p = memchr(p + 1, ' ', (size_t)(end - p - 1)); /* after the stream */
	if (!p || p + 2 > end)
		return true;
	p++;
	return !(p[0] == 'P' && (p + 1 == end || p[1] == ' ' || p[1] == ':' || p[1] == '\n'));
}

/* Counts line starts (the ends of F records with more data after them) backwards from `end`;
 * true with *offset set when the wanted one is in this file. */
static int scan_file(struct tail_scan *scan, off_t end, bool *hit, off_t *offset,
		     struct ck_error *err)
{
	off_t record_end = end;

	*hit = false;
	while (record_end > 0) {
		off_t nl;
		/* The record's own newline, at record_end - 1, is not where it starts. */
		int ret = newline_before(scan, record_end - 1, &nl, err);
		if (ret < 0)
			return ret;
		off_t start = nl + 1;
		if (record_ends_line(scan, start) && scan->seen_last &&
		    ++scan->found == scan->wanted) {
			*hit = true;
			*offset = record_end;
			return 0;
		}
		scan->seen_last = true;
		record_end = start;
	}
	return 0;
}

/* Positions the reader `tail_lines` whole lines before the end of the data; bytes after the
 * last newline of the live file are a record still being written and are not counted. */
static int seek_tail(struct log_reader *r, struct ck_error *err)
{
	struct tail_scan scan = {
	    .wanted = r->options.tail_lines, .chunk_start = -1, .chunk_end = -1};
	size_t start_file = 0;
	off_t start_offset = 0;
	int ret = 0;

	scan.chunk = malloc(TAIL_CHUNK);
	if (!scan.chunk)
		abort();
	for (size_t i = r->file_count; i-- > 0;) {
		struct stat st;
		off_t end;
		bool hit;

		scan.fd = r->files[i].fd;
		scan.chunk_start = scan.chunk_end = -1;
		if (fstat(scan.fd, &st) < 0) {
			ret = ck_error_errno(err, errno, "log %s: stat", r->path);
			break;
		}
		end = st.st_size;
		if (i == r->file_count - 1) {
			off_t nl;
			ret = newline_before(&scan, end, &nl, err);
			if (ret < 0)
				break;
			end = nl + 1;
			if (scan.wanted == 0) {
				start_file = i;
				start_offset = end;
				break;
			}
		}
		ret = scan_file(&scan, end, &hit, &start_offset, err);
		if (ret < 0)
			break;
		if (hit) {
			start_file = i;
			break;
		}
		start_offset = 0;
	}
	free(scan.chunk);
	if (ret < 0)
		return ck_error_prefix(err, "log %s: tail", r->path);
	for (size_t i = 0; i < start_file; i++)
		close(r->files[i].fd);
	memmove(r->files, r->files + start_file, (r->file_count - start_file) * sizeof(*r->files));
	r->file_count -= start_file;
	if (lseek(r->files[0].fd, start_offset, SEEK_SET) < 0)
		return ck_error_errno(err, errno, "log %s: seek", r->path);
	return 0;
}

/* --- records to output ----------------------------------------------------------------------- */

static void emit(struct log_reader *r, const char *data, size_t len)
{
	if (r->done)
		return;
	if (r->remaining >= 0 && (int64_t)len > r->remaining)
		len = (size_t)r->remaining;
	buf_append(&r->out, data, len);
	if (r->remaining >= 0) {
		r->remaining -= (int64_t)len;
		if (r->remaining == 0)
			r->done = true;
	}
}

static void emit_line_start(struct log_reader *r, const struct timespec *ts)
{
	char stamp[32];

	if (!r->options.timestamps)
		return;
	size_t len = log_format_timestamp(ts, stamp);
	stamp[len++] = ' ';
	emit(r, stamp, len);
}

static bool before_since(const struct log_reader *r, const struct timespec *ts)
{
	const struct timespec *since = &r->options.since;

	return ts->tv_sec < since->tv_sec ||
	       (ts->tv_sec == since->tv_sec && ts->tv_nsec < since->tv_nsec);
}

static void reset_line(struct pending_line *line)
{
	line->open = line->skip = line->streaming = false;
	buf_reset(&line->text);
}

static void add_record(struct log_reader *r, int stream, bool partial, const struct timespec *ts,
		       const char *content, size_t len)
{
	struct pending_line *line = &r->lines[stream];

	if (!line->open) {
		line->open = true;
		line->first = *ts;
		line->skip = before_since(r, ts);
	}
	if (line->skip) {
		if (!partial)
			reset_line(line);
		return;
	}
	if (partial && line->streaming) {
		emit(r, content, len);
		return;
	}
	if (partial) {
		buf_append(&line->text, content, len);
		if (line->text.len > LOG_READER_MAX_LINE) {
			emit_line_start(r, &line->first);
			emit(r, line->text.data, line->text.len);
			buf_reset(&line->text);
			line->streaming = true;
		}
		return;
	}
	if (!line->streaming)
		emit_line_start(r, &line->first);
	if (line->text.len)
		emit(r, line->text.data, line->text.len);
	emit(r, content, len);
	emit(r, "\n", 1);
	reset_line(line);
}

/* "<time> <stream> <tag>[:<more tags>] <content>"; records that do not parse are skipped, as
 * the kubelet skips them. */
static void handle_record(struct log_reader *r, const char *record, size_t len)
{
	const char *end = record + len;
	const char *space = memchr(record, ' ', len);
	char stamp[64];
	struct timespec ts;

	if (!space || (size_t)(space - record) >= sizeof(stamp))
		return;
	memcpy(stamp, record, (size_t)(space - record));
	stamp[space - record] = '\0';
	if (timeutil_parse_rfc3339(stamp, &ts, NULL) < 0)
		return;
	const char *stream = space + 1;
	space = memchr(stream, ' ', (size_t)(end - stream));
	if (!space)
		return;
	int which;
	if (space - stream == 6 && memcmp(stream, "stdout", 6) == 0)
		which = STREAM_STDOUT;
	else if (space - stream == 6 && memcmp(stream, "stderr", 6) == 0)
		which = STREAM_STDERR;
	else
		return;
	const char *tag = space + 1;
	space = memchr(tag, ' ', (size_t)(end - tag));
	const char *tag_end = space ? space : end;
	const char *colon = memchr(tag, ':', (size_t)(tag_end - tag));
	size_t first_tag = (size_t)((colon ? colon : tag_end) - tag);
	bool partial = first_tag == 1 && tag[0] == 'P';
	const char *content = space ? space + 1 : end;

	add_record(r, which, partial, &ts, content, (size_t)(end - content));
}

/* Hands the whole records read so far to handle_record; `all` takes an unterminated last one
 * too (the end of a file that will not grow). */
static void process_records(struct log_reader *r, bool all)
{
	char *p = r->record.data;
	size_t left = r->record.len;

	while (left && !r->done) {
		char *nl = memchr(p, '\n', left);
		if (!nl && !all && left <= MAX_RECORD)
			break;
		size_t len = nl ? (size_t)(nl - p) : left;
		handle_record(r, p, len);
		left -= nl ? len + 1 : len;
		p += nl ? len + 1 : len;
	}
	if (r->done)
		left = 0;
	memmove(r->record.data, p, left);
	r->record.len = left;
	if (r->record.data)
		r->record.data[left] = '\0';
}

/* Lines cut off by the end of the log are written as far as they go, without a newline. */
static void finish(struct log_reader *r)
{
	process_records(r, true);
	for (int i = 0; i < 2; i++) {
		struct pending_line *line = &r->lines[i];
		if (!line->open || line->skip)
			continue;
		if (!line->streaming)
			emit_line_start(r, &line->first);
		emit(r, line->text.data, line->text.len);
		reset_line(line);
	}
	r->done = true;
}

/* --- following ------------------------------------------------------------------------------ */

static void drain_events(struct log_reader *r)
{
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (r->inotify_fd < 0)
		return;
	while (read(r->inotify_fd, events, sizeof(events)) > 0)
		;
}

/* At the end of the live file: -EAGAIN while the container may write more, 0 once it has ended
 * and the file stayed quiet for the grace period. */
static int wait_or_end(struct log_reader *r)
{
	int64_t now = monotonic_ms();

	if (!r->ended_ms && (r->checked_ms == 0 || now - r->checked_ms >= LOG_READER_CHECK_MS)) {
		r->checked_ms = now;
		if (!(r->options.running && r->options.running(r->options.running_ctx)))
			r->ended_ms = now;
	}
	if (r->ended_ms) {
		int64_t quiet_from = r->ended_ms > r->data_ms ? r->ended_ms : r->data_ms;
		if (now - quiet_from >= LOG_READER_END_GRACE_MS)
			return 0;
	}
	return -EAGAIN;
}

int log_reader_poll_fd(const struct log_reader *reader)
{
	return reader->inotify_fd;
}

int log_reader_poll_timeout(const struct log_reader *reader)
{
	int64_t now = monotonic_ms(), left;

	if (reader->ended_ms) {
		int64_t quiet_from =
		    reader->ended_ms > reader->data_ms ? reader->ended_ms : reader->data_ms;
		left = quiet_from + LOG_READER_END_GRACE_MS - now;
	} else {
		left = reader->checked_ms + LOG_READER_CHECK_MS - now;
	}
	return left < 1 ? 1 : left > LOG_READER_CHECK_MS ? LOG_READER_CHECK_MS : (int)left;
}

/* The end of the file being read: the next file, the end, or (following) a wait. */
static int at_file_end(struct log_reader *r, struct ck_error *err)
{
	struct log_file *file = &r->files[r->current];
	struct stat st;

	if (r->current + 1 < r->file_count) {
		process_records(r, true);
		close(file->fd);
		file->fd = -1;
		r->current++;
		return 1;
	}
	if (!r->options.follow)
		return 0;
	if (!r->rotation_seen) {
		if (stat(r->path, &st) == 0 && same_file(file, &st))
			return wait_or_end(r);
		/* Renamed (or removed): nothing more goes into it, but what was written before the
		 * rename may have come after the end just seen, so it is read to its end again. */
		r->rotation_seen = true;
		return 1;
	}
	struct log_file next;
	int ret = open_successor(r, &next, err);
	if (ret == -ENOENT)
		return wait_or_end(r); /* the new live file is not there yet */
	if (ret < 0)
		return ret;
	process_records(r, true);
	close(file->fd);
	*file = next;
	r->rotation_seen = false;
	return 1;
}

/* Reads on: 1 after progress, or what at_file_end says. */
static int advance(struct log_reader *r, struct ck_error *err)
{
	struct log_file *file = &r->files[r->current];
	ssize_t n;

	buf_reserve(&r->record, READ_CHUNK);
	do
		n = read(file->fd, r->record.data + r->record.len, READ_CHUNK);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return ck_error_errno(err, errno, "log %s: read", r->path);
	if (n == 0)
		return at_file_end(r, err);
	r->record.len += (size_t)n;
	r->record.data[r->record.len] = '\0';
	r->data_ms = monotonic_ms();
	process_records(r, false);
	return 1;
}

ssize_t log_reader_read(struct log_reader *r, char *out, size_t max, struct ck_error *err)
{
	if (!max)
		return ck_error_set(err, EINVAL, "log %s: read: no room for output", r->path);
	/* Events that come after this are left for the caller's next wait. */
	drain_events(r);
	for (;;) {
		size_t ready = r->out.len - r->out_pos;
		if (ready) {
			size_t n = ready < max ? ready : max;
			memcpy(out, r->out.data + r->out_pos, n);
			r->out_pos += n;
			if (r->out_pos == r->out.len) {
				buf_reset(&r->out);
				r->out_pos = 0;
			}
			return (ssize_t)n;
		}
		if (r->done)
			return 0;
		int ret = advance(r, err);
		if (ret == 0)
			finish(r);
		else if (ret < 0)
			return ret;
	}
}

int log_reader_open(const char *path, const struct log_read_options *options,
		    struct log_reader **out, struct ck_error *err)
{
	struct log_reader *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		abort();
	r->options = *options;
	r->remaining = options->limit_bytes;
	r->inotify_fd = -1;
	r->path = strdup(path);
	const char *slash = strrchr(path, '/');
	r->dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
	if (!r->path || !r->dir)
		abort();
	r->base = strrchr(r->path, '/') ? strrchr(r->path, '/') + 1 : r->path;
	if (r->dir[0] == '\0') {
		free(r->dir);
		r->dir = strdup("/");
	}
	/* Watched before anything is read, so that no change after the first read is missed. */
	if (options->follow) {
		r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (r->inotify_fd < 0 ||
		    inotify_add_watch(r->inotify_fd, r->dir,
				      IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_FROM |
					  IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF) < 0) {
			ret = ck_error_errno(err, errno, "log %s: watch %s", path, r->dir);
			log_reader_free(r);
			return ret;
		}
	}
	ret = open_files(r, err);
	if (ret == 0 && options->tail_lines >= 0)
		ret = seek_tail(r, err);
	if (ret < 0) {
		log_reader_free(r);
		return ret;
	}
	if (options->limit_bytes == 0 || (options->tail_lines == 0 && !options->follow))
		r->done = true;
	*out = r;
	return 0;
}

void log_reader_free(struct log_reader *reader)
{
	if (!reader)
		return;
	for (size_t i = reader->current; i < reader->file_count; i++)
		if (reader->files[i].fd >= 0)
			close(reader->files[i].fd);
	free(reader->files);
	if (reader->inotify_fd >= 0)
		close(reader->inotify_fd);
	buf_free(&reader->record);
	buf_free(&reader->out);
	for (int i = 0; i < 2; i++)
		buf_free(&reader->lines[i].text);
	free(reader->path);
	free(reader->dir);
	free(reader);
}
