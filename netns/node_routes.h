/* The node's own routes: to the other nodes' pods, host-gateway style (each node's pod CIDR
 * through that node's address, for nodes on one L2 segment), and to the Service CIDR on the
 * pods' bridge. The routes carry ckube's protocol number (RTPROT_CKUBE), so the set in the
 * kernel is exactly the wanted one after a sync: routes of nodes that are gone are deleted,
 * also those a crashed agent left. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <netlink/netlink.h>

#include "lib/error.h"
#include "lib/ipv4_cidr.h"

struct node_route {
	const char *node;             /* for messages: the node, or what the route is for */
	struct ipv4_cidr destination; /* its spec.podCIDR */
	uint32_t address;             /* its InternalIP; 0: on `device` */
};

/* Puts every wanted route (those without an address on the interface `device`) and deletes ckube's
 * others. A route that cannot be put (an address on no connected network) does not stop the rest:
 * the first such error is returned after all were tried. */
int node_routes_sync(struct nl_sock *node, const struct node_route *routes, size_t count,
		     int device, struct ck_error *err);
