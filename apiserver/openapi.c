#include "openapi.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "apiserver/resources.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/version.h"

/* The query parameters kubectl looks for on each kind's PATCH operation. */
static const char *const patch_parameters[] = {"dryRun", "fieldManager", "fieldValidation"};
#define PATCH_PARAMETER_COUNT (sizeof(patch_parameters) / sizeof(patch_parameters[0]))

static void object_path(const struct api_resource *r, char *out, size_t len)
{
	const char *prefix = r->group[0] ? "/apis/" : "/api/";
	char group_version[96];
	snprintf(group_version, sizeof(group_version), "%s", r->api_version);
	if (r->namespaced)
		snprintf(out, len, "%s%s/namespaces/{namespace}/%s/{name}", prefix, group_version,
			 r->plural);
	else
		snprintf(out, len, "%s%s/%s/{name}", prefix, group_version, r->plural);
}

/* A stable fingerprint of a document, for the ?hash= of its URL (clients cache by it). */
static uint64_t fnv1a(const char *text)
{
	uint64_t hash = 0xcbf29ce484222325ull;
	for (; *text; text++)
		hash = (hash ^ (unsigned char)*text) * 0x100000001b3ull;
	return hash;
}

json_t *openapi_v3_group_version(const char *group, const char *version)
{
	size_t count;
	const struct api_resource *resources = api_resources(&count);
	json_t *paths = json_object();
	for (size_t i = 0; i < count; i++) {
		const struct api_resource *r = &resources[i];
		/* Live resources cannot be written, so they have no PATCH to describe. */
		if (r->live || strcmp(r->group, group) != 0 || strcmp(r->version, version) != 0)
			continue;
		json_t *parameters = json_array();
		for (size_t p = 0; p < PATCH_PARAMETER_COUNT; p++)
			json_array_append_new(parameters,
					      json_pack("{s:s, s:s, s:{s:s}}", "name",
							patch_parameters[p], "in", "query",
							"schema", "type", "string"));
		json_t *patch =
		    json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:{s:s}}}", "x-kubernetes-action",
			      "patch", "x-kubernetes-group-version-kind", "group", r->group,
			      "version", r->version, "kind", r->kind, "parameters", parameters,
			      "responses", "200", "description", "OK");
		char path[256];
		object_path(r, path, sizeof(path));
		json_object_set_new(paths, path, json_pack("{s:o}", "patch", patch));
	}
	if (json_object_size(paths) == 0) {
		json_decref(paths);
		return NULL;
	}
	return json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:{}}}", "openapi", "3.0.0", "info", "title",
			 "Kubernetes", "version", CKUBE_KUBERNETES_GIT_VERSION, "paths", paths,
			 "components", "schemas");
}

json_t *openapi_v3_root(void)
{
	size_t count;
	const struct api_resource *resources = api_resources(&count);
	json_t *paths = json_object();
	for (size_t i = 0; i < count; i++) {
		const struct api_resource *r = &resources[i];
		char key[128];
		snprintf(key, sizeof(key), "%s%s", r->group[0] ? "apis/" : "api/", r->api_version);
		if (r->live || json_object_get(paths, key))
			continue;
		_cleanup_json_ json_t *doc = openapi_v3_group_version(r->group, r->version);
		_cleanup_free_ char *text = json_dump_compact(doc);
		char url[256];
		snprintf(url, sizeof(url), "/openapi/v3/%s?hash=%016llX", key,
			 (unsigned long long)fnv1a(text));
		json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
	}
	return json_pack("{s:o}", "paths", paths);
}

/* --- protobuf ------------------------------------------------------------------------------ */

static void pb_varint(struct buf *out, uint64_t value)
{
	do {
		uint8_t byte = value & 0x7f;
		value >>= 7;
		if (value)
			byte |= 0x80;
		buf_append(out, &byte, 1);
	} while (value);
}

/* A length-delimited field (wire type 2): strings and embedded messages. */
static void pb_bytes(struct buf *out, unsigned field, const void *data, size_t len)
{
	pb_varint(out, (uint64_t)field << 3 | 2);
	pb_varint(out, len);
	buf_append(out, data, len);
}

static void pb_string(struct buf *out, unsigned field, const char *text)
{
	pb_bytes(out, field, text, strlen(text));
}

static void pb_message(struct buf *out, unsigned field, struct buf *message)
{
	pb_bytes(out, field, message->data ? message->data : "", message->len);
	buf_free(message);
}

/* gnostic field numbers: Document{swagger=1, info=2, paths=8}, Info{title=1, version=2},
 * Paths{path=2}, NamedPathItem{name=1, value=2}, PathItem{patch=8},
 * Operation{parameters=8, vendor_extension=13}, ParametersItem{parameter=1},
 * Parameter{non_body_parameter=2}, NonBodyParameter{query_parameter_sub_schema=3},
 * QueryParameterSubSchema{in=2, name=4, type=6}, NamedAny{name=1, value=2}, Any{yaml=2}. */
static void patch_operation(const struct api_resource *r, struct buf *operation)
{
	for (size_t p = 0; p < PATCH_PARAMETER_COUNT; p++) {
		struct buf query = {0}, non_body = {0}, parameter = {0}, item = {0};
		pb_string(&query, 2, "query");
		pb_string(&query, 4, patch_parameters[p]);
		pb_string(&query, 6, "string");
		pb_message(&non_body, 3, &query);
		pb_message(&parameter, 2, &non_body);
		pb_message(&item, 1, &parameter);
		pb_message(operation, 8, &item);
	}
	struct buf any = {0}, named = {0};
	char yaml[256];
	snprintf(yaml, sizeof(yaml), "group: \"%s\"\nkind: %s\nversion: %s\n", r->group, r->kind,
		 r->version);
	pb_string(&any, 2, yaml);
	pb_string(&named, 1, "x-kubernetes-group-version-kind");
	pb_message(&named, 2, &any);
	pb_message(operation, 13, &named);
}

void openapi_v2_protobuf(struct buf *out)
{
	struct buf info = {0}, paths = {0};
	pb_string(out, 1, "2.0");
	pb_string(&info, 1, "Kubernetes");
	pb_string(&info, 2, CKUBE_KUBERNETES_GIT_VERSION);
	pb_message(out, 2, &info);
	size_t count;
	const struct api_resource *resources = api_resources(&count);
	for (size_t i = 0; i < count; i++) {
		if (resources[i].live)
			continue;
		struct buf operation = {0}, item = {0}, named = {0};
		patch_operation(&resources[i], &operation);
		pb_message(&item, 8, &operation);
		char path[256];
		object_path(&resources[i], path, sizeof(path));
		pb_string(&named, 1, path);
		pb_message(&named, 2, &item);
		pb_message(&paths, 2, &named);
	}
	pb_message(out, 8, &paths);
}
