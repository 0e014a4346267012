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

static char *copy_string(const char *text)
{
	char *copy = strdup(text ? text : "");
	if (!copy)
		abort();
	return copy;
}

static json_t *object_or_empty(json_t *value)
{
	return json_is_object(value) ? json_deep_copy(value) : json_object();
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
}

void cluster_cache_free(struct cluster_cache *cache)
{
	strmap_free(cache->pods);
	strmap_free(cache->services);
	strmap_free(cache->nodes);
	pthread_mutex_destroy(&cache->lock);
}

static int64_t quantity_or_zero(const json_t *value, bool milli)
{
	struct quantity q;
	if (!value || quantity_from_json(value, &q, NULL) < 0)
		return 0;
	return milli ? q.milli : q.value;
}

static struct cached_pod *pod_from(const json_t *obj)
{
	struct cached_pod *pod = calloc(1, sizeof(*pod));
	if (!pod)
		abort();
	pod->namespace = copy_string(json_path_string(obj, "metadata.namespace"));
	pod->name = copy_string(json_path_string(obj, "metadata.name"));
	pod->uid = copy_string(json_path_string(obj, "metadata.uid"));
	pod->labels = object_or_empty(json_path(obj, "metadata.labels"));
	pod->node_name = copy_string(json_path_string(obj, "spec.nodeName"));
	pod->ip = copy_string(json_path_string(obj, "status.podIP"));
	pod->phase = copy_string(json_path_string(obj, "status.phase"));
	pod->scheduler_name = copy_string(json_path_string(obj, "spec.schedulerName"));
	const char *ready = kind_condition_status(obj, "Ready");
	pod->ready = ready && strcmp(ready, "True") == 0;
	const char *scheduled = kind_condition_status(obj, "PodScheduled");
	pod->scheduled_failed = scheduled && strcmp(scheduled, "False") == 0;
	pod->terminating = json_path(obj, "metadata.deletionTimestamp") != NULL;
	pod->node_selector = object_or_empty(json_path(obj, "spec.nodeSelector"));
	json_t *tolerations = json_path(obj, "spec.tolerations");
	pod->tolerations = json_is_array(tolerations) ? json_deep_copy(tolerations) : json_array();
	pod->container_ports = json_object();
	size_t i;
	json_t *container;
	json_array_foreach(json_path(obj, "spec.containers"), i, container)
	{
		json_t *requests = json_path(container, "resources.requests");
		pod->cpu_milli += quantity_or_zero(json_object_get(requests, "cpu"), true);
		pod->memory_bytes += quantity_or_zero(json_object_get(requests, "memory"), false);
		size_t p;
		json_t *port;
		json_array_foreach(json_object_get(container, "ports"), p, port)
		{
			const char *name = json_string_value(json_object_get(port, "name"));
			if (name && !json_object_get(pod->container_ports, name))
				json_object_set_new(
					pod->container_ports, name,
					json_pack("{s:O, s:s}", "port",
						  json_object_get(port, "containerPort"), "protocol",
						  json_string_value(json_object_get(port, "protocol")) ?: "TCP"));
		}
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
	svc->labels = object_or_empty(json_path(obj, "metadata.labels"));
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
	node->labels = object_or_empty(json_path(obj, "metadata.labels"));
	json_t *taints = json_path(obj, "spec.taints");
	node->taints = json_is_array(taints) ? json_deep_copy(taints) : json_array();
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

static void key_of(const json_t *obj, char *out, size_t len)
{
	const char *ns = json_path_string(obj, "metadata.namespace");
	const char *name = json_path_string(obj, "metadata.name");
	if (ns)
		snprintf(out, len, "%s/%s", ns, name ? name : "");
	else
		snprintf(out, len, "%s", name ? name : "");
}

void cluster_cache_apply(struct cluster_cache *cache, const struct watch_event *event)
{
	const struct api_resource *r = event->resource;
	if (r->group[0])
		return;
	struct strmap *table = NULL;
	if (!strcmp(r->plural, "pods"))
		table = cache->pods;
	else if (!strcmp(r->plural, "services"))
		table = cache->services;
	else if (!strcmp(r->plural, "nodes"))
		table = cache->nodes;
	if (!table || !event->parsed)
		return;
	char key[512];
	key_of(event->parsed, key, sizeof(key));
	if (event->type == WATCH_DELETED) {
		strmap_remove(table, key);
		return;
	}
	void *record = table == cache->pods	? (void *)pod_from(event->parsed)
		       : table == cache->services ? (void *)service_from(event->parsed)
						  : (void *)node_from(event->parsed);
	strmap_put(table, key, record);
}
