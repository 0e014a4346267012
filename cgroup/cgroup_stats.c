/* Usage of a cgroup: the core files every cgroup2 has, then the controllers' files, each of
 * which may be missing (controller not enabled, older kernel) and then reads as -1. */
#include <errno.h>

#include "cgroup/cgroup_internal.h"
#include "lib/cleanup.h"

static int read_optional(int dirfd, const char *file, const char *key, int64_t *value,
			 struct ck_error *err)
{
	int rc = cgroup_read_number(dirfd, file, key, value, err);
	if (rc == -ENOENT || rc == -ENODATA) {
		*value = -1;
		return 0;
	}
	return rc;
}

int cgroup_stats_read(int dirfd, struct cgroup_stats *out, struct ck_error *err)
{
	*out = (struct cgroup_stats){0};
	_cleanup_free_ char *events = NULL;
	int rc = cgroup_read_file(dirfd, "cgroup.events", &events, err);
	if (rc < 0)
		return rc;
	int64_t populated = 0, frozen = 0, usage = 0;
	/* "frozen" arrived with the v2 freezer (Linux 5.2); without it nothing is frozen. */
	if (cgroup_parse_key(events, "populated", &populated) < 0 ||
	    cgroup_parse_key(events, "frozen", &frozen) == -EINVAL)
		return ck_error_set(err, EINVAL, "cgroup.events: unexpected content \"%.64s\"",
				    events);
	out->populated = populated != 0;
	out->frozen = frozen != 0;
	rc = cgroup_read_number(dirfd, "cpu.stat", "usage_usec", &usage, err);
	if (rc < 0)
		return rc;
	out->cpu_usage_usec = (uint64_t)usage;
	rc = read_optional(dirfd, "memory.current", NULL, &out->memory_current, err);
	if (rc == 0)
		rc = read_optional(dirfd, "memory.peak", NULL, &out->memory_peak, err);
	if (rc == 0)
		rc = read_optional(dirfd, "pids.current", NULL, &out->pids_current, err);
	if (rc == 0)
		rc = read_optional(dirfd, "memory.events", "oom_kill", &out->oom_kills, err);
	return rc;
}
