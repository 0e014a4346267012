/* NFS volumes, mounted by the kernel's NFSv4 client with mount(2) alone: no mount.nfs helper,
 * so ckube resolves the server itself and passes its address (`addr=`), which the kernel
 * needs. The call blocks while the server does not answer; the agent therefore runs it in a
 * child process (`ckube volume nfs-mount`) that it can give up on. */
#pragma once

#include <stdbool.h>

#include "lib/error.h"

/* Mounts SERVER:PATH (NFSv4) on `target` unless something is mounted there already. */
int nfs_mount(const char *server, const char *path, const char *target, bool read_only,
	      struct ck_error *err);
