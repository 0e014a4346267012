#include "strconv.h"

#include <errno.h>
#include <string.h>

#define RUNE_ERROR 0xFFFDu

/* Go's NumError text: "strconv.ParseInt: parsing \"x\": invalid syntax". */
static int number_error(struct ck_error *err, int code, const char *function, const char *text)
{
	_cleanup_buf_ struct buf quoted = {0};
	strconv_append_quoted(&quoted, text, strlen(text));
	return ck_error_set(err, code, "strconv.%s: parsing %s: %s", function, quoted.data,
			    code == ERANGE ? "value out of range" : "invalid syntax");
}

int strconv_parse_bool(const char *text, bool *out, struct ck_error *err)
{
	static const char *const trues[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const falses[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < sizeof(trues) / sizeof(trues[0]); i++) {
		if (strcmp(text, trues[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(text, falses[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return number_error(err, EINVAL, "ParseBool", text);
}

int strconv_parse_int(const char *text, int64_t min, int64_t max, int64_t *out,
		      struct ck_error *err)
{
	const char *p = text;
	bool negative = false;
	if (*p == '+' || *p == '-')
		negative = *p++ == '-';
	if (!*p)
		return number_error(err, EINVAL, "ParseInt", text);

	/* Like Go, the digits are read as a uint64: a magnitude past its range is reported at once,
	 * even before a bad character further on; one past the int64 range only at the end. */
	uint64_t magnitude = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return number_error(err, EINVAL, "ParseInt", text);
		unsigned digit = (unsigned)(*p - '0');
		if (magnitude > (UINT64_MAX - digit) / 10)
			return number_error(err, ERANGE, "ParseInt", text);
		magnitude = magnitude * 10 + digit;
	}
	const uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (magnitude > limit)
		return number_error(err, ERANGE, "ParseInt", text);
	int64_t value = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
	if (value < min || value > max)
		return number_error(err, ERANGE, "ParseInt", text);
	*out = value;
	return 0;
}

static bool is_continuation(unsigned char byte, unsigned char low, unsigned char high)
{
	return byte >= low && byte <= high;
}

size_t utf8_decode_rune(const char *text, size_t len, uint32_t *rune)
{
	const unsigned char *s = (const unsigned char *)text;
	unsigned char lead = s[0];
	*rune = RUNE_ERROR;
	if (lead < 0x80) {
		*rune = lead;
		return 1;
	}
	size_t width;
	unsigned char low = 0x80, high = 0xBF; /* bounds of the second byte */
	if (lead >= 0xC2 && lead <= 0xDF) {
		width = 2;
	} else if (lead >= 0xE0 && lead <= 0xEF) {
		width = 3;
		if (lead == 0xE0)
			low = 0xA0; /* overlong */
		else if (lead == 0xED)
			high = 0x9F; /* surrogates */
	} else if (lead >= 0xF0 && lead <= 0xF4) {
		width = 4;
		if (lead == 0xF0)
			low = 0x90; /* overlong */
		else if (lead == 0xF4)
			high = 0x8F; /* beyond U+10FFFF */
	} else {
		return 1;
	}
	if (len < width || !is_continuation(s[1], low, high))
		return 1;
	for (size_t i = 2; i < width; i++)
		if (!is_continuation(s[i], 0x80, 0xBF))
			return 1;
	uint32_t value = lead & (0x7Fu >> width);
	for (size_t i = 1; i < width; i++)
		value = value << 6 | (s[i] & 0x3Fu);
	*rune = value;
	return width;
}

void utf8_append_rune(struct buf *out, uint32_t rune)
{
	if ((rune >= 0xD800 && rune <= 0xDFFF) || rune > 0x10FFFF)
		rune = RUNE_ERROR;
	char bytes[4];
	size_t n;
	if (rune < 0x80) {
		bytes[0] = (char)rune;
		n = 1;
	} else if (rune < 0x800) {
		bytes[0] = (char)(0xC0 | rune >> 6);
		bytes[1] = (char)(0x80 | (rune & 0x3F));
		n = 2;
	} else if (rune < 0x10000) {
		bytes[0] = (char)(0xE0 | rune >> 12);
		bytes[1] = (char)(0x80 | (rune >> 6 & 0x3F));
		bytes[2] = (char)(0x80 | (rune & 0x3F));
		n = 3;
	} else {
		bytes[0] = (char)(0xF0 | rune >> 18);
		bytes[1] = (char)(0x80 | (rune >> 12 & 0x3F));
		bytes[2] = (char)(0x80 | (rune >> 6 & 0x3F));
		bytes[3] = (char)(0x80 | (rune & 0x3F));
		n = 4;
	}
	buf_append(out, bytes, n);
}

/* Go prints letters, marks, numbers, punctuation and symbols as they are. Without Unicode's
 * tables this knows the code points that are not: controls, spaces other than ' ', line and
 * paragraph separators, the common format characters, private use and non-characters. An
 * unassigned code point is printed as it is, where Go would escape it. */
static bool rune_is_printable(uint32_t rune)
{
	static const struct {
		uint32_t first, last;
	} hidden[] = {
	    {0x0000, 0x001F},    {0x007F, 0x00A0}, {0x00AD, 0x00AD},   {0x061C, 0x061C},
	    {0x1680, 0x1680},    {0x180E, 0x180E}, {0x2000, 0x200F},   {0x2028, 0x202F},
	    {0x205F, 0x206F},    {0x3000, 0x3000}, {0xE000, 0xF8FF},   {0xFEFF, 0xFEFF},
	    {0xFFF9, 0xFFFB},    {0xFFFE, 0xFFFF}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
	    {0xF0000, 0x10FFFF},
	};
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (rune >= hidden[i].first && rune <= hidden[i].last)
			return false;
	return true;
}

static void append_escaped_rune(struct buf *out, uint32_t rune)
{
	static const char named[] = {
	    ['\a'] = 'a', ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n',
	    ['\r'] = 'r', ['\t'] = 't', ['\v'] = 'v',
	};
	if (rune < sizeof(named) && named[rune])
		buf_printf(out, "\\%c", named[rune]);
	else if (rune < 0x20 || rune == 0x7F)
		buf_printf(out, "\\x%02x", (unsigned)rune);
	else if (rune < 0x10000)
		buf_printf(out, "\\u%04x", (unsigned)rune);
	else
		buf_printf(out, "\\U%08x", (unsigned)rune);
}

void strconv_append_quoted(struct buf *out, const char *text, size_t len)
{
	buf_putc(out, '"');
	for (size_t i = 0; i < len;) {
		uint32_t rune;
		size_t width = utf8_decode_rune(text + i, len - i, &rune);
		if (rune == RUNE_ERROR && width == 1)
			buf_printf(out, "\\x%02x", (unsigned char)text[i]);
		else if (rune == '"' || rune == '\\')
			buf_printf(out, "\\%c", (char)rune);
		else if (rune_is_printable(rune))
			buf_append(out, text + i, width);
		else
			append_escaped_rune(out, rune);
		i += width;
	}
	buf_putc(out, '"');
}
