/* Where a pod's volumes live on the node, as the kubelet lays them out:
 *   <pods-dir>/<pod uid>/volumes/kubernetes.io~empty-dir/<name>   (a tmpfs for medium Memory)
 *                                kubernetes.io~configmap/<name>
 *                                kubernetes.io~secret/<name>      (always a tmpfs)
 *                                kubernetes.io~nfs/<name>         (the NFS mount point)
 * hostPath volumes are the node's own paths and have no directory here. Everything below a
 * pod's directory is the node's to unmount and remove once the pod is gone. */
#pragma once

#include <stdint.h>

#include "lib/error.h"
#include "volume/volume_spec.h"

/* The volume's directory (caller frees), or NULL for hostPath. */
char *pod_volume_path(const char *pods_dir, const char *uid, const struct volume_spec *volume);

/* Creates the volume's directory (emptyDir world-writable, as the kubelet makes it) and mounts
 * its tmpfs where it has one (emptyDir medium Memory sized by sizeLimit, secrets). An NFS
 * volume's directory is made here and mounted by nfs_mount. Again on an existing volume,
 * nothing changes. */
int pod_volume_prepare(const char *path, const struct volume_spec *volume, struct ck_error *err);

/* Bytes the files below `path` take on disk, without crossing into other mounts. */
int pod_volume_usage(const char *path, int64_t *bytes, struct ck_error *err);

/* Opens (O_PATH) `sub_path` inside the directory `base_fd`, resolved as if `base_fd` were the
 * root (a symlink in the volume cannot lead out of it) and created as a directory (0755) when
 * missing, as the kubelet makes a missing subPath. */
int pod_volume_open_sub_path(int base_fd, const char *sub_path, struct ck_error *err);

/* Unmounts everything below the pod's directory (detaching what is busy and every NFS mount)
 * and removes the directory with the emptyDir, configMap and secret data in it. hostPath data
 * and what NFS servers hold are never touched. `*unmounted` (may be NULL) counts the mounts. */
int pod_volume_dir_remove(const char *pods_dir, const char *uid, int *unmounted,
			  struct ck_error *err);

/* The pod uids with a directory under `pods_dir`: a NULL-terminated array, caller frees it
 * and each entry. An absent `pods_dir` has none. */
int pod_volume_dirs_list(const char *pods_dir, char ***uids, struct ck_error *err);
