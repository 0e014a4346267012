#include "base64.h"

#include <errno.h>
#include <stdbool.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const void *data, size_t len, struct buf *out)
{
	const unsigned char *in = data;
	if (len > 0) /* reserving allocates, and only appending terminates the text */
		buf_reserve(out, (len + 2) / 3 * 4);
	for (size_t i = 0; i < len; i += 3) {
		size_t left = len - i;
		unsigned group = (unsigned)in[i] << 16;
		if (left > 1)
			group |= (unsigned)in[i + 1] << 8;
		if (left > 2)
			group |= in[i + 2];
		char quantum[4] = {
		    alphabet[group >> 18 & 0x3F],
		    alphabet[group >> 12 & 0x3F],
		    left > 1 ? alphabet[group >> 6 & 0x3F] : '=',
		    left > 2 ? alphabet[group & 0x3F] : '=',
		};
		buf_append(out, quantum, sizeof(quantum));
	}
}

static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static bool is_newline(char c)
{
	return c == '\n' || c == '\r';
}

static int corrupt(struct ck_error *err, size_t offset)
{
	return ck_error_set(err, EINVAL, "illegal base64 data at input byte %zu", offset);
}

/* Reads one group of up to four characters at *pos the way Go does, so that the offset in
 * an error is the one Go reports. Sets *count to the number of characters before padding;
 * 0 at the end of the text. */
static int read_quantum(const char *text, size_t len, size_t *pos, unsigned char sextets[4],
			size_t *count, struct ck_error *err)
{
	size_t si = *pos;
	size_t j = 0;
	*count = 4;
	while (j < 4) {
		if (si == len) {
			if (j == 0) {
				*count = 0;
				break;
			}
			return corrupt(err, si - j);
		}
		char c = text[si++];
		int value = sextet((unsigned char)c);
		if (value >= 0) {
			sextets[j++] = (unsigned char)value;
			continue;
		}
		if (is_newline(c))
			continue;
		if (c != '=' || j < 2)
			return corrupt(err, si - 1);
		if (j == 2) { /* a second '=' must follow */
			while (si < len && is_newline(text[si]))
				si++;
			if (si == len)
				return corrupt(err, len);
			if (text[si] != '=')
				return corrupt(err, si - 1);
			si++;
		}
		while (si < len && is_newline(text[si]))
			si++;
		if (si < len)
			return corrupt(err, si);
		*count = j;
		break;
	}
	*pos = si;
	return 0;
}

int base64_decode(const char *text, size_t len, struct buf *out, struct ck_error *err)
{
	_cleanup_buf_ struct buf decoded = {0};
	size_t pos = 0;
	while (pos < len) {
		unsigned char s[4] = {0};
		size_t count;
		int ret = read_quantum(text, len, &pos, s, &count, err);
		if (ret < 0)
			return ret;
		unsigned group =
		    (unsigned)s[0] << 18 | (unsigned)s[1] << 12 | (unsigned)s[2] << 6 | s[3];
		unsigned char bytes[3] = {(unsigned char)(group >> 16), (unsigned char)(group >> 8),
					  (unsigned char)group};
		if (count > 1)
			buf_append(&decoded, bytes, count - 1);
	}
	buf_append(out, decoded.data, decoded.len);
	return 0;
}
