/* Standard base64 (RFC 4648, '+' '/' and '=' padding) as Go's base64.StdEncoding reads and
 * writes it: the form of Secret data and of certificates in kubeconfigs. */
#pragma once

#include <stddef.h>

#include "buf.h"
#include "error.h"

/* Appends the encoding of `len` bytes to `out`. */
void base64_encode(const void *data, size_t len, struct buf *out);

/* Appends the bytes `len` characters of text stand for to `out`. Padding is required; '\r' and
 * '\n' are skipped anywhere; anything else outside the alphabet, bad padding or text after it
 * is -EINVAL with Go's message, "illegal base64 data at input byte 4", and `out` unchanged.
 * As in Go, the unused low bits of the last character need not be zero. */
int base64_decode(const char *text, size_t len, struct buf *out, struct ck_error *err);
