/* NFS mounts for the sync loop. mount(2) blocks while an NFS server does not answer, so each
 * mount runs as a child process (`ckube volume nfs-mount`) watched by a thread of its own,
 * which kills it at the deadline and posts the outcome to the loop: an unreachable server
 * makes its pod wait with a FailedMount event, never the agent. */
#pragma once

#include <stdbool.h>

#include "kubelet/loop.h"
#include "lib/error.h"

/* Called in the loop's thread; `err` is NULL on success. */
typedef void (*nfs_mounted_fn)(void *ctx, const struct ck_error *err);

struct nfs_mount_request {
	const char *server, *path, *target;
	bool read_only;
	int timeout_ms;
};

/* Starts the mount; `done` is called exactly once, unless the loop is freed first (then `drop`
 * is called on ctx instead, from that thread). */
void nfs_mounter_start(struct loop *loop, const struct nfs_mount_request *request,
		       nfs_mounted_fn done, void (*drop)(void *ctx), void *ctx);
