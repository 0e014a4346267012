#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int ck_error_setv(struct ck_error *err, int code, const char *fmt, va_list ap)
{
	if (code <= 0)
		code = EIO;
	if (err) {
		err->code = code;
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
	}
	return -code;
}

int ck_error_set(struct ck_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = ck_error_setv(err, code, fmt, ap);
	va_end(ap);
	return ret;
}

int ck_error_errno(struct ck_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = ck_error_setv(err, code, fmt, ap);
	va_end(ap);
	if (err) {
		size_t used = strlen(err->message);
		snprintf(err->message + used, sizeof(err->message) - used, ": %s",
			 strerror(err->code));
	}
	return ret;
}

int ck_error_prefix(struct ck_error *err, const char *fmt, ...)
{
	if (!err)
		return -EIO;
	char joined[sizeof(err->message)];
	va_list ap;
	va_start(ap, fmt);
	int used = vsnprintf(joined, sizeof(joined), fmt, ap);
	va_end(ap);
	if (used >= 0 && (size_t)used + 2 < sizeof(joined)) {
		/* A chain longer than the buffer loses its tail; the context stays readable. */
		size_t rest = sizeof(joined) - (size_t)used;
		memcpy(joined + used, ": ", 2);
		strncpy(joined + used + 2, err->message, rest - 2);
		joined[sizeof(joined) - 1] = '\0';
	}
	memcpy(err->message, joined, sizeof(joined));
	return -(err->code ? err->code : EIO);
}

void ck_error_clear(struct ck_error *err)
{
	if (err) {
		err->code = 0;
		err->message[0] = '\0';
	}
}
