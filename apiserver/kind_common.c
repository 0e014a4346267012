#include "kinds.h"

#include <stdio.h>
#include <string.h>

#include "lib/json_util.h"
#include "lib/timeutil.h"

void kind_age(const json_t *obj, const char *field, time_t now, char *out, size_t len)
{
	struct timespec when;
	const char *text = json_path_string(obj, field);
	if (!text || timeutil_parse_rfc3339(text, &when, NULL) < 0) {
		snprintf(out, len, "<unknown>");
		return;
	}
	char human[TIMEUTIL_TEXT_SIZE];
	timeutil_human_duration((int64_t)(now - when.tv_sec) * 1000000000, human);
	snprintf(out, len, "%s", human);
}

void kind_cell_string(json_t *cells, const char *value, const char *empty)
{
	json_array_append_new(cells, json_string(value && *value ? value : empty));
}

void kind_default_string(json_t *obj, const char *key, const char *value)
{
	json_t *current = json_object_get(obj, key);
	if (!current || json_is_null(current) ||
	    (json_is_string(current) && !*json_string_value(current)))
		json_object_set_new(obj, key, json_string(value));
}

void kind_default_integer(json_t *obj, const char *key, json_int_t value)
{
	json_t *current = json_object_get(obj, key);
	if (!current || json_is_null(current))
		json_object_set_new(obj, key, json_integer(value));
}

json_t *kind_find_by(const json_t *list, const char *key, const char *value)
{
	size_t i;
	json_t *item;
	json_array_foreach (list, i, item) {
		const char *text = json_string_value(json_object_get(item, key));
		if (text && strcmp(text, value) == 0)
			return item;
	}
	return NULL;
}

const char *kind_condition_status(const json_t *obj, const char *type)
{
	json_t *condition = kind_find_by(json_path(obj, "status.conditions"), "type", type);
	return json_string_value(json_object_get(condition, "status"));
}

/* obj[field] becomes a copy of old[field] (an empty object when old has none). */
static void keep_field(json_t *obj, const json_t *old, const char *field)
{
	json_t *value = json_object_get(old, field);
	json_object_set_new(obj, field, value ? json_deep_copy(value) : json_object());
}

void kind_keep_status(json_t *obj, const json_t *old)
{
	keep_field(obj, old, "status");
}

void kind_keep_spec(json_t *obj, const json_t *old)
{
	keep_field(obj, old, "spec");
}
