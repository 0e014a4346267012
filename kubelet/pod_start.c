/* Starting one container of a pod: see pod_start.h. */
#include "kubelet/pod_start.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "kubelet/api_reads.h"
#include "kubelet/container_env.h"
#include "kubelet/pod_sandbox.h"
#include "kubelet/pod_sync.h"
#include "kubelet/pod_volumes.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "runtime/capabilities.h"
#include "runtime/image_user.h"
#include "runtime/pod_namespaces.h"
#include "runtime/process_spec.h"

/* Everything a start builds, released together whatever happened. */
struct start_plan {
	char id[160];
	char **layers;
	size_t layer_count;
	char *scratch_dir;
	struct env_var *vars;
	size_t var_count;
	char **environment;
	char **argv;
	const char *cwd;
	struct process_user user;
	uint64_t capabilities;
	int stop_signal;
	char *cgroup_relative, *cgroup_path;
	int cgroup_fd;
	int ns_fds[3];                  /* net, ipc, uts, or -1 */
	struct container_mount *mounts; /* the volumes' (pod_volumes.c), then /etc files */
	size_t mount_count;
	int output_child[2], output_reader[2];
	char *log_path;
	json_t *annotations;
};

static void plan_clear(struct start_plan *plan)
{
	strv_free(plan->layers);
	free(plan->scratch_dir);
	env_vars_free(plan->vars, plan->var_count);
	strv_free(plan->environment);
	strv_free(plan->argv);
	process_user_clear(&plan->user);
	free(plan->cgroup_relative);
	free(plan->cgroup_path);
	if (plan->cgroup_fd >= 0)
		close(plan->cgroup_fd);
	for (int i = 0; i < 3; i++)
		if (plan->ns_fds[i] >= 0)
			close(plan->ns_fds[i]);
	pod_volumes_mounts_free(plan->mounts, plan->mount_count);
	for (int i = 0; i < 2; i++) {
		if (plan->output_child[i] >= 0)
			close(plan->output_child[i]);
		if (plan->output_reader[i] >= 0)
			close(plan->output_reader[i]);
	}
	free(plan->log_path);
	json_decref(plan->annotations);
}

static const struct agent_context *context_of(const struct pod_container *c)
{
	return pods_context(c->pod->pods);
}

static int image_layers(struct pod_container *c, struct start_plan *plan, struct ck_error *err)
{
	struct image_store *store = image_puller_store(context_of(c)->puller);

	return image_store_layer_paths(store, c->image, &plan->layers, &plan->layer_count, err);
}

/* ConfigMaps and Secrets for the environment, read from the API when the container starts. */
static int lookup_object(void *ctx, const char *kind, const char *name, json_t **object,
			 struct ck_error *err)
{
	const struct pod_container *c = ctx;

	return api_read_config_object(context_of(c)->api, c->pod->spec->namespace,
				      strcmp(kind, "Secret") == 0, name, object, err);
}

static int build_environment(struct pod_container *c, struct start_plan *plan, struct ck_error *err)
{
	const struct pod *pod = c->pod;
	const struct agent_context *context = context_of(c);
	const char *host_ips[] = {context->config->node_ip};
	const char *pod_ips[] = {pod_sandbox_ip(pod, context)};
	_cleanup_json_ json_t *services = NULL;
	int r = api_read_services(context->api, pod->spec->namespace, &services, err);

	/* A static pod runs without the API server (it may be the API server): it then goes
	 * without Service variables, as the kubelet's static pods do before its informers sync. */
	if (r < 0 && pod->is_static) {
		log_warn("pod %s/%s: container %s: no Service variables: %s", pod->spec->namespace,
			 pod->spec->name, c->spec->name, err->message);
		services = json_array();
		r = 0;
	}
	if (r < 0)
		return r;
	struct env_context env = {
	    .pod = pod->spec,
	    .node_name = context->config->node_name,
	    .pod_ips = pod_ips,
	    .pod_ip_count = pod_ips[0] ? 1 : 0,
	    .host_ips = host_ips,
	    .host_ip_count = 1,
	    .allocatable_cpu_milli = -1,
	    .allocatable_memory = -1,
	    .allocatable_ephemeral_storage = -1,
	    .services = services,
	    .lookup = lookup_object,
	    .lookup_ctx = c,
	};
	return container_env_build(&env, c->spec, &plan->vars, &plan->var_count, err);
}

static int resolve_process(struct pod_container *c, struct start_plan *plan, struct ck_error *err)
{
	const struct pod *pod = c->pod;
	const json_t *config = c->image->config;
	const char *image_user = json_string_value(json_object_get(config, "User"));
	struct security_spec security;
	int r;

	container_security_effective(pod->spec, c->spec, &security);
	r = build_environment(c, plan, err);
	if (r < 0)
		return r;
	plan->environment =
	    process_environment(json_object_get(config, "Env"), plan->vars, plan->var_count);
	r = process_argv(config, (const char *const *)c->spec->command,
			 (size_t)strv_length(c->spec->command), (const char *const *)c->spec->args,
			 (size_t)strv_length(c->spec->args), plan->vars, plan->var_count,
			 &plan->argv, err);
	if (r == 0)
		r = process_working_dir(config, c->spec->working_dir, &plan->cwd, err);
	if (r == 0)
		r = process_stop_signal(config, &plan->stop_signal, err);
	if (r < 0)
		return r;
	struct user_request user = {
	    .image_user = image_user ? image_user : "",
	    .run_as_user = security.run_as_user,
	    .run_as_group = security.run_as_group,
	    .supplemental_groups = pod->spec->supplemental_groups,
	    .supplemental_count = pod->spec->supplemental_group_count,
	};
	r = user_resolve((const char *const *)plan->layers, plan->layer_count, NULL, &user,
			 &plan->user, err);
	if (r < 0)
		return r;
	if (security.run_as_non_root == 1 && plan->user.uid == 0)
		return ck_error_set(err, EPERM,
				    "container has runAsNonRoot and image will run as root");
	process_environment_defaults(&plan->environment, pod->spec->hostname, plan->user.home);
	return capabilities_compute(
	    (const char *const *)security.cap_add, (size_t)strv_length(security.cap_add),
	    (const char *const *)security.cap_drop, (size_t)strv_length(security.cap_drop),
	    security.privileged, &plan->capabilities, err);
}

static int make_cgroup(struct pod_container *c, struct start_plan *plan, struct ck_error *err)
{
	const struct agent_context *context = context_of(c);
	const struct resources_spec *resources = &c->spec->resources;
	struct cgroup_resources wanted = {
	    .cpu_request_milli = resources->cpu_request_milli,
	    .cpu_limit_milli = resources->cpu_limit_milli,
	    .memory_request = resources->memory_request,
	    .memory_limit = resources->memory_limit,
	    .pids_limit = -1,
	    .guaranteed = c->pod->spec->qos == QOS_GUARANTEED,
	    .container = true,
	};
	struct cgroup_limits limits;
	unsigned not_enforced;
	int r;

	if (asprintf(&plan->cgroup_relative, "%s/%s", c->pod->cgroup_relative, c->spec->name) < 0 ||
	    asprintf(&plan->cgroup_path, "%s/%s", context->cgroup->path, plan->cgroup_relative) < 0)
		abort();
	r = cgroup_create(context->cgroup, plan->cgroup_relative, &plan->cgroup_fd, err);
	if (r < 0)
		return r;
	cgroup_limits_from_resources(&wanted, &limits);
	return cgroup_apply_limits(plan->cgroup_fd, &limits, &not_enforced, err);
}

static int open_namespaces(struct pod_container *c, struct start_plan *plan, struct ck_error *err)
{
	static const char *const names[3] = {"net", "ipc", "uts"};
	const struct pod_spec *spec = c->pod->spec;
	const bool host[3] = {spec->host_network, spec->host_ipc, false};
	_cleanup_free_ char *dir = pod_namespaces_dir(c->pod);

	for (int i = 0; i < 3; i++) {
		if (host[i])
			continue;
		plan->ns_fds[i] = pod_namespaces_open(dir, names[i], err);
		if (plan->ns_fds[i] < 0)
			return plan->ns_fds[i];
	}
	return 0;
}

/* A mount the container's volumes make already (say, a ConfigMap at /etc/resolv.conf) wins
 * over the node's file, as with the kubelet. */
static bool mounted_at(const struct start_plan *plan, const char *destination)
{
	for (size_t i = 0; i < plan->mount_count; i++)
		if (strcmp(plan->mounts[i].destination, destination) == 0)
			return true;
	return false;
}

static int add_mounts(struct pod_container *c, struct start_plan *plan, struct ck_error *err)
{
	static const char *const files[] = {"hosts", "hostname", "resolv.conf"};
	int r = pod_volumes_mounts(c, plan->vars, plan->var_count, &plan->mounts,
				   &plan->mount_count, err);

	if (r < 0)
		return r;
	plan->mounts = realloc(plan->mounts, (plan->mount_count + 3) * sizeof(*plan->mounts));
	if (!plan->mounts)
		abort();
	for (size_t i = 0; i < 3; i++) {
		char *source, *destination;

		if (asprintf(&source, "%s/etc/%s", c->pod->dir, files[i]) < 0 ||
		    asprintf(&destination, "/etc/%s", files[i]) < 0)
			abort();
		if (access(source, F_OK) < 0 || mounted_at(plan, destination)) {
			free(source);
			free(destination);
			continue;
		}
		plan->mounts[plan->mount_count++] =
		    (struct container_mount){.source = source, .destination = destination};
	}
	return 0;
}

static int open_output(struct pod_container *c, struct start_plan *plan, struct ck_error *err)
{
	const struct agent_context *context = context_of(c);
	int r = container_output_open(context->config->dirs.run_dir, plan->id, plan->output_child,
				      plan->output_reader, err);

	if (r < 0)
		return r;
	plan->log_path = pod_container_log_path(c, context);
	return 0;
}

static json_t *annotations(const struct pod_container *c)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:i, s:s}", "podUID", c->pod->uid,
			 "podNamespace", c->pod->spec->namespace, "podName", c->pod->spec->name,
			 "containerName", c->spec->name, "init", c->init, "restartCount",
			 c->restart_count, "imageID", c->image->id);
}

static int build(struct pod_container *c, struct start_plan *plan, struct ck_error *err)
{
	const struct agent_context *context = context_of(c);
	int r;

	snprintf(plan->id, sizeof(plan->id), "%s-%s-%d", c->pod->uid, c->spec->name,
		 c->restart_count);
	if (asprintf(&plan->scratch_dir, "%s/containers/%s", context->config->dirs.data_dir,
		     plan->id) < 0)
		abort();
	plan->annotations = annotations(c);
	r = image_layers(c, plan, err);
	if (r == 0)
		r = resolve_process(c, plan, err);
	if (r == 0)
		r = make_cgroup(c, plan, err);
	if (r == 0)
		r = open_namespaces(c, plan, err);
	if (r == 0)
		r = add_mounts(c, plan, err);
	if (r == 0)
		r = open_output(c, plan, err);
	return r;
}

int pod_container_start(struct pod_container *c, enum container_failure *failure,
			struct ck_error *err)
{
	const struct agent_context *context = context_of(c);
	struct start_plan plan = {.cgroup_fd = -1,
				  .ns_fds = {-1, -1, -1},
				  .output_child = {-1, -1},
				  .output_reader = {-1, -1}};
	struct security_spec effective;
	int r;

	*failure = CONTAINER_FAILED_CREATE;
	container_security_effective(c->pod->spec, c->spec, &effective);
	r = build(c, &plan, err);
	if (r == 0) {
		const bool privileged = effective.privileged;
		struct container_config config = {
		    .id = plan.id,
		    .subject = c->spec->name,
		    .run_dir = context->config->dirs.run_dir,
		    .layers = (const char *const *)plan.layers,
		    .layer_count = plan.layer_count,
		    .scratch_dir = plan.scratch_dir,
		    .read_only_root = effective.read_only_root,
		    .privileged = privileged,
		    .unmasked_proc = effective.proc_unmasked,
		    .net = {plan.ns_fds[0] >= 0 ? CONTAINER_NS_JOIN : CONTAINER_NS_HOST,
			    plan.ns_fds[0]},
		    .ipc = {plan.ns_fds[1] >= 0 ? CONTAINER_NS_JOIN : CONTAINER_NS_HOST,
			    plan.ns_fds[1]},
		    .uts = {CONTAINER_NS_JOIN, plan.ns_fds[2]},
		    .pid_ns_fd = -1,
		    .cgroup_fd = plan.cgroup_fd,
		    .cgroup_path = plan.cgroup_path,
		    .mounts = plan.mounts,
		    .mount_count = plan.mount_count,
		    .stop_signal = plan.stop_signal,
		    .annotations = plan.annotations,
		    .process =
			{
			    .argv = plan.argv,
			    .env = plan.environment,
			    .cwd = plan.cwd,
			    .uid = plan.user.uid,
			    .gid = plan.user.gid,
			    .groups = plan.user.groups,
			    .group_count = plan.user.group_count,
			    .capabilities = plan.capabilities,
			    .no_new_privs = effective.allow_privilege_escalation == 0,
			    /* RuntimeDefault unless asked otherwise, as with the kubelet's
			     * seccompDefault; privileged containers run unconfined. */
			    .seccomp_default =
				!privileged && !(effective.seccomp &&
						 strcmp(effective.seccomp, "Unconfined") == 0),
			    .stdio = {-1, plan.output_child[0], plan.output_child[1]},
			},
		};
		r = container_start(&config, &c->run, failure, err);
	}
	for (int i = 0; i < 2; i++)
		if (plan.output_child[i] >= 0)
			close(steal_fd(&plan.output_child[i]));
	if (r == 0) {
		struct ck_error log_err = {0};
		/* The container runs either way; without the pump only its log is lost. */
		if (log_pump_add(context->logs, plan.log_path, steal_fd(&plan.output_reader[0]),
				 steal_fd(&plan.output_reader[1]), &c->log, &log_err) < 0) {
			c->log = NULL;
			log_warn("pod %s/%s: container %s: log: %s", c->pod->spec->namespace,
				 c->pod->spec->name, c->spec->name, log_err.message);
		}
	}
	plan_clear(&plan);
	return r;
}
