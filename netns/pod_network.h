/* A node's pod network: the bridge with the pod CIDR's gateway address, forwarding on the
 * bridge and the uplink, the masquerade of pod traffic leaving the cluster, the address
 * allocator, and each pod's interface. Everything acts in the caller's network namespace (the
 * node's) and in the pods' namespaces it is given. Not thread-safe: one owner (the agent's sync
 * loop, or one CLI command). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "lib/ipv4_cidr.h"
#include "netns/node_routes.h"

#define POD_NETWORK_DEFAULT_BRIDGE "ckube0"
#define POD_NETWORK_DEFAULT_MTU 1500

struct pod_network_config {
	const char *bridge;       /* NULL: ckube0 */
	const char *pod_cidr;     /* this node's spec.podCIDR */
	const char *cluster_cidr; /* every node's pods; NULL: no masquerade */
	const char *node_ip;      /* its interface is the uplink; NULL or loopback: none */
	int mtu;                  /* 0: the uplink's, else 1500 */
	const char *state_dir;    /* the allocator's files go in <state_dir>/ipam */
};

struct pod_network;

/* Sets up the node's side (bridge, forwarding, masquerade) and opens the allocator. A pod CIDR
 * that overlaps an address the node already routes elsewhere is refused. */
int pod_network_open(const struct pod_network_config *config, struct pod_network **out,
		     struct ck_error *err);
void pod_network_close(struct pod_network *network);

const struct ipv4_cidr *pod_network_cidr(const struct pod_network *network);

/* Gives pod `id` (its uid) an address and its interface in the namespace `netns_fd`; done
 * again for a pod that has them, it changes nothing and returns the same address. The bridge
 * is made again if someone removed it; *bridge_remade then says so (the other pods' interfaces
 * lost their bridge with it and need pod_network_add again). */
int pod_network_add(struct pod_network *network, const char *id, int netns_fd, uint32_t *address,
		    bool *bridge_remade, struct ck_error *err);
/* Releases the pod's address. Its interface goes with its network namespace. */
int pod_network_remove(struct pod_network *network, const char *id, struct ck_error *err);
/* Releases the addresses of pods that `keep` says are gone (leftovers of a crash). */
int pod_network_collect(struct pod_network *network, bool (*keep)(const char *id, void *ctx),
			void *ctx, struct ck_error *err);
/* Makes the node's routes exactly `routes`: to other nodes' pods through their addresses, and
 * those without an address (the Service CIDR) on the bridge. */
int pod_network_set_routes(struct pod_network *network, const struct node_route *routes,
			   size_t count, struct ck_error *err);
