/* Errors that travel up the call chain with context.
 *
 * A fallible function takes a caller-owned `struct ck_error *`, fills it on failure and returns
 * a negative errno value. Each caller on the way up may prefix the message with what it was
 * doing, so the final text names the object and the step:
 *   "pod default/web: mount volume data: /srv/data: No such file or directory". */
#pragma once

#include <stdarg.h>

struct ck_error {
	int code;           /* positive errno value; 0 while no error is set */
	char message[1024]; /* human-readable, no trailing newline */
};

/* Records a failure and returns -code so callers can `return ck_error_set(...)`. `err` may be
 * NULL when the caller does not want the text. */
int ck_error_set(struct ck_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int ck_error_setv(struct ck_error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Like ck_error_set, with ": <strerror(code)>" appended: for failed system calls. */
int ck_error_errno(struct ck_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "<context>: " to the message and returns -err->code. */
int ck_error_prefix(struct ck_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void ck_error_clear(struct ck_error *err);
