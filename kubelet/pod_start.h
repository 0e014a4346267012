/* Starting one container of a pod: the pod's container spec and the image's config turned into
 * the runtime's container configuration (command, environment, user, capabilities, seccomp,
 * cgroup and limits, the pod's namespaces, managed /etc files, output to the CRI log), then
 * container_start. Internal to kubelet/. */
#pragma once

#include "kubelet/pod.h"

/* Starts the container's next run (c->run). The image must be present (c->image). On failure
 * `failure` says which Kubernetes reason applies and nothing of the run is left. */
int pod_container_start(struct pod_container *c, enum container_failure *failure,
			struct ck_error *err);
