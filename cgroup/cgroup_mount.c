/* Finding the cgroup2 mount in /proc/self/mountinfo: the mount of the hierarchy's root
 * preferred over a mount of one of its subtrees. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup/cgroup_internal.h"
#include "lib/mountinfo.h"

int cgroup_mount_find(const char *mountinfo, char **mount, struct ck_error *err)
{
	struct mountinfo_entry *entries;
	const char *found = NULL;
	size_t count;

	mountinfo_parse(mountinfo, &entries, &count);
	for (size_t i = 0; i < count; i++) {
		if (strcmp(entries[i].fs_type, "cgroup2") != 0)
			continue;
		if (!found || strcmp(entries[i].root, "/") == 0)
			found = entries[i].mount_point;
		if (strcmp(entries[i].root, "/") == 0)
			break;
	}
	if (found)
		*mount = strdup(found);
	mountinfo_free(entries, count);
	if (!found)
		return ck_error_set(err, ENOENT,
				    "/proc/self/mountinfo: no cgroup2 file system is "
				    "mounted");
	return 0;
}
