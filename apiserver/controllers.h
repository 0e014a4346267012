/* The control loops inside `ckube server`: namespace lifecycle, endpoints, the scheduler, node
 * lifecycle (with orphaned-pod cleanup) and event expiry. They run in one thread, fed by the
 * watch hub through the cluster cache, and write through the registry like any client. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "apiserver/cluster_cache.h"
#include "lib/error.h"
#include "lib/strmap.h"

struct apiserver;
struct watch_event;

/* Pods no node fits are tried again when something relevant changes; this is the safety net,
 * as Kubernetes' scheduler flushes its unschedulable queue every five minutes. */
#define UNSCHEDULABLE_FLUSH_SECONDS 300

struct controllers {
	struct apiserver *server;
	struct cluster_cache cache;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock; /* guards the queues and flags below */
	pthread_cond_t wake;
	bool stopping;
	struct strmap *dirty_services;         /* "ns/name" of Services to sync endpoints for */
	struct strmap *unscheduled_pods;       /* "ns/name" of new pods to schedule now */
	struct strmap *waiting_pods;           /* pods no node fitted: retried on changes */
	struct strmap *terminating_namespaces; /* names */
	bool scheduling_inputs_changed;        /* nodes or capacity changed: retry waiting pods */
	/* Owned by the controller thread. */
	struct strmap *orphan_since;  /* "ns/name" -> time_t* first seen bound to a missing node */
	struct strmap *recent_events; /* dedup key -> event name */
	time_t next_node_check, next_event_expiry, next_namespace_retry, next_schedule_retry;
};

int controllers_start(struct apiserver *server, struct ck_error *err);
void controllers_stop(struct controllers *controllers);

/* Records a core/v1 Event about `object` (any stored object); repeated ones increase the
 * count of the first, as Kubernetes' event recorder does. Called from the controller thread. */
void controllers_record_event(struct controllers *c, const char *kind, const char *api_version,
			      const char *namespace, const char *name, const char *uid,
			      const char *type, const char *reason, const char *message,
			      const char *component);

/* The loops, one file each. */
void namespace_controller_sync(struct controllers *c, const char *name);
void endpoints_controller_sync(struct controllers *c, const char *key);
void scheduler_run(struct controllers *c, struct strmap *pending);
void node_lifecycle_check(struct controllers *c);
void event_expiry_run(struct controllers *c);
