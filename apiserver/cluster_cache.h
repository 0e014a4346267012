/* What the controllers and the scheduler need to know about pods, services and nodes, kept
 * up to date from the watch hub in compact form, so that reacting to one change never means
 * re-reading every pod. It also keeps what the pods bound to each node request, updated as
 * pods come and go, so that the scheduler never has to add it up. */
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
	char *node_name; /* "" when unbound */
	char *ip;        /* "" when none */
	char *phase;
	char *scheduler_name;
	/* NULL when empty. Default tolerations are one shared instance, not a copy per pod. */
	json_t *labels;          /* object of strings */
	json_t *container_ports; /* {"http": {"port": 8080, "protocol": "TCP"}} by port name */
	json_t *node_selector;   /* object of strings */
	json_t *tolerations;     /* array */
	int64_t cpu_milli;       /* sum of the containers' requests */
	int64_t memory_bytes;
	bool ready;       /* the Ready condition is True */
	bool terminating; /* has a deletionTimestamp */
};

struct cached_service {
	char *namespace, *name, *uid;
	/* NULL when the Service has no selector: its endpoints are managed by hand. */
	struct label_selector *selector;
	json_t *ports;  /* spec.ports */
	json_t *labels; /* copied onto the Endpoints; NULL when none */
};

struct cached_node {
	char *name;
	json_t *labels; /* NULL when none */
	json_t *taints; /* NULL when none */
	bool unschedulable;
	bool ready;
	int64_t cpu_milli, memory_bytes, pods; /* allocatable */
};

/* What the pods bound to one node take, counted while they are not finished. */
struct node_usage {
	int64_t cpu_milli, memory_bytes, pods;
};

/* Tables by "namespace/name" (nodes and usage by node name). Used under `lock`. */
struct cluster_cache {
	pthread_mutex_t lock;
	struct strmap *pods;     /* of struct cached_pod */
	struct strmap *services; /* of struct cached_service */
	struct strmap *nodes;    /* of struct cached_node */
	struct strmap *usage;    /* of struct node_usage, also for nodes not (yet) known */
};

void cluster_cache_init(struct cluster_cache *cache);
void cluster_cache_free(struct cluster_cache *cache);
/* Applies one change; call with the lock held. Returns true when the change can make a
 * waiting pod schedulable: a node appeared or changed in what the scheduler looks at, or a
 * bound pod stopped taking room. */
bool cluster_cache_apply(struct cluster_cache *cache, const struct watch_event *event);
