/* What the registry's files share (registry.c, registry_list.c, registry_create.c,
 * registry_update.c, registry_delete.c); not for callers of the registry. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "apiserver/registry.h"

void registry_lock(struct apiserver *server);
void registry_unlock(struct apiserver **server);

/* Holds the API server's write lock until the end of the enclosing scope. */
#define WRITE_LOCKED(server)                                                          \
	__attribute__((cleanup(registry_unlock), unused)) struct apiserver *locked_ = \
	    (registry_lock(server), server)

/* A storage failure as a 500 for the client, logged for the operator. Returns -1. */
int registry_storage_failed(struct api_status *status, const struct ck_error *err);
/* Reads and parses the stored object under `key`: 0, -ENOENT, or -1 with `status` set. */
int registry_read_stored(struct apiserver *server, const char *key, json_t **obj,
			 struct api_status *status);

/* The body must be an object of this resource's kind, with the right types; unknown fields
 * are refused, dropped with a warning, or dropped silently, by fieldValidation. */
int registry_decode_object(const struct api_resource *resource, json_t *body,
			   enum field_validation validation, struct stored_object *out,
			   struct api_status *status);
/* Sets metadata.namespace from the URL (refusing a different one in the body). */
int registry_check_namespace_field(const struct api_resource *resource, json_t *obj,
				   const char *namespace, struct api_status *status);
/* Sets metadata.name from the URL (refusing a different one in the body). */
int registry_check_name_matches(const struct api_resource *resource, json_t *obj, const char *name,
				struct api_status *status);
/* Metadata and kind validation; `old` for updates. 422 on problems. */
int registry_validate_object(const struct api_resource *resource, const json_t *obj,
			     const json_t *old, struct api_status *status);
/* Whether finalizers (metadata's or the kind's own) still hold the object. */
bool registry_has_finalizers(const struct api_resource *resource, const json_t *obj);
void registry_add_warning(struct stored_object *out, const char *text);

/* Stamps the next revision on *obj, stores it and publishes ADDED (or MODIFIED when `old` is
 * given). Called under the write lock. */
int registry_commit_write(struct apiserver *server, const struct api_resource *resource,
			  const char *key, json_t **obj, const json_t *old,
			  struct stored_object *out, struct api_status *status);
/* Removes the object and publishes DELETED with its last state. Under the write lock. */
int registry_commit_delete(struct apiserver *server, const struct api_resource *resource,
			   const char *key, json_t *old, struct stored_object *out,
			   struct api_status *status);
/* Applies an update of the stored `old` to `obj`; 1 written, 0 unchanged, -1 failed. Under the
 * write lock. */
int registry_update_locked(struct apiserver *server, const struct api_resource *resource,
			   const char *key, const char *subresource, json_t *obj, json_t *old,
			   const struct write_options *options, struct stored_object *out,
			   struct api_status *status);
