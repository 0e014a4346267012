#include "filter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/resources.h"
#include "lib/json_util.h"

int object_attrs_init(struct object_attrs *attrs, const struct api_resource *resource,
		      const json_t *obj)
{
	json_t *labels = json_path(obj, "metadata.labels");
	attrs->labels = json_is_object(labels) ? json_incref(labels) : NULL;
	attrs->fields = json_object();
	if (!attrs->fields)
		return -ENOMEM;
	const char *name = json_path_string(obj, "metadata.name");
	const char *namespace = json_path_string(obj, "metadata.namespace");
	json_object_set_new(attrs->fields, "metadata.name", json_string(name ? name : ""));
	json_object_set_new(attrs->fields, "metadata.namespace",
			    json_string(namespace ? namespace : ""));
	if (resource->strategy && resource->strategy->selectable_fields)
		resource->strategy->selectable_fields(obj, attrs->fields);
	return 0;
}

void object_attrs_clear(struct object_attrs *attrs)
{
	json_decref(attrs->labels);
	json_decref(attrs->fields);
	attrs->labels = attrs->fields = NULL;
}

bool list_filter_matches(const struct list_filter *filter, const char *namespace,
			 const struct object_attrs *attrs)
{
	if (filter->namespace && strcmp(filter->namespace, namespace) != 0)
		return false;
	if (filter->labels && !label_selector_matches(filter->labels, attrs->labels))
		return false;
	if (filter->fields && !field_selector_matches(filter->fields, attrs->fields))
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
