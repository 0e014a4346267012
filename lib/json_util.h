/* Small conveniences over jansson for walking Kubernetes objects. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "lib/buf.h"

/* Follows a dotted path of object keys ("metadata.name"); NULL when any step is missing or is
 * not an object. */
json_t *json_path(const json_t *root, const char *dotted);
/* The string at a dotted path, or NULL when it is missing or not a string. */
const char *json_path_string(const json_t *root, const char *dotted);
/* The object under `key`, created empty when missing (replacing a non-object value). Borrowed. */
json_t *json_object_ensure(json_t *obj, const char *key);
/* Sets obj[key] to a new string; returns 0 or -ENOMEM. */
int json_object_set_string(json_t *obj, const char *key, const char *value);
/* Serializes compactly with keys in insertion order, byte for byte as jansson's
 * json_dumps(JSON_COMPACT) does, but several times faster: jansson's dump keeps a table of the
 * containers it is inside (to refuse cycles, which values built by this program never have)
 * and writes strings a character at a time. Aborts on allocation failure. */
char *json_dump_compact(const json_t *value);
/* The same, appended to `out`. */
void json_dump_append(const json_t *value, struct buf *out);
