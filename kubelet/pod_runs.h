/* The runs of a pod's containers: starting one (its postStart hook, its probes), watching it,
 * recording how it ended, running it again by the pod's restart policy after its back-off
 * (CrashLoopBackOff), stopping it (preStop hook, stop signal, then the kill), and taking back a
 * run an earlier agent started. Internal to kubelet/; loop thread only. */
#pragma once

#include <stdint.h>

#include "kubelet/pod.h"

/* Runs the container if it should run now: starts it (its image pulled first), or restarts
 * it after its back-off; kills a run whose stop for a restart has outlived its grace. */
void pod_run_sync(struct pod_container *c);
/* The preStop hook, if the container has one, within the grace period, then the stop signal;
 * the caller kills the run at `deadline_ms` (pod_run_kill) whatever the hook does. */
void pod_run_stop(struct pod_container *c, int64_t deadline_ms);
/* Every process of the run's cgroup, now. */
void pod_run_kill(struct pod_container *c);
/* Lets go of the run's watch, hook, probes and log without touching the run itself (the agent
 * stops; the next one adopts it). */
void pod_run_detach(struct pod_container *c);

/* Stops a running container so that its restart policy runs it again (a failed liveness or
 * startup probe or postStart hook, `why` as in the Killing event): pod_run_stop with the
 * probe's or the pod's grace period. */
void pod_container_restart(struct pod_container *c, const char *why);
/* Gives the container back a run that an earlier agent started (pod_adopt.c): it is watched
 * again, its output goes on into the same log file, and an exit is handled as any other. */
void pod_container_adopt(struct pod_container *c, struct container *run, int restart_count);

void pod_container_set_waiting(struct pod_container *c, const char *reason, const char *message);
