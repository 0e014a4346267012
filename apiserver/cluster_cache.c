#include "apiserver/cluster_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/kinds.h"
#include "apiserver/resources.h"
#include "apiserver/watch.h"
#include "lib/json_util.h"
#include "lib/labels.h"
#include "lib/quantity.h"

/* The tolerations the API server gives every pod (DefaultTolerationSeconds); almost every pod
 * has exactly these, so the cache keeps one copy for all of them. */
static json_t *default_tolerations;

static char *copy_string(const char *text)
{
	char *copy = strdup(text ? text : "");
	if (!copy)
		abort();
	return copy;
}

/* A copy of a non-empty object or array, NULL for an empty or missing one. */
static json_t *copy_unless_empty(const json_t *value)
{
	if (json_is_object(value) && json_object_size(value))
		return json_deep_copy(value);
	if (json_is_array(value) && json_array_size(value))
		return json_deep_copy(value);
	return NULL;
}

static void free_pod(void *p)
{
	struct cached_pod *pod = p;
	free(pod->namespace);
	free(pod->name);
	free(pod->uid);
	free(pod->node_name);
	free(pod->ip);
	free(pod->phase);
	free(pod->scheduler_name);
	json_decref(pod->labels);
	json_decref(pod->container_ports);
	json_decref(pod->node_selector);
	json_decref(pod->tolerations);
	free(pod);
}

static void free_service(void *p)
{
	struct cached_service *svc = p;
	free(svc->namespace);
	free(svc->name);
	free(svc->uid);
	label_selector_free(svc->selector);
	json_decref(svc->ports);
	json_decref(svc->labels);
	free(svc);
}

static void free_node(void *p)
{
	struct cached_node *node = p;
	free(node->name);
	json_decref(node->labels);
	json_decref(node->taints);
	free(node);
}

void cluster_cache_init(struct cluster_cache *cache)
{
	pthread_mutex_init(&cache->lock, NULL);
	cache->pods = strmap_new(free_pod);
	cache->services = strmap_new(free_service);
	cache->nodes = strmap_new(free_node);
	cache->usage = strmap_new(free);
	if (!default_tolerations)
		default_tolerations = json_pack(
		    "[{s:s, s:s, s:s, s:i}, {s:s, s:s, s:s, s:i}]", "key",
		    "node.kubernetes.io/not-ready", "operator", "Exists", "effect", "NoExecute",
		    "tolerationSeconds", 300, "key", "node.kubernetes.io/unreachable", "operator",
		    "Exists", "effect", "NoExecute", "tolerationSeconds", 300);
}

void cluster_cache_free(struct cluster_cache *cache)
{
	strmap_free(cache->pods);
	strmap_free(cache->services);
	strmap_free(cache->nodes);
	strmap_free(cache->usage);
	pthread_mutex_destroy(&cache->lock);
}

static int64_t quantity_or_zero(const json_t *value, bool milli)
{
	struct quantity q;
	if (!value || quantity_from_json(value, &q, NULL) < 0)
		return 0;
	return milli ? q.milli : q.value;
}

static void add_container_ports(struct cached_pod *pod, const json_t *container)
{
	size_t p;
	json_t *port;
	json_array_foreach (json_object_get(container, "ports"), p, port) {
		const char *name = json_string_value(json_object_get(port, "name"));
		if (!name)
			continue;
		if (!pod->container_ports)
			pod->container_ports = json_object();
		if (json_object_get(pod->container_ports, name))
			continue;
		json_object_set_new(
		    pod->container_ports, name,
		    json_pack("{s:O, s:s}", "port", json_object_get(port, "containerPort"),
			      "protocol",
			      json_string_value(json_object_get(port, "protocol")) ?: "TCP"));
	}
}

static struct cached_pod *pod_from(const json_t *obj)
{
	struct cached_pod *pod = calloc(1, sizeof(*pod));
	if (!pod)
		abort();
	pod->namespace = copy_string(json_path_string(obj, "metadata.namespace"));
	pod->name = copy_string(json_path_string(obj, "metadata.name"));
	pod->uid = copy_string(json_path_string(obj, "metadata.uid"));
	pod->labels = copy_unless_empty(json_path(obj, "metadata.labels"));
	pod->node_name = copy_string(json_path_string(obj, "spec.nodeName"));
	pod->ip = copy_string(json_path_string(obj, "status.podIP"));
	pod->phase = copy_string(json_path_string(obj, "status.phase"));
	pod->scheduler_name = copy_string(json_path_string(obj, "spec.schedulerName"));
	const char *ready = kind_condition_status(obj, "Ready");
	pod->ready = ready && strcmp(ready, "True") == 0;
	pod->terminating = json_path(obj, "metadata.deletionTimestamp") != NULL;
	pod->node_selector = copy_unless_empty(json_path(obj, "spec.nodeSelector"));
	json_t *tolerations = json_path(obj, "spec.tolerations");
	pod->tolerations = json_equal(tolerations, default_tolerations)
			       ? json_incref(default_tolerations)
			       : copy_unless_empty(tolerations);
	size_t i;
	json_t *container;
	json_array_foreach (json_path(obj, "spec.containers"), i, container) {
		json_t *requests = json_path(container, "resources.requests");
		pod->cpu_milli += quantity_or_zero(json_object_get(requests, "cpu"), true);
		pod->memory_bytes += quantity_or_zero(json_object_get(requests, "memory"), false);
		add_container_ports(pod, container);
	}
	return pod;
}

static struct cached_service *service_from(const json_t *obj)
{
	struct cached_service *svc = calloc(1, sizeof(*svc));
	if (!svc)
		abort();
	svc->namespace = copy_string(json_path_string(obj, "metadata.namespace"));
	svc->name = copy_string(json_path_string(obj, "metadata.name"));
	svc->uid = copy_string(json_path_string(obj, "metadata.uid"));
	json_t *selector = json_path(obj, "spec.selector");
	if (json_is_object(selector) && json_object_size(selector))
		label_selector_from_map(selector, &svc->selector, NULL);
	svc->labels = copy_unless_empty(json_path(obj, "metadata.labels"));
	json_t *ports = json_path(obj, "spec.ports");
	svc->ports = json_is_array(ports) ? json_deep_copy(ports) : json_array();
	return svc;
}

static struct cached_node *node_from(const json_t *obj)
{
	struct cached_node *node = calloc(1, sizeof(*node));
	if (!node)
		abort();
	node->name = copy_string(json_path_string(obj, "metadata.name"));
	node->labels = copy_unless_empty(json_path(obj, "metadata.labels"));
	node->taints = copy_unless_empty(json_path(obj, "spec.taints"));
	node->unschedulable = json_is_true(json_path(obj, "spec.unschedulable"));
	const char *ready = kind_condition_status(obj, "Ready");
	node->ready = ready && strcmp(ready, "True") == 0;
	json_t *allocatable = json_path(obj, "status.allocatable");
	if (!allocatable)
		allocatable = json_path(obj, "status.capacity");
	node->cpu_milli = quantity_or_zero(json_object_get(allocatable, "cpu"), true);
	node->memory_bytes = quantity_or_zero(json_object_get(allocatable, "memory"), false);
	node->pods = quantity_or_zero(json_object_get(allocatable, "pods"), false);
	return node;
}

/* Whether the scheduler would judge the node differently (not: a new heartbeat). */
static bool node_changed_for_scheduling(const struct cached_node *a, const struct cached_node *b)
{
	return !a || !b || a->ready != b->ready || a->unschedulable != b->unschedulable ||
	       a->cpu_milli != b->cpu_milli || a->memory_bytes != b->memory_bytes ||
	       a->pods != b->pods || !json_equal(a->labels, b->labels) ||
	       !json_equal(a->taints, b->taints);
}

/* A pod takes room on its node while it is bound and not finished. */
static bool takes_room(const struct cached_pod *pod)
{
	return pod && *pod->node_name && strcmp(pod->phase, "Succeeded") != 0 &&
	       strcmp(pod->phase, "Failed") != 0;
}

static void count_usage(struct cluster_cache *cache, const struct cached_pod *pod, int sign)
{
	if (!takes_room(pod))
		return;
	struct node_usage *usage = strmap_get(cache->usage, pod->node_name);
	if (!usage) {
		usage = calloc(1, sizeof(*usage));
		if (!usage)
			abort();
		strmap_put(cache->usage, pod->node_name, usage);
	}
	usage->cpu_milli += sign * pod->cpu_milli;
	usage->memory_bytes += sign * pod->memory_bytes;
	usage->pods += sign;
}

static bool apply_pod(struct cluster_cache *cache, const char *key, const struct watch_event *event)
{
	struct cached_pod *old = strmap_get(cache->pods, key);
	bool freed = takes_room(old);
	count_usage(cache, old, -1);
	if (event->type == WATCH_DELETED) {
		strmap_remove(cache->pods, key);
		return freed;
	}
	struct cached_pod *pod = pod_from(event->parsed);
	count_usage(cache, pod, +1);
	freed = freed && !takes_room(pod);
	strmap_put(cache->pods, key, pod);
	return freed;
}

static bool apply_node(struct cluster_cache *cache, const char *key,
		       const struct watch_event *event)
{
	if (event->type == WATCH_DELETED)
		return strmap_remove(cache->nodes, key);
	struct cached_node *node = node_from(event->parsed);
	bool changed = node_changed_for_scheduling(strmap_get(cache->nodes, key), node);
	strmap_put(cache->nodes, key, node);
	return changed;
}

bool cluster_cache_apply(struct cluster_cache *cache, const struct watch_event *event)
{
	const struct api_resource *r = event->resource;
	if (r->group[0] || !event->parsed)
		return false;
	char key[512];
	const char *ns = json_path_string(event->parsed, "metadata.namespace");
	const char *name = json_path_string(event->parsed, "metadata.name") ?: "";
	snprintf(key, sizeof(key), "%s%s%s", ns ? ns : "", ns ? "/" : "", name);
	if (!strcmp(r->plural, "pods"))
		return apply_pod(cache, key, event);
	if (!strcmp(r->plural, "nodes"))
		return apply_node(cache, key, event);
	if (!strcmp(r->plural, "services")) {
		if (event->type == WATCH_DELETED)
			strmap_remove(cache->services, key);
		else
			strmap_put(cache->services, key, service_from(event->parsed));
	}
	return false;
}
