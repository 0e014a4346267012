/* A pod as the agent acts on it: the parts of a Pod object (already validated and defaulted by
 * the API server) turned into C structures once, at the edge. Only what the agent uses is
 * here; the JSON stays available for what it only passes on. Defaults that a pod from a
 * manifest file may lack (the API server sets them on the others) are applied here too, with
 * Kubernetes' values. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "lib/quantity.h"
#include "runtime/container.h"

enum restart_policy { RESTART_ALWAYS, RESTART_ON_FAILURE, RESTART_NEVER };
enum pull_policy { PULL_IF_NOT_PRESENT, PULL_ALWAYS, PULL_NEVER };
enum qos_class { QOS_GUARANTEED, QOS_BURSTABLE, QOS_BEST_EFFORT };
/* How a probe or a lifecycle hook runs; sleep is for hooks only. */
enum probe_kind {
	PROBE_NONE,
	PROBE_EXEC,
	PROBE_HTTP_GET,
	PROBE_TCP_SOCKET,
	PROBE_GRPC,
	PROBE_SLEEP
};

struct probe_spec {
	enum probe_kind kind;
	char **command;       /* exec: NULL-terminated */
	char *http_path;      /* httpGet: path (default "/") */
	char *http_scheme;    /* "HTTP" or "HTTPS" */
	char *http_host;      /* httpGet and tcpSocket host; NULL: the pod IP */
	json_t *http_headers; /* [{name, value}] or NULL */
	/* httpGet, tcpSocket, grpc: resolved against the container's ports. A named port that
	 * none of them has is 0, with its name in port_name: the kubelet lets such a probe fail
	 * each time ("port NAME not found") rather than refuse the pod. */
	int port;
	char *port_name;    /* the port as written when it was a name, else NULL */
	char *grpc_service; /* grpc: the service to ask about; NULL for the server as a whole */
	int sleep_seconds;  /* sleep (a hook) */
	int initial_delay_seconds;
	int timeout_seconds;               /* default 1 */
	int period_seconds;                /* default 10 */
	int success_threshold;             /* default 1 */
	int failure_threshold;             /* default 3 */
	int64_t termination_grace_seconds; /* probe-level override, -1 when unset */
};

/* One env entry as written, before expansion: a value, or where the value comes from. */
enum env_source {
	ENV_VALUE,
	ENV_FIELD_REF,
	ENV_RESOURCE_FIELD_REF,
	ENV_CONFIG_MAP_KEY,
	ENV_SECRET_KEY
};

struct env_spec {
	char *name;
	enum env_source source;
	char *value;             /* ENV_VALUE ("" when the entry has neither value nor valueFrom) */
	char *field;             /* fieldRef.fieldPath ("metadata.name", "status.podIP", ...) or
				    resourceFieldRef.resource ("limits.cpu", ...) */
	char *container;         /* resourceFieldRef.containerName, NULL for this container */
	struct quantity divisor; /* resourceFieldRef.divisor, {0, 0} when unset (meaning 1) */
	char *object;            /* configMapKeyRef/secretKeyRef name */
	char *key;
	bool optional;
};

/* One envFrom entry: every key of a ConfigMap or Secret. */
struct env_from_spec {
	char *prefix; /* NULL when none */
	bool secret;  /* secretRef, else configMapRef */
	char *name;
	bool optional;
};

struct port_spec {
	char *name; /* NULL when unnamed */
	int container_port;
	int host_port;  /* 0: none */
	char *protocol; /* "TCP", "UDP", "SCTP" */
};

struct volume_mount_spec {
	char *name;
	char *mount_path;
	char *sub_path;      /* NULL when unset */
	char *sub_path_expr; /* subPathExpr, $(VAR)-expanded with the container's env; or NULL */
	bool read_only;
	enum container_propagation propagation; /* mountPropagation; None when unset */
};

struct security_spec {
	int64_t run_as_user;  /* -1 when unset (container over pod) */
	int64_t run_as_group; /* -1 when unset */
	int run_as_non_root;  /* -1 unset, 0 false, 1 true */
	bool privileged;
	bool read_only_root;
	int allow_privilege_escalation; /* -1 unset */
	char **cap_add, **cap_drop;     /* NULL-terminated, NULL when none */
	char *seccomp; /* "RuntimeDefault", "Unconfined", "Localhost"; NULL: the node's default */
	char *seccomp_localhost; /* Localhost: localhostProfile, relative to the node's directory */
	bool proc_unmasked;
};

/* Quantities of cpu in millicores, of memory and ephemeral storage in bytes; -1 when unset. A
 * limit without a request makes the request equal to it, as Kubernetes defaults it. */
struct resources_spec {
	int64_t cpu_request_milli;
	int64_t cpu_limit_milli;
	int64_t memory_request;
	int64_t memory_limit;
	int64_t ephemeral_storage_request;
	int64_t ephemeral_storage_limit;
};

struct container_spec {
	char *name;
	char *image;
	enum pull_policy
	    pull_policy; /* when unset: Always for :latest or no tag, else IfNotPresent */
	char **command;  /* NULL-terminated, NULL when unset */
	char **args;
	char *working_dir;
	struct env_spec *env;
	size_t env_count;
	struct env_from_spec *env_from;
	size_t env_from_count;
	struct port_spec *ports;
	size_t port_count;
	struct volume_mount_spec *mounts;
	size_t mount_count;
	struct resources_spec resources;
	struct security_spec security;
	struct probe_spec liveness, readiness, startup;
	/* lifecycle.preStop and postStart: handlers read like a probe's (kind PROBE_NONE when
	 * unset); only the handler fields count. */
	struct probe_spec pre_stop, post_start;
	bool restart_always; /* an init container with restartPolicy Always: a sidecar */
	bool stdin_open, tty;
	char *termination_message_path; /* default "/dev/termination-log" */
};

struct pod_spec {
	char *
	    uid; /* "" when the object has none (a manifest file's pod before the agent names it) */
	char *namespace; /* "default" when the object has none */
	char *name;
	char *resource_version;             /* NULL when unset */
	char *node_name;                    /* NULL when unset */
	json_t *labels;                     /* object, never NULL */
	json_t *annotations;                /* object, never NULL */
	bool deleting;                      /* metadata.deletionTimestamp is set */
	int64_t deletion_grace_seconds;     /* metadata.deletionGracePeriodSeconds, -1 when unset */
	int64_t termination_grace_seconds;  /* spec.terminationGracePeriodSeconds (default 30) */
	enum restart_policy restart_policy; /* default Always */
	enum qos_class qos;                 /* status.qosClass, else pod_qos_class() */
	bool host_network, host_pid, host_ipc;
	bool share_process_namespace;
	bool enable_service_links; /* default true */
	/* spec.hostname, else the pod name, cut to 63 characters without a trailing '-' or '.'
	 * as the kubelet cuts it. */
	char *hostname;
	char *subdomain;               /* NULL when unset */
	char *service_account;         /* spec.serviceAccountName, NULL when unset */
	struct security_spec security; /* pod-level defaults for its containers */
	int64_t *supplemental_groups;
	size_t supplemental_group_count;
	int64_t fs_group; /* -1 when unset */
	struct container_spec *init_containers;
	size_t init_container_count;
	struct container_spec *containers;
	size_t container_count;
	json_t *volumes; /* spec.volumes as is (the volume part resolves them), or NULL */
	json_t *dns_config, *host_aliases; /* as is, or NULL */
	char *dns_policy;                  /* default "ClusterFirst" */
	json_t *object;                    /* the whole Pod, for what is passed on */
};

/* Reads a Pod object. A pod the agent cannot run (a field it cannot take) still parses; what
 * cannot be read at all fails with -EINVAL and a message naming the field
 * ("spec.containers[1].ports[0].containerPort: not a number"). */
int pod_spec_parse(const json_t *pod, struct pod_spec **out, struct ck_error *err);
void pod_spec_free(struct pod_spec *pod);

/* The QoS class computed from the containers' resources by Kubernetes' rules (GetPodQOS): no
 * cpu or memory request or limit above zero in any container, init containers included, is
 * BestEffort; a cpu and a memory limit in every container with the requests summed over all
 * containers equal to the limits is Guaranteed; anything else is Burstable. pod_spec_parse
 * uses it when the object has no status.qosClass yet. */
enum qos_class pod_qos_class(const struct pod_spec *pod);
const char *qos_class_name(enum qos_class qos); /* "Guaranteed", "Burstable", "BestEffort" */

/* A container's effective security settings: its own over the pod's (run as user, group and
 * non-root, seccomp); the rest are the container's. The strings of `out` belong to `pod` and
 * `container`. */
void container_security_effective(const struct pod_spec *pod,
				  const struct container_spec *container,
				  struct security_spec *out);
