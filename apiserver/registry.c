#include "registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/admission.h"
#include "apiserver/object_meta.h"
#include "apiserver/patch.h"
#include "apiserver/resources.h"
#include "apiserver/schema.h"
#include "apiserver/server.h"
#include "apiserver/store.h"
#include "apiserver/watch.h"
#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/timeutil.h"

/* A generated name that collides is retried this often before giving up, as Kubernetes does. */
#define GENERATE_NAME_ATTEMPTS 8

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

static void lock(struct apiserver *server)
{
	pthread_mutex_lock(&server->write_lock);
}

static void unlock(struct apiserver **server)
{
	if (*server)
		pthread_mutex_unlock(&(*server)->write_lock);
}

/* Holds the write lock until the end of the enclosing scope. */
#define WRITE_LOCKED(server) \
	__attribute__((cleanup(unlock), unused)) struct apiserver *locked_ = (lock(server), server)

static int storage_failed(struct api_status *status, const struct ck_error *err)
{
	log_error("storage: %s", err->message);
	return api_fail_internal(status, "storage failed: %s", err->message);
}

/* Reads the stored object under `key`: 0, or -ENOENT, or another failure in `status`. */
static int read_stored(struct apiserver *server, const char *key, json_t **obj,
		       struct api_status *status)
{
	struct ck_error err = {0};
	_cleanup_free_ char *text = NULL;
	int ret = store_get(server->store, key, &text, NULL, &err);
	if (ret == -ENOENT)
		return -ENOENT;
	if (ret < 0)
		return storage_failed(status, &err);
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
		return storage_failed(status, &err);
	return 0;
}

/* --- list ---------------------------------------------------------------------------------- */

struct list_walk {
	const struct api_resource *resource;
	const struct list_options *options;
	bool filtered;
	registry_visit_fn visit;
	void *ctx;
	size_t matched;
	char *last_key;
	int error;
};

static int list_visit(void *ctx, const char *key, const char *value, size_t len, int64_t revision)
{
	(void)revision;
	struct list_walk *walk = ctx;
	const struct list_filter *filter = &walk->options->filter;
	_cleanup_json_ json_t *obj = NULL;
	if (!list_filter_is_namespace_only(filter)) {
		obj = json_loadb(value, len, 0, NULL);
		if (!obj)
			return 0; /* unreadable rows are skipped, not fatal to the list */
		struct object_attrs attrs;
		if (object_attrs_init(&attrs, walk->resource, obj) < 0)
			return -ENOMEM;
		const char *ns = json_path_string(obj, "metadata.namespace");
		bool match = list_filter_matches(filter, ns ? ns : "", &attrs);
		object_attrs_clear(&attrs);
		if (!match)
			return 0;
	}
	int ret = walk->visit(walk->ctx, value, len, obj);
	if (ret < 0)
		return ret;
	walk->matched++;
	free(walk->last_key);
	walk->last_key = strdup(key);
	/* With a filter the store cannot count matches: stop here once the page is full. */
	if (walk->filtered && walk->options->limit && walk->matched == walk->options->limit)
		return 1;
	return 0;
}

/* Continue tokens carry the list's revision and the last key returned, base64-encoded JSON
 * like Kubernetes'. The key must lie inside the listed prefix. */
static char *encode_continue(int64_t revision, const char *key)
{
	_cleanup_json_ json_t *token = json_pack("{s:s, s:I, s:s}", "v", "meta.k8s.io/v1", "rv",
						 (json_int_t)revision, "start", key);
	_cleanup_free_ char *text = json_dump_compact(token);
	struct buf encoded = {0};
	base64_encode(text, strlen(text), &encoded);
	return buf_steal(&encoded);
}

static int decode_continue(const char *token, const char *prefix, int64_t *revision, char **start,
			   struct api_status *status)
{
	_cleanup_buf_ struct buf raw = {0};
	if (base64_decode(token, strlen(token), &raw, NULL) < 0)
		return api_fail(status, 400, "BadRequest", "continue key is not valid: %s",
				"illegal base64 data");
	_cleanup_json_ json_t *parsed = json_loadb(raw.data ? raw.data : "", raw.len, 0, NULL);
	const char *key = json_string_value(json_object_get(parsed, "start"));
	json_t *rv = json_object_get(parsed, "rv");
	if (!key || !json_is_integer(rv) || strncmp(key, prefix, strlen(prefix)) != 0)
		return api_fail(status, 400, "BadRequest", "continue key is not valid");
	*revision = json_integer_value(rv);
	*start = strdup(key);
	return 0;
}

int registry_list(struct apiserver *server, const struct api_resource *resource,
		  const struct list_options *options, registry_visit_fn visit, void *ctx,
		  struct list_result *result, struct api_status *status)
{
	_cleanup_free_ char *prefix = registry_key(resource, options->filter.namespace, NULL);
	_cleanup_free_ char *start = NULL;
	int64_t token_revision = 0;
	if (options->continue_token && *options->continue_token &&
	    decode_continue(options->continue_token, prefix, &token_revision, &start, status) < 0)
		return -1;

	/* Without selectors the store can count what is left after a page. */
	bool plain = list_filter_is_namespace_only(&options->filter);
	struct list_walk walk = {
		.resource = resource,
		.options = options,
		.filtered = !plain,
		.visit = visit,
		.ctx = ctx,
	};
	struct store_range range = {
		.prefix = prefix,
		.start_after = start,
		.limit = plain ? options->limit : 0,
		.at_revision = token_revision,
	};
	if (options->limit && !token_revision) {
		/* A paged list begins: keep what writes replace until its last page is read. */
		WRITE_LOCKED(server);
		store_keep_history(server->store);
	}
	struct ck_error err = {0};
	bool more = false;
	int64_t remaining = -1;
	int ret = store_list(server->store, &range, list_visit, &walk, &result->revision, &more,
			     &remaining, &err);
	if (ret < 0) {
		free(walk.last_key);
		if (ret == -ESTALE)
			return api_fail(status, 410, "Expired",
					"The provided continue parameter is too old to display a "
					"consistent list result. You can start a new list without the "
					"continue parameter.");
		return storage_failed(status, &err);
	}
	result->remaining = more ? remaining : -1;
	result->continue_token =
		more && walk.last_key ? encode_continue(result->revision, walk.last_key) : NULL;
	free(walk.last_key);
	return 0;
}

/* --- decoding and checks shared by writes -------------------------------------------------- */

static void add_warning(struct stored_object *out, const char *text)
{
	if (!out->warnings)
		out->warnings = json_array();
	json_array_append_new(out->warnings, json_string(text));
}

/* The body must be an object of this resource's kind; unknown fields are refused, dropped with
 * a warning, or dropped silently, by fieldValidation. Wrong types are always refused. */
static int decode_object(const struct api_resource *resource, json_t *body,
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
			add_warning(out, json_string_value(json_object_get(problem, "message")));
	return 0;
}

static int check_namespace_field(const struct api_resource *resource, json_t *obj,
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

static int validate_object(const struct api_resource *resource, const json_t *obj,
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
static int commit_write(struct apiserver *server, const struct api_resource *resource,
			const char *key, json_t **obj, const json_t *old, struct stored_object *out,
			struct api_status *status)
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
		return storage_failed(status, &err);
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
static int commit_delete(struct apiserver *server, const struct api_resource *resource,
			 const char *key, json_t *old, struct stored_object *out,
			 struct api_status *status)
{
	int64_t revision = store_revision(server->store) + 1;
	struct ck_error err = {0};
	if (store_delete(server->store, key, revision, &err) < 0)
		return storage_failed(status, &err);
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

/* --- create -------------------------------------------------------------------------------- */

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
	int ret = read_stored(server, key, &existing, status);
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
	ret = commit_write(server, resource, key, &stored, NULL, out, status);
	json_decref(stored);
	if (ret < 0)
		admission_release(server, resource, obj);
	return ret;
}

int registry_create(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, json_t *body, const struct write_options *options,
		    struct stored_object *out, struct api_status *status)
{
	if (decode_object(resource, body, options->field_validation, out, status) < 0 ||
	    check_namespace_field(resource, body, namespace, status) < 0)
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
		if (validate_object(resource, body, NULL, status) < 0)
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

/* --- update and patch ---------------------------------------------------------------------- */

static bool has_finalizers(const struct api_resource *resource, const json_t *obj)
{
	const struct kind_strategy *strategy = resource->strategy;
	return json_array_size(json_path(obj, "metadata.finalizers")) > 0 ||
	       (strategy && strategy->has_kind_finalizers && strategy->has_kind_finalizers(obj));
}

/* Deleted while finalizers were pending, and now none is left. A pod still inside its grace
 * period is not: its node removes it. */
static bool is_terminating_without_finalizers(const struct api_resource *resource,
					      const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata");
	json_t *grace = json_object_get(meta, "deletionGracePeriodSeconds");
	return json_object_get(meta, "deletionTimestamp") && !has_finalizers(resource, obj) &&
	       (!grace || json_integer_value(grace) == 0);
}

/* Applies an update of the stored `old` to `obj` (a full object as the client wants it) and
 * writes it. Runs under the write lock. Returns 1 when something was written, 0 when the update
 * changed nothing (or was a dry run), -1 with `status` set on failure. */
static int update_locked(struct apiserver *server, const struct api_resource *resource,
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
	if (validate_object(resource, obj, spec_writer ? NULL : old, status) < 0)
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
		return commit_delete(server, resource, key, obj, out, status) < 0 ? -1 : 1;
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
	int ret = commit_write(server, resource, key, &stored, old, out, status);
	json_decref(stored);
	if (ret < 0)
		return -1;
	admission_release_update(server, resource, obj, old);
	return 1;
}

static int check_name_matches(const struct api_resource *resource, json_t *obj, const char *name,
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

int registry_update(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, const char *name, const char *subresource, json_t *body,
		    const struct write_options *options, struct stored_object *out,
		    struct api_status *status)
{
	if (decode_object(resource, body, options->field_validation, out, status) < 0 ||
	    check_namespace_field(resource, body, namespace, status) < 0 ||
	    check_name_matches(resource, body, name, status) < 0)
		return -1;
	_cleanup_free_ char *key = registry_key(resource, namespace, name);
	{
		WRITE_LOCKED(server);
		_cleanup_json_ json_t *old = NULL;
		int ret = read_stored(server, key, &old, status);
		if (ret == 0)
			return update_locked(server, resource, key, subresource, body, old, options,
					     out, status) < 0
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
		int ret = read_stored(server, key, &old, status);
		if (ret == 0) {
			_cleanup_json_ json_t *patched = NULL;
			if (apply_patch(type, resource, old, patch, &patched, status) < 0 ||
			    decode_object(resource, patched, options->field_validation, out,
					  status) < 0 ||
			    check_namespace_field(resource, patched, namespace, status) < 0 ||
			    check_name_matches(resource, patched, name, status) < 0)
				return -1;
			return update_locked(server, resource, key, subresource, patched, old,
					     options, out, status) < 0
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
	if (check_name_matches(resource, body, name, status) < 0)
		return -1;
	return registry_create(server, resource, namespace, body, options, out, status);
}

/* --- delete -------------------------------------------------------------------------------- */

static int check_delete_preconditions(const struct api_resource *resource, const json_t *old,
				      const struct delete_options *options,
				      struct api_status *status)
{
	const char *name = json_path_string(old, "metadata.name");
	const char *uid = json_path_string(old, "metadata.uid");
	const char *version = json_path_string(old, "metadata.resourceVersion");
	char why[256];
	if (options->precondition_uid && uid && strcmp(options->precondition_uid, uid) != 0) {
		snprintf(why, sizeof(why),
			 "Precondition failed: UID in precondition: %s, UID in object meta: %s",
			 options->precondition_uid, uid);
		return api_fail_conflict(status, resource, name, why);
	}
	if (options->precondition_resource_version && version &&
	    strcmp(options->precondition_resource_version, version) != 0) {
		snprintf(why, sizeof(why),
			 "Precondition failed: ResourceVersion in precondition: %s, "
			 "ResourceVersion in object meta: %s",
			 options->precondition_resource_version, version);
		return api_fail_conflict(status, resource, name, why);
	}
	return 0;
}

/* Marks `old` as terminating: deletionTimestamp now + grace, or sooner when a shorter grace
 * period comes after a longer one. */
static bool mark_terminating(json_t *old, long long grace)
{
	json_t *meta = json_object_ensure(old, "metadata");
	json_t *current_grace = json_object_get(meta, "deletionGracePeriodSeconds");
	if (json_object_get(meta, "deletionTimestamp") &&
	    (!json_is_integer(current_grace) || json_integer_value(current_grace) <= grace))
		return false;
	char when[TIMEUTIL_TEXT_SIZE];
	timeutil_format_rfc3339(time(NULL) + grace, when);
	json_object_set_string(meta, "deletionTimestamp", when);
	json_object_set_new(meta, "deletionGracePeriodSeconds", json_integer(grace));
	return true;
}

int registry_delete(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, const char *name, const struct delete_options *options,
		    struct stored_object *out, bool *gone, struct api_status *status)
{
	_cleanup_free_ char *key = registry_key(resource, namespace, name);
	WRITE_LOCKED(server);
	_cleanup_json_ json_t *old = NULL;
	int ret = read_stored(server, key, &old, status);
	if (ret == -ENOENT)
		return api_fail_not_found(status, resource, name);
	if (ret < 0 || check_delete_preconditions(resource, old, options, status) < 0 ||
	    admission_check_delete(resource, name, status) < 0)
		return -1;
	*gone = false;

	const struct kind_strategy *strategy = resource->strategy;
	long long grace = strategy && strategy->deletion_grace
			      ? strategy->deletion_grace(old, options->grace_period_seconds)
			      : 0;
	if (grace > 0 || has_finalizers(resource, old)) {
		/* Graceful: the object stays, marked, until its node or its finalizers let go. */
		_cleanup_json_ json_t *marked = json_deep_copy(old);
		if (!mark_terminating(marked, grace > 0 ? grace : 0) || options->dry_run) {
			json_t *shown = options->dry_run ? marked : old;
			out->json = json_incref(shown);
			out->text = json_dump_compact(shown);
			return 0;
		}
		json_t *stored = json_incref(marked);
		ret = commit_write(server, resource, key, &stored, old, out, status);
		json_decref(stored);
		return ret;
	}
	if (options->dry_run) {
		out->json = json_incref(old);
		out->text = json_dump_compact(old);
		*gone = true;
		return 0;
	}
	ret = commit_delete(server, resource, key, old, out, status);
	*gone = ret == 0;
	return ret;
}

/* --- controllers' read-modify-write --------------------------------------------------------- */

int registry_mutate(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, const char *name, const char *subresource,
		    registry_mutate_fn mutate, void *ctx, struct api_status *status)
{
	_cleanup_free_ char *key = registry_key(resource, namespace, name);
	WRITE_LOCKED(server);
	_cleanup_json_ json_t *old = NULL;
	int ret = read_stored(server, key, &old, status);
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
	ret = update_locked(server, resource, key, subresource, obj, old, &options, &out, status);
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
