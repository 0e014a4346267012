/* A pod's volumes on this node: see pod_volumes.h. */
#include "kubelet/pod_volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kubelet/api_reads.h"
#include "kubelet/nfs_mounter.h"
#include "kubelet/pod_events.h"
#include "kubelet/pod_sync.h"
#include "kubelet/pods.h"
#include "kubelet/volume_sources.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/quantity.h"
#include "volume/atomic_dir.h"
#include "volume/host_path.h"
#include "volume/object_payload.h"
#include "volume/pod_volume_dirs.h"

/* How long an NFS server gets to answer a mount, and the retries' back-off. */
#define NFS_MOUNT_TIMEOUT_MS 20000
#define RETRY_FIRST_MS 500
#define RETRY_MAX_MS 30000

enum volume_state { VOLUME_PENDING, VOLUME_MOUNTING, VOLUME_READY };

struct pod_volume {
	const struct volume_spec *spec;
	char *path; /* on the node: the hostPath, or the directory of pod_volume_dirs.h */
	enum volume_state state;
	char *error; /* the last FailedMount message, so that a repeat is not another event */
	int retry_ms;
	int64_t retry_at_ms;
};

struct pod_volumes {
	struct volume_spec *specs;
	size_t count;
	struct pod_volume *volumes;
	bool ready;
};

/* What an NFS mount's thread hands back: the pod is found again by uid, as it may be gone. */
struct mount_ticket {
	struct pods *pods;
	char *uid;
	size_t index;
};

static const struct agent_context *context_of(const struct pod *pod)
{
	return pods_context(pod->pods);
}

static struct host_path_policy host_paths(const struct pod *pod)
{
	const struct agent_settings *settings = context_of(pod)->settings;

	return (struct host_path_policy){settings->allowed_host_paths,
					 settings->allowed_host_path_count};
}

static void failed(struct pod *pod, struct pod_volume *v, const char *message)
{
	int64_t now = loop_now_ms();

	if (!v->error || strcmp(v->error, message) != 0) {
		pod_event_pod(pod, "Warning", "FailedMount",
			      "MountVolume.SetUp failed for volume \"%s\" : %s", v->spec->name,
			      message);
		log_warn("pod %s/%s: volume %s: %s", pod->spec->namespace, pod->spec->name,
			 v->spec->name, message);
		free(v->error);
		v->error = strdup(message);
	}
	v->state = VOLUME_PENDING;
	v->retry_ms = v->retry_ms ? v->retry_ms * 2 : RETRY_FIRST_MS;
	if (v->retry_ms > RETRY_MAX_MS)
		v->retry_ms = RETRY_MAX_MS;
	v->retry_at_ms = now + v->retry_ms;
	pod_sync_at(pod, v->retry_at_ms);
}

static int write_object(const struct pod_volume *v, const json_t *object, bool *changed,
			struct ck_error *err)
{
	struct payload payload;
	int r = payload_from_object(v->spec, object, &payload, err);

	if (r == 0)
		r = atomic_dir_write(v->path, &payload, changed, err);
	payload_free(&payload);
	return r;
}

static void nfs_mounted(void *arg, const struct ck_error *err)
{
	struct mount_ticket *ticket = arg;
	struct pod *pod = pods_find(ticket->pods, ticket->uid);
	struct pod_volume *v;

	if (!pod || pod->stage == POD_GONE) {
		/* The pod went while its server answered: its mount goes too. */
		struct ck_error remove_err = {0};
		if (!err && pod_volume_dir_remove(pods_context(ticket->pods)->pods_dir, ticket->uid,
						  NULL, &remove_err) < 0)
			log_warn("pod %s: volumes: %s", ticket->uid, remove_err.message);
	} else if (pod->volumes && ticket->index < pod->volumes->count) {
		v = &pod->volumes->volumes[ticket->index];
		if (err) {
			failed(pod, v, err->message);
		} else {
			v->state = VOLUME_READY;
			pod_sync_soon(pod);
		}
	}
	free(ticket->uid);
	free(ticket);
}

static void ticket_drop(void *arg)
{
	struct mount_ticket *ticket = arg;

	free(ticket->uid);
	free(ticket);
}

static void start_nfs_mount(struct pod *pod, struct pod_volume *v, size_t index)
{
	struct mount_ticket *ticket = calloc(1, sizeof(*ticket));
	const struct nfs_mount_request request = {.server = v->spec->nfs.server,
						  .path = v->spec->nfs.path,
						  .target = v->path,
						  .read_only = v->spec->nfs.read_only,
						  .timeout_ms = NFS_MOUNT_TIMEOUT_MS};

	if (!ticket)
		abort();
	*ticket = (struct mount_ticket){pod->pods, strdup(pod->uid), index};
	v->state = VOLUME_MOUNTING;
	nfs_mounter_start(context_of(pod)->loop, &request, nfs_mounted, ticket_drop, ticket);
}

/* One step towards a ready volume: 0 when ready, 1 while a mount runs, or the failure. */
static int set_up(struct pod *pod, struct pod_volume *v, size_t index, struct ck_error *err)
{
	const struct volume_spec *spec = v->spec;
	struct host_path_policy policy = host_paths(pod);
	_cleanup_json_ json_t *object = NULL;
	int r;

	switch (spec->kind) {
	case VOLUME_HOST_PATH:
		return host_path_prepare(&policy, spec->host_path.path, spec->host_path.type, err);
	case VOLUME_EMPTY_DIR:
		return pod_volume_prepare(v->path, spec, err);
	case VOLUME_NFS:
		r = pod_volume_prepare(v->path, spec, err);
		if (r == 0)
			start_nfs_mount(pod, v, index);
		return r < 0 ? r : 1;
	case VOLUME_CONFIG_MAP:
	case VOLUME_SECRET:
		volume_sources_want(context_of(pod)->volume_sources, spec->kind == VOLUME_SECRET);
		r = api_read_config_object(context_of(pod)->api, pod->spec->namespace,
					   spec->kind == VOLUME_SECRET, spec->object.name, &object,
					   err);
		if (r == 0)
			r = pod_volume_prepare(v->path, spec, err);
		return r < 0 ? r : write_object(v, object, NULL, err);
	case VOLUME_UNSUPPORTED:
		break;
	}
	return ck_error_set(err, ENOTSUP, "%s volumes are not supported by this node",
			    spec->source_name);
}

static struct pod_volumes *volumes_of(struct pod *pod, struct ck_error *err)
{
	struct pod_volumes *vols;
	int r;

	if (pod->volumes)
		return pod->volumes;
	vols = calloc(1, sizeof(*vols));
	if (!vols)
		abort();
	r = volume_specs_parse(pod->spec->volumes, &vols->specs, &vols->count, err);
	if (r < 0) {
		free(vols);
		return NULL;
	}
	vols->volumes = calloc(vols->count + 1, sizeof(*vols->volumes));
	if (!vols->volumes)
		abort();
	for (size_t i = 0; i < vols->count; i++) {
		struct pod_volume *v = &vols->volumes[i];
		v->spec = &vols->specs[i];
		v->path = v->spec->kind == VOLUME_HOST_PATH
			      ? strdup(v->spec->host_path.path)
			      : pod_volume_path(context_of(pod)->pods_dir, pod->uid, v->spec);
	}
	pod->volumes = vols;
	return vols;
}

bool pod_volumes_ready(struct pod *pod)
{
	struct ck_error err = {0};
	struct pod_volumes *vols = volumes_of(pod, &err);
	int64_t now = loop_now_ms();
	bool ready = true;

	if (!vols) {
		if (!pod->volume_error_reported)
			pod_event_pod(pod, "Warning", "FailedMount", "%s", err.message);
		pod->volume_error_reported = true;
		return false;
	}
	if (vols->ready)
		return true;
	for (size_t i = 0; i < vols->count; i++) {
		struct pod_volume *v = &vols->volumes[i];
		int r;

		if (v->state == VOLUME_READY)
			continue;
		if (v->state == VOLUME_MOUNTING) {
			ready = false;
			continue;
		}
		if (v->retry_at_ms > now) {
			ready = false;
			pod_sync_at(pod, v->retry_at_ms);
			continue;
		}
		ck_error_clear(&err);
		r = set_up(pod, v, i, &err);
		if (r < 0) {
			failed(pod, v, err.message);
		} else if (r == 0) {
			v->state = VOLUME_READY;
			free(v->error);
			v->error = NULL;
		}
		ready &= r == 0;
	}
	vols->ready = ready;
	return ready;
}

/* The volume's directory (or hostPath) opened for a bind, and subPath inside it. */
static int open_source(struct pod *pod, const struct pod_volume *v, const char *sub_path,
		       bool *read_only, struct ck_error *err)
{
	struct host_path_policy policy = host_paths(pod);
	int fd, sub;

	*read_only = false;
	if (v->spec->kind == VOLUME_HOST_PATH)
		fd = host_path_open(&policy, v->path, read_only, err);
	else if ((fd = open(v->path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		fd = ck_error_errno(err, errno, "open %s", v->path);
	if (fd < 0 || !sub_path)
		return fd;
	if (!volume_path_is_local(sub_path)) {
		close(fd);
		return ck_error_set(err, EINVAL, "subPath %s must be a relative path without '..'",
				    sub_path);
	}
	sub = pod_volume_open_sub_path(fd, sub_path, err);
	close(fd);
	return sub;
}

static size_t depth(const char *path)
{
	size_t n = 0;

	for (const char *p = path; *p; p++)
		n += *p == '/' && p[1] && p[1] != '/';
	return n;
}

static int by_depth(const void *a, const void *b)
{
	const struct container_mount *x = a, *y = b;
	size_t dx = depth(x->destination), dy = depth(y->destination);

	return dx < dy ? -1 : dx > dy;
}

static int add_mount(struct pod_container *c, const struct volume_mount_spec *m,
		     const struct env_var *vars, size_t var_count, struct container_mount *out,
		     struct ck_error *err)
{
	struct pod *pod = c->pod;
	const struct volume_spec *spec =
	    volume_specs_find(pod->volumes->specs, pod->volumes->count, m->name);
	const struct pod_volume *v;
	_cleanup_free_ char *sub_path = NULL;
	bool rule_read_only;
	int fd;

	if (!spec)
		return ck_error_set(err, ENOENT, "volumeMount %s: no volume of that name", m->name);
	v = &pod->volumes->volumes[spec - pod->volumes->specs];
	if (m->propagation == CONTAINER_PROPAGATION_BIDIRECTIONAL && !c->spec->security.privileged)
		return ck_error_set(err, EPERM,
				    "volumeMount %s: Bidirectional mount propagation is available "
				    "only to privileged containers",
				    m->name);
	/* subPathExpr: $(VAR) of the container's environment, expanded as its env values are. */
	if (m->sub_path_expr)
		sub_path = env_expand(m->sub_path_expr, vars, var_count);
	else if (m->sub_path)
		sub_path = strdup(m->sub_path);
	fd = open_source(pod, v, sub_path && *sub_path ? sub_path : NULL, &rule_read_only, err);
	if (fd < 0)
		return ck_error_prefix(err, "volumeMount %s", m->name);
	*out = (struct container_mount){
	    .source_fd = fd,
	    .destination = strdup(m->mount_path),
	    /* configMap and secret volumes are always read-only, as the kubelet mounts them. */
	    .read_only = m->read_only || rule_read_only ||
			 (v->spec->kind == VOLUME_NFS && v->spec->nfs.read_only) ||
			 v->spec->kind == VOLUME_CONFIG_MAP || v->spec->kind == VOLUME_SECRET,
	    .propagation = m->propagation,
	};
	return 0;
}

int pod_volumes_mounts(struct pod_container *c, const struct env_var *vars, size_t var_count,
		       struct container_mount **out, size_t *count, struct ck_error *err)
{
	const struct container_spec *spec = c->spec;
	struct container_mount *mounts;
	size_t n = 0;

	if (spec->mount_count > 0 && (!c->pod->volumes || !c->pod->volumes->ready))
		return ck_error_set(err, EAGAIN, "volumes are not ready");
	mounts = calloc(spec->mount_count + 1, sizeof(*mounts));
	if (!mounts)
		abort();
	for (; n < spec->mount_count; n++) {
		int r = add_mount(c, &spec->mounts[n], vars, var_count, &mounts[n], err);
		if (r < 0) {
			pod_volumes_mounts_free(mounts, n);
			return r;
		}
	}
	qsort(mounts, n, sizeof(*mounts), by_depth);
	*out = mounts;
	*count = n;
	return 0;
}

void pod_volumes_mounts_free(struct container_mount *mounts, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (!mounts[i].source && mounts[i].source_fd >= 0)
			close(mounts[i].source_fd);
		free((char *)mounts[i].source);
		free((char *)mounts[i].destination);
	}
	free(mounts);
}

void pod_volumes_object_changed(struct pod *pod, const char *kind, const char *name,
				const json_t *object)
{
	const enum volume_kind wanted =
	    strcmp(kind, "Secret") == 0 ? VOLUME_SECRET : VOLUME_CONFIG_MAP;
	struct pod_volumes *vols = pod->volumes;

	for (size_t i = 0; vols && i < vols->count; i++) {
		struct pod_volume *v = &vols->volumes[i];
		struct ck_error err = {0};
		bool changed;

		if (v->spec->kind != wanted || v->state != VOLUME_READY ||
		    strcmp(v->spec->object.name, name) != 0)
			continue;
		if (write_object(v, object, &changed, &err) < 0)
			log_warn("pod %s/%s: volume %s: update: %s", pod->spec->namespace,
				 pod->spec->name, v->spec->name, err.message);
		else if (changed)
			log_info("pod %s/%s: volume %s: %s %s updated", pod->spec->namespace,
				 pod->spec->name, v->spec->name, kind, name);
	}
}

/* An emptyDir on disk with a sizeLimit: the kernel does not hold it to it, the agent does. */
static bool has_disk_limit(const struct volume_spec *spec)
{
	return spec->kind == VOLUME_EMPTY_DIR && !spec->empty_dir.memory &&
	       spec->empty_dir.size_limit >= 0;
}

bool pod_volumes_have_disk_limits(struct pod *pod)
{
	for (size_t i = 0; pod->volumes && i < pod->volumes->count; i++)
		if (has_disk_limit(pod->volumes->volumes[i].spec))
			return true;
	return false;
}

char *pod_volumes_over_limit(struct pod *pod)
{
	for (size_t i = 0; pod->volumes && i < pod->volumes->count; i++) {
		const struct pod_volume *v = &pod->volumes->volumes[i];
		const struct volume_spec *spec = v->spec;
		struct ck_error err = {0};
		char limit[QUANTITY_TEXT_SIZE];
		int64_t used;
		char *message;

		if (!has_disk_limit(spec) || v->state != VOLUME_READY)
			continue;
		if (pod_volume_usage(v->path, &used, &err) < 0) {
			log_warn("pod %s/%s: volume %s: %s", pod->spec->namespace, pod->spec->name,
				 spec->name, err.message);
			continue;
		}
		if (used <= spec->empty_dir.size_limit)
			continue;
		/* The kubelet's eviction message, word for word. */
		if (asprintf(&message, "Usage of EmptyDir volume \"%s\" exceeds the limit \"%s\". ",
			     spec->name,
			     quantity_format_memory(spec->empty_dir.size_limit, limit)) < 0)
			abort();
		return message;
	}
	return NULL;
}

int pod_volumes_remove(struct pod *pod, struct ck_error *err)
{
	int unmounted = 0;
	int r = pod_volume_dir_remove(context_of(pod)->pods_dir, pod->uid, &unmounted, err);

	if (r == 0 && unmounted > 0)
		log_info("pod %s/%s: volumes: %d mounts removed", pod->spec->namespace,
			 pod->spec->name, unmounted);
	if (r == 0 && pod->volumes)
		pod->volumes->ready = false;
	for (size_t i = 0; r == 0 && pod->volumes && i < pod->volumes->count; i++)
		if (pod->volumes->volumes[i].state == VOLUME_READY)
			pod->volumes->volumes[i].state = VOLUME_PENDING;
	return r;
}

json_t *pod_volumes_json(const struct pod *pod, json_t *errors)
{
	static const char *const states[] = {
	    [VOLUME_PENDING] = "pending", [VOLUME_MOUNTING] = "mounting", [VOLUME_READY] = "ready"};
	json_t *list = json_array();

	for (size_t i = 0; pod->volumes && i < pod->volumes->count; i++) {
		const struct pod_volume *v = &pod->volumes->volumes[i];
		char step[300];

		json_array_append_new(list, json_pack("{s:s, s:s, s:s?, s:s}", "name",
						      v->spec->name, "type", v->spec->source_name,
						      "path", v->path, "state", states[v->state]));
		if (v->error) {
			snprintf(step, sizeof(step), "volume %s", v->spec->name);
			json_object_set_new(errors, step, json_string(v->error));
		}
	}
	return list;
}

void pod_volumes_free(struct pod *pod)
{
	struct pod_volumes *vols = pod->volumes;

	if (!vols)
		return;
	for (size_t i = 0; i < vols->count; i++) {
		free(vols->volumes[i].path);
		free(vols->volumes[i].error);
	}
	free(vols->volumes);
	volume_specs_free(vols->specs, vols->count);
	free(vols);
	pod->volumes = NULL;
}
