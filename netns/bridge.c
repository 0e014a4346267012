/* The node's bridge: see bridge.h. */
#include "netns/bridge.h"

#include <errno.h>
#include <net/if.h>
#include <stdlib.h>

#include <netlink/route/link.h>

#include "netns/forwarding.h"
#include "netns/netlink.h"
#include "netns/rtnl_requests.h"

/* A bridge takes the lowest MAC address of its ports unless it was given one, so every pod
 * that comes or goes could change the gateway's MAC under the other pods' ARP caches. A fixed,
 * locally administered address derived from the pod CIDR avoids that and stays the same
 * across agent restarts. */
static struct nl_addr *bridge_mac(const struct ipv4_cidr *pod_cidr)
{
	const unsigned char mac[6] = {0x02,
				      0xcb,
				      (unsigned char)(pod_cidr->network >> 24),
				      (unsigned char)(pod_cidr->network >> 16),
				      (unsigned char)(pod_cidr->network >> 8),
				      (unsigned char)pod_cidr->prefix};
	struct nl_addr *addr = nl_addr_build(AF_LLC, mac, sizeof(mac));

	if (!addr)
		abort();
	return addr;
}

static int create_bridge(struct nl_sock *node, const char *name, const struct ipv4_cidr *pod_cidr,
			 int mtu, struct ck_error *err)
{
	struct rtnl_link *link = rtnl_link_alloc();
	struct nl_addr *mac = bridge_mac(pod_cidr);
	int r;

	if (!link)
		abort();
	rtnl_link_set_type(link, "bridge");
	rtnl_link_set_name(link, name);
	rtnl_link_set_addr(link, mac);
	rtnl_link_set_mtu(link, (unsigned)mtu);
	rtnl_link_set_flags(link, IFF_UP);
	r = rtnl_link_add(node, link, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(link);
	nl_addr_put(mac);
	/* Another process (a CLI beside the agent) may have made it in the meantime. */
	if (r < 0 && r != -NLE_EXIST)
		return netlink_error(err, r, "create it");
	return 0;
}

int bridge_ensure(struct nl_sock *node, const char *name, const struct link_facts *existing,
		  const struct ipv4_cidr *pod_cidr, uint32_t gateway, int mtu, int *ifindex,
		  struct ck_error *err)
{
	struct link_facts facts = existing ? *existing : (struct link_facts){0};
	int r = 0;

	if (!existing) {
		r = create_bridge(node, name, pod_cidr, mtu, err);
		if (r == 0)
			r = link_find(node, name, &facts, err);
	} else if (!facts.is_bridge) {
		r = ck_error_set(err, EEXIST, "the link exists and is not a bridge");
	} else if (!facts.up) {
		/* Someone took it down; pods would lose the node. */
		r = link_set_up(node, facts.index, 0, err);
	}
	if (r == 0)
		r = ipv4_address_add(node, facts.index, gateway, pod_cidr->prefix, err);
	if (r == 0)
		r = ipv4_forwarding_enable(name, err);
	if (r < 0)
		return ck_error_prefix(err, "bridge %s", name);
	*ifindex = facts.index;
	return 0;
}
