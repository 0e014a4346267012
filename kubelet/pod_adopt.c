/* Taking over what an earlier agent left: see pod_adopt.h. */
#include "kubelet/pod_adopt.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet/pod_runs.h"
#include "kubelet/pod_sync.h"
#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "lib/json_util.h"
#include "lib/log.h"
#include "lib/strmap.h"

struct adoption {
	const struct agent_context *context;
	struct container **runs; /* a claimed run is NULL here */
	size_t run_count;
	struct strmap *sandboxes; /* uid -> the Pod its sandbox recorded */
};

static void json_release(void *json)
{
	json_decref(json);
}

static const char *annotation(const struct container *run, const char *name)
{
	return json_string_value(json_object_get(json_object_get(run->state, "annotations"), name));
}

static int load_sandboxes(struct adoption *adoption, struct ck_error *err)
{
	_cleanup_free_ char *parent = NULL;
	struct dirent *entry;
	DIR *dir;

	if (asprintf(&parent, "%s/pods", adoption->context->config->dirs.run_dir) < 0)
		abort();
	dir = opendir(parent);
	if (!dir)
		return errno == ENOENT ? 0 : ck_error_errno(err, errno, "open %s", parent);
	while ((entry = readdir(dir))) {
		_cleanup_free_ char *path = NULL;
		json_t *pod;

		if (entry->d_name[0] == '.')
			continue;
		if (asprintf(&path, "%s/%s/pod.json", parent, entry->d_name) < 0)
			abort();
		pod = json_load_file(path, 0, NULL);
		if (!json_is_object(pod)) {
			/* A sandbox whose creation never got as far as recording its pod. */
			log_warn("node %s: %s: no readable pod.json; left as it is",
				 adoption->context->config->node_name, path);
			json_decref(pod);
			continue;
		}
		strmap_put(adoption->sandboxes, entry->d_name, pod);
	}
	closedir(dir);
	return 0;
}

int adoption_load(const struct agent_context *context, struct adoption **out, struct ck_error *err)
{
	struct adoption *adoption = calloc(1, sizeof(*adoption));
	struct container **runs;
	size_t count;
	int r;

	if (!adoption)
		abort();
	adoption->context = context;
	adoption->sandboxes = strmap_new(json_release);
	r = container_adopt_all(context->config->dirs.run_dir, &runs, &count, err);
	if (r == 0)
		r = load_sandboxes(adoption, err);
	if (r < 0) {
		for (size_t i = 0; i < count; i++)
			container_free(runs[i]);
		free(runs);
		adoption_free(adoption);
		return r;
	}
	/* Containers of `ckube run` may share the run directory; only pods' runs are ours. */
	adoption->runs = calloc(count + 1, sizeof(*adoption->runs));
	if (!adoption->runs)
		abort();
	for (size_t i = 0; i < count; i++) {
		if (annotation(runs[i], "podUID"))
			adoption->runs[adoption->run_count++] = runs[i];
		else
			container_free(runs[i]);
	}
	free(runs);
	*out = adoption;
	return 0;
}

void adoption_free(struct adoption *adoption)
{
	if (!adoption)
		return;
	for (size_t i = 0; i < adoption->run_count; i++)
		container_free(adoption->runs[i]);
	free(adoption->runs);
	strmap_free(adoption->sandboxes);
	free(adoption);
}

/* --- the API's last word on each container ----------------------------------------------- */

static void copy_text(char *out, size_t size, const json_t *object, const char *key)
{
	snprintf(out, size, "%s", json_string_value(json_object_get(object, key)) ?: "");
}

static char *copy_or_null(const json_t *object, const char *key)
{
	const char *text = json_string_value(json_object_get(object, key));
	return text ? strdup(text) : NULL;
}

/* A containerStatuses[].state or .lastState object; false when it is empty. */
static bool state_from_json(const json_t *object, struct container_state *out)
{
	const json_t *running = json_object_get(object, "running");
	const json_t *terminated = json_object_get(object, "terminated");
	const json_t *waiting = json_object_get(object, "waiting");

	*out = (struct container_state){0};
	if (terminated) {
		out->phase = CONTAINER_TERMINATED;
		out->exit_code = (int)json_integer_value(json_object_get(terminated, "exitCode"));
		out->signal = (int)json_integer_value(json_object_get(terminated, "signal"));
		out->reason = copy_or_null(terminated, "reason");
		out->message = copy_or_null(terminated, "message");
		out->container_id = copy_or_null(terminated, "containerID");
		copy_text(out->started_at, sizeof(out->started_at), terminated, "startedAt");
		copy_text(out->finished_at, sizeof(out->finished_at), terminated, "finishedAt");
		return true;
	}
	if (running) {
		out->phase = CONTAINER_RUNNING;
		copy_text(out->started_at, sizeof(out->started_at), running, "startedAt");
		return true;
	}
	if (waiting) {
		out->phase = CONTAINER_WAITING;
		out->reason = copy_or_null(waiting, "reason");
		out->message = copy_or_null(waiting, "message");
		return true;
	}
	return false;
}

static void restore_container(struct pod_container *c, const json_t *status)
{
	struct container_state state, last;

	c->restart_count = (int)json_integer_value(json_object_get(status, "restartCount"));
	if (state_from_json(json_object_get(status, "state"), &state)) {
		if (state.phase == CONTAINER_RUNNING) {
			/* It ran; unless its run is found below, it is gone without a trace. */
			state.phase = CONTAINER_TERMINATED;
			state.exit_code = 137;
			state.reason = strdup("ContainerStatusUnknown");
			state.message = strdup("The container could not be located when the "
					       "node agent restarted");
			state.container_id = copy_or_null(status, "containerID");
		}
		container_state_clear(&c->state);
		c->state = state;
	}
	if (state_from_json(json_object_get(status, "lastState"), &last)) {
		container_state_clear(&c->last_state);
		c->last_state = last;
	}
}

static void restore_statuses(struct pod_container *list, size_t count, const json_t *statuses)
{
	size_t i;
	json_t *status;

	json_array_foreach ((json_t *)statuses, i, status) {
		const char *name = json_string_value(json_object_get(status, "name"));
		for (size_t k = 0; name && k < count; k++)
			if (strcmp(list[k].spec->name, name) == 0)
				restore_container(&list[k], status);
	}
}

/* --- runs ---------------------------------------------------------------------------------- */

static void discard_run(struct adoption *adoption, size_t index)
{
	struct container *run = adoption->runs[index];
	struct ck_error err = {0};

	adoption->runs[index] = NULL;
	if (container_running(run)) {
		log_warn("node %s: container %s belongs to no pod: killed",
			 adoption->context->config->node_name, run->id);
		container_signal(run, SIGKILL, NULL);
		container_free(run);
		return;
	}
	if (container_remove(run, &err) < 0)
		log_warn("node %s: %s", adoption->context->config->node_name, err.message);
}

static bool run_of(const struct container *run, const struct pod_container *c)
{
	const json_t *init = json_object_get(json_object_get(run->state, "annotations"), "init");
	return strcmp(annotation(run, "podUID"), c->pod->uid) == 0 &&
	       strcmp(annotation(run, "containerName") ?: "", c->spec->name) == 0 &&
	       json_is_true(init) == c->init;
}

static int run_restart_count(const struct container *run)
{
	return (int)json_integer_value(
	    json_object_get(json_object_get(run->state, "annotations"), "restartCount"));
}

/* The latest run of the container goes back to it; earlier ones are removed. */
static void claim_runs(struct adoption *adoption, struct pod_container *c)
{
	ssize_t latest = -1;

	for (size_t i = 0; i < adoption->run_count; i++) {
		struct container *run = adoption->runs[i];
		if (!run || !run_of(run, c))
			continue;
		if (latest < 0) {
			latest = (ssize_t)i;
		} else if (run_restart_count(run) > run_restart_count(adoption->runs[latest])) {
			discard_run(adoption, (size_t)latest);
			latest = (ssize_t)i;
		} else {
			discard_run(adoption, i);
		}
	}
	if (latest < 0)
		return;
	struct container *run = adoption->runs[latest];
	adoption->runs[latest] = NULL;
	pod_container_adopt(c, run, run_restart_count(run));
}

void adoption_claim(struct adoption *adoption, struct pod *pod)
{
	const json_t *status = pod->last_status;

	if (!adoption)
		return;
	strmap_remove(adoption->sandboxes, pod->uid);
	restore_statuses(pod->init_containers, pod->init_count,
			 json_object_get(status, "initContainerStatuses"));
	restore_statuses(pod->containers, pod->container_count,
			 json_object_get(status, "containerStatuses"));
	copy_text(pod->start_time, sizeof(pod->start_time), status, "startTime");
	for (size_t i = 0; i < pod->init_count; i++)
		claim_runs(adoption, &pod->init_containers[i]);
	for (size_t i = 0; i < pod->container_count; i++)
		claim_runs(adoption, &pod->containers[i]);
}

json_t *adoption_orphans(struct adoption *adoption)
{
	json_t *orphans = json_array();
	const char *uid;
	json_t *pod;

	STRMAP_FOREACH (adoption->sandboxes, iter, uid, pod)
		json_array_append(orphans, pod);
	for (size_t i = 0; i < adoption->run_count; i++) {
		const struct container *run = adoption->runs[i];
		if (run && !strmap_get(adoption->sandboxes, annotation(run, "podUID")))
			discard_run(adoption, i);
	}
	return orphans;
}
