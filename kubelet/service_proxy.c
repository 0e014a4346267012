/* The agent's Service proxy: see service_proxy.h. */
#include "kubelet/service_proxy.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iptables/proxy.h"
#include "kubelet/api_watch.h"
#include "kubelet/loop.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/ipv4_cidr.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/timeutil.h"

/* How often the kernel is asked whether someone else changed the ruleset: "restored within a
 * few seconds" at the cost of one small netlink request. */
#define CHECK_INTERVAL_MS 2000
/* How long an unused load-balancing chain stays (see proxy_collect_chains). */
#define CHAIN_IDLE_MS 2000
#define RETRY_FIRST_MS 500
#define RETRY_MAX_MS 30000

struct service_proxy {
	struct proxy *proxy;
	struct loop *loop;
	pthread_t thread;
	bool running;
	struct api_watch *services_watch, *endpoints_watch;
	bool services_listed, endpoints_listed, synced_once;
	struct loop_timer *commit_timer, *retry_timer, *check_timer;
	int64_t retry_ms;
	pthread_mutex_t lock; /* guards `status` */
	json_t *status;
};

static void update_status(struct service_proxy *sp, const char *error)
{
	json_t *status = proxy_describe(sp->proxy);
	char now[TIMEUTIL_TEXT_SIZE];

	timeutil_format_rfc3339(time(NULL), now);
	json_object_set_new(status, "listed",
			    json_boolean(sp->services_listed && sp->endpoints_listed));
	json_object_set_new(status, "lastError", error ? json_string(error) : json_null());
	json_object_set_new(status, error ? "lastFailure" : "lastSync", json_string(now));
	pthread_mutex_lock(&sp->lock);
	if (sp->status) {
		/* The last success stays known next to a later failure. */
		json_t *last_sync = json_object_get(sp->status, "lastSync");

		if (error && last_sync)
			json_object_set(status, "lastSync", last_sync);
		json_decref(sp->status);
	}
	sp->status = status;
	pthread_mutex_unlock(&sp->lock);
}

json_t *service_proxy_status(struct service_proxy *sp)
{
	json_t *status;

	pthread_mutex_lock(&sp->lock);
	status = sp->status ? json_deep_copy(sp->status)
			    : json_pack("{s:b, s:n}", "listed", false, "lastError");
	pthread_mutex_unlock(&sp->lock);
	return status;
}

static void log_stats(const char *what, const struct proxy_stats *s)
{
	log_info("service proxy: %s: %zu elements added, %zu deleted; chains %zu added, %zu "
		 "rewritten, %zu deleted%s; %zu UDP flows deleted",
		 what, s->elements_added, s->elements_deleted, s->chains_added, s->chains_rewritten,
		 s->chains_deleted, s->rebuilt ? " (table made anew)" : "", s->udp_flows_deleted);
}

static void commit_now(void *ctx);

static void schedule_commit(struct service_proxy *sp)
{
	if (!sp->services_listed || !sp->endpoints_listed || sp->commit_timer || sp->retry_timer)
		return;
	/* Posted after the changes already queued: those that arrived together go in one
	 * batch. */
	sp->commit_timer = loop_timer_in(sp->loop, 0, commit_now, sp);
}

static void retry(void *ctx)
{
	struct service_proxy *sp = ctx;

	sp->retry_timer = NULL;
	commit_now(sp);
}

static void commit_now(void *ctx)
{
	struct service_proxy *sp = ctx;
	struct proxy_stats stats;
	struct ck_error err = {0};
	int64_t started = loop_now_ms();

	sp->commit_timer = NULL;
	if (proxy_commit(sp->proxy, &stats, &err) < 0) {
		log_warn("service proxy: %s (again in %lld ms)", err.message,
			 (long long)sp->retry_ms);
		update_status(sp, err.message);
		sp->retry_timer = loop_timer_in(sp->loop, sp->retry_ms, retry, sp);
		sp->retry_ms = sp->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : sp->retry_ms * 2;
		return;
	}
	sp->retry_ms = RETRY_FIRST_MS;
	if (!sp->synced_once) {
		char what[128];

		snprintf(what, sizeof(what), "table ip " PROXY_TABLE " in sync after %lld ms",
			 (long long)(loop_now_ms() - started));
		log_stats(what, &stats);
		sp->synced_once = true;
	} else if (stats.udp_flows_deleted) {
		log_info("service proxy: %zu stale UDP flows deleted", stats.udp_flows_deleted);
	}
	update_status(sp, NULL);
}

/* Someone else's commit may have touched the table: read it and repair what differs. */
static void check_kernel(void *ctx)
{
	struct service_proxy *sp = ctx;
	struct proxy_stats stats;
	struct ck_error err = {0};
	bool changed = false;
	int collected;

	sp->check_timer = loop_timer_in(sp->loop, CHECK_INTERVAL_MS, check_kernel, sp);
	if (!sp->synced_once || sp->retry_timer)
		return;
	if (proxy_kernel_changed(sp->proxy, &changed, &err) == 0 && changed) {
		if (proxy_reconcile(sp->proxy, &stats, &err) < 0) {
			log_warn("service proxy: repair the table: %s", err.message);
			update_status(sp, err.message);
			return;
		}
		if (stats.messages)
			log_stats("the ruleset was changed from outside; table repaired", &stats);
		update_status(sp, NULL);
	}
	collected = proxy_collect_chains(sp->proxy, loop_now_ms(), CHAIN_IDLE_MS, &err);
	if (collected < 0)
		log_warn("service proxy: %s", err.message);
	else if (collected > 0)
		update_status(sp, NULL);
}

static void on_services(void *ctx, const struct watch_change *change)
{
	struct service_proxy *sp = ctx;
	struct ck_error err = {0};
	int r = 0;

	switch (change->kind) {
	case WATCH_SNAPSHOT:
		r = proxy_replace_services(sp->proxy, change->objects, &err);
		sp->services_listed = true;
		break;
	case WATCH_ADDED:
	case WATCH_MODIFIED:
		r = proxy_set_service(sp->proxy, change->objects, &err);
		break;
	case WATCH_DELETED:
		proxy_delete_service(sp->proxy,
				     json_path_string(change->objects, "metadata.namespace"),
				     json_path_string(change->objects, "metadata.name"));
		break;
	}
	if (r < 0)
		log_warn("service proxy: %s: no rules for it", err.message);
	schedule_commit(sp);
}

static void on_endpoints(void *ctx, const struct watch_change *change)
{
	struct service_proxy *sp = ctx;
	struct ck_error err = {0};
	int r = 0;

	switch (change->kind) {
	case WATCH_SNAPSHOT:
		r = proxy_replace_endpoints(sp->proxy, change->objects, &err);
		sp->endpoints_listed = true;
		break;
	case WATCH_ADDED:
	case WATCH_MODIFIED:
		r = proxy_set_endpoints(sp->proxy, change->objects, &err);
		break;
	case WATCH_DELETED:
		proxy_delete_endpoints(sp->proxy,
				       json_path_string(change->objects, "metadata.namespace"),
				       json_path_string(change->objects, "metadata.name"));
		break;
	}
	if (r < 0)
		log_warn("service proxy: %s: its endpoints get no traffic", err.message);
	schedule_commit(sp);
}

static void *run(void *arg)
{
	struct service_proxy *sp = arg;

	loop_run(sp->loop);
	return NULL;
}

/* Without br_netfilter (or with bridge-nf-call-iptables off), the bridge forwards a pod's
 * answer to another pod on it without netfilter seeing it, so a DNAT between two such pods is
 * never undone: their Service traffic is masqueraded instead, and goes through the node. */
static bool bridged_traffic_unseen(void)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;

	if (fs_read_file("/proc/sys/net/bridge/bridge-nf-call-iptables", &text, &len, NULL) < 0)
		return true;
	return len == 0 || text[0] != '1';
}

static int parse_cidr(const char *text, const char *flag, struct ipv4_cidr *out,
		      struct ck_error *err)
{
	*out = (struct ipv4_cidr){0};
	if (!text)
		return 0;
	if (ipv4_cidr_parse(text, out, err) < 0)
		return ck_error_prefix(err, "service proxy: %s", flag);
	return 0;
}

int service_proxy_start(const struct service_proxy_config *config, struct service_proxy **out,
			struct ck_error *err)
{
	struct service_proxy *sp = calloc(1, sizeof(*sp));
	struct proxy_config proxy = {.node_name = config->node_name};
	int r;

	if (!sp)
		abort();
	pthread_mutex_init(&sp->lock, NULL);
	sp->retry_ms = RETRY_FIRST_MS;
	if ((r = parse_cidr(config->cluster_cidr, "--cluster-cidr", &proxy.cluster_cidr, err)) <
		0 ||
	    (r = parse_cidr(config->service_cidr, "--service-cidr", &proxy.service_cidr, err)) <
		0) {
		service_proxy_stop(sp);
		return r;
	}
	if (bridged_traffic_unseen()) {
		proxy.masquerade_bridge = config->bridge ? config->bridge : "ckube0";
		log_info("service proxy: netfilter does not see bridged traffic here "
			 "(net.bridge.bridge-nf-call-iptables): Service traffic between pods on %s "
			 "is masqueraded",
			 proxy.masquerade_bridge);
	}
	sp->proxy = proxy_new(&proxy);
	r = loop_new(&sp->loop, err);
	if (r < 0) {
		service_proxy_stop(sp);
		return r;
	}
	r = -pthread_create(&sp->thread, NULL, run, sp);
	if (r < 0) {
		service_proxy_stop(sp);
		return ck_error_errno(err, -r, "service proxy: start its thread");
	}
	sp->running = true;
	sp->check_timer = loop_timer_in(sp->loop, CHECK_INTERVAL_MS, check_kernel, sp);

	const struct api_watch_config services = {.api = config->api,
						  .resource = "services",
						  .node_name = config->node_name,
						  .loop = sp->loop,
						  .on_change = on_services,
						  .ctx = sp};
	const struct api_watch_config endpoints = {.api = config->api,
						   .resource = "endpoints",
						   .node_name = config->node_name,
						   .loop = sp->loop,
						   .on_change = on_endpoints,
						   .ctx = sp};
	r = api_watch_start(&services, &sp->services_watch, err);
	if (r == 0)
		r = api_watch_start(&endpoints, &sp->endpoints_watch, err);
	if (r < 0) {
		service_proxy_stop(sp);
		return r;
	}
	*out = sp;
	return 0;
}

void service_proxy_stop(struct service_proxy *sp)
{
	if (!sp)
		return;
	api_watch_stop(sp->services_watch);
	api_watch_stop(sp->endpoints_watch);
	if (sp->running) {
		loop_quit(sp->loop);
		pthread_join(sp->thread, NULL);
	}
	/* The table stays: Services keep working while no agent runs, and the next one
	 * reconciles it. */
	loop_free(sp->loop);
	proxy_free(sp->proxy);
	json_decref(sp->status);
	pthread_mutex_destroy(&sp->lock);
	free(sp);
}
