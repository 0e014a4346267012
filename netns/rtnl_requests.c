/* One rtnetlink request each: see rtnl_requests.h. */
#include "netns/rtnl_requests.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/route.h>

#include "netns/netlink.h"

static struct nl_addr *ipv4_nl_addr(uint32_t address, unsigned prefix)
{
	const uint32_t network_order = htonl(address);
	struct nl_addr *out = nl_addr_build(AF_INET, &network_order, sizeof(network_order));

	if (!out)
		abort();
	nl_addr_set_prefixlen(out, (int)prefix);
	return out;
}

int link_find(struct nl_sock *sock, const char *name, struct link_facts *out, struct ck_error *err)
{
	struct rtnl_link *link = NULL;
	int r = rtnl_link_get_kernel(sock, 0, name, &link);

	if (r < 0) {
		/* The kernel's "no such device" reaches libnl as a missing object. */
		if (r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND)
			return ck_error_set(err, ENODEV, "link %s: no such link", name);
		return netlink_error(err, r, "link %s: look up", name);
	}
	*out = (struct link_facts){.index = rtnl_link_get_ifindex(link),
				   .is_bridge = rtnl_link_is_bridge(link),
				   .up = (rtnl_link_get_flags(link) & IFF_UP) != 0,
				   .mtu = (int)rtnl_link_get_mtu(link)};
	rtnl_link_put(link);
	return 0;
}

int link_set_up(struct nl_sock *sock, int ifindex, int master, struct ck_error *err)
{
	struct rtnl_link *link = rtnl_link_alloc(), *change = rtnl_link_alloc();
	int r;

	if (!link || !change)
		abort();
	rtnl_link_set_ifindex(link, ifindex);
	rtnl_link_set_flags(change, IFF_UP);
	if (master)
		rtnl_link_set_master(change, master);
	r = rtnl_link_change(sock, link, change, 0);
	rtnl_link_put(link);
	rtnl_link_put(change);
	return r < 0 ? netlink_error(err, r, "bring link %d up", ifindex) : 0;
}

int bridge_port_set_hairpin(struct nl_sock *sock, int ifindex, struct ck_error *err)
{
	struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE, .ifi_index = ifindex};
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_SETLINK, 0);
	struct nlattr *protinfo;
	int r;

	/* libnl has no setter for bridge port flags; the request is small enough to build. */
	if (!msg || nlmsg_append(msg, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0 ||
	    !(protinfo = nla_nest_start(msg, IFLA_PROTINFO | NLA_F_NESTED)) ||
	    nla_put_u8(msg, IFLA_BRPORT_MODE, 1) < 0)
		abort();
	nla_nest_end(msg, protinfo);
	r = nl_send_sync(sock, msg);
	return r < 0 ? netlink_error(err, r, "hairpin mode on bridge port %d", ifindex) : 0;
}

int ipv4_address_add(struct nl_sock *sock, int ifindex, uint32_t address, unsigned prefix,
		     struct ck_error *err)
{
	const struct ipv4_cidr block = {.network = address, .prefix = prefix};
	struct rtnl_addr *request = rtnl_addr_alloc();
	struct nl_addr *local = ipv4_nl_addr(address, prefix);
	struct nl_addr *broadcast = ipv4_nl_addr(ipv4_cidr_last(&block), 32);
	char text[IPV4_TEXT_MAX + 1];
	int r;

	if (!request)
		abort();
	rtnl_addr_set_ifindex(request, ifindex);
	rtnl_addr_set_family(request, AF_INET);
	rtnl_addr_set_local(request, local);
	if (prefix < 31)
		rtnl_addr_set_broadcast(request, broadcast);
	r = rtnl_addr_add(sock, request, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_addr_put(request);
	nl_addr_put(local);
	nl_addr_put(broadcast);
	if (r < 0 && r != -NLE_EXIST)
		return netlink_error(err, r, "add address %s/%u",
				     ipv4_address_format(address, text), prefix);
	return 0;
}

bool route_ipv4_destination(struct rtnl_route *route, struct ipv4_cidr *out)
{
	struct nl_addr *dst = rtnl_route_get_dst(route);

	if (rtnl_route_get_table(route) != RT_TABLE_MAIN || !dst ||
	    nl_addr_get_family(dst) != AF_INET)
		return false;
	*out = (struct ipv4_cidr){.prefix = (unsigned)nl_addr_get_prefixlen(dst)};
	/* The default route's destination has no address bytes. */
	if (nl_addr_get_len(dst) == 4)
		out->network = ntohl(*(const uint32_t *)nl_addr_get_binary_addr(dst));
	return true;
}

int ipv4_route_replace(struct nl_sock *sock, const struct ipv4_cidr *destination, uint32_t gateway,
		       int ifindex, uint8_t protocol, struct ck_error *err)
{
	struct rtnl_route *route = rtnl_route_alloc();
	struct rtnl_nexthop *hop = rtnl_route_nh_alloc();
	struct nl_addr *dst = ipv4_nl_addr(destination->network, destination->prefix);
	char text[IPV4_TEXT_MAX + 1], via[IPV4_TEXT_MAX + 1];
	int r;

	if (!route || !hop)
		abort();
	rtnl_route_set_family(route, AF_INET);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	rtnl_route_set_protocol(route, protocol);
	rtnl_route_set_scope(route, gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	rtnl_route_set_dst(route, dst);
	if (gateway) {
		struct nl_addr *gw = ipv4_nl_addr(gateway, 32);
		rtnl_route_nh_set_gateway(hop, gw);
		nl_addr_put(gw);
	}
	if (ifindex)
		rtnl_route_nh_set_ifindex(hop, ifindex);
	rtnl_route_add_nexthop(route, hop);
	r = rtnl_route_add(sock, route, NLM_F_CREATE | NLM_F_REPLACE);
	rtnl_route_put(route);
	nl_addr_put(dst);
	/* The kernel's ENETUNREACH (a gateway on no connected network) has no libnl code. */
	if (r == -NLE_FAILURE && gateway)
		return ck_error_set(
		    err, ENETUNREACH, "route %s via %s: %s is on no connected network",
		    ipv4_cidr_format(destination, text), ipv4_address_format(gateway, via), via);
	if (r < 0)
		return netlink_error(err, r, "route %s via %s", ipv4_cidr_format(destination, text),
				     gateway ? ipv4_address_format(gateway, via) : "the link");
	return 0;
}
