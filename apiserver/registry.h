/* Generic REST semantics over the store, the same for every kind: create, get, list, update,
 * patch, delete, with system metadata (uid, creationTimestamp, resourceVersion, generation),
 * defaults, validation, admission, preconditions, graceful deletion and finalizers. The HTTP
 * handlers and the in-process controllers both go through here, so a controller's write is
 * checked exactly like a client's. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "apiserver/filter.h"
#include "apiserver/status.h"
#include "lib/buf.h"

struct apiserver;
struct api_resource;

enum field_validation { FIELD_VALIDATION_WARN, FIELD_VALIDATION_IGNORE, FIELD_VALIDATION_STRICT };

struct write_options {
	bool dry_run;
	enum field_validation field_validation;
	const char *field_manager;
};

/* An object as stored: parsed and as its JSON text. */
struct stored_object {
	json_t *json;
	char *text;
	json_t *warnings; /* strings for Warning headers; may be NULL */
	bool created;     /* for PUT and apply: whether the write created the object */
};
void stored_object_clear(struct stored_object *obj);

/* "pods/default/web", "nodes/node-1": the storage key; the prefix without a name lists. */
char *registry_key(const struct api_resource *resource, const char *namespace, const char *name);

int registry_get(struct apiserver *server, const struct api_resource *resource,
		 const char *namespace, const char *name, char **text, struct api_status *status);

struct list_options {
	struct list_filter filter; /* borrowed */
	size_t limit;              /* 0 = all */
	const char *continue_token;
};

/* Called per matching object; `obj` may be NULL when no filter needed parsing (the caller
 * parses when it needs to). */
typedef int (*registry_visit_fn)(void *ctx, const char *text, size_t len, json_t *obj);

struct list_result {
	int64_t revision;
	char *continue_token; /* NULL when this is the last page */
	int64_t remaining;    /* remainingItemCount; -1 when unknown */
};

int registry_list(struct apiserver *server, const struct api_resource *resource,
		  const struct list_options *options, registry_visit_fn visit, void *ctx,
		  struct list_result *result, struct api_status *status);

/* Creates an object from `body`, which it completes in place (defaults, system fields). */
int registry_create(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, json_t *body, const struct write_options *options,
		    struct stored_object *out, struct api_status *status);

/* PUT of the main resource or of a subresource ("status"). */
int registry_update(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, const char *name, const char *subresource, json_t *body,
		    const struct write_options *options, struct stored_object *out,
		    struct api_status *status);

enum patch_type { PATCH_MERGE, PATCH_JSON, PATCH_STRATEGIC, PATCH_APPLY };

int registry_patch(struct apiserver *server, const struct api_resource *resource,
		   const char *namespace, const char *name, const char *subresource,
		   enum patch_type type, const json_t *patch, const struct write_options *options,
		   struct stored_object *out, struct api_status *status);

struct delete_options {
	long long grace_period_seconds; /* -1 = not given */
	const char *precondition_uid;
	const char *precondition_resource_version;
	bool dry_run;
	const char *propagation_policy;
};

/* Deletes, or marks for deletion when the kind asks for a grace period or finalizers remain.
 * `out` receives the object's last state; `out->created` is unused. `gone` tells whether the
 * object left the store. */
int registry_delete(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, const char *name, const struct delete_options *options,
		    struct stored_object *out, bool *gone, struct api_status *status);

/* Read-modify-write for controllers: calls `mutate` with the current object under the write
 * lock; when it returns true, the object is written (through the normal update checks of the
 * main resource or of `subresource`). Returns 1 when a change was written, 0 when there was
 * nothing to write, -ENOENT when the object is gone, -1 on other failures (in `status`). */
typedef bool (*registry_mutate_fn)(void *ctx, json_t *obj);
int registry_mutate(struct apiserver *server, const struct api_resource *resource,
		    const char *namespace, const char *name, const char *subresource,
		    registry_mutate_fn mutate, void *ctx, struct api_status *status);

/* Binds a pending pod to a node (pods/binding). */
int registry_bind_pod(struct apiserver *server, const char *namespace, const char *pod_name,
		      const json_t *binding, struct api_status *status);
