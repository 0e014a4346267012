/* A pod's sandbox: see pod_sandbox.h. */
#include "kubelet/pod_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/ipv4_cidr.h"
#include "kubelet/node_network.h"
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
 * containers' requests, and of their limits when every container has one; the node's
 * podPidsLimit. */
static void pod_resources(const struct pod_spec *spec, int64_t pids_limit,
			  struct cgroup_resources *out)
{
	bool all_cpu = true, all_memory = true;

	*out = (struct cgroup_resources){.guaranteed = spec->qos == QOS_GUARANTEED,
					 .pids_limit = pids_limit};
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
	pod_resources(pod->spec, context->settings->pod_pids_limit, &resources);
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

/* Host ports need the proxy's DNAT (the Services' table), which this node does not make yet:
 * a pod that asks for one is refused rather than run unreachable where it was promised. */
static int refuse_host_ports(const struct pod *pod, struct ck_error *err)
{
	const struct pod_spec *spec = pod->spec;

	if (spec->host_network)
		return 0;
	for (size_t i = 0; i < spec->container_count; i++)
		for (size_t p = 0; p < spec->containers[i].port_count; p++) {
			const struct port_spec *port = &spec->containers[i].ports[p];
			if (port->host_port)
				return ck_error_set(err, ENOTSUP,
						    "container %s: hostPort %d/%s: host ports are "
						    "not supported by this node yet",
						    spec->containers[i].name, port->host_port,
						    port->protocol);
		}
	return 0;
}

static char *recorded_ip_path(const struct pod *pod)
{
	char *path;

	if (asprintf(&path, "%s/ip", pod->dir) < 0)
		abort();
	return path;
}

/* Gives the pod its address (the one it has, when done again) and its interface. */
static int add_to_network(struct pod *pod, const struct agent_context *context, const char *ns_dir,
			  uint32_t *address, struct ck_error *err)
{
	_cleanup_close_ int netns_fd = pod_namespaces_open(ns_dir, "net", err);

	if (netns_fd < 0)
		return netns_fd;
	return node_network_add_pod(context->network, pod->uid, netns_fd, address, err);
}

/* The pod's address and interface. An address recorded by an earlier agent is the pod's
 * still (its interface lives in its namespace, which outlived that agent): taking it back
 * needs no network, so a restarted agent reports running pods with their addresses at once. */
static int attach_network(struct pod *pod, const struct agent_context *context, const char *ns_dir,
			  struct ck_error *err)
{
	_cleanup_free_ char *path = recorded_ip_path(pod), *recorded = NULL;
	uint32_t address;
	size_t len;
	int r;

	if (pod->spec->host_network)
		return 0;
	if (fs_read_file(path, &recorded, &len, NULL) == 0 &&
	    ipv4_address_parse(recorded, &address, NULL) == 0) {
		ipv4_address_format(address, pod->ip);
		return 0;
	}
	r = add_to_network(pod, context, ns_dir, &address, err);
	if (r < 0)
		return r;
	ipv4_address_format(address, pod->ip);
	return fs_replace_file(path, pod->ip, strlen(pod->ip), 0600, err);
}

int pod_sandbox_network_again(struct pod *pod, const struct agent_context *context,
			      struct ck_error *err)
{
	_cleanup_free_ char *ns_dir = pod_namespaces_dir(pod);
	uint32_t address;

	if (pod->spec->host_network || !*pod->ip)
		return 0;
	return add_to_network(pod, context, ns_dir, &address, err);
}

const char *pod_sandbox_ip(const struct pod *pod, const struct agent_context *context)
{
	if (pod->spec->host_network)
		return context->config->node_ip;
	return *pod->ip ? pod->ip : NULL;
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
	int r = refuse_host_ports(pod, err);

	if (r == 0)
		r = fs_mkdir_p(pod->dir, 0700, err);
	if (r == 0)
		r = record_pod(pod, err);
	if (r == 0)
		r = pod_namespaces_create(&namespaces, err);
	if (r == 0)
		r = attach_network(pod, context, ns_dir, err);
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

	/* After the namespace: the address is free once nothing can use it any more. */
	if (r == 0 && !pod->spec->host_network)
		r = node_network_remove_pod(context->network, pod->uid, err);
	if (r == 0)
		*pod->ip = '\0';
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
