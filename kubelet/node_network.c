/* The node's pod network in the agent: see node_network.h. */
#include "kubelet/node_network.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/strmap.h"
#include "netns/pod_network.h"

/* What the pod network needs of a Node: where its pods are and how to reach it. */
struct node_entry {
	char *pod_cidr;    /* NULL until the API server gave it one */
	char *internal_ip; /* NULL when it reports none */
};

struct node_network {
	struct node_network_config config;
	char *state_dir, *pods_dir; /* owned copies behind config's pointers */
	struct strmap *nodes;       /* name -> struct node_entry */
	struct pod_network *pods;
	char *not_ready;           /* why pods cannot get addresses; NULL once they can */
	char *open_error;          /* the last failure to set the network up, logged once */
	struct node_route *routes; /* as last put */
	size_t route_count;
};

static void free_entry(void *value)
{
	struct node_entry *entry = value;

	free(entry->pod_cidr);
	free(entry->internal_ip);
	free(entry);
}

struct node_network *node_network_new(const struct node_network_config *config)
{
	struct node_network *network = calloc(1, sizeof(*network));
	char why[256];

	if (!network)
		abort();
	network->config = *config;
	network->config.state_dir = network->state_dir = strdup(config->state_dir);
	network->config.pods_dir = network->pods_dir = strdup(config->pods_dir);
	network->nodes = strmap_new(free_entry);
	snprintf(why, sizeof(why), "network is not ready: node %s has no pod CIDR yet",
		 config->node_name);
	network->not_ready = strdup(why);
	return network;
}

void node_network_free(struct node_network *network)
{
	if (!network)
		return;
	pod_network_close(network->pods);
	strmap_free(network->nodes);
	free(network->not_ready);
	free(network->open_error);
	free(network->routes);
	free(network->state_dir);
	free(network->pods_dir);
	free(network);
}

const char *node_network_not_ready(const struct node_network *network)
{
	return network->not_ready;
}

static const char *internal_ip(const json_t *node)
{
	const json_t *addresses = json_path(node, "status.addresses");
	size_t i;
	json_t *address;

	json_array_foreach (addresses, i, address) {
		const char *type = json_string_value(json_object_get(address, "type"));
		if (type && strcmp(type, "InternalIP") == 0)
			return json_string_value(json_object_get(address, "address"));
	}
	return NULL;
}

static void put_node(struct node_network *network, const json_t *node)
{
	const char *name = json_path_string(node, "metadata.name");
	const char *cidr = json_path_string(node, "spec.podCIDR");
	const char *ip = internal_ip(node);
	struct node_entry *entry;

	if (!name)
		return;
	entry = calloc(1, sizeof(*entry));
	if (!entry)
		abort();
	entry->pod_cidr = cidr ? strdup(cidr) : NULL;
	entry->internal_ip = ip ? strdup(ip) : NULL;
	strmap_put(network->nodes, name, entry);
}

/* A pod is still there while its sandbox directory is: the sandbox goes last. */
static bool pod_exists(const char *uid, void *ctx)
{
	const struct node_network *network = ctx;
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", network->config.pods_dir, uid);
	return stat(path, &st) == 0;
}

static void set_up(struct node_network *network, const char *pod_cidr)
{
	const struct pod_network_config config = {.bridge = network->config.bridge,
						  .pod_cidr = pod_cidr,
						  .cluster_cidr = network->config.cluster_cidr,
						  .node_ip = network->config.node_ip,
						  .mtu = network->config.mtu,
						  .state_dir = network->config.state_dir};
	struct ck_error err = {0};
	int released;
	char why[1200];

	if (pod_network_open(&config, &network->pods, &err) < 0) {
		if (!network->open_error || strcmp(network->open_error, err.message) != 0)
			log_error("node %s: %s", network->config.node_name, err.message);
		free(network->open_error);
		network->open_error = strdup(err.message);
		snprintf(why, sizeof(why), "network is not ready: %s", err.message);
		free(network->not_ready);
		network->not_ready = strdup(why);
		return;
	}
	free(network->not_ready);
	network->not_ready = NULL;
	released = pod_network_collect(network->pods, pod_exists, network, &err);
	if (released < 0)
		log_warn("node %s: collect pod addresses: %s", network->config.node_name,
			 err.message);
	else if (released > 0)
		log_info("node %s: released %d addresses of pods that are gone",
			 network->config.node_name, released);
	log_info("node %s: pod network %s ready", network->config.node_name, pod_cidr);
	network->config.on_ready(network->config.ctx);
}

static int compare_routes(const void *a, const void *b)
{
	const struct node_route *x = a, *y = b;

	if (x->destination.network != y->destination.network)
		return x->destination.network < y->destination.network ? -1 : 1;
	return x->destination.prefix < y->destination.prefix
		   ? -1
		   : x->destination.prefix > y->destination.prefix;
}

/* The other nodes that can be routed to. Names point into the node table. */
static size_t wanted_routes(struct node_network *network, struct node_route **out)
{
	const struct ipv4_cidr *own = pod_network_cidr(network->pods);
	struct node_route *routes = calloc(strmap_size(network->nodes) + 2, sizeof(*routes));
	struct node_entry *entry;
	const char *name;
	size_t count = 0;

	if (!routes)
		abort();
	STRMAP_FOREACH (network->nodes, it, name, entry) {
		struct node_route *route = &routes[count];
		if (strcmp(name, network->config.node_name) == 0 || !entry->pod_cidr ||
		    !entry->internal_ip ||
		    ipv4_cidr_parse(entry->pod_cidr, &route->destination, NULL) < 0 ||
		    ipv4_address_parse(entry->internal_ip, &route->address, NULL) < 0)
			continue;
		if (ipv4_cidr_overlaps(&route->destination, own)) {
			log_warn(
			    "node %s: node %s's pod CIDR %s overlaps this node's: no route to it",
			    network->config.node_name, name, entry->pod_cidr);
			continue;
		}
		route->node = name;
		count++;
	}
	if (network->config.service_cidr &&
	    ipv4_cidr_parse(network->config.service_cidr, &routes[count].destination, NULL) == 0) {
		routes[count].node = "the Service CIDR";
		routes[count++].address = 0;
	}
	qsort(routes, count, sizeof(*routes), compare_routes);
	*out = routes;
	return count;
}

static bool same_routes(const struct node_route *a, size_t a_count, const struct node_route *b,
			size_t b_count)
{
	if (a_count != b_count)
		return false;
	for (size_t i = 0; i < a_count; i++)
		if (compare_routes(&a[i], &b[i]) != 0 || a[i].address != b[i].address)
			return false;
	return true;
}

static void update_routes(struct node_network *network)
{
	struct node_route *routes;
	size_t count = wanted_routes(network, &routes);
	struct ck_error err = {0};

	if (network->routes && same_routes(routes, count, network->routes, network->route_count)) {
		free(routes);
		return;
	}
	free(network->routes);
	network->routes = NULL;
	if (pod_network_set_routes(network->pods, routes, count, &err) < 0) {
		/* Not kept: the next change of the nodes tries again. */
		log_warn("node %s: routes to other nodes' pods and Services: %s",
			 network->config.node_name, err.message);
		free(routes);
		return;
	}
	log_info("node %s: %zu routes to other nodes' pods and Services", network->config.node_name,
		 count);
	/* Their names point into the node table, which changes: only addresses are compared. */
	network->routes = routes;
	network->route_count = count;
}

void node_network_on_nodes(void *ctx, const struct watch_change *change)
{
	struct node_network *network = ctx;
	const struct node_entry *own;
	size_t i;
	json_t *node;

	switch (change->kind) {
	case WATCH_SNAPSHOT:
		strmap_free(network->nodes);
		network->nodes = strmap_new(free_entry);
		json_array_foreach (change->objects, i, node)
			put_node(network, node);
		break;
	case WATCH_ADDED:
	case WATCH_MODIFIED:
		put_node(network, change->objects);
		break;
	case WATCH_DELETED:
		if (json_path_string(change->objects, "metadata.name"))
			strmap_remove(network->nodes,
				      json_path_string(change->objects, "metadata.name"));
		break;
	}
	own = strmap_get(network->nodes, network->config.node_name);
	if (!network->pods && own && own->pod_cidr)
		set_up(network, own->pod_cidr);
	if (network->pods)
		update_routes(network);
}

int node_network_add_pod(struct node_network *network, const char *uid, int netns_fd,
			 uint32_t *address, struct ck_error *err)
{
	bool bridge_remade = false;
	int r;

	if (network->not_ready)
		return ck_error_set(err, EAGAIN, "%s", network->not_ready);
	r = pod_network_add(network->pods, uid, netns_fd, address, &bridge_remade, err);
	if (bridge_remade) {
		log_warn("node %s: the pods' bridge was gone: made again, pods attached again",
			 network->config.node_name);
		network->config.on_ready(network->config.ctx);
	}
	return r;
}

int node_network_remove_pod(struct node_network *network, const char *uid, struct ck_error *err)
{
	/* Not set up in this run: an address from an earlier run is collected at set-up. */
	if (!network->pods)
		return 0;
	return pod_network_remove(network->pods, uid, err);
}
