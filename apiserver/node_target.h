/* What the pod subresources that a node serves (node_proxy.c: log; node_exec_proxy.c: exec and
 * attach) look up alike, as kube-apiserver's pod.LogLocation and streamLocation do: the
 * container a request means, and where the pod's node's agent listens. */
#pragma once

#include <jansson.h>

struct api_call;
struct api_status;

/* The pod the call names, from the store (404 when there is none); -1 with `status` filled. */
int node_target_pod(const struct api_call *call, json_t **pod, struct api_status *status);

/* The container: `*name` when given, which must be one of the pod's containers, init or
 * ephemeral containers (else 400 "container c is not valid for pod p"); else the only
 * container (else 400 "a container name must be specified for pod p, choose one of: [a b]"). */
int node_target_container(const struct api_call *call, const json_t *pod, const char **name,
			  struct api_status *status);

/* The node's agent endpoint: the Node's InternalIP (else its first address) as `*host` (an IP
 * literal, malloc'd) and status.daemonEndpoints.kubeletEndpoint.Port; 503 when the Node lacks
 * either, worded with `what` ("pod logs", "exec"). */
int node_target_endpoint(const struct api_call *call, const char *node_name, const char *what,
			 char **host, int *port, struct api_status *status);
