/* What happens to objects on their way into the store beyond defaults and validation:
 * namespace lifecycle checks and the allocations that must be unique cluster-wide (Service
 * ClusterIPs and node ports, node pod CIDRs). Runs under the write lock. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "apiserver/status.h"

struct apiserver;
struct api_resource;

#define NAMESPACE_ACTIVE ((void *)1)
#define NAMESPACE_TERMINATING ((void *)2)

/* Follows what was committed (or restored at start) for the state admission keeps in memory:
 * which namespaces exist and which are going away. */
void admission_observe(struct apiserver *server, const struct api_resource *resource,
		       const json_t *obj, bool deleted);

/* Refuses objects in a namespace that does not exist or is being deleted. */
int admission_check_namespace(struct apiserver *server, const struct api_resource *resource,
			      const char *namespace, const char *name, struct api_status *status);
/* Refuses deletes that may never happen (the namespaces every cluster needs). */
int admission_check_delete(const struct api_resource *resource, const char *name,
			   struct api_status *status);
/* Allocates what a new object needs. On failure nothing stays allocated. */
int admission_allocate(struct apiserver *server, const struct api_resource *resource, json_t *obj,
		       struct api_status *status);
/* Carries allocations over an update: values the update left out are kept from `old`. Values
 * that may not change are checked by validation. */
int admission_allocate_update(struct apiserver *server, const struct api_resource *resource,
			      json_t *obj, const json_t *old, struct api_status *status);
/* Releases what `obj` held: after a delete, or to undo a create that was not stored. */
void admission_release(struct apiserver *server, const struct api_resource *resource,
		       const json_t *obj);
/* Releases what `old` held and `obj` no longer holds, after an update was stored. */
void admission_release_update(struct apiserver *server, const struct api_resource *resource,
			      const json_t *obj, const json_t *old);
/* Marks what a stored object holds as taken; used when rebuilding state at start. */
void admission_restore(struct apiserver *server, const struct api_resource *resource,
		       const json_t *obj);
