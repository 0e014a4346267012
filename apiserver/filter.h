/* What list and watch requests filter on: namespace, labels and fields. Each stored object's
 * labels and selectable fields are gathered once into object_attrs and matched from there. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "lib/fields.h"
#include "lib/labels.h"

struct api_resource;

struct object_attrs {
	json_t *labels; /* object of strings; NULL when the object has none */
	json_t *fields; /* "metadata.name" -> "web", "spec.nodeName" -> "node-1", ... */
};

/* Gathers the attributes of `obj` of type `resource`. Returns 0 or -ENOMEM. */
int object_attrs_init(struct object_attrs *attrs, const struct api_resource *resource,
		      const json_t *obj);
void object_attrs_clear(struct object_attrs *attrs);

struct list_filter {
	char *namespace; /* NULL = every namespace */
	struct label_selector *labels; /* NULL = every label set */
	struct field_selector *fields; /* NULL = every object */
};

bool list_filter_matches(const struct list_filter *filter, const char *namespace,
			 const struct object_attrs *attrs);
/* True when only the namespace is filtered, so stored text can be used without parsing. */
bool list_filter_is_namespace_only(const struct list_filter *filter);
void list_filter_clear(struct list_filter *filter);
