/* The runs of a pod's containers: see pod_runs.h. */
#include "kubelet/pod_runs.h"

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
#include "kubelet/image_puller.h"
#include "kubelet/pod_events.h"
#include "kubelet/pod_hooks.h"
#include "kubelet/pod_images.h"
#include "kubelet/pod_probes.h"
#include "kubelet/pod_sandbox.h"
#include "kubelet/pod_start.h"
#include "kubelet/pod_sync.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define POST_START_TIMEOUT_MS 120000 /* the kubelet gives it none; a hung hook is a failed one */

static const struct agent_context *context_of(const struct pod *pod)
{
	return pods_context(pod->pods);
}

void pod_container_set_waiting(struct pod_container *c, const char *reason, const char *message)
{
	container_state_clear(&c->state);
	c->state.phase = CONTAINER_WAITING;
	c->state.reason = reason ? strdup(reason) : NULL;
	c->state.message = message ? strdup(message) : NULL;
}

static void stop_watching(struct pod_container *c)
{
	if (c->run && c->run->pidfd >= 0)
		loop_remove_fd(context_of(c->pod)->loop, c->run->pidfd);
	if (c->run && c->run->adopted)
		adopted_exits_forget(pods_adopted_exits(c->pod->pods), c->run);
}

void pod_run_detach(struct pod_container *c)
{
	stop_watching(c);
	pod_hook_cancel(c);
	pod_probes_free(c);
	container_free(c->run);
	c->run = NULL;
	if (c->log)
		log_stream_close(context_of(c->pod)->logs, c->log);
	c->log = NULL;
}

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
		pod_container_set_waiting(c, reason, err.message);
		pod_event_container(c, "Warning", "Failed", "Error: %s", err.message);
		c->restart_at_ms = loop_now_ms() + restart_backoff_step(&c->backoff, -1);
		pod_sync_at(pod, c->restart_at_ms);
		return;
	}
	timeutil_format_rfc3339(time(NULL), now);
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

	timeutil_format_rfc3339(time(NULL), now);
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

void pod_run_kill(struct pod_container *c)
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
void pod_run_stop(struct pod_container *c, int64_t deadline_ms)
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
	pod_run_stop(c, c->kill_at_ms);
	pod_sync_at(pod, c->kill_at_ms);
}

/* Runs the container if it should run now: start, or restart after its back-off. Returns true
 * while it runs (or will soon: a pull or back-off is pending). */
void pod_run_sync(struct pod_container *c)
{
	struct pod *pod = c->pod;

	if (c->run) {
		if (c->kill_at_ms && loop_now_ms() >= c->kill_at_ms) {
			pod_run_kill(c);
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
			pod_container_set_waiting(c, "CrashLoopBackOff", message);
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
	if (!pod_image_ready(c)) {
		if (c->state.phase != CONTAINER_WAITING || !c->state.reason)
			pod_container_set_waiting(
			    c, c->init ? "PodInitializing" : "ContainerCreating", NULL);
		return;
	}
	start_container(c);
}
