/* The node's bridge: every pod's veth is a port of it, and it holds the pod CIDR's gateway
 * address, so the node routes to its pods through it and pods route everything through it. */
#pragma once

#include <stdint.h>

#include <netlink/netlink.h>

#include "lib/error.h"
#include "lib/ipv4_cidr.h"
#include "netns/rtnl_requests.h"

/* Makes sure bridge `name` exists (created if missing), is up, has the gateway address
 * (`gateway`/prefix of `pod_cidr`) and forwards. `existing` is what link_find found of that
 * name, NULL when nothing: a link that is not a bridge is -EEXIST with that said. Returns its
 * index in *ifindex. */
int bridge_ensure(struct nl_sock *node, const char *name, const struct link_facts *existing,
		  const struct ipv4_cidr *pod_cidr, uint32_t gateway, int mtu, int *ifindex,
		  struct ck_error *err);
