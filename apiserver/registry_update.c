/* Updates, patches, the controllers' read-modify-write and pod binding: preconditions,
 * what each subresource may change, finalizers, and no write when nothing changed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/registry_internal.h"
#include "apiserver/admission.h"
#include "apiserver/object_meta.h"
#include "apiserver/patch.h"
#include "apiserver/resources.h"
#include "apiserver/schema.h"
#include "apiserver/server.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/timeutil.h"

/* Deleted while finalizers were pending, and now none is left. A pod still inside its grace
 * period is not: its node removes it. */
static bool is_terminating_without_finalizers(const struct api_resource *resource,
					      const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	json_t *grace = json_object_get(meta, "deletionGracePeriodSeconds");
	return json_object_get(meta, "deletionTimestamp") &&
	       !registry_has_finalizers(resource, obj) &&
	       (!grace || json_integer_value(grace) == 0);
}

/* Applies an update of the stored `old` to `obj` (a full object as the client wants it) and
 * writes it. Runs under the write lock. Returns 1 when something was written, 0 when the update
 * changed nothing (or was a dry run), -1 with `status` set on failure. */
int registry_update_locked(struct apiserver *server, const struct api_resource *resource,
			   const char *key, const char *subresource, json_t *obj, json_t *old,
			   const struct write_options *options, struct stored_object *out,
			   struct api_status *status)
{
	const char *name = json_path_string(old, "metadata.name");
	const json_t *meta = json_object_get(obj, "metadata");
	const char *given_version = json_string_value(json_object_get(meta, "resourceVersion"));
	const char *stored_version = json_path_string(old, "metadata.resourceVersion");
	if (given_version && *given_version && stored_version &&
	    strcmp(given_version, stored_version) != 0)
		return api_fail_conflict(status, resource, name,
					 "the object has been modified; please apply your changes "
					 "to the latest version and try again");
	const char *given_uid = json_string_value(json_object_get(meta, "uid"));
	const char *stored_uid = json_path_string(old, "metadata.uid");
	if (given_uid && *given_uid && stored_uid && strcmp(given_uid, stored_uid) != 0) {
		char why[256];
		snprintf(why, sizeof(why),
			 "Precondition failed: UID in precondition: %s, UID in object meta: %s",
			 given_uid, stored_uid);
		return api_fail_conflict(status, resource, name, why);
	}

	const struct kind_strategy *strategy = resource->strategy;
	/* "binding" (spec.nodeName) and "finalize" (a namespace's spec.finalizers) write fields
	 * that no update of the main resource may change. */
	bool spec_writer = subresource && (strcmp(subresource, "binding") == 0 ||
					   strcmp(subresource, "finalize") == 0);
	if (subresource && strcmp(subresource, "status") == 0) {
		if (strategy && strategy->prepare_status_update)
			strategy->prepare_status_update(obj, old);
	} else if (!spec_writer && strategy && strategy->prepare_update) {
		strategy->prepare_update(obj, old);
	}
	object_meta_drop_unstored(obj);
	object_meta_keep_on_update(obj, old);
	if (strategy && strategy->set_defaults)
		strategy->set_defaults(obj);
	if (registry_validate_object(resource, obj, spec_writer ? NULL : old, status) < 0)
		return -1;
	if (admission_allocate_update(server, resource, obj, old, status) < 0)
		return -1;

	/* An object waiting only for its finalizers goes once the last one is removed. */
	if (is_terminating_without_finalizers(resource, obj)) {
		if (options->dry_run) {
			out->json = object_normalize(obj);
			out->text = json_dump_compact(out->json);
			return 0;
		}
		return registry_commit_delete(server, resource, key, obj, out, status) < 0 ? -1 : 1;
	}

	/* Nothing changed: no write, no event, the stored revision stays. */
	json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion",
			    json_string(stored_version ? stored_version : ""));
	_cleanup_json_ json_t *normalized = object_normalize(obj);
	if (json_equal(normalized, old) || options->dry_run) {
		if (options->dry_run)
			admission_release_update(server, resource, old, obj);
		out->json = json_incref(normalized);
		out->text = json_dump_compact(normalized);
		return 0;
	}
	json_t *stored = json_incref(obj);
	int ret = registry_commit_write(server, resource, key, &stored, old, out, status);
	json_decref(stored);
	if (ret < 0)
		return -1;
	admission_release_update(server, resource, obj, old);
	return 1;
}

int registry_update(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, const char *name, const char *subresource, json_t *body,
		    const struct write_options *options, struct stored_object *out,
		    struct api_status *status)
{
	if (registry_decode_object(resource, body, options->field_validation, out, status) < 0 ||
	    registry_check_namespace_field(resource, body, namespace, status) < 0 ||
	    registry_check_name_matches(resource, body, name, status) < 0)
		return -1;
	_cleanup_free_ char *key = registry_key(resource, namespace, name);
	{
		WRITE_LOCKED(server);
		_cleanup_json_ json_t *old = NULL;
		int ret = registry_read_stored(server, key, &old, status);
		if (ret == 0)
			return registry_update_locked(server, resource, key, subresource, body, old,
						      options, out, status) < 0
				   ? -1
				   : 0;
		if (ret != -ENOENT)
			return -1;
		if (!resource->create_on_update || subresource)
			return api_fail_not_found(status, resource, name);
	}
	struct write_options create_options = *options;
	return registry_create(server, resource, namespace, body, &create_options, out, status);
}

static int apply_patch(enum patch_type type, const struct api_resource *resource, const json_t *old,
		       const json_t *patch, json_t **patched, struct api_status *status)
{
	struct ck_error err = {0};
	switch (type) {
	case PATCH_MERGE:
		*patched = merge_patch_apply(old, patch);
		break;
	case PATCH_JSON:
		if (json_patch_apply(old, patch, patched, &err) < 0)
			return api_fail(status, 422, "Invalid",
					"the server rejected our request due "
					"to an error in our request: %s",
					err.message);
		break;
	case PATCH_STRATEGIC:
	case PATCH_APPLY:
		if (strategic_merge_patch_apply(old, patch, schema_lookup(resource->kind), patched,
						&err) < 0)
			return api_fail(status, 400, "BadRequest", "%s", err.message);
		break;
	}
	if (!*patched || !json_is_object(*patched))
		return api_fail(status, 400, "BadRequest", "the patch did not produce an object");
	return 0;
}

int registry_patch(struct apiserver *server, const struct api_resource *resource,
		   const char *namespace, const char *name, const char *subresource,
		   enum patch_type type, const json_t *patch, const struct write_options *options,
		   struct stored_object *out, struct api_status *status)
{
	if (type != PATCH_JSON && !json_is_object(patch))
		return api_fail(status, 400, "BadRequest", "the patch must be a JSON object");
	if (type == PATCH_JSON && !json_is_array(patch))
		return api_fail(status, 400, "BadRequest",
				"a JSON patch must be a list of operations");
	_cleanup_free_ char *key = registry_key(resource, namespace, name);
	{
		WRITE_LOCKED(server);
		_cleanup_json_ json_t *old = NULL;
		int ret = registry_read_stored(server, key, &old, status);
		if (ret == 0) {
			_cleanup_json_ json_t *patched = NULL;
			if (apply_patch(type, resource, old, patch, &patched, status) < 0 ||
			    registry_decode_object(resource, patched, options->field_validation,
						   out, status) < 0 ||
			    registry_check_namespace_field(resource, patched, namespace, status) <
				0 ||
			    registry_check_name_matches(resource, patched, name, status) < 0)
				return -1;
			return registry_update_locked(server, resource, key, subresource, patched,
						      old, options, out, status) < 0
				   ? -1
				   : 0;
		}
		if (ret != -ENOENT)
			return -1;
		if (type != PATCH_APPLY || subresource)
			return api_fail_not_found(status, resource, name);
	}
	/* Server-side apply of a missing object creates it from the applied configuration. */
	_cleanup_json_ json_t *body = json_deep_copy(patch);
	if (registry_check_name_matches(resource, body, name, status) < 0)
		return -1;
	return registry_create(server, resource, namespace, body, options, out, status);
}

/* --- controllers' read-modify-write --------------------------------------------------------- */

int registry_mutate(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, const char *name, const char *subresource,
		    registry_mutate_fn mutate, void *ctx, struct api_status *status)
{
	_cleanup_free_ char *key = registry_key(resource, namespace, name);
	WRITE_LOCKED(server);
	_cleanup_json_ json_t *old = NULL;
	int ret = registry_read_stored(server, key, &old, status);
	if (ret == -ENOENT) {
		api_fail_not_found(status, resource, name);
		return -ENOENT;
	}
	if (ret < 0)
		return -1;
	_cleanup_json_ json_t *obj = json_deep_copy(old);
	if (!mutate(ctx, obj))
		return 0;
	struct write_options options = {.field_validation = FIELD_VALIDATION_IGNORE};
	struct stored_object out = {0};
	ret = registry_update_locked(server, resource, key, subresource, obj, old, &options, &out,
				     status);
	stored_object_clear(&out);
	return ret;
}

/* --- pods/binding -------------------------------------------------------------------------- */

struct binding_target {
	const char *node;
	struct api_status *status;
	bool conflict;
};

static bool bind_to_node(void *ctx, json_t *pod)
{
	struct binding_target *target = ctx;
	json_t *spec = json_object_ensure(pod, "spec");
	const char *current = json_string_value(json_object_get(spec, "nodeName"));
	if (current && *current) {
		target->conflict = true;
		api_fail(target->status, 409, "Conflict",
			 "pod %s is already assigned to node \"%s\"",
			 json_path_string(pod, "metadata.name"), current);
		return false;
	}
	if (json_path(pod, "metadata.deletionTimestamp")) {
		target->conflict = true;
		api_fail(target->status, 409, "Conflict",
			 "pod %s is being deleted, cannot be assigned to a host",
			 json_path_string(pod, "metadata.name"));
		return false;
	}
	json_object_set_string(spec, "nodeName", target->node);
	/* The PodScheduled condition is what `kubectl describe` and the scheduler read. */
	json_t *status = json_object_ensure(pod, "status");
	json_t *conditions = json_object_get(status, "conditions");
	if (!json_is_array(conditions)) {
		conditions = json_array();
		json_object_set_new(status, "conditions", conditions);
	}
	char now[TIMEUTIL_TEXT_SIZE];
	timeutil_format_rfc3339(time(NULL), now);
	size_t index;
	json_t *condition;
	json_array_foreach (conditions, index, condition) {
		if (json_is_object(condition) &&
		    strcmp(json_string_value(json_object_get(condition, "type")) ?: "",
			   "PodScheduled") == 0) {
			json_array_remove(conditions, index);
			break;
		}
	}
	json_array_append_new(conditions,
			      json_pack("{s:s, s:s, s:n, s:s}", "type", "PodScheduled", "status",
					"True", "lastProbeTime", "lastTransitionTime", now));
	return true;
}

int registry_bind_pod(struct apiserver *server, const char *namespace, const char *pod_name,
		      const json_t *binding, struct api_status *status)
{
	const struct api_resource *pods = api_resource_find("", "v1", "pods");
	const char *node = json_path_string(binding, "target.name");
	const char *kind = json_path_string(binding, "target.kind");
	if (!node || !*node) {
		struct field_errors errors;
		field_errors_init(&errors);
		field_error_required(&errors, "target.name", NULL);
		api_fail_invalid(status, pods, pod_name, &errors);
		field_errors_clear(&errors);
		return -1;
	}
	if (kind && *kind && strcmp(kind, "Node") != 0)
		return api_fail(status, 400, "BadRequest", "binding target must be a Node, not %s",
				kind);
	struct binding_target target = {.node = node, .status = status};
	int ret = registry_mutate(server, pods, namespace, pod_name, "binding", bind_to_node,
				  &target, status);
	if (target.conflict)
		return -1;
	return ret < 0 ? -1 : 0;
}
