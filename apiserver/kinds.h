/* The per-kind strategies (defaults, validation, update rules, tables, selectable fields), one
 * file per kind: kind_pod.c, kind_service.c, ... */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "apiserver/resources.h"

extern const struct kind_strategy pod_strategy;
extern const struct kind_strategy service_strategy;
extern const struct kind_strategy endpoints_strategy;
extern const struct kind_strategy node_strategy;
extern const struct kind_strategy namespace_strategy;
extern const struct kind_strategy event_strategy;
extern const struct kind_strategy configmap_strategy;
extern const struct kind_strategy secret_strategy;
extern const struct kind_strategy lease_strategy;

/* Helpers the kinds share. */

/* "5m", "<invalid>": the age of a timestamp, as the AGE column shows it. */
void kind_age(const json_t *obj, const char *field, time_t now, char *out, size_t len);
/* Adds a string cell; NULL or "" become `empty` (often "<none>"). */
void kind_cell_string(json_t *cells, const char *value, const char *empty);
/* Update rules most kinds share: an update of the main resource keeps the stored status, an
 * update through the status subresource keeps the stored spec. */
void kind_keep_status(json_t *obj, const json_t *old);
void kind_keep_spec(json_t *obj, const json_t *old);
/* Sets obj[key] to `value` unless it is already set. */
void kind_default_string(json_t *obj, const char *key, const char *value);
void kind_default_integer(json_t *obj, const char *key, json_int_t value);
/* The element of a list of objects whose `key` field equals `value`. */
json_t *kind_find_by(const json_t *list, const char *key, const char *value);
/* The status (True/False/Unknown) of condition `type` in status.conditions, or NULL. */
const char *kind_condition_status(const json_t *obj, const char *type);
