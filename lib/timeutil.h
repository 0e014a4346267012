/* Times and durations in the forms Kubernetes uses: RFC 3339 in UTC for metav1.Time
 * ("2026-11-25T12:49:55Z") and metav1.MicroTime ("2026-11-25T12:49:55.123456Z"), the AGE
 * column's short durations ("15s", "2m3s", "3d4h"), and Go duration strings ("1m30s"). */
#pragma once

#include <stdint.h>
#include <time.h>

#include "error.h"

/* Room for any of the texts below. */
#define TIMEUTIL_TEXT_SIZE 48

/* Seconds since the epoch as metav1.Time writes them. Returns `out`. */
/* `clock` (CLOCK_REALTIME for pthread_cond_timedwait, CLOCK_MONOTONIC for a condition variable
 * set to it) `ms` milliseconds from now. */
struct timespec timeutil_after_ms(clockid_t clock, int64_t ms);

const char *timeutil_format_rfc3339(time_t seconds, char out[TIMEUTIL_TEXT_SIZE]);
/* With the microseconds of `ts` (truncated), as metav1.MicroTime writes them. */
const char *timeutil_format_rfc3339_micro(struct timespec ts, char out[TIMEUTIL_TEXT_SIZE]);

/* Exactly "YYYY-MM-DDTHH:MM:SS", an optional fraction ('.' or ',' and digits; nanoseconds
 * kept), then "Z" or "+HH:MM" / "-HH:MM". Fields must be in range (no 24:00, no leap second,
 * no February 30). Returns 0 or -EINVAL. */
int timeutil_parse_rfc3339(const char *text, struct timespec *out, struct ck_error *err);

/* apimachinery's duration.HumanDuration, the AGE column: "45s", "2m3s", "25m", "5h3m", "30h",
 * "3d4h", "400d", "3y20d", "10y"; "0s" for up to a second in the future (clock skew),
 * "<invalid>" beyond that. */
const char *timeutil_human_duration(int64_t nanoseconds, char out[TIMEUTIL_TEXT_SIZE]);
/* duration.ShortHumanDuration: one unit only ("45s", "25m", "5h", "3d", "2y"). */
const char *timeutil_short_human_duration(int64_t nanoseconds, char out[TIMEUTIL_TEXT_SIZE]);

/* Go's time.ParseDuration: a signed sequence of decimal numbers with units ns, us (or µs), ms,
 * s, m, h, e.g. "300ms", "-1.5h", "2h45m"; "0" alone needs no unit. Returns 0 or -EINVAL with
 * Go's message ("time: unknown unit \"d\" in duration \"1d\""), also on overflow. */
int timeutil_parse_duration(const char *text, int64_t *nanoseconds, struct ck_error *err);
