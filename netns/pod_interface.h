/* A pod's interface: a veth pair whose pod end is made directly inside the pod's network
 * namespace as eth0 (moving a link between namespaces costs 13 to 46 ms on this kind of
 * machine, making it there costs nothing extra), whose node end is a port of the bridge, both
 * up at creation; then the pod's address and its default route through the gateway. Removing
 * the pod's namespace removes the pair: there is no delete here. */
#pragma once

#include <net/if.h>
#include <stdint.h>

#include <netlink/netlink.h>

#include "lib/error.h"

struct pod_interface_request {
	const char *id;     /* the pod's uid: names the node end */
	int netns_fd;       /* the pod's network namespace */
	int bridge_ifindex; /* in the node's namespace */
	int mtu;
	uint32_t address; /* host order */
	unsigned prefix;
	uint32_t gateway;
};

/* `node` is a route socket in the node's namespace. Running it again for a pod that has its
 * interface (an agent restart) changes nothing. -ENODEV or -EINVAL when the bridge is gone. */
int pod_interface_add(struct nl_sock *node, const struct pod_interface_request *request,
		      struct ck_error *err);

/* The node end's name: "ck" and 12 hex digits of a hash of the id and the namespace's inode,
 * the same on every run for as long as the namespace lives. The namespace counts because the
 * kernel removes the pair of a namespace that was let go only a moment later: a new namespace
 * for the same id must not find that name taken. */
void pod_interface_node_name(const char *id, uint64_t netns_inode, char out[IF_NAMESIZE]);
