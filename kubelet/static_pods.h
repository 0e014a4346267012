/* Static pods: Pods the node runs from manifest files (default /etc/ckube/manifests), whether
 * or not an API server is reachable, as the kubelet's file source does. Every *.yaml, *.yml
 * and *.json file (not starting with '.') holds one or more Pods; each gets what the kubelet
 * gives it (pkg/kubelet/config/common.go): the name "<name>-<node name>", namespace
 * "default" when it has none, spec.nodeName, a uid that is a hash of the manifest and the
 * node (so the same file keeps the same uid across agent restarts, and a changed file makes a
 * new pod), and the annotations kubernetes.io/config.source "file",
 * kubernetes.io/config.hash (the uid) and kubernetes.io/config.seen. The directory is read
 * again when it changes (inotify) and every 20 s. A file that cannot be read or parsed is
 * logged and leaves the pods of the other files alone. Loop thread only. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "kubelet/loop.h"
#include "lib/error.h"

#define STATIC_POD_HASH_ANNOTATION "kubernetes.io/config.hash"
#define STATIC_POD_MIRROR_ANNOTATION "kubernetes.io/config.mirror"

/* Reads the directory: a new array of the Pods with the kubelet's additions but for
 * config.seen (which the watching part adds when it first sees a pod). A missing directory
 * is no pods. */
json_t *static_pods_read(const char *dir, const char *node_name);

/* True for a Pod that a node's agent made in the API to show one of its static pods. */
bool static_pod_is_mirror(const json_t *pod);

struct static_pods;

/* Calls `changed(ctx, pods)` (an array the callee borrows) with every pod of the directory
 * now, and after each change of the directory. */
int static_pods_start(struct loop *loop, const char *dir, const char *node_name,
		      void (*changed)(void *ctx, const json_t *pods), void *ctx,
		      struct static_pods **out, struct ck_error *err);
void static_pods_stop(struct static_pods *source);
