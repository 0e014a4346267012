/* System metadata of stored objects: what the server sets (uid, creationTimestamp,
 * resourceVersion, generation), what it keeps across updates, the canonical key order of the
 * wire format, and the checks every kind shares (name, labels, annotations). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "apiserver/status.h"

struct api_resource;

/* Fills uid and creationTimestamp, generation 1 for objects with a spec, and a name from
 * generateName when none was given. */
void object_meta_fill_on_create(json_t *obj);
/* Copies what a client may not change from the stored object: uid, creationTimestamp,
 * deletionTimestamp, deletionGracePeriodSeconds, generation (raised when spec changed). */
void object_meta_keep_on_update(json_t *obj, const json_t *old);
/* Drops what is never stored as sent (managedFields, selfLink). */
void object_meta_drop_unstored(json_t *obj);
/* A new name from generateName: the prefix plus five random characters. */
char *object_meta_generate_name(const char *prefix);
/* Puts kind, apiVersion, metadata, spec, status first, and metadata's fields in the order
 * Kubernetes writes them. Returns a new reference. */
json_t *object_normalize(json_t *obj);
/* Sets metadata.resourceVersion. */
void object_meta_set_revision(json_t *obj, int64_t revision);

/* Checks what an update may not do to metadata: add finalizers to an object being deleted. */
void object_meta_validate_update(const json_t *obj, const json_t *old, struct field_errors *errors);
/* Checks metadata every kind shares: name by the kind's rule, generateName, labels,
 * annotations, finalizers. */
void object_meta_validate(const struct api_resource *resource, const json_t *obj, bool creating,
			  struct field_errors *errors);
