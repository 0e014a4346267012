/* Writing limits: each is checked against what the kernel accepts and rendered first, so a bad
 * value changes nothing; then written where its controller exists. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "cgroup/cgroup_internal.h"
#include "lib/cleanup.h"

/* Kernel bounds: cpu.max period (1 ms to 1 s) and quota (MAX_BW: 2^44 - 1 us, "more than 203
 * days"), pids.max (PID_MAX_LIMIT on 64-bit). */
#define CPU_PERIOD_MIN_US 1000
#define CPU_PERIOD_MAX_US 1000000
#define CPU_QUOTA_MAX_US ((INT64_C(1) << 44) - 1)
#define PIDS_MAX_LIMIT (INT64_C(4) * 1024 * 1024)

static int out_of_range(const char *file, const char *what, int64_t value, int64_t min, int64_t max,
			struct ck_error *err)
{
	return ck_error_set(err, EINVAL, "%s: %s %" PRId64 " is outside %" PRId64 "..%" PRId64,
			    file, what, value, min, max);
}

static bool in_range(int64_t value, int64_t min, int64_t max)
{
	return value >= min && value <= max;
}

static void __attribute__((format(printf, 5, 6)))
add(struct cgroup_limit_file *files, size_t *count, const char *file,
    enum cgroup_controller controller, const char *format, ...)
{
	struct cgroup_limit_file *entry = &files[(*count)++];
	entry->file = file;
	entry->controller = controller;
	va_list ap;
	va_start(ap, format);
	vsnprintf(entry->value, sizeof(entry->value), format, ap);
	va_end(ap);
}

int cgroup_limits_render(const struct cgroup_limits *limits,
			 struct cgroup_limit_file files[CGROUP_LIMIT_FILES_MAX], size_t *count,
			 struct ck_error *err)
{
	*count = 0;
	if (limits->cpu_weight != -1 &&
	    !in_range(limits->cpu_weight, CGROUP_CPU_WEIGHT_MIN, CGROUP_CPU_WEIGHT_MAX))
		return out_of_range("cpu.weight", "weight", limits->cpu_weight,
				    CGROUP_CPU_WEIGHT_MIN, CGROUP_CPU_WEIGHT_MAX, err);
	if (limits->cpu_period_us == -1 && limits->cpu_quota_us != -1)
		return ck_error_set(err, EINVAL, "cpu.max: a quota needs a period");
	if (limits->cpu_period_us != -1 &&
	    !in_range(limits->cpu_period_us, CPU_PERIOD_MIN_US, CPU_PERIOD_MAX_US))
		return out_of_range("cpu.max", "period (us)", limits->cpu_period_us,
				    CPU_PERIOD_MIN_US, CPU_PERIOD_MAX_US, err);
	if (limits->cpu_quota_us != -1 &&
	    !in_range(limits->cpu_quota_us, CGROUP_CPU_QUOTA_MIN_US, CPU_QUOTA_MAX_US))
		return out_of_range("cpu.max", "quota (us)", limits->cpu_quota_us,
				    CGROUP_CPU_QUOTA_MIN_US, CPU_QUOTA_MAX_US, err);
	if (limits->memory_max < -1)
		return out_of_range("memory.max", "bytes", limits->memory_max, 0, INT64_MAX, err);
	if (limits->memory_min < -1)
		return out_of_range("memory.min", "bytes", limits->memory_min, 0, INT64_MAX, err);
	if (limits->pids_max != -1 && !in_range(limits->pids_max, 0, PIDS_MAX_LIMIT))
		return out_of_range("pids.max", "processes", limits->pids_max, 0, PIDS_MAX_LIMIT,
				    err);

	if (limits->cpu_weight != -1)
		add(files, count, "cpu.weight", CGROUP_CPU, "%" PRId64, limits->cpu_weight);
	if (limits->cpu_quota_us != -1)
		add(files, count, "cpu.max", CGROUP_CPU, "%" PRId64 " %" PRId64,
		    limits->cpu_quota_us, limits->cpu_period_us);
	else if (limits->cpu_period_us != -1)
		add(files, count, "cpu.max", CGROUP_CPU, "max %" PRId64, limits->cpu_period_us);
	if (limits->memory_max != -1)
		add(files, count, "memory.max", CGROUP_MEMORY, "%" PRId64, limits->memory_max);
	if (limits->memory_min != -1)
		add(files, count, "memory.min", CGROUP_MEMORY, "%" PRId64, limits->memory_min);
	if (limits->oom_group)
		add(files, count, "memory.oom.group", CGROUP_MEMORY, "1");
	if (limits->pids_max != -1)
		add(files, count, "pids.max", CGROUP_PIDS, "%" PRId64, limits->pids_max);
	return 0;
}

int cgroup_apply_limits(int dirfd, const struct cgroup_limits *limits, unsigned *not_enforced,
			struct ck_error *err)
{
	struct cgroup_limit_file files[CGROUP_LIMIT_FILES_MAX];
	size_t count;
	*not_enforced = 0;
	int rc = cgroup_limits_render(limits, files, &count, err);
	if (rc < 0)
		return rc;
	_cleanup_free_ char *controllers = NULL;
	rc = cgroup_read_file(dirfd, "cgroup.controllers", &controllers, err);
	if (rc < 0)
		return rc;
	unsigned present = cgroup_controllers_parse(controllers);
	for (size_t i = 0; i < count; i++) {
		if (!(present & files[i].controller)) {
			*not_enforced |= files[i].controller;
			continue;
		}
		rc = cgroup_write_file(dirfd, files[i].file, files[i].value, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}
