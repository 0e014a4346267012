/* The mounts a pod's volumes make on the node: tmpfs for memory-backed emptyDirs and secrets,
 * and their removal, found from /proc/self/mountinfo so that a mount whose agent crashed is
 * found too. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"

/* A tmpfs at `path` (an existing directory), unless one is there already: nosuid, nodev,
 * mode `mode`, at most `size` bytes (-1: the kernel's default, half of RAM). */
int volume_mount_tmpfs(const char *path, int64_t size, int mode, struct ck_error *err);

/* Whether a mount has its root at `path` (never following a symlink there). */
bool volume_is_mount_point(const char *path);

/* Unmounts every mount at or below `dir`, deepest first. A mount still in use, and every NFS
 * mount (whose server may be gone, where a plain unmount could wait for it), is detached
 * (lazy unmount). `*found` (may be NULL) counts them. */
int volume_unmount_below(const char *dir, int *found, struct ck_error *err);
