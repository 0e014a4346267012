/* The terminal progress reporter of pulls (pull_progress_terminal, see image_pull.h). */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/image_pull.h"

struct progress_line {
	char digest[IMAGE_DIGEST_LENGTH + 1];
	int64_t done;
	int64_t total;
	bool present; /* the store had it */
};

struct terminal_progress {
	FILE *out;
	bool tty;
	pthread_mutex_t lock;
	struct progress_line *lines;
	size_t count;
	size_t capacity;
	struct timespec last_draw;
};

#define REDRAW_INTERVAL_NS 100000000L

static void human_size(int64_t bytes, char *out, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double value = (double)bytes;
	size_t unit = 0;
	while (value >= 1024 && unit + 1 < sizeof(units) / sizeof(units[0])) {
		value /= 1024;
		unit++;
	}
	if (unit == 0)
		snprintf(out, size, "%lld B", (long long)bytes);
	else
		snprintf(out, size, "%.1f %s", value, units[unit]);
}

static void line_text(const struct progress_line *line, char *out, size_t size)
{
	char done[32], total[32];
	const char *hex = image_digest_hex(line->digest);
	human_size(line->done, done, sizeof(done));
	human_size(line->total, total, sizeof(total));
	if (line->present)
		snprintf(out, size, "%.12s: already present", hex);
	else if (line->total >= 0 && line->done >= line->total)
		snprintf(out, size, "%.12s: done %s", hex, total);
	else if (line->total >= 0)
		snprintf(out, size, "%.12s: downloading %s / %s", hex, done, total);
	else
		snprintf(out, size, "%.12s: downloading %s", hex, done);
}

static bool redraw_due(struct terminal_progress *tp)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long elapsed = (now.tv_sec - tp->last_draw.tv_sec) * 1000000000L +
		       (now.tv_nsec - tp->last_draw.tv_nsec);
	if (elapsed < REDRAW_INTERVAL_NS)
		return false;
	tp->last_draw = now;
	return true;
}

static struct progress_line *find_line(struct terminal_progress *tp, const char *digest,
				       bool *is_new)
{
	for (size_t i = 0; i < tp->count; i++) {
		if (strcmp(tp->lines[i].digest, digest) == 0) {
			*is_new = false;
			return &tp->lines[i];
		}
	}
	if (tp->count == tp->capacity) {
		tp->capacity = tp->capacity ? 2 * tp->capacity : 16;
		tp->lines = realloc(tp->lines, tp->capacity * sizeof(*tp->lines));
		if (!tp->lines)
			abort();
	}
	struct progress_line *line = &tp->lines[tp->count++];
	memset(line, 0, sizeof(*line));
	snprintf(line->digest, sizeof(line->digest), "%s", digest);
	*is_new = true;
	return line;
}

static void terminal_update(void *ctx, const char *digest, int64_t done, int64_t total)
{
	struct terminal_progress *tp = ctx;
	char text[128];
	pthread_mutex_lock(&tp->lock);
	bool is_new;
	struct progress_line *line = find_line(tp, digest, &is_new);
	bool was_finished = !is_new && line->total >= 0 && line->done >= line->total;
	bool finished = total >= 0 && done >= total;
	bool finished_now = finished && !was_finished;
	if (is_new)
		line->present = finished;
	line->done = done;
	line->total = total;
	line_text(line, text, sizeof(text));
	size_t up = tp->count - (size_t)(line - tp->lines);
	if (is_new)
		fprintf(tp->out, "%s\n", text);
	else if (tp->tty && (finished_now || redraw_due(tp)))
		fprintf(tp->out, "\033[%zuA\r\033[2K%s\r\033[%zuB", up, text, up);
	else if (!tp->tty && finished_now)
		fprintf(tp->out, "%s\n", text);
	fflush(tp->out);
	pthread_mutex_unlock(&tp->lock);
}

void pull_progress_terminal(struct pull_progress *progress, FILE *out)
{
	struct terminal_progress *tp = calloc(1, sizeof(*tp));
	if (!tp)
		abort();
	tp->out = out;
	tp->tty = isatty(fileno(out));
	pthread_mutex_init(&tp->lock, NULL);
	progress->update = terminal_update;
	progress->ctx = tp;
}

void pull_progress_terminal_done(struct pull_progress *progress)
{
	struct terminal_progress *tp = progress->ctx;
	if (!tp)
		return;
	pthread_mutex_destroy(&tp->lock);
	free(tp->lines);
	free(tp);
	progress->ctx = NULL;
	progress->update = NULL;
}
