/* The node agent: makes the API's pods real on this node and reports the truth about them.
 * `ckube agent` runs it alone; `ckube server` runs it for its own node, in the same process but
 * through the same HTTP API as any other node's agent.
 *
 * Threads: the sync loop (one epoll loop that owns every pod's state and the pod network, and
 * is fed by pidfds, timerfds and queues), the pod watch (list and watch of this node's pods),
 * the node watch (every Node: this node's pod CIDR, routes to the others), the API writer
 * (status, events, deletions, coalesced per pod), the node heartbeat (registration, lease,
 * node status), image pull workers, and the log pump. Only the sync loop changes pod state. */
#pragma once

#include <stdbool.h>

#include "lib/error.h"
#include "lib/http_client.h"
#include "runtime/cli.h"

struct agent_config {
	struct http_client_options api; /* how to reach the API server */
	const char *node_name;          /* default: the hostname */
	const char *node_ip;            /* default: the default route's address */
	struct runtime_dirs dirs;       /* data, run, config directories and the cgroup root */
	const char *log_dir;            /* /var/log/pods */
	const char *manifests_dir;      /* static pods: <config-dir>/manifests */
	int max_pods;                   /* 110 */
	const char *status_socket;      /* <run-dir>/ckube.sock */
	int node_port; /* the node endpoint (kubectl logs, node_server.h): 10250; -1: none */
	struct {
		const char *bridge;       /* NULL: ckube0 */
		const char *cluster_cidr; /* pod traffic beyond it is masqueraded; NULL: none */
		const char *service_cidr; /* ClusterIPs: the proxy's, routed to the bridge */
		int mtu;                  /* 0: the uplink's */
	} network;
};

struct agent;

/* Starts the agent's threads and returns; the agent keeps trying to reach the API server in the
 * background. What it cannot do at all (no cgroup2 mount, unwritable directories) fails here. */
int agent_start(const struct agent_config *config, struct agent **out, struct ck_error *err);
/* Stops the threads. Containers keep running: a new agent adopts them. */
void agent_stop(struct agent *agent);

/* Fills the defaults of whatever the caller left NULL or 0. */
int agent_config_defaults(struct agent_config *config, struct ck_error *err);
