/* A container's lifecycle hooks (postStart once a run has started, preStop before it is
 * stopped), run on the loop like a probe attempt: a command inside the container, an HTTP GET
 * to the pod, or a sleep. One hook at a time per container; Internal to kubelet/. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kubelet/pod.h"

/* `message` says why a hook failed (the command's output, the HTTP status). */
typedef void (*pod_hook_done_fn)(struct pod_container *c, bool ok, const char *message);

/* Runs `hook` (one of c->spec's) for at most `timeout_ms`; `done` is called from the loop
 * unless the hook is cancelled first. A hook still running is cancelled. */
void pod_hook_run(struct pod_container *c, const struct probe_spec *hook, int64_t timeout_ms,
		  pod_hook_done_fn done);
/* Stops the running hook, if any, without calling its `done`. */
void pod_hook_cancel(struct pod_container *c);

/* The kubelet's wording of a failed hook for its FailedPostStartHook and FailedPreStopHook
 * events: `Exec lifecycle hook ([cmd]) for Container "c" in Pod "p_ns(uid)" failed - error:
 * ...`. Caller frees. */
char *pod_hook_failure(const struct pod_container *c, const struct probe_spec *hook,
		       const char *message);
