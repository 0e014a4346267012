/* The namespaces a pod holds for its containers: network, IPC and UTS, each kept alive as a
 * file (a bind mount of the namespace) in the pod's directory, so they need no process of
 * their own and outlive an agent restart. Containers join them through container_config's
 * CONTAINER_NS_JOIN with descriptors opened from these files. The network namespace comes
 * with its loopback up and nothing else; the pod network (netns/) adds the rest. */
#pragma once

#include <stdbool.h>

#include "lib/error.h"

struct pod_namespaces_request {
	const char *dir;      /* where the files go: <dir>/net, <dir>/ipc, <dir>/uts */
	const char *hostname; /* set in the new UTS namespace */
	bool host_network;    /* no network namespace of its own */
	bool host_ipc;        /* no IPC namespace of its own */
};

/* Creates and pins the namespaces. Existing pins (an agent restart) are kept as they are.
 * On failure nothing is left pinned. */
int pod_namespaces_create(const struct pod_namespaces_request *request, struct ck_error *err);
/* Opens one of them ("net", "ipc", "uts") for setns; -ENOENT when it is not pinned. */
int pod_namespaces_open(const char *dir, const char *name, struct ck_error *err);
/* Unpins (lazy unmount) and removes the files; the namespaces end with their last user. */
int pod_namespaces_remove(const char *dir, struct ck_error *err);
