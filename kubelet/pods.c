/* The table of this node's pods and what changes it: the pod watch, container exits and the
 * timers the pods ask for. The work itself is in pod_sync.c. */
#include "kubelet/pods.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "kubelet/adopted_exits.h"
#include "kubelet/pod.h"
#include "kubelet/pod_adopt.h"
#include "kubelet/pod_sandbox.h"
#include "kubelet/pod_sync.h"
#include "kubelet/pod_volumes.h"
#include "kubelet/static_pods.h"
#include "runtime/process_spec.h"
#include "volume/pod_volume_dirs.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/strmap.h"

struct pods {
	struct agent_context context;
	struct strmap *by_uid;     /* uid -> struct pod */
	struct adoption *adoption; /* what an earlier agent left, until the first snapshot */
	struct static_pods *static_source;
	struct adopted_exits *exits;
	bool snapshot_seen;
};

static void container_clear(struct pod_container *c)
{
	container_state_clear(&c->state);
	container_state_clear(&c->last_state);
	image_record_free(c->image);
	free(c->image_error);
}

static void pod_free(void *value)
{
	struct pod *pod = value;

	for (size_t i = 0; i < pod->init_count; i++)
		container_clear(&pod->init_containers[i]);
	for (size_t i = 0; i < pod->container_count; i++)
		container_clear(&pod->containers[i]);
	free(pod->init_containers);
	free(pod->containers);
	pod_volumes_free(pod);
	pod_spec_free(pod->spec);
	json_decref(pod->last_status);
	free(pod->sandbox_error);
	free(pod->evicted_message);
	free(pod->cgroup_relative);
	free(pod->mirror_uid);
	free(pod->dir);
	free(pod->uid);
	free(pod);
}

static struct pod_container *containers_for(struct pod *pod, const struct container_spec *specs,
					    size_t count, bool init)
{
	struct pod_container *list = calloc(count + 1, sizeof(*list));

	if (!list)
		abort();
	for (size_t i = 0; i < count; i++) {
		list[i] = (struct pod_container){.pod = pod, .spec = &specs[i], .init = init};
		list[i].state.phase = CONTAINER_WAITING;
		list[i].state.reason = strdup(init ? "PodInitializing" : "ContainerCreating");
	}
	return list;
}

static struct pod *pod_new(struct pods *pods, struct pod_spec *spec)
{
	struct pod *pod = calloc(1, sizeof(*pod));

	if (!pod)
		abort();
	pod->pods = pods;
	pod->uid = strdup(spec->uid);
	pod->spec = spec;
	pod->cgroup_fd = -1;
	pod->seen_ms = loop_now_ms();
	if (asprintf(&pod->dir, "%s/pods/%s", pods->context.config->dirs.run_dir, spec->uid) < 0)
		abort();
	pod->init_containers =
	    containers_for(pod, spec->init_containers, spec->init_container_count, true);
	pod->init_count = spec->init_container_count;
	pod->containers = containers_for(pod, spec->containers, spec->container_count, false);
	pod->container_count = spec->container_count;
	/* What the API already shows (after an agent restart) keeps its transition times. */
	pod->last_status = json_incref(json_object_get(spec->object, "status"));
	return pod;
}

/* A newer version of a pod's spec: the containers point into it from now on. */
static void renew_spec(struct pod *pod, struct pod_spec *spec)
{
	struct pod_spec *old = pod->spec;

	for (size_t i = 0; i < pod->init_count && i < spec->init_container_count; i++)
		pod->init_containers[i].spec = &spec->init_containers[i];
	for (size_t i = 0; i < pod->container_count && i < spec->container_count; i++)
		pod->containers[i].spec = &spec->containers[i];
	pod->spec = spec;
	pod_spec_free(old);
}

static void upsert(struct pods *pods, const json_t *object, bool from_file)
{
	struct ck_error err = {0};
	struct pod_spec *spec;
	struct pod *pod;

	if (pod_spec_parse(object, &spec, &err) < 0) {
		log_warn(
		    "node %s: pod %s: %s", pods->context.config->node_name,
		    json_string_value(json_object_get(json_object_get(object, "metadata"), "name"))
			?: "?",
		    err.message);
		return;
	}
	pod = strmap_get(pods->by_uid, spec->uid);
	if (pod) {
		renew_spec(pod, spec);
	} else {
		pod = pod_new(pods, spec);
		pod->is_static = from_file;
		strmap_put(pods->by_uid, pod->uid, pod);
		adoption_claim(pods->adoption, pod);
	}
	pod_sync_soon(pod);
}

/* --- static pods and their mirrors ----------------------------------------------------------- */

static struct pod *static_pod_named(struct pods *pods, const char *namespace, const char *name)
{
	const char *uid;
	struct pod *pod;

	STRMAP_FOREACH (pods->by_uid, iter, uid, pod)
		if (pod->is_static && strcmp(pod->spec->namespace, namespace) == 0 &&
		    strcmp(pod->spec->name, name) == 0)
			return pod;
	return NULL;
}

/* A mirror pod in the API. The right one (for the static pod's current uid, not being
 * deleted) is where the static pod's status goes; any other is deleted, and a static pod
 * left without one gets a new one when the deletion shows. */
static void mirror_seen(struct pods *pods, const json_t *mirror)
{
	const json_t *metadata = json_object_get(mirror, "metadata");
	const char *namespace = json_string_value(json_object_get(metadata, "namespace"));
	const char *name = json_string_value(json_object_get(metadata, "name"));
	const char *uid = json_string_value(json_object_get(metadata, "uid"));
	const char *hash = json_string_value(json_object_get(
	    json_object_get(metadata, "annotations"), STATIC_POD_MIRROR_ANNOTATION));
	struct pod *pod = namespace && name ? static_pod_named(pods, namespace, name) : NULL;

	if (!uid || !namespace || !name)
		return;
	if (!pod || !hash || strcmp(hash, pod->uid) != 0 ||
	    json_object_get(metadata, "deletionTimestamp")) {
		api_writer_delete_pod(pods->context.writer, namespace, name, uid);
		return;
	}
	pod->mirror_listed = true;
	pod->mirror_requested = false;
	if (pod->mirror_uid && strcmp(pod->mirror_uid, uid) == 0)
		return;
	free(pod->mirror_uid);
	pod->mirror_uid = strdup(uid);
	/* A new object: its status is written whole. */
	json_decref(pod->last_status);
	pod->last_status = NULL;
	pod_sync_soon(pod);
}

static void mirror_gone(struct pods *pods, const json_t *mirror)
{
	const json_t *metadata = json_object_get(mirror, "metadata");
	const char *uid = json_string_value(json_object_get(metadata, "uid"));
	struct pod *pod =
	    static_pod_named(pods, json_string_value(json_object_get(metadata, "namespace")) ?: "",
			     json_string_value(json_object_get(metadata, "name")) ?: "");

	if (!pod || !uid || !pod->mirror_uid || strcmp(pod->mirror_uid, uid) != 0)
		return;
	free(pod->mirror_uid);
	pod->mirror_uid = NULL;
	pod->mirror_requested = false;
	pod_sync_soon(pod); /* makes a new one */
}

void pods_static_changed(void *ctx, const json_t *list)
{
	struct pods *pods = ctx;
	struct strmap *listed = strmap_new(NULL);
	const char *uid;
	struct pod *pod;
	size_t i;
	json_t *item;

	json_array_foreach ((json_t *)list, i, item) {
		const char *item_uid =
		    json_string_value(json_object_get(json_object_get(item, "metadata"), "uid"));
		strmap_put(listed, item_uid, item);
		upsert(pods, item, true);
	}
	STRMAP_FOREACH (pods->by_uid, iter, uid, pod)
		if (pod->is_static && !strmap_get(listed, uid)) {
			pod->removed_from_api = true;
			pod_sync_soon(pod);
		}
	strmap_free(listed);
}

bool pods_api_listed(const struct pods *pods)
{
	return pods->snapshot_seen;
}

/* Volume directories (and their mounts) of pods this node no longer has: what an agent that
 * crashed between a pod's sandbox and its volumes left, or a reboot that took the run
 * directory and its sandboxes along. */
static void remove_orphan_volumes(struct pods *pods)
{
	const char *pods_dir = pods->context.pods_dir;
	struct ck_error err = {0};
	char **uids;

	if (pod_volume_dirs_list(pods_dir, &uids, &err) < 0)
		log_warn("node %s: %s", pods->context.config->node_name, err.message);
	for (char **uid = uids; *uid; uid++) {
		int unmounted = 0;

		if (strmap_get(pods->by_uid, *uid))
			continue;
		if (pod_volume_dir_remove(pods_dir, *uid, &unmounted, &err) < 0)
			log_warn("node %s: %s", pods->context.config->node_name, err.message);
		else
			log_info("node %s: volumes of gone pod %s removed (%d mounts)",
				 pods->context.config->node_name, *uid, unmounted);
	}
	strv_free(uids);
}

/* Sandboxes of pods deleted while no agent ran: pods to remove, with what runs in them. */
static void remove_orphans(struct pods *pods)
{
	_cleanup_json_ json_t *orphans = adoption_orphans(pods->adoption);
	size_t i;
	json_t *object;

	json_array_foreach (orphans, i, object) {
		struct ck_error err = {0};
		struct pod_spec *spec;
		if (pod_spec_parse(object, &spec, &err) < 0) {
			log_warn("node %s: sandbox of a deleted pod: %s",
				 pods->context.config->node_name, err.message);
			continue;
		}
		struct pod *pod = pod_new(pods, spec);
		strmap_put(pods->by_uid, pod->uid, pod);
		adoption_claim(pods->adoption, pod);
		pod->removed_from_api = true;
		pod_sync_soon(pod);
	}
	adoption_free(pods->adoption);
	pods->adoption = NULL;
	remove_orphan_volumes(pods);
}

static void forget_from_api(struct pods *pods, const char *uid)
{
	struct pod *pod = strmap_get(pods->by_uid, uid);

	if (!pod)
		return;
	pod->removed_from_api = true;
	pod_sync_soon(pod);
}

static void apply_snapshot(struct pods *pods, const json_t *items)
{
	struct strmap *listed = strmap_new(NULL);
	const char *uid;
	struct pod *pod;
	size_t i;
	json_t *item;

	STRMAP_FOREACH (pods->by_uid, iter, uid, pod)
		pod->mirror_listed = false;
	json_array_foreach ((json_t *)items, i, item) {
		const char *item_uid =
		    json_string_value(json_object_get(json_object_get(item, "metadata"), "uid"));
		if (static_pod_is_mirror(item)) {
			mirror_seen(pods, item);
			continue;
		}
		if (item_uid)
			strmap_put(listed, item_uid, (void *)item);
		upsert(pods, item, false);
	}
	STRMAP_FOREACH (pods->by_uid, iter, uid, pod) {
		if (pod->is_static) {
			if (pod->mirror_uid && !pod->mirror_listed) {
				free(pod->mirror_uid);
				pod->mirror_uid = NULL;
				pod_sync_soon(pod);
			}
		} else if (!strmap_get(listed, uid)) {
			pod->removed_from_api = true;
			pod_sync_soon(pod);
		}
	}
	strmap_free(listed);
	if (!pods->snapshot_seen)
		remove_orphans(pods);
	pods->snapshot_seen = true;
}

void pods_on_change(void *ctx, const struct watch_change *change)
{
	struct pods *pods = ctx;
	const char *uid;

	switch (change->kind) {
	case WATCH_SNAPSHOT:
		apply_snapshot(pods, change->objects);
		break;
	case WATCH_ADDED:
	case WATCH_MODIFIED:
		if (static_pod_is_mirror(change->objects))
			mirror_seen(pods, change->objects);
		else
			upsert(pods, change->objects, false);
		break;
	case WATCH_DELETED:
		if (static_pod_is_mirror(change->objects)) {
			mirror_gone(pods, change->objects);
			break;
		}
		uid = json_string_value(
		    json_object_get(json_object_get(change->objects, "metadata"), "uid"));
		if (uid)
			forget_from_api(pods, uid);
		break;
	}
}

const struct agent_context *pods_context(const struct pods *pods)
{
	return &pods->context;
}

/* Pods that waited for the network try again now; pods that have their address get their
 * interface attached again (to a bridge that was made again). */
static void network_changed(struct pod *pod, void *ctx)
{
	struct ck_error err = {0};

	(void)ctx;
	if (!pod->sandbox_ready) {
		pod_sync_soon(pod);
		return;
	}
	if (pod_sandbox_network_again(pod, &pod->pods->context, &err) < 0)
		log_warn("pod %s/%s: network: %s", pod->spec->namespace, pod->spec->name,
			 err.message);
}

void pods_network_changed(void *ctx)
{
	pods_for_each(ctx, network_changed, NULL);
}

struct adopted_exits *pods_adopted_exits(struct pods *pods)
{
	return pods->exits;
}

struct pod *pods_find(struct pods *pods, const char *uid)
{
	return strmap_get(pods->by_uid, uid);
}

void pods_for_each(struct pods *pods, void (*fn)(struct pod *pod, void *ctx), void *ctx)
{
	const char *uid;
	struct pod *pod;

	STRMAP_FOREACH (pods->by_uid, iter, uid, pod)
		fn(pod, ctx);
}

void pods_forget(struct pods *pods, struct pod *pod)
{
	strmap_remove(pods->by_uid, pod->uid);
}

int pods_new(const struct agent_context *context, struct pods **out, struct ck_error *err)
{
	struct pods *pods = calloc(1, sizeof(*pods));

	if (!pods)
		abort();
	pods->context = *context;
	pods->by_uid = strmap_new(pod_free);
	pods->exits = adopted_exits_new(context->loop, context->config->node_name);
	int r = adoption_load(&pods->context, &pods->adoption, err);
	if (r == 0)
		r = static_pods_start(pods->context.loop, pods->context.config->manifests_dir,
				      pods->context.config->node_name, pods_static_changed, pods,
				      &pods->static_source, err);
	if (r < 0) {
		pods_free(pods);
		return r;
	}
	*out = pods;
	return 0;
}

void pods_free(struct pods *pods)
{
	const char *uid;
	struct pod *pod;

	if (!pods)
		return;
	static_pods_stop(pods->static_source);
	STRMAP_FOREACH (pods->by_uid, iter, uid, pod)
		pod_sync_detach(pod);
	strmap_free(pods->by_uid);
	adoption_free(pods->adoption);
	adopted_exits_free(pods->exits);
	free(pods);
}
