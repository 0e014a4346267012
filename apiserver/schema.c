#include "apiserver/schema.h"
#include "apiserver/field_path.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/quantity.h"
#include "lib/yaml.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Far deeper than any Kubernetes object; guards against recursive types meeting hostile input. */
#define CHECK_MAX_DEPTH 100

#define REASON_INVALID "FieldValueInvalid"
#define REASON_UNKNOWN "FieldValueUnknown"

/* The embedded documents, from schema_data.S; ended by a row of NULLs. */
struct schema_document {
	const char *name;
	const char *start;
	const char *end;
};
extern const struct schema_document schema_documents[];

struct builtin {
	struct schema_type type;
	const char *go_name; /* how Go's decoder names the type in its messages */
};

static const struct builtin builtins[] = {
    {{.kind = SCHEMA_STRING, .name = "string"}, "string"},
    {{.kind = SCHEMA_INTEGER, .name = "int32", .bits = 32}, "int32"},
    {{.kind = SCHEMA_INTEGER, .name = "int64", .bits = 64}, "int64"},
    {{.kind = SCHEMA_NUMBER, .name = "number"}, "float64"},
    {{.kind = SCHEMA_BOOLEAN, .name = "boolean"}, "bool"},
    {{.kind = SCHEMA_INT_OR_STRING, .name = "int-or-string"}, "intstr.IntOrString"},
    {{.kind = SCHEMA_QUANTITY, .name = "quantity"}, "resource.Quantity"},
    {{.kind = SCHEMA_STRING, .name = "time"}, "v1.Time"},
    {{.kind = SCHEMA_STRING, .name = "microtime"}, "v1.MicroTime"},
    {{.kind = SCHEMA_STRING, .name = "bytes", .base64 = true}, "[]uint8"},
    {{.kind = SCHEMA_ANY, .name = "any"}, "interface {}"},
};

/* Everything the loader allocates hangs off one list, so that a failed load frees it all and a
 * loaded schema stays reachable for the life of the process. */
struct allocation {
	struct allocation *next;
	max_align_t payload[];
};

struct registry {
	json_t *documents;         /* the parsed YAML: names point into it */
	struct schema_type *types; /* the named types, sorted by name */
	size_t type_count;
	struct allocation *allocations;
};

/* A named type as written in a document, before its fields are resolved. */
struct definition {
	const char *name;
	json_t *fields;
	const char *document;
};

static struct registry loaded;
static int load_result;
static struct ck_error load_error;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void *registry_calloc(struct registry *r, size_t count, size_t size)
{
	if (size && count > (SIZE_MAX - sizeof(struct allocation)) / size)
		return NULL;
	struct allocation *a = calloc(1, sizeof(*a) + count * size);
	if (!a)
		return NULL;
	a->next = r->allocations;
	r->allocations = a;
	return a->payload;
}

static char *registry_strdup(struct registry *r, const char *text)
{
	size_t size = strlen(text) + 1;
	char *copy = registry_calloc(r, 1, size);
	if (copy)
		memcpy(copy, text, size);
	return copy;
}

static void registry_free(struct registry *r)
{
	while (r->allocations) {
		struct allocation *next = r->allocations->next;
		free(r->allocations);
		r->allocations = next;
	}
	json_decref(r->documents);
	*r = (struct registry){0};
}

static int compare_type_to_name(const void *name, const void *type)
{
	return strcmp(name, ((const struct schema_type *)type)->name);
}

static const struct schema_type *registry_lookup(const struct registry *r, const char *name)
{
	if (!r->types)
		return NULL;
	return bsearch(name, r->types, r->type_count, sizeof(*r->types), compare_type_to_name);
}

static const struct schema_type *builtin_lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(builtins); i++)
		if (strcmp(builtins[i].type.name, name) == 0)
			return &builtins[i].type;
	return NULL;
}

/* "[]{}Name": lists and maps are made for each use, names resolve to builtins or named types. */
static const struct schema_type *resolve_type(struct registry *r, const char *expression,
					      struct ck_error *err)
{
	bool list = strncmp(expression, "[]", 2) == 0;
	if (list || strncmp(expression, "{}", 2) == 0) {
		const struct schema_type *element = resolve_type(r, expression + 2, err);
		if (!element)
			return NULL;
		struct schema_type *container = registry_calloc(r, 1, sizeof(*container));
		char *name = registry_strdup(r, expression);
		if (!container || !name) {
			ck_error_set(err, ENOMEM, "out of memory");
			return NULL;
		}
		container->kind = list ? SCHEMA_ARRAY : SCHEMA_MAP;
		container->name = name;
		container->element = element;
		return container;
	}
	const struct schema_type *type = builtin_lookup(expression);
	if (!type)
		type = registry_lookup(r, expression);
	if (!type)
		ck_error_set(err, EINVAL, "unknown type \"%s\"", expression);
	return type;
}

static int set_strategy(struct schema_field *field, bool merge, bool retain_keys, bool replace,
			struct ck_error *err)
{
	if (replace && (merge || retain_keys))
		return ck_error_set(err, EINVAL, "\"replace\" excludes merging and retainKeys");
	if (replace)
		field->strategy = PATCH_STRATEGY_REPLACE;
	else if (merge && retain_keys)
		field->strategy = PATCH_STRATEGY_MERGE_RETAIN_KEYS;
	else if (merge)
		field->strategy = PATCH_STRATEGY_MERGE;
	else if (retain_keys)
		field->strategy = PATCH_STRATEGY_RETAIN_KEYS;
	return 0;
}

static bool is_scalar(const struct schema_type *type)
{
	return type->kind != SCHEMA_OBJECT && type->kind != SCHEMA_ARRAY &&
	       type->kind != SCHEMA_MAP && type->kind != SCHEMA_ANY;
}

/* The largest field number protobuf allows, 2^29 - 1. */
#define PB_NUMBER_MAX 536870911u

static bool parse_pb_number(const char *text, size_t len, unsigned *number)
{
	if (len == 0 || len > 9)
		return false;
	unsigned value = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		value = value * 10 + (unsigned)(text[i] - '0');
	}
	*number = value;
	return value >= 1 && value <= PB_NUMBER_MAX;
}

/* "pb=3", or "pb=2.1": field 1 of the struct Go embeds as field 2. */
static int parse_pb(const char *value, struct schema_field *field, struct ck_error *err)
{
	if (field->pb_number)
		return ck_error_set(err, EINVAL, "\"pb=\" is given twice");
	const char *dot = strchr(value, '.');
	bool valid = dot ? parse_pb_number(value, (size_t)(dot - value), &field->pb_embedded) &&
			       parse_pb_number(dot + 1, strlen(dot + 1), &field->pb_number)
			 : parse_pb_number(value, strlen(value), &field->pb_number);
	if (!valid)
		return ck_error_set(err, EINVAL,
				    "\"pb=%s\": expected a field number from 1 to %u, or two "
				    "joined by \".\"",
				    value, PB_NUMBER_MAX);
	return 0;
}

/* "[]Container pb=2 merge=name", "*int64 pb=5" */
static int parse_field(struct registry *r, const char *name, const json_t *expression,
		       struct schema_field *field, struct ck_error *err)
{
	const char *text = json_string_value(expression);
	if (!text)
		return ck_error_set(err, EINVAL, "the type must be a string");
	_cleanup_free_ char *words = strdup(text);
	if (!words)
		return ck_error_set(err, ENOMEM, "out of memory");
	char *position = NULL;
	const char *type_word = strtok_r(words, " ", &position);
	if (!type_word)
		return ck_error_set(err, EINVAL, "no type given");
	field->name = name;
	field->pointer = type_word[0] == '*';
	field->type = resolve_type(r, type_word + field->pointer, err);
	if (!field->type)
		return -err->code;
	if (field->pointer && !is_scalar(field->type))
		return ck_error_set(err, EINVAL, "only a scalar can be marked as a Go pointer");

	bool merge = false, retain_keys = false, replace = false;
	for (const char *option; (option = strtok_r(NULL, " ", &position));) {
		if (strcmp(option, "merge") == 0) {
			merge = true;
		} else if (strncmp(option, "merge=", 6) == 0 && option[6]) {
			merge = true;
			field->merge_key = registry_strdup(r, option + 6);
			if (!field->merge_key)
				return ck_error_set(err, ENOMEM, "out of memory");
		} else if (strcmp(option, "retainKeys") == 0) {
			retain_keys = true;
		} else if (strcmp(option, "replace") == 0) {
			replace = true;
		} else if (strncmp(option, "pb=", 3) == 0) {
			int ret = parse_pb(option + 3, field, err);
			if (ret < 0)
				return ret;
		} else {
			return ck_error_set(err, EINVAL, "unknown option \"%s\"", option);
		}
	}
	return set_strategy(field, merge, retain_keys, replace, err);
}

/* Runs once every type has its fields, since a merge key names a field of another type. */
static int check_strategy(const struct schema_field *field, struct ck_error *err)
{
	bool merges = field->strategy == PATCH_STRATEGY_MERGE ||
		      field->strategy == PATCH_STRATEGY_MERGE_RETAIN_KEYS;
	bool retains = field->strategy == PATCH_STRATEGY_RETAIN_KEYS ||
		       field->strategy == PATCH_STRATEGY_MERGE_RETAIN_KEYS;
	const struct schema_type *element =
	    field->type->kind == SCHEMA_ARRAY ? field->type->element : NULL;
	if (merges && !element)
		return ck_error_set(err, EINVAL, "only lists can be merged");
	if (field->merge_key) {
		if (!schema_field(element, field->merge_key))
			return ck_error_set(err, EINVAL, "merge key \"%s\" is not a field of %s",
					    field->merge_key, element->name);
	} else if (merges && element->kind == SCHEMA_OBJECT) {
		return ck_error_set(err, EINVAL,
				    "a list of %s merges by key: merge=<field> is missing",
				    element->name);
	} else if (merges && !is_scalar(element)) {
		return ck_error_set(err, EINVAL, "a list of %s cannot be merged", element->name);
	}
	const struct schema_type *kept = element ? element : field->type;
	if (retains && kept->kind != SCHEMA_OBJECT)
		return ck_error_set(err, EINVAL, "retainKeys needs an object or a list of objects");
	return 0;
}

/* One number for two fields would make a message ambiguous, and so would a number that is both a
 * field and the message holding embedded fields. */
static int check_pb_numbers(const struct schema_type *type, struct ck_error *err)
{
	for (size_t i = 0; i < type->field_count; i++) {
		const struct schema_field *a = &type->fields[i];
		for (size_t j = 0; a->pb_number && j < type->field_count; j++) {
			const struct schema_field *b = &type->fields[j];
			if (j > i && b->pb_number == a->pb_number &&
			    b->pb_embedded == a->pb_embedded)
				return ck_error_set(err, EINVAL,
						    "%s.%s and %s.%s have the same pb number",
						    type->name, a->name, type->name, b->name);
			if (a->pb_embedded && !b->pb_embedded && b->pb_number == a->pb_embedded)
				return ck_error_set(err, EINVAL,
						    "%s.%s: pb=%u holds embedded fields such as %s",
						    type->name, b->name, b->pb_number, a->name);
		}
	}
	return 0;
}

static int compare_fields(const void *a, const void *b)
{
	return strcmp(((const struct schema_field *)a)->name,
		      ((const struct schema_field *)b)->name);
}

static int build_fields(struct registry *r, struct schema_type *type, json_t *definition,
			struct ck_error *err)
{
	size_t count = json_object_size(definition);
	struct schema_field *fields = registry_calloc(r, count, sizeof(*fields));
	if (!fields && count)
		return ck_error_set(err, ENOMEM, "out of memory");
	size_t index = 0;
	const char *name;
	json_t *expression;
	json_object_foreach (definition, name, expression) {
		int ret = parse_field(r, name, expression, &fields[index++], err);
		if (ret < 0)
			return ck_error_prefix(err, "%s.%s", type->name, name);
	}
	qsort(fields, count, sizeof(*fields), compare_fields);
	type->fields = fields;
	type->field_count = count;
	return 0;
}

static int parse_documents(struct registry *r, struct ck_error *err)
{
	r->documents = json_array();
	if (!r->documents)
		return ck_error_set(err, ENOMEM, "schema: out of memory");
	for (const struct schema_document *d = schema_documents; d->name; d++) {
		json_t *parsed = NULL;
		if (yaml_parse_documents(d->start, (size_t)(d->end - d->start), &parsed, err) < 0)
			return ck_error_prefix(err, "schema %s", d->name);
		if (json_array_append_new(r->documents, parsed) < 0)
			return ck_error_set(err, ENOMEM, "schema %s: out of memory", d->name);
	}
	return 0;
}

static int compare_definitions(const void *a, const void *b)
{
	return strcmp(((const struct definition *)a)->name, ((const struct definition *)b)->name);
}

/* Lists every named type of every document, sorted by name. */
static int collect_definitions(const struct registry *r, struct definition **result,
			       size_t *result_count, struct ck_error *err)
{
	size_t count = 0, file;
	json_t *docs, *doc;
	json_array_foreach (r->documents, file, docs) {
		size_t index;
		json_array_foreach (docs, index, doc) {
			if (!json_is_object(doc))
				return ck_error_set(err, EINVAL,
						    "schema %s: a document must map type names to "
						    "their fields",
						    schema_documents[file].name);
			count += json_object_size(doc);
		}
	}
	_cleanup_free_ struct definition *definitions =
	    calloc(count ? count : 1, sizeof(*definitions));
	if (!definitions)
		return ck_error_set(err, ENOMEM, "schema: out of memory");
	size_t filled = 0;
	json_array_foreach (r->documents, file, docs) {
		size_t index;
		json_array_foreach (docs, index, doc) {
			const char *name;
			json_t *fields;
			json_object_foreach (doc, name, fields) {
				const char *document = schema_documents[file].name;
				if (!json_is_object(fields))
					return ck_error_set(
					    err, EINVAL, "schema %s: %s: fields must be a mapping",
					    document, name);
				if (builtin_lookup(name))
					return ck_error_set(err, EINVAL,
							    "schema %s: %s is a builtin type name",
							    document, name);
				definitions[filled++] = (struct definition){name, fields, document};
			}
		}
	}
	qsort(definitions, count, sizeof(*definitions), compare_definitions);
	for (size_t i = 1; i < count; i++)
		if (strcmp(definitions[i - 1].name, definitions[i].name) == 0)
			return ck_error_set(err, EINVAL,
					    "schema: type %s is defined in %s and in %s",
					    definitions[i].name, definitions[i - 1].document,
					    definitions[i].document);
	*result = steal_ptr(&definitions);
	*result_count = count;
	return 0;
}

static int registry_load(struct registry *r, struct ck_error *err)
{
	int ret = parse_documents(r, err);
	if (ret < 0)
		return ret;
	_cleanup_free_ struct definition *definitions = NULL;
	size_t count = 0;
	ret = collect_definitions(r, &definitions, &count, err);
	if (ret < 0)
		return ret;

	/* Every name must exist before any field can refer to it. */
	r->types = registry_calloc(r, count, sizeof(*r->types));
	if (!r->types)
		return ck_error_set(err, ENOMEM, "schema: out of memory");
	r->type_count = count;
	for (size_t i = 0; i < count; i++)
		r->types[i] =
		    (struct schema_type){.kind = SCHEMA_OBJECT, .name = definitions[i].name};
	for (size_t i = 0; i < count; i++)
		if (build_fields(r, &r->types[i], definitions[i].fields, err) < 0 ||
		    check_pb_numbers(&r->types[i], err) < 0)
			return ck_error_prefix(err, "schema %s", definitions[i].document);

	for (size_t i = 0; i < count; i++)
		for (size_t f = 0; f < r->types[i].field_count; f++)
			if (check_strategy(&r->types[i].fields[f], err) < 0)
				return ck_error_prefix(err, "schema %s: %s.%s",
						       definitions[i].document, r->types[i].name,
						       r->types[i].fields[f].name);
	return 0;
}

static void load_schema(void)
{
	struct registry r = {0};
	load_result = registry_load(&r, &load_error);
	if (load_result < 0)
		registry_free(&r);
	else
		loaded = r;
}

int schema_init(struct ck_error *err)
{
	pthread_once(&load_once, load_schema);
	if (load_result < 0 && err)
		*err = load_error;
	return load_result;
}

const struct schema_type *schema_lookup(const char *type_name)
{
	return type_name ? registry_lookup(&loaded, type_name) : NULL;
}

struct field_name {
	const char *text;
	size_t len;
};

/* Compares by length-aware bytes, so that a JSON key with a NUL inside never matches. */
static int compare_field_to_name(const void *key, const void *field)
{
	const struct field_name *wanted = key;
	const char *name = ((const struct schema_field *)field)->name;
	size_t len = strlen(name);
	int order = memcmp(wanted->text, name, wanted->len < len ? wanted->len : len);
	if (order)
		return order;
	return (wanted->len > len) - (wanted->len < len);
}

static const struct schema_field *field_lookup(const struct schema_type *type, const char *name,
					       size_t len)
{
	if (!type || type->kind != SCHEMA_OBJECT || !type->fields)
		return NULL;
	struct field_name wanted = {name, len};
	return bsearch(&wanted, type->fields, type->field_count, sizeof(*type->fields),
		       compare_field_to_name);
}

const struct schema_field *schema_field(const struct schema_type *type, const char *name)
{
	return name ? field_lookup(type, name, strlen(name)) : NULL;
}

struct checker {
	bool strict;
	json_t *problems;
	size_t count;
	struct buf path;       /* "spec.containers[0].image": what the user wrote */
	struct buf go_path;    /* "spec.containers.image": struct fields only, as Go reports */
	const char *go_struct; /* the type that holds the field being checked */
	unsigned depth;
};

static void checker_release(struct checker *c)
{
	buf_free(&c->path);
	buf_free(&c->go_path);
}

static const char *buf_text(const struct buf *b)
{
	return b->data ? b->data : "";
}

static void add_problem(struct checker *c, const char *reason, const struct buf *message)
{
	c->count++;
	if (!c->problems)
		return;
	json_t *problem = json_object();
	if (!problem)
		return;
	json_object_set_new(problem, "field", json_stringn(buf_text(&c->path), c->path.len));
	json_object_set_new(problem, "message", json_stringn(buf_text(message), message->len));
	json_object_set_new(problem, "reason", json_string(reason));
	json_array_append_new(c->problems, problem);
}

/* Go's strconv.Quote for the ASCII range; other bytes pass through as the UTF-8 they are. */
static void append_quoted(struct buf *out, const char *text, size_t len)
{
	buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch == '"' || ch == '\\')
			buf_printf(out, "\\%c", ch);
		else if (ch == '\n')
			buf_puts(out, "\\n");
		else if (ch == '\t')
			buf_puts(out, "\\t");
		else if (ch == '\r')
			buf_puts(out, "\\r");
		else if (ch < 0x20 || ch == 0x7f)
			buf_printf(out, "\\x%02x", ch);
		else
			buf_putc(out, (char)ch);
	}
	buf_putc(out, '"');
}

static void report_unknown_field(struct checker *c)
{
	_cleanup_buf_ struct buf message = {0};
	buf_puts(&message, "unknown field ");
	append_quoted(&message, buf_text(&c->path), c->path.len);
	add_problem(c, REASON_UNKNOWN, &message);
}

static const char *go_builtin_name(const struct schema_type *type)
{
	for (size_t i = 0; i < ARRAY_SIZE(builtins); i++)
		if (&builtins[i].type == type)
			return builtins[i].go_name;
	return NULL;
}

static void append_go_type(struct buf *out, const struct schema_type *type)
{
	const char *builtin = go_builtin_name(type);
	if (builtin) {
		buf_puts(out, builtin);
	} else if (type->kind == SCHEMA_ARRAY) {
		buf_puts(out, "[]");
		append_go_type(out, type->element);
	} else if (type->kind == SCHEMA_MAP) {
		buf_puts(out, "map[string]");
		append_go_type(out, type->element);
	} else {
		buf_printf(out, "v1.%s", type->name);
	}
}

static bool wants_integer(const struct schema_type *type)
{
	return type->kind == SCHEMA_INTEGER || type->kind == SCHEMA_INT_OR_STRING;
}

/* Go names the JSON value it could not store; a number meant for an integer comes with its
 * text, since its value is what was wrong. */
static void append_json_description(struct buf *out, const struct schema_type *type,
				    const json_t *value)
{
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		buf_puts(out, "object");
		break;
	case JSON_ARRAY:
		buf_puts(out, "array");
		break;
	case JSON_STRING:
		buf_puts(out, "string");
		break;
	case JSON_INTEGER:
	case JSON_REAL:
		buf_puts(out, "number");
		if (wants_integer(type)) {
			_cleanup_free_ char *text = json_dump_compact(value);
			buf_printf(out, " %s", text);
		}
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		buf_puts(out, "bool");
		break;
	case JSON_NULL:
		buf_puts(out, "null");
		break;
	}
}

static void report_type_mismatch(struct checker *c, const struct schema_type *type,
				 const json_t *value)
{
	_cleanup_buf_ struct buf message = {0};
	buf_puts(&message, "json: cannot unmarshal ");
	append_json_description(&message, type, value);
	if (c->go_struct)
		buf_printf(&message, " into Go struct field %s.%s of type ", c->go_struct,
			   buf_text(&c->go_path));
	else
		buf_puts(&message, " into Go value of type ");
	append_go_type(&message, type);
	add_problem(c, REASON_INVALID, &message);
}

static bool is_int32(const json_t *value)
{
	return json_is_integer(value) && json_integer_value(value) >= INT32_MIN &&
	       json_integer_value(value) <= INT32_MAX;
}

static bool kind_accepts(const struct schema_type *type, const json_t *value)
{
	switch (type->kind) {
	case SCHEMA_STRING:
		return json_is_string(value);
	case SCHEMA_INTEGER:
		return type->bits == 64 ? json_is_integer(value) : is_int32(value);
	case SCHEMA_NUMBER:
		return json_is_number(value);
	case SCHEMA_BOOLEAN:
		return json_is_boolean(value);
	case SCHEMA_INT_OR_STRING: /* the integer half is an int32 */
		return json_is_string(value) || is_int32(value);
	case SCHEMA_QUANTITY:
		return json_is_string(value) || json_is_number(value);
	case SCHEMA_OBJECT:
	case SCHEMA_MAP:
		return json_is_object(value);
	case SCHEMA_ARRAY:
		return json_is_array(value);
	case SCHEMA_ANY:
		return true;
	}
	return false;
}

/* Values with a syntax of their own are judged by their parser in lib/, with its message. */
static void report_parse_error(struct checker *c, const struct ck_error *err)
{
	_cleanup_buf_ struct buf message = {0};
	buf_puts(&message, err->message);
	add_problem(c, REASON_INVALID, &message);
}

static void check_base64(struct checker *c, const json_t *value)
{
	_cleanup_buf_ struct buf decoded = {0};
	struct ck_error err = {0};
	if (base64_decode(json_string_value(value), json_string_length(value), &decoded, &err) < 0)
		report_parse_error(c, &err);
}

static void check_quantity(struct checker *c, const json_t *value)
{
	struct quantity parsed;
	struct ck_error err = {0};
	if (quantity_from_json(value, &parsed, &err) < 0)
		report_parse_error(c, &err);
}

static void check_value(struct checker *c, const struct schema_type *type, json_t *value);

static void check_object(struct checker *c, const struct schema_type *type, json_t *object)
{
	const char *outer_struct = c->go_struct;
	c->go_struct = type->name;
	const char *key;
	size_t key_len;
	json_t *member;
	void *next;
	json_object_keylen_foreach_safe(object, next, key, key_len, member)
	{
		size_t mark = field_path_push_name(&c->path, key, key_len);
		const struct schema_field *field = field_lookup(type, key, key_len);
		if (field) {
			size_t go_mark = field_path_push_name(&c->go_path, key, key_len);
			check_value(c, field->type, member);
			field_path_pop(&c->go_path, go_mark);
		} else {
			report_unknown_field(c);
			if (!c->strict)
				json_object_deln(object, key, key_len);
		}
		field_path_pop(&c->path, mark);
	}
	c->go_struct = outer_struct;
}

static void check_array(struct checker *c, const struct schema_type *type, json_t *array)
{
	size_t index;
	json_t *item;
	json_array_foreach (array, index, item) {
		size_t mark = field_path_push_index(&c->path, index);
		check_value(c, type->element, item);
		field_path_pop(&c->path, mark);
	}
}

/* Go's field path leaves out map keys, like list indices. */
static void check_map(struct checker *c, const struct schema_type *type, json_t *map)
{
	const char *key;
	size_t key_len;
	json_t *member;
	json_object_keylen_foreach (map, key, key_len, member) {
		size_t mark = field_path_push_name(&c->path, key, key_len);
		check_value(c, type->element, member);
		field_path_pop(&c->path, mark);
	}
}

static void check_value(struct checker *c, const struct schema_type *type, json_t *value)
{
	if (json_is_null(value))
		return;
	if (!kind_accepts(type, value)) {
		report_type_mismatch(c, type, value);
		return;
	}
	if (type->kind == SCHEMA_STRING && type->base64) {
		check_base64(c, value);
		return;
	}
	if (type->kind == SCHEMA_QUANTITY) {
		check_quantity(c, value);
		return;
	}
	if (type->kind != SCHEMA_OBJECT && type->kind != SCHEMA_ARRAY && type->kind != SCHEMA_MAP)
		return;
	if (c->depth == CHECK_MAX_DEPTH) {
		_cleanup_buf_ struct buf message = {0};
		buf_printf(&message, "nested deeper than %d levels", CHECK_MAX_DEPTH);
		add_problem(c, REASON_INVALID, &message);
		return;
	}
	c->depth++;
	if (type->kind == SCHEMA_OBJECT)
		check_object(c, type, value);
	else if (type->kind == SCHEMA_ARRAY)
		check_array(c, type, value);
	else
		check_map(c, type, value);
	c->depth--;
}

size_t schema_check(const struct schema_type *type, json_t *value, bool strict, json_t *problems)
{
	_cleanup_(checker_release) struct checker c = {.strict = strict, .problems = problems};
	check_value(&c, type, value);
	return c.count;
}
