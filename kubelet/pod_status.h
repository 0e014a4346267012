/* A pod's status as the kubelet reports it, computed from the loop's view of the pod: phase,
 * conditions, IPs, start time, QoS class and each container's state, last state, readiness
 * and restart count. Pure: the caller sends it (when it changed). */
#pragma once

#include <jansson.h>

#include "kubelet/pod.h"

struct pod_status_context {
	const char *host_ip;
	const char *pod_ip; /* NULL until the pod network gives one (hostNetwork: the host's) */
	const char *now;    /* RFC 3339, for transition times of conditions that change */
};

/* The status object. `previous` (the last one computed, or the pod's status from the API)
 * keeps each condition's lastTransitionTime while its status stays the same. */
json_t *pod_status_build(const struct pod *pod, const struct pod_status_context *context,
			 const json_t *previous);

/* Kubernetes' phase for the pod: Pending, Running, Succeeded or Failed. */
const char *pod_status_phase(const struct pod *pod);
