/* The rtnetlink requests the pod network is made of, each one round trip on a libnl socket:
 * find a link, add an IPv4 address, put a route. The socket's network namespace decides where
 * they act (netlink.h). Addresses are in host byte order. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <netlink/netlink.h>
#include <netlink/route/route.h>

#include "lib/error.h"
#include "lib/ipv4_cidr.h"

/* The routes ckube puts (routes to other nodes' pods) carry this protocol number, so that they
 * are told apart from everyone else's and collected after a crash. */
#define RTPROT_CKUBE 77

struct link_facts {
	int index;
	bool is_bridge;
	bool up;
	int mtu;
};

/* -ENODEV when there is no link of that name. */
int link_find(struct nl_sock *sock, const char *name, struct link_facts *out, struct ck_error *err);
/* Brings the link up (a no-op when it is), as a port of the bridge `master` unless that is 0. */
int link_set_up(struct nl_sock *sock, int ifindex, int master, struct ck_error *err);
/* Hairpin mode on the bridge port `ifindex`: the bridge may send a frame back out the port it
 * came in on. */
int bridge_port_set_hairpin(struct nl_sock *sock, int ifindex, struct ck_error *err);
/* Adds address/prefix (with its broadcast address) to the link; an address already there is
 * fine. */
int ipv4_address_add(struct nl_sock *sock, int ifindex, uint32_t address, unsigned prefix,
		     struct ck_error *err);
/* The destination of a main-table IPv4 route from a route dump; false for any other route. */
bool route_ipv4_destination(struct rtnl_route *route, struct ipv4_cidr *out);
/* Creates or replaces the main table's route to `destination` through `gateway` (0: none, a
 * link route) out of `ifindex` (0: wherever the gateway is), with `protocol`. */
int ipv4_route_replace(struct nl_sock *sock, const struct ipv4_cidr *destination, uint32_t gateway,
		       int ifindex, uint8_t protocol, struct ck_error *err);
