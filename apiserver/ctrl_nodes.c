/* Node lifecycle: a node whose kubelet has not renewed its Lease (nor posted status) for the
 * grace period becomes Ready=Unknown with the unreachable taints, and the pods on it stop
 * being ready, so Services stop sending them traffic; when the kubelet comes back, the taints
 * go. Pods bound to a node that no longer exists are deleted once they have been orphans for
 * the same grace period (like the pod garbage collector). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver/controllers.h"
#include "apiserver/kinds.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/timeutil.h"

static const char *const unreachable_taint = "node.kubernetes.io/unreachable";

static time_t parse_time(const char *text)
{
	struct timespec ts;
	if (!text || timeutil_parse_rfc3339(text, &ts, NULL) < 0)
		return 0;
	return ts.tv_sec;
}

/* The last sign of life of a node: its Lease renewal, its Ready heartbeat, or its creation. */
static time_t last_heard(struct controllers *c, const json_t *node)
{
	const char *name = json_path_string(node, "metadata.name");
	time_t last = parse_time(json_path_string(node, "metadata.creationTimestamp"));
	json_t *ready = kind_find_by(json_path(node, "status.conditions"), "type", "Ready");
	time_t heartbeat =
	    parse_time(json_string_value(json_object_get(ready, "lastHeartbeatTime")));
	if (heartbeat > last)
		last = heartbeat;
	const struct api_resource *leases =
	    api_resource_find("coordination.k8s.io", "v1", "leases");
	_cleanup_free_ char *text = NULL;
	struct api_status status = {0};
	if (registry_get(c->server, leases, "kube-node-lease", name, &text, &status) == 0) {
		_cleanup_json_ json_t *lease = json_loads(text, 0, NULL);
		time_t renewed = parse_time(json_path_string(lease, "spec.renewTime"));
		if (renewed > last)
			last = renewed;
	}
	api_status_clear(&status);
	return last;
}

static bool set_conditions_unknown(void *ctx, json_t *node)
{
	const char *now = ctx;
	json_t *conditions = json_path(node, "status.conditions");
	if (!json_is_array(conditions) || json_array_size(conditions) == 0) {
		conditions = json_array();
		json_object_set_new(json_object_ensure(node, "status"), "conditions", conditions);
		json_array_append_new(conditions, json_pack("{s:s}", "type", "Ready"));
	}
	size_t i;
	json_t *condition;
	json_array_foreach (conditions, i, condition) {
		const char *status = json_string_value(json_object_get(condition, "status"));
		if (status && !strcmp(status, "Unknown"))
			continue;
		json_object_set_new(condition, "status", json_string("Unknown"));
		json_object_set_new(condition, "reason", json_string("NodeStatusUnknown"));
		json_object_set_new(condition, "message",
				    json_string("Kubelet stopped posting node status."));
		json_object_set_new(condition, "lastTransitionTime", json_string(now));
	}
	return true;
}

static bool has_taint(const json_t *taints, const char *key, const char *effect)
{
	size_t i;
	json_t *taint;
	json_array_foreach (taints, i, taint) {
		const char *k = json_string_value(json_object_get(taint, "key"));
		const char *e = json_string_value(json_object_get(taint, "effect"));
		if (k && e && !strcmp(k, key) && !strcmp(e, effect))
			return true;
	}
	return false;
}

static bool add_unreachable_taints(void *ctx, json_t *node)
{
	const char *now = ctx;
	json_t *spec = json_object_ensure(node, "spec");
	json_t *taints = json_object_get(spec, "taints");
	if (!json_is_array(taints)) {
		taints = json_array();
		json_object_set_new(spec, "taints", taints);
	}
	bool changed = false;
	static const char *const effects[] = {"NoSchedule", "NoExecute"};
	for (size_t i = 0; i < 2; i++) {
		if (has_taint(taints, unreachable_taint, effects[i]))
			continue;
		json_t *taint =
		    json_pack("{s:s, s:s}", "key", unreachable_taint, "effect", effects[i]);
		if (!strcmp(effects[i], "NoExecute"))
			json_object_set_new(taint, "timeAdded", json_string(now));
		json_array_append_new(taints, taint);
		changed = true;
	}
	return changed;
}

static bool remove_unreachable_taints(void *ctx, json_t *node)
{
	(void)ctx;
	json_t *taints = json_path(node, "spec.taints");
	bool changed = false;
	for (size_t i = json_array_size(taints); i-- > 0;) {
		const char *key =
		    json_string_value(json_object_get(json_array_get(taints, i), "key"));
		if (key && !strcmp(key, unreachable_taint)) {
			json_array_remove(taints, i);
			changed = true;
		}
	}
	return changed;
}

static bool mark_pod_not_ready(void *ctx, json_t *pod)
{
	const char *now = ctx;
	json_t *ready = kind_find_by(json_path(pod, "status.conditions"), "type", "Ready");
	const char *status = json_string_value(json_object_get(ready, "status"));
	if (!ready || (status && !strcmp(status, "False")))
		return false;
	json_object_set_new(ready, "status", json_string("False"));
	json_object_set_new(ready, "reason", json_string("NodeLost"));
	json_object_set_new(ready, "lastTransitionTime", json_string(now));
	return true;
}

struct node_snapshot {
	json_t *nodes;        /* names */
	json_t *pods_by_node; /* node -> [[namespace, name], ...] */
	json_t *orphans;      /* [[namespace, name, node]] */
};

static void snapshot(struct controllers *c, struct node_snapshot *snap)
{
	snap->nodes = json_array();
	snap->pods_by_node = json_object();
	snap->orphans = json_array();
	pthread_mutex_lock(&c->cache.lock);
	const char *key;
	struct cached_node *node;
	STRMAP_FOREACH (c->cache.nodes, iter, key, node)
		json_array_append_new(snap->nodes, json_string(node->name));
	struct cached_pod *pod;
	STRMAP_FOREACH (c->cache.pods, iter2, key, pod) {
		if (!*pod->node_name)
			continue;
		if (!strmap_get(c->cache.nodes, pod->node_name)) {
			json_array_append_new(snap->orphans,
					      json_pack("[s,s,s]", pod->namespace, pod->name, key));
			continue;
		}
		json_t *list = json_object_get(snap->pods_by_node, pod->node_name);
		if (!list) {
			list = json_array();
			json_object_set_new(snap->pods_by_node, pod->node_name, list);
		}
		json_array_append_new(list, json_pack("[s,s]", pod->namespace, pod->name));
	}
	pthread_mutex_unlock(&c->cache.lock);
}

static void check_node(struct controllers *c, const char *name, const json_t *pods, time_t now,
		       const char *now_text)
{
	const struct api_resource *nodes = api_resource_find("", "v1", "nodes");
	const struct api_resource *pod_resource = api_resource_find("", "v1", "pods");
	_cleanup_free_ char *text = NULL;
	struct api_status status = {0};
	if (registry_get(c->server, nodes, NULL, name, &text, &status) < 0) {
		api_status_clear(&status);
		return;
	}
	_cleanup_json_ json_t *node = json_loads(text, 0, NULL);
	const char *ready = kind_condition_status(node, "Ready");
	bool silent = now - last_heard(c, node) > c->server->config.node_monitor_grace_seconds;
	if (silent) {
		if (!ready || strcmp(ready, "Unknown") != 0) {
			log_warn("node %s: no heartbeat for %d s, marking it Ready=Unknown", name,
				 c->server->config.node_monitor_grace_seconds);
			registry_mutate(c->server, nodes, NULL, name, "status",
					set_conditions_unknown, (void *)now_text, &status);
			api_status_clear(&status);
			controllers_record_event(
			    c, "Node", "v1", NULL, name, json_path_string(node, "metadata.uid"),
			    "Normal", "NodeNotReady",
			    "Node is not ready: its kubelet stopped posting status",
			    "node-controller");
		}
		registry_mutate(c->server, nodes, NULL, name, NULL, add_unreachable_taints,
				(void *)now_text, &status);
		api_status_clear(&status);
		size_t i;
		json_t *pod;
		json_array_foreach (pods, i, pod) {
			registry_mutate(c->server, pod_resource,
					json_string_value(json_array_get(pod, 0)),
					json_string_value(json_array_get(pod, 1)), "status",
					mark_pod_not_ready, (void *)now_text, &status);
			api_status_clear(&status);
		}
	} else if (ready && strcmp(ready, "Unknown") != 0) {
		registry_mutate(c->server, nodes, NULL, name, NULL, remove_unreachable_taints, NULL,
				&status);
		api_status_clear(&status);
	}
}

static void collect_orphans(struct controllers *c, const json_t *orphans, time_t now)
{
	const struct api_resource *pods = api_resource_find("", "v1", "pods");
	_cleanup_json_ json_t *seen = json_object();
	size_t i;
	json_t *orphan;
	json_array_foreach (orphans, i, orphan) {
		const char *key = json_string_value(json_array_get(orphan, 2));
		json_object_set_new(seen, key, json_true());
		time_t *since = strmap_get(c->orphan_since, key);
		if (!since) {
			since = malloc(sizeof(*since));
			if (!since)
				continue;
			*since = now;
			strmap_put(c->orphan_since, key, since);
			continue;
		}
		if (now - *since < c->server->config.node_monitor_grace_seconds)
			continue;
		struct delete_options del = {.grace_period_seconds = 0};
		struct stored_object out = {0};
		struct api_status status = {0};
		bool gone;
		if (registry_delete(c->server, pods, json_string_value(json_array_get(orphan, 0)),
				    json_string_value(json_array_get(orphan, 1)), &del, &out, &gone,
				    &status) == 0)
			log_info("pod %s: deleted, its node no longer exists", key);
		stored_object_clear(&out);
		api_status_clear(&status);
		strmap_remove(c->orphan_since, key);
	}
	/* Forget pods that are no longer orphans. */
	_cleanup_json_ json_t *stale = json_array();
	const char *key;
	time_t *since;
	STRMAP_FOREACH (c->orphan_since, iter, key, since)
		if (!json_object_get(seen, key))
			json_array_append_new(stale, json_string(key));
	json_t *item;
	json_array_foreach (stale, i, item)
		strmap_remove(c->orphan_since, json_string_value(item));
}

void node_lifecycle_check(struct controllers *c)
{
	struct node_snapshot snap;
	snapshot(c, &snap);
	time_t now = time(NULL);
	char now_text[TIMEUTIL_TEXT_SIZE];
	timeutil_format_rfc3339(now, now_text);
	size_t i;
	json_t *name;
	json_array_foreach (snap.nodes, i, name)
		check_node(c, json_string_value(name),
			   json_object_get(snap.pods_by_node, json_string_value(name)), now,
			   now_text);
	collect_orphans(c, snap.orphans, now);
	json_decref(snap.nodes);
	json_decref(snap.pods_by_node);
	json_decref(snap.orphans);
}
