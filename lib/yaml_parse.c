#include "yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cleanup.h"

/* Aliases are expanded into copies; this bounds the total so that a "billion laughs"
 * document fails instead of exhausting memory. */
#define YAML_MAX_NODES_EXPANDED 1000000
/* Collections nested deeper than this are refused. */
#define YAML_MAX_DEPTH 256

struct converter {
	yaml_document_t *doc;
	size_t expanded;
	int depth;
	struct ck_error *err;
};

static bool scalar_is_plain(const yaml_node_t *node)
{
	return node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ||
	       node->data.scalar.style == YAML_ANY_SCALAR_STYLE;
}

static size_t line_of(const yaml_node_t *node)
{
	return node->start_mark.line + 1;
}

static bool is_one_of(const char *text, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(text, *words) == 0)
			return true;
	return false;
}

/* What a plain scalar stands for, as go-yaml v2 resolves it. */
struct resolved {
	enum {
		RESOLVED_STRING,
		RESOLVED_NULL,
		RESOLVED_BOOL,
		RESOLVED_INT,
		RESOLVED_UINT,
		RESOLVED_FLOAT
	} kind;
	bool boolean;
	json_int_t integer;
	uint64_t unsigned_integer; /* past int64: go-yaml gives a uint64 */
	double real;
};

/* Integer text as go-yaml v2 reads it, strconv.ParseInt with base 0 once '_' is dropped:
 * decimal, 0x hex, 0o or leading-0 octal, 0b binary, with an optional sign. */
static bool resolve_int(const char *plain, struct resolved *out)
{
	const char *p = plain;
	bool negative = false;
	if (*p == '+' || *p == '-')
		negative = *p++ == '-';
	unsigned base = 10;
	char prefix = p[0] == '0' ? (char)(p[1] | 0x20) : '\0';
	if (prefix == 'x' || prefix == 'o' || prefix == 'b') {
		base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : 2;
		p += 2;
	} else if (p[0] == '0' && p[1] != '\0') {
		base = 8;
		p++;
	}
	if (!*p)
		return false;
	uint64_t magnitude = 0;
	for (; *p; p++) {
		char c = (char)(*p | 0x20);
		unsigned digit = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
				 : c >= 'a' && c <= 'z' ? (unsigned)(c - 'a' + 10)
							: base;
		if (digit >= base || magnitude > (UINT64_MAX - digit) / base)
			return false;
		magnitude = magnitude * base + digit;
	}
	if (!negative && magnitude > (uint64_t)INT64_MAX) {
		out->kind = RESOLVED_UINT;
		out->unsigned_integer = magnitude;
		return true;
	}
	if (negative && magnitude > (uint64_t)INT64_MAX + 1)
		return false;
	out->kind = RESOLVED_INT;
	out->integer = negative ? (json_int_t)(0 - magnitude) : (json_int_t)magnitude;
	return true;
}

static size_t count_digits(const char *s)
{
	return strspn(s, "0123456789");
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$, go-yaml's float syntax. */
static bool is_yaml_float(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	if (*s == '.') {
		size_t fraction = count_digits(s + 1);
		if (fraction == 0)
			return false;
		s += 1 + fraction;
	} else {
		size_t whole = count_digits(s);
		if (whole == 0)
			return false;
		s += whole;
		if (*s == '.')
			s += 1 + count_digits(s + 1);
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		size_t exponent = count_digits(s);
		if (exponent == 0)
			return false;
		s += exponent;
	}
	return *s == '\0';
}

static int resolve_plain(const char *text, size_t line, struct resolved *out, struct ck_error *err)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
					    "True", "TRUE", "on",  "On",  "ON",  NULL};
	static const char *const falses[] = {"n",     "N",     "no",  "No",  "NO",  "false",
					     "False", "FALSE", "off", "Off", "OFF", NULL};
	static const char *const specials[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
					       "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
					       ".NaN",  ".NAN",  NULL};
	*out = (struct resolved){.kind = RESOLVED_STRING};
	if (is_one_of(text, nulls)) {
		out->kind = RESOLVED_NULL;
	} else if (is_one_of(text, trues) || is_one_of(text, falses)) {
		out->kind = RESOLVED_BOOL;
		out->boolean = is_one_of(text, trues);
	} else if (is_one_of(text, specials)) {
		return ck_error_set(err, EINVAL, "line %zu: value %s cannot be represented in JSON",
				    line, text);
	} else if ((text[0] && strchr("+-0123456789", text[0])) ||
		   (text[0] == '.' && !strchr(text, '_'))) {
		/* Only text that starts like a number is a number; go-yaml drops every '_'. */
		_cleanup_free_ char *plain = malloc(strlen(text) + 1);
		if (!plain)
			return ck_error_set(err, ENOMEM, "line %zu: out of memory", line);
		size_t n = 0;
		for (const char *p = text; *p; p++)
			if (*p != '_')
				plain[n++] = *p;
		plain[n] = '\0';
		if (resolve_int(plain, out))
			return 0;
		if (is_yaml_float(plain)) {
			double value = strtod(plain, NULL);
			/* Out of range is a string to go-yaml, not an infinity. */
			if (isfinite(value)) {
				out->kind = RESOLVED_FLOAT;
				out->real = value;
			}
		}
	}
	return 0;
}

bool yaml_plain_is_string(const char *text)
{
	struct resolved value;
	return resolve_plain(text, 0, &value, NULL) == 0 && value.kind == RESOLVED_STRING;
}

/* A float with a whole value is written by Go's JSON encoder as an integer ("8080"), which is
 * what the API server then reads, so it becomes one here too. */
static json_t *float_to_json(double value)
{
	if (value >= -9223372036854775808.0 && value < 9223372036854775808.0 &&
	    (double)(json_int_t)value == value)
		return json_integer((json_int_t)value);
	return json_real(value);
}

static json_t *scalar_to_json(const yaml_node_t *node, struct ck_error *err)
{
	const char *text = (const char *)node->data.scalar.value;
	size_t len = node->data.scalar.length;
	if (memchr(text, '\0', len)) {
		ck_error_set(err, EINVAL, "line %zu: NUL character in a string", line_of(node));
		return NULL;
	}
	/* libyaml's document API tags every untagged scalar as a string, so only the quoting
	 * style tells a string from a value to resolve. */
	if (!scalar_is_plain(node))
		return json_stringn(text, len);
	struct resolved value;
	if (resolve_plain(text, line_of(node), &value, err) < 0)
		return NULL;
	switch (value.kind) {
	case RESOLVED_NULL:
		return json_null();
	case RESOLVED_BOOL:
		return json_boolean(value.boolean);
	case RESOLVED_INT:
		return json_integer(value.integer);
	case RESOLVED_UINT:
		return json_real((double)value.unsigned_integer);
	case RESOLVED_FLOAT:
		return float_to_json(value.real);
	case RESOLVED_STRING:
		break;
	}
	return json_stringn(text, len);
}

/* Go's strconv.FormatFloat(value, 'g', -1, 32), which sigs.k8s.io/yaml uses for float keys:
 * the fewest digits that read back as the same float32, in exponent form below 1e-4 or from
 * 1e6 on. */
static void format_float_key(double value, char *out, size_t size)
{
	float rounded = (float)value;
	if (isinf(rounded)) { /* Go has "+Inf" past float32's range; sigs.k8s.io/yaml ".inf" */
		snprintf(out, size, "%s", rounded > 0 ? ".inf" : "-.inf");
		return;
	}
	char digits[32];
	int precision = 1;
	for (;; precision++) {
		snprintf(digits, sizeof(digits), "%.*e", precision - 1, (double)rounded);
		if (precision == 9 || strtof(digits, NULL) == rounded)
			break;
	}
	int exponent = atoi(strchr(digits, 'e') + 1);
	if (exponent < -4 || exponent >= 6)
		snprintf(out, size, "%s", digits);
	else
		snprintf(out, size, "%.*f",
			 precision - 1 - exponent > 0 ? precision - 1 - exponent : 0,
			 (double)rounded);
}

/* Map keys must be strings in JSON. Like sigs.k8s.io/yaml, a plain key that resolves to
 * another type becomes that value's text ("on" is "true", "0x10" is "16"); quoted keys and
 * plain strings keep their text; anything but a scalar is refused. */
static int key_text(const yaml_node_t *key, char scratch[64], const char **out,
		    struct ck_error *err)
{
	if (!key || key->type != YAML_SCALAR_NODE)
		return ck_error_set(err, EINVAL, "line %zu: map keys must be scalars",
				    key ? line_of(key) : 0);
	const char *text = (const char *)key->data.scalar.value;
	if (memchr(text, '\0', key->data.scalar.length))
		return ck_error_set(err, EINVAL, "line %zu: NUL character in a string",
				    line_of(key));
	*out = text;
	if (!scalar_is_plain(key))
		return 0;
	struct resolved value;
	int ret = resolve_plain(text, line_of(key), &value, err);
	if (ret < 0)
		return ret;
	*out = scratch;
	switch (value.kind) {
	case RESOLVED_NULL:
		return ck_error_set(err, EINVAL, "line %zu: a map key may not be null",
				    line_of(key));
	case RESOLVED_BOOL:
		*out = value.boolean ? "true" : "false";
		break;
	case RESOLVED_INT:
		snprintf(scratch, 64, "%" JSON_INTEGER_FORMAT, value.integer);
		break;
	case RESOLVED_UINT:
		snprintf(scratch, 64, "%" PRIu64, value.unsigned_integer);
		break;
	case RESOLVED_FLOAT:
		format_float_key(value.real, scratch, 64);
		break;
	case RESOLVED_STRING:
		*out = text;
		break;
	}
	return 0;
}

static json_t *node_to_json(struct converter *c, const yaml_node_t *node);

static int merge_into(struct converter *c, json_t *target, const yaml_node_t *source, size_t line);

static json_t *mapping_to_json(struct converter *c, const yaml_node_t *node)
{
	_cleanup_json_ json_t *object = json_object();
	_cleanup_json_ json_t *merged = json_object();
	if (!object || !merged)
		return NULL;
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		const yaml_node_t *key = yaml_document_get_node(c->doc, pair->key);
		const yaml_node_t *value = yaml_document_get_node(c->doc, pair->value);
		char scratch[64];
		const char *name;
		if (key_text(key, scratch, &name, c->err) < 0)
			return NULL;
		/* "<<: *anchor" merges the anchored map(s); keys written here win. */
		if (strcmp(name, "<<") == 0 && scalar_is_plain(key)) {
			if (merge_into(c, merged, value, line_of(key)) < 0)
				return NULL;
			continue;
		}
		if (json_object_get(object, name)) {
			ck_error_set(c->err, EINVAL, "line %zu: key \"%s\" already set in map",
				     line_of(key), name);
			return NULL;
		}
		json_t *converted = node_to_json(c, value);
		if (!converted)
			return NULL;
		json_object_set_new(object, name, converted);
	}
	json_object_update_missing(object, merged);
	return steal_ptr(&object);
}

static int merge_map(struct converter *c, json_t *target, const yaml_node_t *map, size_t line)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return ck_error_set(c->err, EINVAL, "line %zu: \"<<\" needs a map to merge", line);
	_cleanup_json_ json_t *source_map = node_to_json(c, map);
	if (!source_map)
		return -EINVAL;
	json_object_update_missing(target, source_map);
	return 0;
}

/* A map, or a list of maps; not a list of lists, which go-yaml refuses too and which could
 * nest without end. With several maps the first one listed wins. */
static int merge_into(struct converter *c, json_t *target, const yaml_node_t *source, size_t line)
{
	if (!source || source->type != YAML_SEQUENCE_NODE)
		return merge_map(c, target, source, line);
	for (yaml_node_item_t *item = source->data.sequence.items.start;
	     item < source->data.sequence.items.top; item++) {
		int ret = merge_map(c, target, yaml_document_get_node(c->doc, *item), line);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static json_t *node_to_json(struct converter *c, const yaml_node_t *node)
{
	if (!node) {
		ck_error_set(c->err, EINVAL, "dangling alias");
		return NULL;
	}
	if (++c->expanded > YAML_MAX_NODES_EXPANDED) {
		ck_error_set(c->err, E2BIG, "line %zu: the aliases expand to more than %d values",
			     line_of(node), YAML_MAX_NODES_EXPANDED);
		return NULL;
	}
	if (c->depth > YAML_MAX_DEPTH) {
		ck_error_set(c->err, E2BIG, "line %zu: nested deeper than %d levels", line_of(node),
			     YAML_MAX_DEPTH);
		return NULL;
	}
	json_t *result = NULL;
	c->depth++;
	switch (node->type) {
	case YAML_SCALAR_NODE:
		result = scalar_to_json(node, c->err);
		break;
	case YAML_SEQUENCE_NODE:
		result = json_array();
		for (yaml_node_item_t *item = node->data.sequence.items.start;
		     result && item < node->data.sequence.items.top; item++) {
			json_t *element = node_to_json(c, yaml_document_get_node(c->doc, *item));
			if (!element) {
				json_decref(result);
				result = NULL;
				break;
			}
			json_array_append_new(result, element);
		}
		break;
	case YAML_MAPPING_NODE:
		result = mapping_to_json(c, node);
		break;
	default:
		ck_error_set(c->err, EINVAL, "line %zu: empty node", line_of(node));
		break;
	}
	c->depth--;
	return result;
}

/* libyaml decodes the text ahead of parsing it, so a bad byte (not UTF-8, a control
 * character) is found before its document is reached, and placed by offset only: such errors
 * name the line alone. */
static int parse_error(const yaml_parser_t *parser, int index, const char *text, size_t len,
		       struct ck_error *err)
{
	const char *problem = parser->problem ? parser->problem : "invalid YAML";
	if (parser->error != YAML_READER_ERROR)
		return ck_error_set(err, EINVAL, "document %d, line %zu: %s", index,
				    parser->problem_mark.line + 1, problem);
	size_t line = 1;
	for (size_t i = 0; i < parser->problem_offset && i < len; i++)
		line += text[i] == '\n';
	return ck_error_set(err, EINVAL, "line %zu: %s", line, problem);
}

/* libyaml's scanner spends time in proportion to the flow nesting on every token, so
 * "[[[[..." takes quadratic time before a document is even built. A first pass over the events
 * refuses deep nesting early; it allows one level more than the converter, so that its verdict
 * never differs, and leaves syntax errors to the second pass. */
static int check_nesting(const char *text, size_t len, struct ck_error *err)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return ck_error_set(err, ENOMEM, "cannot set up the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int ret = 0, depth = 0, index = 0;
	yaml_event_t event;
	while (ret == 0 && yaml_parser_parse(&parser, &event)) {
		yaml_event_type_t type = event.type;
		if (type == YAML_DOCUMENT_START_EVENT)
			index++;
		else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
			depth--;
		else if ((type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) &&
			 ++depth > YAML_MAX_DEPTH + 1)
			ret = ck_error_set(err, E2BIG,
					   "document %d, line %zu: nested deeper than %d levels",
					   index, event.start_mark.line + 1, YAML_MAX_DEPTH);
		yaml_event_delete(&event);
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&parser);
	return ret;
}

int yaml_parse_documents(const char *text, size_t len, json_t **docs, struct ck_error *err)
{
	int checked = check_nesting(text, len, err);
	if (checked < 0)
		return checked;
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return ck_error_set(err, ENOMEM, "cannot set up the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

	_cleanup_json_ json_t *result = json_array();
	int ret = 0;
	for (int index = 1;; index++) {
		yaml_document_t doc;
		if (!yaml_parser_load(&parser, &doc)) {
			ret = parse_error(&parser, index, text, len, err);
			break;
		}
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (!root) { /* end of stream */
			yaml_document_delete(&doc);
			break;
		}
		struct ck_error problem = {0};
		struct converter c = {.doc = &doc, .err = &problem};
		json_t *value = node_to_json(&c, root);
		yaml_document_delete(&doc);
		if (!value) {
			ret = ck_error_set(err, problem.code, "document %d, %s", index,
					   problem.message);
			break;
		}
		/* Empty documents, and like kubectl null ones, are left out. */
		if (json_is_null(value))
			json_decref(value);
		else
			json_array_append_new(result, value);
	}
	yaml_parser_delete(&parser);
	if (ret < 0)
		return ret;
	*docs = steal_ptr(&result);
	return 0;
}
