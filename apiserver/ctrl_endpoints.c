/* The endpoints controller: every Service with a selector gets an Endpoints object of the same
 * name listing the IPs of the pods it selects, ready ones under `addresses`, others under
 * `notReadyAddresses`, with each Service port resolved against the pod (named target ports
 * may differ per pod, so pods are grouped by the ports they resolve to). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/controllers.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/labels.h"
#include "lib/log.h"

/* The Endpoints ports of `pod` for the Service's ports; NULL when a named port is missing. */
static json_t *resolve_ports(const json_t *service_ports, const struct cached_pod *pod)
{
	json_t *ports = json_array();
	size_t i;
	json_t *port;
	json_array_foreach (service_ports, i, port) {
		json_t *target = json_object_get(port, "targetPort");
		json_int_t number = json_integer_value(target);
		if (json_is_string(target)) {
			json_t *named =
			    json_object_get(pod->container_ports, json_string_value(target));
			if (!named)
				continue; /* this pod does not serve that port */
			number = json_integer_value(json_object_get(named, "port"));
		} else if (!json_is_integer(target)) {
			number = json_integer_value(json_object_get(port, "port"));
		}
		json_t *entry =
		    json_pack("{s:I, s:s}", "port", number, "protocol",
			      json_string_value(json_object_get(port, "protocol")) ?: "TCP");
		const char *name = json_string_value(json_object_get(port, "name"));
		if (name && *name)
			json_object_set_new(entry, "name", json_string(name));
		json_array_append_new(ports, entry);
	}
	return ports;
}

static int compare_ip(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a, "ip"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b, "ip"));
	return strcmp(x ? x : "", y ? y : "");
}

static void sort_addresses(json_t *subset, const char *field)
{
	json_t *list = json_object_get(subset, field);
	size_t n = json_array_size(list);
	if (n < 2)
		return;
	json_t **items = malloc(n * sizeof(*items));
	if (!items)
		return;
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(list, i));
	qsort(items, n, sizeof(*items), compare_ip);
	json_array_clear(list);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, items[i]);
	free(items);
}

/* Builds the subsets under the cache lock; NULL when the Service is gone or has no selector
 * (then *manage says whether its Endpoints are ours to delete). */
static json_t *compute_subsets(struct controllers *c, const char *key, bool *service_exists,
			       bool *managed, json_t **labels)
{
	pthread_mutex_lock(&c->cache.lock);
	struct cached_service *svc = strmap_get(c->cache.services, key);
	*service_exists = svc != NULL;
	*managed = svc && svc->selector;
	if (!*managed) {
		pthread_mutex_unlock(&c->cache.lock);
		return NULL;
	}
	*labels = json_deep_copy(svc->labels);
	/* Subsets keyed by their ports' JSON, so pods resolving alike share one subset. */
	_cleanup_json_ json_t *by_ports = json_object();
	const char *pod_key;
	struct cached_pod *pod;
	STRMAP_FOREACH (c->cache.pods, iter, pod_key, pod) {
		if (strcmp(pod->namespace, svc->namespace) != 0 || !*pod->ip || pod->terminating ||
		    !strcmp(pod->phase, "Succeeded") || !strcmp(pod->phase, "Failed") ||
		    !label_selector_matches(svc->selector, pod->labels))
			continue;
		json_t *ports = resolve_ports(svc->ports, pod);
		_cleanup_free_ char *signature = json_dump_compact(ports);
		json_t *subset = json_object_get(by_ports, signature);
		if (!subset) {
			subset = json_pack("{s:o}", "ports", ports);
			json_object_set_new(by_ports, signature, subset);
		} else {
			json_decref(ports);
		}
		const char *field = pod->ready ? "addresses" : "notReadyAddresses";
		json_t *list = json_object_get(subset, field);
		if (!list) {
			list = json_array();
			json_object_set_new(subset, field, list);
		}
		json_t *address = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "ip", pod->ip,
					    "targetRef", "kind", "Pod", "namespace", pod->namespace,
					    "name", pod->name, "uid", pod->uid);
		if (*pod->node_name)
			json_object_set_new(address, "nodeName", json_string(pod->node_name));
		json_array_append_new(list, address);
	}
	pthread_mutex_unlock(&c->cache.lock);

	json_t *subsets = json_array();
	const char *signature;
	json_t *subset;
	json_object_foreach (by_ports, signature, subset) {
		sort_addresses(subset, "addresses");
		sort_addresses(subset, "notReadyAddresses");
		if (json_array_size(json_object_get(subset, "ports")) == 0)
			json_object_del(subset, "ports");
		json_array_append(subsets, subset);
	}
	return subsets;
}

struct endpoints_update {
	json_t *subsets;
	json_t *labels;
};

static bool set_subsets(void *ctx, json_t *ep)
{
	struct endpoints_update *update = ctx;
	if (json_array_size(update->subsets))
		json_object_set(ep, "subsets", update->subsets);
	else
		json_object_del(ep, "subsets");
	if (json_object_size(update->labels))
		json_object_set(json_object_ensure(ep, "metadata"), "labels", update->labels);
	return true;
}

void endpoints_controller_sync(struct controllers *c, const char *key)
{
	const struct api_resource *endpoints = api_resource_find("", "v1", "endpoints");
	char namespace[256];
	const char *slash = strchr(key, '/');
	if (!slash || (size_t)(slash - key) >= sizeof(namespace))
		return;
	memcpy(namespace, key, (size_t)(slash - key));
	namespace[slash - key] = '\0';
	const char *name = slash + 1;

	bool exists, managed;
	_cleanup_json_ json_t *labels = NULL;
	_cleanup_json_ json_t *subsets = compute_subsets(c, key, &exists, &managed, &labels);
	struct api_status status = {0};
	if (!exists) {
		/* The Service is gone: so are its endpoints. */
		struct delete_options del = {.grace_period_seconds = 0};
		struct stored_object out = {0};
		bool gone;
		registry_delete(c->server, endpoints, namespace, name, &del, &out, &gone, &status);
		stored_object_clear(&out);
		api_status_clear(&status);
		return;
	}
	if (!managed)
		return;
	struct endpoints_update update = {subsets, labels};
	int ret = registry_mutate(c->server, endpoints, namespace, name, NULL, set_subsets, &update,
				  &status);
	if (ret == -ENOENT) {
		api_status_clear(&status);
		_cleanup_json_ json_t *ep =
		    json_pack("{s:{s:s, s:s}}", "metadata", "name", name, "namespace", namespace);
		set_subsets(&update, ep);
		struct write_options options = {.field_validation = FIELD_VALIDATION_STRICT};
		struct stored_object out = {0};
		ret = registry_create(c->server, endpoints, namespace, ep, &options, &out, &status);
		stored_object_clear(&out);
	}
	if (ret < 0 && status.code != 404)
		log_warn("endpoints %s: %s", key, status.message);
	api_status_clear(&status);
}
