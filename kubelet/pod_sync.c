/* Syncing one pod, level-triggered: see pod_sync.h.
 *
 * A sync looks at the pod as it is (spec from the API, containers as they run) and takes the
 * next steps: the sandbox, then init containers one after another, then the app containers,
 * restarting exited ones by the restart policy with Kubernetes' back-off; or, for a pod being
 * deleted, the stop signal, the grace period, the kill, the teardown and the final deletion.
 * What takes time (a pull, a grace period, a back-off) ends the sync; its end brings the next
 * one. Every sync ends by reporting the status if it changed. */
#include "kubelet/pod_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "kubelet/adopted_exits.h"
#include "kubelet/agent_metrics.h"
#include "kubelet/api_writer.h"
#include "kubelet/image_puller.h"
#include "kubelet/pod_events.h"
#include "kubelet/pod_hooks.h"
#include "kubelet/pod_probes.h"
#include "kubelet/pod_sandbox.h"
#include "kubelet/pod_start.h"
#include "kubelet/pod_status.h"
#include "kubelet/static_pods.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define SANDBOX_RETRY_MS 10000
#define POST_START_TIMEOUT_MS 120000 /* the kubelet gives it none; a hung hook is a failed one */
#define FORCED_GRACE_MS 2000 /* a pod gone from the API without waiting for its containers */

static void sync_pod(struct pod *pod);

static const struct agent_context *context_of(const struct pod *pod)
{
	return pods_context(pod->pods);
}

static void now_text(char out[TIMEUTIL_TEXT_SIZE])
{
	timeutil_format_rfc3339(time(NULL), out);
}

void container_state_clear(struct container_state *state)
{
	free(state->reason);
	free(state->message);
	free(state->container_id);
	*state = (struct container_state){0};
}

static void set_waiting(struct pod_container *c, const char *reason, const char *message)
{
	container_state_clear(&c->state);
	c->state.phase = CONTAINER_WAITING;
	c->state.reason = reason ? strdup(reason) : NULL;
	c->state.message = message ? strdup(message) : NULL;
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

static void stop_watching(struct pod_container *c)
{
	if (c->run && c->run->pidfd >= 0)
		loop_remove_fd(context_of(c->pod)->loop, c->run->pidfd);
	if (c->run && c->run->adopted)
		adopted_exits_forget(pods_adopted_exits(c->pod->pods), c->run);
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
		stop_watching(c);
		pod_hook_cancel(c);
		pod_probes_free(c);
		container_free(c->run);
		c->run = NULL;
		if (c->log)
			log_stream_close(context_of(pod)->logs, c->log);
		c->log = NULL;
	}
	if (pod->cgroup_fd >= 0)
		close(pod->cgroup_fd);
	pod->cgroup_fd = -1;
	if (pod->netns_fd >= 0)
		close(pod->netns_fd);
	pod->netns_fd = -1;
}

/* --- images ------------------------------------------------------------------------------- */

struct pull_wait {
	struct pods *pods;
	char *uid;
	bool init;
	size_t index;
	char *reference;
	int64_t started_ms;
};

static struct pod_container *find_container(struct pod *pod, bool init, size_t index)
{
	if (init)
		return index < pod->init_count ? &pod->init_containers[index] : NULL;
	return index < pod->container_count ? &pod->containers[index] : NULL;
}

static void pulled(void *ctx, struct image_record *record, bool invalid, const struct ck_error *err)
{
	struct pull_wait *wait = ctx;
	struct pod *pod = pods_find(wait->pods, wait->uid);
	struct pod_container *c = pod ? find_container(pod, wait->init, wait->index) : NULL;

	if (!c || strcmp(c->spec->image, wait->reference) != 0) {
		image_record_free(record); /* the pod or its image changed meanwhile */
	} else {
		c->pulling = false;
		free(c->image_error);
		c->image_error = NULL;
		if (record) {
			image_record_free(c->image);
			c->image = record;
			pod_event_container(
			    c, "Normal", "Pulled", "Successfully pulled image \"%s\" in %.3fs",
			    c->spec->image, (double)(loop_now_ms() - wait->started_ms) / 1000);
		} else {
			c->image_error = strdup(err->message);
			set_waiting(c, invalid ? "InvalidImageName" : "ErrImagePull", err->message);
			pod_event_container(c, "Warning", "Failed",
					    "Failed to pull image \"%s\": %s", c->spec->image,
					    err->message);
			c->restart_at_ms = loop_now_ms() + restart_backoff_step(&c->backoff, -1);
		}
		pod_sync_soon(pod);
	}
	free(wait->uid);
	free(wait->reference);
	free(wait);
}

/* True when the image is there; otherwise a pull is on its way (or backing off). */
static bool have_image(struct pod_container *c)
{
	struct pod *pod = c->pod;
	struct image_store *store = image_puller_store(context_of(pod)->puller);
	struct pull_wait *wait;

	if (c->image)
		return true;
	if (c->pulling)
		return false;
	if (c->spec->pull_policy != PULL_ALWAYS &&
	    image_store_find(store, c->spec->image, &c->image, NULL) == 0) {
		pod_event_container(c, "Normal", "Pulled",
				    "Container image \"%s\" already present on machine",
				    c->spec->image);
		return true;
	}
	if (c->spec->pull_policy == PULL_NEVER) {
		char message[1024];
		snprintf(message, sizeof(message),
			 "Container image \"%s\" is not present with pull policy of Never",
			 c->spec->image);
		if (!c->state.reason || strcmp(c->state.reason, "ErrImageNeverPull") != 0)
			pod_event_container(c, "Warning", "ErrImageNeverPull", "%s", message);
		set_waiting(c, "ErrImageNeverPull", message);
		return false;
	}
	if (c->image_error && loop_now_ms() < c->restart_at_ms) {
		set_waiting(c, "ImagePullBackOff", c->image_error);
		pod_sync_at(pod, c->restart_at_ms);
		return false;
	}
	wait = calloc(1, sizeof(*wait));
	if (!wait)
		abort();
	*wait = (struct pull_wait){
	    .pods = pod->pods,
	    .uid = strdup(pod->uid),
	    .init = c->init,
	    .index = (size_t)(c - (c->init ? pod->init_containers : pod->containers)),
	    .reference = strdup(c->spec->image),
	    .started_ms = loop_now_ms()};
	c->pulling = true;
	pod_event_container(c, "Normal", "Pulling", "Pulling image \"%s\"", c->spec->image);
	image_puller_request(context_of(pod)->puller, c->spec->image,
			     c->spec->pull_policy == PULL_ALWAYS, pulled, wait);
	return false;
}

/* --- container runs ----------------------------------------------------------------------- */

static void on_exit_event(void *ctx, uint32_t events);

static bool will_restart(const struct pod *pod, const struct pod_container *c)
{
	if (c->init && c->spec->restart_always)
		return true;
	switch (pod->spec->restart_policy) {
	case RESTART_ALWAYS:
		return !c->init || c->state.exit_code != 0;
	case RESTART_ON_FAILURE:
		return c->state.exit_code != 0;
	case RESTART_NEVER:
		return false;
	}
	return false;
}

/* A run counts as started once its postStart hook has succeeded; one that fails it is killed
 * and restarted by its policy, as the kubelet does. */
static void post_start_done(struct pod_container *c, bool ok, const char *message)
{
	c->post_start_pending = false;
	if (ok) {
		pod_probes_start(c, false);
	} else {
		_cleanup_free_ char *text = pod_hook_failure(c, &c->spec->post_start, message);
		pod_event_container(c, "Warning", "FailedPostStartHook", "%s", text);
		pod_container_restart(c, "failed post-start hook");
	}
	pod_sync_soon(c->pod);
}

static void start_container(struct pod_container *c)
{
	struct pod *pod = c->pod;
	enum container_failure failure;
	struct ck_error err = {0};
	char now[TIMEUTIL_TEXT_SIZE];
	struct ck_error watch_err;

	if (c->log)
		log_stream_close(context_of(pod)->logs, c->log);
	c->log = NULL;
	if (pod_container_start(c, &failure, &err) < 0) {
		const char *reason =
		    failure == CONTAINER_FAILED_EXEC ? "RunContainerError" : "CreateContainerError";
		log_warn("pod %s/%s: container %s: %s", pod->spec->namespace, pod->spec->name,
			 c->spec->name, err.message);
		set_waiting(c, reason, err.message);
		pod_event_container(c, "Warning", "Failed", "Error: %s", err.message);
		c->restart_at_ms = loop_now_ms() + restart_backoff_step(&c->backoff, -1);
		pod_sync_at(pod, c->restart_at_ms);
		return;
	}
	now_text(now);
	container_state_clear(&c->state);
	c->state.phase = CONTAINER_RUNNING;
	snprintf(c->state.started_at, sizeof(c->state.started_at), "%s", now);
	if (asprintf(&c->state.container_id, "ckube://%s", c->run->id) < 0)
		abort();
	c->running_since_ms = loop_now_ms();
	c->stop_sent = false;
	c->kill_at_ms = 0;
	if (c->spec->post_start.kind != PROBE_NONE) {
		c->post_start_pending = true;
		c->started = c->ready = false;
		pod_hook_run(c, &c->spec->post_start, POST_START_TIMEOUT_MS, post_start_done);
	} else {
		pod_probes_start(c, false);
	}
	if (loop_add_fd(context_of(pod)->loop, c->run->pidfd, EPOLLIN, on_exit_event, c,
			&watch_err) < 0)
		log_warn("pod %s/%s: container %s: %s", pod->spec->namespace, pod->spec->name,
			 c->spec->name, watch_err.message);
	pod_event_container(c, "Normal", "Created", "Created container %s", c->spec->name);
	pod_event_container(c, "Normal", "Started", "Started container %s", c->spec->name);
}

/* The run ended: its state becomes the container's, the next restart is scheduled. */
static void record_exit(struct pod_container *c, const struct container_exit *exit, bool oom_killed)
{
	int64_t ran_ms = loop_now_ms() - c->running_since_ms;
	char now[TIMEUTIL_TEXT_SIZE];

	now_text(now);
	container_state_clear(&c->last_state);
	c->last_state = c->state; /* the running state: its start time and id */
	c->state = (struct container_state){.phase = CONTAINER_TERMINATED};
	c->state.exit_code = exit->code;
	c->state.signal = exit->signal;
	c->state.reason = strdup(oom_killed        ? "OOMKilled"
				 : exit->unknown   ? "ContainerStatusUnknown"
				 : exit->code == 0 ? "Completed"
						   : "Error");
	memcpy(c->state.started_at, c->last_state.started_at, sizeof(c->state.started_at));
	snprintf(c->state.finished_at, sizeof(c->state.finished_at), "%s", now);
	c->state.container_id = c->last_state.container_id;
	c->last_state.container_id = NULL;
	container_state_clear(&c->last_state);
	c->ready = false;
	c->restart_at_ms = loop_now_ms() + restart_backoff_step(&c->backoff, ran_ms);
}

static bool oom_kill_seen(struct pod_container *c)
{
	const char *path = json_string_value(json_object_get(c->run->state, "cgroup"));
	struct cgroup_stats stats;
	bool seen = false;
	int fd;

	if (!path)
		return false;
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		seen = cgroup_stats_read(fd, &stats, NULL) == 0 && stats.oom_kills > 0;
		close(fd);
	}
	return seen;
}

static void on_exit_event(void *ctx, uint32_t events)
{
	struct pod_container *c = ctx;
	struct pod *pod = c->pod;
	struct container_exit exit;
	struct ck_error err = {0};

	(void)events;
	if (c->run && c->run->adopted)
		adopted_exits_drain(pods_adopted_exits(pod->pods));
	if (!c->run || container_poll_exit(c->run, &exit, &err) < 0 || !exit.exited)
		return;
	stop_watching(c);
	pod_probes_stop(c);
	pod_hook_cancel(c);
	c->post_start_pending = false;
	record_exit(c, &exit, exit.signal == SIGKILL && oom_kill_seen(c));
	if (container_remove(c->run, &err) < 0)
		log_warn("pod %s/%s: container %s: %s", pod->spec->namespace, pod->spec->name,
			 c->spec->name, err.message);
	c->run = NULL;
	pod_sync_soon(pod);
}

/* Pumps the output of a run this agent did not start (an adopted one) into its log file. */
static void reopen_output(struct pod_container *c)
{
	const struct agent_context *context = context_of(c->pod);
	_cleanup_free_ char *path = pod_container_log_path(c, context);
	struct ck_error err = {0};
	int reader[2];

	if (container_output_reopen(c->run, reader, &err) < 0 ||
	    log_pump_add(context->logs, path, reader[0], reader[1], &c->log, &err) < 0) {
		c->log = NULL;
		log_warn("pod %s/%s: container %s: log: %s", c->pod->spec->namespace,
			 c->pod->spec->name, c->spec->name, err.message);
	}
}

void pod_container_adopt(struct pod_container *c, struct container *run, int restart_count)
{
	struct pod *pod = c->pod;
	struct image_store *store = image_puller_store(context_of(pod)->puller);
	_cleanup_free_ char *id = NULL;
	struct ck_error err = {0};

	if (asprintf(&id, "ckube://%s", run->id) < 0)
		abort();
	c->run = run;
	c->restart_count = restart_count;
	pod->start_recorded = true; /* started by an earlier agent: no start latency to tell */
	/* The API's start time is the true one when it is about this very run (restored as
	 * ContainerStatusUnknown until now); else the state file's creation time. */
	char started_at[TIMEUTIL_TEXT_SIZE];
	bool same_run =
	    c->state.container_id && strcmp(c->state.container_id, id) == 0 && *c->state.started_at;
	snprintf(started_at, sizeof(started_at), "%s",
		 same_run ? c->state.started_at
			  : json_string_value(json_object_get(run->state, "created")) ?: "");
	container_state_clear(&c->state);
	memcpy(c->state.started_at, started_at, sizeof(started_at));
	c->state.phase = CONTAINER_RUNNING;
	c->state.container_id = steal_ptr(&id);
	c->running_since_ms = loop_now_ms();
	if (!c->image)
		image_store_find(store, c->spec->image, &c->image, NULL);
	if (run->pidfd < 0) {
		/* Gone altogether: nothing can tell how it ended. */
		struct container_exit exit = {.exited = true, .code = 137, .unknown = true};
		record_exit(c, &exit, false);
		if (container_remove(run, &err) < 0)
			log_warn("pod %s/%s: container %s: %s", pod->spec->namespace,
				 pod->spec->name, c->spec->name, err.message);
		c->run = NULL;
		return;
	}
	if (loop_add_fd(context_of(pod)->loop, run->pidfd, EPOLLIN, on_exit_event, c, &err) < 0)
		log_warn("pod %s/%s: container %s: %s", pod->spec->namespace, pod->spec->name,
			 c->spec->name, err.message);
	adopted_exits_watch(pods_adopted_exits(pod->pods), run);
	reopen_output(c);
	pod_probes_start(c, true);
}

static void kill_container(struct pod_container *c);

static void pre_stop_done(struct pod_container *c, bool ok, const char *message)
{
	if (!ok) {
		_cleanup_free_ char *text = pod_hook_failure(c, &c->spec->pre_stop, message);
		pod_event_container(c, "Warning", "FailedPreStopHook", "%s", text);
	}
	if (c->run)
		container_signal(c->run, c->run->stop_signal, NULL);
}

/* The preStop hook, if the container has one, within the grace period, then the stop signal;
 * the sync kills the container at `deadline_ms` whatever the hook does. */
static void stop_container(struct pod_container *c, int64_t deadline_ms)
{
	pod_probes_stop(c);
	c->stop_sent = true;
	c->post_start_pending = false;
	if (c->spec->pre_stop.kind != PROBE_NONE) {
		pod_hook_run(c, &c->spec->pre_stop, deadline_ms - loop_now_ms(), pre_stop_done);
		return;
	}
	pod_hook_cancel(c);
	container_signal(c->run, c->run->stop_signal, NULL);
}

void pod_container_restart(struct pod_container *c, const char *why)
{
	struct pod *pod = c->pod;
	int64_t grace_s = c->spec->liveness.termination_grace_seconds;

	if (!c->run || c->stop_sent)
		return;
	pod_event_container(c, "Normal", "Killing", "Container %s %s, will be restarted",
			    c->spec->name, why);
	/* A probe-level grace period (terminationGracePeriodSeconds) wins over the pod's. */
	if (grace_s < 0)
		grace_s = pod->spec->termination_grace_seconds;
	c->kill_at_ms = loop_now_ms() + grace_s * 1000;
	stop_container(c, c->kill_at_ms);
	pod_sync_at(pod, c->kill_at_ms);
}

/* Runs the container if it should run now: start, or restart after its back-off. Returns true
 * while it runs (or will soon: a pull or back-off is pending). */
static void ensure_running(struct pod_container *c)
{
	struct pod *pod = c->pod;

	if (c->run) {
		if (c->kill_at_ms && loop_now_ms() >= c->kill_at_ms) {
			kill_container(c);
			c->kill_at_ms = 0;
		} else if (c->kill_at_ms) {
			pod_sync_at(pod, c->kill_at_ms);
		}
		return;
	}
	if (c->state.phase == CONTAINER_TERMINATED) {
		if (!will_restart(pod, c))
			return;
		if (loop_now_ms() < c->restart_at_ms) {
			char message[256];
			snprintf(message, sizeof(message),
				 "back-off %llds restarting failed container=%s pod=%s_%s(%s)",
				 (long long)(c->backoff.current_ms / 1000), c->spec->name,
				 pod->spec->name, pod->spec->namespace, pod->uid);
			container_state_clear(&c->last_state);
			c->last_state = c->state;
			c->state = (struct container_state){0};
			set_waiting(c, "CrashLoopBackOff", message);
			pod_event_container(
			    c, "Warning", "BackOff",
			    "Back-off restarting failed container %s in pod %s_%s(%s)",
			    c->spec->name, pod->spec->name, pod->spec->namespace, pod->uid);
			pod_sync_at(pod, c->restart_at_ms);
			return;
		}
		container_state_clear(&c->last_state);
		c->last_state = c->state;
		c->state = (struct container_state){0};
		c->restart_count++;
	} else if (c->state.reason && strcmp(c->state.reason, "CrashLoopBackOff") == 0) {
		if (loop_now_ms() < c->restart_at_ms) {
			pod_sync_at(pod, c->restart_at_ms);
			return;
		}
		c->restart_count++;
	} else if (c->restart_at_ms && loop_now_ms() < c->restart_at_ms) {
		pod_sync_at(pod, c->restart_at_ms);
		return;
	}
	if (!have_image(c)) {
		if (c->state.phase != CONTAINER_WAITING || !c->state.reason)
			set_waiting(c, c->init ? "PodInitializing" : "ContainerCreating", NULL);
		return;
	}
	start_container(c);
}

/* --- the pod ------------------------------------------------------------------------------ */

/* Volumes come with the volume part of the node; until then a pod that has any waits in
 * ContainerCreating with the reason in a FailedMount event, as a pod whose mount fails does,
 * rather than run without its data. */
static bool volumes_ready(struct pod *pod)
{
	const json_t *volume = json_array_get(pod->spec->volumes, 0);
	const char *name = json_string_value(json_object_get(volume, "name"));

	if (!volume)
		return true;
	if (!pod->volume_error_reported) {
		pod_event_pod(pod, "Warning", "FailedMount",
			      "MountVolume.SetUp failed for volume \"%s\" : volumes are not "
			      "supported by this node yet",
			      name ? name : "?");
		pod->volume_error_reported = true;
	}
	return false;
}

static bool ensure_sandbox(struct pod *pod)
{
	struct ck_error err = {0};

	if (pod->sandbox_ready)
		return true;
	if (!volumes_ready(pod))
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
		now_text(pod->start_time);
	return true;
}

/* Init containers one after another; true once all have succeeded (sidecars: started). */
static bool run_init_containers(struct pod *pod)
{
	for (size_t i = 0; i < pod->init_count; i++) {
		struct pod_container *c = &pod->init_containers[i];

		if (c->spec->restart_always) {
			ensure_running(c);
			if (!c->run)
				return false;
			continue;
		}
		if (c->state.phase == CONTAINER_TERMINATED && c->state.exit_code == 0)
			continue;
		ensure_running(c);
		return false;
	}
	return true;
}

static void run_pod(struct pod *pod)
{
	if (!ensure_sandbox(pod))
		return;
	if (!run_init_containers(pod))
		return;
	pod->stage = POD_RUNNING;
	for (size_t i = 0; i < pod->container_count; i++)
		ensure_running(&pod->containers[i]);
}

static int64_t grace_ms(const struct pod *pod)
{
	if (pod->removed_from_api && !pod->is_static)
		return FORCED_GRACE_MS;
	if (pod->spec->deletion_grace_seconds >= 0)
		return pod->spec->deletion_grace_seconds * 1000;
	return pod->spec->termination_grace_seconds * 1000;
}

static void kill_container(struct pod_container *c)
{
	const char *path = json_string_value(json_object_get(c->run->state, "cgroup"));
	int fd = path ? open(path, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;

	if (fd >= 0) {
		cgroup_kill(fd, NULL);
		close(fd);
	}
	pod_hook_cancel(c); /* a preStop hook gets no longer than the grace period */
	container_signal(c->run, SIGKILL, NULL);
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
			stop_container(c, pod->kill_deadline_ms);
		}
		if (now >= pod->kill_deadline_ms)
			kill_container(c);
	}
	if (running)
		pod_sync_at(pod, now >= pod->kill_deadline_ms ? now + 1000 : pod->kill_deadline_ms);
	return !running;
}

static void terminate_pod(struct pod *pod)
{
	struct ck_error err = {0};

	pod->stage = POD_TERMINATING;
	if (!stop_containers(pod))
		return;
	if (pod_sandbox_remove(pod, context_of(pod), &err) < 0) {
		log_warn("pod %s/%s: remove sandbox: %s", pod->spec->namespace, pod->spec->name,
			 err.message);
		pod_sync_at(pod, loop_now_ms() + SANDBOX_RETRY_MS);
		return;
	}
	pod->sandbox_ready = false;
	if (pod->netns_fd >= 0)
		close(pod->netns_fd);
	pod->netns_fd = -1;
	pod->stage = POD_GONE;
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
	    .pod_ip = pod->spec->host_network ? context->config->node_ip : NULL,
	    .now = now,
	};
	json_t *status;

	if (pod->is_static && !pod->mirror_uid) {
		request_mirror(pod);
		return;
	}
	now_text(now);
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
