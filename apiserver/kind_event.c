/* Events (core/v1): what happened to an object, for `kubectl describe` and `kubectl get
 * events`. Selectable by the object they are about. */
#include <stdio.h>
#include <string.h>

#include "apiserver/filter.h"
#include "apiserver/kinds.h"
#include "apiserver/status.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/timeutil.h"

static void event_set_defaults(json_t *ev)
{
	kind_default_string(ev, "type", "Normal");
	kind_default_integer(ev, "count", 1);
	/* Events from newer clients carry only eventTime; the describe output reads these. */
	const char *first = json_string_value(json_object_get(ev, "firstTimestamp"));
	const char *last = json_string_value(json_object_get(ev, "lastTimestamp"));
	char now[TIMEUTIL_TEXT_SIZE];
	timeutil_format_rfc3339(time(NULL), now);
	if (!first)
		json_object_set_new(ev, "firstTimestamp", json_string(last ? last : now));
	if (!last)
		json_object_set_new(
		    ev, "lastTimestamp",
		    json_string(json_string_value(json_object_get(ev, "firstTimestamp"))));
	if (!json_object_get(ev, "source"))
		json_object_set_new(ev, "source", json_object());
}

static void event_validate(const json_t *ev, struct field_errors *errors)
{
	static const char *const types[] = {"Normal", "Warning", NULL};
	json_t *type = json_object_get(ev, "type");
	if (json_is_string(type) && strcmp(json_string_value(type), "Normal") &&
	    strcmp(json_string_value(type), "Warning"))
		field_error_not_supported(errors, "type", type, types);
	const char *event_ns = json_path_string(ev, "metadata.namespace");
	const char *object_ns = json_path_string(ev, "involvedObject.namespace");
	if (object_ns && *object_ns && event_ns && strcmp(object_ns, event_ns) != 0)
		field_error_invalid_string(errors, "involvedObject.namespace", object_ns,
					   "does not match event.namespace");
}

static const struct table_column event_columns[] = {
    {"Last Seen", "string", "", "Time when last event occurred", 0},
    {"Type", "string", "", "Type of this event", 0},
    {"Reason", "string", "", "Reason why this event was generated", 0},
    {"Object", "string", "", "The object that this event is about", 0},
    {"Subobject", "string", "", "The subobject this event is about", 1},
    {"Source", "string", "", "The component reporting this event", 1},
    {"Message", "string", "", "A human-readable description of the status of this operation.", 0},
    {"First Seen", "string", "", "Time when first event occurred", 1},
    {"Count", "string", "", "Number of occurrences of this event", 1},
    {"Name", "string", "name", "Name must be unique within a namespace.", 1},
};

static void event_table_cells(const json_t *ev, time_t now, json_t *cells)
{
	char when[32];
	const char *last_field = json_object_get(ev, "lastTimestamp") ? "lastTimestamp"
				 : json_object_get(ev, "eventTime")   ? "eventTime"
								    : "metadata.creationTimestamp";
	kind_age(ev, last_field, now, when, sizeof(when));
	kind_cell_string(cells, when, "");
	kind_cell_string(cells, json_string_value(json_object_get(ev, "type")), "");
	kind_cell_string(cells, json_string_value(json_object_get(ev, "reason")), "");
	_cleanup_buf_ struct buf text = {0};
	const char *kind = json_path_string(ev, "involvedObject.kind");
	const char *name = json_path_string(ev, "involvedObject.name");
	buf_printf(&text, "%s/%s", kind ? kind : "", name ? name : "");
	for (char *p = text.data; p && *p && *p != '/'; p++)
		*p = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
	kind_cell_string(cells, text.data, "");
	kind_cell_string(cells, json_path_string(ev, "involvedObject.fieldPath"), "");
	buf_reset(&text);
	const char *component = json_path_string(ev, "source.component");
	const char *host = json_path_string(ev, "source.host");
	if (!component)
		component = json_string_value(json_object_get(ev, "reportingComponent"));
	buf_printf(&text, "%s", component ? component : "");
	if (host && *host)
		buf_printf(&text, ", %s", host);
	kind_cell_string(cells, text.data, "");
	kind_cell_string(cells, json_string_value(json_object_get(ev, "message")), "");
	kind_age(ev, json_object_get(ev, "firstTimestamp") ? "firstTimestamp" : last_field, now,
		 when, sizeof(when));
	kind_cell_string(cells, when, "");
	char count[24];
	snprintf(count, sizeof(count), "%lld",
		 (long long)json_integer_value(json_object_get(ev, "count")));
	kind_cell_string(cells, count, "");
	kind_cell_string(cells, json_path_string(ev, "metadata.name"), "");
}

static const char *const event_field_names[] = {"involvedObject.kind",
						"involvedObject.namespace",
						"involvedObject.name",
						"involvedObject.uid",
						"involvedObject.apiVersion",
						"involvedObject.resourceVersion",
						"involvedObject.fieldPath",
						"reason",
						"reportingComponent",
						"source",
						"type",
						NULL};

static void event_selectable_fields(const json_t *ev, struct buf *fields)
{
	for (size_t i = 0; event_field_names[i]; i++) {
		const char *value = strcmp(event_field_names[i], "source") == 0
					? json_path_string(ev, "source.component")
					: json_path_string(ev, event_field_names[i]);
		field_set_add(fields, event_field_names[i], value ? value : "");
	}
}

const struct kind_strategy event_strategy = {
    .set_defaults = event_set_defaults,
    .validate = event_validate,
    .selectable_fields = event_selectable_fields,
    .field_names = event_field_names,
    .columns = event_columns,
    .column_count = sizeof(event_columns) / sizeof(event_columns[0]),
    .table_cells = event_table_cells,
};
