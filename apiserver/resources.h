/* The resource types the API server serves, and what is special about each kind. Discovery,
 * OpenAPI, routing, storage keys, tables and field selectors are all derived from this table. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct field_errors;
struct apiserver;
struct api_status;
struct buf;

struct subresource {
	const char *name; /* "status", "binding", "log" */
	const char *kind; /* the kind the subresource answers with */
	const char *group;
	const char *version;
	const char *const *verbs; /* NULL-terminated */
};

struct table_column {
	const char *name;
	const char *type;   /* "string", "integer", "date" */
	const char *format; /* "name" for the name column, else "" */
	const char *description;
	int priority; /* 1 = shown only with -o wide */
};

/* What differs between kinds: defaults, validation, what an update may change, tables and
 * selectable fields. Every hook is optional. */
struct kind_strategy {
	/* Fills in defaults, as the API's defaulting functions do, on create and on update. */
	void (*set_defaults)(json_t *obj);
	/* Resets what a client may not set on create (e.g. a pod's status). */
	void (*prepare_create)(json_t *obj);
	/* Keeps what an update of the main resource may not change (e.g. status); `old` is the
	 * stored object. */
	void (*prepare_update)(json_t *obj, const json_t *old);
	/* The same for an update through the status subresource (keeps spec). */
	void (*prepare_status_update)(json_t *obj, const json_t *old);
	/* Checks a new object, adding a cause per problem. */
	void (*validate)(const json_t *obj, struct field_errors *errors);
	/* Checks an update against the stored object (immutable fields). */
	void (*validate_update)(const json_t *obj, const json_t *old, struct field_errors *errors);
	/* Adds the kind's selectable fields (besides metadata.name and metadata.namespace) with
	 * field_set_add(), e.g. "spec.nodeName". */
	void (*selectable_fields)(const json_t *obj, struct buf *fields);
	const char *const *field_names; /* the names selectable_fields adds; NULL-terminated */
	/* Table columns after NAME (the name column is common) and the cells for one object. */
	const struct table_column *columns;
	size_t column_count;
	void (*table_cells)(const json_t *obj, time_t now, json_t *cells);
	/* The grace period a delete request gets, given the one asked for (-1 = not given). 0
	 * deletes at once; otherwise the object is marked with a deletionTimestamp. */
	long long (*deletion_grace)(const json_t *obj, long long requested);
	/* Finalizers of the kind's own beside metadata.finalizers (a namespace's
	 * spec.finalizers): while true, a delete only marks the object. */
	bool (*has_kind_finalizers)(const json_t *obj);
};

/* How names of a kind are checked. */
enum name_rule {
	NAME_DNS1123_SUBDOMAIN, /* most kinds */
	NAME_DNS1123_LABEL,     /* namespaces */
	NAME_DNS1035_LABEL,     /* services: a DNS label that starts with a letter */
};

struct api_resource {
	const char *group; /* "" for the core group */
	const char *version;
	const char *api_version; /* "v1", "coordination.k8s.io/v1" */
	const char *plural;
	const char *singular;
	const char *kind;
	bool namespaced;
	const char *const *short_names; /* NULL-terminated, may be NULL */
	bool in_category_all;
	const struct subresource *subresources; /* terminated by an entry with a NULL name */
	const struct kind_strategy *strategy;
	enum name_rule name_rule;
	bool create_on_update;      /* PUT of a missing object creates it */
	bool return_deleted_object; /* DELETE answers with the object, else with a Status */
	/* Served from live data kept in memory rather than from the store (resource metrics). */
	bool live;
	const char *const *verbs; /* NULL: api_resource_verbs */
};

/* Every served resource, in discovery order. */
const struct api_resource *api_resources(size_t *count);
/* Looks up by group, version and plural. */
const struct api_resource *api_resource_find(const char *group, const char *version,
					     const char *name);
const struct api_resource *api_resource_by_kind(const char *group, const char *kind);
const struct subresource *api_resource_subresource(const struct api_resource *resource,
						   const char *name);
/* "v1" or "coordination.k8s.io/v1". */
static inline const char *api_resource_api_version(const struct api_resource *resource)
{
	return resource->api_version;
}

/* The verbs every stored resource supports. */
extern const char *const api_resource_verbs[];

static inline const char *const *api_resource_verbs_of(const struct api_resource *resource)
{
	return resource->verbs ? resource->verbs : api_resource_verbs;
}
