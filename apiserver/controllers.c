#include "apiserver/controllers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver/kinds.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/server.h"
#include "apiserver/watch.h"
#include "lib/cleanup.h"
#include "lib/json_util.h"
#include "lib/labels.h"
#include "lib/log.h"

#define NODE_CHECK_SECONDS 5
#define EVENT_EXPIRY_CHECK_SECONDS 60
#define NAMESPACE_RETRY_SECONDS 1

/* A set member: the queues only care about keys. */
static void *const present = (void *)1;

static bool is_core(const struct api_resource *r, const char *plural)
{
	return !r->group[0] && strcmp(r->plural, plural) == 0;
}

static void mark_services_selecting(struct controllers *c, const char *namespace,
				    const json_t *labels)
{
	const char *key;
	struct cached_service *svc;
	STRMAP_FOREACH (c->cache.services, iter, key, svc) {
		if (svc->selector && strcmp(svc->namespace, namespace) == 0 &&
		    label_selector_matches(svc->selector, labels))
			strmap_put(c->dirty_services, key, present);
	}
}

/* Runs under the registry's write lock for every committed change: update the cache and
 * queue what must be looked at, nothing more. */
static void on_event(void *ctx, const struct watch_event *event)
{
	struct controllers *c = ctx;
	const struct api_resource *r = event->resource;
	const json_t *obj = event->parsed;
	char key[512];
	const char *ns = json_path_string(obj, "metadata.namespace");
	const char *name = json_path_string(obj, "metadata.name") ?: "";
	snprintf(key, sizeof(key), "%s%s%s", ns ? ns : "", ns ? "/" : "", name);

	pthread_mutex_lock(&c->cache.lock);
	pthread_mutex_lock(&c->lock);
	if (is_core(r, "pods")) {
		/* Services that selected the pod before the change, and those selecting it now. */
		mark_services_selecting(c, ns ? ns : "", event->prev_attrs.labels);
		mark_services_selecting(c, ns ? ns : "", event->attrs.labels);
		const char *node = json_path_string(obj, "spec.nodeName");
		bool unbound = !node || !*node;
		strmap_remove(c->unscheduled_pods, key);
		strmap_remove(c->waiting_pods, key);
		if (event->type != WATCH_DELETED && unbound &&
		    !json_path(obj, "metadata.deletionTimestamp")) {
			/* A pod the scheduler already found no node for waits for a change. */
			const char *scheduled = kind_condition_status(obj, "PodScheduled");
			bool failed = scheduled && strcmp(scheduled, "False") == 0;
			strmap_put(failed ? c->waiting_pods : c->unscheduled_pods, key, present);
		}
	} else if (is_core(r, "services")) {
		strmap_put(c->dirty_services, key, present);
	} else if (is_core(r, "namespaces") && event->type != WATCH_DELETED &&
		   json_path(obj, "metadata.deletionTimestamp")) {
		strmap_put(c->terminating_namespaces, name, present);
	}
	if (cluster_cache_apply(&c->cache, event))
		c->scheduling_inputs_changed = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&c->cache.lock);
}

/* Swaps a queue for an empty one, so its keys can be worked on without the lock. */
static struct strmap *take_queue(struct strmap **queue)
{
	struct strmap *taken = *queue;
	*queue = strmap_new(NULL);
	return taken;
}

static bool has_work(const struct controllers *c, time_t now)
{
	return strmap_size(c->dirty_services) || strmap_size(c->unscheduled_pods) ||
	       (strmap_size(c->waiting_pods) &&
		(c->scheduling_inputs_changed || now >= c->next_schedule_retry)) ||
	       (strmap_size(c->terminating_namespaces) && now >= c->next_namespace_retry) ||
	       now >= c->next_node_check || now >= c->next_event_expiry;
}

static time_t next_deadline(const struct controllers *c)
{
	time_t next = c->next_node_check;
	if (c->next_event_expiry < next)
		next = c->next_event_expiry;
	if (strmap_size(c->terminating_namespaces) && c->next_namespace_retry < next)
		next = c->next_namespace_retry;
	if (strmap_size(c->waiting_pods) && c->next_schedule_retry < next)
		next = c->next_schedule_retry;
	return next;
}

static void run_once(struct controllers *c, time_t now)
{
	/* Everything taken here is worked on without c->lock; new changes queue meanwhile. */
	struct strmap *services = take_queue(&c->dirty_services);
	struct strmap *pods = take_queue(&c->unscheduled_pods);
	if (strmap_size(c->waiting_pods) &&
	    (c->scheduling_inputs_changed || now >= c->next_schedule_retry)) {
		const char *waiting;
		void *unused_value;
		STRMAP_FOREACH (c->waiting_pods, iter, waiting, unused_value)
			strmap_put(pods, waiting, present);
		strmap_free(take_queue(&c->waiting_pods));
		c->next_schedule_retry = now + UNSCHEDULABLE_FLUSH_SECONDS;
	}
	c->scheduling_inputs_changed = false;
	struct strmap *namespaces = NULL;
	if (now >= c->next_namespace_retry && strmap_size(c->terminating_namespaces)) {
		namespaces = take_queue(&c->terminating_namespaces);
		c->next_namespace_retry = now + NAMESPACE_RETRY_SECONDS;
	}
	bool check_nodes = now >= c->next_node_check;
	if (check_nodes)
		c->next_node_check = now + NODE_CHECK_SECONDS;
	bool expire_events = now >= c->next_event_expiry;
	if (expire_events)
		c->next_event_expiry = now + EVENT_EXPIRY_CHECK_SECONDS;
	pthread_mutex_unlock(&c->lock);

	const char *key;
	void *unused;
	STRMAP_FOREACH (services, iter, key, unused)
		endpoints_controller_sync(c, key);
	strmap_free(services);
	if (strmap_size(pods))
		scheduler_run(c, pods);
	strmap_free(pods);
	if (namespaces) {
		STRMAP_FOREACH (namespaces, iter, key, unused)
			namespace_controller_sync(c, key);
		strmap_free(namespaces);
	}
	if (check_nodes)
		node_lifecycle_check(c);
	if (expire_events)
		event_expiry_run(c);

	pthread_mutex_lock(&c->lock);
}

static void *controllers_main(void *arg)
{
	struct controllers *c = arg;
	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		time_t now = time(NULL);
		if (has_work(c, now)) {
			run_once(c, now);
			continue;
		}
		struct timespec until = {.tv_sec = next_deadline(c)};
		pthread_cond_timedwait(&c->wake, &c->lock, &until);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Fills the cache from the store; runs under the write lock so no change slips between this
 * and the listener. */
struct fill_ctx {
	struct controllers *c;
	const struct api_resource *resource;
};

static int fill_one(void *ctx, const char *text, size_t len, json_t *parsed)
{
	(void)parsed;
	struct fill_ctx *fill = ctx;
	_cleanup_json_ json_t *obj = json_loadb(text, len, 0, NULL);
	if (!obj)
		return 0;
	struct watch_event event = {
	    .type = WATCH_ADDED,
	    .resource = fill->resource,
	    .parsed = obj,
	};
	struct object_attrs attrs;
	object_attrs_init(&attrs, fill->resource, obj);
	event.attrs = attrs;
	on_event(fill->c, &event);
	object_attrs_clear(&attrs);
	return 0;
}

static int fill_cache(struct controllers *c, struct ck_error *err)
{
	/* Services first, so pods already find the Services that select them. */
	static const char *const kinds[] = {"services", "nodes", "pods", "namespaces"};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct fill_ctx ctx = {c, api_resource_find("", "v1", kinds[i])};
		struct list_options options = {0};
		struct list_result result = {0};
		struct api_status status = {0};
		int ret = registry_list(c->server, ctx.resource, &options, fill_one, &ctx, &result,
					&status);
		free(result.continue_token);
		if (ret < 0) {
			ck_error_set(err, EIO, "controllers: read %s: %s", kinds[i],
				     status.message);
			api_status_clear(&status);
			return -EIO;
		}
	}
	return 0;
}

int controllers_start(struct apiserver *server, struct ck_error *err)
{
	struct controllers *c = calloc(1, sizeof(*c));
	if (!c)
		return ck_error_set(err, ENOMEM, "controllers: out of memory");
	c->server = server;
	cluster_cache_init(&c->cache);
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_REALTIME);
	pthread_cond_init(&c->wake, &attr);
	pthread_condattr_destroy(&attr);
	c->dirty_services = strmap_new(NULL);
	c->unscheduled_pods = strmap_new(NULL);
	c->waiting_pods = strmap_new(NULL);
	c->terminating_namespaces = strmap_new(NULL);
	c->orphan_since = strmap_new(free);
	c->recent_events = strmap_new(free);
	time_t now = time(NULL);
	c->next_node_check = now + NODE_CHECK_SECONDS;
	c->next_event_expiry = now + EVENT_EXPIRY_CHECK_SECONDS;
	server->controllers = c;

	pthread_mutex_lock(&server->write_lock);
	int ret = fill_cache(c, err);
	if (ret == 0)
		watch_hub_add_listener(server->hub, on_event, c);
	pthread_mutex_unlock(&server->write_lock);
	if (ret < 0)
		return ret;
	if (pthread_create(&c->thread, NULL, controllers_main, c) != 0)
		return ck_error_set(err, EAGAIN, "controllers: cannot start their thread");
	c->running = true;
	return 0;
}

void controllers_stop(struct controllers *c)
{
	if (!c)
		return;
	if (c->running) {
		pthread_mutex_lock(&c->lock);
		c->stopping = true;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	strmap_free(c->dirty_services);
	strmap_free(c->unscheduled_pods);
	strmap_free(c->waiting_pods);
	strmap_free(c->terminating_namespaces);
	strmap_free(c->orphan_since);
	strmap_free(c->recent_events);
	cluster_cache_free(&c->cache);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
