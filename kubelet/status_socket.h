/* The node agent's local status socket, <run-dir>/ckube.sock (/run/ckube/ckube.sock): HTTP over
 * a unix socket that only root may open (mode 0600), for `ckube status` and anyone debugging
 * the node. It answers JSON from the agent's own view, without the API server:
 *
 *   GET / and GET /node        the node summary:
 *     {"name", "ip", "version", "apiServer", "runDir", "cgroup", "unenforcedLimits" (null when
 *      every limit is enforced), "startedAt", "pods" (count), "containers" (count),
 *      "runningContainers" (count)}
 *   GET /pods                  an array of pods, as below
 *   GET /pods/NAMESPACE/NAME   one of them; 404 {"error": "..."} when the node has no such pod
 *   GET /services              the Service proxy: {"table", "listed" (both lists arrived),
 *      "inSync" (the kernel's table is known to be right), "services", "servicePorts",
 *      "endpoints" (counts of what the table holds), "loadBalancingChains": [{"name",
 *      "users"}], "lastSync", "lastFailure", "lastError" (null when the last attempt worked)}
 *   GET /healthz               "ok" (text/plain)
 *   GET /metrics               the agent's metrics, Prometheus text format 0.0.4
 *
 * A pod (what the pods_snapshot provider returns, one object per pod in an array):
 *   {"namespace", "name", "uid",
 *    "phase":       "Pending" | "Running" | "Succeeded" | "Failed",
 *    "stage":       "starting" | "running" | "terminating" | "gone" (the agent's own),
 *    "podIP":       "10.42.0.7" or null, "podIPs": ["10.42.0.7"],
 *    "hostNetwork": bool,
 *    "netns":       the pinned network namespace file, null with hostNetwork or before the
 *                   sandbox exists,
 *    "cgroup":      the pod's cgroup directory (absolute) or null,
 *    "startTime":   RFC 3339 or null,
 *    "volumes":     [{"name", "type" (the source: "hostPath", "emptyDir", "nfs", ...),
 *                     "path": where it is on the node, "state": "pending" | "mounting" |
 *                     "ready"}] (empty until the agent first sets them up),
 *    "containers":  [{"name", "init": bool,
 *                     "id":           the current (or last) run's container id, or null,
 *                     "pid":          its main process as the host sees it, or null,
 *                     "state":        "waiting" | "running" | "terminated",
 *                     "reason":       Kubernetes' reason (ContainerCreating, CrashLoopBackOff,
 *                                     Completed, ...) or null,
 *                     "exitCode":     terminated only,
 *                     "restartCount", "image" (as the spec names it), "imageID" (or null),
 *                     "cgroup":       the running container's cgroup directory, or null,
 *                     "mounts":       [{"name", "mountPath", "readOnly", "subPath" (or null)}],
 *                     "lastError":    the last failure of a step of this container, or null}],
 *    "errors":      {step: message} for each step whose last attempt failed: "sandbox",
 *                   "volume NAME", "pull CONTAINER", "start CONTAINER"}
 * Init containers come first, in their order, then the app containers. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "kubelet/agent_metrics.h"
#include "lib/error.h"

/* A new reference to the array of pods, or NULL when the agent cannot answer now (stopping).
 * Called from the socket's thread; blocking there is fine. */
typedef json_t *(*status_pods_fn)(void *ctx);

struct status_socket_config {
	const char *path; /* the socket file */
	/* For the node summary. */
	const char *node_name;
	const char *node_ip;
	const char *api_server;
	const char *run_dir;
	const char *cgroup;            /* ckube's cgroup root directory */
	const char *unenforced_limits; /* cgroup_root_missing(), NULL when none */
	status_pods_fn pods_snapshot;
	void *ctx;
	/* A new reference to the Service proxy's status; any thread. */
	json_t *(*services_status)(void *services_ctx);
	void *services_ctx;
	struct agent_metrics *metrics; /* for /metrics */
};

struct status_socket;

/* Binds the socket under a temporary name, makes it 0600 and renames it into place, so that a
 * client never finds a socket that is not yet answering or open to anyone, and a stale file
 * of a killed agent is replaced. A socket that still answers belongs to a running agent:
 * -EADDRINUSE. */
int status_socket_start(const struct status_socket_config *config, struct status_socket **out,
			struct ck_error *err);
/* Stops answering and removes the socket file (unless another agent has replaced it since). */
void status_socket_stop(struct status_socket *socket);

/* The client side: one GET of `target` ("/pods") over the socket at `path`. Returns the HTTP
 * status with the body (NUL-terminated, caller frees), or -errno when the socket cannot be
 * reached or answers no HTTP. */
int status_socket_get(const char *path, const char *target, char **body, size_t *len,
		      struct ck_error *err);
