#include "resources.h"

#include <string.h>

#include "apiserver/kinds.h"

const char *const api_resource_verbs[] = {
    "create", "delete", "deletecollection", "get", "list", "patch", "update", "watch", NULL};

static const char *const get_patch_update[] = {"get", "patch", "update", NULL};
static const char *const create_only[] = {"create", NULL};
static const char *const get_only[] = {"get", NULL};
static const char *const create_get[] = {"create", "get", NULL};
static const char *const update_only[] = {"update", NULL};

static const struct subresource pod_subresources[] = {
    {"status", "Pod", "", "v1", get_patch_update},
    {"binding", "Binding", "", "v1", create_only},
    {"log", "Pod", "", "v1", get_only},
    {"exec", "PodExecOptions", "", "v1", create_get},
    {"portforward", "PodPortForwardOptions", "", "v1", create_get},
    {"attach", "PodAttachOptions", "", "v1", create_get},
    {NULL},
};
static const struct subresource status_only[] = {
    {"status", NULL, "", "v1", get_patch_update},
    {NULL},
};
static const struct subresource namespace_subresources[] = {
    {"status", "Namespace", "", "v1", get_patch_update},
    {"finalize", "Namespace", "", "v1", update_only},
    {NULL},
};
static const struct subresource no_subresources[] = {{NULL}};

static const char *const po[] = {"po", NULL};
static const char *const svc[] = {"svc", NULL};
static const char *const ep[] = {"ep", NULL};
static const char *const no[] = {"no", NULL};
static const char *const ns[] = {"ns", NULL};
static const char *const ev[] = {"ev", NULL};
static const char *const cm[] = {"cm", NULL};

#define CORE(plural_, singular_, kind_)                                       \
	.group = "", .version = "v1", .api_version = "v1", .plural = plural_, \
	.singular = singular_, .kind = kind_

/* Resource metrics as metrics-server serves them for `kubectl top`; node agents report them
 * with PUT, which Kubernetes' read-only metrics API does not have. */
static const char *const metrics_verbs[] = {"get", "list", NULL};

#define METRICS(plural_, singular_, kind_)                                                        \
	.group = "metrics.k8s.io", .version = "v1beta1", .api_version = "metrics.k8s.io/v1beta1", \
	.plural = plural_, .singular = singular_, .kind = kind_, .subresources = no_subresources, \
	.live = true, .verbs = metrics_verbs

static const struct api_resource resources[] = {
    {CORE("namespaces", "namespace", "Namespace"), .short_names = ns,
     .subresources = namespace_subresources, .strategy = &namespace_strategy,
     .name_rule = NAME_DNS1123_LABEL},
    {CORE("pods", "pod", "Pod"), .namespaced = true, .short_names = po, .in_category_all = true,
     .subresources = pod_subresources, .strategy = &pod_strategy, .return_deleted_object = true},
    {CORE("services", "service", "Service"), .namespaced = true, .short_names = svc,
     .in_category_all = true, .subresources = status_only, .strategy = &service_strategy,
     .name_rule = NAME_DNS1035_LABEL, .return_deleted_object = true},
    {CORE("endpoints", "endpoints", "Endpoints"), .namespaced = true, .short_names = ep,
     .subresources = no_subresources, .strategy = &endpoints_strategy, .create_on_update = true},
    {CORE("nodes", "node", "Node"), .short_names = no, .subresources = status_only,
     .strategy = &node_strategy},
    {CORE("events", "event", "Event"), .namespaced = true, .short_names = ev,
     .subresources = no_subresources, .strategy = &event_strategy, .create_on_update = true},
    {CORE("configmaps", "configmap", "ConfigMap"), .namespaced = true, .short_names = cm,
     .subresources = no_subresources, .strategy = &configmap_strategy},
    {CORE("secrets", "secret", "Secret"), .namespaced = true, .subresources = no_subresources,
     .strategy = &secret_strategy},
    {.group = "coordination.k8s.io",
     .version = "v1",
     .api_version = "coordination.k8s.io/v1",
     .plural = "leases",
     .singular = "lease",
     .kind = "Lease",
     .namespaced = true,
     .subresources = no_subresources,
     .strategy = &lease_strategy,
     .create_on_update = true},
    {METRICS("pods", "podmetrics", "PodMetrics"), .namespaced = true},
    {METRICS("nodes", "nodemetrics", "NodeMetrics")},
};

#define RESOURCE_COUNT (sizeof(resources) / sizeof(resources[0]))

const struct api_resource *api_resources(size_t *count)
{
	*count = RESOURCE_COUNT;
	return resources;
}

const struct api_resource *api_resource_find(const char *group, const char *version,
					     const char *name)
{
	for (size_t i = 0; i < RESOURCE_COUNT; i++) {
		const struct api_resource *r = &resources[i];
		if (strcmp(r->group, group) == 0 && strcmp(r->version, version) == 0 &&
		    strcmp(r->plural, name) == 0)
			return r;
	}
	return NULL;
}

const struct api_resource *api_resource_by_kind(const char *group, const char *kind)
{
	for (size_t i = 0; i < RESOURCE_COUNT; i++)
		if (strcmp(resources[i].group, group) == 0 && strcmp(resources[i].kind, kind) == 0)
			return &resources[i];
	return NULL;
}

const struct subresource *api_resource_subresource(const struct api_resource *resource,
						   const char *name)
{
	for (const struct subresource *s = resource->subresources; s && s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}
