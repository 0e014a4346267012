/* Client-side apply: the three-way JSON merge patch between what was applied last time (the
 * last-applied-configuration annotation), what is applied now, and what the server has. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#define LAST_APPLIED_ANNOTATION "kubectl.kubernetes.io/last-applied-configuration"

/* A JSON merge patch (RFC 7386) that takes `current` to `modified`, where
 *  - fields in `original` but no longer in `modified` become null (deleted), and
 *  - fields of `modified` that differ from `current` are set.
 * Fields only the server set (defaults, status) are left alone. Lists are replaced whole, so a
 * list counts as unchanged when the server's copy only adds fields to what was applied and the
 * applied list itself did not change. `original` may be NULL (never applied). Returns {} when
 * nothing needs to change. */
json_t *three_way_merge_patch(const json_t *original, const json_t *modified,
			      const json_t *current);

/* The object apply sends: a copy of `object` whose last-applied-configuration annotation holds
 * the object itself as sorted, compact JSON, the way kubectl writes it. */
json_t *last_applied_object(const json_t *object);

/* The patch apply sends for `applied` (from last_applied_object) against the live object;
 * *had_annotation tells whether the live object was applied before. */
json_t *last_applied_patch(const json_t *applied, const json_t *live, bool *had_annotation);
