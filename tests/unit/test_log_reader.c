/* Reading CRI log files as `kubectl logs` shows them: hand-made files in a temporary
 * directory (whole and partial records, both streams, rotated files in their order, records
 * that do not parse), tail across files, since, limit, timestamps, and following: new output,
 * rotation while following (also several at once), the end of the container, and the real log
 * pump rotating under a follower without a line lost or repeated. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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

#include "kubelet/log_reader.h"
#include "lib/buf.h"
#include "lib/fsutil.h"
#include "runtime/cri_log.h"

#define T1 "2026-11-25T12:49:55.000000001Z"
#define T2 "2026-11-25T12:49:56.000000002Z"
#define T3 "2026-11-25T12:49:57.000000003Z"
#define T4 "2026-11-25T12:49:58.000000004Z"

struct fixture {
	char dir[64];
	char live[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/ckube-test-log-reader-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->live, sizeof(f->live), "%s/0.log", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct ck_error err = {0};
	if (fs_remove_tree(AT_FDCWD, f->dir, &err) < 0)
		fail_msg("%s", err.message);
	free(f);
	return 0;
}

/* Writes (or with `append`, adds to) a file in the fixture's directory. */
static void put(struct fixture *f, const char *name, bool append, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void rename_in(struct fixture *f, const char *from, const char *to)
{
	char a[256], b[256];
	snprintf(a, sizeof(a), "%s/%s", f->dir, from);
	snprintf(b, sizeof(b), "%s/%s", f->dir, to);
	assert_int_equal(rename(a, b), 0);
}

static struct log_read_options defaults(void)
{
	return (struct log_read_options){.tail_lines = -1, .limit_bytes = -1};
}

static struct log_reader *open_reader(const char *path, const struct log_read_options *options)
{
	struct log_reader *reader = NULL;
	struct ck_error err = {0};
	if (log_reader_open(path, options, &reader, &err) < 0)
		fail_msg("%s", err.message);
	return reader;
}

/* Reads until the end (or, following, until `want` bytes came), waiting as the reader asks;
 * small reads on purpose, so that output crosses read boundaries. */
static char *read_some(struct log_reader *reader, size_t want)
{
	struct buf out = {0};
	struct ck_error err = {0};
	for (;;) {
		char chunk[7];
		ssize_t n = log_reader_read(reader, chunk, sizeof(chunk), &err);
		if (n > 0) {
			buf_append(&out, chunk, (size_t)n);
			if (want && out.len >= want)
				break;
			continue;
		}
		if (n == 0)
			break;
		if (n != -EAGAIN)
			fail_msg("%s", err.message);
		if (want && out.len >= want)
			break;
		struct pollfd fd = {.fd = log_reader_poll_fd(reader), .events = POLLIN};
		poll(&fd, 1, log_reader_poll_timeout(reader));
	}
	return buf_steal(&out);
}

static char *read_all(const char *path, const struct log_read_options *options)
{
	struct log_reader *reader = open_reader(path, options);
	char *text = read_some(reader, 0);
	log_reader_free(reader);
	return text;
}

static void assert_log(const char *path, const struct log_read_options *options,
		       const char *expected)
{
	char *text = read_all(path, options);
	assert_string_equal(text, expected);
	free(text);
}

/* --- reading ------------------------------------------------------------------------------- */

static void test_content_only(void **state)
{
	struct fixture *f = *state;
	put(f, "0.log", false,
	    T1 " stdout F one\n" T2 " stderr F two\n" T3 " stdout F \n" T4 " stdout F four\n");
	struct log_read_options options = defaults();
	assert_log(f->live, &options, "one\ntwo\n\nfour\n");
}

static void test_timestamps(void **state)
{
	struct fixture *f = *state;
	/* Offsets and short fractions are written back in UTC with nine digits. */
	put(f, "0.log", false,
	    T1 " stdout F one\n"
	       "2026-11-25T13:49:56.5+01:00 stderr F two\n");
	struct log_read_options options = defaults();
	options.timestamps = true;
	assert_log(f->live, &options,
		   T1 " one\n"
		      "2026-11-25T12:49:56.500000000Z two\n");
}

static void test_partial_records_join(void **state)
{
	struct fixture *f = *state;
	/* A stdout line in three records, a stderr line written in between, and a tag with more
	 * than one part. */
	put(f, "0.log", false,
	    T1 " stdout P abc\n" T2 " stderr F err\n" T2 " stdout P:x def\n" T3 " stdout F ghi\n" T4
	       " stdout F next\n");
	struct log_read_options options = defaults();
	assert_log(f->live, &options, "err\nabcdefghi\nnext\n");
	options.timestamps = true;
	assert_log(f->live, &options, T2 " err\n" T1 " abcdefghi\n" T4 " next\n");
}

static void test_unterminated_end(void **state)
{
	struct fixture *f = *state;
	/* A line whose end never came, and a record cut short: both as far as they go. */
	put(f, "0.log", false, T1 " stdout F one\n" T2 " stdout P two\n" T3 " stdout F thr");
	struct log_read_options options = defaults();
	assert_log(f->live, &options, "one\ntwothr\n");
	put(f, "0.log", false, T1 " stdout F one\n" T2 " stdout P two\n");
	assert_log(f->live, &options, "one\ntwo");
}

static void test_bad_records_skipped(void **state)
{
	struct fixture *f = *state;
	put(f, "0.log", false,
	    "garbage\n" T1 " stdout F one\n"
	    "yesterday stdout F bad time\n" T2 " stdin F bad stream\n" T2 " stdout\n" T3
	    " stdout F three\n\n");
	struct log_read_options options = defaults();
	assert_log(f->live, &options, "one\nthree\n");
}

static void test_rotated_files_in_order(void **state)
{
	struct fixture *f = *state;
	/* Time first, then the number within the same second; other names are not ours. */
	put(f, "0.log.20261125-124957.1", false, T2 " stdout F c\n");
	put(f, "0.log.20261125-124957", false, T2 " stdout F b\n");
	put(f, "0.log.20261125-124956", false, T1 " stdout F a\n");
	put(f, "0.log.20261125-124957.2", false, T2 " stdout F d\n");
	put(f, "0.log.old", false, T1 " stdout F not ours\n");
	put(f, "1.log", false, T1 " stdout F another run\n");
	put(f, "0.log", false, T3 " stdout F e\n");
	struct log_read_options options = defaults();
	assert_log(f->live, &options, "a\nb\nc\nd\ne\n");
}

static void test_line_across_rotation(void **state)
{
	struct fixture *f = *state;
	put(f, "0.log.20261125-124956", false, T1 " stdout F a\n" T1 " stdout P b1");
	put(f, "0.log", false, "\n" T2 " stdout F b2\n");
	/* The unterminated record at the end of a rotated file is whole: nothing follows it. */
	struct log_read_options options = defaults();
	assert_log(f->live, &options, "a\nb1b2\n");
}

static void test_only_rotated_files(void **state)
{
	struct fixture *f = *state;
	put(f, "0.log.20261125-124956", false, T1 " stdout F a\n");
	struct log_read_options options = defaults();
	assert_log(f->live, &options, "a\n");
}

static void test_missing(void **state)
{
	struct fixture *f = *state;
	struct log_reader *reader = NULL;
	struct ck_error err = {0};
	struct log_read_options options = defaults();
	assert_int_equal(log_reader_open(f->live, &options, &reader, &err), -ENOENT);
	assert_null(reader);
	assert_non_null(strstr(err.message, "0.log"));
}

/* --- tail, since, limit --------------------------------------------------------------------- */

static void put_three_files(struct fixture *f)
{
	put(f, "0.log.20261125-124956", false, T1 " stdout F 1\n" T1 " stdout F 2\n");
	put(f, "0.log.20261125-124957", false,
	    T2 " stdout F 3\n" T2 " stdout P 4a\n" T2 " stdout P 4b\n" T2 " stdout F 4c\n");
	put(f, "0.log", false, T3 " stderr F 5\n" T4 " stdout F 6\n");
}

static void test_tail_across_files(void **state)
{
	struct fixture *f = *state;
	put_three_files(f);
	struct log_read_options options = defaults();
	const char *expected[] = {
	    "", "6\n", "5\n6\n", "4a4b4c\n5\n6\n", "3\n4a4b4c\n5\n6\n", "2\n3\n4a4b4c\n5\n6\n",
	};
	for (int n = 0; n <= 5; n++) {
		options.tail_lines = n;
		assert_log(f->live, &options, expected[n]);
	}
	options.tail_lines = 6;
	assert_log(f->live, &options, "1\n2\n3\n4a4b4c\n5\n6\n");
	options.tail_lines = 1000;
	assert_log(f->live, &options, "1\n2\n3\n4a4b4c\n5\n6\n");
}

static void test_tail_edges(void **state)
{
	struct fixture *f = *state;
	struct log_read_options options = defaults();
	/* An empty live file after a rotation; a record still being written is not a line yet. */
	put(f, "0.log.20261125-124956", false, T1 " stdout F 1\n" T1 " stdout F 2\n");
	put(f, "0.log", false, "");
	options.tail_lines = 1;
	assert_log(f->live, &options, "2\n");
	put(f, "0.log", false, T2 " stdout F 3\n" T2 " stdout F 4\n" T3 " stdout F par");
	options.tail_lines = 2;
	assert_log(f->live, &options, "3\n4\npar\n");
	/* A line whose P records are still all there is: the incomplete last line counts. */
	put(f, "0.log", false, T2 " stdout F 3\n" T2 " stdout P 4a\n");
	options.tail_lines = 1;
	assert_log(f->live, &options, "4a");
	options.tail_lines = 2;
	assert_log(f->live, &options, "3\n4a");
}

static void test_tail_long_file(void **state)
{
	struct fixture *f = *state;
	/* Many lines, so that the backward scan crosses its window several times. */
	struct buf text = {0}, expected = {0};
	for (int i = 0; i < 20000; i++) {
		buf_printf(&text, T1 " stdout F line %d\n", i);
		if (i >= 20000 - 12345)
			buf_printf(&expected, "line %d\n", i);
	}
	put(f, "0.log", false, text.data);
	struct log_read_options options = defaults();
	options.tail_lines = 12345;
	assert_log(f->live, &options, expected.data);
	buf_free(&text);
	buf_free(&expected);
}

static void test_since(void **state)
{
	struct fixture *f = *state;
	put_three_files(f);
	struct log_read_options options = defaults();
	/* T2 itself is kept; a line counts with the time of its first record. */
	options.since = (struct timespec){1795610996, 2};
	assert_log(f->live, &options, "3\n4a4b4c\n5\n6\n");
	options.since.tv_nsec = 3;
	assert_log(f->live, &options, "5\n6\n");
	/* Tail first, then since, as the kubelet does. */
	options.since = (struct timespec){1795610996, 0};
	options.tail_lines = 5;
	assert_log(f->live, &options, "3\n4a4b4c\n5\n6\n");
}

static void test_limit_bytes(void **state)
{
	struct fixture *f = *state;
	put_three_files(f);
	struct log_read_options options = defaults();
	options.limit_bytes = 5;
	assert_log(f->live, &options, "1\n2\n3");
	options.limit_bytes = 9;
	assert_log(f->live, &options, "1\n2\n3\n4a4");
	/* The timestamps count. */
	options.timestamps = true;
	options.limit_bytes = 63;
	assert_log(f->live, &options, T1 " 1\n" T1);
	/* Follow ends there too. */
	options.follow = true;
	options.timestamps = false;
	options.limit_bytes = 3;
	assert_log(f->live, &options, "1\n2");
}

static void test_long_line_streams(void **state)
{
	struct fixture *f = *state;
	/* A line longer than the reader holds: written in pieces, its records all there. */
	size_t piece = CRI_LOG_MAX_LINE, pieces = LOG_READER_MAX_LINE / CRI_LOG_MAX_LINE + 3;
	char *chunk = malloc(piece + 1);
	memset(chunk, 'x', piece);
	chunk[piece] = '\0';
	struct buf text = {0};
	for (size_t i = 0; i < pieces; i++)
		buf_printf(&text, T1 " stdout P %s\n", chunk);
	buf_printf(&text, T2 " stdout F end\n" T3 " stdout F next\n");
	put(f, "0.log", false, text.data);
	struct log_read_options options = defaults();
	options.timestamps = true;
	char *got = read_all(f->live, &options);
	size_t stamp = strlen(T1 " ");
	assert_int_equal(strlen(got), stamp + piece * pieces + strlen("end\n" T3 " next\n"));
	assert_memory_equal(got, T1 " ", stamp);
	assert_string_equal(got + stamp + piece * pieces, "end\n" T3 " next\n");
	free(got);
	free(chunk);
	buf_free(&text);
}

/* --- following ------------------------------------------------------------------------------ */

static bool always(void *ctx)
{
	(void)ctx;
	return true;
}

static bool flag_running(void *ctx)
{
	return atomic_load((atomic_bool *)ctx);
}

static void test_follow_new_output(void **state)
{
	struct fixture *f = *state;
	put(f, "0.log", false, T1 " stdout F one\n" T1 " stdout F two\n");
	struct log_read_options options = defaults();
	options.follow = true;
	options.tail_lines = 1;
	options.running = always;
	struct log_reader *reader = open_reader(f->live, &options);
	char *text = read_some(reader, 4);
	assert_string_equal(text, "two\n");
	free(text);
	/* Nothing new: the reader says so at once. */
	char c;
	struct ck_error err = {0};
	assert_int_equal(log_reader_read(reader, &c, 1, &err), -EAGAIN);
	/* A record written in two pieces, and a partial line, arrive whole. */
	put(f, "0.log", true, T2 " stdout F thr");
	put(f, "0.log", true, "ee\n" T2 " stdout P fo");
	text = read_some(reader, 6);
	assert_string_equal(text, "three\n");
	free(text);
	put(f, "0.log", true, "\n" T3 " stdout F ur\n");
	text = read_some(reader, 5);
	assert_string_equal(text, "four\n");
	free(text);
	log_reader_free(reader);
}

static void test_follow_rotation(void **state)
{
	struct fixture *f = *state;
	put(f, "0.log", false, T1 " stdout F one\n");
	struct log_read_options options = defaults();
	options.follow = true;
	options.running = always;
	struct log_reader *reader = open_reader(f->live, &options);
	char *text = read_some(reader, 4);
	assert_string_equal(text, "one\n");
	free(text);
	/* Written, rotated and a new file begun before the reader looks again. */
	put(f, "0.log", true, T2 " stdout F two\n");
	rename_in(f, "0.log", "0.log.20261125-124956");
	char c;
	struct ck_error err = {0};
	/* No live file for a moment: the reader waits for it. */
	text = read_some(reader, 4);
	assert_string_equal(text, "two\n");
	free(text);
	assert_int_equal(log_reader_read(reader, &c, 1, &err), -EAGAIN);
	put(f, "0.log", false, T3 " stdout F three\n");
	text = read_some(reader, 6);
	assert_string_equal(text, "three\n");
	free(text);
	/* Two rotations between two looks, and the oldest file pruned meanwhile. */
	put(f, "0.log", true, T3 " stdout F four\n");
	rename_in(f, "0.log", "0.log.20261125-124957");
	put(f, "0.log", false, T3 " stdout F five\n");
	rename_in(f, "0.log", "0.log.20261125-124957.1");
	put(f, "0.log", false, T4 " stdout F six\n");
	char path[256];
	snprintf(path, sizeof(path), "%s/0.log.20261125-124956", f->dir);
	assert_int_equal(unlink(path), 0);
	text = read_some(reader, 14);
	assert_string_equal(text, "four\nfive\nsix\n");
	free(text);
	assert_int_equal(log_reader_read(reader, &c, 1, &err), -EAGAIN);
	log_reader_free(reader);
}

static void test_follow_ends_with_container(void **state)
{
	struct fixture *f = *state;
	put(f, "0.log", false, T1 " stdout F one\n");
	atomic_bool running = true;
	struct log_read_options options = defaults();
	options.follow = true;
	options.running = flag_running;
	options.running_ctx = &running;
	struct log_reader *reader = open_reader(f->live, &options);
	char *text = read_some(reader, 4);
	assert_string_equal(text, "one\n");
	free(text);
	/* The last output lands just after the process is gone: it is still read. */
	atomic_store(&running, false);
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	put(f, "0.log", true, T2 " stdout F last\n");
	text = read_some(reader, 0);
	clock_gettime(CLOCK_MONOTONIC, &end);
	assert_string_equal(text, "last\n");
	free(text);
	int64_t took = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
	assert_true(took >= LOG_READER_END_GRACE_MS);
	assert_true(took < LOG_READER_CHECK_MS + 3 * LOG_READER_END_GRACE_MS);
	log_reader_free(reader);
	/* A container that is not running: the whole log, then the end. */
	options.running = NULL;
	assert_log(f->live, &options, "one\nlast\n");
}

/* The real pump rotating a small file many times while a follower reads along. */
struct pump_writer {
	int fd;
	int lines;
	atomic_bool running;
	struct log_pump *pump;
	struct log_stream *stream;
};

static void *write_lines(void *arg)
{
	struct pump_writer *w = arg;
	for (int i = 0; i < w->lines; i++) {
		char line[64];
		int len = snprintf(line, sizeof(line), "line %d\n", i);
		assert_int_equal(write(w->fd, line, (size_t)len), len);
		if (i % 50 == 0)
			usleep(1000);
	}
	close(w->fd);
	assert_int_equal(log_stream_wait(w->stream, 10000), 0);
	atomic_store(&w->running, false);
	return NULL;
}

static void test_follow_pump_rotation(void **state)
{
	struct fixture *f = *state;
	/* Enough files kept that a follower cannot fall behind the pruning. */
	const struct log_pump_options pump_options = {.max_size = 2048, .max_files = 1000};
	struct pump_writer w = {.lines = 3000, .running = true};
	struct ck_error err = {0};
	int pipe_fds[2];
	if (log_pump_start(&pump_options, &w.pump, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(pipe2(pipe_fds, O_CLOEXEC), 0);
	if (log_pump_add(w.pump, f->live, pipe_fds[0], -1, &w.stream, &err) < 0)
		fail_msg("%s", err.message);
	w.fd = pipe_fds[1];
	/* The file exists once the pump has written the first line. */
	assert_int_equal(write(w.fd, "first\n", 6), 6);
	while (access(f->live, F_OK) < 0)
		usleep(1000);
	struct log_read_options options = defaults();
	options.follow = true;
	options.running = flag_running;
	options.running_ctx = &w.running;
	struct log_reader *reader = open_reader(f->live, &options);
	pthread_t writer;
	assert_int_equal(pthread_create(&writer, NULL, write_lines, &w), 0);
	char *text = read_some(reader, 0);
	pthread_join(writer, NULL);
	struct buf expected = {0};
	buf_puts(&expected, "first\n");
	for (int i = 0; i < w.lines; i++)
		buf_printf(&expected, "line %d\n", i);
	assert_string_equal(text, expected.data);
	free(text);
	buf_free(&expected);
	log_reader_free(reader);
	/* It did rotate, many times. */
	int rotated = 0;
	DIR *dir = opendir(f->dir);
	assert_non_null(dir);
	for (struct dirent *entry; (entry = readdir(dir));)
		rotated += strncmp(entry->d_name, "0.log.", 6) == 0;
	closedir(dir);
	assert_true(rotated >= 20);
	log_stream_close(w.pump, w.stream);
	log_pump_stop(w.pump);
}

static void test_format_timestamp(void **state)
{
	(void)state;
	char out[32];
	struct timespec ts = {0, 5};
	assert_int_equal(log_format_timestamp(&ts, out), 30);
	assert_string_equal(out, "1970-01-01T00:00:00.000000005Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_content_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timestamps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partial_records_join, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unterminated_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_records_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotated_files_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_line_across_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_only_rotated_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tail_across_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tail_edges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tail_long_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_since, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limit_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_line_streams, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_follow_new_output, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_follow_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_follow_ends_with_container, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_follow_pump_rotation, setup, teardown),
	    cmocka_unit_test(test_format_timestamp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
