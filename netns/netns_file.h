/* A network namespace kept as a file (a bind mount of the namespace, as `ip netns add` keeps
 * them under /run/netns): it needs no process to stay alive, and whoever knows the path can
 * enter it. Used by `ckube network`; the agent's pods get theirs from the runtime's sandbox
 * together with their IPC and UTS namespaces. */
#pragma once

#include "lib/error.h"

/* Opens the namespace pinned at `path`, creating and pinning a new one with its loopback up if
 * there is none yet. Returns a descriptor of it. Only the calling thread changes namespace,
 * and back before returning. */
int netns_file_open_or_create(const char *path, struct ck_error *err);
/* Unpins and removes the file; the namespace ends with its last user, and the kernel then
 * removes its interfaces (and the other ends of their veth pairs). 0 if there is none. */
int netns_file_remove(const char *path, struct ck_error *err);
