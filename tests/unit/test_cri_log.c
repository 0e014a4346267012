/* CRI log records (whole, split, long, empty and unterminated lines) and the log pump: both
 * streams end to end, bursts larger than the pipes with a tiny memory limit and with a writer
 * that cannot keep up, rotation, appending, and early close and stop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/timeutil.h"
#include "runtime/cri_log.h"

/* 2026-11-25T12:49:55.123456789Z */
static const struct timespec when = {1795610995, 123456789};
#define STAMP "2026-11-25T12:49:55.123456789Z"

/* --- the format ------------------------------------------------------------------------- */

static void test_format_whole_line(void **state)
{
	(void)state;
	struct buf out = {0}, partial = {0};
	cri_log_format(&out, &partial, "stdout", &when, "hello\n", 6, false);
	assert_string_equal(out.data, STAMP " stdout F hello\n");
	assert_int_equal(partial.len, 0);
	buf_free(&out);
	buf_free(&partial);
}

static void test_format_timestamp_digits(void **state)
{
	(void)state;
	struct buf out = {0}, partial = {0};
	const struct timespec early = {0, 5};
	cri_log_format(&out, &partial, "stderr", &early, "x\n", 2, false);
	assert_string_equal(out.data, "1970-01-01T00:00:00.000000005Z stderr F x\n");
	buf_free(&out);
	buf_free(&partial);
}

static void test_format_several_lines(void **state)
{
	(void)state;
	struct buf out = {0}, partial = {0};
	const char *data = "one\ntwo two\nthree\n";
	cri_log_format(&out, &partial, "stderr", &when, data, strlen(data), false);
	assert_string_equal(out.data, STAMP " stderr F one\n" STAMP " stderr F two two\n" STAMP
					    " stderr F three\n");
	buf_free(&out);
	buf_free(&partial);
}

static void test_format_line_across_chunks(void **state)
{
	(void)state;
	struct buf out = {0}, partial = {0};
	cri_log_format(&out, &partial, "stdout", &when, "hel", 3, false);
	assert_int_equal(out.len, 0);
	assert_string_equal(partial.data, "hel");
	cri_log_format(&out, &partial, "stdout", &when, "lo\nwor", 6, false);
	assert_string_equal(out.data, STAMP " stdout F hello\n");
	assert_string_equal(partial.data, "wor");
	cri_log_format(&out, &partial, "stdout", &when, "ld\n", 3, false);
	assert_string_equal(out.data, STAMP " stdout F hello\n" STAMP " stdout F world\n");
	assert_int_equal(partial.len, 0);
	buf_free(&out);
	buf_free(&partial);
}

/* Checks the records of `out` against tags and content lengths, each content all `fill`. */
static void assert_records(const struct buf *out, const char *tags, const size_t *lengths,
			   char fill)
{
	const char *p = out->data;
	size_t count = strlen(tags);
	for (size_t i = 0; i < count; i++) {
		char header[64];
		snprintf(header, sizeof(header), STAMP " stdout %c ", tags[i]);
		assert_memory_equal(p, header, strlen(header));
		p += strlen(header);
		for (size_t j = 0; j < lengths[i]; j++)
			if (p[j] != fill)
				fail_msg("record %zu: byte %zu is '%c'", i, j, p[j]);
		p += lengths[i];
		assert_int_equal(*p, '\n');
		p++;
	}
	assert_int_equal((size_t)(p - out->data), out->len);
}

static void test_format_long_line(void **state)
{
	(void)state;
	size_t len = 40 * 1024;
	char *line = malloc(len + 1);
	memset(line, 'x', len);
	line[len] = '\n';
	static const size_t pieces[] = {CRI_LOG_MAX_LINE, CRI_LOG_MAX_LINE, 8192};

	struct buf out = {0}, partial = {0};
	cri_log_format(&out, &partial, "stdout", &when, line, len + 1, false);
	assert_records(&out, "PPF", pieces, 'x');
	buf_reset(&out);

	/* The same line arriving in reads of 1000 bytes: the held-back part never exceeds one
	 * record, and the records are the same. */
	for (size_t off = 0; off <= len; off += 1000) {
		size_t n = len + 1 - off < 1000 ? len + 1 - off : 1000;
		cri_log_format(&out, &partial, "stdout", &when, line + off, n, false);
		assert_true(partial.len <= CRI_LOG_MAX_LINE);
	}
	assert_records(&out, "PPF", pieces, 'x');
	buf_free(&out);
	buf_free(&partial);
	free(line);
}

static void test_format_line_limits(void **state)
{
	(void)state;
	char *line = malloc(CRI_LOG_MAX_LINE + 2);
	memset(line, 'y', CRI_LOG_MAX_LINE + 1);
	struct buf out = {0}, partial = {0};

	line[CRI_LOG_MAX_LINE] = '\n';
	cri_log_format(&out, &partial, "stdout", &when, line, CRI_LOG_MAX_LINE + 1, false);
	static const size_t exact[] = {CRI_LOG_MAX_LINE};
	assert_records(&out, "F", exact, 'y');
	buf_reset(&out);

	line[CRI_LOG_MAX_LINE] = 'y';
	line[CRI_LOG_MAX_LINE + 1] = '\n';
	cri_log_format(&out, &partial, "stdout", &when, line, CRI_LOG_MAX_LINE + 2, false);
	static const size_t one_more[] = {CRI_LOG_MAX_LINE, 1};
	assert_records(&out, "PF", one_more, 'y');
	buf_free(&out);
	buf_free(&partial);
	free(line);
}

static void test_format_final_partial(void **state)
{
	(void)state;
	struct buf out = {0}, partial = {0};
	cri_log_format(&out, &partial, "stdout", &when, "done\nno newline", 15, false);
	assert_string_equal(out.data, STAMP " stdout F done\n");
	cri_log_format(&out, &partial, "stdout", &when, "", 0, true);
	assert_string_equal(out.data, STAMP " stdout F done\n" STAMP " stdout F no newline\n");
	assert_int_equal(partial.len, 0);
	/* Nothing held back: the end adds no record. */
	cri_log_format(&out, &partial, "stdout", &when, "", 0, true);
	assert_string_equal(out.data, STAMP " stdout F done\n" STAMP " stdout F no newline\n");
	buf_free(&out);
	buf_free(&partial);
}

static void test_format_empty_lines(void **state)
{
	(void)state;
	struct buf out = {0}, partial = {0};
	cri_log_format(&out, &partial, "stdout", &when, "\n\na\n\n", 5, false);
	assert_string_equal(out.data, STAMP " stdout F \n" STAMP " stdout F \n" STAMP
					    " stdout F a\n" STAMP " stdout F \n");
	buf_free(&out);
	buf_free(&partial);
}

static void test_format_carriage_return(void **state)
{
	(void)state;
	struct buf out = {0}, partial = {0};
	/* "\r\n" ends a line, also split across reads; a lone "\r" is content. */
	cri_log_format(&out, &partial, "stdout", &when, "a\r\nb\r", 5, false);
	cri_log_format(&out, &partial, "stdout", &when, "\nc\rd\ne\r", 7, true);
	assert_string_equal(out.data, STAMP " stdout F a\n" STAMP " stdout F b\n" STAMP
					    " stdout F c\rd\n" STAMP " stdout F e\r\n");
	buf_free(&out);
	buf_free(&partial);
}

/* --- reading log files back ------------------------------------------------------------- */

struct record {
	char stream[8];
	char tag;
	char *content;
	struct timespec when;
};

struct records {
	struct record *items;
	size_t count;
	char *text;
};

static void free_records(struct records *r)
{
	free(r->items);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

/* Parses every record of `text` (taken over), failing the test on anything malformed. */
static void parse_records(char *text, size_t len, struct records *out)
{
	memset(out, 0, sizeof(*out));
	out->text = text;
	size_t cap = 0;
	char *p = text, *end = text + len;
	while (p < end) {
		char *newline = memchr(p, '\n', (size_t)(end - p));
		if (!newline)
			fail_msg("record without newline: %.40s", p);
		*newline = '\0';
		if (out->count == cap) {
			cap = cap ? 2 * cap : 64;
			out->items = realloc(out->items, cap * sizeof(*out->items));
		}
		struct record *r = &out->items[out->count++];
		if (strlen(p) < 40 || p[30] != ' ' || p[37] != ' ' || p[39] != ' ')
			fail_msg("malformed record: %s", p);
		p[30] = '\0';
		struct ck_error err = {0};
		if (timeutil_parse_rfc3339(p, &r->when, &err) < 0 || p[29] != 'Z' || p[19] != '.')
			fail_msg("bad timestamp %s: %s", p, err.message);
		memcpy(r->stream, p + 31, 6);
		r->stream[6] = '\0';
		if (strcmp(r->stream, "stdout") != 0 && strcmp(r->stream, "stderr") != 0)
			fail_msg("bad stream %s", r->stream);
		r->tag = p[38];
		if (r->tag != 'F' && r->tag != 'P')
			fail_msg("bad tag %c", r->tag);
		r->content = p + 40;
		p = newline + 1;
	}
}

static void read_records(const char *path, struct records *out)
{
	char *text;
	size_t len;
	struct ck_error err = {0};
	if (fs_read_file(path, &text, &len, &err) < 0)
		fail_msg("%s", err.message);
	parse_records(text, len, out);
}

static bool timespec_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void write_text(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

static void write_string(int fd, const char *s)
{
	write_text(fd, s, strlen(s));
}

static void sleep_ms(int ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&t, NULL);
}

/* Waits (up to 2 s) until `path` contains `needle`. */
static void wait_for_text(const char *path, const char *needle)
{
	for (int i = 0; i < 2000; i++) {
		char *text;
		struct ck_error err = {0};
		if (fs_read_file(path, &text, NULL, &err) == 0) {
			bool found = strstr(text, needle) != NULL;
			free(text);
			if (found)
				return;
		}
		sleep_ms(1);
	}
	fail_msg("%s never contained \"%s\"", path, needle);
}

/* --- the pump --------------------------------------------------------------------------- */

struct fixture {
	char dir[64];
	char path[128];
	struct log_pump *pump;
};

static int setup_with(void **state, const struct log_pump_options *options)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ckube-test-cri-log-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	/* A directory the pump must create. */
	snprintf(f->path, sizeof(f->path), "%s/pods/web/app.log", f->dir);
	struct ck_error err = {0};
	if (log_pump_start(options, &f->pump, &err) < 0)
		fail_msg("%s", err.message);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	const struct log_pump_options options = {0};
	return setup_with(state, &options);
}

static int setup_tiny_buffer(void **state)
{
	const struct log_pump_options options = {.buffer_limit = 1000};
	return setup_with(state, &options);
}

static int setup_one_byte_buffer(void **state)
{
	const struct log_pump_options options = {.buffer_limit = 1};
	return setup_with(state, &options);
}

static int setup_rotation_single_file(void **state)
{
	const struct log_pump_options options = {.max_size = 4096, .max_files = 1};
	return setup_with(state, &options);
}

static int setup_rotation(void **state)
{
	const struct log_pump_options options = {.max_size = 4096, .max_files = 3};
	return setup_with(state, &options);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	log_pump_stop(f->pump);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Adds a stream reading two new pipes; their write ends are returned. */
static struct log_stream *add_pipes(struct fixture *f, int *out_w, int *err_w)
{
	int out_pipe[2], err_pipe[2];
	assert_int_equal(pipe2(out_pipe, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err_pipe, O_CLOEXEC), 0);
	struct log_stream *stream = NULL;
	struct ck_error err = {0};
	if (log_pump_add(f->pump, f->path, out_pipe[0], err_pipe[0], &stream, &err) < 0)
		fail_msg("%s", err.message);
	*out_w = out_pipe[1];
	*err_w = err_pipe[1];
	return stream;
}

static void test_pump_end_to_end(void **state)
{
	struct fixture *f = *state;
	int out_w, err_w;
	struct log_stream *stream = add_pipes(f, &out_w, &err_w);
	char line[64];
	for (int i = 0; i < 50; i++) {
		snprintf(line, sizeof(line), "out %d\n", i);
		write_string(out_w, line);
		snprintf(line, sizeof(line), "err %d\n", i);
		write_string(err_w, line);
	}
	write_string(out_w, "\nlast words");
	close(out_w);
	close(err_w);
	assert_int_equal(log_stream_wait(stream, 2000), 0);
	log_stream_close(f->pump, stream);

	struct records r;
	read_records(f->path, &r);
	assert_int_equal(r.count, 102);
	int next_out = 0, next_err = 0;
	const struct timespec *last_out = NULL, *last_err = NULL;
	for (size_t i = 0; i < r.count; i++) {
		struct record *rec = &r.items[i];
		assert_int_equal(rec->tag, 'F');
		bool is_out = strcmp(rec->stream, "stdout") == 0;
		const struct timespec **last = is_out ? &last_out : &last_err;
		if (*last && timespec_before(&rec->when, *last))
			fail_msg("record %zu is older than the one before it", i);
		*last = &rec->when;
		if (is_out && next_out == 50)
			line[0] = '\0';
		else if (is_out && next_out == 51)
			snprintf(line, sizeof(line), "last words");
		else
			snprintf(line, sizeof(line), "%s %d", is_out ? "out" : "err",
				 is_out ? next_out : next_err);
		assert_string_equal(rec->content, line);
		if (is_out)
			next_out++;
		else
			next_err++;
	}
	assert_int_equal(next_out, 52);
	assert_int_equal(next_err, 50);
	free_records(&r);
}

/* The lines a burst writes: numbered, 100 bytes with the newline. */
#define BURST_LINE 100
#define BURST_LINES 20000
/* Lines per write(). */
#define BURST_BLOCK_LINES 50

static void burst_line(char line[BURST_LINE + 1], int i)
{
	int n = snprintf(line, BURST_LINE + 1, "burst line %06d ", i);
	memset(line + n, 'a' + i % 26, (size_t)(BURST_LINE - 1 - n));
	line[BURST_LINE - 1] = '\n';
	line[BURST_LINE] = '\0';
}

struct producer {
	int fd;
	atomic_size_t written;
};

/* A container writing much more than a pipe holds, as fast as it can. */
static void *produce(void *arg)
{
	struct producer *p = arg;
	char line[BURST_LINE + 1];
	char block[BURST_LINE * BURST_BLOCK_LINES];
	for (int i = 0; i < BURST_LINES; i += BURST_BLOCK_LINES) {
		for (int j = 0; j < BURST_BLOCK_LINES; j++) {
			burst_line(line, i + j);
			memcpy(block + j * BURST_LINE, line, BURST_LINE);
		}
		write_text(p->fd, block, sizeof(block));
		atomic_fetch_add(&p->written, sizeof(block));
	}
	close(p->fd);
	return NULL;
}

static void assert_burst(char *text, size_t len)
{
	struct records r;
	parse_records(text, len, &r);
	assert_int_equal(r.count, BURST_LINES);
	size_t content = 0;
	char line[BURST_LINE + 1];
	for (int i = 0; i < BURST_LINES; i++) {
		burst_line(line, i);
		line[BURST_LINE - 1] = '\0';
		assert_int_equal(r.items[i].tag, 'F');
		assert_string_equal(r.items[i].content, line);
		content += strlen(r.items[i].content) + 1;
	}
	assert_int_equal(content, (size_t)BURST_LINES * BURST_LINE);
	free_records(&r);
}

/* A memory limit of 1000 bytes: the pump pauses and resumes the pipe thousands of times. */
static void test_pump_burst_tiny_limit(void **state)
{
	struct fixture *f = *state;
	int out_w, err_w;
	struct log_stream *stream = add_pipes(f, &out_w, &err_w);
	close(err_w);
	struct producer p = {.fd = out_w};
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, produce, &p), 0);
	assert_int_equal(log_stream_wait(stream, 5000), 0);
	pthread_join(thread, NULL);
	log_stream_close(f->pump, stream);

	char *text;
	size_t len;
	struct ck_error err = {0};
	assert_int_equal(fs_read_file(f->path, &text, &len, &err), 0);
	assert_burst(text, len);
}

/* The log file is a FIFO that the test does not read for a while: the pump's writer is stuck,
 * so the container must be held up once its pipe, the pump's memory and the FIFO are full. */
static void test_pump_slow_writer(void **state)
{
	struct fixture *f = *state;
	snprintf(f->path, sizeof(f->path), "%s/slow.log", f->dir);
	assert_int_equal(mkfifo(f->path, 0600), 0);
	int file_r = open(f->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(file_r >= 0);
	int out_w, err_w;
	struct log_stream *stream = add_pipes(f, &out_w, &err_w);
	close(err_w);
	assert_int_equal(fcntl(file_r, F_SETFL, 0), 0);

	struct producer p = {.fd = out_w};
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, produce, &p), 0);
	sleep_ms(100);
	/* What can be accepted: the container's pipe, the pump's limit (1000 bytes here), the
	 * FIFO, and the partial line the pump holds back. */
	size_t held = (size_t)fcntl(out_w, F_GETPIPE_SZ) + 1000 +
		      (size_t)fcntl(file_r, F_GETPIPE_SZ) + BURST_LINE;
	size_t written = atomic_load(&p.written);
	if (written > held)
		fail_msg("%zu bytes accepted with the writer stuck", written);

	/* The writer catches up: every record arrives. */
	size_t expected = (size_t)BURST_LINES * (BURST_LINE + 40);
	char *text = malloc(expected + 1);
	size_t got = 0;
	while (got < expected) {
		ssize_t n = read(file_r, text + got, expected - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(log_stream_wait(stream, 5000), 0);
	pthread_join(thread, NULL);
	log_stream_close(f->pump, stream);
	assert_int_equal(read(file_r, text, 1), 0);
	close(file_r);
	assert_burst(text, got);
}

/* Rotated files of f->path, oldest first. */
static size_t list_rotated(const struct fixture *f, char names[][256], size_t max)
{
	char dir_path[160];
	snprintf(dir_path, sizeof(dir_path), "%s/pods/web", f->dir);
	DIR *dir = opendir(dir_path);
	assert_non_null(dir);
	size_t count = 0;
	struct dirent *entry;
	while ((entry = readdir(dir))) {
		if (strncmp(entry->d_name, "app.log.", 8) != 0)
			continue;
		const char *stamp = entry->d_name + 8;
		for (int i = 0; i < 15; i++)
			if (i == 8 ? stamp[i] != '-' : stamp[i] < '0' || stamp[i] > '9')
				fail_msg("bad rotated name %s", entry->d_name);
		if (stamp[15] && (stamp[15] != '.' || strspn(stamp + 16, "0123456789") == 0 ||
				  stamp[16 + strspn(stamp + 16, "0123456789")]))
			fail_msg("bad rotated name %s", entry->d_name);
		assert_true(count < max);
		snprintf(names[count++], 256, "%s/%s", dir_path, entry->d_name);
	}
	closedir(dir);
	/* By time, then by the number rotations within the same second add. */
	for (size_t i = 1; i < count; i++) {
		for (size_t j = i; j > 0; j--) {
			const char *a = strrchr(names[j - 1], '/') + 9,
				   *b = strrchr(names[j], '/') + 9;
			int order = strncmp(a, b, 15);
			if (!order)
				order = (a[15] ? atoi(a + 16) : 0) - (b[15] ? atoi(b + 16) : 0);
			if (order <= 0)
				break;
			char swap[256];
			memcpy(swap, names[j], 256);
			memcpy(names[j], names[j - 1], 256);
			memcpy(names[j - 1], swap, 256);
		}
	}
	return count;
}

static void write_numbered_lines(struct fixture *f, int count)
{
	int out_w, err_w;
	struct log_stream *stream = add_pipes(f, &out_w, &err_w);
	close(err_w);
	char line[64];
	for (int i = 0; i < count; i++) {
		snprintf(line, sizeof(line), "line %04d abcdefghij\n", i);
		write_string(out_w, line);
	}
	close(out_w);
	assert_int_equal(log_stream_wait(stream, 2000), 0);
	log_stream_close(f->pump, stream);
}

/* Reads the rotated files and the live one in order; the lines must be `first`, first + 1, ...
 * up to `last`. Returns how many files there were. */
static size_t assert_numbered_lines(struct fixture *f, int first, int last)
{
	char names[8][256];
	size_t rotated = list_rotated(f, names, 8);
	int next = first;
	for (size_t i = 0; i <= rotated; i++) {
		const char *path = i < rotated ? names[i] : f->path;
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_true(st.st_size <= 4096);
		assert_int_equal(st.st_mode & 0777 & ~0640, 0);
		struct records r;
		read_records(path, &r);
		assert_true(r.count > 0);
		for (size_t j = 0; j < r.count; j++) {
			char line[64];
			snprintf(line, sizeof(line), "line %04d abcdefghij", next++);
			assert_string_equal(r.items[j].content, line);
		}
		free_records(&r);
	}
	assert_int_equal(next - 1, last);
	return rotated + 1;
}

/* "line 0000 abcdefghij" is 20 bytes, its record 61: 67 fit in a file of 4096 bytes. */
#define RECORDS_PER_FILE (4096 / 61)

static void test_pump_rotation_keeps_lines(void **state)
{
	struct fixture *f = *state;
	/* Three files, nothing removed. */
	write_numbered_lines(f, 150);
	assert_int_equal(assert_numbered_lines(f, 0, 149), 3);
}

static void test_pump_rotation_removes_oldest(void **state)
{
	struct fixture *f = *state;
	/* About thirty rotations, most within one second: the ".<n>" names must sort by n. */
	write_numbered_lines(f, 2000);
	char names[8][256];
	assert_int_equal(list_rotated(f, names, 8), 2);
	struct records r;
	read_records(f->path, &r);
	int first_live = atoi(r.items[0].content + 5);
	free_records(&r);
	/* Two full files before the live one. */
	assert_int_equal(assert_numbered_lines(f, first_live - 2 * RECORDS_PER_FILE, 1999), 3);
}

static void test_pump_rotation_single_file(void **state)
{
	struct fixture *f = *state;
	/* max_files 1: no rotated file stays, the live one holds the newest lines. */
	write_numbered_lines(f, 150);
	assert_int_equal(assert_numbered_lines(f, 2 * RECORDS_PER_FILE, 149), 1);
}

/* A limit smaller than the pump's own bookkeeping still lets output through, a byte at a time. */
static void test_pump_one_byte_limit(void **state)
{
	struct fixture *f = *state;
	write_numbered_lines(f, 100);
	struct records r;
	read_records(f->path, &r);
	assert_int_equal(r.count, 100);
	assert_string_equal(r.items[99].content, "line 0099 abcdefghij");
	free_records(&r);
}

static void test_pump_appends(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	char dir[128];
	snprintf(dir, sizeof(dir), "%s/pods/web", f->dir);
	assert_int_equal(fs_mkdir_p(dir, 0755, &err), 0);
	const char *before = "2026-01-01T00:00:00.000000000Z stdout F from the last run\n";
	assert_int_equal(fs_write_file_atomic(f->path, before, strlen(before), 0640, &err), 0);

	int out_w, err_w;
	struct log_stream *stream = add_pipes(f, &out_w, &err_w);
	write_string(err_w, "from this run\n");
	close(out_w);
	close(err_w);
	assert_int_equal(log_stream_wait(stream, 2000), 0);
	log_stream_close(f->pump, stream);

	struct records r;
	read_records(f->path, &r);
	assert_int_equal(r.count, 2);
	assert_string_equal(r.items[0].content, "from the last run");
	assert_string_equal(r.items[1].stream, "stderr");
	assert_string_equal(r.items[1].content, "from this run");
	free_records(&r);
}

static void test_pump_close_before_eof(void **state)
{
	struct fixture *f = *state;
	int out_w, err_w;
	struct log_stream *stream = add_pipes(f, &out_w, &err_w);
	write_string(out_w, "read\nheld back");
	wait_for_text(f->path, " stdout F read\n");
	assert_int_equal(log_stream_wait(stream, 20), -ETIMEDOUT);
	/* The writers are still open: closing must not wait for them, and the line held back is
	 * written. */
	log_stream_close(f->pump, stream);
	close(out_w);
	close(err_w);

	struct records r;
	read_records(f->path, &r);
	assert_int_equal(r.count, 2);
	assert_string_equal(r.items[1].content, "held back");
	assert_int_equal(r.items[1].tag, 'F');
	free_records(&r);
}

static void test_pump_stop_with_open_streams(void **state)
{
	struct fixture *f = *state;
	int out_w, err_w;
	add_pipes(f, &out_w, &err_w);
	write_string(err_w, "before stop\nunfinished");
	wait_for_text(f->path, " stderr F before stop\n");
	/* The stream is neither finished nor closed: stopping ends it and writes what was read. */
	log_pump_stop(f->pump);
	f->pump = NULL;
	close(out_w);
	close(err_w);

	struct records r;
	read_records(f->path, &r);
	assert_int_equal(r.count, 2);
	assert_string_equal(r.items[1].content, "unfinished");
	free_records(&r);
}

static void test_pump_no_pipes(void **state)
{
	struct fixture *f = *state;
	struct log_stream *stream = NULL;
	struct ck_error err = {0};
	assert_int_equal(log_pump_add(f->pump, f->path, -1, -1, &stream, &err), 0);
	assert_int_equal(log_stream_wait(stream, 0), 0);
	log_stream_close(f->pump, stream);
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, 0);
}

static void assert_closed(int fd)
{
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

static void test_pump_add_refuses(void **state)
{
	struct fixture *f = *state;
	struct log_stream *stream = NULL;
	struct ck_error err = {0};

	/* A regular file cannot be watched: refused, and closed since the pump owns it. */
	char plain[128];
	snprintf(plain, sizeof(plain), "%s/plain", f->dir);
	int fd = open(plain, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(log_pump_add(f->pump, f->path, fd, -1, &stream, &err), -EINVAL);
	assert_non_null(strstr(err.message, f->path));
	assert_non_null(strstr(err.message, "stdout is not a pipe"));
	assert_closed(fd);

	/* The directory cannot be made under a regular file. */
	int pipe_fds[2];
	assert_int_equal(pipe2(pipe_fds, O_CLOEXEC), 0);
	char path[160];
	snprintf(path, sizeof(path), "%s/sub/app.log", plain);
	ck_error_clear(&err);
	assert_int_equal(log_pump_add(f->pump, path, -1, pipe_fds[0], &stream, &err), -ENOTDIR);
	assert_non_null(strstr(err.message, path));
	assert_closed(pipe_fds[0]);
	close(pipe_fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_whole_line),
	    cmocka_unit_test(test_format_timestamp_digits),
	    cmocka_unit_test(test_format_several_lines),
	    cmocka_unit_test(test_format_line_across_chunks),
	    cmocka_unit_test(test_format_long_line),
	    cmocka_unit_test(test_format_line_limits),
	    cmocka_unit_test(test_format_final_partial),
	    cmocka_unit_test(test_format_empty_lines),
	    cmocka_unit_test(test_format_carriage_return),
	    cmocka_unit_test_setup_teardown(test_pump_end_to_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pump_burst_tiny_limit, setup_tiny_buffer,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pump_slow_writer, setup_tiny_buffer, teardown),
	    cmocka_unit_test_setup_teardown(test_pump_rotation_keeps_lines, setup_rotation,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pump_rotation_removes_oldest, setup_rotation,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pump_rotation_single_file,
					    setup_rotation_single_file, teardown),
	    cmocka_unit_test_setup_teardown(test_pump_one_byte_limit, setup_one_byte_buffer,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pump_appends, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pump_close_before_eof, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pump_stop_with_open_streams, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pump_no_pipes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pump_add_refuses, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
