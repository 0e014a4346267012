/* A node's pod network: see pod_network.h. */
#include "netns/pod_network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/route/route.h>

#include "lib/cleanup.h"
#include "netns/bridge.h"
#include "netns/forwarding.h"
#include "netns/ipam.h"
#include "netns/masquerade.h"
#include "netns/netlink.h"
#include "netns/pod_interface.h"
#include "netns/rtnl_requests.h"
#include "netns/uplink.h"

struct pod_network {
	char *bridge;
	struct ipv4_cidr cidr;
	uint32_t gateway;
	int mtu;
	int bridge_ifindex;
	struct nl_sock *node; /* a route socket in the node's namespace */
	struct ipam *ipam;
};

static int check_uplink(const struct pod_network_config *config, struct uplink *uplink, bool *have,
			struct ck_error *err)
{
	uint32_t address;
	int r;

	*have = false;
	if (!config->node_ip)
		return 0;
	r = ipv4_address_parse(config->node_ip, &address, err);
	/* A node on loopback alone (one machine, nothing to reach) has no uplink to look at. */
	if (r < 0 || (address >> 24) == 127)
		return r < 0 ? ck_error_prefix(err, "node IP") : 0;
	r = uplink_find(config->node_ip, uplink, err);
	*have = r == 0;
	return r;
}

/* Routes the node has to part of the pod CIDR through something else than the bridge mean the
 * CIDR is in use on the node's network: pods would be unreachable, or hide real hosts. */
struct overlap_search {
	const struct ipv4_cidr *cidr;
	int bridge_ifindex;
	char found[IPV4_TEXT_MAX + 1];
	char device[IF_NAMESIZE];
};

static void find_overlap(struct nl_object *object, void *arg)
{
	struct rtnl_route *route = (struct rtnl_route *)object;
	struct overlap_search *search = arg;
	struct rtnl_nexthop *hop = rtnl_route_nexthop_n(route, 0);
	struct ipv4_cidr destination;

	/* The default route overlaps everything and says nothing about the pod CIDR. */
	if (search->found[0] || !route_ipv4_destination(route, &destination) ||
	    destination.prefix == 0)
		return;
	if (hop && rtnl_route_nh_get_ifindex(hop) == search->bridge_ifindex)
		return;
	if (!ipv4_cidr_overlaps(&destination, search->cidr))
		return;
	ipv4_cidr_format(&destination, search->found);
	if (!hop || !if_indextoname((unsigned)rtnl_route_nh_get_ifindex(hop), search->device))
		snprintf(search->device, sizeof(search->device), "a gateway");
}

static int refuse_overlap(struct pod_network *network, int bridge_ifindex, struct ck_error *err)
{
	struct overlap_search search = {.cidr = &network->cidr, .bridge_ifindex = bridge_ifindex};
	struct nl_cache *cache = NULL;
	char text[IPV4_TEXT_MAX + 1];
	int r;

	r = rtnl_route_alloc_cache(network->node, AF_INET, 0, &cache);
	if (r < 0)
		return netlink_error(err, r, "list the node's routes");
	nl_cache_foreach(cache, find_overlap, &search);
	nl_cache_free(cache);
	if (search.found[0])
		return ck_error_set(
		    err, EADDRINUSE, "pod CIDR %s overlaps the node's route to %s through %s",
		    ipv4_cidr_format(&network->cidr, text), search.found, search.device);
	return 0;
}

/* The cluster CIDR must hold the pod CIDR, or some pod traffic inside the cluster would be
 * masqueraded. */
static int check_cluster_cidr(const struct pod_network_config *config, const struct ipv4_cidr *pods,
			      struct ipv4_cidr *cluster, struct ck_error *err)
{
	int r = ipv4_cidr_parse(config->cluster_cidr, cluster, err);

	if (r == 0 &&
	    (cluster->prefix > pods->prefix || !ipv4_cidr_contains(cluster, pods->network)))
		r = ck_error_set(err, EINVAL, "cluster CIDR %s does not hold the pod CIDR %s",
				 config->cluster_cidr, config->pod_cidr);
	return r;
}

/* The bridge as it is now (-ENODEV: none yet). */
static int find_bridge(const struct pod_network *network, struct link_facts *facts, bool *exists,
		       struct ck_error *err)
{
	int r = link_find(network->node, network->bridge, facts, err);

	*exists = r == 0;
	return r == -ENODEV ? 0 : r;
}

/* Everything is checked before anything is changed: bad configuration leaves the node as it
 * was. */
static int set_up_node(struct pod_network *network, const struct pod_network_config *config,
		       struct ck_error *err)
{
	struct ipv4_cidr cluster;
	struct link_facts bridge;
	struct uplink uplink;
	bool have_uplink, have_bridge;
	int r = check_uplink(config, &uplink, &have_uplink, err);

	if (r == 0 && config->cluster_cidr)
		r = check_cluster_cidr(config, &network->cidr, &cluster, err);
	if (r < 0)
		return r;
	network->mtu = config->mtu > 0 ? config->mtu
		       : have_uplink   ? uplink.mtu
				       : POD_NETWORK_DEFAULT_MTU;
	r = find_bridge(network, &bridge, &have_bridge, err);
	if (r == 0)
		r = refuse_overlap(network, have_bridge ? bridge.index : -1, err);
	if (r == 0)
		r = bridge_ensure(network->node, network->bridge, have_bridge ? &bridge : NULL,
				  &network->cidr, network->gateway, network->mtu,
				  &network->bridge_ifindex, err);
	if (r == 0 && have_uplink)
		r = ipv4_forwarding_enable(uplink.name, err);
	if (r == 0 && config->cluster_cidr)
		r = pod_masquerade_apply(&network->cidr, &cluster, err);
	return r;
}

int pod_network_open(const struct pod_network_config *config, struct pod_network **out,
		     struct ck_error *err)
{
	struct pod_network *network = calloc(1, sizeof(*network));
	_cleanup_free_ char *ipam_dir = NULL;
	int r;

	if (!network)
		abort();
	network->bridge = strdup(config->bridge ? config->bridge : POD_NETWORK_DEFAULT_BRIDGE);
	if (asprintf(&ipam_dir, "%s/ipam", config->state_dir) < 0)
		abort();
	r = ipv4_cidr_parse(config->pod_cidr, &network->cidr, err);
	if (r == 0)
		r = ipam_open(ipam_dir, config->pod_cidr, &network->ipam, err);
	if (r == 0) {
		network->gateway = ipam_gateway(network->ipam);
		r = route_socket_open(-1, &network->node, err);
	}
	if (r == 0)
		r = set_up_node(network, config, err);
	if (r < 0) {
		pod_network_close(network);
		return ck_error_prefix(err, "pod network %s", config->pod_cidr);
	}
	*out = network;
	return 0;
}

void pod_network_close(struct pod_network *network)
{
	if (!network)
		return;
	ipam_close(network->ipam);
	if (network->node)
		nl_socket_free(network->node);
	free(network->bridge);
	free(network);
}

const struct ipv4_cidr *pod_network_cidr(const struct pod_network *network)
{
	return &network->cidr;
}

static int add_interface(struct pod_network *network, const char *id, int netns_fd,
			 uint32_t address, struct ck_error *err)
{
	const struct pod_interface_request request = {.id = id,
						      .netns_fd = netns_fd,
						      .bridge_ifindex = network->bridge_ifindex,
						      .mtu = network->mtu,
						      .address = address,
						      .prefix = network->cidr.prefix,
						      .gateway = network->gateway};

	return pod_interface_add(network->node, &request, err);
}

int pod_network_add(struct pod_network *network, const char *id, int netns_fd, uint32_t *address,
		    bool *bridge_remade, struct ck_error *err)
{
	int previous_bridge = network->bridge_ifindex;
	int r = ipam_allocate(network->ipam, id, address, err);

	*bridge_remade = false;
	if (r < 0)
		return r;
	r = add_interface(network, id, netns_fd, *address, err);
	/* Without its bridge the veth cannot be made: someone removed it. Make it again once. */
	if (r < 0) {
		struct ck_error first = *err;
		struct link_facts bridge;
		bool have_bridge;
		if (find_bridge(network, &bridge, &have_bridge, err) < 0 ||
		    bridge_ensure(network->node, network->bridge, have_bridge ? &bridge : NULL,
				  &network->cidr, network->gateway, network->mtu,
				  &network->bridge_ifindex, err) < 0 ||
		    network->bridge_ifindex == previous_bridge) {
			*err = first;
			return r;
		}
		*bridge_remade = true;
		r = add_interface(network, id, netns_fd, *address, err);
	}
	return r;
}

int pod_network_remove(struct pod_network *network, const char *id, struct ck_error *err)
{
	return ipam_release(network->ipam, id, err);
}

int pod_network_collect(struct pod_network *network, bool (*keep)(const char *id, void *ctx),
			void *ctx, struct ck_error *err)
{
	return ipam_release_unless(network->ipam, keep, ctx, err);
}

int pod_network_set_routes(struct pod_network *network, const struct node_route *routes,
			   size_t count, struct ck_error *err)
{
	return node_routes_sync(network->node, routes, count, network->bridge_ifindex, err);
}
