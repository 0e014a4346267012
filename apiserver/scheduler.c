/* The scheduler: binds each pending pod to a ready node that fits it. A node fits when it is
 * Ready, schedulable, has no NoSchedule/NoExecute taint the pod does not tolerate, matches the
 * pod's nodeSelector, and has room for the pod's cpu and memory requests and one more pod
 * within its allocatable. Among the nodes that fit, the least requested one wins. When none
 * fits, the pod gets PodScheduled=False and a FailedScheduling event saying why, and waits
 * until nodes or running pods change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/controllers.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/timeutil.h"

/* Why nodes were turned down, counted per reason for the event message. */
enum misfit {
	MISFIT_NOT_READY,
	MISFIT_UNSCHEDULABLE,
	MISFIT_TAINT,
	MISFIT_SELECTOR,
	MISFIT_CPU,
	MISFIT_MEMORY,
	MISFIT_PODS,
	MISFIT_COUNT
};

static bool tolerates(const json_t *tolerations, const json_t *taint)
{
	const char *key = json_string_value(json_object_get(taint, "key"));
	const char *value = json_string_value(json_object_get(taint, "value"));
	const char *effect = json_string_value(json_object_get(taint, "effect"));
	size_t i;
	json_t *t;
	json_array_foreach (tolerations, i, t) {
		const char *t_key = json_string_value(json_object_get(t, "key"));
		const char *op = json_string_value(json_object_get(t, "operator"));
		const char *t_value = json_string_value(json_object_get(t, "value"));
		const char *t_effect = json_string_value(json_object_get(t, "effect"));
		bool exists = op && strcmp(op, "Exists") == 0;
		if (t_effect && *t_effect && effect && strcmp(t_effect, effect) != 0)
			continue;
		if (!t_key || !*t_key) {
			if (exists)
				return true; /* an empty key with Exists tolerates everything */
			continue;
		}
		if (!key || strcmp(t_key, key) != 0)
			continue;
		if (exists || !strcmp(t_value ? t_value : "", value ? value : ""))
			return true;
	}
	return false;
}

static bool taints_tolerated(const struct cached_node *node, const struct cached_pod *pod)
{
	size_t i;
	json_t *taint;
	json_array_foreach (node->taints, i, taint) {
		const char *effect = json_string_value(json_object_get(taint, "effect"));
		if (effect && strcmp(effect, "PreferNoSchedule") == 0)
			continue;
		if (!tolerates(pod->tolerations, taint))
			return false;
	}
	return true;
}

static bool selector_matches(const struct cached_node *node, const struct cached_pod *pod)
{
	const char *key;
	json_t *value;
	json_object_foreach (pod->node_selector, key, value) {
		json_t *label = json_object_get(node->labels, key);
		if (!label || !json_equal(label, value))
			return false;
	}
	return true;
}

static int check_fit(const struct cached_node *node, const struct node_usage *usage,
		     const struct cached_pod *pod)
{
	if (!node->ready)
		return MISFIT_NOT_READY;
	if (node->unschedulable)
		return MISFIT_UNSCHEDULABLE;
	if (!taints_tolerated(node, pod))
		return MISFIT_TAINT;
	if (!selector_matches(node, pod))
		return MISFIT_SELECTOR;
	if (pod->cpu_milli && usage->cpu_milli + pod->cpu_milli > node->cpu_milli)
		return MISFIT_CPU;
	if (pod->memory_bytes && usage->memory_bytes + pod->memory_bytes > node->memory_bytes)
		return MISFIT_MEMORY;
	if (node->pods && usage->pods + 1 > node->pods)
		return MISFIT_PODS;
	return -1;
}

/* Share of the node's cpu and memory left after placing the pod; higher is better. */
static double free_share(const struct cached_node *node, const struct node_usage *usage,
			 const struct cached_pod *pod)
{
	double cpu = node->cpu_milli ? 1.0 - (double)(usage->cpu_milli + pod->cpu_milli) /
						 (double)node->cpu_milli
				     : 0;
	double memory = node->memory_bytes
			    ? 1.0 - (double)(usage->memory_bytes + pod->memory_bytes) /
					(double)node->memory_bytes
			    : 0;
	return cpu + memory;
}

/* What each known node has taken, as a copy the scheduler adds its own placements to. Call
 * with the cache lock held. */
static struct strmap *usage_snapshot(struct controllers *c)
{
	struct strmap *usages = strmap_new(free);
	const char *name;
	struct cached_node *node;
	STRMAP_FOREACH (c->cache.nodes, iter, name, node) {
		struct node_usage *usage = calloc(1, sizeof(*usage));
		if (!usage)
			abort();
		const struct node_usage *known = strmap_get(c->cache.usage, name);
		if (known)
			*usage = *known;
		strmap_put(usages, name, usage);
	}
	return usages;
}

static void describe_misfits(const int counts[MISFIT_COUNT], size_t nodes, struct buf *out)
{
	static const char *const reasons[MISFIT_COUNT] = {
	    [MISFIT_NOT_READY] = "node(s) were not ready",
	    [MISFIT_UNSCHEDULABLE] = "node(s) were unschedulable",
	    [MISFIT_TAINT] = "node(s) had untolerated taint(s)",
	    [MISFIT_SELECTOR] = "node(s) didn't match Pod's node affinity/selector",
	    [MISFIT_CPU] = "Insufficient cpu",
	    [MISFIT_MEMORY] = "Insufficient memory",
	    [MISFIT_PODS] = "Too many pods",
	};
	if (nodes == 0) {
		buf_puts(out, "0/0 nodes are available: no nodes available to schedule pods.");
		return;
	}
	buf_printf(out, "0/%zu nodes are available", nodes);
	const char *sep = ": ";
	for (int r = 0; r < MISFIT_COUNT; r++) {
		if (!counts[r])
			continue;
		buf_printf(out, "%s%d %s", sep, counts[r], reasons[r]);
		sep = ", ";
	}
	buf_putc(out, '.');
}

struct unschedulable {
	const char *message;
	const char *now;
};

static bool mark_unschedulable(void *ctx, json_t *pod)
{
	struct unschedulable *why = ctx;
	if (json_path(pod, "spec.nodeName") && *json_path_string(pod, "spec.nodeName"))
		return false;
	json_t *status = json_object_ensure(pod, "status");
	json_t *conditions = json_object_get(status, "conditions");
	if (!json_is_array(conditions)) {
		conditions = json_array();
		json_object_set_new(status, "conditions", conditions);
	}
	size_t i;
	json_t *condition;
	json_array_foreach (conditions, i, condition) {
		const char *type = json_string_value(json_object_get(condition, "type"));
		if (type && !strcmp(type, "PodScheduled")) {
			const char *message =
			    json_string_value(json_object_get(condition, "message"));
			if (message && !strcmp(message, why->message))
				return false;
			json_array_remove(conditions, i);
			break;
		}
	}
	json_array_append_new(
	    conditions, json_pack("{s:s, s:s, s:n, s:s, s:s, s:s}", "type", "PodScheduled",
				  "status", "False", "lastProbeTime", "lastTransitionTime",
				  why->now, "reason", "Unschedulable", "message", why->message));
	return true;
}

/* One pod's outcome, decided under the cache lock and written after it. */
struct decision {
	char *key, *namespace, *name, *uid;
	char *node;    /* where it goes; NULL when nowhere */
	char *message; /* why nowhere */
};

static void decision_clear(struct decision *d)
{
	free(d->key);
	free(d->namespace);
	free(d->name);
	free(d->uid);
	free(d->node);
	free(d->message);
}

static char *dup_or_die(const char *text)
{
	char *copy = strdup(text);
	if (!copy)
		abort();
	return copy;
}

void scheduler_run(struct controllers *c, struct strmap *pending)
{
	const struct api_resource *pods = api_resource_find("", "v1", "pods");
	size_t capacity = strmap_size(pending), count = 0;
	struct decision *decisions = calloc(capacity, sizeof(*decisions));
	if (!decisions)
		return;

	/* Decide everything under the cache lock with usage updated as pods are placed, then
	 * write without it. */
	pthread_mutex_lock(&c->cache.lock);
	struct strmap *usages = usage_snapshot(c);
	size_t node_count = strmap_size(c->cache.nodes);
	const char *key;
	void *unused;
	STRMAP_FOREACH (pending, iter, key, unused) {
		struct cached_pod *pod = strmap_get(c->cache.pods, key);
		if (!pod || *pod->node_name || pod->terminating ||
		    strcmp(pod->scheduler_name, "default-scheduler") != 0)
			continue;
		struct decision *d = &decisions[count++];
		d->key = dup_or_die(key);
		d->namespace = dup_or_die(pod->namespace);
		d->name = dup_or_die(pod->name);
		d->uid = dup_or_die(pod->uid);
		int misfits[MISFIT_COUNT] = {0};
		const char *best = NULL;
		double best_share = -1e18;
		const char *node_name;
		struct cached_node *node;
		STRMAP_FOREACH (c->cache.nodes, node_iter, node_name, node) {
			struct node_usage *usage = strmap_get(usages, node_name);
			int misfit = check_fit(node, usage, pod);
			if (misfit >= 0) {
				misfits[misfit]++;
				continue;
			}
			double share = free_share(node, usage, pod);
			/* Ties go to the name that sorts first, so placement is repeatable. */
			if (share > best_share ||
			    (share == best_share && strcmp(node_name, best) < 0)) {
				best = node_name;
				best_share = share;
			}
		}
		if (best) {
			d->node = dup_or_die(best);
			struct node_usage *usage = strmap_get(usages, best);
			usage->cpu_milli += pod->cpu_milli;
			usage->memory_bytes += pod->memory_bytes;
			usage->pods++;
		} else {
			_cleanup_buf_ struct buf message = {0};
			describe_misfits(misfits, node_count, &message);
			d->message = buf_steal(&message);
		}
	}
	strmap_free(usages);
	pthread_mutex_unlock(&c->cache.lock);

	char now[TIMEUTIL_TEXT_SIZE];
	timeutil_format_rfc3339(time(NULL), now);
	for (size_t i = 0; i < count; i++) {
		struct decision *d = &decisions[i];
		struct api_status status = {0};
		if (d->node) {
			_cleanup_json_ json_t *binding =
			    json_pack("{s:{s:s}, s:{s:s, s:s}}", "metadata", "name", d->name,
				      "target", "kind", "Node", "name", d->node);
			if (registry_bind_pod(c->server, d->namespace, d->name, binding, &status) ==
			    0) {
				char message[700];
				snprintf(message, sizeof(message),
					 "Successfully assigned %s/%s to %s", d->namespace, d->name,
					 d->node);
				controllers_record_event(c, "Pod", "v1", d->namespace, d->name,
							 d->uid, "Normal", "Scheduled", message,
							 "default-scheduler");
			}
		} else {
			struct unschedulable why = {d->message, now};
			/* One event per new reason, not per retry. */
			int ret = registry_mutate(c->server, pods, d->namespace, d->name, "status",
						  mark_unschedulable, &why, &status);
			if (ret > 0)
				controllers_record_event(c, "Pod", "v1", d->namespace, d->name,
							 d->uid, "Warning", "FailedScheduling",
							 d->message, "default-scheduler");
			/* Wait for a change (or the periodic retry) before trying again. */
			pthread_mutex_lock(&c->lock);
			strmap_put(c->waiting_pods, d->key, (void *)1);
			if (c->next_schedule_retry <= time(NULL))
				c->next_schedule_retry = time(NULL) + UNSCHEDULABLE_FLUSH_SECONDS;
			pthread_mutex_unlock(&c->lock);
		}
		api_status_clear(&status);
		decision_clear(d);
	}
	free(decisions);
}
