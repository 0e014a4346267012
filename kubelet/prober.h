/* The probe worker of one container and one probe type (liveness, readiness or startup), as
 * Kubernetes' pkg/kubelet/prober/worker.go runs it, on the agent's loop: an attempt
 * (probe.h) every period once the initial delay has passed, the result flipped only after
 * successThreshold successes or failureThreshold failures in a row, and the caller told of
 * each change and of each failed attempt (the kubelet's Unhealthy events).
 *
 * The results start where Kubernetes starts them: readiness failed, liveness succeeded,
 * startup unknown. Liveness and readiness wait until the caller says the startup probe has
 * passed (or that there is none). A liveness or startup probe that reaches failure holds
 * still until the container is restarted (prober_restart), like the kubelet's onHold; a startup
 * probe that succeeded is not run again for that container.
 *
 * Everything runs in the loop's thread. The callbacks may restart, stop or free the worker
 * that called them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kubelet/loop.h"
#include "kubelet/pod_spec.h"
#include "kubelet/probe.h"
#include "lib/error.h"

enum prober_type { PROBER_LIVENESS, PROBER_READINESS, PROBER_STARTUP };

enum prober_result { PROBER_UNKNOWN, PROBER_SUCCESS, PROBER_FAILURE };

/* The spec's times in milliseconds, so that tests can run probes many times a second. */
struct prober_timing {
	int64_t initial_delay_ms;
	int64_t period_ms;  /* > 0 */
	int64_t timeout_ms; /* > 0 */
	int success_threshold;
	int failure_threshold;
};

struct prober_config {
	enum prober_type type;
	const struct probe_spec *spec; /* copied */
	struct prober_timing timing;   /* prober_timing_from_spec(spec, type), or a test's */
	/* The ip is copied. exec_ctx must live as long as the worker and stay right across
	 * container restarts: point it at the container's place in the pod rather than at one
	 * run of it. */
	struct probe_target target;
	/* When the container started (loop_now_ms() time; 0: now): the initial delay counts
	 * from there, so that after an agent restart an old container is not delayed again. */
	int64_t container_started_ms;
	/* Liveness and readiness: the startup probe has passed, or the container has none. */
	bool started;
	/* The first attempt waits a random part of the period, so that probes of all the
	 * containers an agent adopts after its restart do not run at once (as the kubelet does
	 * in its first period). */
	bool jitter;
	/* The result changed; `message` is the last attempt's. */
	void (*on_result)(void *ctx, enum prober_type type, bool success, const char *message);
	/* An attempt failed or could not run: the kubelet's Unhealthy event (type Warning), e.g.
	 * "Liveness probe failed: HTTP probe failed with statuscode: 500", or "Readiness probe
	 * errored and resulted in unknown state: ..." (NULL: not wanted). */
	void (*on_unhealthy)(void *ctx, enum prober_type type, const char *event_message);
	void *ctx;
};

struct prober;

/* Kubernetes' values from the spec's seconds; liveness and startup succeed after one success
 * whatever the spec says (the API server refuses anything else). */
void prober_timing_from_spec(const struct probe_spec *spec, enum prober_type type,
			     struct prober_timing *out);

/* "Liveness", "Readiness", "Startup": as the kubelet names them in events. */
const char *prober_type_name(enum prober_type type);

/* Starts the worker for a running container. -EINVAL for a timing it cannot run. */
int prober_new(struct loop *loop, const struct prober_config *config, struct prober **out,
	       struct ck_error *err);

/* Liveness and readiness: whether the startup probe has passed. Probing starts (or stops)
 * accordingly. */
void prober_set_started(struct prober *prober, bool started);

/* A new run of the container started: counters and the result go back to where they start
 * (without a callback: the caller knows), the initial delay counts from `container_started_ms`
 * (0: now), and `started` is as for prober_set_started. */
void prober_restart(struct prober *prober, int64_t container_started_ms, bool started);

/* The container is not running: no more attempts until prober_restart. */
void prober_stop(struct prober *prober);

enum prober_result prober_result(const struct prober *prober);

/* Stops and frees; no callback comes after. NULL is fine. */
void prober_free(struct prober *prober);
