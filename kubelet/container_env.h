/* The environment variables of one container as the kubelet makes them (pkg/kubelet/
 * kubelet_pods.go makeEnvironmentVariables, pkg/kubelet/envvars), already $(VAR)-expanded. It
 * does no I/O: ConfigMaps and Secrets come through the caller's lookup, Services and the node's
 * figures with the context.
 *
 * Where the variables come from, later ones replacing earlier ones of the same name:
 *   1. the Service variables (FOO_SERVICE_HOST, FOO_PORT_80_TCP_ADDR, ...) of the `kubernetes`
 *      Service of the default namespace, and with enableServiceLinks of every Service of the
 *      pod's namespace that has a cluster IP;
 *   2. envFrom, in order: every key of the ConfigMap's or Secret's data, with the prefix;
 *   3. env, in order. A `value` is expanded with what 1 and 2 define and the env entries
 *      before it (a reference to a later one stays as written); values from valueFrom are
 *      never expanded. An optional reference to a missing object or key leaves the entry out.
 * The result holds the variables of 2 and 3 in the place of their first definition, then the
 * Service variables that they do not define. (The kubelet collects them in Go maps, so its
 * order changes from run to run; this one is stable.) The caller passes them to
 * process_environment after the image's Env, and to process_argv. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "kubelet/pod_spec.h"
#include "lib/error.h"
#include "runtime/process_spec.h"

/* Fetches the ConfigMap or Secret `name` of the pod's namespace; `kind` is "ConfigMap" or
 * "Secret". Returns 0 with *object a new reference, or NULL when there is no such object, or
 * a negative errno with `err` filled when it could not be told (that message then becomes the
 * container's). Each object is asked for once per container_env_build. */
typedef int (*env_lookup_fn)(void *ctx, const char *kind, const char *name, json_t **object,
			     struct ck_error *err);

struct env_context {
	const struct pod_spec *pod;
	const char *node_name; /* spec.nodeName of a pod that has none yet (a static pod) */
	/* The pod's and the node's addresses, the preferred family first; the pod may have
	 * none yet (status.podIP is then ""), the node must have one for status.hostIP. */
	const char *const *pod_ips;
	size_t pod_ip_count;
	const char *const *host_ips;
	size_t host_ip_count;
	/* The node's allocatable: the limit resourceFieldRef reads for a container that sets
	 * none. -1 when unknown (such a limit then reads 0). */
	int64_t allocatable_cpu_milli;
	int64_t allocatable_memory;
	int64_t allocatable_ephemeral_storage;
	const json_t *services; /* an array of Service objects of any namespaces, or NULL */
	env_lookup_fn lookup;   /* may be NULL when the pod refers to no ConfigMap or Secret */
	void *lookup_ctx;
};

/* The variables of `container` (one of ctx->pod's). On success *out (free with
 * env_vars_free) holds *out_count variables. A failure is the container's
 * CreateContainerConfigError, and err's message is the one the kubelet gives it:
 * `configmap "cfg" not found` (-ENOENT), `couldn't find key k in Secret default/s` (-ENOENT),
 * `unsupported fieldPath: spec.schedulerName` (-EINVAL), or the lookup's own error. */
int container_env_build(const struct env_context *ctx, const struct container_spec *container,
			struct env_var **out, size_t *out_count, struct ck_error *err);
