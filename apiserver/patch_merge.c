/* JSON merge patch (RFC 7386). */
#include "apiserver/patch.h"

#include <stdbool.h>

#include "lib/cleanup.h"

/* Replaces *target (an owned reference, NULL when absent) by the result of merging `patch`
 * into it. Returns false when out of memory or nested too deeply. */
static bool merge_into(json_t **target, const json_t *patch, int depth)
{
	if (!json_is_object(patch)) {
		json_t *copy = json_deep_copy(patch);
		if (!copy)
			return false;
		json_decref(*target);
		*target = copy;
		return true;
	}
	if (depth >= PATCH_MAX_DEPTH)
		return false;
	if (!json_is_object(*target)) {
		json_t *fresh = json_object();
		if (!fresh)
			return false;
		json_decref(*target);
		*target = fresh;
	}

	const char *key;
	const json_t *value;
	json_object_foreach ((json_t *)patch, key, value) {
		if (json_is_null(value)) {
			json_object_del(*target, key);
			continue;
		}
		json_t *child = json_incref(json_object_get(*target, key));
		if (!merge_into(&child, value, depth + 1)) {
			json_decref(child);
			return false;
		}
		if (json_object_set_new(*target, key, child) < 0)
			return false;
	}
	return true;
}

json_t *merge_patch_apply(const json_t *original, const json_t *patch)
{
	/* Merging in place into a private copy keeps the result from sharing subtrees with
	 * `original`, which the caller may still hold and read. */
	_cleanup_json_ json_t *merged = json_deep_copy(original);
	if (original && !merged)
		return NULL;
	if (!merge_into(&merged, patch, 0))
		return NULL;
	return steal_ptr(&merged);
}
