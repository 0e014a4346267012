/* Volume mounts on the node: see volume_mounts.h. */
#include "volume/volume_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "lib/mountinfo.h"

bool volume_is_mount_point(const char *path)
{
	struct statx stx;

	return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
	       (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

int volume_mount_tmpfs(const char *path, int64_t size, int mode, struct ck_error *err)
{
	char options[64];

	if (volume_is_mount_point(path))
		return 0;
	if (size >= 0)
		snprintf(options, sizeof(options), "mode=%04o,size=%" PRId64, mode, size);
	else
		snprintf(options, sizeof(options), "mode=%04o", mode);
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options) < 0)
		return ck_error_errno(err, errno, "mount tmpfs on %s", path);
	return 0;
}

static bool at_or_below(const char *path, const char *dir, size_t dir_len)
{
	return strncmp(path, dir, dir_len) == 0 && (path[dir_len] == '\0' || path[dir_len] == '/');
}

static int unmount_one(const struct mountinfo_entry *m, struct ck_error *err)
{
	bool network = strncmp(m->fs_type, "nfs", 3) == 0;

	if (!network && umount2(m->mount_point, UMOUNT_NOFOLLOW) == 0)
		return 0;
	if ((network || errno == EBUSY) &&
	    umount2(m->mount_point, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
		return 0;
	/* Gone already: another unmount above took it along. */
	if (errno == EINVAL || errno == ENOENT)
		return 0;
	return ck_error_errno(err, errno, "unmount %s", m->mount_point);
}

int volume_unmount_below(const char *dir, int *found, struct ck_error *err)
{
	struct mountinfo_entry *entries;
	char real[PATH_MAX];
	size_t count, dir_len;
	int r;

	if (found)
		*found = 0;
	/* mountinfo has resolved paths: compare with the directory as it resolves. */
	if (!realpath(dir, real))
		return errno == ENOENT ? 0 : ck_error_errno(err, errno, "resolve %s", dir);
	dir = real;
	dir_len = strlen(dir);
	r = mountinfo_read_self(&entries, &count, err);
	if (r < 0)
		return r;
	/* Later entries sit on earlier ones: unmount from the end. */
	for (size_t i = count; i-- > 0 && r == 0;) {
		if (!at_or_below(entries[i].mount_point, dir, dir_len))
			continue;
		if (found)
			(*found)++;
		r = unmount_one(&entries[i], err);
	}
	mountinfo_free(entries, count);
	return r;
}
