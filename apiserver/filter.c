#include "filter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/resources.h"
#include "lib/json_util.h"

void field_set_add(struct buf *packed, const char *name, const char *value)
{
	buf_append(packed, name, strlen(name) + 1);
	buf_append(packed, value ? value : "", strlen(value ? value : "") + 1);
}

const char *field_set_get(const struct field_set *set, const char *name)
{
	const char *p = set->packed, *end = set->packed + set->len;
	while (p && p < end) {
		const char *value = p + strlen(p) + 1;
		if (strcmp(p, name) == 0)
			return value;
		p = value + strlen(value) + 1;
	}
	return NULL;
}

static const char *field_lookup(const void *ctx, const char *field, size_t *len)
{
	const char *value = field_set_get(ctx, field);
	*len = value ? strlen(value) : 0;
	return value;
}

int object_attrs_init(struct object_attrs *attrs, const struct api_resource *resource,
		      const json_t *obj)
{
	json_t *labels = json_path(obj, "metadata.labels");
	attrs->labels =
	    json_is_object(labels) && json_object_size(labels) ? json_incref(labels) : NULL;
	struct buf packed = {0};
	field_set_add(&packed, "metadata.name", json_path_string(obj, "metadata.name"));
	field_set_add(&packed, "metadata.namespace", json_path_string(obj, "metadata.namespace"));
	if (resource->strategy && resource->strategy->selectable_fields)
		resource->strategy->selectable_fields(obj, &packed);
	attrs->fields.len = packed.len;
	attrs->fields.packed = buf_steal(&packed);
	return 0;
}

void object_attrs_clear(struct object_attrs *attrs)
{
	json_decref(attrs->labels);
	free(attrs->fields.packed);
	attrs->labels = NULL;
	attrs->fields = (struct field_set){0};
}

size_t object_attrs_size(const struct object_attrs *attrs)
{
	/* A jansson object costs about 100 bytes per member with its key and string value. */
	return attrs->fields.len + 100 * json_object_size(attrs->labels);
}

bool list_filter_matches(const struct list_filter *filter, const char *namespace,
			 const struct object_attrs *attrs)
{
	if (filter->namespace && strcmp(filter->namespace, namespace) != 0)
		return false;
	if (filter->labels && !label_selector_matches(filter->labels, attrs->labels))
		return false;
	if (filter->fields &&
	    !field_selector_matches_with(filter->fields, field_lookup, &attrs->fields))
		return false;
	return true;
}

bool list_filter_is_namespace_only(const struct list_filter *filter)
{
	return !filter->labels && !filter->fields;
}

void list_filter_clear(struct list_filter *filter)
{
	free(filter->namespace);
	label_selector_free(filter->labels);
	field_selector_free(filter->fields);
	memset(filter, 0, sizeof(*filter));
}
