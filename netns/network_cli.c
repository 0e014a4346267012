/* `ckube network add|del`: one pod network namespace wired or unwired by hand, the same way the
 * agent wires its pods. For operators who want to see a pod's network without a pod, and for
 * timing the network alone (bench/network.sh). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "lib/cleanup.h"
#include "lib/strconv.h"
#include "netns/ipam.h"
#include "netns/netns_file.h"
#include "netns/pod_network.h"

struct network_args {
	const char *netns, *id, *pod_cidr, *cluster_cidr, *bridge, *node_ip, *data_dir;
	int mtu;
};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: ckube network add --netns PATH --id ID --pod-cidr CIDR [flags]\n"
	    "       ckube network del --netns PATH --id ID --pod-cidr CIDR [--data-dir DIR]\n\n"
	    "add: pins a new network namespace at PATH unless one is there, gives it eth0 (a\n"
	    "veth whose other end is a port of the bridge), an address of CIDR for ID and a\n"
	    "default route through the bridge; prints the address. Acts in the calling\n"
	    "process's network namespace, as the agent does in the node's.\n"
	    "del: releases ID's address and unpins PATH (the kernel removes the veth).\n\n"
	    "  --bridge NAME         the bridge (default %s; made if missing)\n"
	    "  --cluster-cidr CIDR   masquerade pod traffic to anywhere outside it\n"
	    "  --node-ip IP          the uplink (MTU, forwarding)\n"
	    "  --mtu N               (default: the uplink's, else %d)\n"
	    "  --data-dir DIR        address allocations in DIR/network (default /var/lib/ckube)\n",
	    POD_NETWORK_DEFAULT_BRIDGE, POD_NETWORK_DEFAULT_MTU);
}

static int parse(int argc, char **argv, struct network_args *args)
{
	enum {
		OPT_NETNS = 256,
		OPT_ID,
		OPT_POD_CIDR,
		OPT_CLUSTER_CIDR,
		OPT_BRIDGE,
		OPT_NODE_IP,
		OPT_MTU,
		OPT_DATA_DIR
	};
	static const struct option options[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"netns", required_argument, NULL, OPT_NETNS},
	    {"id", required_argument, NULL, OPT_ID},
	    {"pod-cidr", required_argument, NULL, OPT_POD_CIDR},
	    {"cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR},
	    {"bridge", required_argument, NULL, OPT_BRIDGE},
	    {"node-ip", required_argument, NULL, OPT_NODE_IP},
	    {"mtu", required_argument, NULL, OPT_MTU},
	    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
	    {0},
	};
	int c;

	*args = (struct network_args){.data_dir = "/var/lib/ckube"};
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_NETNS:
			args->netns = optarg;
			break;
		case OPT_ID:
			args->id = optarg;
			break;
		case OPT_POD_CIDR:
			args->pod_cidr = optarg;
			break;
		case OPT_CLUSTER_CIDR:
			args->cluster_cidr = optarg;
			break;
		case OPT_BRIDGE:
			args->bridge = optarg;
			break;
		case OPT_NODE_IP:
			args->node_ip = optarg;
			break;
		case OPT_MTU: {
			int64_t mtu;
			if (strconv_parse_int(optarg, 68, 65535, &mtu, NULL) < 0) {
				fprintf(stderr, "ckube network: --mtu %s: want 68 to 65535\n",
					optarg);
				return -1;
			}
			args->mtu = (int)mtu;
			break;
		}
		case OPT_DATA_DIR:
			args->data_dir = optarg;
			break;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!args->netns || !args->id || !args->pod_cidr || optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static int add(const struct network_args *args, const char *state_dir, struct ck_error *err)
{
	const struct pod_network_config config = {.bridge = args->bridge,
						  .pod_cidr = args->pod_cidr,
						  .cluster_cidr = args->cluster_cidr,
						  .node_ip = args->node_ip,
						  .mtu = args->mtu,
						  .state_dir = state_dir};
	struct pod_network *network = NULL;
	_cleanup_close_ int netns_fd = -1;
	char text[IPV4_TEXT_MAX + 1];
	uint32_t address;
	bool bridge_remade, created = access(args->netns, F_OK) != 0;
	int r = pod_network_open(&config, &network, err);

	if (r < 0)
		return r;
	netns_fd = netns_file_open_or_create(args->netns, err);
	r = netns_fd < 0
		? netns_fd
		: pod_network_add(network, args->id, netns_fd, &address, &bridge_remade, err);
	if (r == 0) {
		printf("%s/%u\n", ipv4_address_format(address, text),
		       pod_network_cidr(network)->prefix);
	} else {
		/* A failed add leaves nothing: no address held, no namespace it made. */
		pod_network_remove(network, args->id, NULL);
		if (created)
			netns_file_remove(args->netns, NULL);
	}
	pod_network_close(network);
	return r;
}

static int del(const struct network_args *args, const char *state_dir, struct ck_error *err)
{
	_cleanup_free_ char *ipam_dir = NULL;
	struct ipam *ipam = NULL;
	int r;

	/* Only the allocator and the pin: nothing of the node's side needs to be looked at. */
	if (asprintf(&ipam_dir, "%s/ipam", state_dir) < 0)
		abort();
	r = ipam_open(ipam_dir, args->pod_cidr, &ipam, err);
	if (r == 0)
		r = ipam_release(ipam, args->id, err);
	ipam_close(ipam);
	if (r == 0)
		r = netns_file_remove(args->netns, err);
	return r;
}

int network_main(int argc, char **argv)
{
	struct network_args args;
	struct ck_error err = {0};
	_cleanup_free_ char *state_dir = NULL;
	const char *verb = argc > 1 ? argv[1] : "";
	int r;

	if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if ((strcmp(verb, "add") != 0 && strcmp(verb, "del") != 0) ||
	    parse(argc - 1, argv + 1, &args) < 0) {
		if (strcmp(verb, "add") != 0 && strcmp(verb, "del") != 0)
			usage(stderr);
		return 2;
	}
	if (asprintf(&state_dir, "%s/network", args.data_dir) < 0)
		abort();
	r = strcmp(verb, "add") == 0 ? add(&args, state_dir, &err) : del(&args, state_dir, &err);
	if (r < 0) {
		fprintf(stderr, "ckube network %s %s: %s\n", verb, args.id, err.message);
		return 1;
	}
	return 0;
}
