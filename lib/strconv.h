/* Text to values by Go's rules (strconv and unicode/utf8), so that query parameters and
 * manifest values are accepted and refused exactly as Kubernetes would, with the same error
 * text ("strconv.ParseBool: parsing \"maybe\": invalid syntax"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

/* Go's strconv.ParseBool: 1 t T TRUE true True are true, 0 f F FALSE false False are false,
 * anything else is -EINVAL. */
int strconv_parse_bool(const char *text, bool *out, struct ck_error *err);

/* Go's strconv.ParseInt(text, 10, 64): an optional sign and decimal digits, nothing else (no
 * spaces, no '_'). A result outside [min, max] is -ERANGE with Go's "value out of range". */
int strconv_parse_int(const char *text, int64_t min, int64_t max, int64_t *out,
		      struct ck_error *err);

/* Go's utf8.DecodeRune: reads one code point from the `len` bytes at `text` into *rune and
 * returns its width; an invalid or truncated sequence gives U+FFFD with width 1. `len` > 0. */
size_t utf8_decode_rune(const char *text, size_t len, uint32_t *rune);
/* Appends the UTF-8 encoding of `rune` (U+FFFD for a surrogate or a value beyond U+10FFFF). */
void utf8_append_rune(struct buf *out, uint32_t rune);

/* Appends `len` bytes of text as Go's strconv.Quote (fmt's %q) writes it, for error messages
 * that name a value: in double quotes, with \" \\ \n \t ..., invalid bytes as \xNN and
 * non-printable code points as \uNNNN. */
void strconv_append_quoted(struct buf *out, const char *text, size_t len);
