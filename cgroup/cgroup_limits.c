/* From a container's resources to cgroup v2 limits, with the kubelet's numbers
 * (pkg/kubelet/cm and kuberuntime helpers, and the runtime's shares-to-weight conversion). */
#include <stdint.h>

#include "cgroup/cgroup_internal.h"

/* cgroup v1 cpu.shares bounds, which the kubelet still computes in before converting. */
#define CPU_SHARES_MIN 2
#define CPU_SHARES_MAX 262144
#define CPU_SHARES_PER_CPU 1024
#define MILLI_PER_CPU 1000
#define CPU_PERIOD_US 100000

static int64_t cpu_shares(int64_t milli)
{
	if (milli <= 0)
		return CPU_SHARES_MIN;
	if (milli > INT64_MAX / CPU_SHARES_PER_CPU)
		return CPU_SHARES_MAX;
	int64_t shares = milli * CPU_SHARES_PER_CPU / MILLI_PER_CPU;
	return shares < CPU_SHARES_MIN   ? CPU_SHARES_MIN
	       : shares > CPU_SHARES_MAX ? CPU_SHARES_MAX
					 : shares;
}

/* Maps 2..262144 linearly onto 1..10000, as runc and crun did up to 2025 (KEP-2254). */
static int64_t cpu_weight(int64_t shares)
{
	return 1 + (shares - CPU_SHARES_MIN) * (CGROUP_CPU_WEIGHT_MAX - 1) /
		       (CPU_SHARES_MAX - CPU_SHARES_MIN);
}

static int64_t cpu_quota_us(int64_t milli)
{
	int64_t product;
	if (__builtin_mul_overflow(milli, (int64_t)CPU_PERIOD_US, &product))
		return INT64_MAX;
	int64_t quota = product / MILLI_PER_CPU;
	/* The kubelet raises tiny limits to the kernel's minimum quota. */
	return quota < CGROUP_CPU_QUOTA_MIN_US ? CGROUP_CPU_QUOTA_MIN_US : quota;
}

void cgroup_limits_from_resources(const struct cgroup_resources *resources,
				  struct cgroup_limits *out)
{
	/* A request of zero is no request; an absent request defaults to the limit. */
	int64_t cpu_request = resources->cpu_request_milli > 0 ? resources->cpu_request_milli
							       : resources->cpu_limit_milli;
	*out = (struct cgroup_limits){
	    .cpu_weight = cpu_weight(cpu_shares(cpu_request)),
	    .cpu_quota_us =
		resources->cpu_limit_milli > 0 ? cpu_quota_us(resources->cpu_limit_milli) : -1,
	    .cpu_period_us = CPU_PERIOD_US,
	    .memory_max = resources->memory_limit > 0 ? resources->memory_limit : -1,
	    .memory_min = resources->guaranteed && resources->memory_request > 0
			      ? resources->memory_request
			      : -1,
	    .pids_max = resources->pids_limit > 0 ? resources->pids_limit : -1,
	    .oom_group = resources->container,
	};
}
