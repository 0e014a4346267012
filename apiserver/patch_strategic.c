/* Kubernetes' strategic merge patch: a JSON merge patch in which the schema decides how lists
 * merge (by a key, as a set, or replaced), plus the "$" directives that clients such as kubectl
 * send. Follows k8s.io/apimachinery/pkg/util/strategicpatch as the API server applies it. */
#include "apiserver/patch.h"
#include "apiserver/field_path.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/schema.h"
#include "lib/buf.h"
#include "lib/cleanup.h"

#define DIRECTIVE_KEY "$patch"
#define RETAIN_KEYS_KEY "$retainKeys"
#define ELEMENT_ORDER_PREFIX "$setElementOrder/"
#define DELETE_FROM_LIST_PREFIX "$deleteFromPrimitiveList/"

enum directive { DIRECTIVE_NONE, DIRECTIVE_MERGE, DIRECTIVE_REPLACE, DIRECTIVE_DELETE };

/* The state of one patch application: where it is, for error messages
 * ("spec.containers[1].ports"), and a scratch buffer for list item identities. */
struct walk {
	struct ck_error *err;
	struct buf path;
	struct buf scratch;
};

static size_t path_push_key(struct walk *w, const char *key)
{
	return field_path_push_name(&w->path, key, strlen(key));
}

static void walk_free(struct walk *w)
{
	buf_free(&w->scratch);
	buf_free(&w->path);
}

static int walk_fail(struct walk *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int walk_fail(struct walk *w, int code, const char *fmt, ...)
{
	char problem[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);
	if (w->path.len)
		return ck_error_set(w->err, code, "%s: %s", field_path_text(&w->path), problem);
	return ck_error_set(w->err, code, "%s", problem);
}

static int walk_oom(struct walk *w)
{
	return walk_fail(w, ENOMEM, "out of memory");
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool string_is(const json_t *value, const char *text)
{
	return json_is_string(value) && json_string_length(value) == strlen(text) &&
	       strcmp(json_string_value(value), text) == 0;
}

/* How the value under one key merges. */
struct slot_schema {
	const struct schema_type *type; /* NULL: unknown, merged like a JSON merge patch */
	enum patch_strategy strategy;
	const char *merge_key;
};

static struct slot_schema member_schema(const struct schema_type *parent, const char *key)
{
	struct slot_schema s = {.strategy = PATCH_STRATEGY_DEFAULT};
	if (parent && parent->kind == SCHEMA_MAP) {
		s.type = parent->element;
		return s;
	}
	const struct schema_field *field = parent ? schema_field(parent, key) : NULL;
	if (field) {
		s.type = field->type;
		s.strategy = field->strategy;
		s.merge_key = field->merge_key;
	}
	return s;
}

static const struct schema_type *item_type(const struct slot_schema *list)
{
	return list->type && list->type->kind == SCHEMA_ARRAY ? list->type->element : NULL;
}

static bool merges_list(const struct slot_schema *list)
{
	return list->strategy == PATCH_STRATEGY_MERGE ||
	       list->strategy == PATCH_STRATEGY_MERGE_RETAIN_KEYS;
}

/* NULL for lists merged as a set of scalars, and for lists that are replaced. */
static const char *list_merge_key(const struct slot_schema *list)
{
	return merges_list(list) && list->merge_key && *list->merge_key ? list->merge_key : NULL;
}

/* What list items are matched by: the merge key's value, or the item itself in lists of
 * scalars. Only scalars have an identity, written into w->scratch; numbers are compared by
 * value, so that port 80 and 80.0 are one port, as in Go. */
static bool identity_of(struct walk *w, const json_t *item, const char *merge_key)
{
	const json_t *value = merge_key ? json_object_get(item, merge_key) : item;
	if (!value)
		return false;
	struct buf *id = &w->scratch;
	buf_reset(id);
	double real;
	switch (json_typeof(value)) {
	case JSON_STRING:
		buf_putc(id, 's');
		buf_append(id, json_string_value(value), json_string_length(value));
		return true;
	case JSON_INTEGER:
		buf_printf(id, "n%" JSON_INTEGER_FORMAT, json_integer_value(value));
		return true;
	case JSON_REAL:
		real = json_real_value(value);
		if (real > -9e18 && real < 9e18 && (double)(json_int_t)real == real)
			buf_printf(id, "n%" JSON_INTEGER_FORMAT, (json_int_t)real);
		else
			buf_printf(id, "r%.17g", real);
		return true;
	case JSON_TRUE:
		buf_putc(id, 't');
		return true;
	case JSON_FALSE:
		buf_putc(id, 'f');
		return true;
	case JSON_NULL:
		buf_putc(id, 'z');
		return true;
	default:
		return false;
	}
}

/* Indexes map item identities to the first position they occur at, so that matching stays
 * linear in the length of hostile lists. */
static int index_add(struct walk *w, json_t *index, const json_t *item, const char *merge_key,
		     size_t position)
{
	if (!identity_of(w, item, merge_key) ||
	    json_object_getn(index, w->scratch.data, w->scratch.len))
		return 0;
	if (json_object_setn_new_nocheck(index, w->scratch.data, w->scratch.len,
					 json_integer((json_int_t)position)) < 0)
		return walk_oom(w);
	return 0;
}

/* The position recorded for the item's identity, or -1. */
static long index_find(struct walk *w, const json_t *index, const json_t *item,
		       const char *merge_key)
{
	if (!identity_of(w, item, merge_key))
		return -1;
	const json_t *position = json_object_getn(index, w->scratch.data, w->scratch.len);
	return position ? (long)json_integer_value(position) : -1;
}

/* Indexes the items of `list` (NULL: none). */
static int index_of(struct walk *w, const json_t *list, const char *merge_key, json_t **index)
{
	_cleanup_json_ json_t *built = json_object();
	if (!built)
		return walk_oom(w);
	size_t i;
	const json_t *item;
	json_array_foreach (list, i, item) {
		int rc = index_add(w, built, item, merge_key, i);
		if (rc < 0)
			return rc;
	}
	*index = steal_ptr(&built);
	return 0;
}

static int read_directive(struct walk *w, const json_t *patch, enum directive *directive)
{
	const json_t *value = json_object_get(patch, DIRECTIVE_KEY);
	*directive = DIRECTIVE_NONE;
	if (!value)
		return 0;
	if (string_is(value, "merge"))
		*directive = DIRECTIVE_MERGE;
	else if (string_is(value, "replace"))
		*directive = DIRECTIVE_REPLACE;
	else if (string_is(value, "delete"))
		*directive = DIRECTIVE_DELETE;
	else
		return walk_fail(w, EINVAL,
				 "\"$patch\" must be \"replace\", \"delete\" or \"merge\"");
	return 0;
}

/* A list item that instructs ("$patch": "replace" or "delete") rather than being a value.
 * Only valid once the list passed check_list_patch(). */
static bool is_list_directive(const json_t *item)
{
	const json_t *value = json_object_get(item, DIRECTIVE_KEY);
	return string_is(value, "replace") || string_is(value, "delete");
}

/* Keys that steer the merge of their object instead of naming a field. */
static bool is_directive_key(const char *key)
{
	return strcmp(key, DIRECTIVE_KEY) == 0 || strcmp(key, RETAIN_KEYS_KEY) == 0 ||
	       has_prefix(key, ELEMENT_ORDER_PREFIX) || has_prefix(key, DELETE_FROM_LIST_PREFIX);
}

static int merge_value(struct walk *w, json_t **slot, const json_t *patch,
		       const struct slot_schema *schema, int depth);

struct ranked_item {
	json_t *item;
	bool wanted;    /* named by the order the caller wants */
	long rank;      /* position in that order, or in the original list; -1: in neither */
	long reference; /* position in the original list, -1 when not there */
	size_t seq;     /* keeps the sort stable */
};

static int compare_ranked(const void *a, const void *b)
{
	const struct ranked_item *x = a, *y = b;
	if (x->wanted != y->wanted)
		return x->wanted ? -1 : 1;
	long rx = x->rank < 0 ? LONG_MAX : x->rank, ry = y->rank < 0 ? LONG_MAX : y->rank;
	if (rx != ry)
		return rx < ry ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Orders a merged list as Kubernetes does: the items `wanted` names (the patch list, or
 * $setElementOrder) in that order, the others in their original order, and the two groups
 * interleaved so that an item keeps its place before another wherever the original list
 * ordered both. */
static int order_list(struct walk *w, const json_t *merged, const json_t *wanted,
		      const json_t *original, const char *merge_key, json_t **ordered)
{
	_cleanup_json_ json_t *wanted_index = NULL, *original_index = NULL;
	int rc = index_of(w, wanted, merge_key, &wanted_index);
	if (rc == 0)
		rc = index_of(w, original, merge_key, &original_index);
	if (rc < 0)
		return rc;

	size_t count = json_array_size(merged), wanted_count = 0;
	_cleanup_free_ struct ranked_item *items = calloc(count ? count : 1, sizeof(*items));
	_cleanup_json_ json_t *result = json_array();
	if (!items || !result)
		return walk_oom(w);
	for (size_t i = 0; i < count; i++) {
		json_t *item = json_array_get(merged, i);
		long wanted_at = index_find(w, wanted_index, item, merge_key);
		long original_at = index_find(w, original_index, item, merge_key);
		items[i] = (struct ranked_item){
		    item, wanted_at >= 0, wanted_at >= 0 ? wanted_at : original_at, original_at, i};
		wanted_count += wanted_at >= 0;
	}
	qsort(items, count, sizeof(*items), compare_ranked);

	const struct ranked_item *next_wanted = items, *end_wanted = items + wanted_count;
	const struct ranked_item *next_other = end_wanted, *end_other = items + count;
	while (next_wanted < end_wanted || next_other < end_other) {
		bool other_first = next_other < end_other &&
				   (next_wanted == end_wanted ||
				    (next_other->reference >= 0 && next_wanted->reference >= 0 &&
				     next_other->reference < next_wanted->reference));
		const struct ranked_item *take = other_first ? next_other++ : next_wanted++;
		if (json_array_append(result, take->item) < 0)
			return walk_oom(w);
	}
	*ordered = steal_ptr(&result);
	return 0;
}

/* Validates the items of a list patch against how the list merges, and collects the
 * directives: whether the list is replaced, and which keys "$patch": "delete" items name. */
static int check_list_patch(struct walk *w, const json_t *patch, const struct slot_schema *list,
			    bool *replace, json_t *deleted)
{
	const char *merge_key = list_merge_key(list);
	size_t i;
	const json_t *item;
	json_array_foreach (patch, i, item) {
		size_t saved = field_path_push_index(&w->path, i);
		enum directive directive;
		int rc = read_directive(w, item, &directive);
		if (rc < 0)
			return rc;
		if (directive == DIRECTIVE_REPLACE) {
			*replace = true;
		} else if (directive == DIRECTIVE_DELETE && !merge_key) {
			return walk_fail(w, EINVAL,
					 "\"$patch\": \"delete\" needs a list merged by key");
		} else if (merge_key && !json_is_object(item)) {
			return walk_fail(w, EINVAL, "a list merged by \"%s\" holds objects only",
					 merge_key);
		} else if (merge_key && !identity_of(w, item, merge_key)) {
			return walk_fail(w, EINVAL,
					 "the merge key \"%s\" is missing or not a scalar",
					 merge_key);
		} else if (merges_list(list) && !merge_key &&
			   (json_is_object(item) || json_is_array(item))) {
			return walk_fail(w, EINVAL,
					 "a list merged as a set holds scalars only (objects need "
					 "a merge key)");
		} else if (directive == DIRECTIVE_DELETE) {
			rc = index_add(w, deleted, item, merge_key, i);
			if (rc < 0)
				return rc;
		}
		field_path_pop(&w->path, saved);
	}
	return 0;
}

/* The list is the patch's values, each merged into nothing so that directives and nulls
 * inside them are resolved. */
static int replace_list(struct walk *w, const json_t *patch, const struct slot_schema *list,
			int depth, json_t **merged)
{
	struct slot_schema each = {.type = item_type(list)};
	_cleanup_json_ json_t *result = json_array();
	if (!result)
		return walk_oom(w);
	size_t i;
	const json_t *item;
	json_array_foreach (patch, i, item) {
		if (is_list_directive(item))
			continue;
		json_t *value = json_is_null(item) ? json_null() : NULL;
		size_t saved = field_path_push_index(&w->path, i);
		int rc = value ? 0 : merge_value(w, &value, item, &each, depth + 1);
		field_path_pop(&w->path, saved);
		if (rc < 0) {
			json_decref(value);
			return rc;
		}
		if (json_array_append_new(result, value) < 0)
			return walk_oom(w);
	}
	*merged = steal_ptr(&result);
	return 0;
}

/* Items whose key the patch names are merged with it; the rest stay; new keys are added. */
static int merge_keyed_list(struct walk *w, const json_t *original, const json_t *patch,
			    const json_t *deleted, const struct slot_schema *list, int depth,
			    json_t **merged)
{
	const char *merge_key = list_merge_key(list);
	struct slot_schema each = {.type = item_type(list)};
	_cleanup_json_ json_t *result = json_array();
	_cleanup_json_ json_t *positions = NULL;
	if (!result)
		return walk_oom(w);
	size_t i;
	json_t *item;
	json_array_foreach (original, i, item) {
		if (index_find(w, deleted, item, merge_key) < 0 &&
		    json_array_append(result, item) < 0)
			return walk_oom(w);
	}
	int rc = index_of(w, result, merge_key, &positions);
	if (rc < 0)
		return rc;

	const json_t *change;
	json_array_foreach (patch, i, change) {
		if (is_list_directive(change))
			continue;
		long at = index_find(w, positions, change, merge_key);
		json_t *value = at >= 0 ? json_incref(json_array_get(result, (size_t)at)) : NULL;
		size_t saved = field_path_push_index(&w->path, i);
		rc = merge_value(w, &value, change, &each, depth + 1);
		field_path_pop(&w->path, saved);
		if (rc < 0) {
			json_decref(value);
			return rc;
		}
		if (at >= 0) {
			if (json_array_set_new(result, (size_t)at, value) < 0)
				return walk_oom(w);
			continue;
		}
		if (json_array_append_new(result, value) < 0)
			return walk_oom(w);
		rc = index_add(w, positions, change, merge_key, json_array_size(result) - 1);
		if (rc < 0)
			return rc;
	}
	return order_list(w, result, patch, original, merge_key, merged);
}

/* Lists of scalars with the merge strategy are sets: the union, each value once. */
static int merge_scalar_set(struct walk *w, const json_t *original, const json_t *patch,
			    json_t **merged)
{
	_cleanup_json_ json_t *result = json_array(), *seen = json_object();
	if (!result || !seen)
		return walk_oom(w);
	const json_t *sources[] = {original, patch};
	for (size_t s = 0; s < 2; s++) {
		size_t i;
		const json_t *item;
		json_array_foreach (sources[s], i, item) {
			if (is_list_directive(item) || index_find(w, seen, item, NULL) >= 0)
				continue;
			int rc = index_add(w, seen, item, NULL, json_array_size(result));
			if (rc < 0)
				return rc;
			if (json_array_append_new(result, json_deep_copy(item)) < 0)
				return walk_oom(w);
		}
	}
	return order_list(w, result, patch, original, NULL, merged);
}

static int merge_list(struct walk *w, json_t **slot, const json_t *patch,
		      const struct slot_schema *list, int depth)
{
	if (depth >= PATCH_MAX_DEPTH)
		return walk_fail(w, EINVAL, "nested deeper than %d levels", PATCH_MAX_DEPTH);
	const json_t *original = json_is_array(*slot) ? *slot : NULL;
	_cleanup_json_ json_t *deleted = json_object();
	if (!deleted)
		return walk_oom(w);
	bool replace = false;
	int rc = check_list_patch(w, patch, list, &replace, deleted);
	if (rc < 0)
		return rc;

	json_t *merged = NULL;
	if (replace || !merges_list(list))
		rc = replace_list(w, patch, list, depth, &merged);
	else if (list_merge_key(list))
		rc = merge_keyed_list(w, original, patch, deleted, list, depth, &merged);
	else
		rc = merge_scalar_set(w, original, patch, &merged);
	if (rc < 0)
		return rc;
	json_decref(*slot);
	*slot = merged;
	return 0;
}

/* "$retainKeys": the object keeps only the listed fields, and the patch may set no others. */
static int retain_keys(struct walk *w, json_t *target, const json_t *patch)
{
	const json_t *listed = json_object_get(patch, RETAIN_KEYS_KEY);
	if (!listed)
		return 0;
	_cleanup_json_ json_t *keep = json_object();
	if (!keep)
		return walk_oom(w);
	if (!json_is_array(listed))
		return walk_fail(w, EINVAL, "$retainKeys must be a list of field names");
	size_t i;
	const json_t *name;
	json_array_foreach (listed, i, name) {
		if (!json_is_string(name))
			return walk_fail(w, EINVAL, "$retainKeys must be a list of field names");
		if (json_object_setn_new_nocheck(keep, json_string_value(name),
						 json_string_length(name), json_true()) < 0)
			return walk_oom(w);
	}

	const char *key;
	const json_t *value;
	json_object_foreach ((json_t *)patch, key, value) {
		if (!json_is_null(value) && !is_directive_key(key) && !json_object_get(keep, key))
			return walk_fail(w, EINVAL,
					 "field \"%s\" is patched but not in $retainKeys", key);
	}
	void *spare;
	json_t *current;
	json_object_foreach_safe (target, spare, key, current) {
		if (!json_object_get(keep, key))
			json_object_del(target, key);
	}
	return 0;
}

/* The items of a list patch must come in the order $setElementOrder gives them, or the two
 * would disagree about the result. */
static int check_patch_follows_order(struct walk *w, const json_t *patch, const json_t *order,
				     const char *merge_key)
{
	_cleanup_json_ json_t *positions = NULL;
	int rc = index_of(w, order, merge_key, &positions);
	if (rc < 0)
		return rc;
	long last = -1;
	size_t i;
	const json_t *item;
	json_array_foreach (patch, i, item) {
		if (is_list_directive(item))
			continue;
		long at = index_find(w, positions, item, merge_key);
		if (at < 0)
			return walk_fail(w, EINVAL,
					 "item %zu of the list is not in $setElementOrder", i);
		if (at < last)
			return walk_fail(w, EINVAL,
					 "the order of the list does not match $setElementOrder");
		last = at;
	}
	return 0;
}

/* "$setElementOrder/<list>": merges the list (when patched) and puts its items in the given
 * order, keeping items the order does not name where the original list had them. */
static int apply_element_order(struct walk *w, json_t *target, const json_t *patch,
			       const char *list_key, const json_t *order,
			       const struct schema_type *type, int depth)
{
	struct slot_schema list = member_schema(type, list_key);
	const char *merge_key = list_merge_key(&list);
	if (!json_is_array(order))
		return walk_fail(w, EINVAL, "$setElementOrder must be a list");
	size_t i;
	const json_t *item;
	json_array_foreach (order, i, item) {
		if (!identity_of(w, item, merge_key))
			return walk_fail(w, EINVAL,
					 merge_key ? "$setElementOrder item %zu lacks the merge key"
						   : "$setElementOrder item %zu is not a scalar",
					 i);
	}
	const json_t *patch_list = json_object_get(patch, list_key);
	if (patch_list && !json_is_array(patch_list))
		return walk_fail(w, EINVAL,
				 "$setElementOrder is given for a value that is not a list");
	json_t *current = json_object_get(target, list_key);
	if (!json_is_array(current))
		current = NULL;
	if (!current && !patch_list)
		return 0;

	_cleanup_json_ json_t *merged = json_incref(current);
	if (patch_list) {
		int rc = merge_list(w, &merged, patch_list, &list, depth + 1);
		if (rc == 0)
			rc = check_patch_follows_order(w, patch_list, order, merge_key);
		if (rc < 0)
			return rc;
	}
	json_t *ordered = NULL;
	int rc = order_list(w, merged, order, current, merge_key, &ordered);
	if (rc < 0)
		return rc;
	return json_object_set_new(target, list_key, ordered) < 0 ? walk_oom(w) : 0;
}

/* Runs every $setElementOrder directive of `patch`, and records in `done` the lists they
 * merged, which the patch's other keys must then leave alone. */
static int apply_element_orders(struct walk *w, json_t *target, const json_t *patch,
				const struct schema_type *type, json_t *done, int depth)
{
	const char *key;
	const json_t *value;
	json_object_foreach ((json_t *)patch, key, value) {
		if (!has_prefix(key, ELEMENT_ORDER_PREFIX))
			continue;
		const char *list_key = key + strlen(ELEMENT_ORDER_PREFIX);
		size_t saved = path_push_key(w, list_key);
		int rc = apply_element_order(w, target, patch, list_key, value, type, depth);
		field_path_pop(&w->path, saved);
		if (rc < 0)
			return rc;
		if (json_object_set_new(done, list_key, json_true()) < 0)
			return walk_oom(w);
	}
	return 0;
}

/* "$deleteFromPrimitiveList/<list>": removes the given scalars from the list, whatever its
 * strategy. */
static int delete_from_list(struct walk *w, json_t *target, const char *list_key,
			    const json_t *doomed)
{
	if (!json_is_array(doomed))
		return walk_fail(w, EINVAL, "$deleteFromPrimitiveList must be a list");
	size_t i;
	const json_t *item;
	json_array_foreach (doomed, i, item) {
		if (!identity_of(w, item, NULL))
			return walk_fail(w, EINVAL,
					 "$deleteFromPrimitiveList item %zu is not a scalar", i);
	}
	json_t *current = json_object_get(target, list_key);
	if (!json_is_array(current))
		return 0;
	_cleanup_json_ json_t *gone = NULL;
	int rc = index_of(w, doomed, NULL, &gone);
	if (rc < 0)
		return rc;
	_cleanup_json_ json_t *kept = json_array();
	if (!kept)
		return walk_oom(w);
	json_t *value;
	json_array_foreach (current, i, value) {
		if (index_find(w, gone, value, NULL) < 0 && json_array_append(kept, value) < 0)
			return walk_oom(w);
	}
	return json_object_set_new(target, list_key, steal_ptr(&kept)) < 0 ? walk_oom(w) : 0;
}

static int merge_member(struct walk *w, json_t *target, const char *key, const json_t *patch,
			const struct schema_type *type, int depth)
{
	struct slot_schema schema = member_schema(type, key);
	json_t *value = json_incref(json_object_get(target, key));
	int rc = merge_value(w, &value, patch, &schema, depth + 1);
	if (rc < 0) {
		json_decref(value);
		return rc;
	}
	if (!value) {
		json_object_del(target, key);
		return 0;
	}
	return json_object_set_new(target, key, value) < 0 ? walk_oom(w) : 0;
}

/* Merges the object `patch` into *slot (an owned reference; NULL or a non-object when there
 * is nothing to merge into). Leaves NULL in *slot when the value is to be removed. */
static int merge_object(struct walk *w, json_t **slot, const json_t *patch,
			const struct schema_type *type, bool replace_whole, int depth)
{
	if (depth >= PATCH_MAX_DEPTH)
		return walk_fail(w, EINVAL, "nested deeper than %d levels", PATCH_MAX_DEPTH);
	enum directive directive;
	int rc = read_directive(w, patch, &directive);
	if (rc < 0)
		return rc;
	bool existed = json_is_object(*slot);
	if (directive == DIRECTIVE_DELETE) {
		/* Kubernetes empties a map it deletes but does not create one to empty. */
		json_decref(*slot);
		*slot = existed ? json_object() : NULL;
		return existed && !*slot ? walk_oom(w) : 0;
	}
	if (!existed || replace_whole || directive == DIRECTIVE_REPLACE) {
		json_decref(*slot);
		*slot = json_object();
		if (!*slot)
			return walk_oom(w);
	}
	json_t *target = *slot;

	_cleanup_json_ json_t *ordered_lists = json_object();
	if (!ordered_lists)
		return walk_oom(w);
	rc = retain_keys(w, target, patch);
	if (rc == 0)
		rc = apply_element_orders(w, target, patch, type, ordered_lists, depth);
	if (rc < 0)
		return rc;

	const char *key;
	const json_t *value;
	json_object_foreach ((json_t *)patch, key, value) {
		bool deletes = has_prefix(key, DELETE_FROM_LIST_PREFIX);
		if ((is_directive_key(key) && !deletes) || json_object_get(ordered_lists, key))
			continue;
		size_t saved = path_push_key(w, key);
		rc = deletes
			 ? delete_from_list(w, target, key + strlen(DELETE_FROM_LIST_PREFIX), value)
			 : merge_member(w, target, key, value, type, depth);
		field_path_pop(&w->path, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Merges any patch value into *slot (an owned reference, NULL when absent); leaves NULL in
 * *slot when the value is to be removed. */
static int merge_value(struct walk *w, json_t **slot, const json_t *patch,
		       const struct slot_schema *schema, int depth)
{
	if (json_is_object(patch))
		return merge_object(w, slot, patch, schema->type,
				    schema->strategy == PATCH_STRATEGY_REPLACE, depth);
	if (json_is_array(patch))
		return merge_list(w, slot, patch, schema, depth);
	json_t *copy = json_is_null(patch) ? NULL : json_deep_copy(patch);
	if (!json_is_null(patch) && !copy)
		return walk_oom(w);
	json_decref(*slot);
	*slot = copy;
	return 0;
}

int strategic_merge_patch_apply(const json_t *original, const json_t *patch,
				const struct schema_type *type, json_t **result,
				struct ck_error *err)
{
	if (!json_is_object(original))
		return ck_error_set(err, EINVAL, "the object to patch is not a JSON object");
	if (!json_is_object(patch))
		return ck_error_set(err, EINVAL, "a strategic merge patch must be a JSON object");
	_cleanup_(walk_free) struct walk w = {.err = err};
	_cleanup_json_ json_t *merged = json_deep_copy(original);
	if (!merged)
		return walk_oom(&w);
	int rc = merge_object(&w, &merged, patch, type, false, 0);
	if (rc < 0)
		return rc;
	*result = steal_ptr(&merged);
	return 0;
}
