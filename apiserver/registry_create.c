/* Creates: defaults, system metadata, generated names, admission, conflicts, dry runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/registry_internal.h"
#include "apiserver/admission.h"
#include "apiserver/object_meta.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"

/* A generated name that collides is retried this often before giving up, as Kubernetes does. */
#define GENERATE_NAME_ATTEMPTS 8

static int create_locked(struct apiserver *server, const struct api_resource *resource,
			 const char *namespace, json_t *obj, const struct write_options *options,
			 struct stored_object *out, struct api_status *status)
{
	const char *name = json_path_string(obj, "metadata.name");
	if (resource->namespaced &&
	    admission_check_namespace(server, resource, namespace, name, status) < 0)
		return -1;
	_cleanup_free_ char *key = registry_key(resource, namespace, name);
	_cleanup_json_ json_t *existing = NULL;
	int ret = registry_read_stored(server, key, &existing, status);
	if (ret == 0) {
		const char *generate = json_path_string(obj, "metadata.generateName");
		if (generate && *generate)
			return -EEXIST; /* the caller draws another name */
		return api_fail_already_exists(status, resource, name);
	}
	if (ret != -ENOENT)
		return -1;
	if (admission_allocate(server, resource, obj, status) < 0)
		return -1;
	if (options->dry_run) {
		admission_release(server, resource, obj);
		json_t *normalized = object_normalize(obj);
		out->json = normalized;
		out->text = json_dump_compact(normalized);
		return 0;
	}
	json_t *stored = json_incref(obj);
	ret = registry_commit_write(server, resource, key, &stored, NULL, out, status);
	json_decref(stored);
	if (ret < 0)
		admission_release(server, resource, obj);
	return ret;
}

int registry_create(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, json_t *body, const struct write_options *options,
		    struct stored_object *out, struct api_status *status)
{
	if (registry_decode_object(resource, body, options->field_validation, out, status) < 0 ||
	    registry_check_namespace_field(resource, body, namespace, status) < 0)
		return -1;
	json_t *meta = json_object_get(body, "metadata");
	const char *requested_version = json_string_value(json_object_get(meta, "resourceVersion"));
	if (requested_version && *requested_version)
		return api_fail(status, 400, "BadRequest",
				"resourceVersion should not be set on objects to be created");
	object_meta_drop_unstored(body);
	const struct kind_strategy *strategy = resource->strategy;
	if (strategy && strategy->prepare_create)
		strategy->prepare_create(body);
	if (strategy && strategy->set_defaults)
		strategy->set_defaults(body);

	for (int attempt = 0; attempt < GENERATE_NAME_ATTEMPTS; attempt++) {
		/* A generated name that was taken is drawn again. */
		if (attempt)
			json_object_del(json_object_get(body, "metadata"), "name");
		object_meta_fill_on_create(body);
		if (registry_validate_object(resource, body, NULL, status) < 0)
			return -1;
		WRITE_LOCKED(server);
		int ret = create_locked(server, resource, namespace, body, options, out, status);
		if (ret != -EEXIST) {
			out->created = ret == 0;
			return ret < 0 ? -1 : 0;
		}
	}
	return api_fail(status, 409, "AlreadyExists",
			"could not find a free name for generateName \"%s\"",
			json_path_string(body, "metadata.generateName"));
}
