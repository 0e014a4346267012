/* A growable byte buffer, always NUL-terminated so that text can be used as a C string.
 * Allocation failure aborts: a daemon that cannot allocate a few KiB cannot report anything. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
};

void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_reserve(struct buf *b, size_t extra);
/* Hands the text to the caller (free() it); the buffer is left empty. Never NULL. */
char *buf_steal(struct buf *b);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#define _cleanup_buf_ __attribute__((cleanup(buf_free)))
