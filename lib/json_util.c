#include "json_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *json_path(const json_t *root, const char *dotted)
{
	const json_t *node = root;
	const char *segment = dotted;
	while (node && *segment) {
		if (!json_is_object(node))
			return NULL;
		const char *dot = strchr(segment, '.');
		size_t len = dot ? (size_t)(dot - segment) : strlen(segment);
		node = json_object_getn(node, segment, len);
		segment += len + (dot ? 1 : 0);
	}
	return (json_t *)node;
}

const char *json_path_string(const json_t *root, const char *dotted)
{
	return json_string_value(json_path(root, dotted));
}

json_t *json_object_ensure(json_t *obj, const char *key)
{
	json_t *child = json_object_get(obj, key);
	if (json_is_object(child))
		return child;
	child = json_object();
	if (!child || json_object_set_new(obj, key, child) < 0)
		return NULL;
	return child;
}

int json_object_set_string(json_t *obj, const char *key, const char *value)
{
	return json_object_set_new(obj, key, json_string(value)) < 0 ? -ENOMEM : 0;
}

char *json_dump_compact(const json_t *value)
{
	char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text) {
		fprintf(stderr, "out of memory serializing JSON\n");
		abort();
	}
	return text;
}
