/* What `ckube server` runs beside the API server, handed in by the composition in cmd/: this
 * node's agent. apiserver/ never includes node code; it only says where the API is. */
#pragma once

#include <stddef.h>

#include "lib/error.h"

struct server_node_launch {
	const char *url;                 /* "http://127.0.0.1:6443", or https beyond loopback */
	const char *token;               /* the join token (needed over https) */
	const char *ca_pem;              /* the cluster CA over https, else NULL */
	const char *node_name, *node_ip; /* NULL: the agent's defaults */
	const char *data_dir, *run_dir, *log_dir, *config_dir, *cgroup_root;
	int node_port;            /* the agent's endpoint for logs; 0: its default */
	const char *cluster_cidr; /* every node's pods, for the pod network's masquerade */
	const char *service_cidr; /* ClusterIPs, for the Service proxy */
};

struct server_node_role {
	int (*start)(const struct server_node_launch *launch, void **handle, struct ck_error *err);
	void (*stop)(void *handle);
};

/* `ckube server ARGS`, with the node role unless --no-agent (or `node` is NULL). */
int server_run(int argc, char **argv, const struct server_node_role *node);
