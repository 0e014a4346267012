/* -o yaml|json|name|wide: objects printed the way kubectl prints them. */
#pragma once

#include <jansson.h>

#include "kubectl/kubectl.h"
#include "lib/buf.h"

enum output_format { OUTPUT_TABLE, OUTPUT_WIDE, OUTPUT_YAML, OUTPUT_JSON, OUTPUT_NAME };

int output_format_parse(const char *text, enum output_format *format, struct ck_error *err);

/* One object (or a List) in the given format; for OUTPUT_NAME "kind[.group]/name". */
int output_object(struct kubectl *k, const json_t *object, enum output_format format,
		  struct ck_error *err);

/* JSON the way Go's encoding/json indents it (kubectl -o json): four spaces, keys sorted,
 * <, > and & escaped. */
void output_json(const json_t *value, struct buf *out);

/* The List kubectl prints for several objects: {"apiVersion":"v1","items":[...],"kind":"List",
 * "metadata":{"resourceVersion":""}}. Takes references to `items`. */
json_t *output_list(json_t *items);

/* Gives a list item the kind and apiVersion its list implies ("PodList" -> "Pod"), since the
 * server may leave them out of items. */
void output_fill_item_type(json_t *item, const json_t *list);
