/* Syncing one pod: compare what the API wants with what runs, and do the difference. Runs in the
 * loop's thread, never blocks (pulls, exits and waits come back as events). Internal to
 * kubelet/. */
#pragma once

#include "kubelet/pod.h"
#include "kubelet/pods.h"

/* Asks for a sync of the pod at the next turn of the loop. */
void pod_sync_soon(struct pod *pod);
/* Asks for a sync at `at_ms` (loop time), unless one is due earlier. */
void pod_sync_at(struct pod *pod, int64_t at_ms);

/* Lets go of the pod's timers and descriptors without touching its containers (the agent
 * stops; the next one adopts them). */
void pod_sync_detach(struct pod *pod);

void container_state_clear(struct container_state *state);

/* For the pod files: the shared parts, and dropping a pod from the table (frees it). */
const struct agent_context *pods_context(const struct pods *pods);
struct adopted_exits *pods_adopted_exits(struct pods *pods);
/* The pod with that uid, or NULL (it may be gone by the time an answer comes back). */
struct pod *pods_find(struct pods *pods, const char *uid);
void pods_forget(struct pods *pods, struct pod *pod);
/* Whether the API's pods have been listed once: mirror pods are made only after that (the
 * list says which exist). */
bool pods_api_listed(const struct pods *pods);
