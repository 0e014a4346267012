/* Which resources the server has: kinds and names mapped to REST paths, read from the legacy
 * discovery documents (GET /api/v1, GET /apis, GET /apis/<group>/<version>) on first use and
 * kept for the rest of the command. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "kubectl/kubectl.h"
#include "lib/buf.h"

struct resource {
	const char *group; /* "" for the core group */
	const char *version;
	const char *kind;     /* "Pod" */
	const char *plural;   /* "pods" */
	const char *singular; /* "pod" */
	bool namespaced;
};

/* The resource for a manifest's apiVersion and kind. -ENOENT with kubectl's text
 * ("no matches for kind "Foo" in version "v1"") when the server has none. */
int discovery_by_kind(struct kubectl *k, const char *api_version, const char *kind,
		      struct resource *out, struct ck_error *err);

/* The resource a user typed: plural, singular, short name or kind, any case, optionally
 * qualified with its group ("deployments.apps"). -ENOENT with kubectl's text
 * ("the server doesn't have a resource type "foo"") when the server has none. */
int discovery_by_name(struct kubectl *k, const char *name, struct resource *out,
		      struct ck_error *err);

/* Every resource in a category ("all"), core group first, then each group's preferred version.
 * *out is malloc'ed (free it); -ENOENT when the category is empty or unknown. */
int discovery_by_category(struct kubectl *k, const char *category, struct resource **out,
			  size_t *count, struct ck_error *err);

/* Adds a discovery document to the cache as if the server had sent it: an APIResourceList
 * under its groupVersion, or an APIGroupList. Takes a reference. */
void discovery_remember(struct kubectl *k, json_t *document);

/* "/api/v1/namespaces/NS/pods/NAME"; `namespace` is ignored for cluster-scoped resources and
 * may be NULL (all namespaces); `name` may be NULL (the collection). Segments are escaped. */
void resource_path(const struct resource *r, const char *namespace, const char *name,
		   struct buf *path);

/* How kubectl names the type in messages: "pod", "deployment.apps". */
void resource_type_name(const struct resource *r, struct buf *out);
