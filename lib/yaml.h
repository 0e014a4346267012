/* YAML in and out, with the typing Kubernetes clients use (YAML 1.1 as go-yaml v2 resolves it):
 * plain scalars become null, booleans (true/false/yes/no/on/off), integers or floats when they
 * look like one; quoted scalars always stay strings. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

/* Parses a stream of YAML documents ("---" separated; JSON is YAML too) into a JSON array
 * with one element per non-empty document. Map keys become strings. On failure returns a
 * negative errno and names the document and line: "document 2, line 7: ...". */
int yaml_parse_documents(const char *text, size_t len, json_t **docs, struct ck_error *err);

/* Whether a plain (unquoted) scalar with this text reads back as a string under the typing
 * above; emitters quote strings for which it does not. */
bool yaml_plain_is_string(const char *text);

/* Writes `value` as one YAML document, keys sorted like kubectl's output, strings quoted
 * where a YAML reader would otherwise take them for another type. Returns 0 or -errno. */
int yaml_emit(FILE *out, const json_t *value, struct ck_error *err);
