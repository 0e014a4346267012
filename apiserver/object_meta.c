#include "object_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "apiserver/resources.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/timeutil.h"
#include "lib/uuid.h"
#include "lib/validation.h"

/* Kubernetes' generated-name alphabet: no vowels (no words) and no look-alike characters. */
static const char name_alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
#define GENERATED_SUFFIX_LEN 5
#define MAX_GENERATE_NAME_PREFIX (253 - GENERATED_SUFFIX_LEN)

char *object_meta_generate_name(const char *prefix)
{
	size_t len = strnlen(prefix, MAX_GENERATE_NAME_PREFIX);
	char *name = malloc(len + GENERATED_SUFFIX_LEN + 1);
	if (!name)
		return NULL;
	memcpy(name, prefix, len);
	unsigned char random[GENERATED_SUFFIX_LEN];
	if (getrandom(random, sizeof(random), 0) != sizeof(random))
		for (size_t i = 0; i < sizeof(random); i++)
			random[i] = (unsigned char)rand();
	for (size_t i = 0; i < GENERATED_SUFFIX_LEN; i++)
		name[len + i] = name_alphabet[random[i] % (sizeof(name_alphabet) - 1)];
	name[len + GENERATED_SUFFIX_LEN] = '\0';
	return name;
}

void object_meta_fill_on_create(json_t *obj)
{
	json_t *meta = json_object_ensure(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *prefix = json_string_value(json_object_get(meta, "generateName"));
	if ((!name || !*name) && prefix && *prefix) {
		_cleanup_free_ char *generated = object_meta_generate_name(prefix);
		if (generated)
			json_object_set_string(meta, "name", generated);
	}
	char uid[UUID_TEXT_SIZE];
	uuid_generate_v4(uid, NULL);
	json_object_set_string(meta, "uid", uid);
	char now[TIMEUTIL_TEXT_SIZE];
	timeutil_format_rfc3339(time(NULL), now);
	json_object_set_string(meta, "creationTimestamp", now);
	json_object_del(meta, "deletionTimestamp");
	json_object_del(meta, "deletionGracePeriodSeconds");
	if (json_object_get(obj, "spec"))
		json_object_set_new(meta, "generation", json_integer(1));
	else
		json_object_del(meta, "generation");
}

void object_meta_keep_on_update(json_t *obj, const json_t *old)
{
	static const char *const kept[] = {"uid", "creationTimestamp", "deletionTimestamp",
					   "deletionGracePeriodSeconds"};
	json_t *meta = json_object_ensure(obj, "metadata");
	const json_t *old_meta = json_object_get(old, "metadata");
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		json_t *value = json_object_get(old_meta, kept[i]);
		if (value)
			json_object_set(meta, kept[i], value);
		else
			json_object_del(meta, kept[i]);
	}
	json_t *generation = json_object_get(old_meta, "generation");
	if (json_is_integer(generation)) {
		json_int_t next = json_integer_value(generation);
		if (!json_equal(json_object_get(obj, "spec"), json_object_get(old, "spec")))
			next++;
		json_object_set_new(meta, "generation", json_integer(next));
	}
}

void object_meta_drop_unstored(json_t *obj)
{
	json_t *meta = json_object_get(obj, "metadata");
	json_object_del(meta, "managedFields");
	json_object_del(meta, "selfLink");
}

void object_meta_set_revision(json_t *obj, int64_t revision)
{
	char text[24];
	snprintf(text, sizeof(text), "%lld", (long long)revision);
	json_object_set_string(json_object_ensure(obj, "metadata"), "resourceVersion", text);
}

/* A copy of `src` with `first` keys in that order, then the rest in their order. */
static json_t *reorder(json_t *src, const char *const *first, size_t count)
{
	json_t *out = json_object();
	for (size_t i = 0; i < count; i++) {
		json_t *value = json_object_get(src, first[i]);
		if (value)
			json_object_set(out, first[i], value);
	}
	const char *key;
	json_t *value;
	json_object_foreach (src, key, value) {
		if (!json_object_get(out, key))
			json_object_set(out, key, value);
	}
	return out;
}

json_t *object_normalize(json_t *obj)
{
	static const char *const top[] = {"kind", "apiVersion", "metadata", "spec", "status"};
	static const char *const meta_order[] = {"name",
						 "generateName",
						 "namespace",
						 "uid",
						 "resourceVersion",
						 "generation",
						 "creationTimestamp",
						 "deletionTimestamp",
						 "deletionGracePeriodSeconds",
						 "labels",
						 "annotations",
						 "ownerReferences",
						 "finalizers"};
	json_t *out = reorder(obj, top, sizeof(top) / sizeof(top[0]));
	json_t *meta = json_object_get(out, "metadata");
	if (json_is_object(meta))
		json_object_set_new(
		    out, "metadata",
		    reorder(meta, meta_order, sizeof(meta_order) / sizeof(meta_order[0])));
	return out;
}

static bool name_is_valid(enum name_rule rule, const char *name, struct validation_messages *why)
{
	switch (rule) {
	case NAME_DNS1123_LABEL:
		return validate_dns1123_label(name, why);
	case NAME_DNS1035_LABEL:
		return validate_dns1035_label(name, why);
	case NAME_DNS1123_SUBDOMAIN:
		break;
	}
	return validate_dns1123_subdomain(name, why);
}

static void validate_string_map(const json_t *map, const char *field, bool values_are_labels,
				struct field_errors *errors)
{
	if (!map)
		return;
	if (!json_is_object(map)) {
		field_error_invalid(errors, field, map, "must be a map of strings");
		return;
	}
	const char *key;
	json_t *value;
	json_object_foreach ((json_t *)map, key, value) {
		struct validation_messages why = {0};
		if (!validate_qualified_name(key, &why))
			field_error_invalid_messages(errors, field, key, &why);
		const char *text = json_string_value(value);
		if (!text) {
			char path[512];
			snprintf(path, sizeof(path), "%s[%s]", field, key);
			field_error_invalid(errors, path, value, "must be a string");
			continue;
		}
		why.count = 0;
		if (values_are_labels && !validate_label_value(text, &why))
			field_error_invalid_messages(errors, field, text, &why);
	}
	struct validation_messages why = {0};
	if (!values_are_labels && !validate_annotations_size(map, &why))
		field_error_too_long(errors, field, ANNOTATIONS_TOTAL_SIZE_LIMIT);
}

void object_meta_validate(const struct api_resource *resource, const json_t *obj, bool creating,
			  struct field_errors *errors)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *generate = json_string_value(json_object_get(meta, "generateName"));
	struct validation_messages why = {0};
	if (!name || !*name)
		field_error_required(errors, "metadata.name", "name or generateName is required");
	else if (!name_is_valid(resource->name_rule, name, &why))
		field_error_invalid_messages(errors, "metadata.name", name, &why);
	if (creating && generate && *generate) {
		/* The prefix must itself be a valid name, apart from a trailing dash. */
		_cleanup_free_ char *prefix = strdup(generate);
		size_t len = prefix ? strlen(prefix) : 0;
		if (len && prefix[len - 1] == '-')
			prefix[--len] = '\0';
		why.count = 0;
		if (len && !name_is_valid(resource->name_rule, prefix, &why))
			field_error_invalid_messages(errors, "metadata.generateName", generate,
						     &why);
	}
	validate_string_map(json_object_get(meta, "labels"), "metadata.labels", true, errors);
	validate_string_map(json_object_get(meta, "annotations"), "metadata.annotations", false,
			    errors);
	const json_t *finalizers = json_object_get(meta, "finalizers");
	size_t index;
	json_t *finalizer;
	json_array_foreach (finalizers, index, finalizer) {
		char path[64];
		snprintf(path, sizeof(path), "metadata.finalizers[%zu]", index);
		const char *text = json_string_value(finalizer);
		why.count = 0;
		if (!text)
			field_error_invalid(errors, path, finalizer, "must be a string");
		else if (!validate_qualified_name(text, &why))
			field_error_invalid_messages(errors, path, text, &why);
	}
}

void object_meta_validate_update(const json_t *obj, const json_t *old, struct field_errors *errors)
{
	if (!json_path(old, "metadata.deletionTimestamp"))
		return;
	const json_t *before = json_path(old, "metadata.finalizers");
	_cleanup_json_ json_t *added = json_array();
	size_t i;
	json_t *finalizer;
	json_array_foreach (json_path(obj, "metadata.finalizers"), i, finalizer) {
		bool known = false;
		size_t j;
		json_t *existing;
		json_array_foreach (before, j, existing)
			known = known || json_equal(existing, finalizer);
		if (!known)
			json_array_append(added, finalizer);
	}
	if (json_array_size(added) == 0)
		return;
	_cleanup_free_ char *list = json_dump_compact(added);
	char detail[640];
	snprintf(detail, sizeof(detail),
		 "no new finalizers can be added if the object is being deleted, found new "
		 "finalizers %s",
		 list);
	field_error_forbidden(errors, "metadata.finalizers", detail);
}
