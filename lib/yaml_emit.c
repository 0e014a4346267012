/* JSON values out as YAML the way kubectl prints them: go-yaml v2's layout (block style, keys in
 * its "natural" order, sequences not indented under their key, 80-column folding) and its
 * quoting, so that a YAML 1.1 reader gets back the same types. */
#include "yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cleanup.h"

#define YAML_EMIT_MAX_DEPTH 512

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static const char *skip_sign(const char *s)
{
	return (*s == '+' || *s == '-') ? s + 1 : s;
}

/* Sexagesimal numbers such as 1:20 or 190:20:30.15, which YAML 1.1 reads as base 60. */
static bool looks_like_base60(const char *s)
{
	s = skip_sign(s);
	if (!is_digit(*s))
		return false;
	s += strspn(s, "0123456789_");
	if (*s != ':')
		return false;
	while (*s == ':') {
		size_t digits = strspn(s + 1, "0123456789");
		if (digits < 1 || digits > 2 || (digits == 2 && s[1] > '5'))
			return false;
		s += 1 + digits;
	}
	if (*s == '.')
		s += 1 + strspn(s + 1, "0123456789_");
	return *s == '\0';
}

/* yyyy-m-d, optionally followed by a time: readers turn these into timestamps. */
static bool looks_like_timestamp(const char *s)
{
	if (strspn(s, "0123456789") != 4 || s[4] != '-')
		return false;
	s += 5;
	for (int part = 0; part < 2; part++) {
		size_t digits = strspn(s, "0123456789");
		if (digits < 1 || digits > 2)
			return false;
		s += digits;
		if (part == 0) {
			if (*s != '-')
				return false;
			s++;
		}
	}
	return *s == '\0' || *s == 'T' || *s == 't' || *s == ' ' || *s == '\t';
}

/* True when a plain (unquoted) scalar with this text would be read back as something other than
 * this string: what our own reader types (null, booleans, numbers), and beyond it what other
 * YAML 1.1 readers may take for base-60 numbers, timestamps or merge keys. */
static bool plain_text_changes_type(const char *s)
{
	return !yaml_plain_is_string(s) || looks_like_base60(s) || looks_like_timestamp(s) ||
	       strcmp(s, "<<") == 0 || strcmp(s, "=") == 0;
}

/* Reads one code point; invalid bytes count as themselves so the order stays total. */
static uint32_t next_code_point(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t c = s[0];
	int extra = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
	if (extra) {
		c &= 0x3f >> extra;
		for (int i = 1; i <= extra; i++) {
			if ((s[i] & 0xc0) != 0x80) {
				*p = s + 1;
				return s[0];
			}
			c = (c << 6) | (s[i] & 0x3f);
		}
	}
	*p = s + 1 + extra;
	return c;
}

static bool is_letter(uint32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static bool is_digit_cp(uint32_t c)
{
	return c >= '0' && c <= '9';
}

/* The value and length of the run of digits at `s`. */
static int64_t digit_run(const unsigned char *s, int64_t start, size_t *length)
{
	uint64_t value = (uint64_t)start;
	size_t n = 0;
	while (is_digit(s[n])) {
		value = value * 10 + (uint64_t)(s[n] - '0');
		n++;
	}
	*length = n;
	return (int64_t)value;
}

/* go-yaml's map key order, which kubectl output follows: runs of digits compare by value,
 * letters compare among themselves and sort after every other character. */
static int natural_key_compare(const char *a, const char *b)
{
	const unsigned char *pa = (const unsigned char *)a;
	const unsigned char *pb = (const unsigned char *)b;
	const unsigned char *digits_start = pa;
	while (*pa && *pb) {
		const unsigned char *at_a = pa, *at_b = pb;
		uint32_t ca = next_code_point(&pa);
		uint32_t cb = next_code_point(&pb);
		if (ca == cb) {
			if (!is_digit_cp(ca))
				digits_start = pa;
			continue;
		}
		bool letter_a = is_letter(ca), letter_b = is_letter(cb);
		if (letter_a && letter_b)
			return ca < cb ? -1 : 1;
		if (letter_a || letter_b)
			return letter_a ? 1 : -1;
		/* A zero after a non-zero digit prefix is significant ("10" vs "100"), a leading
		 * zero is not: give both runs the same non-zero prefix in the first case. */
		int64_t prefix = 0;
		if (ca == '0' || cb == '0')
			for (const unsigned char *q = digits_start; q < at_a; q++)
				if (*q != '0')
					prefix = 1;
		size_t len_a, len_b;
		int64_t value_a = digit_run(at_a, prefix, &len_a);
		int64_t value_b = digit_run(at_b, prefix, &len_b);
		if (value_a != value_b)
			return value_a < value_b ? -1 : 1;
		if (len_a != len_b)
			return len_a < len_b ? -1 : 1;
		return ca < cb ? -1 : 1;
	}
	return *pa ? 1 : *pb ? -1 : 0;
}

static int compare_keys(const void *a, const void *b)
{
	return natural_key_compare(*(const char *const *)a, *(const char *const *)b);
}

/* Shortest text that reads back as the same double, laid out like Go's strconv 'g' format
 * (exponent form below 1e-4 and from 1e6 on), which go-yaml uses. */
static void format_real(double value, char *out, size_t size)
{
	int digits = 1;
	for (; digits < 17; digits++) {
		snprintf(out, size, "%.*e", digits - 1, value);
		if (strtod(out, NULL) == value)
			break;
	}
	snprintf(out, size, "%.*e", digits - 1, value);
	int exponent = atoi(strchr(out, 'e') + 1);
	if (exponent < -4 || exponent >= 6)
		return;
	int decimals = digits - 1 - exponent;
	snprintf(out, size, "%.*f", decimals > 0 ? decimals : 0, value);
}

struct emitter {
	yaml_emitter_t yaml;
	struct ck_error *err;
};

static int emit(struct emitter *e, yaml_event_t *event, const char *what)
{
	if (yaml_emitter_emit(&e->yaml, event))
		return 0;
	return ck_error_set(e->err, EIO, "write YAML %s: %s", what,
			    e->yaml.problem ? e->yaml.problem : "output error");
}

static int emit_scalar(struct emitter *e, const char *text, size_t len, yaml_scalar_style_t style)
{
	yaml_event_t event;
	if (!yaml_scalar_event_initialize(&event, NULL, NULL, (yaml_char_t *)text, (int)len, 1, 1,
					  style))
		return ck_error_set(e->err, ENOMEM, "build YAML scalar");
	return emit(e, &event, "scalar");
}

static int emit_string(struct emitter *e, const char *text, size_t len)
{
	yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
	/* libyaml falls back to a quoted style by itself when a literal block or a plain scalar
	 * cannot carry the text (leading spaces, ": ", control characters, ...). */
	if (memchr(text, '\n', len))
		style = YAML_LITERAL_SCALAR_STYLE;
	else if (strlen(text) != len || plain_text_changes_type(text))
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	return emit_scalar(e, text, len, style);
}

static int emit_value(struct emitter *e, const json_t *value, int depth);

static int emit_mapping(struct emitter *e, const json_t *object, int depth)
{
	size_t count = json_object_size(object);
	_cleanup_free_ const char **keys = calloc(count ? count : 1, sizeof(*keys));
	if (!keys)
		return ck_error_set(e->err, ENOMEM, "sort YAML keys");
	size_t n = 0;
	const char *key;
	const json_t *member;
	json_object_foreach ((json_t *)object, key, member)
		keys[n++] = key;
	qsort(keys, n, sizeof(*keys), compare_keys);

	yaml_event_t event;
	yaml_mapping_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	int ret = emit(e, &event, "mapping");
	for (size_t i = 0; ret == 0 && i < n; i++) {
		ret = emit_string(e, keys[i], strlen(keys[i]));
		if (ret == 0)
			ret = emit_value(e, json_object_get(object, keys[i]), depth + 1);
	}
	if (ret < 0)
		return ret;
	yaml_mapping_end_event_initialize(&event);
	return emit(e, &event, "mapping end");
}

static int emit_sequence(struct emitter *e, const json_t *array, int depth)
{
	yaml_event_t event;
	yaml_sequence_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
	int ret = emit(e, &event, "sequence");
	for (size_t i = 0; ret == 0 && i < json_array_size(array); i++)
		ret = emit_value(e, json_array_get(array, i), depth + 1);
	if (ret < 0)
		return ret;
	yaml_sequence_end_event_initialize(&event);
	return emit(e, &event, "sequence end");
}

static int emit_value(struct emitter *e, const json_t *value, int depth)
{
	if (depth > YAML_EMIT_MAX_DEPTH)
		return ck_error_set(e->err, E2BIG, "value nested deeper than %d levels",
				    YAML_EMIT_MAX_DEPTH);
	char number[64];
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		return emit_mapping(e, value, depth);
	case JSON_ARRAY:
		return emit_sequence(e, value, depth);
	case JSON_STRING:
		return emit_string(e, json_string_value(value), json_string_length(value));
	case JSON_INTEGER:
		snprintf(number, sizeof(number), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(value));
		return emit_scalar(e, number, strlen(number), YAML_PLAIN_SCALAR_STYLE);
	case JSON_REAL:
		format_real(json_real_value(value), number, sizeof(number));
		return emit_scalar(e, number, strlen(number), YAML_PLAIN_SCALAR_STYLE);
	case JSON_TRUE:
		return emit_scalar(e, "true", 4, YAML_PLAIN_SCALAR_STYLE);
	case JSON_FALSE:
		return emit_scalar(e, "false", 5, YAML_PLAIN_SCALAR_STYLE);
	case JSON_NULL:
		return emit_scalar(e, "null", 4, YAML_PLAIN_SCALAR_STYLE);
	}
	return ck_error_set(e->err, EINVAL, "value of unknown JSON type");
}

static int emit_document(struct emitter *e, const json_t *value)
{
	yaml_event_t event;
	yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING);
	int ret = emit(e, &event, "stream start");
	if (ret < 0)
		return ret;
	yaml_document_start_event_initialize(&event, NULL, NULL, NULL, 1);
	if ((ret = emit(e, &event, "document start")) < 0)
		return ret;
	if ((ret = emit_value(e, value, 0)) < 0)
		return ret;
	yaml_document_end_event_initialize(&event, 1);
	if ((ret = emit(e, &event, "document end")) < 0)
		return ret;
	yaml_stream_end_event_initialize(&event);
	return emit(e, &event, "stream end");
}

int yaml_emit(FILE *out, const json_t *value, struct ck_error *err)
{
	if (!value)
		return ck_error_set(err, EINVAL, "no value to write as YAML");
	struct emitter e = {.err = err};
	if (!yaml_emitter_initialize(&e.yaml))
		return ck_error_set(err, ENOMEM, "set up the YAML emitter");
	yaml_emitter_set_output_file(&e.yaml, out);
	yaml_emitter_set_unicode(&e.yaml, 1);
	int ret = emit_document(&e, value);
	if (ret == 0 && !yaml_emitter_flush(&e.yaml))
		ret = ck_error_set(err, EIO, "write YAML: output error");
	yaml_emitter_delete(&e.yaml);
	return ret;
}
