/* Container output to CRI log files, the format the kubelet reads for `kubectl logs`:
 *
 *   2026-11-25T15:04:05.123456789Z stdout F a whole line
 *   2026-11-25T15:04:05.123456789Z stderr P the first 16 KiB of a longer line...
 *
 * One pump per process serves every container: a reader thread drains all pipes as soon as
 * they are readable into memory (so a container never blocks on a full pipe because the
 * agent is busy), and a writer thread formats and appends to the files (so a slow disk holds
 * up nobody's pipe until a container has a whole buffer limit of output waiting; only then is
 * that one container's pipe left unread, which slows that container down and loses nothing).
 *
 * A file grows to `max_size` (a single record larger than that gets a file of its own), then is
 * renamed to "<path>.<YYYYMMDD-HHMMSS>" in UTC ("<path>.<YYYYMMDD-HHMMSS>.<n>", n = 1, 2, ...,
 * when that name is taken by a rotation within the same second, so read them ordered by time,
 * then n) and a new one is started; the oldest rotated files beyond `max_files - 1` are
 * removed (the kubelet's containerLogMaxSize 10Mi and containerLogMaxFiles 5 are the
 * defaults). */
#pragma once

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/error.h"

struct log_pump_options {
	int64_t max_size;    /* bytes per file before rotation; 0 = 10 MiB */
	int max_files;       /* the live file plus rotated ones; 0 = 5 */
	size_t buffer_limit; /* bytes held in memory per container; 0 = 8 MiB */
};

struct log_pump;
struct log_stream;

int log_pump_start(const struct log_pump_options *options, struct log_pump **out,
		   struct ck_error *err);
/* Stops both threads after everything read so far is on disk, and closes and frees the streams
 * not closed yet: their pointers are invalid afterwards. */
void log_pump_stop(struct log_pump *pump);

/* Starts pumping a container's stdout and stderr read ends (either may be -1; the pump owns
 * them from here on, also when this fails, and makes them non-blocking) into the file `path`,
 * which is created with its directory and appended to when it exists (a container restarted by
 * the agent keeps its file). The ends must be pipes, FIFOs, sockets or terminals: what epoll
 * can watch. Reading goes on until both reach end of file (every writer closed: the container
 * and all its processes have exited). The stream is freed by log_stream_close. */
int log_pump_add(struct log_pump *pump, const char *path, int stdout_fd, int stderr_fd,
		 struct log_stream **out, struct ck_error *err);
/* Waits (up to timeout_ms, -1 = no limit) until both pipes reached end of file and every
 * line is written; 0, or -ETIMEDOUT. */
int log_stream_wait(struct log_stream *stream, int timeout_ms);
/* Stops reading (whatever is still in the pipes stays there), writes what was read, and
 * frees the stream. */
void log_stream_close(struct log_pump *pump, struct log_stream *stream);

/* --- rotated files, shared with readers ---------------------------------------------------- */

/* One rotated file of a log: its name in the log's directory and what orders it. */
struct cri_log_rotated {
	char *name;
	char stamp[16]; /* YYYYMMDD-HHMMSS */
	unsigned long n;
};

/* The rotated files of the log named `base` in the open directory `dir`, oldest first (by
 * stamp, then n); -ENOMEM. Free with cri_log_rotated_free. */
int cri_log_list_rotated(DIR *dir, const char *base, struct cri_log_rotated **out, size_t *count);
void cri_log_rotated_free(struct cri_log_rotated *files, size_t count);

/* --- the format, shared with readers (kubectl logs in the agent) and tests ---------------- */

/* Longest line body in one record; longer lines become P records followed by an F record. */
#define CRI_LOG_MAX_LINE 16384

/* Appends the records for `data` (which may hold several lines, and a partial last line that
 * stays in `*partial` for the next call) to `out`, all stamped `when`, which is written in UTC
 * with nine fraction digits. `stream` is "stdout" or "stderr". As in containerd, a "\r" before
 * a newline is dropped and an empty line is a record with empty content ("... stdout F \n").
 * `final` flushes a partial last line as F (end of file without a newline; containerd writes P
 * there, but this file is appended to by the container's next run, whose first line must not
 * be glued to it). */
struct buf;
void cri_log_format(struct buf *out, struct buf *partial, const char *stream,
		    const struct timespec *when, const char *data, size_t len, bool final);
