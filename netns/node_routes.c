/* Routes to other nodes' pods: see node_routes.h. */
#include "netns/node_routes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <netlink/route/route.h>

#include "netns/netlink.h"
#include "netns/rtnl_requests.h"

struct collect {
	struct nl_sock *sock;
	const struct node_route *routes;
	size_t count;
	struct ck_error *err;
	int result;
};

static bool wanted(const struct collect *c, const struct ipv4_cidr *destination)
{
	for (size_t i = 0; i < c->count; i++)
		if (c->routes[i].destination.network == destination->network &&
		    c->routes[i].destination.prefix == destination->prefix)
			return true;
	return false;
}

static void delete_unwanted(struct nl_object *object, void *arg)
{
	struct rtnl_route *route = (struct rtnl_route *)object;
	struct collect *c = arg;
	struct ipv4_cidr destination;
	char text[IPV4_TEXT_MAX + 1];
	int r;

	if (rtnl_route_get_protocol(route) != RTPROT_CKUBE ||
	    !route_ipv4_destination(route, &destination) || wanted(c, &destination))
		return;
	r = rtnl_route_delete(c->sock, route, 0);
	if (r < 0 && r != -NLE_OBJ_NOTFOUND && c->result == 0)
		c->result = netlink_error(c->err, r, "delete the route to %s",
					  ipv4_cidr_format(&destination, text));
}

int node_routes_sync(struct nl_sock *node, const struct node_route *routes, size_t count,
		     int device, struct ck_error *err)
{
	struct collect c = {.sock = node, .routes = routes, .count = count, .err = err};
	struct nl_cache *cache = NULL;
	struct ck_error one;
	int r = rtnl_route_alloc_cache(node, AF_INET, 0, &cache);

	if (r < 0)
		return netlink_error(err, r, "list the node's routes");
	nl_cache_foreach(cache, delete_unwanted, &c);
	nl_cache_free(cache);
	for (size_t i = 0; i < count; i++) {
		r = ipv4_route_replace(node, &routes[i].destination, routes[i].address,
				       routes[i].address ? 0 : device, RTPROT_CKUBE, &one);
		if (r < 0 && c.result == 0) {
			*err = one;
			c.result = ck_error_prefix(err, "node %s", routes[i].node);
		}
	}
	return c.result;
}
