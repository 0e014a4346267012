/* Small conveniences over jansson for walking Kubernetes objects. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

/* Follows a dotted path of object keys ("metadata.name"); NULL when any step is missing or is
 * not an object. */
json_t *json_path(const json_t *root, const char *dotted);
/* The string at a dotted path, or NULL when it is missing or not a string. */
const char *json_path_string(const json_t *root, const char *dotted);
/* The object under `key`, created empty when missing (replacing a non-object value). Borrowed. */
json_t *json_object_ensure(json_t *obj, const char *key);
/* Sets obj[key] to a new string; returns 0 or -ENOMEM. */
int json_object_set_string(json_t *obj, const char *key, const char *value);
/* Serializes compactly with keys in insertion order; aborts on allocation failure. */
char *json_dump_compact(const json_t *value);
