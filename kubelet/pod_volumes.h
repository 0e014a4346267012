/* A pod's volumes on this node (the kubelet's volume manager for one pod): set up before its
 * sandbox, each failure a FailedMount event while the pod waits in ContainerCreating and the
 * step is retried with back-off; turned into each container's mounts at its start; configMap
 * and secret contents kept up to date; disk emptyDirs watched against their sizeLimit; all of
 * it unmounted and removed when the pod goes. Internal to kubelet/; loop thread only. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "kubelet/pod.h"
#include "runtime/container.h"
#include "runtime/process_spec.h"

/* Sets up what is not set up yet. True once every volume is ready; otherwise the pod is synced
 * again when a mount finishes or a retry is due. */
bool pod_volumes_ready(struct pod *pod);

/* The mounts of container `c` from its volumeMounts, sorted so that a mount inside another
 * comes after it. `vars` (the container's environment, container_env_build) expand
 * subPathExpr. Release with pod_volumes_mounts_free. */
int pod_volumes_mounts(struct pod_container *c, const struct env_var *vars, size_t var_count,
		       struct container_mount **out, size_t *count, struct ck_error *err);
void pod_volumes_mounts_free(struct container_mount *mounts, size_t count);

/* A ConfigMap or Secret (`kind`) of the pod's namespace is now `object`. Volumes showing it
 * are rewritten (atomically) when their content differs. */
void pod_volumes_object_changed(struct pod *pod, const char *kind, const char *name,
				const json_t *object);

/* The message of the pod's eviction when a disk emptyDir holds more than its sizeLimit (caller
 * frees), or NULL. */
char *pod_volumes_over_limit(struct pod *pod);
/* Whether any volume has a sizeLimit to watch on disk. */
bool pod_volumes_have_disk_limits(struct pod *pod);

/* Every container must be gone. Unmounts and removes what the volumes made on the node. */
int pod_volumes_remove(struct pod *pod, struct ck_error *err);

/* The volumes as the status socket shows them (status_socket.h); failures go to `errors` as
 * "volume NAME". */
json_t *pod_volumes_json(const struct pod *pod, json_t *errors);

/* Frees the loop's view (nothing on the node changes). */
void pod_volumes_free(struct pod *pod);
