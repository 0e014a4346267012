/* JSON patch (RFC 6902) with JSON pointers (RFC 6901). */
#include "apiserver/patch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"

/* One reference token of a pointer, unescaped. Tokens carry their length because a JSON string
 * may hold "\u0000". */
struct token {
	char *text;
	size_t len;
};

struct pointer {
	struct token *tokens;
	size_t count;
};

static void pointer_free(struct pointer *p)
{
	for (size_t i = 0; i < p->count; i++)
		free(p->tokens[i].text);
	free(p->tokens);
	p->tokens = NULL;
	p->count = 0;
}

/* Splits `text` ("" or "/a/b~1c") into tokens. On a syntax error returns -EINVAL and sets
 * *problem. */
static int pointer_parse(const char *text, size_t len, struct pointer *out, const char **problem)
{
	out->tokens = NULL;
	out->count = 0;
	if (len == 0)
		return 0;
	if (text[0] != '/') {
		*problem = "a JSON pointer must be empty or start with \"/\"";
		return -EINVAL;
	}
	size_t slashes = 0;
	for (size_t i = 0; i < len; i++)
		slashes += text[i] == '/';
	out->tokens = calloc(slashes, sizeof(*out->tokens));
	if (!out->tokens) {
		*problem = "out of memory";
		return -ENOMEM;
	}

	size_t pos = 1;
	while (out->count < slashes) {
		const char *end = memchr(text + pos, '/', len - pos);
		size_t segment = end ? (size_t)(end - (text + pos)) : len - pos;
		struct token *t = &out->tokens[out->count++];
		t->text = malloc(segment + 1);
		if (!t->text) {
			*problem = "out of memory";
			return -ENOMEM;
		}
		for (size_t i = 0; i < segment; i++) {
			char c = text[pos + i];
			if (c == '~') {
				char next = i + 1 < segment ? text[pos + i + 1] : '\0';
				if (next != '0' && next != '1') {
					*problem =
					    "in a JSON pointer \"~\" must be followed by 0 or 1";
					return -EINVAL;
				}
				c = next == '0' ? '~' : '/';
				i++;
			}
			t->text[t->len++] = c;
		}
		t->text[t->len] = '\0';
		pos += segment + 1;
	}
	return 0;
}

/* Array indexes are decimal without leading zeros (RFC 6901 section 4). */
static bool token_index(const struct token *t, size_t *index)
{
	if (t->len == 0 || t->len > 18 || (t->len > 1 && t->text[0] == '0'))
		return false;
	size_t value = 0;
	for (size_t i = 0; i < t->len; i++) {
		if (t->text[i] < '0' || t->text[i] > '9')
			return false;
		value = value * 10 + (size_t)(t->text[i] - '0');
	}
	*index = value;
	return true;
}

static bool token_is_append(const struct token *t)
{
	return t->len == 1 && t->text[0] == '-';
}

/* The value the first `depth` tokens of `p` lead to, or NULL. */
static json_t *pointer_get(json_t *doc, const struct pointer *p, size_t depth)
{
	json_t *node = doc;
	for (size_t i = 0; i < depth && node; i++) {
		const struct token *t = &p->tokens[i];
		size_t index;
		if (json_is_object(node))
			node = json_object_getn(node, t->text, t->len);
		else if (json_is_array(node) && token_index(t, &index))
			node = json_array_get(node, index);
		else
			node = NULL;
	}
	return node;
}

static bool pointer_is_proper_prefix(const struct pointer *prefix, const struct pointer *p)
{
	if (prefix->count >= p->count)
		return false;
	for (size_t i = 0; i < prefix->count; i++) {
		const struct token *a = &prefix->tokens[i], *b = &p->tokens[i];
		if (a->len != b->len || memcmp(a->text, b->text, a->len) != 0)
			return false;
	}
	return true;
}

/* RFC 6902 section 4.6 compares numbers by value, so 1 equals 1.0; json_equal() does not. */
static bool values_equal(const json_t *a, const json_t *b, int depth)
{
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	if (json_typeof(a) != json_typeof(b) || depth >= PATCH_MAX_DEPTH)
		return false;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!values_equal(json_array_get(a, i), json_array_get(b, i), depth + 1))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		const char *key;
		const json_t *value;
		json_object_foreach ((json_t *)a, key, value) {
			const json_t *other = json_object_get(b, key);
			if (!other || !values_equal(value, other, depth + 1))
				return false;
		}
		return true;
	}
	return json_equal(a, b);
}

struct operation {
	size_t index;
	const char *op;   /* NULL until known */
	const char *path; /* NULL until known */
	struct pointer target;
	struct pointer from;
	const json_t *value;
};

static void operation_free(struct operation *op)
{
	pointer_free(&op->target);
	pointer_free(&op->from);
}

static int operation_fail(const struct operation *op, struct ck_error *err, int code,
			  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int operation_fail(const struct operation *op, struct ck_error *err, int code,
			  const char *fmt, ...)
{
	char problem[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);
	if (op->op && op->path)
		return ck_error_set(err, code, "operation %zu (%s %s): %s", op->index, op->op,
				    op->path, problem);
	if (op->op)
		return ck_error_set(err, code, "operation %zu (%s): %s", op->index, op->op,
				    problem);
	return ck_error_set(err, code, "operation %zu: %s", op->index, problem);
}

/* The document being patched and what "copy" operations have added to it so far. */
struct patch_doc {
	json_t *root;
	size_t copied_bytes;
};

static void patch_doc_free(struct patch_doc *doc)
{
	json_decref(doc->root);
}

/* Stores `value` (always consumed) at `p`: inserted into arrays when `insert`, else replacing
 * an existing member or item. */
static int put_value(struct patch_doc *doc, const struct operation *op, const struct pointer *p,
		     json_t *value, bool insert, struct ck_error *err)
{
	_cleanup_json_ json_t *owned = value;
	if (p->count == 0) {
		json_decref(doc->root);
		doc->root = steal_ptr(&owned);
		return 0;
	}
	json_t *parent = pointer_get(doc->root, p, p->count - 1);
	const struct token *last = &p->tokens[p->count - 1];
	if (json_is_object(parent)) {
		if (!insert && !json_object_getn(parent, last->text, last->len))
			return operation_fail(op, err, EINVAL, "path not found");
		if (json_object_setn_new(parent, last->text, last->len, steal_ptr(&owned)) < 0)
			return operation_fail(op, err, ENOMEM, "out of memory");
		return 0;
	}
	if (!json_is_array(parent))
		return operation_fail(op, err, EINVAL,
				      parent ? "the parent is neither an object nor an array"
					     : "path not found");

	size_t size = json_array_size(parent), index = size;
	if (!(insert && token_is_append(last)) && !token_index(last, &index))
		return operation_fail(op, err, EINVAL, "\"%s\" is not an array index", last->text);
	if (index > size || (!insert && index == size))
		return operation_fail(op, err, EINVAL, "array index %zu out of range (size %zu)",
				      index, size);
	int rc = insert ? json_array_insert_new(parent, index, steal_ptr(&owned))
			: json_array_set_new(parent, index, steal_ptr(&owned));
	return rc < 0 ? operation_fail(op, err, ENOMEM, "out of memory") : 0;
}

/* Detaches the value at `p` and hands it to the caller in *taken. */
static int take_value(struct patch_doc *doc, const struct operation *op, const struct pointer *p,
		      json_t **taken, struct ck_error *err)
{
	if (p->count == 0)
		return operation_fail(op, err, EINVAL, "cannot remove the whole document");
	json_t *parent = pointer_get(doc->root, p, p->count - 1);
	const struct token *last = &p->tokens[p->count - 1];
	json_t *value = NULL;
	size_t index = 0;
	if (json_is_object(parent))
		value = json_object_getn(parent, last->text, last->len);
	else if (json_is_array(parent) && token_index(last, &index))
		value = json_array_get(parent, index);
	if (!value)
		return operation_fail(op, err, EINVAL, "path not found");
	*taken = json_incref(value);
	if (json_is_object(parent))
		json_object_deln(parent, last->text, last->len);
	else
		json_array_remove(parent, index);
	return 0;
}

static int apply_add(struct patch_doc *doc, const struct operation *op, struct ck_error *err)
{
	json_t *copy = json_deep_copy(op->value);
	if (!copy)
		return operation_fail(op, err, ENOMEM, "out of memory");
	return put_value(doc, op, &op->target, copy, true, err);
}

static int apply_replace(struct patch_doc *doc, const struct operation *op, struct ck_error *err)
{
	json_t *copy = json_deep_copy(op->value);
	if (!copy)
		return operation_fail(op, err, ENOMEM, "out of memory");
	return put_value(doc, op, &op->target, copy, false, err);
}

static int apply_remove(struct patch_doc *doc, const struct operation *op, struct ck_error *err)
{
	_cleanup_json_ json_t *removed = NULL;
	return take_value(doc, op, &op->target, &removed, err);
}

static int apply_move(struct patch_doc *doc, const struct operation *op, struct ck_error *err)
{
	if (!pointer_get(doc->root, &op->from, op->from.count))
		return operation_fail(op, err, EINVAL, "\"from\" not found");
	if (pointer_is_proper_prefix(&op->from, &op->target))
		return operation_fail(op, err, EINVAL, "cannot move a value into itself");
	json_t *moved = NULL;
	int rc = take_value(doc, op, &op->from, &moved, err);
	if (rc < 0)
		return rc;
	return put_value(doc, op, &op->target, moved, true, err);
}

static int apply_copy(struct patch_doc *doc, const struct operation *op, struct ck_error *err)
{
	const json_t *source = pointer_get(doc->root, &op->from, op->from.count);
	if (!source)
		return operation_fail(op, err, EINVAL, "\"from\" not found");
	doc->copied_bytes += json_dumpb(source, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	if (doc->copied_bytes > JSON_PATCH_MAX_COPY_BYTES)
		return operation_fail(op, err, E2BIG, "copies would add more than %d bytes",
				      JSON_PATCH_MAX_COPY_BYTES);
	json_t *copy = json_deep_copy(source);
	if (!copy)
		return operation_fail(op, err, ENOMEM, "out of memory");
	return put_value(doc, op, &op->target, copy, true, err);
}

static int apply_test(struct patch_doc *doc, const struct operation *op, struct ck_error *err)
{
	const json_t *current = pointer_get(doc->root, &op->target, op->target.count);
	if (!current)
		return operation_fail(op, err, EINVAL, "path not found");
	if (!values_equal(current, op->value, 0))
		return operation_fail(op, err, EINVAL, "test failed: the value differs");
	return 0;
}

struct operation_kind {
	const char *name;
	int (*apply)(struct patch_doc *doc, const struct operation *op, struct ck_error *err);
	bool wants_value;
	bool wants_from;
};

static const struct operation_kind operation_kinds[] = {
    {"add", apply_add, true, false},         {"remove", apply_remove, false, false},
    {"replace", apply_replace, true, false}, {"move", apply_move, false, true},
    {"copy", apply_copy, false, true},       {"test", apply_test, true, false},
};

static const struct operation_kind *find_operation_kind(const char *name)
{
	for (size_t i = 0; i < sizeof(operation_kinds) / sizeof(operation_kinds[0]); i++)
		if (strcmp(operation_kinds[i].name, name) == 0)
			return &operation_kinds[i];
	return NULL;
}

static int parse_pointer_member(struct operation *op, const json_t *spec, const char *member,
				struct pointer *out, struct ck_error *err)
{
	const json_t *text = json_object_get(spec, member);
	if (!json_is_string(text))
		return operation_fail(op, err, EINVAL, "\"%s\" is missing or not a string", member);
	const char *problem = NULL;
	int rc = pointer_parse(json_string_value(text), json_string_length(text), out, &problem);
	if (rc < 0)
		return operation_fail(op, err, -rc, "\"%s\": %s", member, problem);
	return 0;
}

static int apply_operation(struct patch_doc *doc, const json_t *spec, size_t index,
			   struct ck_error *err)
{
	_cleanup_(operation_free) struct operation op = {.index = index};
	if (!json_is_object(spec))
		return operation_fail(&op, err, EINVAL, "not a JSON object");
	op.op = json_string_value(json_object_get(spec, "op"));
	if (!op.op)
		return operation_fail(&op, err, EINVAL, "\"op\" is missing or not a string");
	op.path = json_string_value(json_object_get(spec, "path"));
	const struct operation_kind *kind = find_operation_kind(op.op);
	if (!kind)
		return operation_fail(&op, err, EINVAL, "unknown operation");

	int rc = parse_pointer_member(&op, spec, "path", &op.target, err);
	if (rc < 0)
		return rc;
	if (kind->wants_from) {
		rc = parse_pointer_member(&op, spec, "from", &op.from, err);
		if (rc < 0)
			return rc;
	}
	if (kind->wants_value) {
		op.value = json_object_get(spec, "value");
		if (!op.value)
			return operation_fail(&op, err, EINVAL, "\"value\" is missing");
	}

	return kind->apply(doc, &op, err);
}

int json_patch_apply(const json_t *original, const json_t *operations, json_t **result,
		     struct ck_error *err)
{
	if (!original)
		return ck_error_set(err, EINVAL, "no object to patch");
	if (!json_is_array(operations))
		return ck_error_set(err, EINVAL, "a JSON patch must be a list of operations");
	if (json_array_size(operations) > JSON_PATCH_MAX_OPERATIONS)
		return ck_error_set(err, E2BIG,
				    "a JSON patch may hold at most %d operations, not %zu",
				    JSON_PATCH_MAX_OPERATIONS, json_array_size(operations));

	_cleanup_(patch_doc_free) struct patch_doc doc = {.root = json_deep_copy(original)};
	if (!doc.root)
		return ck_error_set(err, ENOMEM, "copy the object to patch: out of memory");
	for (size_t i = 0; i < json_array_size(operations); i++) {
		int rc = apply_operation(&doc, json_array_get(operations, i), i, err);
		if (rc < 0)
			return rc;
	}
	*result = steal_ptr(&doc.root);
	return 0;
}
