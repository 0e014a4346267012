/* A pod's sandbox: what its containers share. The namespace files (network with loopback, IPC,
 * UTS with the pod's hostname), the pod's cgroup under its QoS class with the pod-level limits,
 * the managed /etc files, the log directory, and the pod's address and interface on the pod
 * network (or a refusal of what the node cannot give it, such as host ports). Creating it
 * again is a no-op for what exists, which is how an agent restart adopts it. */
#pragma once

#include "kubelet/pod.h"
#include "kubelet/pods.h"

int pod_sandbox_create(struct pod *pod, const struct agent_context *context, struct ck_error *err);
/* Every container must be gone. Removes the sandbox and the pod's logs. */
int pod_sandbox_remove(struct pod *pod, const struct agent_context *context, struct ck_error *err);

/* Adds the pod's interface again (attached to a bridge that was made again); same address. */
int pod_sandbox_network_again(struct pod *pod, const struct agent_context *context,
			      struct ck_error *err);
/* The pod's address: the node's for a host-network pod, NULL before its sandbox has one. */
const char *pod_sandbox_ip(const struct pod *pod, const struct agent_context *context);

/* <log-dir>/<namespace>_<name>_<uid>. Caller frees. */
char *pod_log_dir(const struct pod *pod, const struct agent_context *context);
/* The log file of the container's current run: <pod log dir>/<container>/<restart>.log.
 * Caller frees. */
char *pod_container_log_path(const struct pod_container *c, const struct agent_context *context);
/* The namespace files' directory, <pod dir>/ns. Caller frees. */
char *pod_namespaces_dir(const struct pod *pod);
