/* What list and watch requests filter on: namespace, labels and fields. Each stored object's
 * labels and selectable fields are gathered once into object_attrs and matched from there. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "lib/buf.h"
#include "lib/fields.h"
#include "lib/labels.h"

struct api_resource;

/* The selectable fields of one object, packed as "name\0value\0name\0value\0": a few
 * hundred bytes per stored event instead of a JSON object per event. */
struct field_set {
	char *packed;
	size_t len;
};

/* Appends one field while a strategy gathers them. */
void field_set_add(struct buf *packed, const char *name, const char *value);
/* The value of `name`, or NULL. */
const char *field_set_get(const struct field_set *set, const char *name);

struct object_attrs {
	json_t *labels; /* object of strings; NULL when the object has none */
	struct field_set fields;
};

/* Gathers the attributes of `obj` of type `resource`. Returns 0 or -ENOMEM. */
int object_attrs_init(struct object_attrs *attrs, const struct api_resource *resource,
		      const json_t *obj);
void object_attrs_clear(struct object_attrs *attrs);
/* Roughly what the attributes take in memory, for the watch window's budget. */
size_t object_attrs_size(const struct object_attrs *attrs);

struct list_filter {
	char *namespace;               /* NULL = every namespace */
	struct label_selector *labels; /* NULL = every label set */
	struct field_selector *fields; /* NULL = every object */
};

bool list_filter_matches(const struct list_filter *filter, const char *namespace,
			 const struct object_attrs *attrs);
/* True when only the namespace is filtered, so stored text can be used without parsing. */
bool list_filter_is_namespace_only(const struct list_filter *filter);
void list_filter_clear(struct list_filter *filter);
