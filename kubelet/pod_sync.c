/* Syncing one pod, level-triggered: see pod_sync.h.
 *
 * A sync looks at the pod as it is (spec from the API, containers as they run) and takes the
 * next steps: the sandbox, then init containers one after another, then the app containers,
 * restarting exited ones by the restart policy with Kubernetes' back-off; or, for a pod being
 * deleted, the stop signal, the grace period, the kill, the teardown and the final deletion.
 * What takes time (a pull, a grace period, a back-off) ends the sync; its end brings the next
 * one. Every sync ends by reporting the status if it changed. */
#include "kubelet/pod_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kubelet/agent_metrics.h"
#include "kubelet/pod_events.h"
#include "kubelet/pod_runs.h"
#include "kubelet/pod_sandbox.h"
#include "kubelet/pod_volumes.h"
#include "kubelet/pod_status.h"
#include "kubelet/static_pods.h"
#include "lib/log.h"

#define SANDBOX_RETRY_MS 10000
/* How often disk emptyDirs with a sizeLimit are measured. */
#define USAGE_CHECK_MS 2000
#define FORCED_GRACE_MS 2000 /* a pod gone from the API without waiting for its containers */

static void sync_pod(struct pod *pod);

static const struct agent_context *context_of(const struct pod *pod)
{
	return pods_context(pod->pods);
}

void container_state_clear(struct container_state *state)
{
	free(state->reason);
	free(state->message);
	free(state->container_id);
	*state = (struct container_state){0};
}

/* --- timers ------------------------------------------------------------------------------- */

static void on_timer(void *ctx)
{
	struct pod *pod = ctx;

	pod->timer = NULL;
	sync_pod(pod);
}

void pod_sync_at(struct pod *pod, int64_t at_ms)
{
	struct loop *loop = context_of(pod)->loop;

	if (pod->timer && pod->timer_at_ms <= at_ms)
		return;
	loop_timer_cancel(loop, pod->timer);
	pod->timer = loop_timer_at(loop, at_ms, on_timer, pod);
	pod->timer_at_ms = at_ms;
}

void pod_sync_soon(struct pod *pod)
{
	pod_sync_at(pod, loop_now_ms());
}

void pod_sync_detach(struct pod *pod)
{
	struct loop *loop = context_of(pod)->loop;

	loop_timer_cancel(loop, pod->timer);
	pod->timer = NULL;
	for (size_t i = 0; i < pod->init_count + pod->container_count; i++) {
		struct pod_container *c = i < pod->init_count
					      ? &pod->init_containers[i]
					      : &pod->containers[i - pod->init_count];
		pod_run_detach(c);
	}
	if (pod->cgroup_fd >= 0)
		close(pod->cgroup_fd);
	pod->cgroup_fd = -1;
}

/* --- the pod ------------------------------------------------------------------------------ */

static bool ensure_sandbox(struct pod *pod)
{
	struct ck_error err = {0};

	if (pod->sandbox_ready)
		return true;
	if (!pod_volumes_ready(pod))
		return false;
	if (pod_sandbox_create(pod, context_of(pod), &err) < 0) {
		log_warn("pod %s/%s: sandbox: %s", pod->spec->namespace, pod->spec->name,
			 err.message);
		if (!pod->sandbox_error || strcmp(pod->sandbox_error, err.message) != 0)
			pod_event_pod(pod, "Warning", "FailedCreatePodSandBox",
				      "Failed to create pod sandbox: %s", err.message);
		free(pod->sandbox_error);
		pod->sandbox_error = strdup(err.message);
		pod_sync_at(pod, loop_now_ms() + SANDBOX_RETRY_MS);
		return false;
	}
	free(pod->sandbox_error);
	pod->sandbox_error = NULL;
	pod->sandbox_ready = true;
	if (!*pod->start_time)
		timeutil_format_rfc3339(time(NULL), pod->start_time);
	return true;
}

/* Init containers one after another; true once all have succeeded (sidecars: started). */
static bool run_init_containers(struct pod *pod)
{
	for (size_t i = 0; i < pod->init_count; i++) {
		struct pod_container *c = &pod->init_containers[i];

		if (c->spec->restart_always) {
			pod_run_sync(c);
			if (!c->run)
				return false;
			continue;
		}
		if (c->state.phase == CONTAINER_TERMINATED && c->state.exit_code == 0)
			continue;
		pod_run_sync(c);
		return false;
	}
	return true;
}

/* Disk emptyDirs have no kernel limit: their usage is measured every so often (the kubelet
 * looks every 10 s) and a pod over a sizeLimit is evicted. */
static void check_disk_usage(struct pod *pod)
{
	int64_t now = loop_now_ms();
	char *message;

	if (!pod_volumes_have_disk_limits(pod))
		return;
	if (now < pod->usage_check_at_ms) {
		pod_sync_at(pod, pod->usage_check_at_ms);
		return;
	}
	message = pod_volumes_over_limit(pod);
	if (message) {
		log_info("pod %s/%s: evicted: %s", pod->spec->namespace, pod->spec->name, message);
		pod_event_pod(pod, "Warning", "Evicted", "%s", message);
		pod->evicted_message = message;
		pod_sync_soon(pod);
		return;
	}
	pod->usage_check_at_ms = now + USAGE_CHECK_MS;
	pod_sync_at(pod, pod->usage_check_at_ms);
}

static void run_pod(struct pod *pod)
{
	if (!ensure_sandbox(pod))
		return;
	if (!run_init_containers(pod))
		return;
	pod->stage = POD_RUNNING;
	for (size_t i = 0; i < pod->container_count; i++)
		pod_run_sync(&pod->containers[i]);
	check_disk_usage(pod);
}

static int64_t grace_ms(const struct pod *pod)
{
	if (pod->removed_from_api && !pod->is_static)
		return FORCED_GRACE_MS;
	if (pod->spec->deletion_grace_seconds >= 0)
		return pod->spec->deletion_grace_seconds * 1000;
	return pod->spec->termination_grace_seconds * 1000;
}

/* Stop signal, grace, kill; true once nothing runs. */
static bool stop_containers(struct pod *pod)
{
	bool running = false;
	int64_t now = loop_now_ms();

	if (!pod->kill_deadline_ms)
		pod->kill_deadline_ms = now + grace_ms(pod);
	for (size_t i = 0; i < pod->init_count + pod->container_count; i++) {
		struct pod_container *c = i < pod->init_count
					      ? &pod->init_containers[i]
					      : &pod->containers[i - pod->init_count];
		if (!c->run)
			continue;
		running = true;
		if (!c->stop_sent) {
			pod_event_container(c, "Normal", "Killing", "Stopping container %s",
					    c->spec->name);
			pod_run_stop(c, pod->kill_deadline_ms);
		}
		if (now >= pod->kill_deadline_ms)
			pod_run_kill(c);
	}
	if (running)
		pod_sync_at(pod, now >= pod->kill_deadline_ms ? now + 1000 : pod->kill_deadline_ms);
	return !running;
}

/* Stops the containers, then removes the sandbox and the volumes; true once all is gone. */
static bool stop_pod(struct pod *pod)
{
	struct ck_error err = {0};

	pod->stage = POD_TERMINATING;
	if (!stop_containers(pod))
		return false;
	if (pod_sandbox_remove(pod, context_of(pod), &err) < 0) {
		log_warn("pod %s/%s: remove sandbox: %s", pod->spec->namespace, pod->spec->name,
			 err.message);
		pod_sync_at(pod, loop_now_ms() + SANDBOX_RETRY_MS);
		return false;
	}
	pod->sandbox_ready = false;
	if (pod_volumes_remove(pod, &err) < 0) {
		log_warn("pod %s/%s: remove volumes: %s", pod->spec->namespace, pod->spec->name,
			 err.message);
		pod_sync_at(pod, loop_now_ms() + SANDBOX_RETRY_MS);
		return false;
	}
	return true;
}

static void terminate_pod(struct pod *pod)
{
	if (stop_pod(pod))
		pod->stage = POD_GONE;
}

/* An evicted pod stops at once (no grace, as the kubelet evicts for local storage) and stays
 * in the API as Failed until someone deletes it. */
static void evict_pod(struct pod *pod)
{
	if (!pod->kill_deadline_ms)
		pod->kill_deadline_ms = loop_now_ms();
	stop_pod(pod);
}

/* A static pod shows in the API through a mirror pod: its manifest's Pod, marked with
 * kubernetes.io/config.mirror, which the agent makes once it knows none exists. */
static void request_mirror(struct pod *pod)
{
	json_t *mirror, *metadata;

	if (pod->mirror_requested || pod->removed_from_api || !pods_api_listed(pod->pods))
		return;
	mirror = json_deep_copy(pod->spec->object);
	metadata = json_object_get(mirror, "metadata");
	json_object_del(metadata, "uid");
	json_object_del(metadata, "resourceVersion");
	json_object_set_new(json_object_get(metadata, "annotations"), STATIC_POD_MIRROR_ANNOTATION,
			    json_string(pod->uid));
	api_writer_create_pod(context_of(pod)->writer, mirror);
	pod->mirror_requested = true;
}

static void report_status(struct pod *pod)
{
	const struct agent_context *context = context_of(pod);
	char now[TIMEUTIL_TEXT_SIZE];
	struct pod_status_context status_context = {
	    .host_ip = context->config->node_ip,
	    .pod_ip = pod_sandbox_ip(pod, context),
	    .now = now,
	};
	json_t *status;

	if (pod->is_static && !pod->mirror_uid) {
		request_mirror(pod);
		return;
	}
	timeutil_format_rfc3339(time(NULL), now);
	status = pod_status_build(pod, &status_context, pod->last_status);
	if (pod->last_status && json_equal(status, pod->last_status)) {
		json_decref(status);
		return;
	}
	json_decref(pod->last_status);
	pod->last_status = status;
	api_writer_pod_status(context->writer, pod->spec->namespace, pod->spec->name,
			      pod->is_static ? pod->mirror_uid : pod->uid, json_incref(status));
}

/* The pod start latency the kubelet reports (pod_start_duration_seconds): from the agent seeing
 * the pod to all its app containers running, once per pod. */
static void record_start(struct pod *pod)
{
	if (pod->start_recorded || pod->stage != POD_RUNNING)
		return;
	for (size_t i = 0; i < pod->container_count; i++)
		if (!pod->containers[i].run)
			return;
	pod->start_recorded = true;
	agent_metrics_pod_started(context_of(pod)->metrics,
				  (double)(loop_now_ms() - pod->seen_ms) / 1000);
}

static void sync_pod_once(struct pod *pod);

static void sync_pod(struct pod *pod)
{
	/* Taken first: the sync may forget (free) the pod. */
	struct agent_metrics *metrics = context_of(pod)->metrics;
	struct timespec start, end;

	clock_gettime(CLOCK_MONOTONIC, &start);
	sync_pod_once(pod);
	clock_gettime(CLOCK_MONOTONIC, &end);
	agent_metrics_pod_synced(metrics, (double)(end.tv_sec - start.tv_sec) +
					      (double)(end.tv_nsec - start.tv_nsec) / 1e9);
}

static void sync_pod_once(struct pod *pod)
{
	if (pod->stage != POD_GONE && (pod->removed_from_api || pod->spec->deleting))
		terminate_pod(pod);
	else if (pod->stage != POD_GONE && pod->evicted_message)
		evict_pod(pod);
	if (pod->stage == POD_GONE) {
		if (pod->removed_from_api) {
			if (pod->is_static && pod->mirror_uid)
				api_writer_delete_pod(context_of(pod)->writer, pod->spec->namespace,
						      pod->spec->name, pod->mirror_uid);
			pod_sync_detach(pod);
			pods_forget(pod->pods, pod);
			return;
		}
		if (!pod->delete_sent) {
			api_writer_delete_pod(context_of(pod)->writer, pod->spec->namespace,
					      pod->spec->name, pod->uid);
			pod->delete_sent = true;
		}
		return;
	}
	if (pod->stage != POD_TERMINATING) {
		run_pod(pod);
		record_start(pod);
	}
	report_status(pod);
}
