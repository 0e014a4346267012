/* What this node tells the API about itself, without the HTTP and the thread (node_status.c):
 * facts read from the kernel's files (capacity, the eviction signals, nodeInfo), the pressure
 * decisions on them, and the Node's labels, annotations, status and conditions built from
 * those. Files are read below a root directory ("" for the machine), so tests can lay out fake
 * /proc, /etc and /sys trees.
 *
 * Thresholds are the kubelet's defaults for --eviction-hard, fixed here: memory.available<100Mi,
 * nodefs.available<10%, nodefs.inodesFree<5%, imagefs.available<15%. The kubelet has no default
 * for pid.available; ckube uses pid.available<10% of the task limit. Allocatable is capacity
 * minus those thresholds, as the kubelet computes it with no kube-reserved or system-reserved. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/error.h"

#define NODE_MEMORY_AVAILABLE_MIN (100LL << 20)
#define NODE_NODEFS_AVAILABLE_PERCENT 10
#define NODE_NODEFS_INODES_FREE_PERCENT 5
#define NODE_IMAGEFS_AVAILABLE_PERCENT 15
#define NODE_PID_AVAILABLE_PERCENT 10
/* --eviction-pressure-transition-period: a pressure condition stays True this long after the
 * threshold was last seen crossed, so that it does not flap around the threshold. */
#define NODE_PRESSURE_TRANSITION_SECONDS 300

/* The annotation that names the limits ckube cannot enforce on this node. */
#define NODE_UNENFORCED_LIMITS_ANNOTATION "node.ckube.io/unenforced-limits"

/* statvfs of a directory's file system; -1 where unknown. */
struct node_fs_stats {
	int64_t capacity; /* bytes */
	int64_t available;
	int64_t inodes;
	int64_t inodes_free;
};

/* What changes while the node runs, read again at every status computation. -1: unknown. */
struct node_facts {
	int64_t cpus;             /* CPUs this process may run on (sched_getaffinity) */
	int64_t memory_total;     /* bytes, /proc/meminfo MemTotal */
	int64_t memory_available; /* bytes, MemAvailable */
	struct node_fs_stats nodefs;
	struct node_fs_stats imagefs;
	int64_t task_max; /* the smaller of kernel.pid_max and kernel.threads-max */
	int64_t tasks;    /* tasks now: the total of /proc/loadavg's fourth field */
};

/* What does not change while the node runs: status.nodeInfo from the machine. Empty strings
 * where the machine does not say (no DMI product_uuid in most virtual machines). */
struct node_system_info {
	char machine_id[64];
	char system_uuid[64];
	char boot_id[64];
	char kernel_version[128];
	char os_image[256];
	char architecture[32]; /* Go's name: amd64, arm64... */
};

/* The agent's own description of its node, fixed at start. */
struct node_description {
	const char *name;
	const char *ip;
	int max_pods;
	int agent_port;
	struct node_system_info system;
	unsigned cgroup_available;  /* enum cgroup_controller bits usable below ckube's root */
	const char *cgroup_missing; /* cgroup_root_missing(): NULL when all limits are enforced */
};

/* When each pressure threshold was last seen crossed; 0: never. */
struct node_pressure {
	time_t memory;
	time_t disk;
	time_t pid;
};

/* Parsers of single files, 0 or -EINVAL when the text lacks what is asked for. */
int node_parse_meminfo(const char *text, int64_t *total, int64_t *available);
int node_parse_loadavg_tasks(const char *text, int64_t *tasks);
/* PRETTY_NAME of an os-release file with its shell quoting removed; "Linux" when absent, as the
 * os-release specification defaults it. */
void node_parse_os_release(const char *text, char *out, size_t len);
/* Go's GOARCH for a uname machine: x86_64 -> amd64, aarch64 -> arm64...; unknown ones as is. */
const char *node_go_arch(const char *machine);

/* Reads the facts below `root`, with statvfs of data_dir (nodefs) and image_dir (imagefs).
 * Everything readable is filled, the rest is -1; returns 0, or the first failure with `err`
 * naming the file. */
int node_facts_read(const char *root, const char *data_dir, const char *image_dir,
		    struct node_facts *out, struct ck_error *err);
/* The same for nodeInfo, with uname for the kernel and the architecture. */
int node_system_info_read(const char *root, struct node_system_info *out, struct ck_error *err);

/* The eviction signals against their thresholds; unknown signals are no pressure. */
bool node_memory_pressure(const struct node_facts *facts);
bool node_disk_pressure(const struct node_facts *facts);
bool node_pid_pressure(const struct node_facts *facts);
/* Records which thresholds are crossed at `now`. */
void node_pressure_observe(struct node_pressure *pressure, const struct node_facts *facts,
			   time_t now);

/* "cpu,memory,pids": the controllers among cpu, memory and pids that are missing from
 * `available`, "" when none is. */
void node_unenforced_limits(unsigned available, char *out, size_t len);

/* The conditions MemoryPressure, DiskPressure, PIDPressure, Ready and CgroupLimitsEnforced as
 * of `now`, worded as the kubelet words them. A condition whose status is the same as in
 * `previous` (the Node's status.conditions as the API has them, or NULL) keeps its
 * lastTransitionTime; lastHeartbeatTime is `now`. */
json_t *node_conditions(const struct node_description *node, const struct node_facts *facts,
			const struct node_pressure *pressure, const json_t *previous, time_t now);
/* status: capacity, allocatable, conditions (taken over), addresses, daemonEndpoints, nodeInfo. */
json_t *node_status_json(const struct node_description *node, const struct node_facts *facts,
			 json_t *conditions);
/* metadata.labels and metadata.annotations as the agent sets them. */
json_t *node_labels(const struct node_description *node);
json_t *node_annotations(const struct node_description *node);
/* A whole Node for registration (takes `status` over). */
json_t *node_object(const struct node_description *node, json_t *status);
/* Whether the API's status (`current`) differs from `desired` in what the agent writes, leaving
 * the conditions' lastHeartbeatTime aside. */
bool node_status_differs(const json_t *desired, const json_t *current);
