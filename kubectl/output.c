#include "kubectl/output.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/yaml.h"

int output_format_parse(const char *text, enum output_format *format, struct ck_error *err)
{
	static const struct {
		const char *name;
		enum output_format format;
	} formats[] = {{"wide", OUTPUT_WIDE},
		       {"yaml", OUTPUT_YAML},
		       {"json", OUTPUT_JSON},
		       {"name", OUTPUT_NAME}};
	if (!text || !*text) {
		*format = OUTPUT_TABLE;
		return 0;
	}
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(text, formats[i].name) == 0)
			return *format = formats[i].format, 0;
	return ck_error_set(err, EINVAL,
			    "unable to match a printer suitable for the output format \"%s\", "
			    "allowed formats are: json,name,wide,yaml",
			    text);
}

static void json_string_go(const char *text, size_t len, struct buf *out)
{
	static const char hex[] = "0123456789abcdef";
	buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		switch (c) {
		case '"':
			buf_puts(out, "\\\"");
			continue;
		case '\\':
			buf_puts(out, "\\\\");
			continue;
		case '\n':
			buf_puts(out, "\\n");
			continue;
		case '\r':
			buf_puts(out, "\\r");
			continue;
		case '\t':
			buf_puts(out, "\\t");
			continue;
		case '\b':
			buf_puts(out, "\\b");
			continue;
		case '\f':
			buf_puts(out, "\\f");
			continue;
		}
		/* Go escapes <, > and & for HTML, and the JavaScript line separators. */
		bool line_separator =
		    c == 0xe2 && i + 2 < len && (unsigned char)text[i + 1] == 0x80 &&
		    ((unsigned char)text[i + 2] == 0xa8 || (unsigned char)text[i + 2] == 0xa9);
		if (line_separator) {
			buf_printf(out, "\\u202%c", (unsigned char)text[i + 2] == 0xa8 ? '8' : '9');
			i += 2;
		} else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
			char escaped[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			buf_append(out, escaped, sizeof(escaped));
		} else {
			buf_putc(out, (char)c);
		}
	}
	buf_putc(out, '"');
}

/* Shortest round-trip digits; plain notation from 1e-6 up to 1e21, like encoding/json. */
static void json_real_go(double value, struct buf *out)
{
	char text[64];
	int digits = 1;
	for (; digits < 17; digits++) {
		snprintf(text, sizeof(text), "%.*e", digits - 1, value);
		if (strtod(text, NULL) == value)
			break;
	}
	double magnitude = fabs(value);
	if (magnitude != 0 && (magnitude < 1e-6 || magnitude >= 1e21)) {
		snprintf(text, sizeof(text), "%.*e", digits - 1, value);
		size_t n = strlen(text);
		if (n >= 4 && text[n - 4] == 'e' && text[n - 3] == '-' && text[n - 2] == '0') {
			text[n - 2] = text[n - 1];
			text[n - 1] = '\0';
		}
	} else {
		snprintf(text, sizeof(text), "%.*e", digits - 1, value);
		int exponent = atoi(strchr(text, 'e') + 1);
		int decimals = digits - 1 - exponent;
		snprintf(text, sizeof(text), "%.*f", decimals > 0 ? decimals : 0, value);
	}
	buf_puts(out, text);
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void indent(struct buf *out, int depth)
{
	buf_putc(out, '\n');
	for (int i = 0; i < depth; i++)
		buf_puts(out, "    ");
}

static void json_value_go(const json_t *value, int depth, struct buf *out)
{
	switch (json_typeof(value)) {
	case JSON_OBJECT: {
		size_t count = json_object_size(value);
		if (count == 0) {
			buf_puts(out, "{}");
			return;
		}
		const char **keys = malloc(count * sizeof(*keys));
		if (!keys)
			abort();
		size_t n = 0;
		const char *key;
		const json_t *member;
		json_object_foreach ((json_t *)value, key, member)
			keys[n++] = key;
		qsort(keys, n, sizeof(*keys), compare_strings);
		buf_putc(out, '{');
		for (size_t i = 0; i < n; i++) {
			indent(out, depth + 1);
			json_string_go(keys[i], strlen(keys[i]), out);
			buf_puts(out, ": ");
			json_value_go(json_object_get(value, keys[i]), depth + 1, out);
			if (i + 1 < n)
				buf_putc(out, ',');
		}
		free(keys);
		indent(out, depth);
		buf_putc(out, '}');
		return;
	}
	case JSON_ARRAY:
		if (json_array_size(value) == 0) {
			buf_puts(out, "[]");
			return;
		}
		buf_putc(out, '[');
		for (size_t i = 0; i < json_array_size(value); i++) {
			indent(out, depth + 1);
			json_value_go(json_array_get(value, i), depth + 1, out);
			if (i + 1 < json_array_size(value))
				buf_putc(out, ',');
		}
		indent(out, depth);
		buf_putc(out, ']');
		return;
	case JSON_STRING:
		json_string_go(json_string_value(value), json_string_length(value), out);
		return;
	case JSON_INTEGER:
		buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
		return;
	case JSON_REAL:
		json_real_go(json_real_value(value), out);
		return;
	case JSON_TRUE:
		buf_puts(out, "true");
		return;
	case JSON_FALSE:
		buf_puts(out, "false");
		return;
	case JSON_NULL:
		buf_puts(out, "null");
		return;
	}
}

void output_json(const json_t *value, struct buf *out)
{
	json_value_go(value, 0, out);
	buf_putc(out, '\n');
}

static void output_name(const json_t *object, struct buf *out)
{
	const char *kind = json_string_value(json_object_get(object, "kind"));
	const char *api_version = json_string_value(json_object_get(object, "apiVersion"));
	const char *name = json_path_string(object, "metadata.name");
	const char *slash = api_version ? strchr(api_version, '/') : NULL;
	for (const char *p = kind ? kind : ""; *p; p++)
		buf_putc(out, (char)tolower((unsigned char)*p));
	if (slash)
		buf_printf(out, ".%.*s", (int)(slash - api_version), api_version);
	buf_printf(out, "/%s\n", name ? name : "");
}

int output_object(struct kubectl *k, const json_t *object, enum output_format format,
		  struct ck_error *err)
{
	_cleanup_buf_ struct buf text = {0};
	if (format == OUTPUT_YAML)
		return yaml_emit(k->out, object, err);
	if (format == OUTPUT_JSON) {
		output_json(object, &text);
	} else if (json_is_array(json_object_get(object, "items"))) {
		size_t i;
		const json_t *item;
		json_array_foreach (json_object_get(object, "items"), i, item)
			output_name(item, &text);
	} else {
		output_name(object, &text);
	}
	fputs(text.data, k->out);
	return 0;
}

json_t *output_list(json_t *items)
{
	return json_pack("{s:s, s:O, s:s, s:{s:s}}", "apiVersion", "v1", "items", items, "kind",
			 "List", "metadata", "resourceVersion", "");
}

void output_fill_item_type(json_t *item, const json_t *list)
{
	const char *list_kind = json_string_value(json_object_get(list, "kind"));
	const char *api_version = json_string_value(json_object_get(list, "apiVersion"));
	size_t len = list_kind ? strlen(list_kind) : 0;
	if (!json_object_get(item, "kind") && len > 4 && strcmp(list_kind + len - 4, "List") == 0)
		json_object_set_new(item, "kind", json_stringn(list_kind, len - 4));
	if (!json_object_get(item, "apiVersion") && api_version)
		json_object_set_new(item, "apiVersion", json_string(api_version));
}
