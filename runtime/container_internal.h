/* What container_start computes in the agent for the child, and the child-side steps.
 * Internal to runtime/. */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>

#include "runtime/container.h"

struct container_plan {
	const struct container_config *config;
	char *root_target;     /* <run-dir>/containers/.root, where the root is mounted */
	char *overlay_options; /* lowerdir=...,upperdir=...,workdir=...; NULL to bind `rootfs` */
	char *layers_dir;      /* the overlay's lower directories are relative to this one */
	int *mount_sources;    /* detached copies (open_tree) of config->mounts' sources */
	bool *mount_is_dir;
	const struct sock_fprog *seccomp;
	const char *path; /* the container's PATH, for the command lookup */
	bool new_uts;
};

/* The child: namespaces, root filesystem, credentials, exec. Reports and returns on failure. */
void container_child_run(void *plan, int report_fd);

/* In the child: mounts the root at plan->root_target with /proc, /dev, /sys, the caller's
 * mounts, masked and read-only paths, and pivots into it. 0, or -1 after reporting. */
int container_rootfs_setup(const struct container_plan *plan, int report_fd);

/* In the child: execve of argv[0], looked up in `path` when it has no slash. Returns only
 * after reporting the failure. */
void exec_command(char *const *argv, char *const *env, const char *path, int report_fd);

/* In the child: the user, groups, capabilities, no_new_privs and seccomp of a container or
 * exec process, in the order that lets each step still have the privilege it needs. 0, or -1
 * after reporting. */
int enter_credentials(const struct container_process *process, const struct sock_fprog *seccomp,
		      int report_fd);

/* In the child: stdio onto 0, 1 and 2 (-1: /dev/null), every other descriptor close-on-exec,
 * default signal dispositions and an empty signal mask (the agent blocks the signals it reads
 * through a signalfd, and ignores SIGPIPE; a container must not inherit either). */
int prepare_process(const int stdio[3], int report_fd);
