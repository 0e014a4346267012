/* One container run's log as `kubectl logs` shows it, read from the CRI files the log pump
 * writes (runtime/cri_log.h): the rotated files oldest first, then the live one.
 *
 * The output is what the kubelet's pkg/kubelet/kuberuntime/logs writes: the content of each
 * record, stdout and stderr interleaved as they were written, optionally with the record's
 * time in RFC 3339 with nine fraction digits and a space before it. Unlike the kubelet, P
 * (partial) records are joined with the F record that ends their line before anything is
 * written, so a long line gets one timestamp, and tailLines and sinceTime count and judge
 * whole lines (a line's time is that of its first record).
 *
 * Following goes on until the container no longer runs and its file has been quiet for a
 * moment (the pump may still be writing its last output when the process is gone). A
 * rotation is noticed by the live path naming another inode; the old file is read to its end
 * first, then its successor, so nothing is lost or repeated.
 *
 * A reader is used by one thread. It never blocks: when following and nothing is new it
 * says so, and the caller waits on log_reader_poll_fd() for at most
 * log_reader_poll_timeout() milliseconds (along with whatever else it waits for, like the
 * client going away). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lib/error.h"

/* Lines held back whole up to this size; a longer one is written in pieces as it comes. */
#define LOG_READER_MAX_LINE (1024 * 1024)
/* How long a followed file must stay quiet after its container ended before the end. */
#define LOG_READER_END_GRACE_MS 250
/* How often a followed container is asked whether it still runs while nothing is written. */
#define LOG_READER_CHECK_MS 1000

struct log_read_options {
	int64_t tail_lines;    /* only the last N lines over all files; -1: all */
	int64_t limit_bytes;   /* stop after N bytes of output; -1: no limit */
	struct timespec since; /* skip lines stamped before this; {0, 0}: none */
	bool follow;           /* then go on with what the container writes until it ends */
	bool timestamps;
	/* While following: whether the container still runs (and so may write more). NULL: it
	 * does not. */
	bool (*running)(void *ctx);
	void *running_ctx;
};

struct log_reader;

/* Opens the log whose live file is `path` ("<dir>/<restart>.log") with its rotated files and
 * finds where the tail starts. -ENOENT when none of them exists. */
int log_reader_open(const char *path, const struct log_read_options *options,
		    struct log_reader **out, struct ck_error *err);
/* Copies up to `max` bytes of output to `out`: the count; 0 at the end; -EAGAIN while
 * following when nothing is new yet (wait, then read again); another negative errno on a
 * failure to read the files. */
ssize_t log_reader_read(struct log_reader *reader, char *out, size_t max, struct ck_error *err);
/* After -EAGAIN: readable (POLLIN) when the files changed, -1 when not following. */
int log_reader_poll_fd(const struct log_reader *reader);
/* After -EAGAIN: the longest wait before reading again, in milliseconds. */
int log_reader_poll_timeout(const struct log_reader *reader);
void log_reader_free(struct log_reader *reader);

/* Formats `ts` as the kubelet's RFC3339NanoFixed in UTC: "2026-11-25T12:49:55.000000005Z".
 * `out` needs 31 bytes; returns the length (30). */
size_t log_format_timestamp(const struct timespec *ts, char *out);
