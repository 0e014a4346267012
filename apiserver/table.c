#include "table.h"

#include <string.h>

#include "apiserver/kinds.h"
#include "apiserver/resources.h"
#include "lib/json_util.h"

static const struct table_column default_columns[] = {
    {"Name", "string", "name", "Name must be unique within a namespace.", 0},
    {"Age", "string", "", "CreationTimestamp", 0},
};

static json_t *column_definitions(const struct api_resource *resource)
{
	const struct kind_strategy *strategy = resource->strategy;
	const struct table_column *columns = default_columns;
	size_t count = sizeof(default_columns) / sizeof(default_columns[0]);
	if (strategy && strategy->columns) {
		columns = strategy->columns;
		count = strategy->column_count;
	}
	json_t *defs = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(
		    defs, json_pack("{s:s, s:s, s:s, s:s, s:i}", "name", columns[i].name, "type",
				    columns[i].type, "format", columns[i].format, "description",
				    columns[i].description, "priority", columns[i].priority));
	return defs;
}

json_t *table_new(const struct api_resource *resource, const char *api_version, bool with_columns)
{
	return json_pack("{s:s, s:s, s:{}, s:o, s:[]}", "kind", "Table", "apiVersion", api_version,
			 "metadata", "columnDefinitions",
			 with_columns ? column_definitions(resource) : json_null(), "rows");
}

static void default_cells(const json_t *obj, time_t now, json_t *cells)
{
	kind_cell_string(cells, json_path_string(obj, "metadata.name"), "");
	char age[32];
	kind_age(obj, "metadata.creationTimestamp", now, age, sizeof(age));
	kind_cell_string(cells, age, "");
}

static json_t *partial_metadata(const json_t *obj)
{
	return json_pack("{s:s, s:s, s:O}", "kind", "PartialObjectMetadata", "apiVersion",
			 "meta.k8s.io/v1", "metadata", json_object_get(obj, "metadata"));
}

void table_add_row(json_t *table, const struct api_resource *resource, const json_t *obj,
		   enum table_include include, time_t now)
{
	json_t *cells = json_array();
	const struct kind_strategy *strategy = resource->strategy;
	if (strategy && strategy->table_cells)
		strategy->table_cells(obj, now, cells);
	else
		default_cells(obj, now, cells);
	json_t *row = json_pack("{s:o}", "cells", cells);
	switch (include) {
	case TABLE_INCLUDE_METADATA:
		json_object_set_new(row, "object", partial_metadata(obj));
		break;
	case TABLE_INCLUDE_OBJECT:
		json_object_set(row, "object", (json_t *)obj);
		break;
	case TABLE_INCLUDE_NONE:
		break;
	}
	json_array_append_new(json_object_get(table, "rows"), row);
}
