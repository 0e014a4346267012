/* Routes to the other nodes' pods, host-gateway style: each node's pod CIDR through that
 * node's address, for nodes on one L2 segment. The routes carry ckube's protocol number
 * (RTPROT_CKUBE), so the set in the kernel is exactly the wanted one after a sync: routes of
 * nodes that are gone are deleted, also those a crashed agent left. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <netlink/netlink.h>

#include "lib/error.h"
#include "netns/ipv4_cidr.h"

struct node_route {
	const char *node;      /* for messages */
	struct ipv4_cidr pods; /* its spec.podCIDR */
	uint32_t address;      /* its InternalIP */
};

/* Puts every wanted route and deletes ckube's others. A route that cannot be put (an address
 * on no connected network) does not stop the rest: the first such error is returned after all
 * were tried. */
int node_routes_sync(struct nl_sock *node, const struct node_route *routes, size_t count,
		     struct ck_error *err);
