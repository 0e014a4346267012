/* Pod status as the kubelet reports it: see pod_status.h. */
#include "kubelet/pod_status.h"

#include <string.h>

static bool will_restart(const struct pod *pod, const struct pod_container *c)
{
	if (c->state.phase != CONTAINER_TERMINATED)
		return true;
	switch (pod->spec->restart_policy) {
	case RESTART_ALWAYS:
		return true;
	case RESTART_ON_FAILURE:
		return c->state.exit_code != 0;
	case RESTART_NEVER:
		return false;
	}
	return false;
}

/* Done for good: it has run and will not run again. */
static bool finished(const struct pod *pod, const struct pod_container *c)
{
	return c->state.phase == CONTAINER_TERMINATED && !will_restart(pod, c);
}

static bool init_done(const struct pod *pod)
{
	for (size_t i = 0; i < pod->init_count; i++) {
		const struct pod_container *c = &pod->init_containers[i];
		if (c->spec->restart_always) {
			if (!c->started || c->state.phase != CONTAINER_RUNNING)
				return false; /* a sidecar counts once it has started */
		} else if (c->state.phase != CONTAINER_TERMINATED || c->state.exit_code != 0) {
			return false;
		}
	}
	return true;
}

static bool init_failed(const struct pod *pod)
{
	for (size_t i = 0; i < pod->init_count; i++) {
		const struct pod_container *c = &pod->init_containers[i];
		if (!c->spec->restart_always && finished(pod, c) && c->state.exit_code != 0)
			return true;
	}
	return false;
}

/* As the kubelet's getPhase: a container that has never run makes the pod Pending; one that
 * waits to run again after an exit counts as running (the pod stays Running through its
 * back-off); the pod ends when every container is done for good. */
const char *pod_status_phase(const struct pod *pod)
{
	size_t running = 0, waiting = 0, done = 0, failed = 0;

	if (pod->evicted_message || init_failed(pod))
		return "Failed";
	if (!init_done(pod))
		return "Pending";
	for (size_t i = 0; i < pod->container_count; i++) {
		const struct pod_container *c = &pod->containers[i];
		if (finished(pod, c)) {
			done++;
			failed += c->state.exit_code != 0;
		} else if ((c->state.phase == CONTAINER_WAITING || c->post_start_pending) &&
			   c->last_state.phase != CONTAINER_TERMINATED) {
			waiting++;
		} else {
			running++;
		}
	}
	if (waiting > 0)
		return "Pending";
	if (running > 0)
		return "Running";
	if (done > 0)
		return failed ? "Failed" : "Succeeded";
	return "Pending";
}

static json_t *state_json(const struct container_state *state)
{
	json_t *inner;

	switch (state->phase) {
	case CONTAINER_RUNNING:
		return json_pack("{s:{s:s}}", "running", "startedAt", state->started_at);
	case CONTAINER_TERMINATED:
		inner = json_pack("{s:i, s:s}", "exitCode", state->exit_code, "reason",
				  state->reason ? state->reason : "Error");
		if (state->signal)
			json_object_set_new(inner, "signal", json_integer(state->signal));
		if (state->message)
			json_object_set_new(inner, "message", json_string(state->message));
		if (*state->started_at)
			json_object_set_new(inner, "startedAt", json_string(state->started_at));
		if (*state->finished_at)
			json_object_set_new(inner, "finishedAt", json_string(state->finished_at));
		if (state->container_id)
			json_object_set_new(inner, "containerID", json_string(state->container_id));
		return json_pack("{s:o}", "terminated", inner);
	case CONTAINER_WAITING:
		break;
	}
	inner = json_object();
	if (state->reason)
		json_object_set_new(inner, "reason", json_string(state->reason));
	if (state->message)
		json_object_set_new(inner, "message", json_string(state->message));
	return json_pack("{s:o}", "waiting", inner);
}

static json_t *container_status(const struct pod_container *c)
{
	bool has_last = c->last_state.phase == CONTAINER_TERMINATED;
	/* Until its postStart hook is done, a run is still being created, as the kubelet shows
	 * it (its start has not returned yet). */
	json_t *state = c->post_start_pending
			    ? json_pack("{s:{s:s}}", "waiting", "reason", "ContainerCreating")
			    : state_json(&c->state);
	json_t *status =
	    json_pack("{s:s, s:o, s:o, s:b, s:i, s:s, s:s, s:b}", "name", c->spec->name, "state",
		      state, "lastState", has_last ? state_json(&c->last_state) : json_object(),
		      "ready", c->ready, "restartCount", c->restart_count, "image", c->spec->image,
		      "imageID", c->image ? c->image->id : "", "started",
		      c->state.phase == CONTAINER_RUNNING && c->started);

	if (c->state.container_id)
		json_object_set_new(status, "containerID", json_string(c->state.container_id));
	return status;
}

/* The previous condition of that type, to keep its transition time. */
static const json_t *previous_condition(const json_t *previous, const char *type)
{
	const json_t *conditions = json_object_get(previous, "conditions");
	size_t i;
	json_t *condition;

	json_array_foreach (conditions, i, condition)
		if (strcmp(json_string_value(json_object_get(condition, "type")) ?: "", type) == 0)
			return condition;
	return NULL;
}

static void add_condition(json_t *conditions, const json_t *previous, const char *type, bool status,
			  const char *reason, const char *now)
{
	const json_t *before = previous_condition(previous, type);
	const char *status_text = status ? "True" : "False";
	const char *since = now;
	json_t *condition;

	if (before &&
	    strcmp(json_string_value(json_object_get(before, "status")) ?: "", status_text) == 0 &&
	    json_string_value(json_object_get(before, "lastTransitionTime")))
		since = json_string_value(json_object_get(before, "lastTransitionTime"));
	condition = json_pack("{s:s, s:s, s:n, s:s}", "type", type, "status", status_text,
			      "lastProbeTime", "lastTransitionTime", since);
	if (!status && reason)
		json_object_set_new(condition, "reason", json_string(reason));
	json_array_append_new(conditions, condition);
}

static bool containers_ready(const struct pod *pod)
{
	for (size_t i = 0; i < pod->container_count; i++)
		if (!pod->containers[i].ready)
			return false;
	for (size_t i = 0; i < pod->init_count; i++)
		if (pod->init_containers[i].spec->restart_always && !pod->init_containers[i].ready)
			return false;
	return pod->container_count > 0;
}

static json_t *conditions(const struct pod *pod, const json_t *previous, const char *now)
{
	json_t *list = json_array();
	bool initialized = init_done(pod);
	bool ready = initialized && containers_ready(pod);
	const char *phase = pod_status_phase(pod);
	/* A pod whose containers all ended is not ready; its reason says why, as Kubernetes'. */
	const char *not_ready = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0
				    ? "PodCompleted"
				    : "ContainersNotReady";

	add_condition(list, previous, "PodReadyToStartContainers", pod->sandbox_ready, NULL, now);
	add_condition(list, previous, "Initialized", initialized,
		      initialized ? NULL : "ContainersNotInitialized", now);
	add_condition(list, previous, "Ready", ready, not_ready, now);
	add_condition(list, previous, "ContainersReady", ready, not_ready, now);
	add_condition(list, previous, "PodScheduled", true, NULL, now);
	return list;
}

json_t *pod_status_build(const struct pod *pod, const struct pod_status_context *context,
			 const json_t *previous)
{
	json_t *status = json_pack("{s:s, s:o, s:s, s:s}", "phase", pod_status_phase(pod),
				   "conditions", conditions(pod, previous, context->now), "hostIP",
				   context->host_ip, "qosClass", qos_class_name(pod->spec->qos));
	json_t *containers = json_array(), *inits = json_array();

	json_object_set_new(status, "hostIPs", json_pack("[{s:s}]", "ip", context->host_ip));
	if (context->pod_ip) {
		json_object_set_new(status, "podIP", json_string(context->pod_ip));
		json_object_set_new(status, "podIPs", json_pack("[{s:s}]", "ip", context->pod_ip));
	}
	if (*pod->start_time)
		json_object_set_new(status, "startTime", json_string(pod->start_time));
	if (pod->evicted_message) {
		json_object_set_new(status, "reason", json_string("Evicted"));
		json_object_set_new(status, "message", json_string(pod->evicted_message));
	}
	for (size_t i = 0; i < pod->init_count; i++)
		json_array_append_new(inits, container_status(&pod->init_containers[i]));
	for (size_t i = 0; i < pod->container_count; i++)
		json_array_append_new(containers, container_status(&pod->containers[i]));
	if (pod->init_count)
		json_object_set_new(status, "initContainerStatuses", inits);
	else
		json_decref(inits);
	json_object_set_new(status, "containerStatuses", containers);
	return status;
}
