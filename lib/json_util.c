#include "json_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *json_path(const json_t *root, const char *dotted)
{
	const json_t *node = root;
	const char *segment = dotted;
	while (node && *segment) {
		if (!json_is_object(node))
			return NULL;
		const char *dot = strchr(segment, '.');
		size_t len = dot ? (size_t)(dot - segment) : strlen(segment);
		node = json_object_getn(node, segment, len);
		segment += len + (dot ? 1 : 0);
	}
	return (json_t *)node;
}

const char *json_path_string(const json_t *root, const char *dotted)
{
	return json_string_value(json_path(root, dotted));
}

json_t *json_object_ensure(json_t *obj, const char *key)
{
	json_t *child = json_object_get(obj, key);
	if (json_is_object(child))
		return child;
	child = json_object();
	if (!child || json_object_set_new(obj, key, child) < 0)
		return NULL;
	return child;
}

int json_object_set_string(json_t *obj, const char *key, const char *value)
{
	return json_object_set_new(obj, key, json_string(value)) < 0 ? -ENOMEM : 0;
}

static void dump_string(const char *text, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	buf_reserve(out, len + 2);
	buf_putc(out, '"');
	size_t run = 0; /* bytes that need no escaping, copied in one go */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(out, text + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
			buf_puts(out, "\\\"");
			break;
		case '\\':
			buf_puts(out, "\\\\");
			break;
		case '\b':
			buf_puts(out, "\\b");
			break;
		case '\f':
			buf_puts(out, "\\f");
			break;
		case '\n':
			buf_puts(out, "\\n");
			break;
		case '\r':
			buf_puts(out, "\\r");
			break;
		case '\t':
			buf_puts(out, "\\t");
			break;
		default: {
			char escaped[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], '\0'};
			buf_puts(out, escaped);
		}
		}
	}
	buf_append(out, text + run, len - run);
	buf_putc(out, '"');
}

/* Reals as jansson writes them: 17 significant digits, ".0" when that looks integral, and an
 * exponent without "+" or leading zeros ("1e300", "2.5e-10"). */
static void dump_real(double value, struct buf *out)
{
	char text[64];
	snprintf(text, sizeof(text), "%.17g", value);
	char *exponent = strchr(text, 'e');
	if (!exponent) {
		if (!strchr(text, '.'))
			strcat(text, ".0");
		buf_puts(out, text);
		return;
	}
	char *digits = exponent + 1;
	if (*digits == '-')
		digits++;
	char *first = digits;
	while (*first == '+' || (*first == '0' && first[1]))
		first++;
	memmove(digits, first, strlen(first) + 1);
	buf_puts(out, text);
}

void json_dump_append(const json_t *value, struct buf *out)
{
	switch (json_typeof(value)) {
	case JSON_OBJECT: {
		buf_putc(out, '{');
		bool first = true;
		const char *key;
		size_t key_len;
		json_t *member;
		json_object_keylen_foreach ((json_t *)value, key, key_len, member) {
			if (!first)
				buf_putc(out, ',');
			first = false;
			dump_string(key, key_len, out);
			buf_putc(out, ':');
			json_dump_append(member, out);
		}
		buf_putc(out, '}');
		break;
	}
	case JSON_ARRAY: {
		buf_putc(out, '[');
		size_t i;
		json_t *item;
		json_array_foreach (value, i, item) {
			if (i)
				buf_putc(out, ',');
			json_dump_append(item, out);
		}
		buf_putc(out, ']');
		break;
	}
	case JSON_STRING:
		dump_string(json_string_value(value), json_string_length(value), out);
		break;
	case JSON_INTEGER:
		buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
		break;
	case JSON_REAL:
		dump_real(json_real_value(value), out);
		break;
	case JSON_TRUE:
		buf_puts(out, "true");
		break;
	case JSON_FALSE:
		buf_puts(out, "false");
		break;
	case JSON_NULL:
		buf_puts(out, "null");
		break;
	}
}

char *json_dump_compact(const json_t *value)
{
	struct buf out = {0};
	if (value)
		json_dump_append(value, &out);
	return buf_steal(&out);
}
