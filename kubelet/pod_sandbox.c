/* A pod's sandbox: see pod_sandbox.h. */
#include "kubelet/pod_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"
#include "runtime/etc_files.h"
#include "runtime/pod_namespaces.h"

static const char *const qos_dirs[] = {[QOS_GUARANTEED] = "guaranteed",
				       [QOS_BURSTABLE] = "burstable",
				       [QOS_BEST_EFFORT] = "besteffort"};

char *pod_log_dir(const struct pod *pod, const struct agent_context *context)
{
	char *dir;

	if (asprintf(&dir, "%s/%s_%s_%s", context->config->log_dir, pod->spec->namespace,
		     pod->spec->name, pod->uid) < 0)
		abort();
	return dir;
}

char *pod_container_log_path(const struct pod_container *c, const struct agent_context *context)
{
	_cleanup_free_ char *dir = pod_log_dir(c->pod, context);
	char *path;

	if (asprintf(&path, "%s/%s/%d.log", dir, c->spec->name, c->restart_count) < 0)
		abort();
	return path;
}

char *pod_namespaces_dir(const struct pod *pod)
{
	char *dir;

	if (asprintf(&dir, "%s/ns", pod->dir) < 0)
		abort();
	return dir;
}

/* The pod's share of the node, as the kubelet sets it on the pod cgroup: the sum of its
 * containers' requests, and of their limits when every container has one. */
static void pod_resources(const struct pod_spec *spec, struct cgroup_resources *out)
{
	bool all_cpu = true, all_memory = true;

	*out =
	    (struct cgroup_resources){.guaranteed = spec->qos == QOS_GUARANTEED, .pids_limit = -1};
	for (size_t i = 0; i < spec->container_count; i++) {
		const struct resources_spec *r = &spec->containers[i].resources;
		if (r->cpu_request_milli > 0)
			out->cpu_request_milli += r->cpu_request_milli;
		if (r->memory_request > 0)
			out->memory_request += r->memory_request;
		all_cpu = all_cpu && r->cpu_limit_milli > 0;
		all_memory = all_memory && r->memory_limit > 0;
		if (r->cpu_limit_milli > 0)
			out->cpu_limit_milli += r->cpu_limit_milli;
		if (r->memory_limit > 0)
			out->memory_limit += r->memory_limit;
	}
	if (!all_cpu)
		out->cpu_limit_milli = -1;
	if (!all_memory)
		out->memory_limit = -1;
	if (!out->cpu_request_milli)
		out->cpu_request_milli = -1;
	if (!out->memory_request)
		out->memory_request = -1;
}

/* <qos>/pod<uid>: known from the spec alone, so a pod deleted while no agent ran is found. */
static const char *cgroup_relative(struct pod *pod)
{
	if (!pod->cgroup_relative &&
	    asprintf(&pod->cgroup_relative, "%s/pod%s", qos_dirs[pod->spec->qos], pod->uid) < 0)
		abort();
	return pod->cgroup_relative;
}

static int create_cgroup(struct pod *pod, const struct agent_context *context, struct ck_error *err)
{
	struct cgroup_resources resources;
	struct cgroup_limits limits;
	unsigned not_enforced;
	int r;

	cgroup_relative(pod);
	if (pod->cgroup_fd >= 0)
		return 0;
	r = cgroup_create(context->cgroup, pod->cgroup_relative, &pod->cgroup_fd, err);
	if (r < 0)
		return r;
	pod_resources(pod->spec, &resources);
	cgroup_limits_from_resources(&resources, &limits);
	return cgroup_apply_limits(pod->cgroup_fd, &limits, &not_enforced, err);
}

static int write_etc_files(struct pod *pod, struct ck_error *err)
{
	_cleanup_free_ char *dir = NULL;
	struct etc_files files;
	struct etc_files_request request = {.hostname = pod->spec->hostname};
	int r;

	if (asprintf(&dir, "%s/etc", pod->dir) < 0)
		abort();
	r = etc_files_write(dir, &request, &files, err);
	etc_files_clear(&files);
	return r;
}

/* The Pod as the sandbox was made for it: what a later agent needs to remove the sandbox of a
 * pod deleted while no agent ran. */
static int record_pod(struct pod *pod, struct ck_error *err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *text = json_dumps(pod->spec->object, JSON_COMPACT);

	if (!text)
		abort();
	if (asprintf(&path, "%s/pod.json", pod->dir) < 0)
		abort();
	return fs_replace_file(path, text, strlen(text), 0600, err);
}

int pod_sandbox_create(struct pod *pod, const struct agent_context *context, struct ck_error *err)
{
	_cleanup_free_ char *ns_dir = pod_namespaces_dir(pod);
	_cleanup_free_ char *log_dir = pod_log_dir(pod, context);
	struct pod_namespaces_request namespaces = {
	    .dir = ns_dir,
	    .hostname = pod->spec->hostname,
	    .host_network = pod->spec->host_network,
	    .host_ipc = pod->spec->host_ipc,
	};
	int r = fs_mkdir_p(pod->dir, 0700, err);

	if (r == 0)
		r = record_pod(pod, err);
	if (r == 0)
		r = pod_namespaces_create(&namespaces, err);
	if (r == 0)
		r = create_cgroup(pod, context, err);
	if (r == 0)
		r = write_etc_files(pod, err);
	if (r == 0)
		r = fs_mkdir_p(log_dir, 0755, err);
	return r;
}

int pod_sandbox_remove(struct pod *pod, const struct agent_context *context, struct ck_error *err)
{
	_cleanup_free_ char *ns_dir = pod_namespaces_dir(pod);
	_cleanup_free_ char *log_dir = pod_log_dir(pod, context);
	int r = pod_namespaces_remove(ns_dir, err);

	if (pod->cgroup_fd >= 0) {
		close(pod->cgroup_fd);
		pod->cgroup_fd = -1;
	}
	if (r == 0)
		r = cgroup_remove(context->cgroup, cgroup_relative(pod), true, err);
	if (r == 0)
		r = fs_remove_tree(AT_FDCWD, pod->dir, err);
	if (r == 0)
		r = fs_remove_tree(AT_FDCWD, log_dir, err);
	return r;
}
