/* The three PATCH formats of the Kubernetes API, as pure functions on JSON values:
 *   application/merge-patch+json           merge_patch_apply
 *   application/json-patch+json            json_patch_apply
 *   application/strategic-merge-patch+json strategic_merge_patch_apply
 * None of them changes its inputs; every result is a fresh value that shares nothing with them,
 * so the caller may go on to default and validate it in place. */
#pragma once

#include <jansson.h>

#include "lib/error.h"

struct schema_type; /* apiserver/schema.h */

/* Patches nest no deeper than this; deeper input is refused instead of recursing on. */
#define PATCH_MAX_DEPTH 256
/* Kubernetes' own limits on JSON patches: operations per patch, and bytes that "copy"
 * operations may add (without it, each copy could double the document). */
#define JSON_PATCH_MAX_OPERATIONS 10000
#define JSON_PATCH_MAX_COPY_BYTES (3 * 1024 * 1024)

/* RFC 7386: returns a new value; `original` is untouched. NULL when out of memory or when the
 * patch nests deeper than PATCH_MAX_DEPTH. */
json_t *merge_patch_apply(const json_t *original, const json_t *patch);

/* RFC 6902: add, remove, replace, move, copy, test; JSON pointers with ~0 ~1 escapes and "-".
 * Works on a deep copy; on failure *result is untouched and err names the operation index
 * (counted from 0, as in the array), op and path:
 *   "operation 2 (replace /spec/x): path not found"
 * Returns 0, -EINVAL for a malformed or failing operation, -E2BIG past the limits above,
 * -ENOMEM. */
int json_patch_apply(const json_t *original, const json_t *operations, json_t **result,
		     struct ck_error *err);

/* Kubernetes' strategic merge patch. `type` is the schema of the object being patched (see
 * apiserver/schema.h: fields carry the patch strategy and merge key); it may be NULL or lack a
 * field, and then that part merges like a JSON merge patch (lists replaced).
 *
 * Directives: "$patch": "replace" | "delete" | "merge" in a map (replace it whole, empty it,
 * or merge as usual) and as a list item ("replace": the list becomes the other items;
 * "delete" with the merge key: drop the items with that key; "merge": an ordinary item),
 * "$setElementOrder/<list>", "$retainKeys", "$deleteFromPrimitiveList/<list>".
 * Returns 0, or -EINVAL with err naming the place ("spec.containers[1]: ...") when the patch
 * has a wrong shape; on failure *result is untouched. */
int strategic_merge_patch_apply(const json_t *original, const json_t *patch,
				const struct schema_type *type, json_t **result,
				struct ck_error *err);
