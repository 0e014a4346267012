/* The state file of a container, <state-dir>/state.json: what an agent started later, or
 * `ckube exec`, needs to find the container's process again and to run more processes like
 * it. Internal to runtime/. */
#pragma once

#include "runtime/container.h"

/* Writes the state of a container that has just started, and keeps it in container->state. */
int container_state_save(struct container *container, const struct container_config *config,
			 struct ck_error *err);

/* The overlay's scratch directory, NULL when the root was a directory used in place. */
const char *container_state_scratch_dir(const struct container *container);

/* The container's process as recorded (environment, working directory, user, groups,
 * capabilities, no_new_privs, seccomp), for exec. The strings point into the state; the
 * arrays are allocated: release with container_state_process_clear. */
int container_state_process(const struct container *container, struct container_process *out,
			    struct ck_error *err);
void container_state_process_clear(struct container_process *process);

/* /proc/<pid>/stat's start time (clock ticks after boot), which tells a process from a later
 * one with the same pid. */
int process_start_time(pid_t pid, uint64_t *out);
