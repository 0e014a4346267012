/* The node's pod network as the agent runs it (netns/pod_network.h does the work): set up once
 * the API server has given this node its pod CIDR, addresses for the pods' sandboxes, and the
 * routes to the other nodes' pods, kept as the Node objects come, change and go. Lives in the
 * sync loop's thread; the node watch feeds it there. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kubelet/api_watch.h"
#include "lib/error.h"

struct node_network_config {
	const char *node_name;
	const char *node_ip;
	const char *bridge;       /* NULL: ckube0 */
	const char *cluster_cidr; /* pod traffic beyond it is masqueraded; NULL: none */
	/* Routed to the bridge, so that the node reaches ClusterIPs without a default route and
	 * from the bridge's address, which every pod and node can answer. NULL: no route. */
	const char *service_cidr;
	int mtu;               /* 0: the uplink's */
	const char *state_dir; /* <data-dir>/network */
	const char *pods_dir;  /* <run-dir>/pods: a pod whose directory is gone is gone */
	/* Loop thread: the network just became ready, so pods that waited for it may go on; or
	 * its bridge was made again, so the pods that have addresses must be added again (which
	 * attaches their interfaces to the new bridge). */
	void (*on_ready)(void *ctx);
	void *ctx;
};

struct node_network;

/* Copies the directories; the other strings must outlive the network (the agent's own). */
struct node_network *node_network_new(const struct node_network_config *config);
void node_network_free(struct node_network *network);

/* The node watch's callback (loop thread). */
void node_network_on_nodes(void *network, const struct watch_change *change);

/* NULL when pods can get addresses, else why not, as the pods' events say it. */
const char *node_network_not_ready(const struct node_network *network);
/* The pod's address and interface in its namespace `netns_fd` (the same address when done
 * again). */
int node_network_add_pod(struct node_network *network, const char *uid, int netns_fd,
			 uint32_t *address, struct ck_error *err);
/* Releases the pod's address; its interface went with its namespace. */
int node_network_remove_pod(struct node_network *network, const char *uid, struct ck_error *err);
