/* This node in the API: registration of its Node object, the Lease renewed every 10 s, and the
 * node status (capacity and allocatable, addresses, nodeInfo, conditions computed from the
 * machine) written when it changes and at least every 5 minutes. Runs in a thread of its own
 * with its own API connection, retrying with back-off while the API server is away, so that
 * nothing else waits for it. */
#pragma once

#include <stdbool.h>

#include "cgroup/cgroup.h"
#include "lib/error.h"
#include "lib/http_client.h"

struct node_status_config {
	struct http_client_options api;
	const char *node_name;
	const char *node_ip;
	const char *data_dir;  /* ephemeral-storage capacity and DiskPressure are measured here */
	const char *image_dir; /* imagefs (the image store), for DiskPressure too */
	const struct cgroup_root *cgroup; /* which limits the node can enforce */
	int max_pods;
	int agent_port; /* status.daemonEndpoints.kubeletEndpoint.Port, 0 when none */
};

struct node_status;

int node_status_start(const struct node_status_config *config, struct node_status **out,
		      struct ck_error *err);
void node_status_stop(struct node_status *status);
/* Asks for a status write soon (something the conditions depend on changed). Thread-safe. */
void node_status_poke(struct node_status *status);
/* Whether the Node object exists (registration succeeded once). Thread-safe. */
bool node_status_registered(struct node_status *status);
