/* The probes of a pod's containers (prober.h) tied to the pod's state: each run of a container
 * gets its liveness, readiness and startup workers; their results set the container's
 * `started` and `ready`, a failed liveness or startup probe restarts it, and each failed
 * attempt becomes an Unhealthy event. Internal to kubelet/; loop thread only. */
#pragma once

#include "kubelet/pod.h"
#include "kubelet/probe.h"

/* Where a probe (or a lifecycle hook) of the container goes: exec inside the container,
 * sockets made in the pod's network namespace. */
void pod_probe_target(struct pod_container *c, struct probe_target *out);
/* A run started (or was adopted, `adopted`: its first attempts are spread over a period). Sets
 * c->started and c->ready to where a run without results yet stands. */
void pod_probes_start(struct pod_container *c, bool adopted);
/* The run ended or is being stopped: no more attempts. */
void pod_probes_stop(struct pod_container *c);
/* The container is forgotten. */
void pod_probes_free(struct pod_container *c);
