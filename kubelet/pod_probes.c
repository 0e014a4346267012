/* Probes of a pod's containers: see pod_probes.h. */
#include "kubelet/pod_probes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet/pod_events.h"
#include "kubelet/pod_sandbox.h"
#include "kubelet/pod_runs.h"
#include "kubelet/pod_sync.h"
#include "kubelet/prober.h"
#include "lib/log.h"

static const struct probe_spec *spec_of(const struct pod_container *c, enum prober_type type)
{
	const struct probe_spec *specs[] = {[PROBER_LIVENESS] = &c->spec->liveness,
					    [PROBER_READINESS] = &c->spec->readiness,
					    [PROBER_STARTUP] = &c->spec->startup};
	return specs[type];
}

static bool has_probe(const struct pod_container *c, enum prober_type type)
{
	return spec_of(c, type)->kind != PROBE_NONE;
}

/* Exec probes run inside the container through the runtime, as children of the agent. */
static int exec_in_container(void *ctx, char *const *argv, int output_fd,
			     struct container_exec *out, struct ck_error *err)
{
	struct pod_container *c = ctx;
	struct container_exec_request request = {.argv = argv, .stdio = {-1, output_fd, output_fd}};
	enum container_failure failure;

	if (!c->run)
		return ck_error_set(err, ESRCH, "container %s is not running", c->spec->name);
	return container_exec(c->run, &request, out, &failure, err);
}

static void on_result(void *ctx, enum prober_type type, bool success, const char *message)
{
	struct pod_container *c = ctx;

	(void)message; /* each failed attempt's is in its Unhealthy event */
	switch (type) {
	case PROBER_STARTUP:
		if (success) {
			c->started = true;
			for (int t = PROBER_LIVENESS; t <= PROBER_READINESS; t++)
				if (c->probers[t])
					prober_set_started(c->probers[t], true);
			c->ready = !c->probers[PROBER_READINESS];
		} else {
			pod_container_restart(c, "failed startup probe");
		}
		break;
	case PROBER_READINESS:
		c->ready = success && c->started;
		break;
	case PROBER_LIVENESS:
		if (!success)
			pod_container_restart(c, "failed liveness probe");
		break;
	}
	pod_sync_soon(c->pod);
}

static void on_unhealthy(void *ctx, enum prober_type type, const char *event_message)
{
	(void)type;
	pod_event_container(ctx, "Warning", "Unhealthy", "%s", event_message);
}

void pod_probe_target(struct pod_container *c, struct probe_target *out)
{
	struct pod *pod = c->pod;

	/* From the node to the pod's address, as the kubelet probes: a server that listens on
	 * the pod's loopback only is not reachable, and fails its probes there too. */
	*out = (struct probe_target){.ip = pod_sandbox_ip(pod, pods_context(pod->pods)),
				     .exec = exec_in_container,
				     .exec_ctx = c};
}

void pod_probes_start(struct pod_container *c, bool adopted)
{
	struct pod *pod = c->pod;
	const struct agent_context *context = pods_context(pod->pods);
	const bool started = !has_probe(c, PROBER_STARTUP);
	struct probe_target target;

	pod_probe_target(c, &target);
	c->started = started;
	/* An init container is never ready; a sidecar, like an app container, once it is. */
	c->ready =
	    started && !has_probe(c, PROBER_READINESS) && (!c->init || c->spec->restart_always);
	for (int type = PROBER_LIVENESS; type <= PROBER_STARTUP; type++) {
		struct ck_error err = {0};
		if (!has_probe(c, type))
			continue;
		if (c->probers[type]) {
			prober_restart(c->probers[type], c->running_since_ms,
				       type == PROBER_STARTUP || started);
			continue;
		}
		struct prober_config config = {
		    .type = type,
		    .spec = spec_of(c, type),
		    .target = target,
		    .container_started_ms = c->running_since_ms,
		    .started = type == PROBER_STARTUP || started,
		    .jitter = adopted,
		    .on_result = on_result,
		    .on_unhealthy = on_unhealthy,
		    .ctx = c,
		};
		prober_timing_from_spec(config.spec, type, &config.timing);
		if (prober_new(context->loop, &config, &c->probers[type], &err) < 0)
			log_warn("pod %s/%s: container %s: %s probe: %s", pod->spec->namespace,
				 pod->spec->name, c->spec->name, prober_type_name(type),
				 err.message);
	}
}

void pod_probes_stop(struct pod_container *c)
{
	for (int type = PROBER_LIVENESS; type <= PROBER_STARTUP; type++)
		if (c->probers[type])
			prober_stop(c->probers[type]);
}

void pod_probes_free(struct pod_container *c)
{
	for (int type = PROBER_LIVENESS; type <= PROBER_STARTUP; type++) {
		prober_free(c->probers[type]);
		c->probers[type] = NULL;
	}
}
