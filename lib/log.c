#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level min_level = LOG_LEVEL_INFO;

void log_set_level(enum log_level level)
{
	min_level = level;
}

void log_init_from_env(void)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	const char *wanted = getenv("CKUBE_LOG");
	if (!wanted)
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(wanted, names[i]) == 0)
			min_level = (enum log_level)i;
}

int log_enabled(enum log_level level)
{
	return level >= min_level;
}

void log_message(enum log_level level, const char *fmt, ...)
{
	static const char *const labels[] = {"DEBUG", "INFO", "WARN", "ERROR"};
	if (level < min_level)
		return;

	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm utc;
	gmtime_r(&now.tv_sec, &utc);
	char stamp[32];
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);

	/* One formatted line, one write: lines from several threads never interleave. */
	char line[2048];
	int used = snprintf(line, sizeof(line), "%s.%03ldZ %-5s ", stamp, now.tv_nsec / 1000000,
			    labels[level]);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + used, sizeof(line) - (size_t)used, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
