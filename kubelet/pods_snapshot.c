/* The pods as the status socket shows them (the JSON described in status_socket.h), built in
 * the loop's thread from its own view: what the agent did and where, rather than what the API
 * was told. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet/pod.h"
#include "kubelet/pod_sandbox.h"
#include "kubelet/pod_status.h"
#include "kubelet/pod_sync.h"
#include "kubelet/pod_volumes.h"
#include "kubelet/pods.h"
#include "lib/cleanup.h"

static const char *const stage_names[] = {
    [POD_STARTING] = "starting",
    [POD_RUNNING] = "running",
    [POD_TERMINATING] = "terminating",
    [POD_GONE] = "gone",
};

static const char *const phase_names[] = {
    [CONTAINER_WAITING] = "waiting",
    [CONTAINER_RUNNING] = "running",
    [CONTAINER_TERMINATED] = "terminated",
};

/* A waiting container whose start failed says why in its state; other waiting reasons
 * (ContainerCreating, CrashLoopBackOff, ...) are no failure of a step. */
static const char *start_error(const struct pod_container *c)
{
	const char *reason = c->state.reason;

	if (c->state.phase != CONTAINER_WAITING || !reason || !c->state.message)
		return NULL;
	if (strcmp(reason, "CreateContainerError") == 0 || strcmp(reason, "RunContainerError") == 0)
		return c->state.message;
	return NULL;
}

static json_t *mounts_json(const struct container_spec *spec)
{
	json_t *mounts = json_array();

	for (size_t i = 0; i < spec->mount_count; i++) {
		const struct volume_mount_spec *m = &spec->mounts[i];
		json_array_append_new(mounts, json_pack("{s:s, s:s, s:b, s:s?}", "name", m->name,
							"mountPath", m->mount_path, "readOnly",
							m->read_only, "subPath", m->sub_path));
	}
	return mounts;
}

/* The current run's id, or the last one's as the state remembers it ("ckube://<id>"). */
static const char *container_id(const struct pod_container *c)
{
	const char *id = c->state.container_id;

	if (c->run)
		return c->run->id;
	if (id && strncmp(id, "ckube://", 8) == 0)
		return id + 8;
	return id;
}

static json_t *container_json(const struct pod_container *c, json_t *errors)
{
	const char *pull_error = c->image_error, *failed_start = start_error(c);
	const char *cgroup =
	    c->run ? json_string_value(json_object_get(c->run->state, "cgroup")) : NULL;
	json_t *out = json_pack(
	    "{s:s, s:b, s:s?, s:s, s:s?, s:i, s:s, s:s?, s:s?, s:o, s:s?}", "name", c->spec->name,
	    "init", c->init, "id", container_id(c), "state", phase_names[c->state.phase], "reason",
	    c->state.reason, "restartCount", c->restart_count, "image", c->spec->image, "imageID",
	    c->image ? c->image->id : NULL, "cgroup", cgroup, "mounts", mounts_json(c->spec),
	    "lastError", failed_start ? failed_start : pull_error);
	char step[300];

	json_object_set_new(out, "pid",
			    c->run && c->state.phase == CONTAINER_RUNNING
				? json_integer(c->run->pid)
				: json_null());
	if (c->state.phase == CONTAINER_TERMINATED)
		json_object_set_new(out, "exitCode", json_integer(c->state.exit_code));
	if (pull_error) {
		snprintf(step, sizeof(step), "pull %s", c->spec->name);
		json_object_set_new(errors, step, json_string(pull_error));
	}
	if (failed_start) {
		snprintf(step, sizeof(step), "start %s", c->spec->name);
		json_object_set_new(errors, step, json_string(failed_start));
	}
	return out;
}

static json_t *pod_ips(const struct pod *pod)
{
	json_t *ips = json_array();
	size_t i;
	json_t *entry;

	json_array_foreach (json_object_get(pod->last_status, "podIPs"), i, entry)
		json_array_append(ips, json_object_get(entry, "ip"));
	return ips;
}

static void add_pod(struct pod *pod, void *ctx)
{
	const struct agent_context *context = pods_context(pod->pods);
	_cleanup_free_ char *ns_dir = pod_namespaces_dir(pod), *netns = NULL, *cgroup = NULL;
	json_t *containers = json_array(), *errors = json_object(), *volumes;

	if (!pod->spec->host_network && pod->sandbox_ready &&
	    asprintf(&netns, "%s/net", ns_dir) < 0)
		abort();
	if (pod->cgroup_relative &&
	    asprintf(&cgroup, "%s/%s", context->cgroup->path, pod->cgroup_relative) < 0)
		abort();
	if (pod->sandbox_error)
		json_object_set_new(errors, "sandbox", json_string(pod->sandbox_error));
	volumes = pod_volumes_json(pod, errors);
	for (size_t i = 0; i < pod->init_count; i++)
		json_array_append_new(containers, container_json(&pod->init_containers[i], errors));
	for (size_t i = 0; i < pod->container_count; i++)
		json_array_append_new(containers, container_json(&pod->containers[i], errors));
	json_array_append_new(
	    ctx,
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:O?, s:o, s:b, s:s?, s:s?, s:s?, s:o, s:o, s:o}",
		      "namespace", pod->spec->namespace, "name", pod->spec->name, "uid", pod->uid,
		      "phase", pod_status_phase(pod), "stage", stage_names[pod->stage], "podIP",
		      json_object_get(pod->last_status, "podIP"), "podIPs", pod_ips(pod),
		      "hostNetwork", pod->spec->host_network, "netns", netns, "cgroup", cgroup,
		      "startTime", *pod->start_time ? pod->start_time : NULL, "volumes", volumes,
		      "containers", containers, "errors", errors));
}

json_t *pods_snapshot(struct pods *pods)
{
	json_t *list = json_array();

	pods_for_each(pods, add_pod, list);
	return list;
}
