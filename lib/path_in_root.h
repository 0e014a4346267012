/* Paths inside a directory tree (an image layer, a root filesystem) opened as a process whose
 * root it is would see them: openat2() with RESOLVE_IN_ROOT, so symlinks are followed but "/"
 * and ".." stop at the tree's root, and a hostile image or pod spec can never lead outside.
 *
 * Nothing here allocates, locks or uses stdio: a container's child calls it between clone3
 * and execve (see spawn.h). */
#pragma once

#include <sys/types.h>

/* Opens `path` (absolute or relative, "" for the root itself) inside the tree `root_fd`, with
 * open(2) `flags` (O_CLOEXEC added; O_NOFOLLOW applies to the last component). Magic links
 * (/proc/<pid>/fd/...) are refused. Returns the descriptor, or -errno with errno set too.
 *
 * Where openat2() is missing (ENOSYS: kernels before 5.6, old seccomp profiles of the host's
 * own container runtime, valgrind) the path is walked one component at a time by the same
 * rules, at most 40 symlinks, with the walk's state on the stack; a magic link is read there as
 * the plain symlink its text makes, inside the tree. The walk is sound only while nothing else
 * renames inside the tree, as holds for the runtime's trees. */
int path_open_in_root(int root_fd, const char *path, int flags);

/* Opens the single name `name` (no "/", never "..") in the directory `dir_fd`, never through
 * a symlink (O_NOFOLLOW and O_CLOEXEC added); `mode` for O_CREAT. -errno on failure. */
int path_open_child(int dir_fd, const char *name, int flags, mode_t mode);
