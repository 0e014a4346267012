/* Field selectors as Kubernetes reads them (k8s.io/apimachinery pkg/fields): the text of
 * ?fieldSelector= and `kubectl --field-selector`, e.g. "metadata.name=web,status.phase!=Failed".
 * Terms are ANDed; "=" and "==" require equality, "!=" inequality. In values, "\," "\=" and "\\"
 * stand for ',' '=' and '\'. Which fields exist is the caller's business: the parser accepts any
 * name, as Kubernetes does before asking the resource. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct field_selector;

/* "" selects everything. Returns 0 or -EINVAL with Kubernetes' message, e.g. "invalid selector:
 * 'a'; can't understand 'a'". Terms come out sorted by their text, as Kubernetes keeps them. */
int field_selector_parse(const char *text, struct field_selector **out, struct ck_error *err);

size_t field_selector_count(const struct field_selector *sel);
/* The field name of term `index` (< count), as written: spaces around it are kept. */
const char *field_selector_field(const struct field_selector *sel, size_t index);
/* The value when the selector requires field == value, else NULL; lets a caller use an index. */
const char *field_selector_exact(const struct field_selector *sel, const char *field);

/* `fields` maps field names to strings ("metadata.name" -> "web"); a field missing from it, or
 * not a string, compares as "". */
bool field_selector_matches(const struct field_selector *sel, const json_t *fields);
/* The same with the values coming from `lookup`, which returns a field's value and sets its
 * length (NULL for a missing field, compared as ""), for callers that keep fields in their own
 * form. */
bool field_selector_matches_with(const struct field_selector *sel,
				 const char *(*lookup)(const void *ctx, const char *field,
						       size_t *len),
				 const void *ctx);

void field_selector_free(struct field_selector *sel);
