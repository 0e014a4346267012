/* Resource usage of this node and its containers, read from the kernel, and the thread that
 * reports it to the API server as `kubectl top` wants it: metrics.k8s.io/v1beta1 NodeMetrics
 * and PodMetrics, PUT every 15 s (metrics-server's resolution), each the rate between two
 * readings, so the first report comes with the second reading.
 *
 * Containers are found without asking the sync loop: every container's state file
 * (<run-dir>/containers/<id>/state.json) names its pod (annotations podUID, podNamespace, podName,
 * containerName) and its cgroup (an absolute path in the cgroup2 file system). Only containers
 * whose process still runs count, as metrics-server only shows running ones.
 *
 * CPU is cpu.stat's usage_usec, which every cgroup2 has. Memory is the working set as cadvisor
 * and metrics-server compute it: memory.current minus memory.stat's inactive_file (at least 0).
 * Where cgroup2 lacks the memory controller (a hybrid host whose memory controller is bound to
 * cgroup v1) the resident set sizes of the cgroup's processes stand in for it. The node's CPU is
 * the busy time of /proc/stat, its memory MemTotal minus MemAvailable.
 *
 * Files are read below a root directory ("" for the machine), so tests can lay out a fake /proc;
 * cgroup paths are used as the state files give them. */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lib/error.h"
#include "lib/http_client.h"

struct agent_metrics;

/* Parsers of single files; 0, or -EINVAL when the text lacks what is asked for. */
/* A "key value" line of a flat-keyed file (cpu.stat, memory.stat). */
int usage_parse_keyed(const char *text, const char *key, int64_t *out);
/* The first line of /proc/stat: busy time (all but idle and iowait) of every CPU together, in
 * microseconds, from clock ticks of `ticks_per_second` (sysconf(_SC_CLK_TCK)). */
int usage_parse_proc_stat(const char *text, long ticks_per_second, uint64_t *busy_usec);
/* /proc/<pid>/statm's second field: resident pages. */
int usage_parse_statm_resident(const char *text, int64_t *pages);

/* The usage of one cgroup. */
struct cgroup_usage {
	uint64_t cpu_usec;   /* CPU time used since the cgroup was created */
	int64_t working_set; /* bytes */
};

/* Reads the cgroup directory `cgroup` (with `root` for the /proc of its processes, when the
 * memory controller is missing). -ENOENT when the cgroup is gone. */
int usage_read_cgroup(const char *root, const char *cgroup, struct cgroup_usage *out,
		      struct ck_error *err);

/* One running container of a pod. */
struct container_usage {
	char *id;
	char *pod_uid, *namespace, *pod, *container;
	char *cgroup;
	pid_t pid;
	struct cgroup_usage usage;
};

/* The running pod containers of `run_dir`, sorted by namespace, pod, container name and id.
 * Containers that exit while they are read are left out. */
int usage_containers_read(const char *run_dir, const char *root, struct container_usage **out,
			  size_t *count, struct ck_error *err);
void usage_containers_free(struct container_usage *containers, size_t count);

/* One reading of the node and its containers. */
struct usage_sample {
	int64_t monotonic_ns;     /* when it was taken (CLOCK_MONOTONIC) */
	time_t wall;              /* the same on the wall clock, for the reports' timestamp */
	uint64_t node_cpu_usec;   /* busy CPU time of the machine since boot */
	int64_t node_working_set; /* bytes */
	struct container_usage *containers;
	size_t count;
};

int usage_sample_read(const char *run_dir, const char *root, struct usage_sample *out,
		      struct ck_error *err);
void usage_sample_clear(struct usage_sample *sample);

/* The CPU rate between two cumulative readings, in nanocores (a billionth of a CPU); 0 when
 * the counter went back (a cgroup made anew) or the window is empty. */
uint64_t usage_nanocores(uint64_t before_usec, uint64_t after_usec, int64_t window_ns);

/* Room for the texts below. */
#define USAGE_TEXT_SIZE 48

/* Nanocores as a canonical Kubernetes quantity: the largest of the suffixes n, u, m (or none)
 * that represents them exactly: "12345n", "5m", "2"; "0". */
const char *usage_format_nanocores(uint64_t nanocores, char out[USAGE_TEXT_SIZE]);
/* A duration as Go's time.Duration prints it (the reports' window): "15s", "15.004s",
 * "1m30s", "500ms". */
const char *usage_format_duration(int64_t ns, char out[USAGE_TEXT_SIZE]);

/* The reports between two samples of the node: the NodeMetrics body for `node_name`, and an
 * array of PodMetrics bodies (metadata.namespace and metadata.name say where each goes), one
 * per pod with a container seen in both samples. */
json_t *usage_node_metrics(const char *node_name, const struct usage_sample *before,
			   const struct usage_sample *after);
json_t *usage_pod_metrics(const struct usage_sample *before, const struct usage_sample *after);

struct usage_reporter_config {
	struct http_client_options api;
	const char *node_name;
	const char *run_dir;
	int interval_ms;               /* 0: 15000 */
	struct agent_metrics *metrics; /* counts failed reports; may be NULL */
};

struct usage_reporter;

/* Starts the thread; it keeps trying while the API server is away. */
int usage_reporter_start(const struct usage_reporter_config *config, struct usage_reporter **out,
			 struct ck_error *err);
void usage_reporter_stop(struct usage_reporter *reporter);
