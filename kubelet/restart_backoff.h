/* The restart back-off of one container, as the kubelet's crash-loop back-off: a container that
 * exits is restarted at once the first time, then after 10 s, doubling up to 5 minutes; a run
 * of 10 minutes without trouble starts the sequence over. A pull or a start that fails (the
 * container never ran) waits at least the first step, so ErrImagePull is retried after 10 s,
 * then 20 s, ... */
#pragma once

#include <stdint.h>

#define RESTART_BACKOFF_FIRST_MS 10000
#define RESTART_BACKOFF_MAX_MS 300000
#define RESTART_BACKOFF_RESET_MS 600000

struct restart_backoff {
	int64_t next_ms;    /* the delay the next step takes (0: at once) */
	int64_t current_ms; /* the delay of the last step, as CrashLoopBackOff's message says it */
};

/* The delay before the next try after a run of `ran_ms` (-1: it never ran), and advances. */
int64_t restart_backoff_step(struct restart_backoff *backoff, int64_t ran_ms);
