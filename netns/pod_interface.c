/* A pod's veth pair, address and default route: see pod_interface.h. */
#include "netns/pod_interface.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

#include "netns/netlink.h"
#include "netns/rtnl_requests.h"

#define POD_INTERFACE "eth0"

void pod_interface_node_name(const char *id, uint64_t netns_inode, char out[IF_NAMESIZE])
{
	/* FNV-1a: stable across runs and versions, which the name must be to be found again. */
	uint64_t hash = 0xcbf29ce484222325ULL;

	for (const char *c = id; *c; c++)
		hash = (hash ^ (unsigned char)*c) * 0x100000001b3ULL;
	for (int shift = 0; shift < 64; shift += 8)
		hash = (hash ^ ((netns_inode >> shift) & 0xff)) * 0x100000001b3ULL;
	/* FNV's last bytes barely reach its top bits: mix them in (MurmurHash3's finalizer). */
	hash ^= hash >> 33;
	hash *= 0xff51afd7ed558ccdULL;
	hash ^= hash >> 33;
	snprintf(out, IF_NAMESIZE, "ck%012llx", (unsigned long long)(hash >> 16));
}

/* The pair exists (an agent restart, or the bridge was made again and lost its ports): make
 * sure it is a port of the bridge and up. */
static int attach_existing(struct nl_sock *node, const struct pod_interface_request *request,
			   const char *node_name, struct ck_error *err)
{
	struct link_facts facts;
	int r = link_find(node, node_name, &facts, err);

	if (r == 0)
		r = link_set_up(node, facts.index, request->bridge_ifindex, err);
	if (r == 0)
		r = bridge_port_set_hairpin(node, facts.index, err);
	return r < 0 ? ck_error_prefix(err, "attach veth %s to the bridge", node_name) : 0;
}

/* With br_netfilter (bridge-nf-call-iptables on), a pod's packet to its own Service is DNATed
 * while it is bridged, and the bridge sends it back out the port it came in on: only a port in
 * hairpin mode lets it go (the CNI bridge plugin's hairpinMode). */
static int allow_hairpin(struct nl_sock *node, const char *node_name, struct ck_error *err)
{
	struct link_facts facts;
	int r = link_find(node, node_name, &facts, err);

	if (r == 0)
		r = bridge_port_set_hairpin(node, facts.index, err);
	return r;
}

static int create_pair(struct nl_sock *node, const struct pod_interface_request *request,
		       const char *node_name, struct ck_error *err)
{
	struct rtnl_link *veth = rtnl_link_veth_alloc(), *peer;
	int r;

	if (!veth)
		abort();
	rtnl_link_set_name(veth, node_name);
	rtnl_link_set_master(veth, request->bridge_ifindex);
	rtnl_link_set_mtu(veth, (unsigned)request->mtu);
	rtnl_link_set_flags(veth, IFF_UP);
	peer = rtnl_link_veth_get_peer(veth);
	rtnl_link_set_name(peer, POD_INTERFACE);
	rtnl_link_set_mtu(peer, (unsigned)request->mtu);
	/* Not up yet: the kernel brings a new veth's peer up before it knows its other end, and
	 * fails with ENOTCONN. The node end comes up after both exist. */
	rtnl_link_set_ns_fd(peer, request->netns_fd);
	rtnl_link_put(peer);
	r = rtnl_link_add(node, veth, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_veth_release(veth);
	if (r == -NLE_EXIST)
		return ck_error_set(err, EEXIST, "veth %s exists", node_name);
	return r < 0 ? netlink_error(err, r, "create veth %s with %s in the pod", node_name,
				     POD_INTERFACE)
		     : 0;
}

static int configure_pod_end(const struct pod_interface_request *request, struct ck_error *err)
{
	_cleanup_route_socket_ struct nl_sock *pod = NULL;
	const struct ipv4_cidr everywhere = {0};
	struct link_facts eth0;
	int r = route_socket_open(request->netns_fd, &pod, err);

	if (r == 0)
		r = link_find(pod, POD_INTERFACE, &eth0, err);
	if (r == 0)
		r = link_set_up(pod, eth0.index, 0, err);
	if (r == 0)
		r = ipv4_address_add(pod, eth0.index, request->address, request->prefix, err);
	if (r == 0)
		r = ipv4_route_replace(pod, &everywhere, request->gateway, eth0.index, RTPROT_BOOT,
				       err);
	return r < 0 ? ck_error_prefix(err, "in the pod") : 0;
}

int pod_interface_add(struct nl_sock *node, const struct pod_interface_request *request,
		      struct ck_error *err)
{
	char node_name[IF_NAMESIZE];
	struct stat netns;
	int r;

	if (fstat(request->netns_fd, &netns) < 0)
		return ck_error_errno(err, errno, "the pod's network namespace");
	pod_interface_node_name(request->id, (uint64_t)netns.st_ino, node_name);
	r = create_pair(node, request, node_name, err);
	if (r == -EEXIST) {
		/* The same id and namespace: the pod's own pair from an earlier run. */
		r = configure_pod_end(request, err);
		return r < 0 ? r : attach_existing(node, request, node_name, err);
	}
	if (r == 0)
		r = allow_hairpin(node, node_name, err);
	if (r == 0)
		r = configure_pod_end(request, err);
	return r;
}
