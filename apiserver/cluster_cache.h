/* What the controllers and the scheduler need to know about pods, services and nodes, kept
 * up to date from the watch hub in compact form (a few hundred bytes per pod instead of the
 * whole object), so that reacting to one change never means re-reading every pod. */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/strmap.h"

struct watch_event;
struct label_selector;

struct cached_pod {
	char *namespace, *name, *uid;
	json_t *labels;          /* object of strings, never NULL */
	json_t *container_ports; /* {"http": {"port": 8080, "protocol": "TCP"}} by port name */
	char *node_name;         /* "" when unbound */
	char *ip;                /* "" when none */
	char *phase;
	char *scheduler_name;
	bool ready;              /* the Ready condition is True */
	bool terminating;        /* has a deletionTimestamp */
	int64_t cpu_milli;       /* sum of the containers' requests */
	int64_t memory_bytes;
	json_t *node_selector;   /* object, never NULL */
	json_t *tolerations;     /* array, never NULL */
	bool scheduled_failed;   /* PodScheduled is False (the scheduler said why) */
};

struct cached_service {
	char *namespace, *name, *uid;
	/* NULL when the Service has no selector: its endpoints are managed by hand. */
	struct label_selector *selector;
	json_t *ports;  /* spec.ports */
	json_t *labels; /* copied onto the Endpoints */
};

struct cached_node {
	char *name;
	json_t *labels;
	json_t *taints;
	bool unschedulable;
	bool ready;
	int64_t cpu_milli, memory_bytes, pods; /* allocatable */
};

/* Tables by "namespace/name" (nodes by name). Read and written under `lock`. */
struct cluster_cache {
	pthread_mutex_t lock;
	struct strmap *pods;     /* of struct cached_pod */
	struct strmap *services; /* of struct cached_service */
	struct strmap *nodes;    /* of struct cached_node */
};

void cluster_cache_init(struct cluster_cache *cache);
void cluster_cache_free(struct cluster_cache *cache);
/* Applies one change; call with the lock held. */
void cluster_cache_apply(struct cluster_cache *cache, const struct watch_event *event);
