/* What the registry's operations share: storage keys, the write lock, reading stored objects,
 * decoding and checking what clients send, and committing writes (store, then watch hub). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/registry_internal.h"
#include "apiserver/admission.h"
#include "apiserver/object_meta.h"
#include "apiserver/resources.h"
#include "apiserver/schema.h"
#include "apiserver/server.h"
#include "apiserver/store.h"
#include "apiserver/watch.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/log.h"

void stored_object_clear(struct stored_object *obj)
{
	json_decref(obj->json);
	free(obj->text);
	json_decref(obj->warnings);
	memset(obj, 0, sizeof(*obj));
}

static const char *resource_key_name(const struct api_resource *r, char *out, size_t len)
{
	if (r->group[0])
		snprintf(out, len, "%s.%s", r->plural, r->group);
	else
		snprintf(out, len, "%s", r->plural);
	return out;
}

char *registry_key(const struct api_resource *resource, const char *namespace, const char *name)
{
	char base[128];
	resource_key_name(resource, base, sizeof(base));
	char *key = NULL;
	int n;
	if (resource->namespaced && namespace && name)
		n = asprintf(&key, "%s/%s/%s", base, namespace, name);
	else if (resource->namespaced && namespace)
		n = asprintf(&key, "%s/%s/", base, namespace);
	else if (name)
		n = asprintf(&key, "%s/%s", base, name);
	else
		n = asprintf(&key, "%s/", base);
	return n < 0 ? NULL : key;
}

void registry_lock(struct apiserver *server)
{
	pthread_mutex_lock(&server->write_lock);
}

void registry_unlock(struct apiserver **server)
{
	if (*server)
		pthread_mutex_unlock(&(*server)->write_lock);
}

int registry_storage_failed(struct api_status *status, const struct ck_error *err)
{
	log_error("storage: %s", err->message);
	return api_fail_internal(status, "storage failed: %s", err->message);
}

/* Reads the stored object under `key`: 0, or -ENOENT, or another failure in `status`. */
int registry_read_stored(struct apiserver *server, const char *key, json_t **obj,
			 struct api_status *status)
{
	struct ck_error err = {0};
	_cleanup_free_ char *text = NULL;
	int ret = store_get(server->store, key, &text, NULL, &err);
	if (ret == -ENOENT)
		return -ENOENT;
	if (ret < 0)
		return registry_storage_failed(status, &err);
	json_error_t parse_error;
	*obj = json_loads(text, 0, &parse_error);
	if (!*obj)
		return api_fail_internal(status, "stored object %s is not JSON: %s", key,
					 parse_error.text);
	return 0;
}

int registry_get(struct apiserver *server, const struct api_resource *resource,
		 const char *namespace, const char *name, char **text, struct api_status *status)
{
	_cleanup_free_ char *key = registry_key(resource, namespace, name);
	struct ck_error err = {0};
	int ret = store_get(server->store, key, text, NULL, &err);
	if (ret == -ENOENT)
		return api_fail_not_found(status, resource, name);
	if (ret < 0)
		return registry_storage_failed(status, &err);
	return 0;
}

int registry_check_name_matches(const struct api_resource *resource, json_t *obj, const char *name,
				struct api_status *status)
{
	(void)resource;
	json_t *meta = json_object_ensure(obj, "metadata");
	const char *given = json_string_value(json_object_get(meta, "name"));
	if (given && *given && strcmp(given, name) != 0)
		return api_fail(
		    status, 400, "BadRequest",
		    "the name of the object (%s) does not match the name on the URL (%s)", given,
		    name);
	json_object_set_string(meta, "name", name);
	return 0;
}

bool registry_has_finalizers(const struct api_resource *resource, const json_t *obj)
{
	const struct kind_strategy *strategy = resource->strategy;
	return json_array_size(json_path(obj, "metadata.finalizers")) > 0 ||
	       (strategy && strategy->has_kind_finalizers && strategy->has_kind_finalizers(obj));
}

void registry_add_warning(struct stored_object *out, const char *text)
{
	if (!out->warnings)
		out->warnings = json_array();
	json_array_append_new(out->warnings, json_string(text));
}

/* The body must be an object of this resource's kind; unknown fields are refused, dropped with
 * a warning, or dropped silently, by fieldValidation. Wrong types are always refused. */
int registry_decode_object(const struct api_resource *resource, json_t *body,
			   enum field_validation validation, struct stored_object *out,
			   struct api_status *status)
{
	if (!json_is_object(body))
		return api_fail(status, 400, "BadRequest",
				"the body of the request was in an unknown format - accepted media "
				"types include: application/json, application/yaml");
	const char *api_version = json_string_value(json_object_get(body, "apiVersion"));
	const char *kind = json_string_value(json_object_get(body, "kind"));
	const char *expected_version = api_resource_api_version(resource);
	if (api_version && *api_version && strcmp(api_version, expected_version) != 0)
		return api_fail(status, 400, "BadRequest",
				"the API version in the data (%s) does not match the expected API "
				"version (%s)",
				api_version, expected_version);
	if (kind && *kind && strcmp(kind, resource->kind) != 0)
		return api_fail(status, 400, "BadRequest",
				"%s in version \"%s\" cannot be handled as a %s: no kind \"%s\" is "
				"registered for version \"%s\"",
				resource->kind, resource->version, resource->kind, kind,
				expected_version);
	json_object_set_new(body, "kind", json_string(resource->kind));
	json_object_set_new(body, "apiVersion", json_string(expected_version));

	const struct schema_type *type = schema_lookup(resource->kind);
	if (!type)
		return 0;
	_cleanup_json_ json_t *problems = json_array();
	bool strict = validation == FIELD_VALIDATION_STRICT;
	schema_check(type, body, strict, problems);
	size_t index;
	json_t *problem;
	/* Type errors first: they are what Kubernetes' decoder reports before anything else. */
	json_array_foreach (problems, index, problem) {
		const char *reason = json_string_value(json_object_get(problem, "reason"));
		const char *message = json_string_value(json_object_get(problem, "message"));
		if (reason && strcmp(reason, "FieldValueUnknown") != 0)
			return api_fail(status, 400, "BadRequest",
					"%s in version \"%s\" cannot be handled as a %s: %s",
					resource->kind, resource->version, resource->kind,
					message ? message : "invalid value");
	}
	if (json_array_size(problems) == 0)
		return 0;
	if (strict) {
		char joined[900] = "";
		json_array_foreach (problems, index, problem) {
			size_t used = strlen(joined);
			snprintf(joined + used, sizeof(joined) - used, "%s%s", index ? ", " : "",
				 json_string_value(json_object_get(problem, "message")));
		}
		return api_fail(status, 400, "BadRequest", "strict decoding error: %s", joined);
	}
	if (validation == FIELD_VALIDATION_WARN)
		json_array_foreach (problems, index, problem)
			registry_add_warning(
			    out, json_string_value(json_object_get(problem, "message")));
	return 0;
}

int registry_check_namespace_field(const struct api_resource *resource, json_t *obj,
				   const char *namespace, struct api_status *status)
{
	json_t *meta = json_object_ensure(obj, "metadata");
	if (!json_is_object(json_object_get(obj, "metadata")))
		return api_fail(status, 400, "BadRequest", "metadata must be an object");
	const char *given = json_string_value(json_object_get(meta, "namespace"));
	if (!resource->namespaced) {
		json_object_del(meta, "namespace");
		return 0;
	}
	if (given && *given && strcmp(given, namespace) != 0)
		return api_fail(status, 400, "BadRequest",
				"the namespace of the provided object does not match the namespace "
				"sent on the request");
	json_object_set_string(meta, "namespace", namespace);
	return 0;
}

int registry_validate_object(const struct api_resource *resource, const json_t *obj,
			     const json_t *old, struct api_status *status)
{
	struct field_errors errors;
	field_errors_init(&errors);
	object_meta_validate(resource, obj, old == NULL, &errors);
	if (old)
		object_meta_validate_update(obj, old, &errors);
	const struct kind_strategy *strategy = resource->strategy;
	if (strategy && strategy->validate)
		strategy->validate(obj, &errors);
	if (old && strategy && strategy->validate_update)
		strategy->validate_update(obj, old, &errors);
	int ret = 0;
	if (field_errors_count(&errors)) {
		const char *name = json_path_string(obj, "metadata.name");
		ret = api_fail_invalid(status, resource, name ? name : "", &errors);
	}
	field_errors_clear(&errors);
	return ret;
}

/* Stamps the next revision, stores, and publishes the change. Takes a reference to `obj`.
 * With `old` the event is MODIFIED, else ADDED. */
int registry_commit_write(struct apiserver *server, const struct api_resource *resource,
			  const char *key, json_t **obj, const json_t *old,
			  struct stored_object *out, struct api_status *status)
{
	int64_t revision = store_revision(server->store) + 1;
	object_meta_set_revision(*obj, revision);
	json_t *normalized = object_normalize(*obj);
	json_decref(*obj);
	*obj = normalized;
	char *text = json_dump_compact(*obj);
	struct ck_error err = {0};
	if (store_put(server->store, key, text, revision, &err) < 0) {
		free(text);
		return registry_storage_failed(status, &err);
	}
	struct watch_event event = {
	    .revision = revision,
	    .type = old ? WATCH_MODIFIED : WATCH_ADDED,
	    .resource = resource,
	    .namespace = strdup(json_path_string(*obj, "metadata.namespace") ?: ""),
	    .object = strdup(text),
	    .object_len = strlen(text),
	    .parsed = *obj,
	};
	object_attrs_init(&event.attrs, resource, *obj);
	if (old)
		object_attrs_init(&event.prev_attrs, resource, old);
	watch_hub_publish(server->hub, &event);
	admission_observe(server, resource, *obj, false);
	out->json = json_incref(*obj);
	out->text = text;
	return 0;
}

/* Removes the object from the store and publishes DELETED with its last state, stamped with
 * the deletion's revision. */
int registry_commit_delete(struct apiserver *server, const struct api_resource *resource,
			   const char *key, json_t *old, struct stored_object *out,
			   struct api_status *status)
{
	int64_t revision = store_revision(server->store) + 1;
	struct ck_error err = {0};
	if (store_delete(server->store, key, revision, &err) < 0)
		return registry_storage_failed(status, &err);
	admission_release(server, resource, old);
	admission_observe(server, resource, old, true);
	object_meta_set_revision(old, revision);
	char *text = json_dump_compact(old);
	struct watch_event event = {
	    .revision = revision,
	    .type = WATCH_DELETED,
	    .resource = resource,
	    .namespace = strdup(json_path_string(old, "metadata.namespace") ?: ""),
	    .object = strdup(text),
	    .object_len = strlen(text),
	    .parsed = old,
	};
	object_attrs_init(&event.attrs, resource, old);
	watch_hub_publish(server->hub, &event);
	out->json = json_incref(old);
	out->text = text;
	return 0;
}
