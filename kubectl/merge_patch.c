#include "kubectl/merge_patch.h"

#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

/* 1 and 1.0 are the same value to the server. */
static bool same_value(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal(a, b);
}

/* True when `live` has everything `wanted` has, possibly more (fields the server defaulted). */
static bool contained(const json_t *wanted, const json_t *live)
{
	if (json_is_object(wanted) && json_is_object(live)) {
		const char *key;
		const json_t *value;
		json_object_foreach ((json_t *)wanted, key, value) {
			if (!contained(value, json_object_get(live, key)))
				return false;
		}
		return true;
	}
	if (json_is_array(wanted) && json_is_array(live)) {
		if (json_array_size(wanted) != json_array_size(live))
			return false;
		for (size_t i = 0; i < json_array_size(wanted); i++)
			if (!contained(json_array_get(wanted, i), json_array_get(live, i)))
				return false;
		return true;
	}
	return live && same_value(wanted, live);
}

static bool settled(const json_t *original, const json_t *modified, const json_t *current)
{
	if (same_value(modified, current))
		return true;
	return json_is_array(modified) && contained(modified, current) &&
	       (!original || same_value(original, modified));
}

json_t *three_way_merge_patch(const json_t *original, const json_t *modified, const json_t *current)
{
	json_t *patch = json_object();
	if (!patch)
		return NULL;
	const char *key;
	const json_t *value;
	if (json_is_object(original)) {
		json_object_foreach ((json_t *)original, key, value) {
			if (!json_object_get(modified, key) && json_object_get(current, key))
				json_object_set_new(patch, key, json_null());
		}
	}
	json_object_foreach ((json_t *)modified, key, value) {
		const json_t *live = json_object_get(current, key);
		const json_t *before =
		    json_is_object(original) ? json_object_get(original, key) : NULL;
		if (json_is_object(value) && json_is_object(live)) {
			json_t *nested = three_way_merge_patch(
			    json_is_object(before) ? before : NULL, value, live);
			if (json_object_size(nested) > 0)
				json_object_set_new(patch, key, nested);
			else
				json_decref(nested);
		} else if (live ? !settled(before, value, live) : !json_is_null(value)) {
			json_object_set_new(patch, key, json_deep_copy(value));
		}
	}
	return patch;
}

json_t *last_applied_object(const json_t *object)
{
	json_t *applied = json_deep_copy(object);
	json_t *metadata = applied ? json_object_ensure(applied, "metadata") : NULL;
	json_t *annotations = metadata ? json_object_ensure(metadata, "annotations") : NULL;
	if (!annotations) {
		json_decref(applied);
		return NULL;
	}
	json_object_del(annotations, LAST_APPLIED_ANNOTATION);
	char *text = json_dumps(applied, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		json_decref(applied);
		return NULL;
	}
	_cleanup_buf_ struct buf value = {0};
	buf_printf(&value, "%s\n", text);
	free(text);
	json_object_set_new(annotations, LAST_APPLIED_ANNOTATION, json_string(value.data));
	return applied;
}

json_t *last_applied_patch(const json_t *applied, const json_t *live, bool *had_annotation)
{
	const json_t *annotations = json_path(live, "metadata.annotations");
	const char *text = json_string_value(json_object_get(annotations, LAST_APPLIED_ANNOTATION));
	json_error_t error;
	_cleanup_json_ json_t *original = text ? json_loads(text, 0, &error) : NULL;
	*had_annotation = text != NULL;
	return three_way_merge_patch(json_is_object(original) ? original : NULL, applied, live);
}
