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
	/* A chain longer than the buffer loses its tail; the context stays readable. */
	size_t at = used < 0                        ? 0
		    : (size_t)used < sizeof(joined) ? (size_t)used
						    : sizeof(joined) - 1;
	const char *parts[] = {": ", err->message};
	for (size_t i = 0; i < 2; i++) {
		size_t n = strnlen(parts[i], sizeof(joined) - 1 - at);
		memcpy(joined + at, parts[i], n);
		at += n;
	}
	joined[at] = '\0';
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
