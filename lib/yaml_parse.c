#include "yaml.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cleanup.h"

/* Aliases are expanded into copies; this bounds the total so that a "billion laughs"
 * document fails instead of exhausting memory. */
#define YAML_MAX_NODES_EXPANDED 1000000

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

/* The scalar shapes go-yaml v2 resolves, compiled once per process. */
enum scalar_shape { SHAPE_INT, SHAPE_FLOAT, SHAPE_INF_NAN, SHAPE_COUNT };

static const char *const shape_patterns[SHAPE_COUNT] = {
	[SHAPE_INT] = "^[-+]?(0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$",
	[SHAPE_FLOAT] = "^[-+]?(\\.[0-9]+|[0-9][0-9_]*(\\.[0-9_]*)?)([eE][-+]?[0-9]+)?$",
	[SHAPE_INF_NAN] = "^[-+]?\\.(inf|Inf|INF)$|^\\.(nan|NaN|NAN)$",
};
static regex_t shape_regex[SHAPE_COUNT];
static bool shapes_ready;
static pthread_once_t shapes_once = PTHREAD_ONCE_INIT;

static void compile_shapes(void)
{
	for (int i = 0; i < SHAPE_COUNT; i++)
		if (regcomp(&shape_regex[i], shape_patterns[i], REG_EXTENDED | REG_NOSUB) != 0)
			return;
	shapes_ready = true;
}

static bool matches(enum scalar_shape shape, const char *text)
{
	pthread_once(&shapes_once, compile_shapes);
	return shapes_ready && regexec(&shape_regex[shape], text, 0, NULL, 0) == 0;
}

static bool is_one_of(const char *text, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(text, *words) == 0)
			return true;
	return false;
}

/* Integer text as go-yaml v2 reads it: decimal, 0x hex, 0o or leading-0 octal, 0b binary,
 * with optional sign and '_' separators. */
static bool parse_yaml_int(const char *text, json_int_t *out)
{
	if (!matches(SHAPE_INT, text))
		return false;
	char digits[128];
	size_t n = 0;
	for (const char *p = text; *p && n + 1 < sizeof(digits); p++)
		if (*p != '_')
			digits[n++] = *p;
	digits[n] = '\0';

	const char *p = digits;
	bool negative = false;
	if (*p == '+' || *p == '-')
		negative = *p++ == '-';
	int base = 10;
	if (p[0] == '0' && p[1] == 'b')
		base = 2, p += 2;
	else if (p[0] == '0' && p[1] == 'o')
		base = 8, p += 2;
	else if (p[0] == '0' && p[1] == 'x')
		base = 16, p += 2;
	else if (p[0] == '0' && p[1] != '\0')
		base = 8, p += 1;
	if (!*p)
		return false;
	errno = 0;
	char *end;
	unsigned long long magnitude = strtoull(p, &end, base);
	if (errno || *end || magnitude > (unsigned long long)LLONG_MAX + (negative ? 1 : 0))
		return false;
	*out = negative ? (json_int_t)(0 - magnitude) : (json_int_t)magnitude;
	return true;
}

static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const trues[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
				    "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const falses[] = {"n",     "N",     "no",  "No",  "NO",  "false",
				     "False", "FALSE", "off", "Off", "OFF", NULL};

bool yaml_plain_is_string(const char *text)
{
	return !is_one_of(text, nulls) && !is_one_of(text, trues) && !is_one_of(text, falses) &&
	       !matches(SHAPE_INT, text) && !matches(SHAPE_FLOAT, text) &&
	       !matches(SHAPE_INF_NAN, text);
}

static json_t *plain_scalar_to_json(const char *text, struct ck_error *err)
{
	if (is_one_of(text, nulls))
		return json_null();
	if (is_one_of(text, trues))
		return json_true();
	if (is_one_of(text, falses))
		return json_false();
	json_int_t integer;
	if (parse_yaml_int(text, &integer))
		return json_integer(integer);
	if (matches(SHAPE_FLOAT, text)) {
		char digits[128];
		size_t n = 0;
		for (const char *p = text; *p && n + 1 < sizeof(digits); p++)
			if (*p != '_')
				digits[n++] = *p;
		digits[n] = '\0';
		double value = strtod(digits, NULL);
		if (isfinite(value))
			return json_real(value);
	}
	if (matches(SHAPE_INF_NAN, text)) {
		ck_error_set(err, EINVAL, "value %s cannot be represented in JSON", text);
		return NULL;
	}
	return json_string(text);
}

static json_t *scalar_to_json(const yaml_node_t *node, struct ck_error *err)
{
	const char *text = (const char *)node->data.scalar.value;
	size_t len = node->data.scalar.length;
	if (memchr(text, '\0', len)) {
		ck_error_set(err, EINVAL, "line %zu: NUL character in a string",
			     node->start_mark.line + 1);
		return NULL;
	}
	/* libyaml's document API tags every untagged scalar as a string, so only the quoting
	 * style tells a string from a value to resolve. */
	if (!scalar_is_plain(node))
		return json_stringn(text, len);
	return plain_scalar_to_json(text, err);
}

static json_t *node_to_json(struct converter *c, const yaml_node_t *node);

/* Map keys must be strings in JSON: scalars keep their text, anything else is refused. */
static const char *key_text(const yaml_node_t *key)
{
	if (!key || key->type != YAML_SCALAR_NODE)
		return NULL;
	return (const char *)key->data.scalar.value;
}

static int merge_into(struct converter *c, json_t *target, const yaml_node_t *source);

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
		const char *name = key_text(key);
		if (!name) {
			ck_error_set(c->err, EINVAL, "line %zu: map keys must be scalars",
				     key ? key->start_mark.line + 1 : 0);
			return NULL;
		}
		/* "<<: *anchor" merges the anchored map(s); keys written here win. */
		if (strcmp(name, "<<") == 0 && scalar_is_plain(key)) {
			if (merge_into(c, merged, value) < 0)
				return NULL;
			continue;
		}
		if (json_object_get(object, name)) {
			ck_error_set(c->err, EINVAL, "line %zu: key \"%s\" already set in map",
				     key->start_mark.line + 1, name);
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

static int merge_into(struct converter *c, json_t *target, const yaml_node_t *source)
{
	if (source->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *item = source->data.sequence.items.start;
		     item < source->data.sequence.items.top; item++)
			if (merge_into(c, target, yaml_document_get_node(c->doc, *item)) < 0)
				return -EINVAL;
		return 0;
	}
	if (source->type != YAML_MAPPING_NODE)
		return ck_error_set(c->err, EINVAL, "line %zu: \"<<\" needs a map to merge",
				    source->start_mark.line + 1);
	_cleanup_json_ json_t *source_map = node_to_json(c, source);
	if (!source_map)
		return -EINVAL;
	/* With several maps to merge, the first one listed wins. */
	json_object_update_missing(target, source_map);
	return 0;
}

static json_t *node_to_json(struct converter *c, const yaml_node_t *node)
{
	if (!node) {
		ck_error_set(c->err, EINVAL, "dangling alias");
		return NULL;
	}
	if (++c->expanded > YAML_MAX_NODES_EXPANDED) {
		ck_error_set(c->err, E2BIG, "document expands to more than %d values",
			     YAML_MAX_NODES_EXPANDED);
		return NULL;
	}
	if (c->depth > 256) {
		ck_error_set(c->err, E2BIG, "line %zu: nested deeper than 256 levels",
			     node->start_mark.line + 1);
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
		ck_error_set(c->err, EINVAL, "empty node");
		break;
	}
	c->depth--;
	return result;
}

int yaml_parse_documents(const char *text, size_t len, json_t **docs, struct ck_error *err)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return ck_error_set(err, ENOMEM, "cannot set up the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

	_cleanup_json_ json_t *result = json_array();
	int ret = 0;
	for (int index = 1;; index++) {
		yaml_document_t doc;
		if (!yaml_parser_load(&parser, &doc)) {
			ret = ck_error_set(err, EINVAL, "document %d, line %zu: %s", index,
					   parser.problem_mark.line + 1,
					   parser.problem ? parser.problem : "invalid YAML");
			break;
		}
		yaml_node_t *root = yaml_document_get_root_node(&doc);
		if (!root) { /* end of stream */
			yaml_document_delete(&doc);
			break;
		}
		bool empty = root->type == YAML_SCALAR_NODE && scalar_is_plain(root) &&
			     root->data.scalar.length == 0;
		if (!empty) {
			struct converter c = {.doc = &doc, .err = err};
			json_t *value = node_to_json(&c, root);
			if (!value) {
				ret = ck_error_prefix(err, "document %d", index);
				yaml_document_delete(&doc);
				break;
			}
			json_array_append_new(result, value);
		}
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	if (ret < 0)
		return ret;
	*docs = steal_ptr(&result);
	return 0;
}
