/* cgroup v2 for ckube: the tree of pods and containers, limits, statistics, freezing and
 * killing. The cgroup2 mount is found from /proc/self/mountinfo (never assumed to be at
 * /sys/fs/cgroup: this host has it at /sys/fs/cgroup/unified, with only hugetlb).
 *
 *   <mount>/<root>/                      e.g. ckube (configurable, so tests can use their own)
 *     guaranteed/ burstable/ besteffort/ QoS classes (Guaranteed pods directly under
 *                                        guaranteed/, as the kubelet does under its root)
 *       pod<uid>/                        the pod
 *         <container>/                   one per container
 *
 * Controllers are enabled top-down in cgroup.subtree_control as far as the kernel offers them.
 * A missing controller never stops a container: the limit it would carry is reported as not
 * enforced, and processes are still tracked, frozen and killed with the core files
 * (cgroup.procs, cgroup.events, cgroup.freeze, cgroup.kill), which every cgroup2 has.
 *
 * Containers exit at any moment: a cgroup that empties while it is read or written is normal,
 * and a cgroup removed meanwhile is reported as -ENOENT. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

enum cgroup_controller {
	CGROUP_CPU = 1 << 0,
	CGROUP_MEMORY = 1 << 1,
	CGROUP_PIDS = 1 << 2,
	CGROUP_IO = 1 << 3,
	CGROUP_CPUSET = 1 << 4,
	CGROUP_HUGETLB = 1 << 5,
};

struct cgroup_root {
	char *mount;        /* where cgroup2 is mounted */
	char *path;         /* <mount>/<root>, created when missing */
	int dirfd;          /* of `path` */
	unsigned available; /* enum cgroup_controller bits enabled for the cgroups below `path` */
	char *missing;      /* what cgroup_root_missing() returns */
};

/* Finds the cgroup2 mount, creates <mount>/<root> and enables cpu, memory and pids on the way
 * down as far as the kernel offers them. `root` is a relative path ("ckube"). */
int cgroup_root_open(const char *root, struct cgroup_root *out, struct ck_error *err);
/* Releases the structure; the directory stays. Safe again on a closed root and on one that
 * cgroup_root_open failed to fill. */
void cgroup_root_close(struct cgroup_root *root);
/* "cpu, memory and pids limits are not enforced: the cgroup2 hierarchy at
 * /sys/fs/cgroup/unified offers only hugetlb", or NULL when all three are available. Owned by
 * `root`. */
const char *cgroup_root_missing(const struct cgroup_root *root);

/* A container's (or pod's) resources as the API gives them. -1 (or 0) = not given. */
struct cgroup_resources {
	int64_t cpu_request_milli;
	int64_t cpu_limit_milli;
	int64_t memory_request; /* bytes */
	int64_t memory_limit;   /* bytes */
	int64_t pids_limit;     /* the node's pod pids limit */
	bool guaranteed;        /* the pod's QoS class is Guaranteed */
	bool container;         /* a container's cgroup, not a pod's */
};

/* Limits as the kubelet derives them from a container's (or pod's) resources. -1 = unset. */
struct cgroup_limits {
	int64_t cpu_weight;   /* 1..10000, from the cpu request */
	int64_t cpu_quota_us; /* with cpu_period_us, from the cpu limit ("max" when -1) */
	int64_t cpu_period_us;
	int64_t memory_max; /* bytes, from the memory limit */
	int64_t memory_min; /* bytes, the memory request of Guaranteed pods */
	int64_t pids_max;
	bool oom_group; /* memory.oom.group: an OOM kill takes the whole container */
};

/* Maps requests and limits like the kubelet (1.32 with a runtime of its time):
 * shares = milli * 1024 / 1000 within 2..262144 (the request defaults to the limit),
 * weight = 1 + (shares - 2) * 9999 / 262142, quota = milli * period / 1000 with period
 * 100000 us and at least 1000 us, memory.max = the memory limit, memory.min = the memory request
 * of Guaranteed pods, pids.max = the pids limit, memory.oom.group for containers (1.28+). */
void cgroup_limits_from_resources(const struct cgroup_resources *resources,
				  struct cgroup_limits *out);

/* Creates <root>/<relative> (parents included, controllers enabled on the way) and returns an
 * O_PATH|O_DIRECTORY descriptor usable with clone3's CLONE_INTO_CGROUP and with the functions
 * below. An existing cgroup is reused. */
int cgroup_create(const struct cgroup_root *root, const char *relative, int *dirfd,
		  struct ck_error *err);
/* Moves a running process into the cgroup (cgroup.procs), for when clone3 cannot place it there
 * directly; -ESRCH when the process is gone. */
int cgroup_attach(int dirfd, pid_t pid, struct ck_error *err);
/* Writes the limits the kernel can enforce there; `not_enforced` receives the controller bits
 * whose limits were set but could not be written because the controller is missing. Bad
 * values (impossible limits) fail with -EINVAL and a message naming the file, before anything
 * is written. */
int cgroup_apply_limits(int dirfd, const struct cgroup_limits *limits, unsigned *not_enforced,
			struct ck_error *err);

struct cgroup_stats {
	uint64_t cpu_usage_usec; /* cpu.stat usage_usec (core, always there) */
	int64_t memory_current;  /* -1 when the memory controller is missing */
	int64_t memory_peak;     /* -1 also before Linux 5.19 */
	int64_t pids_current;    /* -1 when missing */
	int64_t oom_kills;       /* memory.events oom_kill, -1 when missing */
	bool populated;          /* cgroup.events */
	bool frozen;
};

int cgroup_stats_read(int dirfd, struct cgroup_stats *out, struct ck_error *err);

/* Freezes or thaws the processes (cgroup.freeze). The kernel finishes asynchronously: "frozen 1"
 * in cgroup.events (watch it, see cgroup_file_path) tells when every process has stopped. */
int cgroup_freeze(int dirfd, bool frozen, struct ck_error *err);
/* Kills every process in the cgroup and below (cgroup.kill), frozen ones included. Death is
 * asynchronous: "populated 0" in cgroup.events tells when the last one is gone. A cgroup that
 * was removed has nothing left to kill and succeeds. */
int cgroup_kill(int dirfd, struct ck_error *err);
/* Removes <root>/<relative> and the cgroups below it; "" removes the root itself. A cgroup
 * that still has processes fails with -EBUSY unless `force`, which kills them first and waits
 * for them to exit (-ETIMEDOUT after 5 s, e.g. for a process stuck in the kernel). A cgroup
 * that is already gone succeeds. */
int cgroup_remove(const struct cgroup_root *root, const char *relative, bool force,
		  struct ck_error *err);
/* The path of a file of the cgroup, to watch with inotify (IN_MODIFY): cgroup.events tells
 * when the last process left, memory.events when an OOM kill happened. Caller frees. NULL when
 * `relative` or `file` is not a plain path below the root. */
char *cgroup_file_path(const struct cgroup_root *root, const char *relative, const char *file);
