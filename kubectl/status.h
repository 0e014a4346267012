/* Error answers of the API server (meta/v1 Status objects) in kubectl's words. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "lib/buf.h"

/* Appends what kubectl prints for `status`, without a trailing newline:
 *   Error from server (NotFound): pods "x" not found
 *   The Pod "bad" is invalid: spec.containers: Required value
 * With `verb` and `source` (may be NULL) the message says what was being done to which file:
 *   Error from server (AlreadyExists): error when creating "pod.yaml": pods "x" already exists */
void status_format(const json_t *status, const char *verb, const char *source, struct buf *out);

/* Failures collected over several objects and printed at the end, as kubectl reports them:
 * a single one exactly like status_format, several each as "Error from server (Reason): ...",
 * the Invalid ones included. */
struct status_list {
	json_t *entries;
};

void status_list_add(struct status_list *list, const json_t *status, const char *verb,
		     const char *source);
size_t status_list_count(const struct status_list *list);
/* Prints one line (or block) per failure to `out` and empties the list. */
void status_list_print(struct status_list *list, FILE *out);

/* The Status client-go makes up when an error answer carries none (plain text, HTML, empty). */
json_t *status_from_response(long code, const char *body, size_t len);

/* The HTTP code a Status reports, 0 when it has none. */
long status_code(const json_t *status);
